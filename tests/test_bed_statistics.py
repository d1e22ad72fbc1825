"""Monthly bed statistics (issue 12, "what is missing"), from the definitions in
docs/INFORMATION_MODEL.md: a short month (February 2026: 28 days, UTC+1 throughout) of ward-status
history written into the real ClickHouse engine (chDB), every figure worked out by hand below.

Daily count: the ward's state at 08:00 Stockholm (07:00 UTC in February) each calendar day.

Ward W1 (somatic, region 01, hospital H1):
  from before the month (20 Jan, outside the 2-day lookback: read by ward id)  staffed 20, occupied 18,
      overcrowded 0, outliers 1, discharge-ready 2
  from 11 Feb 00:00 local   staffed 10, occupied 12, overcrowded 2, outliers 3, discharge-ready 4
      (written twice: a replayed row must not count twice)
  from 21 Feb 10:00 local   staffed 10, occupied 9, overcrowded 0, outliers 0, discharge-ready 1
  Time: 10 days, 10 days 10 h (10 5/12 d), 7 days 14 h (7 7/12 d) = 28 days.
  Samples: days 1–10 the first state, 11–21 the second (21 Feb 08:00 < 10:00), 22–28 the third: 10, 11, 7.
  staffed beds = (20·10 + 10·10 5/12 + 10·7 7/12) / 28 = 380 / 28 = 13.5714…  → 13.57
  bed-days = 18·10 + 12·10 5/12 + 9·7 7/12 = 180 + 125 + 68.25 = 373.25
  occupancy rate = 373.25 / (380/28 · 28) = 373.25 / 380 = 0.98223…  → 0.9822
  overcrowded: daily sum 2·11 = 22, mean 22/28 = 0.7857 → 0.79; per 100 = 22/380·100 = 5.789 → 5.79
  outliers: 1·10 + 3·11 = 43, mean 1.5357 → 1.54; per 100 = 43/380·100 = 11.3158 → 11.32
  discharge-ready: 2·10 + 4·11 + 1·7 = 71, mean 2.5357 → 2.54; share 71/380 = 0.18684 → 0.1868
Ward W2 (psychiatric, H1), declared 15 Feb 00:00 local: staffed 10, occupied 10, overcrowded 1.
  staffed 10·14/28 = 5.0; bed-days 10·14 = 140; rate 140/(5·28) = 1.0; overcrowded 14/28 = 0.5,
  per 100 = 0.5/5·100 = 10.0
Ward W3 (ICU, care type somatic, H1), from 31 Jan 12:00 local (inside the lookback): staffed 6, occupied 5.
  staffed 6.0; bed-days 140; rate 5/6 = 0.8333; a line of its own ("icu"), not in the somatic line.
Ward W4 (somatic, region 12, hospital H12): staffed 8 all month, occupied 8, overcrowded 0, outliers 2,
  discharge-ready 0 → outliers mean 2.0 (small for a viewer outside region 12).
Nation, somatic: W1 + W4: staffed 13.5714 + 8 = 21.5714 → 21.57; outliers (43 + 56)/28 = 3.5357 → 3.54,
  per 100 = 99 / (21.5714·28) · 100 = 99/604 · 100 = 16.39.
"""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bedflow.metrics import Metrics
from schemas import reference
from sinks import queries
from sinks.clickhouse import ClickHouse
from streams.domain import bedstats
from streams.rows import EventRow, WardStatusRow
from tests.harness import http_call
from tests.test_access import Server
from web.access import Token
from web.api import create_app
from web.policy import ViewPolicy

UTC = dt.timezone.utc
FEB = dt.date(2026, 2, 1)
H1, H12 = "SE2321000016-H901", "SE2321000214-H901"
W1, W2, W3, W4 = "SE2321000016-W901", "SE2321000016-W902", "SE2321000016-W903", "SE2321000214-W904"
W5 = "SE2321000018-W905"  # March only (the DST month)
ADMIN, NATIONAL, REGION01 = "admin-t", "national-t", "region01-t"


