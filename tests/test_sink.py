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


def test_a_refused_row_is_found_by_splitting_and_everything_else_is_written(tmp_path):
    """A row the store cannot hold (a count beyond Int64, as an overflowing sum would be) among 1,500
    events' rows, with outages during the split: the sink returns exactly that row, writes every other
    one, and retries the outages without losing a row."""
    from clickhouse_connect.driver.exceptions import DataError, DatabaseError, OperationalError

    from sinks.writer import is_outage, is_refusal, reason

    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(records(bulk_events(1500, seed=24), codec))
    rows = dict(batch.rows)
    good = rows["ward_status"]
    poison = good[len(good) // 3]._replace(event_id="poison", admitted=2**63)
    rows["ward_status"] = good[: len(good) // 3] + [poison] + good[len(good) // 3:]
    calls = {"n": 0}

    def flaky():  # every fifth call of the store fails as an outage would
        calls["n"] += 1
        if calls["n"] % 5 == 0:
            raise ConnectionError("down")

    db.fault = flaky
    try:
        refused = Sink(db, max_backoff=0.01).write(rows)
        db.fault = None
        assert [(r.table, r.row.event_id) for r in refused] == [("ward_status", "poison")]
        assert "admitted" in refused[0].reason and str(2**63) not in refused[0].reason
        for table, table_rows in rows.items():
            _, n = db.query(f"SELECT count() FROM {table}")
            assert n[0][0] == len(table_rows) - (table == "ward_status"), table
        _, n = db.query("SELECT count() FROM ward_status WHERE event_id = 'poison'")
        assert n[0][0] == 0
        assert calls["n"] < 40  # halving: about log2(rows) inserts, not one per row
    finally:
        db.close()
    assert is_refusal(DataError("Unable to create native array for column `a`: error"))
    assert is_refusal(DatabaseError("Code: 321. DB::Exception: Value out of range. (VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE)"))
    for outage in (ConnectionError("refused"), TimeoutError(), OperationalError("HTTPDriver: timed out"),
                   DatabaseError("Code: 241. DB::Exception: Memory limit exceeded. (MEMORY_LIMIT_EXCEEDED)"),
                   DatabaseError("Code: 202. Too many simultaneous queries. (TOO_MANY_SIMULTANEOUS_QUERIES)"),
                   DatabaseError("Code: 252. Too many parts. (TOO_MANY_PARTS)", code=252),
                   DatabaseError("Code: 242. Table is in readonly mode. (TABLE_IS_READ_ONLY)")):
        assert not is_refusal(outage) and is_outage(outage), outage
    # on neither list: the writer asks the store before splitting (the test above)
    unknown = DatabaseError("Code: 395. DB::Exception: '(TOLVAN)' is refused. (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)")
    assert not is_refusal(unknown) and not is_outage(unknown)
    assert reason(unknown) == "ClickHouse error 395 (FUNCTION_THROW_IF_VALUE_IS_NON_ZERO)"


def test_a_row_failing_with_a_code_on_no_list_is_split_out_and_an_outage_around_it_is_retried(tmp_path, caplog):
    """A derived column a later migration might add (staffed beds per admitted patient) divides by zero
    for one row: ClickHouse refuses the insert with ILLEGAL_DIVISION, a code on neither list. The store
    goes down right after refusing, so the probe fails: retried, nothing dead-lettered yet. Once it is
    back the refusal repeats, the probe answers, and the split returns that one row and writes the rest."""
    import logging

    from clickhouse_connect.driver.exceptions import DatabaseError

    from sinks.writer import OUTAGE_CODES, REFUSAL_CODES, is_outage, is_refusal

    outage = {"left": 0, "started": False, "refusals": 0}

    class Store(ClickHouse):
        def insert(self, table, rows, columns):
            try:
                super().insert(table, rows, columns)
            except DatabaseError as exc:
                outage["refusals"] += 1
                assert exc.code == 153 and not is_outage(exc) and not is_refusal(exc)
                if not outage["started"]:  # the store fails right after its first refusal
                    outage.update(left=3, started=True)
                raise

    def fault():
        if outage["left"]:
            outage["left"] -= 1
            raise ConnectionError("down")

    db = Store(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    db.command("ALTER TABLE ward_status ADD COLUMN beds_per_admitted Int64 "
               "MATERIALIZED intDiv(staffed_beds, admitted + 1)")
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(records(bulk_events(1500, seed=25), codec))
    rows = dict(batch.rows)
    good = rows["ward_status"]
    assert good and all(r.admitted >= 0 for r in good)
    poison = good[len(good) // 2]._replace(event_id="poison", admitted=-1)
    rows["ward_status"] = good[: len(good) // 2] + [poison] + good[len(good) // 2:]
    assert 153 not in REFUSAL_CODES and 153 not in OUTAGE_CODES
    db.fault = fault
    try:
        with caplog.at_level(logging.WARNING, logger="bedflow.sink"):
            refused = Sink(db, max_backoff=0.01).write(rows)
        db.fault = None
        assert outage["started"] and outage["left"] == 0
        assert [(r.table, r.row.event_id, r.reason) for r in refused] == [
            ("ward_status", "poison", "ClickHouse error 153 (ILLEGAL_DIVISION)")]
        probes = [r for r in caplog.records if "probe failed" in r.getMessage()]
        assert len(probes) == 1  # the refusal during the outage was retried, not split
        for table, table_rows in rows.items():
            _, n = db.query(f"SELECT count() FROM {table}")
            assert n[0][0] == len(table_rows) - (table == "ward_status"), table
        _, n = db.query("SELECT count() FROM ward_status WHERE event_id = 'poison'")
        assert n[0][0] == 0
        assert outage["refusals"] < 40  # halving, not one insert per row
    finally:
        db.close()


def test_a_missing_table_is_waited_for_not_a_reason_to_dead_letter_every_row(tmp_path):
    """UNKNOWN_TABLE says no row of the table can be written, whatever it holds: it is retried like an
    outage (an operator's fix, here a migration run late) and then every row is written."""
    import threading

    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(records(bulk_events(200, seed=26), codec))
    rows = batch.rows["ward_status"]
    db.command("RENAME TABLE ward_status TO ward_status_later")
    late = threading.Timer(0.5, db.command, ["RENAME TABLE ward_status_later TO ward_status"])
    late.start()
    try:
        sink = Sink(db, max_backoff=0.05)
        assert sink.write({"ward_status": rows}) == []
        _, n = db.query("SELECT count() FROM ward_status")
        assert n[0][0] == len(rows)
    finally:
        late.join()
        db.close()


def test_the_largest_sums_of_accepted_counts_fit_every_column_and_view(tmp_path):
    """Census counts are 32-bit, and a census ward's admitted is present + on leave: with the bound rule
    relaxed, the widest sum must be stored and read back exactly (a view once wrapped it to Int32)."""
    import datetime as dt

    from streams.rows import OutOfAreaRow, WardStatusRow

    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    big = 2**31 - 1
    at = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)
    row = WardStatusRow("SE2321000016-W1", 1, at, "e1", "SE2321000016-H1", "H", "W", "01", "101", "", "somatic",
                        "general", "census", big, 2 * big, big, big, big, 0, big, big, big, at, "s")
    try:
        pair = OutOfAreaRow("03", "01", 2 * big, 1)
        assert Sink(db).write({"ward_status": [row], "ward_current": [row], "out_of_area_current": [pair]}) == []
        assert db.query_dicts("SELECT patients FROM v_out_of_area_now") == [{"patients": 2 * big}]
        (w,) = db.query_dicts("SELECT * FROM v_ward_status")
        assert (w["admitted"], w["occupied"], w["staffed_beds"]) == (2 * big, big, big)
        (r,) = db.query_dicts("SELECT * FROM v_region_status")
        assert (r["on_leave"], r["out_of_area_in"]) == (big, big)
    finally:
        db.close()


def test_on_a_replicated_database_every_table_of_every_migration_is_replicated(tmp_path):
    """The production cluster's database is ENGINE = Replicated (deploy/k8s/30-clickhouse.yaml), which
    replicates a plain MergeTree table's definition but not its rows: migrate() makes each one a
    Replicated…MergeTree there. chDB has no Keeper, so the rewritten statements are parsed by the engine."""
    import re

    from sinks.clickhouse import _statements, replicated

    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    try:
        tables = 0
        for _, name, sql in migrations():
            for statement in _statements(sql):
                out = replicated(statement)
                assert not re.search(r"ENGINE\s*=\s*(?!Replicated)\w*MergeTree", out), (name, out)
                if "MergeTree" in statement:
                    tables += 1
                    assert re.search(r"ENGINE = Replicated\w*MergeTree", out), (name, out)
                    db.query(f"EXPLAIN AST {out}")  # still a statement the engine parses
                else:
                    assert out == statement  # views, ALTERs, inserts: unchanged
        assert tables >= 10
        assert replicated("ENGINE = ReplacingMergeTree(version)") == "ENGINE = ReplicatedReplacingMergeTree(version)"
        assert replicated("ENGINE = ReplicatedMergeTree") == "ENGINE = ReplicatedMergeTree"  # not twice
    finally:
        db.close()
