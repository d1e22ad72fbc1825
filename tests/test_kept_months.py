"""Kept monthly answers (sinks/results.py): an ended month's statistics are computed once and read back
until late data arrive for that month or an earlier one; the worker records such late data per batch."""
from __future__ import annotations

import datetime as dt

import pytest

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks import results
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.processor import Processor
from tests.factory import T0, admit, ward
from tests.test_sink import records

OCT, NOV = dt.date(2026, 10, 1), dt.date(2026, 11, 1)
DAY = 24 * 60  # minutes


@pytest.fixture()
def db(tmp_path):
    d = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    d.migrate()
    yield d
    d.close()


def test_an_answer_is_kept_until_late_data_arrive_for_its_month_or_an_earlier_one(db):
    computed = []

    def compute():
        computed.append(1)
        return [{"ward_id": "W1", "staffed_ms": len(computed)}]

    first = results.kept_or_computed(db, "beds", OCT, "k", compute)
    assert first == [{"ward_id": "W1", "staffed_ms": 1}] and len(computed) == 1
    assert results.kept_or_computed(db, "beds", OCT, "k", compute) == first and len(computed) == 1  # read back
    assert results.kept_or_computed(db, "beds", OCT, "other key", compute) != first  # keys are apart
    db.insert("late_months", [(NOV, 10)], ("month", "version"))  # a later month: October stands
    assert results.kept_or_computed(db, "beds", OCT, "k", compute) == first and len(computed) == 2
    db.insert("late_months", [(dt.date(2026, 9, 1), 11)], ("month", "version"))  # earlier: October may change
    assert results.kept_or_computed(db, "beds", OCT, "k", compute) == [{"ward_id": "W1", "staffed_ms": 3}]
    assert results.kept_or_computed(db, "beds", OCT, "k", compute)[0]["staffed_ms"] == 3 and len(computed) == 3


def test_the_worker_records_the_ended_months_it_writes_data_for_after_the_data(db):
    codec = SchemaSet(published_schemas())
    a = "SE2321000016-A001"
    now_minutes = (dt.datetime.now(dt.timezone.utc) - T0).total_seconds() / 60
    late = [ward(a, now_minutes - 40 * DAY), admit(a, "s1", now_minutes - 39 * DAY)]  # a month or two ago
    on_time = [admit(a, "s2", now_minutes - 1)]
    p = Processor(codec, epoch="t")
    batch, _ = p.process(records(late + on_time, codec))
    assert not batch.rows["deadletters"], batch.rows["deadletters"]
    # Late: before the month that starts within 3 h (the processor's rule). In the last 3 h of a month (UTC)
    # the on-time event's month is ending too, and counts: this test failed on 30 November at 21:30 UTC.
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)
    late_before = dt.datetime(soon.year, soon.month, 1, tzinfo=dt.timezone.utc)
    expected = sorted({dt.date(t.year, t.month, 1)
                       for t in (dt.datetime.fromisoformat(e["occurred_at"]) for e in late + on_time) if t < late_before})
    assert {dt.datetime.fromisoformat(e["occurred_at"]).month for e in late} <= {m.month for m in expected}
    assert [r.month for r in batch.rows["late_months"]] == expected
    tables = [t for t, rows in batch.rows.items() if rows]
    assert tables.index("late_months") > max(tables.index(t) for t in ("events", "ward_status"))  # data first
    Sink(db).write(batch.rows)
    assert results.data_version(db, expected[-1]) == batch.rows["late_months"][0].version > 0
    assert results.data_version(db, expected[0] - dt.timedelta(days=1)) == 0  # the month before: untouched
    this_month = [ward(a, now_minutes - 2)] + on_time
    batch, _ = Processor(codec, epoch="t").process(records(this_month, codec))
    ending = sorted({dt.date(t.year, t.month, 1) for t in (dt.datetime.fromisoformat(e["occurred_at"]) for e in this_month)
                     if t < late_before})  # empty but in the month's last 3 h
    assert len(batch.rows["events"]) == 2 and [r.month for r in batch.rows["late_months"]] == ending  # nothing ended changed


def test_a_late_dead_letter_counts_for_its_month_and_garbage_for_none(db):
    codec = SchemaSet(published_schemas())
    now_minutes = (dt.datetime.now(dt.timezone.utc) - T0).total_seconds() / 60
    bad = admit("SE2321000016-A009", "s9", now_minutes - 45 * DAY)  # a ward never declared: rejected (COD-005)
    batch, _ = Processor(codec, epoch="t").process(records([bad], codec))
    assert len(batch.rows["deadletters"]) == 1 and not batch.rows["events"]
    t = dt.datetime.fromisoformat(bad["occurred_at"])
    assert [r.month for r in batch.rows["late_months"]] == [dt.date(t.year, t.month, 1)]
    from streams.processor import _occurred_at

    assert _occurred_at({"occurred_at": "not a time"}) is None and _occurred_at(None) is None
    assert _occurred_at({"occurred_at": "2026-10-31T23:30:00Z"}) == dt.datetime(2026, 10, 31, 23, 30, tzinfo=dt.timezone.utc)
