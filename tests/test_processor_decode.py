"""The worker decodes a batch while the previous one is written (bedflow/worker.py: serve_batches):
`Processor.decode` reads and changes no state, and a batch processed with its records decoded beforehand
gives what the processor gives decoding them itself: accepted and rejected records, redeliveries skipped."""
from __future__ import annotations

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from streams.processor import Processor, SourceRecord
from tests.factory import admit, census, ward
from tests.test_contract_definitions import encode

W = "SE2321000016-A101"


def batch_records(codec: SchemaSet) -> list[SourceRecord]:
    good = encode(codec, [ward(W, 0), admit(W, "s1", 10), admit(W, "s2", 20), census(W, 30, staffed=10, occupied=2)])
    undecodable = SourceRecord("bedflow.beds.v1", 0, 4, b"\x00\x01not avro at all")
    return good + [undecodable]


def summary(batch) -> dict:
    rows = batch.rows
    return {
        "events": sorted((r.event_id, tuple(r.findings), r.payload) for r in rows["events"]),
        "dead": sorted((r.source_offset, tuple(r.rule_ids)) for r in rows["deadletters"]),
        "wards": sorted((r.ward_id, r.admitted, r.occupied) for r in rows["ward_current"]),
        "progress": sorted((r.source_topic, r.source_partition, r.offset) for r in rows["progress"]),
    }


def test_decoding_beforehand_gives_the_same_batch_and_touches_no_state():
    codec = SchemaSet(published_schemas())
    records = batch_records(codec)
    inline = Processor(codec, epoch="t")
    ahead = Processor(codec, epoch="t")
    decoded = ahead.decode(records)
    assert not ahead.progress.pending and not ahead.progress.written  # nothing taken yet
    assert ahead.beds.status(W) is None or ahead.beds.status(W).admitted == 0
    a, _ = inline.process(records)
    b, _ = ahead.process(records, decoded)
    assert summary(a) == summary(b)
    assert len(summary(b)["events"]) == 4 and [d[0] for d in summary(b)["dead"]] == [4]
    assert summary(b)["wards"] == [(W, 2, 2)]
    inline.progress.commit()
    ahead.progress.commit()
    # the same batch again (redelivered after a crash): skipped either way, decoded or not
    again_a, _ = inline.process(records)
    again_b, _ = ahead.process(records, ahead.decode(records))
    assert summary(again_a) == summary(again_b)
    assert summary(again_b)["events"] == [] and summary(again_b)["dead"] == []
