"""Issue 14: the ICU picture (GET /api/v1/icu), point by point over a hand-made ward-status history in
ClickHouse (chDB), from the definitions (streams/domain/icu.py, INFORMATION_MODEL §3): ICU beds are the
wards of kind `icu`; free = Σ max(0, staffed − occupied), overcrowded = Σ max(0, occupied − staffed),
never netted; healthcare regions count every member region (Halland in both of its); region rows for
every viewer, ICU wards only with the detail grant and suppressed as status suppresses them."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from sinks.clickhouse import ClickHouse
from streams.domain.icu import picture
from tests.test_access import api_server
from web.access import Token
from web.policy import ViewPolicy

ADMIN, NATIONAL, BASIC, REGION = "icu-admin", "icu-national", "icu-basic", "icu-region01"
T = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
H = dt.timedelta(hours=1)
I1, I2, G1 = "SE2321000016-I101", "SE2321000016-I102", "SE2321000016-G101"
I3, I4, I5 = "SE2321000214-I301", "SE2321000215-I401", "SE2321000017-I501"
# (ward, region, kind, staffed, at, occupied): I1 goes 2 over its 8 staffed beds at T − 2.5 h
HISTORY = [
    (I1, "01", "icu", 8, T - 30 * H, 6), (I2, "01", "icu", 6, T - 30 * H, 2), (G1, "01", "general", 20, T - 30 * H, 15),
    (I4, "13", "icu", 4, T - 30 * H, 1), (I3, "12", "icu", 5, T - 5 * H, 5), (I1, "01", "icu", 8, T - 2.5 * H, 10),
    # region 03's one ICU becomes a general ward at T − 3.5 h: out of the picture from then on
    (I5, "03", "icu", 4, T - 30 * H, 4), (I5, "03", "general", 4, T - 3.5 * H, 4),
]


def row(ward_id, region, kind, staffed, at, occupied, version) -> dict:
    return {"ward_id": ward_id, "version": version, "at": at.replace(tzinfo=None), "event_id": f"e{version}",
            "hospital_id": ward_id[:13] + "H001", "hospital_name": "Sjukhus", "ward_name": f"IVA {ward_id[-4:]}",
            "region_code": region, "mvo_code": "101", "mvo_group": "", "care_type": "somatic", "ward_kind": kind,
            "source": "adt", "staffed_beds": staffed, "admitted": occupied, "present": occupied, "on_leave": 0,
            "occupied": occupied, "overcrowded": max(0, occupied - staffed), "outliers": 0, "discharge_ready": 0,
            "out_of_area_in": 0, "last_event_at": at.replace(tzinfo=None), "sender_id": "SE2321000016-0001"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("icu")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    rows = [row(*h, version=i + 1) for i, h in enumerate(HISTORY)]
    cols = list(rows[0])
    db.insert("ward_status", [[r[c] for c in cols] for r in rows], cols)
    db.insert("ward_current", [[r[c] for c in cols] for r in {r["ward_id"]: r for r in rows}.values()], cols)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("skr-basic", BASIC, "national"),
                                Token("sthlm", REGION, "region:01")),
                        audit_log=workdir / "audit.log", detail_grants=frozenset({"skr"}))
    yield from api_server(db, policy, ADMIN)


def get(server, path, token=ADMIN) -> dict:
    status, body = server.call("GET", path, token)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def series(answer: dict, level: str, uid: str, field: str) -> list:
    return [r[field] for r in answer["rows"] if r["level"] == level and r["id"] == uid]


def test_free_and_overcrowded_icu_beds_are_never_netted():
    wards = [row(*h, version=0) for h in HISTORY[:5]] + [row(*HISTORY[5], version=0)]
    now = {(r["level"], r["id"]): r for r in picture(wards[1:])}  # I1's newest row, I2, G1, I4, I3
    r01 = now[("region", "01")]
    # I1 10 of 8 (2 over, 0 free), I2 2 of 6 (4 free); G1 is not an ICU
    assert (r01["staffed_beds"], r01["occupied"], r01["free_beds"], r01["overcrowded"]) == (14, 12, 4, 2)
    nation = now[("nation", "SE")]
    # 8 + 6 + 4 + 5 staffed, 10 + 2 + 1 + 5 occupied; free 0 + 4 + 3 + 0 = 7 (not 23 − 18 = 5), 2 overcrowded
    assert (nation["staffed_beds"], nation["occupied"], nation["free_beds"], nation["overcrowded"]) == (23, 18, 7, 2)
    # Halland (13) is in Södra and Västra: its 3 free ICU beds are within both
    assert now[("healthcare_region", "Södra")]["free_beds"] == 3 and now[("healthcare_region", "Västra")]["free_beds"] == 3
    assert now[("region", "25")]["staffed_beds"] == 0 and now[("region", "25")]["occupancy_pct"] is None  # all 21


def test_the_icu_picture_hour_by_hour(server):
    a = get(server, "/api/v1/icu?hours=4")
    times = sorted({dt.datetime.fromisoformat(r["at"]) for r in a["rows"]})
    # five points on the whole hour, the last the hour now began
    assert a["hours"] == 4 and a["step_minutes"] == 60 and len(times) == 5 and times[0] == times[-1] - 4 * H
    assert times[-1] == dt.datetime.fromisoformat(a["generated_at"]).replace(minute=0, second=0, microsecond=0)
    # I1 goes from 6 to 10 (2 over its 8) at T − 2.5 h: from the first point at or after it; I3 came at T − 5 h
    after = [t >= T - 2.5 * H for t in times]
    assert series(a, "region", "01", "occupied") == [12 if x else 8 for x in after]
    assert series(a, "region", "01", "free_beds") == [4 if x else 6 for x in after]  # 0 + 4, not 14 − 12 = 2
    assert series(a, "region", "01", "overcrowded") == [2 if x else 0 for x in after]
    assert series(a, "region", "12", "free_beds") == [0] * 5 and series(a, "region", "12", "staffed_beds") == [5] * 5
    assert series(a, "healthcare_region", "Stockholm-Gotland", "free_beds") == [4 if x else 6 for x in after]
    assert series(a, "nation", "SE", "free_beds") == [7 if x else 9 for x in after]
    assert series(a, "region", "03", "staffed_beds") == [0 if t >= T - 3.5 * H else 4 for t in times]
    # now: the wards as they are (status's source)
    now = {(r["level"], r["id"]): r for r in a["now"]}
    assert now[("region", "01")]["occupancy_pct"] == round(100 * 12 / 14, 1) and now[("nation", "SE")]["wards"] == 4
    assert (now[("region", "01")]["free_beds"], now[("region", "01")]["overcrowded"]) == (4, 2)
    assert a["wards"] == []  # the ICU wards only with level=ward
    # the default: 24 hours, 25 points
    assert len({r["at"] for r in get(server, "/api/v1/icu")["rows"]}) == 25
    # region rows are the same for every viewer
    def counts(answer):  # the points' instants are each answer's own now
        return [{k: v for k, v in r.items() if k != "at"} for r in answer["rows"]]
    for token in (NATIONAL, BASIC, REGION):
        assert counts(get(server, "/api/v1/icu?hours=4", token)) == counts(a)


def test_icu_wards_need_the_grant_and_are_suppressed_as_status(server):
    everything = get(server, "/api/v1/icu?hours=1&level=ward")
    admin = [w for w in everything["wards"] if w["at"] == everything["to"]]
    assert {w["id"]: w["occupied"] for w in admin} == {I1: 10, I2: 2, I3: 5, I4: 1}
    national = get(server, "/api/v1/icu?hours=1&level=ward", NATIONAL)
    last = {w["id"]: w for w in national["wards"] if w["at"] == national["to"]}
    # I2's 2 is small; region 01's ICU total is published, so I1 goes with it (never one hidden ICU ward)
    assert last[I2]["occupied"] is None and last[I1]["occupied"] is None and last[I1]["free_beds"] is None
    assert last[I3]["occupied"] == 5 and last[I4]["occupied"] is None and last[I1]["staffed_beds"] == 8
    # status shows the same cells hidden
    status, body = server.call("GET", "/api/v1/status?level=ward", NATIONAL)
    ward_rows = {r["id"]: r for r in json.loads(body)["rows"]}
    assert ward_rows[I1]["occupied"] is None and ward_rows[I2]["occupied"] is None and ward_rows[G1]["occupied"] == 15
    mine = get(server, "/api/v1/icu?hours=1&level=ward", REGION)
    assert {w["id"] for w in mine["wards"]} == {I1, I2} and {w["occupied"] for w in mine["wards"]} == {10, 2}
    assert server.call("GET", "/api/v1/icu?level=ward", BASIC)[0] == 403
    assert server.call("GET", "/api/v1/icu?level=ward&region=12", REGION)[0] == 403
    assert server.call("GET", "/api/v1/icu?hours=169", ADMIN)[0] == 400
    csv = server.call("GET", "/api/v1/icu?hours=2&format=csv", NATIONAL)
    assert csv[0] == 200 and "Sjukvårdsregion Södra".encode() in csv[1]


# ------------------------------------------------------------------ suppression with the ICU sums published
def icu_equations(wards: list[dict]) -> list[tuple[dict, float]]:
    """What the ICU picture adds to what a viewer knows: each region's ICU wards summed, per field it shows."""
    regions = {w["region_code"] for w in wards}
    return [({("w", w["ward_id"], f): 1 for w in wards if w["region_code"] == r and w["ward_kind"] == "icu"}, 0)
            for r in regions for f in ("occupied", "free_beds", "overcrowded")]


