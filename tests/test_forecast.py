"""The occupancy forecast (issue 14): the model's definition on hand-made histories whose right answers are
worked out by hand (streams/domain/forecast.py), the hourly grid read from a hand-made ward-status history
in ClickHouse (chDB, sinks/forecast.py), and GET /api/v1/forecast with the scope and suppression of
/api/v1/status."""
from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pytest

from sinks import forecast as history_sql
from sinks.clickhouse import ClickHouse
from streams.domain import forecast as fc
from tests.test_access import api_server
from web.access import Token
from web.policy import ViewPolicy

UTC = dt.timezone.utc
H = dt.timedelta(hours=1)
MONDAY = dt.datetime(2026, 11, 1, 23, 0, tzinfo=UTC)  # Monday 2 November 00:00 in Stockholm (CET)


def grid(occupied, arrivals, departures, ready=None, start=MONDAY) -> fc.WardHours:
    """One ward's hand-made grid: occupied (and ready) at each hour's start (T + 1 values), flows per hour."""
    occ = np.array([occupied], dtype=float)
    t = occ.shape[1] - 1
    rd = np.zeros_like(occ) if ready is None else np.array([ready], dtype=float)
    return fc.WardHours(start, ["W"], occ, rd, np.full_like(occ, 200.0), np.array([arrivals], dtype=float),
                        np.array([departures], dtype=float), np.ones_like(occ, dtype=bool),
                        fc.hour_slots(start, t))


# ------------------------------------------------------------------ the model's definition
def test_the_week_slots_are_local_weekday_and_hour():
    assert fc.slot_of(MONDAY) == 0  # Monday 00:00 local
    assert fc.slot_of(MONDAY + 35 * H) == 24 + 11  # Tuesday 11:00
    # the spring change (29 March 2026, 02:00 → 03:00): the UTC grid goes on, the local hour jumps
    before = dt.datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # Sunday 01:00 CET
    assert list(fc.hour_slots(before, 3)) == [6 * 24 + 1, 6 * 24 + 3, 6 * 24 + 4]


