"""Files as regional integrators make them: CSV from Swedish Excel (`;`, UTF-8 with BOM or Windows-1252)
and Avro object container files, read by `bedflow validate` and `bedflow publish` like JSON lines."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import fastavro

from bedflow.files import read_items
from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from schemas.model import EVENT_TYPES

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "region-01.jsonl"
LINES = [json.loads(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines()]


def validate(*files: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bedflow.cli", "validate", *map(str, files)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def excel_csv(rows: list[dict], encoding: str) -> bytes:
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=list(rows[0]), delimiter=";", lineterminator="\r\n")
    w.writeheader()
    w.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
    return out.getvalue().encode(encoding)


def test_semicolon_csv_from_swedish_excel_in_utf8_with_bom_and_in_windows_1252(tmp_path):
    wards = [r for r in LINES if r["event_type"] == "WardDeclared"]
    assert any("ö" in r["hospital_name"] for r in wards)
    for encoding in ("utf-8-sig", "cp1252"):
        f = tmp_path / f"avdelningar-{encoding}.csv"
        f.write_bytes(excel_csv(wards, encoding))
        items = list(read_items(f))
        assert [it.record["hospital_name"] for it in items] == [r["hospital_name"] for r in wards]
        assert [it.record["staffed_beds"] for it in items] == [r["staffed_beds"] for r in wards]  # numbers
        r = validate(f)
        assert r.returncode == 0, r.stdout + r.stderr


def _container(path: Path, event_type: str, records: list[dict], codec: str = "deflate") -> Path:
    schema = next(s for s in published_schemas() if s["name"] == event_type)
    models = [EVENT_TYPES[event_type].model_validate(r).model_dump() for r in records]
    with path.open("wb") as f:
        fastavro.writer(f, fastavro.parse_schema(schema), models, codec=codec)
    return path


def test_avro_container_files_are_read_record_by_record(tmp_path):
    wards = _container(tmp_path / "avdelningar.avro", "WardDeclared",
                       [r for r in LINES if r["event_type"] == "WardDeclared"])
    admissions = [r for r in LINES if r["event_type"] == "PatientAdmitted"]
    stays = _container(tmp_path / "inskrivningar.avro", "PatientAdmitted", admissions, codec="null")
    items = list(read_items(stays, SchemaSet(published_schemas())))
    assert [it.record["stay_id"] for it in items] == [r["stay_id"] for r in admissions]
    r = validate(wards, stays)
    assert r.returncode == 0, r.stdout + r.stderr

    # a file that breaks off keeps what came before and names the break (DEC-003)
    whole = stays.read_bytes()
    cut = tmp_path / "avbruten.avro"
    cut.write_bytes(whole[: len(whole) - 7])
    broken = list(read_items(cut, SchemaSet(published_schemas())))
    assert broken[-1].record is None and broken[-1].error[0] == "DEC-003"
    r = validate(wards, cut)
    assert r.returncode == 1 and "DEC-003" in r.stdout
