"""Issue 14: care-guarantee breaches ahead and the expected wait (GET /api/v1/waitlist/breaches), from the
definitions (streams/domain/breaches.py, INFORMATION_MODEL §4): every expected number worked out by hand.

- A contact waiting W calendar days (Europe/Stockholm) under a limit of L days passes the limit in
  L + 1 − W days (waiting exactly L days is within); it breaches within N days when that is 1..N.
- Counted among the guarantee share's population only: under the guarantee, no deviation in force.
- Expected wait = waiting ÷ (performed in the last 4 weeks ÷ 4) × 7 days; none when nothing was performed.
"""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.domain.breaches import breaches, days_to_breach, expected_wait_days
from streams.domain.waitlist import BUP_GROUP, Limit, Limits, WaitRow
from streams.processor import WAITLIST, Processor
from tests.factory import decided, ev
from tests.test_access import api_server, records
from web.access import Token
from web.policy import ViewPolicy

STHLM = ZoneInfo("Europe/Stockholm")
EYE = "Ögonsjukvård"  # MVO 511
ADMIN, NATIONAL, REGION = "breach-admin", "breach-national", "breach-region01"
NOW = dt.datetime.now(dt.timezone.utc)
TODAY = NOW.astimezone(STHLM).date()
K1, K2 = "SE2321000016-K001", "SE2321000016-K002"


# ------------------------------------------------------------------ the definitions, as plain functions
def test_days_to_the_first_day_past_the_limit():
    assert days_to_breach(85, 90) == 6   # waiting 85 days of 90: day 91 is in 6 days
    assert days_to_breach(90, 90) == 1   # 90 days exactly is still within; tomorrow it is not
    assert days_to_breach(91, 90) == 0   # past already


def test_a_contact_decided_85_days_ago_under_90_breaches_within_7_days():
    on = dt.date(2027, 3, 1)
    rows = [WaitRow(EYE, 1, 85, True, False)]
    (m,) = breaches(rows, {}, "01", on)
    assert (m.limit_days, m.measured, m.within_7, m.within_14, m.within_30) == (90, 1, 1, 1, 1)
    # with a patient-chosen wait in force it is not counted; nor without the guarantee
    (m,) = breaches([WaitRow(EYE, 1, 85, True, True), WaitRow(EYE, 1, 85, False, False)], {}, "01", on)
    assert (m.waiting, m.measured, m.not_measured, m.within_7) == (2, 0, 2, 0)
    # deviations configured in (exclude_deviations false): the deviation's contact is counted
    (m,) = breaches([WaitRow(EYE, 1, 85, True, True)], {}, "01", on, exclude_deviations=False)
    assert (m.measured, m.within_7) == (1, 1)


def test_horizons_are_nested_and_the_limit_is_the_one_in_force():
    on = dt.date(2027, 3, 1)
    # waits 84, 83, 61, 60 of 90: in 7, 8, 30 and 31 days
    rows = [WaitRow(EYE, 1, w, True, False) for w in (84, 83, 61, 60)]
    (m,) = breaches(rows, {}, "01", on)
    assert (m.within_7, m.within_14, m.within_30, m.over_limit) == (1, 2, 3, 0)
    # BUP's own 30 days: 25 waited, past it in 6 days; 31 waited: past already
    (m,) = breaches([WaitRow(BUP_GROUP, 1, 25, True, False), WaitRow(BUP_GROUP, 1, 31, True, False)], {}, "01", on)
    assert (m.limit_days, m.within_7, m.over_limit) == (30, 1, 1)
    # a region's own 60-day limit from 2027-01-01: 55 waited is 6 days from it
    own = Limits(Limits().entries + (Limit(1, 60, dt.date(2027, 1, 1), region="01"),))
    (m,) = breaches([WaitRow(EYE, 1, 55, True, False)], {}, "01", on, own)
    assert (m.limit_days, m.within_7) == (60, 1)
    (m,) = breaches([WaitRow(EYE, 1, 55, True, False)], {}, "03", on, own)  # not in region 03
    assert (m.limit_days, m.within_7, m.within_30) == (90, 0, 0)
    # no limit (examinations by default): no breach counts
    (m,) = breaches([WaitRow(EYE, 3, 200, True, False)], {}, "01", on)
    assert (m.limit_days, m.within_7, m.within_30) == (None, None, None)