def test_a_ward_with_a_steady_weekly_rhythm_is_forecast_exactly():
    # A weekly curve: a daily wave, higher on weekdays; 6–8 patients come each hour and those leave who
    # make the curve. Five weeks of exactly that: the forecast from any hour is the curve itself.
    def level(s):
        return 30 + round(6 * math.sin(2 * math.pi * s / 24)) + (3 if s // 24 < 5 else 0)
    weeks = 5
    occ = [level(t % 168) for t in range(weeks * 168 + 1)]
    arrivals = [6 + t % 3 for t in range(weeks * 168)]
    departures = [occ[t] + arrivals[t] - occ[t + 1] for t in range(weeks * 168)]
    assert min(departures) >= 0
    h = grid(occ, arrivals, departures)
    for origin in (4 * 168, 4 * 168 + 37, 4 * 168 + 95):
        r = fc.rhythm(h, origin)
        ahead = fc.path(r, [occ[origin]], [0], h.slots[origin:origin + 72])[0]
        assert np.allclose(ahead, [level((origin + k) % 168) for k in range(1, 73)], atol=1e-9)


def test_from_above_its_usual_level_a_ward_comes_back_as_fast_as_its_patients_leave():
    # 100 patients, one comes and one leaves every hour: the hazard is 1/100 an hour. With 106 now, the
    # forecast is 100 + 6 × 0.99^k after k hours.
    h = grid([100] * 673, [1] * 672, [1] * 672)
    r = fc.rhythm(h, 672)
    ahead = fc.path(r, [106], [0], h.slots[:72])[0]
    assert np.allclose(ahead, [100 + 6 * 0.99 ** k for k in range(1, 73)])


def test_discharge_ready_beyond_the_usual_leave_evenly_within_three_days():
    # As above, with 2 discharge-ready patients at every hour of the history. Now 5 are ready: the 3 beyond
    # the usual leave evenly over READY_LEAVE_HOURS (72 h) — the other 97 follow the rhythm, from 97:
    # forecast(k) = 100 − 3 × 0.99^k + 3 × (1 − k/72)
    assert fc.READY_LEAVE_HOURS == 72
    h = grid([100] * 673, [1] * 672, [1] * 672, ready=[2] * 673)
    r = fc.rhythm(h, 672)
    usual = fc.path(r, [100], [2], h.slots[:72])[0]
    more = fc.path(r, [100], [5], h.slots[:72])[0]
    assert np.allclose(usual, 100.0)
    assert np.allclose(more, [100 - 3 * 0.99 ** k + 3 * max(0.0, 1 - k / 72) for k in range(1, 73)])
    for k in (24, 48, 72):
        assert more[k - 1] < usual[k - 1]
    assert more[71] == pytest.approx(100 - 3 * 0.99 ** 72)  # 98.54: all three gone, their beds refilled by the flow


def test_staffed_beds_change_as_they_usually_do_from_this_hour_of_the_week():
    # Four weeks of 20 staffed beds, 15 from Friday 16:00 to Monday 07:00 (a weekend closure); 10 patients.
    # Now Friday 12:00 with 18 (two beds short today): the forecast keeps the two short and closes the five.
    closed = lambda s: 4 * 24 + 16 <= s or s < 7  # noqa: E731 — Friday 16:00 … Monday 07:00
    n = 4 * 168
    h = grid([10] * (n + 1), [1] * n, [1] * n)
    h.staffed[0] = [15.0 if closed(t % 168) else 20.0 for t in range(n + 1)]
    r = fc.rhythm(h, n)
    friday_noon = 4 * 24 + 12
    slots = [(friday_noon + k) % 168 for k in range(72)]
    staffed = fc.staffed_path(r, [18.0], slots)[0]
    # point k is the end of the k-th hour ahead: Friday 13:00, 14:00, 15:00, 16:00 (closed) …
    assert list(staffed[:4]) == [18.0, 18.0, 18.0, 13.0]
    assert staffed[23] == 13.0  # Saturday 12:00
    assert (staffed[65], staffed[66]) == (13.0, 18.0)  # Monday 06:00 still closed, 07:00 open again
    unit = fc.unit_path(fc.path(r, [10.0], [0.0], slots), staffed[None, :], [0])
    assert unit["free_beds"][23] == pytest.approx(3.0) and unit["overcrowded"][23] == 0


def test_overcrowding_and_free_beds_are_per_ward_against_its_staffed_beds_never_netted():
    paths = np.array([[12.0, 11.0], [5.0, 9.5]])
    unit = fc.unit_path(paths, np.array([10, 10]), [0, 1])
    assert list(unit["occupied"]) == [17.0, 20.5]
    assert list(unit["overcrowded"]) == [2.0, 1.0]  # ward 1 only
    assert list(unit["free_beds"]) == [5.0, 0.5]  # ward 2 only: not 3 and −0.5


def test_the_backtest_error_on_a_hand_made_case():
    # A steady ward (100; one in, one out an hour) over the whole grid, except that 24 hours before the
    # grid's end (a target for every horizon, and the origin of the last 24-hour forecast) 106 were there.
    n = fc.grid_hours()
    occ = [100.0] * (n + 1)
    occ[n - 24] = 106.0
    h = grid(occ, [1] * n, [1] * n)
    targets = fc.backtest_targets(h)
    assert len(targets) == 28 and targets[-1] == n and targets[0] == n - 27 * 6
    bt = fc.backtest(h, targets)
    errors = {e["hours"]: e for e in fc.errors(bt, [0])}
    # target n − 24: every forecast said 100 (made from 100), 106 came: 6; and so did the baseline (100 a
    # week before). Target n by 24 hours: made from 106, 100 + 6 × 0.99^24 said, 100 came.
    assert errors[24]["mae"] == pytest.approx((6 + 6 * 0.99 ** 24) / 28)
    assert errors[48]["mae"] == pytest.approx(6 / 28) and errors[72]["mae"] == pytest.approx(6 / 28)
    for hz in (24, 48, 72):
        assert errors[hz]["baseline_mae"] == pytest.approx(6 / 28) and errors[hz]["forecasts"] == 28


def test_each_backtest_origin_has_the_rhythm_of_its_own_four_weeks():
    # the backtest moves one window of sums along the origins: the same rhythm as counted afresh
    rng = np.random.default_rng(7)
    n = 900
    h = fc.WardHours(MONDAY, ["W", "V"], rng.poisson(10, (2, n + 1)).astype(float), rng.poisson(1, (2, n + 1)).astype(float),
                     np.full((2, n + 1), 12.0), rng.poisson(2, (2, n)).astype(float), rng.poisson(2, (2, n)).astype(float),
                     rng.random((2, n + 1)) > 0.1, fc.hour_slots(MONDAY, n))
    window = fc._Window(h, fc.HISTORY_WEEKS)
    for end in (700, 706, 760, 899, 40):
        moved, fresh = window.move_to(end), fc.rhythm(h, end)
        for f in ("arrivals", "departures", "occupied", "ready"):
            assert np.allclose(getattr(moved, f), getattr(fresh, f)), (end, f)


# ------------------------------------------------------------------ the grid from ward-status history (chDB)
WARD = "SE2321000016-A101"


def status_row(ward_id, at, occupied, version, *, ready=0, staffed=20, region="01", hospital="SE2321000016-H001",
               kind="general"):
    return {"ward_id": ward_id, "version": version, "at": at.astimezone(UTC).replace(tzinfo=None),
            "event_id": f"e{version}", "hospital_id": hospital, "hospital_name": "Sjukhus", "ward_name": f"Avd {ward_id[-4:]}",
            "region_code": region, "mvo_code": "101", "mvo_group": "", "care_type": "somatic", "ward_kind": kind,
            "source": "adt", "staffed_beds": staffed, "admitted": occupied, "present": occupied, "on_leave": 0,
            "occupied": occupied, "overcrowded": max(0, occupied - staffed), "outliers": 0, "discharge_ready": ready,
            "out_of_area_in": 0, "last_event_at": at.astimezone(UTC).replace(tzinfo=None), "sender_id": "S1"}


def insert(db: ClickHouse, rows: list[dict], current: bool = True) -> None:
    cols = list(rows[0])
    db.insert("ward_status", [[r[c] for c in cols] for r in rows], cols)
    if current:
        newest = {}
        for r in sorted(rows, key=lambda r: (r["at"], r["version"])):
            newest[r["ward_id"]] = r
        db.insert("ward_current", [[r[c] for c in cols] for r in newest.values()], cols)


def test_the_hourly_grid_from_the_history(tmp_path):
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    db.migrate()
    start = MONDAY
    m = dt.timedelta(minutes=1)
    rows = [status_row(WARD, start - 5 * H, 10, 1, ready=1),  # the state at the start: 10, one ready
            status_row(WARD, start + 20 * m, 11, 2),  # hour 0: +1, −1, +1, +1 → 12; staffed 20
            status_row(WARD, start + 30 * m, 10, 3),
            status_row(WARD, start + 40 * m, 12, 4, ready=2),  # a census-like jump of two
            status_row(WARD, start + 2 * H, 9, 5, staffed=18),  # on the hour: the end of hour 1 (12 → 9)
            status_row(WARD, start + 2 * H, 9, 5, staffed=18),  # a copy of the same row: once
            status_row(WARD, start + 3 * H + 5 * m, 9, 6, staffed=16)]  # hour 3: no change of beds
    insert(db, rows)
    base, changes = history_sql.ward_hours(db, start, 4)
    h = fc.build_hours(start, 4, base, changes)
    assert h.ward_ids == [WARD]
    assert list(h.occupied[0]) == [10, 12, 9, 9, 9]  # at the start of each hour, and at the grid's end
    assert list(h.arrivals[0]) == [3, 0, 0, 0]
    assert list(h.departures[0]) == [1, 3, 0, 0]
    assert list(h.ready[0]) == [1, 2, 0, 0, 0] and list(h.staffed[0]) == [20, 20, 18, 18, 16]
    # a ward first seen inside the grid: known from the end of its first hour, its first step no arrival
    insert(db, [status_row("SE2321000016-B102", start + 2 * H + 10 * m, 4, 7)])
    h = fc.build_hours(start, 4, *history_sql.ward_hours(db, start, 4))
    new = h.ward_ids.index("SE2321000016-B102")
    assert list(h.occupied[new]) == [0, 0, 0, 4, 4] and list(h.known[new]) == [False, False, False, True, True]
    assert h.arrivals[new].sum() == 0
    db.close()


# ------------------------------------------------------------------ the endpoint
ADMIN, NATIONAL, BASIC, REGION = "fc-admin", "fc-national", "fc-basic", "fc-region01"
NOW = dt.datetime.now(UTC)
A, B, D, E = "SE2321000016-A101", "SE2321000016-A102", "SE2321000016-D201", "SE2321000016-E301"
C = "SE2321000214-C201"
H1, H2, H3, H12 = "SE2321000016-H001", "SE2321000016-H002", "SE2321000016-H003", "SE2321000214-H001"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Region 01: hospital H1 with wards A (3 patients: small) and B (15), H2 with D (12), H3 with E (a
    steady 100, one in and one out every hour for six weeks, 106 now); region 12: C (3). Every other ward
    unchanged for six weeks, so its forecast is flat at its count now."""
    workdir = tmp_path_factory.mktemp("forecast")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    long_ago = fc.floor_hour(NOW) - 6 * 7 * 24 * H
    rows = [status_row(A, long_ago, 3, 1, staffed=10), status_row(B, long_ago, 15, 2),
            status_row(D, long_ago, 12, 3, hospital=H2),
            status_row(C, long_ago, 3, 4, staffed=5, region="12", hospital=H12)]
    v = 10
    rows.append(status_row(E, long_ago - H, 100, v, staffed=110, hospital=H3))
    t = long_ago
    while t <= fc.floor_hour(NOW):  # the current hour too: the grid may move on by an hour during the tests
        rows += [status_row(E, t + dt.timedelta(minutes=20), 101, v + 1, staffed=110, hospital=H3),
                 status_row(E, t + dt.timedelta(minutes=40), 100, v + 2, staffed=110, hospital=H3)]
        v, t = v + 2, t + H
    insert(db, rows)
    # now: 106 on E (six came in the last minutes, after the grid's last whole hour), 3 of them ready
    db.insert("ward_current", [list(status_row(E, NOW, 106, v + 1, staffed=110, hospital=H3, ready=3).values())],
              list(rows[0]))
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("skr-basic", BASIC, "national"),
                                Token("sthlm", REGION, "region:01")),
                        audit_log=workdir / "audit.log", detail_grants=frozenset({"skr"}))
    yield from api_server(db, policy, ADMIN)


def answer(server, query: str, token: str = ADMIN, status: int = 200) -> dict:
    code, body = server.call("GET", f"/api/v1/forecast?{query}", token)
    assert code == status, (query, code, body[:300])
    return json.loads(body)


def by_id(a: dict) -> dict[str, dict]:
    return {s["id"]: s for s in a["series"]}


def test_the_forecast_of_a_ward_from_its_rhythm_and_its_state_now(server):
    a = answer(server, f"level=ward&id={E}&hours=72")
    assert a["hours"] == 72 and len(a["times"]) == 72 and a["model"]["history_weeks"] == fc.HISTORY_WEEKS
    assert a["times"][0] == (fc.floor_hour(NOW) + H).isoformat()
    (e,) = a["series"]
    # 106 now, 3 ready (none usually): 103 follow the rhythm back towards 100, the 3 leave within 72 h
    want = [100 + 3 * 0.99 ** k + 3 * max(0.0, 1 - k / 72) for k in range(1, 73)]
    assert e["occupied"] == [round(x, 1) for x in want]
    assert e["occupied_now"] == 106 and e["staffed_beds"] == 110
    assert e["free_beds"] == [round(110 - x, 1) for x in want] and set(e["overcrowded"]) == {0.0}
    assert e["occupancy_pct"][23] == round(100 * want[23] / 110, 1)
    # the backtest: a steady ward is forecast exactly, and so is it by last week's figure
    assert [(b["hours"], b["mae"], b["baseline_mae"], b["forecasts"]) for b in e["backtest"]] == \
        [(24, 0.0, 0.0, 28), (48, 0.0, 0.0, 28), (72, 0.0, 0.0, 28)]
    assert answer(server, f"level=ward&id={E}&hours=24")["series"][0]["occupied"] == e["occupied"][:24]
    answer(server, "level=ward&hours=73", status=400)
    answer(server, "level=ward&hours=0", status=400)


def test_region_rows_for_everyone_and_sums_of_the_wards(server):
    rows = {who: by_id(answer(server, "level=region&hours=2", who)) for who in (ADMIN, NATIONAL, BASIC, REGION)}
    assert len({json.dumps(r, sort_keys=True) for r in rows.values()}) == 1
    r01 = rows[ADMIN]["01"]
    assert r01["occupied_now"] == 3 + 15 + 12 + 106 and rows[ADMIN]["12"]["occupied_now"] == 3
    e = by_id(answer(server, f"level=ward&id={E}&hours=2"))[E]["occupied"]
    assert r01["occupied"] == [round(30 + x, 1) for x in e]  # the flat wards stay at their 30
    assert r01["overcrowded"] == [0.0, 0.0]  # A 3/10, B 15/20, D 12/20, E ~106/110: none over
    nation = by_id(answer(server, "level=nation&hours=1", BASIC))["SE"]
    assert nation["occupied_now"] == 139
    # region= at any level: that region's wards, as status reads it
    assert by_id(answer(server, "level=nation&region=12&hours=1", BASIC))["SE"]["occupied_now"] == 3
    assert set(by_id(answer(server, "level=region&region=12&hours=1", BASIC))) == {"12"}


def test_hospital_and_ward_rows_with_the_detail_grant_suppressed_as_status(server):
    for level in ("hospital", "ward"):
        answer(server, f"level={level}", BASIC, status=403)
        answer(server, f"level={level}&region=12", REGION, status=403)
    mine = by_id(answer(server, "level=ward", REGION))
    assert set(mine) == {A, B, D, E} and mine[A]["occupied"][0] == 3.0  # its own small count
    national = by_id(answer(server, "level=ward", NATIONAL))
    code, body = server.call("GET", "/api/v1/status?level=ward", NATIONAL)
    status_hidden = {r["id"] for r in json.loads(body)["rows"] if r["occupied"] is None}
    hidden = {i for i, s in national.items() if s["occupied_now"] is None}
    assert status_hidden == {A, B, C} and hidden == status_hidden  # A (3) with B, its complement; C (3)
    for i in hidden:
        assert set(national[i]["occupied"]) == {None} and national[i]["backtest"][0]["mae"] is None
        assert national[i]["staffed_beds"] is not None  # beds are not patients: shown, as by status
    assert national[D]["occupied"][0] == 12.0
    hospitals = by_id(answer(server, "level=hospital", NATIONAL))
    assert hospitals[H1]["occupied_now"] == 18 and hospitals[H2]["occupied_now"] == 12


def test_a_forecast_that_comes_down_to_a_small_number_is_hidden(server):
    # the answer's rule on its own: D's 12 forecast at 3 in some hour would be hidden, with a complement
    from web import forecast as view
    hs = [{"id": H1, "region_code": "01", "occupied_now": 18, "occupied": [18.0], "overcrowded": [0.0]},
          {"id": H2, "region_code": "01", "occupied_now": 12, "occupied": [12.0, 2.6], "overcrowded": [0.0]}]
    ws = [{"id": B, "hospital_id": H1, "region_code": "01", "occupied_now": 18, "occupied": [18.0], "overcrowded": [0.0]},
          {"id": D, "hospital_id": H2, "region_code": "01", "occupied_now": 12, "occupied": [12.0, 2.6],
           "overcrowded": [0.0]}]
    hidden = view._hidden(hs, ws, 4, lambda r: False, set())
    assert ("w", D) in hidden and ("h", H2) in hidden and ("h", H1) in hidden  # the region's sum would give it
    assert view._hidden(hs, ws, 4, lambda r: r == "01", set()) == set()  # its own region sees it


# ------------------------------------------------------------------ the simulator's demand (bench.forecast)
def test_the_simulators_demand_a_weekly_rhythm_and_a_shock():
    from bedflow.simulator import Demand, Shock, Simulator, to_ms

    start = dt.datetime(2026, 11, 16, 5, 0, tzinfo=UTC)  # Monday 06:00 in Stockholm

    def admissions(demand):
        sim = Simulator(3, regions=["03", "12"], start=start, scale=0.1, demand=demand)
        out: dict[tuple[str, int], int] = {}
        for e in sim.events(7, waitlist=False, history=False, include_topology=False):
            if e["event_type"] == "PatientAdmitted":
                day = (dt.datetime.fromisoformat(e["occurred_at"]) - start) // dt.timedelta(days=1)
                out[(e["region_code"], day)] = out.get((e["region_code"], day), 0) + 1
        return out

    plain = admissions(None)
    assert admissions(Demand()) == plain  # no demand given: the same admissions, draw for draw
    # two days of twice the usual acute patients in region 12 from day 2: more there, not in 03
    shocked = admissions(Demand(shocks=(Shock(to_ms(start + dt.timedelta(days=2)), 2, 1.0, frozenset({"12"})),)))
    assert sum(shocked[("12", d)] for d in (2, 3)) > 1.5 * sum(plain[("12", d)] for d in (2, 3))
    assert sum(shocked[("03", d)] for d in (2, 3)) < 1.3 * sum(plain[("03", d)] for d in (2, 3))  # not there
    # a quiet weekend (days 5–6 are Saturday and Sunday): fewer admissions than on weekdays
    weekly = admissions(Demand(weekly=(1.3, 1.3, 1.3, 1.3, 1.3, 0.5, 0.5)))
    weekday_mean = sum(weekly[(r, d)] for r in ("03", "12") for d in range(5)) / 5
    weekend_mean = sum(weekly[(r, d)] for r in ("03", "12") for d in (5, 6)) / 2
    assert weekend_mean < 0.7 * weekday_mean
