"""Issue 12, points 1, 3, 6 (counts) and 10: the waiting-list measures as the national follow-up defines
them. Every expected number is worked out by hand from the scenario written in the test (the comments
show the arithmetic), not computed with the code under test.

Definitions (docs/INFORMATION_MODEL.md §4):
- share_within_limit = within_limit / measured and share_over_180 = over_180 / measured: both of the same
  population, the guarantee contacts waiting (less those with an active deviation by default), so they
  reconcile (within + between the limit and 180 + over 180 = measured);
- follow-ups (phase 4) are measured against the medical target date: share_past_target = past_target /
  target_measured; phases 3-4 have no >180-day share;
- days are calendar days in Europe/Stockholm;
- snapshots store the counts, and healthcare region and nation are sums of the regions' counts.
"""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

from bedflow.config import Config
from bedflow.metrics import Metrics
from bedflow.settings import Settings
from bedflow.views import api_app
from schemas.model import EVENT_TYPES
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.domain.waitlist import Limits, WaitlistState, measures, roll_up, rows_from_contacts, wait_days
from streams.rows import ContactRow
from tests.factory import decided, ev
from tests.test_access import Server
from web.access import Scope, Viewer
from web.policy import ViewPolicy
from web.snapshots import close_month, snapshot_rollups
from web.waitlist import waitlist_measures

STHLM = ZoneInfo("Europe/Stockholm")
AT = dt.datetime(2027, 6, 8, 8, 0, tzinfo=STHLM)  # a Tuesday morning, CEST
EYE = "Ögonsjukvård"  # MVO 511


def ago(days: int) -> str:
    return (AT - dt.timedelta(days=days, hours=1)).isoformat()  # 07:00 local: `days` calendar days before AT


def state(events) -> WaitlistState:
    s = WaitlistState()
    for e in events:
        s.apply(EVENT_TYPES[e["event_type"]].model_validate(e))
    return s


def group(ms, mvo_group, phase) -> dict:
    return next(m.as_dict() for m in ms if (m.mvo_group, m.phase) == (mvo_group, phase))


def store(tmp_path, s: WaitlistState) -> ClickHouse:
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    Sink(db).write({"waitlist_contacts": [ContactRow.of(c, 1) for c in s.contacts.values()]})
    return db


# ------------------------------------------------------------------ point 1: one population, both shares
def denominators_scenario():
    return [
        decided("a", decided_at=ago(10)),                        # guarantee, within 90
        decided("b", decided_at=ago(100)),                       # guarantee, 91-180
        decided("c", decided_at=ago(200)),                       # guarantee, over 180
        decided("d", decided_at=ago(200)),                       # guarantee, over 180, patient-chosen wait
        ev("DeviationSet", 1, contact_id="d", deviation="patient_chosen"),
        decided("e", decided_at=ago(250), guarantee=False),      # not under the guarantee, over 180
        decided("f", decided_at=ago(20), guarantee=False),       # not under the guarantee
    ]


def test_both_shares_are_of_the_same_population_and_carry_their_counts():
    s = state(denominators_scenario())
    eye = group(measures(rows_from_contacts(s.contacts.values(), AT, "01"), AT, "01"), EYE, 1)
    assert eye["waiting"] == 6 and eye["with_deviation"] == 1
    # those waiting under the guarantee, deviation left out: a, b, c
    assert eye["measured"] == 3
    assert (eye["within_limit"], eye["share_within_limit"]) == (1, 0.3333)   # a: 1 / 3
    assert (eye["over_180"], eye["share_over_180"]) == (1, 0.3333)           # c: 1 / 3 (was 2 / 5 = 0.4: c, e of a-f less d)
    # they reconcile: within (a) + between 91 and 180 (b) + over 180 (c) = measured
    assert eye["within_limit"] + 1 + eye["over_180"] == eye["measured"]


def test_with_deviations_included_both_shares_move_together():
    s = state(denominators_scenario())
    eye = group(measures(rows_from_contacts(s.contacts.values(), AT, "01"), AT, "01", exclude_deviations=False),
                EYE, 1)
    assert eye["measured"] == 4                                           # a, b, c, d
    assert (eye["within_limit"], eye["share_within_limit"]) == (1, 0.25)  # a: 1 / 4
    assert (eye["over_180"], eye["share_over_180"]) == (2, 0.5)           # c, d: 2 / 4


