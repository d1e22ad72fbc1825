"""The month-end snapshot schedule: a month is preliminary until month end + 21 days (Europe/Stockholm),
then the processes that serve the API close it, once. Which month is due is a plain function, tested
directly; the close against ClickHouse (chDB) filled by the real processor and sink; the wiring through
bedflow/views.py's app on a real socket."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from bedflow.config import Config
from bedflow.metrics import Metrics
from bedflow.settings import Settings
from bedflow.views import api_app
from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks import queries
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.processor import WAITLIST, Processor
from tests.factory import decided
from tests.test_access import Server, records
from web.policy import ViewPolicy
from web.snapshots import close_due_month, close_month, month_due, needs_closing, snapshot_final_at

TZ = "Europe/Stockholm"
UTC = dt.timezone.utc


def local(*args) -> dt.datetime:
    from zoneinfo import ZoneInfo
    return dt.datetime(*args, tzinfo=ZoneInfo(TZ))


def test_a_month_is_final_at_local_midnight_21_days_after_month_end():
    assert snapshot_final_at(dt.date(2026, 10, 1), TZ) == local(2026, 11, 22)  # CET
    assert snapshot_final_at(dt.date(2026, 10, 1), TZ) == dt.datetime(2026, 11, 21, 23, tzinfo=UTC)
    assert snapshot_final_at(dt.date(2027, 3, 1), TZ) == dt.datetime(2027, 4, 21, 22, tzinfo=UTC)  # CEST
    assert snapshot_final_at(dt.date(2026, 12, 1), TZ) == local(2027, 1, 22)  # over the new year
    assert snapshot_final_at(dt.date(2028, 2, 1), TZ) == local(2028, 3, 22)  # leap February


@pytest.mark.parametrize("now,due", [
    (local(2026, 11, 30, 12), dt.date(2026, 10, 1)),
    (local(2026, 11, 22, 0, 0), dt.date(2026, 10, 1)),            # the first instant October is final
    (local(2026, 11, 21, 23, 59, 59), dt.date(2026, 9, 1)),       # one second before: still September
    (local(2026, 12, 1, 0, 0), dt.date(2026, 10, 1)),             # November not final until 22 December
    (local(2027, 1, 22, 0, 0), dt.date(2026, 12, 1)),
    (local(2027, 1, 5), dt.date(2026, 11, 1)),
    (dt.datetime(2026, 11, 21, 23, 30, tzinfo=UTC), dt.date(2026, 10, 1)),  # 00:30 local on the 22nd
])
def test_which_month_is_due(now, due):
    assert month_due(now, TZ) == due


def test_a_month_is_closed_until_a_close_after_it_was_final():
    oct_ = dt.date(2026, 10, 1)
    final = snapshot_final_at(oct_, TZ)
    assert needs_closing(oct_, None, TZ)
    assert needs_closing(oct_, final - dt.timedelta(seconds=1), TZ)  # an admin's early close: preliminary
    assert not needs_closing(oct_, final, TZ) and not needs_closing(oct_, final + dt.timedelta(days=40), TZ)


def waitlist_store(path) -> ClickHouse:
    db = ClickHouse(f"chdb://{path}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    events = [decided(f"s01-{i}", i, decided_at="2026-09-01T08:00:00+00:00") for i in range(6)]
    batch, _ = Processor(codec, epoch="t").process(records(codec, WAITLIST, events))
    Sink(db).write(batch.rows)
    return db


def closed(db, month: dt.date) -> list[dict]:
    return queries.snapshot_rows(db, month)


def test_the_schedule_closes_the_due_month_once(tmp_path):
    db = waitlist_store(tmp_path / "ch")
    policy = ViewPolicy(audit_log=tmp_path / "audit.log")
    try:
        before = local(2026, 11, 21, 23, 59)
        assert close_due_month(db, policy, before) == dt.date(2026, 9, 1)  # never closed: closed now
        assert close_due_month(db, policy, before) is None
        now = local(2026, 11, 30, 12)
        assert close_due_month(db, policy, now) == dt.date(2026, 10, 1)
        (row,) = closed(db, dt.date(2026, 10, 1))
        assert (row["region_code"], row["waiting"]) == ("01", 6)
        assert close_due_month(db, policy, now + dt.timedelta(hours=1)) is None  # idempotent
        assert closed(db, dt.date(2026, 10, 1))[0]["closed_at"] == row["closed_at"]
        # an admin closes November early (preliminary); the schedule closes it again once it is final
        close_month(db, dt.date(2026, 11, 1), policy, local(2026, 12, 2))
        assert close_due_month(db, policy, local(2026, 12, 21, 12)) is None  # not yet due
        assert close_due_month(db, policy, local(2026, 12, 22, 0, 5)) == dt.date(2026, 11, 1)
        assert close_due_month(db, policy, local(2026, 12, 22, 1)) is None
        assert not closed(db, dt.date(2026, 12, 1))  # nothing closes ahead of its time
    finally:
        db.close()


def test_the_processes_that_serve_the_api_close_the_due_month(tmp_path):
    db = waitlist_store(tmp_path / "ch")
    due = month_due(dt.datetime.now(UTC), TZ)
    assert not closed(db, due)
    s = Server(api_app(db, Settings(data_dir=tmp_path), Config(), Metrics(), "adm"))
    try:
        deadline = time.monotonic() + 30
        while not closed(db, due) and time.monotonic() < deadline:
            time.sleep(0.2)
        rows = closed(db, due)
        assert [(r["region_code"], r["waiting"]) for r in rows] == [("01", 6)]
    finally:
        s.stop()
        db.close()
