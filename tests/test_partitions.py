"""Monthly partitions (migration 016) on the real engine (chDB): the tables that grow with time get
PARTITION BY toYYYYMM(<the row's own time>), the rows written before the migration are all still there,
a row written twice still collapses to one (ReplacingMergeTree replaces within a partition only), and
the views keep reading the tables by name."""
from __future__ import annotations

import datetime as dt

import pytest

import sinks.clickhouse as clickhouse
from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse, _statements, migrations
from sinks.writer import Sink
from streams.processor import Processor
from streams.rows import EventRow
from tests.bulk import bulk_events
from tests.test_sink import records

PARTITIONED = {
    "events": "toYYYYMM(occurred_at)",
    "ward_status": "toYYYYMM(at)",
    "out_of_area_admissions": "toYYYYMM(occurred_at)",
}
# deadletters: its only time is when a record was rejected, which differs between the copies of a
# redelivered batch, so it stays whole; the current-state tables are replaced across months.
UNPARTITIONED = ("deadletters", "ward_current", "waitlist_contacts", "progress", "sender_last_seen")
VIEWS = ("v_ward_status", "v_region_status", "v_data_quality", "v_out_of_area_now",
         "v_analyst_region_status", "v_analyst_data_quality")
MIGRATION = "016_monthly_partitions.sql"