def local(day: int, hour: int = 0, month: int = 2) -> dt.datetime:  # Stockholm is UTC+1 in Jan–Feb
    return dt.datetime(2026, month, day, hour, tzinfo=UTC) - dt.timedelta(hours=1)


def row(ward, version, at, staffed, occupied, over=0, outl=0, ready=0, care="somatic", kind="general",
        hospital=H1, region="01", event="e"):
    return WardStatusRow(ward, version, at.replace(tzinfo=None), f"{event}{version}", hospital, f"Sjukhus {hospital[-4:]}",
                         f"Avd {ward[-4:]}", region, "101", "Kirurgi", care, kind, "adt", staffed, occupied, occupied,
                         0, occupied, over, outl, ready, 0, at.replace(tzinfo=None), "s1")


HISTORY = [
    row(W1, 1, local(20, 9, month=1), 20, 18, 0, 1, 2),
    row(W1, 2, local(11), 10, 12, 2, 3, 4),
    row(W1, 2, local(11), 10, 12, 2, 3, 4),  # the same row again (a replay)
    row(W1, 3, local(21, 10), 10, 9, 0, 0, 1),
    row(W2, 4, local(15), 10, 10, 1, 0, 0, care="psychiatric"),
    row(W3, 5, local(31, 12, month=1), 6, 5, kind="icu"),
    row(W4, 6, local(10, 0, month=1), 8, 8, 0, 2, 0, hospital=H12, region="12"),
    row(W1, 7, local(2, 0, month=3), 50, 50, 9, 9, 9),  # after the month: no effect
    # from 1 Mar 00:00 local (February's end: not in February); at exactly 08:00 local (06:00 UTC, summer
    # time) on 29 Mar, the day clocks go forward, one patient over
    row(W5, 8, local(1, 0, month=3), 10, 10, hospital="SE2321000018-H905", region="03"),
    row(W5, 9, dt.datetime(2026, 3, 29, 6, tzinfo=UTC), 10, 11, 1, hospital="SE2321000018-H905", region="03"),
]


def stay_event(kind: str, ward: str, stay: str, at: dt.datetime, copy: int = 0, sender: str = "s1") -> EventRow:
    eid = f"{kind}-{stay}-{sender}"
    payload = json.dumps({"event_id": eid, "event_type": kind, "occurred_at": at.isoformat(), "ward_id": ward,
                          "stay_id": stay, "sender_id": sender, "region_code": "01"})
    return EventRow(eid, kind, at, at + dt.timedelta(seconds=copy), sender, "01", ward, "", "", [], payload, "t",
                    "bedflow.beds.v1", 0, copy)


