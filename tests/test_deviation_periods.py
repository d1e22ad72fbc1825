"""Issue 12, point 2: a deviation (avvikelse) is a period — set at, cleared at, kind — and is evaluated as of
the measured instant, in the domain's measures and in the SQL the API and the month-end snapshots use.

Definition (docs/INFORMATION_MODEL.md §4): a contact waiting at `at` is left out of the care-guarantee
population (`measured`) when a deviation is active at `at`: the newest DeviationSet / DeviationCleared
with occurred_at at or before `at` is a set. A late event takes its place by occurred_at (not by arrival),
a resent one changes nothing. Every expected number below is worked out by hand from the scenario (the
comments show the arithmetic), not computed with the code under test.

The scenario, region 01, eye care (MVO 511, limit 90 days), phase 1, all under the guarantee; day n is
2026-05-01 + n days, 09:00 in Stockholm, so a wait measured on day n of a contact decided on day k is
n − k calendar days:
  a  decided day 0
  b  decided day −100
  x  decided day −150, deviation patient_chosen from day 10 to day 40
  y  decided day −30,  deviation medical from day 10 (cleared on day 25 in the late-event scenarios)
"""
from __future__ import annotations

import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from schemas.model import EVENT_TYPES
from sinks import recovery
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.domain.waitlist import DeviationPeriod, Limits, WaitlistState, measures, rows_from_contacts
from streams.rows import ContactRow
from tests.factory import decided, ev
from tests.test_contact_store import encode, run
from web.policy import ViewPolicy
from web.snapshots import close_month
from web.waitlist import waitlist_measures

STHLM = ZoneInfo("Europe/Stockholm")
DAY0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=STHLM)
EYE = "Ögonsjukvård"
KEY = "SE2321000016-0001:"


def day(n: float) -> dt.datetime:
    return DAY0 + dt.timedelta(days=n)  # wall-clock arithmetic: 09:00 local on every day


def measured_on(n: int) -> dt.datetime:
    return day(n) + dt.timedelta(hours=3)  # noon on day n


def contact(cid: str, decided_day: int) -> dict:
    e = decided(cid, decided_at=day(decided_day).isoformat())
    e["occurred_at"] = e["decided_at"]
    return e


def deviation(cid: str, on: float, kind: str | None) -> dict:
    e = (ev("DeviationSet", 0, contact_id=cid, deviation=kind) if kind
         else ev("DeviationCleared", 0, contact_id=cid))
    e["occurred_at"] = day(on).isoformat()
    return e


CONTACTS = [contact("a", 0), contact("b", -100), contact("x", -150), contact("y", -30)]
X_SET, X_CLEARED = deviation("x", 10, "patient_chosen"), deviation("x", 40, None)
Y_SET, Y_CLEARED = deviation("y", 10, "medical"), deviation("y", 25, None)


def state(events) -> WaitlistState:
    s = WaitlistState()
    for e in events:
        s.apply(EVENT_TYPES[e["event_type"]].model_validate(e))
    return s


def eye(rows_or_measures) -> dict:
    (g,) = [m if isinstance(m, dict) else m.as_dict() for m in rows_or_measures]
    assert (g["mvo_group"], g["phase"]) == (EYE, 1)
    return g


def counts(g: dict) -> tuple:
    return (g["waiting"], g["with_deviation"], g["measured"], g["within_limit"], g["share_within_limit"],
            g["over_180"], g["share_over_180"])


# Hand-worked, x deviated from day 10 to 40 and y from day 10 on (never cleared):
#   day 5:  waits a 5, b 105, x 155, y 35; no deviation active: measured a b x y = 4;
#           within 90: a, y = 2 → 0.5; over 180: none → 0.0
#   day 20: waits a 20, b 120, x 170, y 50; x and y deviated: measured a b = 2; within: a = 1 → 0.5; over 180: 0
#   day 50: waits a 50, b 150, x 200, y 80; x cleared on day 40, y still deviated: measured a b x = 3;
#           within: a = 1 → 0.3333; over 180: x = 1 → 0.3333
# (Today's flag alone — x cleared, y set — would give day 5: 3 measured, 1/3 within; day 20: 1/3 within.)
EXPECTED = {
    5: (4, 0, 4, 2, 0.5, 0, 0.0),
    20: (4, 2, 2, 1, 0.5, 0, 0.0),
    50: (4, 1, 3, 1, 0.3333, 1, 0.3333),
}


def test_a_deviation_from_day_10_to_day_40_counts_only_inside_its_period():
    s = state(CONTACTS + [X_SET, X_CLEARED, Y_SET])
    for n, expected in EXPECTED.items():
        at = measured_on(n)
        assert counts(eye(measures(rows_from_contacts(s.contacts.values(), at, "01"), at, "01"))) == expected, n