def test_the_api_path_gives_the_same_counts(tmp_path):
    db = store(tmp_path, state(denominators_scenario()))
    try:
        (eye,) = [r for r in waitlist_measures(db, "01", AT, Limits()) if r["phase"] == 1]
        assert (eye["measured"], eye["within_limit"], eye["over_180"]) == (3, 1, 1)
        assert (eye["share_within_limit"], eye["share_over_180"]) == (0.3333, 0.3333)
    finally:
        db.close()


# ------------------------------------------------------------------ point 3: follow-ups and the target date
def follow_up_scenario():
    return [
        decided("f1", decided_at=ago(300), phase=4, guarantee=False, medical_target_date="2027-06-01"),  # past
        decided("f2", decided_at=ago(250), phase=4, guarantee=False, medical_target_date="2027-06-08"),  # due today
        decided("f3", decided_at=ago(20), phase=4, guarantee=False, medical_target_date="2027-05-30"),   # past
        decided("f4", decided_at=ago(400), phase=4, guarantee=False, medical_target_date="2027-12-01"),  # ahead
        decided("x1", decided_at=ago(200), phase=3, guarantee=False),                                    # examination
    ]


def test_follow_ups_are_measured_against_the_medical_target_date(tmp_path):
    s = state(follow_up_scenario())
    ms = measures(rows_from_contacts(s.contacts.values(), AT, "01"), AT, "01")
    fu = group(ms, EYE, 4)
    assert fu["waiting"] == 4 and fu["gt_180"] == 3        # f1, f2, f4 decided over 180 days ago
    assert fu["share_over_180"] is None                     # not defined for follow-ups (was 3 / 4 = 0.75)
    assert (fu["target_measured"], fu["past_target"], fu["share_past_target"]) == (4, 2, 0.5)  # f1, f3: 2 / 4
    assert group(ms, EYE, 3)["share_over_180"] is None      # nor for examinations
    db = store(tmp_path, s)
    try:
        (api,) = [r for r in waitlist_measures(db, "01", AT, Limits(), 4)]
        assert (api["target_measured"], api["past_target"], api["share_past_target"], api["share_over_180"]) == \
            (4, 2, 0.5, None)
    finally:
        db.close()


# ------------------------------------------------------------------ point 10: calendar days in Stockholm
def test_days_are_calendar_days_in_stockholm():
    decided_ = dt.datetime(2027, 6, 7, 23, 30, tzinfo=STHLM)
    assert wait_days(decided_, dt.datetime(2027, 6, 8, 0, 30, tzinfo=STHLM)) == 1  # one hour later, next day
    assert wait_days(decided_, dt.datetime(2027, 6, 7, 23, 59, tzinfo=STHLM)) == 0
    # 1 March 23:30 CET to 31 May 00:30 CEST: 30 + 30 + 31 = 91 calendar days (exactly 90 x 24 h in UTC)
    assert wait_days(dt.datetime(2027, 3, 1, 23, 30, tzinfo=STHLM), dt.datetime(2027, 5, 31, 0, 30, tzinfo=STHLM)) == 91


def test_a_wait_crossing_midnight_is_over_the_limit_by_the_calendar(tmp_path):
    at = dt.datetime(2027, 5, 31, 0, 30, tzinfo=STHLM)
    s = state([decided("late", decided_at=dt.datetime(2027, 3, 1, 23, 30, tzinfo=STHLM).isoformat())])
    domain = group(measures(rows_from_contacts(s.contacts.values(), at, "01"), at, "01"), EYE, 1)
    db = store(tmp_path, s)
    try:
        (api,) = waitlist_measures(db, "01", at, Limits())
    finally:
        db.close()
    for m in (domain, api):  # day 91 > 90: over the limit (24-hour periods said 90: within)
        assert (m["le_90"], m["le_180"], m["within_limit"], m["share_within_limit"]) == (0, 1, 0, 0.0)


