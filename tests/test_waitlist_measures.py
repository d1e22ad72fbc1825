"""Waiting-list state and measures at an instant (plain domain code), and the same measures over the
sink's SQL pre-aggregation."""
import datetime as dt

import pytest

from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.domain.waitlist import Limits, WaitlistState, measures, rows_from_contacts
from streams.rows import ContactRow
from schemas.model import EVENT_TYPES
from tests.factory import T0, decided, ev
from web.waitlist import waitlist_measures

AT = T0 + dt.timedelta(days=200)


def day(n):  # an instant n days before AT
    return (AT - dt.timedelta(days=n, hours=1)).isoformat()


def build(events):
    s = WaitlistState()
    for e in events:
        s.apply(EVENT_TYPES[e["event_type"]].model_validate(e))
    return s


def script():
    return [
        decided("c1", decided_at=day(10)),                     # eye care (511), phase 1
        decided("c2", decided_at=day(45)),
        decided("c3", decided_at=day(95)),                     # over the 90-day limit
        decided("c4", decided_at=day(190)),                    # over 180
        decided("c5", decided_at=day(120)),
        ev("DeviationSet", 1, contact_id="c5", deviation="patient_chosen"),   # PvV: excluded by default
        decided("c6", decided_at=day(20), phase=2),
        decided("c7", decided_at=day(5), phase=5, guarantee=False),           # acute: never waiting
        decided("c8", decided_at=day(15)),
        ev("ContactPerformed", 2, contact_id="c8", started_at=day(1), performing_provider_id="SE2321000018-P001",
           performing_region_code="03"),
        decided("c9", decided_at=day(40), mvo="931", region="01"),           # BUP: 30-day limit
    ]


def by_key(ms):
    return {(m.mvo_group, m.phase): m.as_dict() for m in ms}


def test_counts_buckets_and_shares():
    s = build(script())
    m = by_key(measures(rows_from_contacts(s.contacts.values(), AT, "01"), AT, "01"))
    eye = m[("Ögonsjukvård", 1)]
    assert eye["waiting"] == 5
    assert (eye["le_30"], eye["le_60"], eye["le_90"], eye["le_180"], eye["gt_180"]) == (1, 1, 0, 2, 1)
    # compliance over c1 c2 c3 c4 (c5 has a deviation): 2 of 4 within 90 days
    assert eye["share_within_limit"] == 0.5
    assert eye["share_over_180"] == 0.25
    assert m[("Ögonsjukvård", 2)]["waiting"] == 1
    assert ("Ögonsjukvård", 5) not in m
    bup = m[("Barn- och ungdomspsykiatri", 1)]
    assert bup["limit_days"] == 30 and bup["share_within_limit"] == 0.0


def test_deviations_included_when_configured():
    s = build(script())
    eye = by_key(measures(rows_from_contacts(s.contacts.values(), AT, "01"), AT, "01",
                          exclude_deviations=False))[("Ögonsjukvård", 1)]
    assert eye["share_within_limit"] == 0.4  # c5 (120 days) now counts against
    assert eye["share_over_180"] == 0.2


def test_region_override_of_limit():
    limits = Limits.from_config([{"phase": 1, "days": 60, "effective_from": "2020-01-01", "region": "01"}])
    s = build(script())
    eye = by_key(measures(rows_from_contacts(s.contacts.values(), AT, "01"), AT, "01", limits))[("Ögonsjukvård", 1)]
    assert eye["limit_days"] == 60 and eye["share_within_limit"] == 0.5  # c1, c2 within 60
    assert limits.limit_for("03", "Ögonsjukvård", 1, AT.date()) == 90


def test_limits_are_dated():
    limits = Limits.from_config([{"phase": 1, "days": 60, "effective_from": "2027-01-01", "region": "01"}])
    assert limits.limit_for("01", "Kirurgi", 1, dt.date(2026, 12, 31)) == 90
    assert limits.limit_for("01", "Kirurgi", 1, dt.date(2027, 1, 1)) == 60


def test_closed_contact_is_not_waiting_after_close_but_was_before():
    s = build(script())
    before = AT - dt.timedelta(days=3)
    eye_before = by_key(measures(rows_from_contacts(s.contacts.values(), before, "01"), before, "01"))
    assert eye_before[("Ögonsjukvård", 1)]["waiting"] == 6  # c8 still open 3 days before AT


def test_resent_and_late_events_are_idempotent():
    events = script()
    s = build(events + events)
    assert s.contacts["SE2321000016-0001:c5"].deviation == "patient_chosen"
    s.apply(EVENT_TYPES["DeviationCleared"].model_validate(ev("DeviationCleared", 0.5, contact_id="c5")))
    # older than the set: placed before it in the contact's history, so today's flag is still the set's
    assert s.contacts["SE2321000016-0001:c5"].deviation == "patient_chosen"
    assert [e[2] for e in s.contacts["SE2321000016-0001:c5"].deviations] == [None, "patient_chosen"]


def test_sql_pre_aggregation_gives_the_domain_measures(tmp_path):
    """One measures(): the API's path (sinks/queries.py's weighted rows, measured in web) answers exactly
    what the domain gives over the contacts themselves, at several instants, per phase and with deviations."""
    s = build(script() + [decided("c10", decided_at=day(50), mvo="998")])  # no known MVO group: "okänd"
    limits = Limits.from_config([{"phase": 1, "days": 60, "effective_from": "2020-01-01", "region": "01"}])
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    try:
        Sink(db).write({"waitlist_contacts": [ContactRow.of(c, 1) for c in s.contacts.values()]})
        for at in (AT, AT - dt.timedelta(days=3), AT - dt.timedelta(days=100)):
            for phase in (None, 1, 2):
                for exclude in (True, False):
                    domain = [m.as_dict() for m in measures(
                        [r for r in rows_from_contacts(s.contacts.values(), at, "01") if phase in (None, r.phase)],
                        at, "01", limits, exclude)]
                    assert waitlist_measures(db, "01", at, limits, phase, exclude) == domain
        assert ("okänd", 1) in {(m["mvo_group"], m["phase"]) for m in waitlist_measures(db, "01", AT, limits)}
    finally:
        db.close()