def test_the_api_sql_evaluates_the_deviation_at_the_instant_asked(tmp_path):
    s = state(CONTACTS + [X_SET, X_CLEARED, Y_SET])
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    try:
        Sink(db).write({"waitlist_contacts": [ContactRow.of(c, 1) for c in s.contacts.values()]})
        for n, expected in EXPECTED.items():
            assert counts(eye(waitlist_measures(db, "01", measured_on(n), Limits()))) == expected, n
        # at the very instant a deviation is set it is active, at the instant it is cleared it is not
        assert eye(waitlist_measures(db, "01", day(10), Limits()))["with_deviation"] == 2
        assert eye(waitlist_measures(db, "01", day(10) - dt.timedelta(milliseconds=1), Limits()))["with_deviation"] == 0
        assert eye(waitlist_measures(db, "01", day(40), Limits()))["with_deviation"] == 1
        assert eye(waitlist_measures(db, "01", day(40) - dt.timedelta(milliseconds=1), Limits()))["with_deviation"] == 2
    finally:
        db.close()


def test_periods_kind_and_boundaries():
    s = state(CONTACTS + [X_SET, X_CLEARED, Y_SET])
    x, y = s.contacts[KEY + "x"], s.contacts[KEY + "y"]
    assert x.deviation_periods() == [DeviationPeriod("patient_chosen", day(10), day(40))]
    assert y.deviation_periods() == [DeviationPeriod("medical", day(10), None)]
    assert (x.deviation_on(day(10)), x.deviation_on(day(40)), x.deviation_on(day(10) - dt.timedelta(microseconds=1))) \
        == ("patient_chosen", None, None)
    assert (x.deviation, y.deviation) == (None, "medical")  # today's flags


def test_a_new_kind_while_one_is_active_starts_its_own_period():
    # PvV from day 10, MoV from day 20 (no clear between), cleared day 30
    s = state(CONTACTS + [deviation("x", 20, "medical"), deviation("x", 30, None), X_SET])
    x = s.contacts[KEY + "x"]
    assert x.deviation_periods() == [DeviationPeriod("patient_chosen", day(10), day(20)),
                                     DeviationPeriod("medical", day(20), day(30))]
    assert [x.deviation_on(measured_on(n)) for n in (5, 15, 25, 35)] == [None, "patient_chosen", "medical", None]


def test_late_and_resent_deviation_events_in_any_arrival_order_give_the_same_periods():
    # x: PvV set day 10, cleared day 40, MoV set day 60. Arriving last, the clear of day 40 is older than the
    # newest event (day 60): a last-writer-wins flag dropped it, leaving x deviated from day 10 on.
    late = deviation("x", 60, "medical")
    expected = [DeviationPeriod("patient_chosen", day(10), day(40)), DeviationPeriod("medical", day(60), None)]
    for order in itertools.permutations([X_SET, late, X_CLEARED]):
        s = state(CONTACTS + list(order))
        assert s.contacts[KEY + "x"].deviation_periods() == expected, [e["occurred_at"] for e in order]
        # a resent event (same id and time) changes nothing and says so
        for e in order:
            assert s.apply(EVENT_TYPES[e["event_type"]].model_validate(e)) is False
        assert s.contacts[KEY + "x"].deviation_periods() == expected
        # measured on day 50: x (200 days) waits without a deviation, so it is in `measured` and over 180
        g = eye(measures(rows_from_contacts(s.contacts.values(), measured_on(50), "01"), measured_on(50), "01"))
        assert (g["with_deviation"], g["measured"], g["over_180"]) == (0, 4, 1)  # y not deviated in this scenario


def snapshot(db, month: dt.date) -> tuple:
    (r,) = db.query_dicts("SELECT waiting, with_deviation, measured, within_limit, share_within_limit, over_180, "
                          "share_over_180 FROM waitlist_snapshots FINAL WHERE month = {m:Date} AND region_code = '01'",
                          {"m": month})
    return tuple(r.values())


def test_a_reclosed_past_month_uses_the_deviations_as_they_were_at_its_end(tmp_path):
    """May 2026 ends on day 30 (31 May, 23:59:59.999 local): waits a 30, b 130, x 180, y 60."""
    may = dt.date(2026, 5, 1)
    policy = ViewPolicy(audit_log=tmp_path / "audit.log")
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    version = itertools.count(1)

    def store(events):
        s = state(events)
        Sink(db).write({"waitlist_contacts": [ContactRow.of(c, next(version)) for c in s.contacts.values()]})

    try:
        known = CONTACTS + [X_SET, Y_SET]
        store(known)
        close_month(db, may, policy)
        # x and y deviated at May's end: measured a b = 2; within a = 1 → 0.5; over 180: none (x is 180, not over)
        assert snapshot(db, may) == (4, 2, 2, 1, 0.5, 0, 0.0)
        # x's clear of day 40 (in June) arrives, May is closed again: May is unchanged (today's flag would give
        # measured a b x = 3, 1/3 within)
        known += [X_CLEARED]
        store(known)
        close_month(db, may, policy)
        assert snapshot(db, may) == (4, 2, 2, 1, 0.5, 0, 0.0)
        # a late clear of y dated day 25 (26 May): at May's end only x is deviated: measured a b y = 3;
        # within a (30), y (60) = 2 → 0.6667
        known += [Y_CLEARED]
        store(known)
        close_month(db, may, policy)
        assert snapshot(db, may) == (4, 1, 3, 2, 0.6667, 0, 0.0)
        # June (ends day 60; waits a 60, b 160, x 210, y 90): nothing deviated: measured 4; within a, y (90) = 2;
        # over 180: x → 0.25
        close_month(db, dt.date(2026, 6, 1), policy)
        assert snapshot(db, dt.date(2026, 6, 1)) == (4, 0, 4, 2, 0.5, 1, 0.25)
    finally:
        db.close()