# ------------------------------------------------------------------ point 6: counts roll up
def snapshot_row(region, measured, within, over, waiting, le_30=0, le_60=0, le_90=0, le_180=0, gt_180=0, limit=90):
    return {"region_code": region, "mvo_group": EYE, "phase": 1, "limit_days": limit, "waiting": waiting,
            "le_30": le_30, "le_60": le_60, "le_90": le_90, "le_180": le_180, "gt_180": gt_180, "with_deviation": 0,
            "measured": measured, "within_limit": within, "over_180": over, "target_measured": 0, "past_target": 0}


def test_regions_add_up_to_healthcare_region_and_nation():
    rows = [snapshot_row("01", 10, 8, 1, 10, le_30=8, le_180=1, gt_180=1),     # Stockholm-Gotland
            snapshot_row("09", 30, 12, 6, 30, le_60=12, le_180=12, gt_180=6),  # Stockholm-Gotland
            snapshot_row("13", 20, 10, 0, 20, le_90=10, le_180=10)]           # Halland: Södra and Västra
    nation = roll_up(rows, {"01": ("SE",), "09": ("SE",), "13": ("SE",)})
    (se,) = nation
    assert (se["waiting"], se["measured"], se["within_limit"], se["over_180"]) == (60, 60, 30, 7)  # 10+30+20, 8+12+10, 1+6+0
    assert (se["share_within_limit"], se["share_over_180"]) == (0.5, 0.1167)  # 30/60 (not the mean of .8 .4 .5); 7/60
    hcr = {g["area"]: g for g in roll_up(rows, {"01": ("Stockholm-Gotland",), "09": ("Stockholm-Gotland",),
                                                "13": ("Södra", "Västra")})}
    assert (hcr["Stockholm-Gotland"]["measured"], hcr["Stockholm-Gotland"]["within_limit"]) == (40, 20)  # 10+30, 8+12
    assert hcr["Stockholm-Gotland"]["share_within_limit"] == 0.5 and hcr["Södra"]["waiting"] == 20
    for c in ("waiting", "le_30", "le_60", "le_90", "le_180", "gt_180", "measured", "within_limit", "over_180"):
        assert se[c] == sum(r[c] for r in rows), c


def test_a_month_closed_before_counts_were_stored_rolls_up_to_unknown():
    old = snapshot_row("01", None, None, None, 5, le_30=5)
    (se,) = roll_up([old, snapshot_row("09", 4, 4, 0, 4, le_30=4)], {"01": ("SE",), "09": ("SE",)})
    assert se["waiting"] == 9 and se["measured"] is None and se["share_within_limit"] is None


def test_rolled_up_counts_hide_what_a_region_hides():
    # region 12 has 2 waiting 31-60 days: hidden for a national viewer, with the 6 under 30 (8 - 6 gives 2)
    rows = [snapshot_row("12", 8, 8, 0, 8, le_30=6, le_60=2), snapshot_row("01", 20, 20, 0, 20, le_30=20)]
    policy = ViewPolicy()
    national = snapshot_rollups(Scope(Viewer("national"), 4), policy, rows)
    (se,) = national["nation"]
    assert se["waiting"] == 28 and se["le_30"] is None and se["le_60"] is None  # 28 - 20 - … would give 12's back
    assert se["measured"] is None and se["share_within_limit"] is None
    (admin,) = snapshot_rollups(Scope(Viewer("admin"), 4), policy, rows)["nation"]
    assert (admin["le_30"], admin["le_60"], admin["measured"], admin["within_limit"]) == (26, 2, 28, 28)
    assert snapshot_rollups(Scope(Viewer("region:01"), 4), policy, rows) == {"healthcare_regions": None, "nation": None}