# Mean days as discharge-ready, W1 in February (days of 24 h, at the ward of discharge):
#   s1 marked 3 Feb 10:00 local, discharged 5 Feb 22:00 (2.5 days; its discharge sent twice: counted once)
#   s2 marked 30 Jan 08:00 local (before the month), discharged 2 Feb 08:00 (3 days)
#   s3 marked 20 Feb, discharged 2 Mar: not a February discharge;  s4 discharged 10 Feb, never marked: not counted
#   s1 of another sender, on W2: marked 10 Feb 00:00, discharged 11 Feb 12:00 (1.5 days): stays are per sender
#   → W1: 2 stays, (2.5 + 3) / 2 = 2.75 days; W2: 1 stay, 1.5 days; hospital H1 (somatic line: W1 only) 2.75
STAYS = [
    stay_event("DischargeReadyMarked", W1, "s1", local(3, 10)),
    stay_event("PatientDischarged", W1, "s1", local(5, 22)),
    stay_event("PatientDischarged", W1, "s1", local(5, 22), copy=1),
    stay_event("DischargeReadyMarked", W1, "s2", local(30, 8, month=1)),
    stay_event("PatientDischarged", W1, "s2", local(2, 8)),
    stay_event("DischargeReadyMarked", W1, "s3", local(20)),
    stay_event("PatientDischarged", W1, "s3", local(2, 0, month=3)),
    stay_event("PatientDischarged", W1, "s4", local(10)),
    stay_event("DischargeReadyMarked", W2, "s1", local(10), sender="s2"),
    stay_event("PatientDischarged", W2, "s1", local(11, 12), sender="s2"),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = ClickHouse(f"chdb://{tmp_path_factory.mktemp('bedstats') / 'ch'}")
    d.migrate()
    d.insert("ward_status", HISTORY, WardStatusRow._fields)
    d.insert("ward_current", HISTORY, WardStatusRow._fields)
    d.insert("events", STAYS[:2], EventRow._fields)
    d.insert("events", STAYS[2:], EventRow._fields)  # two parts: the copy of s1's discharge stays unmerged
    yield d
    d.close()


def by(rows, *key):
    return {tuple(r[k] for k in key): r for r in rows}


def test_month_and_daily_instants_are_stockholm_calendar_days():
    start, end = bedstats.month_bounds(dt.date(2026, 3, 1))
    assert start == dt.datetime(2026, 2, 28, 23, tzinfo=UTC) and end == dt.datetime(2026, 3, 31, 22, tzinfo=UTC)
    assert end - start == dt.timedelta(hours=31 * 24 - 1)  # the DST day has 23 hours
    samples = bedstats.sample_instants(dt.date(2026, 3, 1))
    assert len(samples) == 31 and samples[0] == dt.datetime(2026, 3, 1, 7, tzinfo=UTC)
    assert samples[28] == dt.datetime(2026, 3, 29, 6, tzinfo=UTC)  # 08:00 summer time
    assert bedstats.line_of("psychiatric", "icu") == "icu" and bedstats.line_of("psychiatric", "general") == "psychiatric"


def test_ward_level_figures_from_the_definition(db):
    start, end = bedstats.month_bounds(FEB)
    wards = queries.ward_month(db, start, end, FEB, bedstats.SAMPLE_HOUR)
    rows = by(bedstats.roll_up(wards, "ward", FEB), "id")
    w1 = rows[(W1,)]
    assert w1["line"] == "somatic"
    assert (w1["staffed_beds"], w1["bed_days"], w1["occupancy_rate"]) == (13.57, 373.25, 0.9822)
    assert (w1["overcrowded"], w1["overcrowded_per_100"]) == (0.79, 5.79)
    assert (w1["outliers"], w1["outliers_per_100"]) == (1.54, 11.32)
    assert (w1["discharge_ready"], w1["discharge_ready_share"]) == (2.54, 0.1868)
    w2 = rows[(W2,)]
    assert (w2["line"], w2["staffed_beds"], w2["bed_days"], w2["occupancy_rate"]) == ("psychiatric", 5.0, 140.0, 1.0)
    assert (w2["overcrowded"], w2["overcrowded_per_100"]) == (0.5, 10.0)
    w3 = rows[(W3,)]
    assert (w3["line"], w3["staffed_beds"], w3["bed_days"], w3["occupancy_rate"]) == ("icu", 6.0, 140.0, 0.8333)


def test_mean_days_as_discharge_ready_from_the_definition(db):
    start, end = bedstats.month_bounds(FEB)
    stays = by(queries.discharge_ready_stays(db, start, end), "ward_id")
    assert (stays[(W1,)]["discharge_ready_stays"], stays[(W1,)]["discharge_ready_ms"]) == (2, int(5.5 * bedstats.DAY_MS))
    wards = [{**w, **{k: (stays.get((w["ward_id"],)) or {}).get(k, 0) for k in ("discharge_ready_stays", "discharge_ready_ms")}}
             for w in queries.ward_month(db, start, end, FEB, bedstats.SAMPLE_HOUR)]
    rows = by(bedstats.roll_up(wards, "ward", FEB), "id")
    assert (rows[(W1,)]["discharge_ready_stays"], rows[(W1,)]["discharge_ready_mean_days"]) == (2, 2.75)
    assert (rows[(W2,)]["discharge_ready_stays"], rows[(W2,)]["discharge_ready_mean_days"]) == (1, 1.5)
    assert rows[(W4,)]["discharge_ready_stays"] == 0 and rows[(W4,)]["discharge_ready_mean_days"] is None
    hospital = by(bedstats.roll_up(wards, "hospital", FEB), "id", "line")
    assert hospital[(H1, "somatic")]["discharge_ready_mean_days"] == 2.75  # W2 is the psychiatric line
    mar_start, mar_end = bedstats.month_bounds(dt.date(2026, 3, 1))
    assert [r["discharge_ready_stays"] for r in queries.discharge_ready_stays(db, mar_start, mar_end)] == [1]  # s3


def test_a_dst_month_counts_calendar_days(db):
    """March 2026 has 31 calendar days and 743 hours. W5: occupied 10 for 679 h (1 Mar 00:00 → 29 Mar 08:00
    local), 11 for 64 h; the 08:00 counts of 29, 30 and 31 Mar see the change (a row at the instant counts).
    staffed 10.0; bed-days (10·679 + 11·64) / 743 · 31 = 7494/743 · 31 = 312.67; rate 7494/7430 = 1.0086;
    overcrowded 3/31 = 0.0968 → 0.1, per 100 = 0.0968/10 · 100 = 0.97."""
    mar = dt.date(2026, 3, 1)
    start, end = bedstats.month_bounds(mar)
    w5 = by(bedstats.roll_up(queries.ward_month(db, start, end, mar, bedstats.SAMPLE_HOUR), "ward", mar), "id")[(W5,)]
    assert (w5["staffed_beds"], w5["bed_days"], w5["occupancy_rate"]) == (10.0, 312.67, 1.0086)
    assert (w5["overcrowded"], w5["overcrowded_per_100"]) == (0.1, 0.97)
    feb_start, feb_end = bedstats.month_bounds(FEB)
    assert W5 not in {w["ward_id"] for w in queries.ward_month(db, feb_start, feb_end, FEB, bedstats.SAMPLE_HOUR)}


def test_levels_keep_somatic_psychiatric_and_icu_apart(db):
    start, end = bedstats.month_bounds(FEB)
    wards = queries.ward_month(db, start, end, FEB, bedstats.SAMPLE_HOUR)
    hospital = by(bedstats.roll_up(wards, "hospital", FEB), "id", "line")
    assert {k for k in hospital if k[0] == H1} == {(H1, "somatic"), (H1, "psychiatric"), (H1, "icu")}
    assert hospital[(H1, "somatic")]["staffed_beds"] == 13.57  # W1 alone: the ICU ward is its own line
    nation = by(bedstats.roll_up(wards, "nation", FEB), "line")
    som = nation[("somatic",)]
    assert (som["wards"], som["staffed_beds"], som["outliers"], som["outliers_per_100"]) == (2, 21.57, 3.54, 16.39)
    # occupied: W1 373.25 + W4 8·28 = 224 → 597.25 / 604
    assert som["bed_days"] == 597.25 and som["occupancy_rate"] == round(597.25 / 604, 4)
    # staffed beds per 1,000 inhabitants: the reference population (rounded, about 2023)
    people = sum(r.population for r in reference.regions().values())
    assert som["staffed_beds_per_1000"] == round(604 / 28 * 1000 / people, 3)
    region = by(bedstats.roll_up(wards, "region", FEB), "id", "line")
    assert region[("01", "icu")]["staffed_beds"] == 6.0 and ("12", "icu") not in region


@pytest.fixture(scope="module")
def server(db, tmp_path_factory):
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("sthlm", REGION01, "region:01")),
                        audit_log=tmp_path_factory.mktemp("audit") / "audit.log", detail_grants=frozenset({"skr"}))
    s = Server(create_app(db, policy, Metrics(), ADMIN))
    yield s
    s.stop()


