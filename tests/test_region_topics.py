"""Per-region input topics (the deployed layout, where each sender's Kafka ACL lets it write only its own
region's topics): the worker reads every region's topic, `publish` writes to the sender's region's, and
an event on a region's topic that names another region is dead-lettered (SEC-001) — a sender cannot
publish as another region even by writing a wrong region_code."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from confluent_kafka import Producer

from schemas import reference
from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from schemas.model import EVENT_TYPES, NAMESPACE
from streams.broker import create_topics
from tests.harness import Worker, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "region-01.jsonl"


def test_region_topics_carry_each_region_and_refuse_another_regions_events(broker, tmp_path):
    w = Worker(broker.bootstrap, tmp_path, f"rt{os.getpid()}", partitions=1, env={"BEDFLOW_REGION_TOPICS": "true"})
    region_topics = [f"{w.topics[t]}.{code}" for t in ("beds", "waitlist") for code in sorted(reference.regions())]
    create_topics(broker.bootstrap, {t: 1 for t in region_topics})
    w.start()
    try:
        r = subprocess.run([sys.executable, "-m", "bedflow.cli", "publish", "--bootstrap", broker.bootstrap, str(EXAMPLE)],
                           capture_output=True, text=True, env=w.env, timeout=120, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
        assert f"{w.topics['beds']}.01" in r.stdout and f"{w.topics['waitlist']}.01" in r.stdout, r.stdout
        wards = wait_until(lambda: w.api("/api/v1/status?level=ward&region=01")["rows"] or None, 60,
                           what="region 01's wards from its own topic")
        assert {x["id"] for x in wards} == {"SE2321000016-A101", "SE2321000016-A201"}

        # Region 01's sender writes a ward of region 03 on its own topic: refused, nothing of it counted.
        declared = json.loads(EXAMPLE.read_text().splitlines()[0])
        assert declared["event_type"] == "WardDeclared"
        forged = declared | {"event_id": str(uuid.uuid4()), "region_code": "03",
                             "ward_id": "SE2321000016-A999", "ward_name": "Avdelning 999"}
        model = EVENT_TYPES["WardDeclared"].model_validate(forged)
        payload = SchemaSet(published_schemas()).encode_single_object(f"{NAMESPACE}.WardDeclared", model.model_dump())
        p = Producer({"bootstrap.servers": broker.bootstrap})
        p.produce(f"{w.topics['beds']}.01", key=forged["ward_id"].encode(), value=payload)
        assert p.flush(30) == 0
        letters = wait_until(lambda: [d for d in w.api("/api/v1/deadletters?limit=100")["rows"]
                                      if d["event_id"] == forged["event_id"]] or None, 60, what="the forged event's dead letter")
        assert letters[0]["rule_ids"] == ["SEC-001"] and letters[0]["source_topic"] == f"{w.topics['beds']}.01"
        assert not w.api("/api/v1/status?level=ward&region=03")["rows"]
    finally:
        w.stop()
