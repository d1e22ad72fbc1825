"""≥ 10,000 fuzzed records through the real worker: each one accepted, absorbed as a duplicate, or
rejected with a rule; the worker never crashes; afterwards no personal identity number anywhere —
ClickHouse, the dead-letter topic, the logs."""
from __future__ import annotations

import os
import re

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse
from schemas.privacy import find_pins
from tests.fuzz import PINS, fuzz_records
from tests.harness import Worker, committed_total, wait_until

# Well-formed UUIDs (the event ids) are not scanned, as in privacy.pin_fields: the test ids are
# sequential, and some hold a date-like digit run ("…-0010020072ab"). Planted numbers are never UUIDs.
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

N = 10_000


def test_fuzzed_records_are_all_accounted_for_and_no_identity_number_is_kept(broker, tmp_path):
    codec = SchemaSet(published_schemas())
    records = fuzz_records(N, codec)
    w = Worker(broker.bootstrap, tmp_path, f"fuzz{os.getpid()}").start()
    try:
        p = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 5})
        for topic, value, _ in records:
            p.produce(w.topics[topic], value=value, key=b"fuzz")
        assert p.flush(60) == 0
        group = w.env["BEDFLOW_CONSUMER_GROUP"]
        wait_until(lambda: committed_total(w.bootstrap, group, w.topics["beds"])
                   + committed_total(w.bootstrap, group, w.topics["waitlist"]) >= N, 300, what="all fuzz consumed")
        assert w.alive()
        rows = w.api("/api/v1/quality")["table_rows"]
        duplicates = w.metric("bedflow_duplicates_total")
        assert rows["events"] + rows["deadletters"] + duplicates == N
        assert rows["deadletters"] > N / 2
        by_rule = {r["rule_id"] for r in w.api("/api/v1/quality")["rejections_by_rule"]}
        assert {"DEC-001", "DEC-003", "PRV-001"} <= by_rule
    finally:
        w.stop()

    # the dead-letter topic
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": f"scan-{os.getpid()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    topic = w.topics["deadletter"]
    parts = c.list_topics(topic, timeout=10).topics[topic].partitions
    c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])  # no group join needed
    seen, empty = 0, 0
    while empty < 5:
        msgs = c.consume(1000, timeout=1.0)
        empty = empty + 1 if not msgs else 0
        for m in msgs:
            if m.error():
                continue
            seen += 1
            assert not find_pins(UUID_RE.sub("<uuid>", m.value().decode("utf-8", "replace"))), m.value()[:300]
    c.close()
    assert seen >= rows["deadletters"]

    # every string in every ClickHouse table
    db = ClickHouse(f"chdb://{tmp_path / 'data' / 'clickhouse'}")
    for table in ("events", "deadletters", "ward_status", "ward_current", "waitlist_contacts"):
        cols, data = db.query(f"SELECT * FROM {table}")
        for row in data:
            text = UUID_RE.sub("<uuid>", "\x1f".join(str(v) for v in row))
            assert not find_pins(text), (table, text[:300])
    db.close()

    # the logs
    for log in tmp_path.glob("worker-*.log"):
        text = log.read_text(errors="replace")
        numbers = [token for pin in PINS for token in pin.split() if token[0].isdigit()]
        assert not any(number in text for number in numbers)
        assert not find_pins(UUID_RE.sub("<uuid>", text).replace("\n", "\x1f"))