def get(server, path, token):
    status, body = http_call(server.port, "GET", path, token)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def test_endpoint_scope_and_small_counts(server):
    nation = get(server, "/api/v1/beds/monthly?month=2026-02&level=nation", NATIONAL)
    assert (nation["days"], nation["sample_time"], nation["timezone"]) == (28, "08:00", "Europe/Stockholm")
    assert {r["line"] for r in nation["rows"]} == {"somatic", "psychiatric", "icu"}
    # region 12's ward, seen from outside: 2 outliers a day is a small count; the region row shows it
    wards = by(get(server, "/api/v1/beds/monthly?month=2026-02&level=ward", NATIONAL)["rows"], "id")
    assert wards[(W4,)]["outliers"] is None and wards[(W4,)]["outliers_per_100"] is None
    assert wards[(W4,)]["staffed_beds"] == 8.0
    regions = by(get(server, "/api/v1/beds/monthly?month=2026-02&level=region", REGION01)["rows"], "id", "line")
    assert regions[("12", "somatic")]["outliers"] == 2.0
    own = get(server, "/api/v1/beds/monthly?month=2026-02&level=ward", REGION01)["rows"]
    assert {r["id"] for r in own} == {W1, W2, W3} and by(own, "id")[(W1,)]["outliers"] == 1.54
    assert http_call(server.port, "GET", "/api/v1/beds/monthly?month=2026-02&level=ward&region=12", REGION01)[0] == 403
    assert http_call(server.port, "GET", "/api/v1/beds/monthly?month=2026-13&level=ward", NATIONAL)[0] == 400
    admin = by(get(server, "/api/v1/beds/monthly?month=2026-02&level=ward", ADMIN)["rows"], "id")
    assert admin[(W4,)]["outliers"] == 2.0
    # the discharge-ready stays: 1 stay on W2 is a small count outside region 01, shown to its own region
    assert (wards[(W2,)]["discharge_ready_stays"], wards[(W2,)]["discharge_ready_mean_days"]) == (None, None)
    assert (by(own, "id")[(W1,)]["discharge_ready_stays"], by(own, "id")[(W1,)]["discharge_ready_mean_days"]) == (2, 2.75)
    assert {(r["line"], r["discharge_ready_stays"]) for r in nation["rows"]} == {("somatic", 2), ("psychiatric", 1), ("icu", 0)}