def test_expected_wait_is_the_queue_over_the_recent_flow():
    assert expected_wait_days(10, 4) == 70.0   # 4 performed in 4 weeks: 1 a week; 10 waiting: 10 weeks
    assert expected_wait_days(10, 8) == 35.0
    assert expected_wait_days(3, 0) is None    # nothing performed: no flow, no estimate
    (m,) = breaches([WaitRow(EYE, 1, 5, True, True, count=6)], {(EYE, 1): 12}, "01", dt.date(2027, 3, 1))
    # every waiting contact is in the queue (deviations too): 6 ÷ 3 a week × 7
    assert (m.waiting, m.performed_recent, m.performed_per_week, m.expected_wait_days) == (6, 12, 3.0, 14.0)


# ------------------------------------------------------------------ through the processor, chDB and the API
def local_noon(days_ago: int) -> str:
    """Noon (Stockholm) `days_ago` calendar days before today: waited exactly that many calendar days."""
    return dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(12), STHLM).isoformat()


def when(days_ago: int) -> dict:
    """An event occurring at noon `days_ago` days before today (1 day at least: never in the future)."""
    return {"occurred_at": local_noon(days_ago)}


def scenario() -> list[dict]:
    dec = lambda c, days, clinic=K1, **kw: decided(c, decided_at=local_noon(days), clinic_id=clinic,  # noqa: E731
                                                   **when(days), **kw)
    out = [
        # region 01, eye care, first contacts (90 days): waited 85, 90, 84, 83, 61, 60, 91 days
        dec("a", 85), dec("b", 90), dec("c", 84), dec("d", 83), dec("e", 61, K2), dec("g", 91),
        # f was decided at K001, then its decision was corrected to K002 (the newer decision is in force)
        dec("f", 60), decided("f", decided_at=local_noon(60), clinic_id=K2, **when(59)),
        # h: a patient-chosen wait in force; i: not under the guarantee; j: a deviation set and cleared
        dec("h", 85), ev("DeviationSet", 0, contact_id="h", deviation="patient_chosen", **when(10)),
        dec("i", 85, guarantee=False),
        dec("j", 85), ev("DeviationSet", 0, contact_id="j", deviation="medical", **when(20)),
        ev("DeviationCleared", 0, contact_id="j", **when(5)),
        # one operation waiting (phase 2), one examination (phase 3: no limit)
        dec("op", 88, phase=2), dec("ex", 200, phase=3),
    ]
    # performed first contacts at K001: 3, 10, 20 and 27 days ago (the last 4 weeks) and 40 days ago (not)
    for i, days in enumerate((3, 10, 20, 27, 40)):
        out += [dec(f"p{i}", days + 30),
                ev("ContactPerformed", 0, contact_id=f"p{i}", started_at=local_noon(days),
                   performing_provider_id="SE2321000016-P001", performing_region_code="01", **when(days))]
    # region 12: six eye first contacts waiting 10 days, nothing performed
    p12 = dict(region="12", muni="1280", provider_id="SE2321000214-P001", hospital_id="SE2321000214-H001",
               clinic_id="SE2321000214-K001")
    out += [decided(f"s{i}", decided_at=local_noon(10), **when(10), **p12) for i in range(6)]
    return out


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("breaches")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(records(codec, WAITLIST, scenario()))
    assert not batch.rows.get("deadletters"), batch.rows.get("deadletters")
    Sink(db).write(batch.rows)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("sthlm", REGION, "region:01")),
                        audit_log=workdir / "audit.log")
    yield from api_server(db, policy, ADMIN)