def _migrate_before_016(db: ClickHouse, monkeypatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(clickhouse, "migrations", lambda: [x for x in migrations() if x[0] < 16])
        db.migrate()
    assert MIGRATION not in {r["name"] for r in db.query_dicts("SELECT name FROM schema_migrations")}


def _partition_keys(db: ClickHouse) -> dict[str, str]:
    rows = db.query_dicts("SELECT name, partition_key FROM system.tables WHERE database = currentDatabase()")
    return {r["name"]: r["partition_key"] for r in rows}


def _counts(db: ClickHouse) -> dict[str, tuple[int, int]]:
    """Per table: (rows stored, rows read with FINAL)."""
    out = {}
    for t in (*PARTITIONED, "deadletters", "ward_current"):
        (raw,), = db.query(f"SELECT count() FROM {t}")[1]
        (final,), = db.query(f"SELECT count() FROM {t} FINAL")[1]
        out[t] = (raw, final)
    return out


def _views(db: ClickHouse) -> dict[str, list]:
    return {v: sorted(map(repr, db.query(f"SELECT * FROM {v}")[1])) for v in VIEWS}


@pytest.fixture
def written(tmp_path, monkeypatch):
    """A store at migration 015 holding a processed batch written twice (a redelivery)."""
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    _migrate_before_016(db, monkeypatch)
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(records(bulk_events(600, seed=7), codec))
    sink = Sink(db)
    sink.write(batch.rows)
    sink.write(batch.rows)
    try:
        yield db, sink, batch
    finally:
        db.close()


def test_the_migration_partitions_by_month_and_keeps_every_row(written):
    db, sink, batch = written
    before_keys = _partition_keys(db)
    assert all(before_keys[t] == "" for t in PARTITIONED)
    before, views = _counts(db), _views(db)
    assert before["events"][0] == 2 * before["events"][1] > 0  # the redelivered copies are stored
    assert before["ward_status"][1] > 0 and before["out_of_area_admissions"][1] > 0

    assert db.migrate() == [MIGRATION]
    keys = _partition_keys(db)
    for table, key in PARTITIONED.items():
        assert keys[table] == key, table
    for table in UNPARTITIONED:
        assert keys[table] == "", table
    assert not any(name.endswith("_by_month") for name in keys)  # the old tables are gone
    after = _counts(db)
    # every row (the copy may already merge the stored copies of a row: optimize_on_insert)
    assert {t: c[1] for t, c in after.items()} == {t: c[1] for t, c in before.items()}
    assert all(after[t][1] <= after[t][0] <= before[t][0] for t in after)
    assert _views(db) == views  # the views read the new tables by name

    # a redelivery after the migration still replaces: the copies share their row's partition
    sink.write(batch.rows)
    assert {t: c[1] for t, c in _counts(db).items()} == {t: c[1] for t, c in before.items()}
    for table in PARTITIONED:
        db.command(f"OPTIMIZE TABLE {table} FINAL")
        (raw,), = db.query(f"SELECT count() FROM {table}")[1]
        assert raw == before[table][1], table  # merged to one row each, not only hidden by FINAL


def test_an_interrupted_migration_runs_again_without_losing_rows(written):
    db, _, _ = written
    before = _counts(db)
    sql = dict((name, text) for _, name, text in migrations())[MIGRATION]
    statements = _statements(sql)
    # stop right after the events' exchange: `events` is partitioned, the old table still lies beside it
    upto = next(i for i, s in enumerate(statements) if s.startswith("EXCHANGE TABLES events "))
    for s in statements[:upto + 1]:
        if not s.startswith("SYSTEM SYNC REPLICA"):
            db.command(s)
    assert "events_by_month" in _partition_keys(db)
    assert db.migrate() == [MIGRATION]
    assert {t: c[1] for t, c in _counts(db).items()} == {t: c[1] for t, c in before.items()}
    assert set(_partition_keys(db)) >= set(PARTITIONED)
    assert not any(name.endswith("_by_month") for name in _partition_keys(db))


def _event(i: int, at: dt.datetime) -> EventRow:
    return EventRow(f"00000000-0000-4000-8000-{i:012d}", "PatientAdmitted", at, at, "SE2321000016-0001", "01",
                    f"stay-{i}", "01", "01", [], "{}", "t", "bedflow.beds.v1", 0, i)


def test_events_of_two_months_land_in_two_partitions(tmp_path):
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    try:
        db.migrate()
        utc = dt.timezone.utc
        jan, feb = dt.datetime(2026, 1, 31, 23, 59, tzinfo=utc), dt.datetime(2026, 2, 1, 0, 1, tzinfo=utc)
        Sink(db).write({"events": [_event(1, jan), _event(2, feb), _event(3, feb)]})
        parts = db.query_dicts("SELECT partition, sum(rows) AS n FROM system.parts WHERE database = currentDatabase()"
                               " AND table = 'events' AND active GROUP BY partition ORDER BY partition")
        assert parts == [{"partition": "202601", "n": 1}, {"partition": "202602", "n": 2}]
        # one batch with more months than ClickHouse's default limit of 100 partitions per INSERT (a
        # backfill) is written, not refused or retried for ever
        start = dt.datetime(2010, 1, 15, tzinfo=utc)
        backfill = [_event(100 + m, start + dt.timedelta(days=31 * m)) for m in range(150)]
        assert Sink(db, max_backoff=0.01).write({"events": backfill}) == []
        (n,), = db.query("SELECT uniqExact(partition) FROM system.parts WHERE database = currentDatabase()"
                         " AND table = 'events' AND active")[1]
        assert n == 152
    finally:
        db.close()


def test_sync_replica_runs_only_on_a_replicated_database():
    sql = dict((name, text) for _, name, text in migrations())[MIGRATION]
    syncs = [s for s in _statements(sql) if s.startswith("SYSTEM SYNC REPLICA")]
    assert [s.split()[-1] for s in syncs] == list(PARTITIONED)  # before each copy
    assert all(clickhouse.replicated(s) == s for s in syncs)
    assert all(clickhouse._unreplicated(s) is None for s in syncs)
    assert clickhouse._unreplicated("INSERT INTO t SELECT 1") == "INSERT INTO t SELECT 1"


def test_one_migrator_at_a_time(tmp_path, monkeypatch):
    """Every bedflow process migrates at start; the copy of 016 must not run twice at once. A second
    migrator waits while the lock is held, and runs nothing the first has done."""
    import threading
    import time

    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    try:
        _migrate_before_016(db, monkeypatch)
        db.command(f"CREATE VIEW {clickhouse.MIGRATION_LOCK} AS SELECT 'other:1' AS holder, '' AS since")
        db.sole_owner = False  # as on a server, where the holder may be another live process
        result: list = []
        t = threading.Thread(target=lambda: result.append(db.migrate(poll=0.05)), daemon=True)
        t.start()
        time.sleep(1.0)
        assert t.is_alive() and "events_by_month" not in _partition_keys(db)  # waiting, nothing copied
        assert _partition_keys(db)["events"] == ""
        db.command(f"DROP VIEW {clickhouse.MIGRATION_LOCK}")  # the other migrator is through
        t.join(60)
        assert result == [[MIGRATION]]
        assert _partition_keys(db)["events"] == PARTITIONED["events"]
        assert clickhouse.MIGRATION_LOCK not in _partition_keys(db)  # released
        assert db.migrate(poll=0.05) == []

        # on the embedded engine a lock left behind is a stopped owner's: taken over, not waited for
        db.sole_owner = True
        db.command(f"CREATE VIEW {clickhouse.MIGRATION_LOCK} AS SELECT 'gone:1' AS holder, '' AS since")
        db.command("DELETE FROM schema_migrations WHERE version = 16")  # as if stopped before recording it
        assert db.migrate(poll=0.05) == [MIGRATION]
        assert clickhouse.MIGRATION_LOCK not in _partition_keys(db)
    finally:
        db.close()