def check_access(server, who: str, path: str, body: bytes) -> None:
    """tests/test_access.py's walk, for this route: a region:01 viewer's detail is its own region only; for a
    national viewer no mean daily count below region level is 1..4 (rounded up), nor its rate shown without it."""
    data = json.loads(body)
    if data["level"] not in ("hospital", "ward"):
        return
    if who == "region:01":
        assert {r["region_code"] for r in data["rows"]} <= {"01"}, path
    if who != "national":
        return
    for r in data["rows"]:
        counts = {"bed_days": "occupancy_rate", "overcrowded": "overcrowded_per_100", "outliers": "outliers_per_100",
                  "discharge_ready": "discharge_ready_share"}
        for count, rate in counts.items():
            v = r[count] if count != "bed_days" or r[count] is None else r[count] / data["days"]
            assert v is None or v == 0 or v > 4, (path, r["id"], count, v)
            assert v is not None or r[rate] is None, (path, r["id"], rate)


def test_the_year_is_the_mean_of_its_months():
    """January and February 2026 (31 and 28 days, no DST), region 01, somatic. Ward A: January staffed 10,
    occupied 8, 1 outlier and 2 discharge-ready a day; February staffed 30, occupied 30, 2 overcrowded and
    1 discharge-ready a day, 2 stays discharge-ready 5 days in all. Ward B (February only): staffed 10,
    occupied 5. Monthly: staffed 10 | 40; overcrowded 0 | 2, per 100 0 | 5; outliers 1 | 0, per 100 10 | 0;
    discharge-ready 2 | 1, share 0.2 | 0.025. The year: staffed (10 + 40) / 2 = 25; overcrowded 1.0, per 100
    2.5; outliers 0.5, per 100 5.0; discharge-ready 1.5, share 0.1125; bed-days 8·31 + 35·28 = 1,228;
    occupancy 1,228 / (10·31 + 40·28) = 0.8587; stays 2, 2.5 days each."""
    jan, feb = dt.date(2026, 1, 1), dt.date(2026, 2, 1)
    day = bedstats.DAY_MS

    def ward(wid, days, staffed, occupied, over=0, outl=0, ready=0, stays=0, ready_ms=0):
        return {"ward_id": wid, "hospital_id": H1, "region_code": "01", "care_type": "somatic", "ward_kind": "general",
                "ward_name": wid, "hospital_name": "H", "staffed_ms": staffed * days * day,
                "occupied_ms": occupied * days * day, "overcrowded_days": over * days, "outliers_days": outl * days,
                "discharge_ready_days": ready * days, "discharge_ready_stays": stays, "discharge_ready_ms": ready_ms}

    months = [(jan, [ward("A", 31, 10, 8, outl=1, ready=2)]),
              (feb, [ward("A", 28, 30, 30, over=2, ready=1, stays=2, ready_ms=5 * day), ward("B", 28, 10, 5)])]
    monthly = [bedstats.roll_up(w, "region", m)[0] for m, w in months]
    assert [(r["staffed_beds"], r["overcrowded_per_100"], r["outliers_per_100"]) for r in monthly] == \
        [(10.0, 0.0, 10.0), (40.0, 5.0, 0.0)]
    (year,) = bedstats.year_roll_up(months, "region")
    assert (year["id"], year["line"], year["months"], year["wards"]) == ("01", "somatic", 2, 2)
    assert (year["staffed_beds"], year["overcrowded"], year["overcrowded_per_100"]) == (25.0, 1.0, 2.5)
    assert (year["outliers"], year["outliers_per_100"]) == (0.5, 5.0)
    assert (year["discharge_ready"], year["discharge_ready_share"]) == (1.5, 0.1125)
    assert (year["bed_days"], year["occupancy_rate"]) == (1228.0, 0.8587)
    assert (year["discharge_ready_stays"], year["discharge_ready_mean_days"]) == (2, 2.5)
    people = reference.regions()["01"].population
    assert year["staffed_beds_per_1000"] == round(25.0 * 1000 / people, 3)
    # a month without the unit: 0 beds in the mean of counts, left out of the mean of rates
    (only_feb_b,) = [r for r in bedstats.year_roll_up(months, "ward") if r["id"] == "B"]
    assert (only_feb_b["months"], only_feb_b["staffed_beds"], only_feb_b["outliers_per_100"]) == (1, 5.0, 0.0)