def test_periods_survive_the_store_and_a_restart_with_late_and_resent_events(tmp_path):
    """Through the processor with no contact kept in memory (each batch reads its contacts back from the
    real engine) and a restart half-way; x's set is resent after the restart (a new processor does not
    remember its id), and y's clear of day 25 arrives after x's clear of day 40."""
    codec = SchemaSet(published_schemas())
    events = CONTACTS + [X_SET, Y_SET, X_SET, X_CLEARED, X_SET, Y_CLEARED]
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    try:
        run(db, encode(events, codec), store=True, capacity=0, batch=1, restart_at=5)
        x, y = (r.to_contact() for r in sorted(recovery.contacts(db, [KEY + "x", KEY + "y"])))
        assert x.deviation_periods() == [DeviationPeriod("patient_chosen", day(10), day(40))]
        assert y.deviation_periods() == [DeviationPeriod("medical", day(10), day(25))]
        # day 5: none deviated: measured 4, within a y = 2 → 0.5
        # day 20: x, y deviated: measured a b = 2, within a → 0.5
        # day 50: none deviated: measured 4; within a (50), y (80) = 2 → 0.5; over 180: x (200) → 0.25
        expected = {5: (4, 0, 4, 2, 0.5, 0, 0.0), 20: (4, 2, 2, 1, 0.5, 0, 0.0), 50: (4, 0, 4, 2, 0.5, 1, 0.25)}
        for n, want in expected.items():
            assert counts(eye(waitlist_measures(db, "01", measured_on(n), Limits()))) == want, n
    finally:
        db.close()


def test_a_contact_stored_before_the_history_is_rebuilt_once(tmp_path):
    """A row written before migration 010 has today's deviation and its stamp but no events: the worker's
    start rebuilds such contacts from their accepted events; until then a read keeps today's flag."""
    s = state(CONTACTS + [X_SET])
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    try:
        rows = [ContactRow.of(c, 1) for c in s.contacts.values()]
        Sink(db).write({"waitlist_contacts": rows})
        assert recovery.contacts_without_stamps(db) == 0
        old = [r._replace(version=2, deviation_ats=[], deviation_ids=[], deviation_kinds=[]) for r in rows]
        Sink(db).write({"waitlist_contacts": old})
        assert recovery.contacts_without_stamps(db) == 1  # x
        (x,) = recovery.contacts(db, [KEY + "x"])
        assert x.to_contact().deviation_periods() == [DeviationPeriod("patient_chosen", day(10), None)]
    finally:
        db.close()


def test_the_worker_rebuilds_a_pre_010_contact_with_its_whole_history(tmp_path):
    """The one-off rebuild at the worker's start replays the contact's accepted events, so x gets back the
    period it had (a pre-010 row only knew its newest event, the clear of day 40)."""
    from bedflow.config import Config
    from bedflow.settings import Settings
    from bedflow.worker import Worker

    worker = Worker(Settings(data_dir=tmp_path), Config())
    db = worker.db
    db.migrate()
    try:
        run(db, encode(CONTACTS + [X_SET, X_CLEARED], SchemaSet(published_schemas())), store=False)
        (row,) = recovery.contacts(db, [KEY + "x"])
        Sink(db).write({"waitlist_contacts": [row._replace(version=row.version + 1, deviation_ats=[],
                                                           deviation_ids=[], deviation_kinds=[])]})
        assert recovery.contacts_without_stamps(db) == 1
        worker._stamp_old_contacts()
        assert recovery.contacts_without_stamps(db) == 0
        (x,) = recovery.contacts(db, [KEY + "x"])
        assert x.to_contact().deviation_periods() == [DeviationPeriod("patient_chosen", day(10), day(40))]
        # and the API's answer on day 20 has x deviated again (y has no deviation in this scenario):
        # measured a b y = 3; within a (20), y (50) = 2
        g = eye(waitlist_measures(db, "01", measured_on(20), Limits()))
        assert (g["with_deviation"], g["measured"], g["within_limit"]) == (1, 3, 2)
    finally:
        db.close()
