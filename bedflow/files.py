"""Reading event files as regional integrators write them: JSON lines (EVENTS.md form), CSV with the
same columns (`,` or `;` — Swedish Excel writes `;` — in UTF-8, with or without BOM, or Windows-1252),
Avro object container files (`.avro`, any codec fastavro reads), or Avro single-object records back to
back. Each item keeps its line/record number.
`validation_context` is what `bedflow validate` and `bedflow publish` both check such a file against."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from schemas.codec import SINGLE_OBJECT_MAGIC, DecodeError, SchemaSet
from schemas.model import EVENT_TYPES
from schemas.rules import ValidationContext

if TYPE_CHECKING:
    from bedflow.config import Config


class UnusableInput(Exception):
    """The file cannot be read at all (missing, empty, not one of the known formats)."""


@dataclass
class Item:
    where: str                 # "file.jsonl:12"
    record: object | None      # the parsed record, or None when it could not be parsed
    error: tuple[str, str] | None = None  # (rule id, message) when unparseable
    raw: bytes | None = None   # the Avro bytes, when the file is Avro


_INT_FIELDS = {n for cls in EVENT_TYPES.values() for n, f in cls.model_fields.items()
               if f.annotation in (int, int | None) or n in ("phase", "sex")}
_BOOL_FIELDS = {"guarantee"}


def _csv_value(name: str, value: str):
    if value == "":
        return None
    if name in _INT_FIELDS:
        try:
            return int(value)
        except ValueError:
            return value
    if name in _BOOL_FIELDS:
        return {"true": True, "false": False, "1": True, "0": False}.get(value.lower(), value)
    return value


AVRO_CONTAINER_MAGIC = b"Obj\x01"


def detect_format(path: Path, head: bytes) -> str:
    if head.startswith(AVRO_CONTAINER_MAGIC):
        return "avro-container"
    if head.startswith(SINGLE_OBJECT_MAGIC) or head[:1] == b"\x00":
        return "avro"
    if path.suffix.lower() == ".csv":
        return "csv"
    if head.lstrip()[:1] in (b"{", b"["):
        return "jsonl"
    if path.suffix.lower() in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    raise UnusableInput(f"{path}: not JSON lines, CSV, an Avro container file or Avro single-object records")


def read_items(path: Path, codec: SchemaSet | None = None) -> Iterator[Item]:
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UnusableInput(f"{path}: {e.strerror or e}") from None
    if not data.strip():
        raise UnusableInput(f"{path}: the file is empty")
    fmt = detect_format(path, data[:16])
    if fmt == "jsonl":
        for n, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
            if not line.strip():
                continue
            try:
                yield Item(f"{path.name}:{n}", json.loads(line))
            except json.JSONDecodeError as e:
                yield Item(f"{path.name}:{n}", None, ("DEC-001", f"not JSON: {e.msg} at column {e.colno}"))
    elif fmt == "csv":
        text = _csv_text(data)
        header = text.split("\n", 1)[0]
        delimiter = ";" if header.count(";") > header.count(",") else ","
        reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
        for n, row in enumerate(reader, 2):
            yield Item(f"{path.name}:{n}", {k.strip(): _csv_value(k.strip(), v) for k, v in row.items() if k})
    elif fmt == "avro-container":
        yield from _container_items(path, data)
    else:
        if codec is None:
            raise UnusableInput(f"{path}: Avro input needs the schema set")
        yield from _avro_items(path, data, codec)


def _csv_text(data: bytes) -> str:
    """UTF-8 (Excel's "CSV UTF-8" starts with a BOM), else Windows-1252 (Excel's plain "CSV" in Sweden)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _container_items(path: Path, data: bytes) -> Iterator[Item]:
    """An Avro object container file: its own writer schema in the header, records in blocks. A file that
    breaks off mid-way keeps the records before the break; the break is one DEC-003 item."""
    import fastavro

    n = 0
    try:
        for n, record in enumerate(fastavro.reader(io.BytesIO(data)), 1):
            yield Item(f"{path.name}#{n}", record)
    except Exception as e:  # noqa: BLE001 — a corrupt header or block: say where, keep what was read
        if n == 0 and not isinstance(e, EOFError):
            raise UnusableInput(f"{path}: not a readable Avro container file ({type(e).__name__})") from None
        yield Item(f"{path.name}#{n + 1}", None, ("DEC-003", f"the container file breaks off after record {n} "
                                                            f"({type(e).__name__})"))


def _avro_items(path: Path, data: bytes, codec: SchemaSet) -> Iterator[Item]:
    """Single-object records back to back: find each record's end by trying the next magic."""
    starts = [i for i in range(len(data) - 1) if data[i:i + 2] == SINGLE_OBJECT_MAGIC] or [0]
    if starts[0] != 0:
        starts.insert(0, 0)
    n = 0
    i = 0
    while i < len(starts):
        n += 1
        begin = starts[i]
        # a C3 01 may also occur inside a body: extend the slice until it decodes
        j = i + 1
        while True:
            end = starts[j] if j < len(starts) else len(data)
            chunk = data[begin:end]
            try:
                decoded = codec.decode(chunk)
                yield Item(f"{path.name}#{n}", decoded.record, raw=chunk)
                i = j
                break
            except DecodeError as e:
                if j >= len(starts):
                    yield Item(f"{path.name}#{n}", None, (e.rule_id, str(e)), raw=chunk)
                    i = j
                    break
                j += 1


# Printed by validate and publish when the input declares no ward: COD-005 then has nothing to check against.
COD005_NOT_CHECKED = "note: no WardDeclared in the input, so 'ward not declared' (COD-005) was not checked"


def validation_context(items: Iterable[Item], config: "Config", clock_skew_seconds: float,
                       now: dt.datetime | None = None) -> ValidationContext:
    """The one context `bedflow validate` and `bedflow publish` check a file's records against, so a
    sender sees the platform's rules before sending. What the platform would know from earlier events
    is taken from the input itself: the wards its WardDeclared records declare (COD-005; not checked at
    all when there are none, `known_wards` is then None: see COD005_NOT_CHECKED) and the decided_at
    of its ContactDecided records (MNG-003, by contact key)."""
    items = list(items)
    declared = {it.record.get("ward_id") for it in items
                if isinstance(it.record, dict) and it.record.get("event_type") == "WardDeclared"}
    decided: dict[str, dt.datetime] = {}
    for it in items:
        r = it.record
        if isinstance(r, dict) and r.get("event_type") == "ContactDecided":
            try:
                ev = EVENT_TYPES["ContactDecided"].model_validate(r)
                decided[ev.key()] = ev.decided_at
            except Exception:  # noqa: BLE001 — the record's own verdict reports it
                pass
    return ValidationContext(now=now or dt.datetime.now(dt.timezone.utc), known_wards=declared or None,
                             decided_at=decided.get, config=config.rules,
                             clock_skew=dt.timedelta(seconds=clock_skew_seconds))
