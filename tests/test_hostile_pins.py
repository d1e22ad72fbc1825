"""Done-means 1 of issue 11: 10,000 hostile records (identity numbers in every spelling, in every string
field of every event type, with every neighbour; and raw payloads that do not decode: truncated Avro,
JSON with \\u escapes, UTF-16) through the real worker, after a day of valid simulated events. Every
hostile record is dead-lettered with PRV-001 (or its decoding rule), and afterwards no identity number is
in ClickHouse (every table and view), any topic the platform writes, any log file, any API answer (the
list endpoints' CSV and XLSX exports and the status history too) or the morning report (HTML and PDF).
The two input topics hold what the senders sent and are not read back."""
from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import itertools
import json
import os
import random
import re
import subprocess
import sys
import uuid

import openpyxl

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from bedflow.simulator import Simulator
from schemas import privacy
from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from schemas.model import EVENT_TYPES, NAMESPACE
from sinks.clickhouse import ClickHouse
from tests.harness import Worker, committed_total, wait_until
from tests.test_privacy_property import hostile_records, samples, spellings, string_fields

# Canonical UUIDs (event ids) are not scanned, as in privacy.pin_fields: one in ~200,000 starts like a PIN.
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
N_HOSTILE = 10_000
DAY = "2026-11-16"
FW_PIN = "１９１２１２１２－１２１２"
LATER = dt.datetime(2026, 11, 16, 12, tzinfo=dt.timezone.utc)


def hostile_avro(codec: SchemaSet) -> list[tuple[str, bytes]]:
    """(event type, wire) — at least N_HOSTILE: every (type, field) and every spelling, and for every
    field the string lengths 24–28 whose length byte is an ASCII digit, with the number first."""
    cases = hostile_records(codec, lengths_per_field=False)
    picked = [c for i, c in enumerate(cases) if i % 4 == 0]
    assert {s for _, _, v, _ in picked for s in spellings() if s in v} == set(spellings())
    rnd = random.Random(24)
    ascii_spells = [s for s in spellings() if s.isascii()]
    for etype, record in samples().items():
        for field in string_fields(etype):
            for length in range(24, 29):
                pin = rnd.choice(ascii_spells)
                # a new id and a later instant: were it accepted, it would win over the valid event
                d = dict(record, event_id=str(uuid.UUID(int=rnd.getrandbits(128), version=4)), occurred_at=LATER)
                d[field] = (pin + " Tolvan Tolv" * 3)[:length]
                picked.append((etype, field, d[field], codec.encode_single_object(f"{NAMESPACE}.{etype}", d)))
    assert len(picked) >= N_HOSTILE
    return [(etype, wire) for etype, _, _, wire in picked]