@pytest.mark.parametrize("leave_policy", ["leave_not_occupied", "leave_occupied"])
def test_no_hidden_icu_ward_is_given_back_by_the_regions_icu_sums(leave_policy):
    """Random regions of hospitals, wards and ICU wards (tests/test_suppression.py's trees): with the status
    view's sums, in-row identities and now each region's ICU sums, no hidden cell is determined beyond what
    the region rows alone give."""
    import random

    from streams.domain.escalation import Escalation
    from tests.test_suppression import NOW, determined, hidden_cells, random_wards, status_equations
    from web.status import status_rows
    from web.suppression import suppress_status

    checked = 0
    for seed in range(60):
        wards = random_wards(random.Random(seed), leave_policy)
        kw = dict(stale_after=dt.timedelta(hours=1), escalation=Escalation())
        hs, ws = status_rows(wards, "hospital", NOW, **kw), status_rows(wards, "ward", NOW, **kw)
        hs2, ws2 = suppress_status(hs, ws, 4, leave_policy=leave_policy)
        hidden = hidden_cells(hs, hs2, "h") | hidden_cells(ws, ws2, "w")
        eqs = status_equations(hs, ws, leave_policy) + icu_equations(wards)
        everything = hidden_cells(hs, [dict.fromkeys(h) for h in hs], "h") | \
            hidden_cells(ws, [dict.fromkeys(w) for w in ws], "w")
        given_back = determined(eqs, hidden) - determined(eqs, everything)
        assert not given_back, (seed, sorted(given_back)[:5])
        icu = {w["ward_id"] for w in wards if w["ward_kind"] == "icu"}
        checked += sum(1 for c in hidden if c[0] == "w" and c[1] in icu)
    assert checked > 30  # ICU cells were hidden
