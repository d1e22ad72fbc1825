"""The sink on the real ClickHouse engine (chDB): migrations are versioned and idempotent, a replayed
batch adds nothing, the views read deduplicated state, and a failing store is retried in order."""
from __future__ import annotations

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse, migrations
from sinks.writer import Sink
from schemas.model import EVENT_TYPES, NAMESPACE
from streams.processor import Processor, SourceRecord
from sinks import recovery
from tests.bulk import bulk_events, expected_state


def records(events, codec, topic: str = "bedflow.beds.v1"):
    out = []
    for i, e in enumerate(events):
        m = EVENT_TYPES[e["event_type"]].model_validate(e)
        out.append(SourceRecord(topic, 0, i,
                                codec.encode_single_object(f"{NAMESPACE}.{type(m).__name__}", m.model_dump())))
    return out


def test_migrations_replays_and_views(tmp_path):
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    assert db.migrate() == [name for _, name, _ in migrations()]
    assert db.migrate() == []  # applied once
    codec = SchemaSet(published_schemas())
    events = bulk_events(1500, seed=21)
    recs = records(events, codec)
    sink = Sink(db)
    p = Processor(codec, epoch="t")
    batch, _ = p.process(recs)
    sink.write(batch.rows)
    sink.write(batch.rows)  # a redelivered batch writes the same keys again
    _, n = db.query("SELECT count() FROM events")
    assert n[0][0] == 2 * len(events)  # twice on the raw table: the dedup below is ClickHouse's, not luck
    p.progress.commit()
    # and a restarted processor skips what progress says is written
    p2 = Processor(codec, epoch="t")
    p2.progress.restore(recovery.progress(db, "t"))
    assert p2.progress.written == p.progress.written
    again, _ = p2.process(recs)
    assert len(again.rows["events"]) == 0
    _, n = db.query("SELECT count() FROM events FINAL")
    assert n[0][0] == len(events)
    expected = expected_state(events)
    regions = {r["region_code"]: r for r in db.query_dicts("SELECT * FROM v_region_status")}
    for region in ("01", "03", "12"):
        st = [expected.status(w) for w, ward in expected.wards.items() if ward.region_code == region]
        assert regions[region]["occupied"] == sum(s.occupied for s in st)
        assert regions[region]["staffed_beds"] == sum(s.staffed_beds for s in st)
    assert len(db.query_dicts("SELECT * FROM v_ward_status")) == len(expected.wards)
    matrix = {(r["home_region"], r["treating_region"]): r["patients"] for r in db.query_dicts("SELECT * FROM v_out_of_area_now")}
    assert matrix == expected.out_of_area_now()
    quality = db.query_dicts("SELECT * FROM v_data_quality")
    assert sum(r["accepted"] for r in quality) == len(events)
    db.close()


def test_sink_retries_a_failing_store_without_losing_or_reordering(tmp_path):
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    events = bulk_events(300, seed=22)
    p = Processor(codec, epoch="t")
    batch, _ = p.process(records(events, codec))
    failures = {"left": 3}

    def fault():
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("down")

    db.fault = fault
    sink = Sink(db, max_backoff=0.05)
    sink.write(batch.rows)
    assert failures["left"] == 0 and sink.failing_since is None
    db.fault = None
    _, n = db.query("SELECT count() FROM events FINAL")
    assert n[0][0] == len(events)
    db.close()


def test_past_picture_with_a_short_lookback_equals_the_full_history(tmp_path):
    """sinks/queries.wards_at looks for each ward's newest row in a recent window first and falls back to
    the ward's whole history for quiet wards: with any window, the picture must be the same."""
    import datetime as dt

    from sinks import queries

    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    events = bulk_events(3000, seed=23)
    batch, _ = Processor(codec, epoch="t").process(records(events, codec))
    Sink(db).write(batch.rows)
    times = sorted(dt.datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")) for e in events)
    try:
        for at in (times[len(times) // 3], times[-1], times[-1] + dt.timedelta(days=30)):
            whole = {w["ward_id"]: w for w in queries.wards_at(db, at, lookback=dt.timedelta(days=36500))}
            for lookback in (dt.timedelta(minutes=5), dt.timedelta(hours=2)):
                assert {w["ward_id"]: w for w in queries.wards_at(db, at, lookback=lookback)} == whole
            assert whole
    finally:
        db.close()