def get(server, path, token=ADMIN) -> dict:
    status, body = server.call("GET", path, token)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def test_breaches_ahead_per_group_and_phase(server):
    a = get(server, "/api/v1/waitlist/breaches?region=01")
    assert a["horizons"] == [7, 14, 30] and a["recent_weeks"] == 4 and "PvV" in a["not_counted"]
    rows = {(r["mvo_group"], r["phase"]): r for r in a["rows"]}
    first = rows[(EYE, 1)]
    # waiting: a b c d e f g h i j = 10; not counted: h (deviation in force), i (no guarantee)
    assert (first["waiting"], first["measured"], first["not_measured"]) == (10, 8, 2)
    # past already: g (91); in 6 (a, j), 1 (b), 7 (c) days; d in 8, e in 30, f in 31
    assert (first["over_limit"], first["within_7"], first["within_14"], first["within_30"]) == (1, 4, 5, 6)
    # performed in the last 4 weeks: 4 (not the one 40 days ago): 1 a week; 10 waiting → 70 days
    assert (first["performed_recent"], first["performed_per_week"], first["expected_wait_days"]) == (4, 1.0, 70.0)
    op = rows[(EYE, 2)]  # 88 of 90 days: past the limit in 3 days; nothing performed: no expected wait
    assert (op["waiting"], op["within_7"], op["expected_wait_days"]) == (1, 1, None)
    ex = rows[(EYE, 3)]
    assert (ex["limit_days"], ex["waiting"], ex["within_7"], ex["over_limit"]) == (None, 1, None, 0)


def test_per_clinic_the_number_waiting_and_the_expected_wait(server):
    clinics = {(c["clinic_id"], c["phase"]): c for c in get(server, "/api/v1/waitlist/breaches?region=01")["clinics"]}
    # K001: a b c d g h i j waiting in phase 1 (f moved to K002 with its corrected decision), 4 performed recently
    assert (clinics[(K1, 1)]["waiting"], clinics[(K1, 1)]["performed_recent"]) == (8, 4)
    assert clinics[(K1, 1)]["expected_wait_days"] == 56.0  # 8 ÷ 1 a week × 7
    assert (clinics[(K2, 1)]["waiting"], clinics[(K2, 1)]["expected_wait_days"]) == (2, None)  # e, f
    assert clinics[(K1, 2)]["waiting"] == 1 and clinics[(K1, 3)]["waiting"] == 1


def test_scope_and_small_numbers(server):
    mine = get(server, "/api/v1/waitlist/breaches?region=01", REGION)
    assert {(r["mvo_group"], r["phase"]): r["within_7"] for r in mine["rows"]}[(EYE, 1)] == 4  # its own: in full
    assert server.call("GET", "/api/v1/waitlist/breaches?region=12", REGION)[0] == 403
    national = {(r["mvo_group"], r["phase"]): r for r in get(server, "/api/v1/waitlist/breaches?region=01",
                                                                 NATIONAL)["rows"]}
    # 1..4 in the row (over_limit 1, within_7 4, performed 4): the row hidden whole, its expected wait too
    assert national[(EYE, 1)]["within_7"] is None and national[(EYE, 1)]["waiting"] is None
    assert national[(EYE, 1)]["expected_wait_days"] is None and national[(EYE, 1)]["limit_days"] == 90
    for r in national.values():
        for f in ("waiting", "measured", "within_7", "within_14", "within_30", "over_limit", "performed_recent"):
            assert r[f] is None or not 1 <= r[f] <= 4, (r, f)
    for c in get(server, "/api/v1/waitlist/breaches?region=01", NATIONAL)["clinics"]:
        assert c["waiting"] is None or not 1 <= c["waiting"] <= 4, c
    # region 12: 6 waiting 10 days, no count 1..4: shown
    (r12,) = get(server, "/api/v1/waitlist/breaches?region=12", NATIONAL)["rows"]
    assert (r12["waiting"], r12["measured"], r12["within_30"], r12["expected_wait_days"]) == (6, 6, 0, None)
    csv = server.call("GET", "/api/v1/waitlist/breaches?region=12&format=csv", NATIONAL)
    assert csv[0] == 200 and csv[1].startswith(b"\xef\xbb\xbf") and "Ögonsjukvård".encode() in csv[1]