def hostile_raw(codec: SchemaSet, avro: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Payloads that do not decode but hold a number: truncated Avro (its strings whole), JSON events with
    the number as \\u escapes, and the same JSON in UTF-16."""
    rnd = random.Random(7)
    out = []
    for etype, wire in rnd.sample(avro, 200):
        out.append((etype, wire[:-1]))
    record = samples()["PatientAdmitted"]
    for i, pin in enumerate(rnd.sample(spellings(), 100)):
        d = {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in record.items()}
        d["patient_ref"] = pin
        text = json.dumps(d, ensure_ascii=True)  # non-ASCII spellings become \\u escapes
        escaped = text.replace(json.dumps(pin)[1:-1], "".join(f"\\u{ord(c):04x}" for c in pin))
        out.append(("PatientAdmitted", escaped.encode()))
        out.append(("PatientAdmitted", text.encode("utf-16-le" if i % 2 else "utf-16-be")))
    out.append(("PatientAdmitted", FW_PIN.encode("utf-16")))
    return out


def valid_events(codec: SchemaSet, n: int = 3000) -> list[tuple[str, bytes]]:
    sim = Simulator(seed=3, start=dt.datetime(2026, 11, 16, 5, tzinfo=dt.timezone.utc), scale=0.02)
    out = []
    for e in itertools.islice(sim.events(days=1), n):
        m = EVENT_TYPES[e["event_type"]].model_validate(e)
        out.append((e["event_type"], codec.encode_single_object(f"{NAMESPACE}.{e['event_type']}", m.model_dump())))
    return out


# -- what counts as a leak ---------------------------------------------------------------------------------

def text_leaks(text: str) -> list[str]:
    return privacy.find_pins(UUID_RE.sub("<uuid>", text))


def raw_leaks(raw: bytes) -> bool:
    """A raw payload leaks when the redaction would still change it (it reads every spelling)."""
    return privacy.redact_bytes(raw) != raw


def value_leaks(value, where: str) -> list[str]:
    """Leaks in one JSON-like value, each string on its own (so that no two values are joined)."""
    found = []
    if isinstance(value, str):
        if text_leaks(value):
            found.append(f"{where}: {value[:200]!r}")
    elif isinstance(value, dict):
        if value.get("payload_format") == "base64" and isinstance(value.get("payload"), str):
            if raw_leaks(base64.b64decode(value["payload"])):
                found.append(f"{where}.payload (base64): {value['payload'][:80]}")
        for k, v in value.items():
            found += value_leaks(k, f"{where}.<key>") + value_leaks(v, f"{where}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found += value_leaks(v, f"{where}[{i}]")
    return found


def export_leaks(w: Worker, path: str, tables: list[str]) -> list[str]:
    """Leaks in a list endpoint's exports: the CSV of each of its tables and the XLSX workbook, every
    cell on its own (as a user's Excel reads them)."""
    found = []
    for name in tables:
        status, body = w._get(f"{path}{'&' if '?' in path else '?'}format=csv&table={name}")
        assert status == 200, (path, name, status, body[:300])
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
        found += value_leaks(rows, f"{path} csv {name}")
    status, body = w._get(f"{path}{'&' if '?' in path else '?'}format=xlsx")
    assert status == 200, (path, status, body[:300])
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    for sheet in book.worksheets:
        cells = [[str(c) for c in row if c is not None] for row in sheet.iter_rows(values_only=True)]
        found += value_leaks(cells, f"{path} xlsx {sheet.title}")
    book.close()
    return found


def test_ten_thousand_hostile_records_leave_no_identity_number_anywhere(broker, tmp_path):
    codec = SchemaSet(published_schemas())
    valid = valid_events(codec)
    avro = hostile_avro(codec)
    raw = hostile_raw(codec, avro)
    w = Worker(broker.bootstrap, tmp_path, f"hostile{os.getpid()}").start()
    positions: dict[tuple[str, int, int], str] = {}  # where each hostile record landed → "avro" | "raw"
    try:
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5, "enable.idempotence": True})

        def send(items, kind):
            for etype, value in items:
                topic = w.topics[EVENT_TYPES[etype].topic.split(".")[1]]
                p.produce(topic, value=value, key=b"hostile", on_delivery=None if kind is None else (
                    lambda err, msg, kind=kind: positions.__setitem__((msg.topic(), msg.partition(), msg.offset()),
                                                                      kind)))
                p.poll(0)

        send(valid, None)
        send(avro, "avro")
        send(raw, "raw")
        assert p.flush(60) == 0
        total = len(valid) + len(avro) + len(raw)
        assert len(positions) == len(avro) + len(raw)
        group = w.env["BEDFLOW_CONSUMER_GROUP"]
        wait_until(lambda: committed_total(w.bootstrap, group, w.topics["beds"])
                   + committed_total(w.bootstrap, group, w.topics["waitlist"]) >= total, 120,
                   what="all records consumed", worker=w)
        assert w.alive()

        # every API answer, the morning report included
        regions = sorted({r["id"] for r in w.api("/api/v1/status?level=region")["rows"]})
        assert regions
        paths = ["/", "/api/v1/reference", "/api/v1/quality", "/api/v1/deadletters?limit=1000",
                 "/api/v1/waitlist/snapshots?month=2026-11", "/metrics",
                 *(f"/api/v1/status?level={lv}" for lv in ("nation", "healthcare_region", "region", "hospital", "ward")),
                 *(f"/api/v1/out-of-area?window={win}" for win in ("now", "24h", "7d", "30d")),
                 *(f"/api/v1/waitlist?region={r}" for r in regions),
                 *(f"/api/v1/waitlist?region={r}&by=activity" for r in regions),  # a sender's codes as groups
                 "/api/v1/forecast?level=ward", "/api/v1/forecast?level=region&hours=24",
                 "/api/v1/icu?level=ward", "/api/v1/escalation", *(f"/api/v1/waitlist/breaches?region={r}" for r in regions),
                 *(f"/api/v1/room-nearby?unit={r}" for r in regions), "/api/v1/beds/monthly?month=2026-11&level=ward",
                 "/api/v1/beds/yearly?year=2026&level=region", "/api/v1/waitlist/performed?month=2026-11",
                 "/api/v1/quality/monthly?month=2026-11",
                 *(f"/api/v1/status/history?level={lv}&from={DAY}T04:00:00Z&to=2026-11-17T06:00:00Z&step=60"
                   for lv in ("region", "hospital", "ward")),
                 *(f"/report/morning?date={d}" for d in (DAY, "2026-11-17"))]
        leaks = []
        for path in paths:
            status, body = w._get(path)
            assert status < 500, (path, status, body[:300])
            text = body.decode("utf-8", "replace")
            try:
                leaks += value_leaks(json.loads(text), path)
            except ValueError:  # HTML, Prometheus text: line by line
                leaks += [f"{path}: {line[:200]}" for line in text.splitlines() if text_leaks(line)]
        # the CSV and XLSX exports of the list endpoints above (those the OpenAPI document gives a table=).
        # An export is made from the JSON answer scanned above (web/exports.py), so the per-region routes
        # are exported for three regions only: all 21 would add ten seconds and no other code.
        exportable = {route: next(p["schema"]["enum"] for p in op["get"]["parameters"] if p["name"] == "table")
                      for route, op in w.api("/api/v1/openapi.json")["paths"].items()
                      if any(p["name"] == "table" for p in op.get("get", {}).get("parameters", []))}
        some = {None, *regions[::7]}
        exported = [path for path in paths if path.split("?")[0] in exportable
                    and next(iter(re.findall(r"[?&](?:region|unit)=(\d\d)\b", path)), None) in some]
        assert len({path.split("?")[0] for path in exported}) >= 10, exported
        for path in exported:
            leaks += export_leaks(w, path, exportable[path.split("?")[0]])
        deadletters = w.api("/api/v1/deadletters?limit=1000")["rows"]
        assert len(deadletters) == 1000 and any("PRV-001" in r["rule_ids"] for r in deadletters)
    finally:
        w.stop()
    assert not leaks, leaks[:10]

    # the morning report's PDF, as `bedflow report` prints it (it opens the store: the worker is
    # stopped, and this process has not opened it: chDB lets one process own a directory)
    pdf = tmp_path / "morning.pdf"
    r = subprocess.run([sys.executable, "-m", "bedflow.cli", "report", "--date", "2026-11-17", "--out", str(pdf)],
                       env={**os.environ, "BEDFLOW_DATA_DIR": w.env["BEDFLOW_DATA_DIR"]},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Morgonrapport" in text
    leaks += [f"report PDF: {line[:200]}" for line in text.splitlines() if text_leaks(line)]
    assert not leaks, leaks[:10]

    # every topic the platform writes (the dead letters and the status topics), read back from the start
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"scan-hostile-{os.getpid()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    inputs = {w.topics["beds"], w.topics["waitlist"]}
    outputs = sorted(t for t in c.list_topics(timeout=10).topics if t.startswith(f"t.{w.suffix}.") and t not in inputs)
    assert {w.topics[k] for k in ("deadletter", "ward-status", "out-of-area", "waitlist-status")} <= set(outputs)
    read = {}
    for topic in outputs:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        c.assign([TopicPartition(topic, part, OFFSET_BEGINNING) for part in parts])
        n, empty = 0, 0
        while empty < 3:
            msgs = c.consume(1000, timeout=1.0)
            empty = empty + 1 if not msgs else 0
            for m in msgs:
                if m.error() or m.value() is None:
                    continue
                n += 1
                text = m.value().decode("utf-8", "replace")
                try:
                    leaks += value_leaks(json.loads(text), topic)
                except ValueError:
                    if text_leaks(text) or raw_leaks(m.value()):
                        leaks.append(f"{topic}: {m.value()[:200]!r}")
                if m.key() and text_leaks(m.key().decode("utf-8", "replace")):
                    leaks.append(f"{topic} key: {m.key()!r}")
        read[topic] = n
    c.close()
    assert not leaks, leaks[:10]
    assert read[w.topics["deadletter"]] >= len(positions) and read[w.topics["ward-status"]] > 0, read

    # every table and view in ClickHouse, every string cell on its own
    db = ClickHouse(f"chdb://{w.store_dir}")
    try:
        tables = [r[0] for r in db.query("SELECT name FROM system.tables WHERE database = currentDatabase()")[1]]
        assert {"events", "deadletters", "ward_status", "ward_current"} <= set(tables)
        for table in tables:
            cols, rows = db.query(f"SELECT * FROM `{table}`")
            for row in rows:
                record = dict(zip(cols, row))
                leaks += value_leaks({k: v for k, v in record.items() if isinstance(v, (str, list, tuple))}, table)
        # each hostile record is dead-lettered with its rule, none accepted
        dl = {(t, part, off): rules for t, part, off, rules in db.query(
            "SELECT source_topic, source_partition, source_offset, rule_ids FROM deadletters FINAL")[1]}
        accepted = {(t, part, off) for t, part, off in db.query(
            "SELECT source_topic, source_partition, source_offset FROM events FINAL")[1]}
    finally:
        db.close()
    assert not leaks, leaks[:10]
    assert not accepted & set(positions), "a hostile record was accepted"

    missing = [pos for pos, kind in positions.items() if kind == "avro" and "PRV-001" not in dl.get(pos, [])]
    assert not missing, missing[:10]
    assert all(dl.get(pos) for pos, kind in positions.items() if kind == "raw")

    # every log file of the worker (its output and the audit log)
    logs = list(tmp_path.glob("*.log")) + list((tmp_path / "data").rglob("*.log"))
    assert logs
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            if text_leaks(line):
                leaks.append(f"{log.name}: {line[:200]}")
    assert not leaks, leaks[:10]