def test_snapshots_store_counts_and_show_the_same_month_last_year(tmp_path):
    # 01: 3 waiting since 2025 (guarantee), 12: 2 under the guarantee and 1 without, all phase 1
    events = [decided(f"s01-{i}", i, decided_at="2025-10-01T08:00:00+00:00") for i in range(3)]
    events += [decided(f"s12-{i}", 10 + i, region="12", muni="1280", decided_at="2026-10-20T08:00:00+00:00",
                       guarantee=i < 2) for i in range(3)]
    db = store(tmp_path, state(events))
    policy = ViewPolicy(audit_log=tmp_path / "audit.log")
    server = Server(api_app(db, Settings(data_dir=tmp_path), Config(), Metrics(), "adm"))
    try:
        def get(month):
            status, body = server.call("GET", f"/api/v1/waitlist/snapshots?month={month}", "adm")
            assert status == 200, body
            return json.loads(body)

        close_month(db, dt.date(2026, 11, 1), policy)
        answer = get("2026-11")
        rows = {r["region_code"]: r for r in answer["rows"]}
        # 30 Nov 2026: 01's contacts decided 1 Oct 2025 have waited 425 days; 12's (20 Oct 2026) 41
        assert (rows["01"]["measured"], rows["01"]["within_limit"], rows["01"]["over_180"]) == (3, 0, 3)
        assert (rows["12"]["waiting"], rows["12"]["measured"], rows["12"]["within_limit"]) == (3, 2, 2)
        (se,) = answer["nation"]
        assert (se["waiting"], se["measured"], se["within_limit"], se["over_180"]) == (6, 5, 2, 3)  # 3+3, 3+2, 0+2, 3+0
        assert (se["share_within_limit"], se["share_over_180"]) == (0.4, 0.6)  # 2/5, 3/5
        assert answer["previous_year"] is None  # November 2025 not closed
        close_month(db, dt.date(2025, 11, 1), policy)
        before = get("2026-11")["previous_year"]
        assert before["month"] == "2025-11" and before["closed"]
        # 30 Nov 2025: only 01's contacts existed, 60 days old: all within 90
        assert [(r["region_code"], r["waiting"], r["measured"], r["within_limit"]) for r in before["rows"]] == \
            [("01", 3, 3, 3)]
        assert [(g["area"], g["waiting"]) for g in before["nation"]] == [("SE", 3)]
    finally:
        server.stop()
        db.close()


# ------------------------------------------------------------------ the new counts are small-number protected
def test_new_counts_are_suppressed_outside_the_region(tmp_path):
    from web.snapshots import SnapshotRow
    from web.suppression import suppress_wait_row

    base = dict(mvo_group=EYE, phase=1, waiting=20, le_30=10, le_60=10, le_90=0, le_180=0, gt_180=0, limit_days=90,
                with_deviation=0, measured=18, within_limit=18, over_180=0, share_within_limit=1.0, share_over_180=0.0,
                target_measured=0, past_target=0, share_past_target=None)
    few_measured = suppress_wait_row({**base, "measured": 3, "within_limit": 3}, 4)
    assert (few_measured["measured"], few_measured["within_limit"], few_measured["over_180"]) == (None, None, None)
    assert few_measured["share_within_limit"] is None and few_measured["le_30"] == 10  # the buckets may stay
    small_bucket = suppress_wait_row({**base, "le_30": 17, "le_60": 3}, 4)  # a hidden bucket: its parts go too
    assert small_bucket["le_60"] is None and small_bucket["measured"] is None and small_bucket["within_limit"] is None
    follow = suppress_wait_row({**base, "phase": 4, "measured": 0, "within_limit": 0, "target_measured": 20,
                                "past_target": 2, "share_past_target": 0.1}, 4)
    assert (follow["target_measured"], follow["past_target"], follow["share_past_target"]) == (None, None, None)
    assert suppress_wait_row(base, 4) == base  # nothing small: nothing hidden
    # the analyst view hides at least the same
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    try:
        now = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
        db.insert("waitlist_snapshots", [
            SnapshotRow(dt.date(2026, 11, 1), "12", **{**base, "measured": 3, "within_limit": 3}, closed_at=now),
            SnapshotRow(dt.date(2026, 11, 1), "13", **{**base, "phase": 4, "target_measured": 20, "past_target": 2,
                                                       "share_past_target": 0.1}, closed_at=now),
            SnapshotRow(dt.date(2026, 11, 1), "14", **base, closed_at=now)], SnapshotRow._fields)
        view = {r["region_code"]: r for r in db.query_dicts("SELECT * FROM v_analyst_waitlist_snapshots")}
        assert (view["12"]["measured"], view["12"]["within_limit"], view["12"]["share_within_limit"]) == (None, None, None)
        assert (view["13"]["past_target"], view["13"]["share_past_target"], view["13"]["measured"]) == (None, None, 18)
        assert (view["14"]["measured"], view["14"]["within_limit"], view["14"]["share_within_limit"]) == (18, 18, 1.0)
    finally:
        db.close()