def test_the_yearly_endpoint_averages_the_ended_months(server, db):
    year = get(server, "/api/v1/beds/yearly?year=2026&level=region", REGION01)
    ended = [m for m in range(1, 13) if bedstats.month_bounds(dt.date(2026, m, 1))[1] <= dt.datetime.now(UTC)]
    assert year["months"] == [f"2026-{m:02d}" for m in ended] and year["complete"] is (len(ended) == 12)
    months = []
    for m in ended:
        month = dt.date(2026, m, 1)
        start, end = bedstats.month_bounds(month)
        stays = {r["ward_id"]: r for r in queries.discharge_ready_stays(db, start, end)}
        months.append((month, [{**w, **{k: (stays.get(w["ward_id"]) or {}).get(k, 0)
                                        for k in ("discharge_ready_stays", "discharge_ready_ms")}}
                               for w in queries.ward_month(db, start, end, month, bedstats.SAMPLE_HOUR)]))
    assert year["rows"] == json.loads(json.dumps(bedstats.year_roll_up(months, "region")))
    assert by(year["rows"], "id", "line")[("01", "somatic")]["discharge_ready_stays"] == 3  # s1, s2 (Feb) and s3 (Mar)
    assert http_call(server.port, "GET", "/api/v1/beds/yearly?year=2026&level=ward", NATIONAL)[0] == 400
    assert http_call(server.port, "GET", "/api/v1/beds/yearly?level=region", NATIONAL)[0] == 400
