"""Issue 12, points 9 and 7, from the definitions (numbers worked out by hand in the comments):

9. Free beds (lediga vårdplatser) at every level = the sum over its wards of max(0, staffed − occupied);
   overcrowding (överbeläggningar) = the sum of its wards' max(0, occupied − staffed). Never netted.
   The morning report asks for room where a region's overcrowded patients outnumber its free beds.
7. Out-of-area (utomlänspatienter): a region's "in" = open stays treated there of patients living in
   another region, its "out" = open stays of its residents treated elsewhere; summed over the nation they
   are the same patients, so in = out. Census-only wards' counts carry no home region: apart. The windows
   count admissions and inter-regional transfers into a region that is not the patient's home.
"""
from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from schemas.model import EVENT_TYPES, PatientAdmitted
from sinks import queries
from sinks.clickhouse import ClickHouse
from streams.domain.beds import BedState, Movement
from streams.domain.escalation import Escalation
from tests.factory import admit, census, transfer, ward
from web import morning
from web.report_html import render_morning_report
from web.report_model import MorningReport, RegionRow, needs_room, room_near_whom
from web.status import status_rows
from web.suppression import suppress_status

NOW = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.timezone.utc)
FRESH = NOW - dt.timedelta(minutes=1)


def w(ward_id, region, staffed, occupied, *, hospital="H1", kind="general", source="adt", ooa=0, **kw) -> dict:
    return dict(ward_id=ward_id, hospital_id=hospital, hospital_name=hospital, ward_name=ward_id, region_code=region,
                mvo_code="101", care_type="somatic", ward_kind=kind, source=source, staffed_beds=staffed,
                admitted=occupied, present=occupied, on_leave=0, occupied=occupied,
                overcrowded=max(0, occupied - staffed), outliers=0, discharge_ready=0, out_of_area_in=ooa,
                last_event_at=FRESH, sender_id="s", **kw)


def rows(wards, level, matrix=None):
    return {r["id"]: r for r in status_rows(wards, level, NOW, stale_after=dt.timedelta(hours=1),
                                            escalation=Escalation(), matrix=matrix)}


# ------------------------------------------------------------------------------------------- point 9
WARDS_9 = [
    w("A", "01", 10, 15, hospital="H1"),   # 5 overcrowded, 0 free
    w("B", "01", 20, 10, hospital="H1"),   # 0 overcrowded, 10 free
    w("C", "01", 8, 2, hospital="H2"),     # 6 free
    w("I", "01", 6, 1, hospital="H2", kind="icu"),  # ICU: outside the general totals
    w("D", "09", 12, 12, hospital="H9"),   # full: 0 and 0
]


def test_free_beds_and_overcrowding_are_summed_over_wards_never_netted():
    # H1: free 0 + 10 = 10, overcrowded 5 (netted it would be max(0, 30 − 25) = 5 free)
    h = rows(WARDS_9, "hospital")
    assert (h["H1"]["free_beds"], h["H1"]["overcrowded"]) == (10, 5)
    assert (h["H2"]["free_beds"], h["H2"]["overcrowded"]) == (6, 0)  # the ICU ward's 5 free are not here
    # region 01: free 10 + 6 = 16, overcrowded 5; staffed 38, occupied 27 (38 − 27 = 11 = 16 − 5)
    r = rows(WARDS_9, "region")["01"]
    assert (r["staffed_beds"], r["occupied"], r["free_beds"], r["overcrowded"]) == (38, 27, 16, 5)
    # Stockholm-Gotland (01 + 09) and the nation: free 16 + 0, overcrowded 5 + 0
    assert (rows(WARDS_9, "healthcare_region")["Stockholm-Gotland"]["free_beds"],
            rows(WARDS_9, "healthcare_region")["Stockholm-Gotland"]["overcrowded"]) == (16, 5)
    n = rows(WARDS_9, "nation")["SE"]
    assert (n["free_beds"], n["overcrowded"]) == (16, 5)
    # a ward has one or the other
    ward = rows(WARDS_9, "ward")
    assert (ward["A"]["free_beds"], ward["A"]["overcrowded"]) == (0, 5)
    assert (ward["I"]["free_beds"], ward["I"]["overcrowded"]) == (5, 0)


def test_the_issue_example_minus_5_and_plus_10():
    r = rows([w("X", "01", 10, 15), w("Y", "01", 20, 10)], "region")["01"]
    assert (r["free_beds"], r["overcrowded"]) == (10, 5)  # not "5 free"


def _report(regions: dict[str, list[dict]]) -> MorningReport:
    out = []
    for code, ws in regions.items():
        r = rows(ws, "region")[code]
        out.append(RegionRow(code, r["name"], morning._figures(r), stale=False))
    n = rows([x for ws in regions.values() for x in ws], "nation")["SE"]
    return MorningReport(NOW.date(), NOW, out, morning._figures(n))


def test_morning_report_asks_for_room_where_overcrowded_outnumber_free_beds():
    rep = _report({
        # Stockholm: 8 overcrowded on A, 3 free on B; escalation by occupancy 35/30 = 116.7 % anyway, so use
        # the shortage alone below too. Free 3, overcrowded 8: 5 patients need room elsewhere.
        "01": [w("A", "01", 10, 18), w("B", "01", 20, 17)],
        # Uppsala (a neighbour): 6 free on C, 2 overcrowded on D: 4 to offer
        "03": [w("C", "03", 10, 4, hospital="U1"), w("D", "03", 5, 7, hospital="U1")],
        # Gotland (neighbour): 1 overcrowded on G, 1 free on F: nothing to offer
        "09": [w("F", "09", 40, 39, hospital="G1"), w("G", "09", 4, 5, hospital="G1")],
    })
    by = {r.code: r.today for r in rep.regions}
    assert (by["01"].free, by["01"].overcrowded, by["01"].shortage) == (3, 8, 5)
    assert (by["03"].free, by["03"].overcrowded, by["03"].spare) == (6, 2, 4)
    assert (by["09"].free, by["09"].overcrowded, by["09"].spare) == (1, 1, 0)
    needs = {n.region_code: n for n in room_near_whom(rep)}
    assert "01" in needs and needs["01"].shortage == 5
    assert [(o.region_code, o.spare) for o in needs["01"].neighbours] == [("03", 4)]  # 09 has none to spare
    html = render_morning_report(rep)
    assert 'id="shortage"' in html and "Fler överbelagda än lediga" in html
    assert "Stockholm (8 överbelagda / overcrowded, 3 lediga / free)" in html


def test_shortage_alone_triggers_the_room_list():
    # 102 staffed across two wards, 100 patients: 96 % occupancy; one ward 6 over, the other 8 free
    rep = _report({"01": [w("A", "01", 50, 56), w("B", "01", 52, 44)]})
    f = rep.regions[0].today
    assert (f.free, f.overcrowded, f.shortage) == (8, 6, 0)
    assert needs_room(f) is ((f.escalation_level or 0) >= 3)  # no shortage: only the escalation level counts
    f2 = dataclasses.replace(f, escalation_level=1, free=2, overcrowded=6)
    assert needs_room(f2)  # 6 overcrowded, 2 free: 4 short


# ------------------------------------------------------------------------------------------- point 7
def test_in_and_out_balance_and_census_counts_are_apart():
    wards = [w("A", "01", 10, 5), w("K", "01", 10, 9, source="census", ooa=3, hospital="H2"),
             w("I", "01", 6, 2, kind="icu"), w("Z", "12", 10, 5, hospital="S1"), w("U", "03", 10, 5, hospital="U1")]
    # open stays: two Uppsala residents in Stockholm (one on the ICU ward I), one Stockholm resident in
    # Skåne, one Skåne resident in Stockholm
    matrix = {("03", "01"): 2, ("01", "12"): 1, ("12", "01"): 1}
    r = rows(wards, "region", matrix)
    # 01: in 2 + 1 = 3, out 1; 12: in 1, out 1; 03: in 0, out 2
    assert {k: (x["out_of_area_in"], x["out_of_area_out"]) for k, x in r.items()} == \
        {"01": (3, 1), "12": (1, 1), "03": (0, 2)}
    assert r["01"]["out_of_area_in_census"] == 3 and r["12"]["out_of_area_in_census"] == 0
    n = rows(wards, "nation", matrix)["SE"]
    assert n["out_of_area_in"] == n["out_of_area_out"] == 4 and n["out_of_area_in_census"] == 3
    hr = rows(wards, "healthcare_region", matrix)
    assert sum(x["out_of_area_in"] for x in hr.values()) == sum(x["out_of_area_out"] for x in hr.values()) == 4
    ward = rows(wards, "ward")
    assert (ward["K"]["out_of_area_in"], ward["K"]["out_of_area_in_census"]) == (0, 3)


def parse(d):
    return EVENT_TYPES[d["event_type"]].model_validate(d)


def test_in_and_out_from_the_ward_state_balance_with_an_icu_patient():
    s = BedState()
    evs = [ward("SE2321000016-A1", 0, staffed=5), ward("SE2321000016-I1", 0, kind="icu", staffed=4),
           ward("SE2321000214-S1", 0, region="12", hospital="SE2321000214-H001"),
           admit("SE2321000016-A1", "a", 1, muni="0380"),          # Uppsala resident in Stockholm
           admit("SE2321000016-I1", "b", 2, muni="1280"),          # Skåne resident on Stockholm's ICU
           admit("SE2321000214-S1", "c", 3, region="12", muni="0180")]  # Stockholm resident in Skåne
    for e in evs:
        s.apply(parse(e))
    ws = [dataclasses.asdict(s.status(x)) for x in s.wards]
    r = rows(ws, "region", s.out_of_area_now())
    assert (r["01"]["out_of_area_in"], r["01"]["out_of_area_out"]) == (2, 1)  # a and b in; c out
    assert (r["12"]["out_of_area_in"], r["12"]["out_of_area_out"]) == (1, 1)  # c in; b out
    n = rows(ws, "nation", s.out_of_area_now())["SE"]
    assert n["out_of_area_in"] == n["out_of_area_out"] == 3  # (03 has no ward here: a's "out" still counts)


def test_movements_count_admissions_and_inter_regional_transfers():
    s = BedState()
    for e in (ward("SE2321000016-A1", 0), ward("SE2321000016-A2", 0),
              ward("SE2321000214-S1", 0, region="12", hospital="SE2321000214-H001"),
              ward("SE2321000018-U1", 0, region="03", hospital="SE2321000018-H001")):
        s.apply(parse(e))
    kind = {"admission_kind": "planned"} if "admission_kind" in PatientAdmitted.model_fields else {}
    adm = parse(admit("SE2321000016-A1", "p", 1, muni="0380", **kind))  # Uppsala resident admitted in Stockholm
    assert s.movement(adm) == Movement("03", "01", "admission", "planned" if kind else "")
    s.apply(adm)
    inside = parse(transfer("p", "SE2321000016-A1", "SE2321000016-A2", 2))  # within Stockholm: not counted
    assert s.movement(inside) is None
    s.apply(inside)
    to_skane = parse(transfer("p", "SE2321000016-A2", "SE2321000214-S1", 3))  # Stockholm → Skåne: counted
    assert s.movement(to_skane) == Movement("03", "12", "transfer")
    s.apply(to_skane)
    home = parse(transfer("p", "SE2321000214-S1", "SE2321000018-U1", 4))  # back home to Uppsala: not counted
    assert s.movement(home) is None
    assert s.movement(parse(admit("SE2321000016-A1", "q", 5))) is None  # Stockholm resident at home


def test_windows_count_transfers_and_kinds(tmp_path):
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    try:
        db.migrate()
        t = NOW.replace(tzinfo=None)
        rows_ = [(t - dt.timedelta(hours=1), "e1", "03", "01", "admission", "planned"),
                 (t - dt.timedelta(hours=2), "e2", "03", "01", "admission", "acute"),
                 (t - dt.timedelta(hours=3), "e3", "03", "01", "transfer", ""),
                 (t - dt.timedelta(hours=3), "e3", "03", "01", "transfer", ""),  # written twice: once
                 (t - dt.timedelta(days=3), "e4", "12", "01", "admission", ""),
                 (t - dt.timedelta(days=10), "e5", "12", "01", "transfer", "")]
        db.insert("out_of_area_admissions", rows_,
                  ["occurred_at", "event_id", "home_region", "treating_region", "movement", "admission_kind"])
        # 24 h: e1 + e2 + e3 = 3 (03 → 01); 7 d adds e4 (12 → 01); 30 d adds e5
        assert queries.out_of_area_window(db, "24h", NOW) == {("03", "01"): 3}
        assert queries.out_of_area_window(db, "7d", NOW) == {("03", "01"): 3, ("12", "01"): 1}
        assert queries.out_of_area_window_kinds(db, "30d", NOW) == {
            ("03", "01"): {"admissions_planned": 1, "admissions_acute": 1, "transfers": 1},
            ("12", "01"): {"admissions_unknown": 1, "transfers": 1}}
    finally:
        db.close()


# ------------------------------------------------------------------------------------ suppression
def test_a_lone_hidden_icu_ward_gets_a_complement_for_out_of_area_in():
    # region 01's "in" (matrix column) = H1's 9 + ICU ward I's 2: were I hidden alone, 11 − 9 gives it back
    wards = [w("A", "01", 20, 15, ooa=9), w("B", "01", 20, 15, ooa=0),
             w("I", "01", 6, 5, kind="icu", ooa=2, hospital="H1")]
    hs = status_rows(wards, "hospital", NOW, stale_after=dt.timedelta(hours=1), escalation=Escalation())
    ws = status_rows(wards, "ward", NOW, stale_after=dt.timedelta(hours=1), escalation=Escalation())
    h, shown = suppress_status(hs, ws, 4)
    # I (2) is small; the region row's 11 = H1 + I then needs H1 hidden, and H1 = A + B a ward of it (A: the
    # smallest non-zero). Left: 11 = H1 + I, H1 = A + 0: three unknowns, two equations.
    assert {r["id"] for r in h + shown if r["out_of_area_in"] is None} == {"H1", "A", "I"}


def test_census_out_of_area_count_is_suppressed_below_region_level():
    wards = [w("K", "01", 20, 15, source="census", ooa=3), w("L", "01", 20, 15, source="census", ooa=12),
             w("M", "01", 20, 15, source="census", ooa=10, hospital="H2")]
    hs = status_rows(wards, "hospital", NOW, stale_after=dt.timedelta(hours=1), escalation=Escalation())
    ws = status_rows(wards, "ward", NOW, stale_after=dt.timedelta(hours=1), escalation=Escalation())
    h, shown = suppress_status(hs, ws, 4)
    by = {r["id"]: r for r in shown}
    assert by["K"]["out_of_area_in_census"] is None and by["L"]["out_of_area_in_census"] is None  # 3, and 15 − 12


def test_movement_kinds_are_suppressed_with_their_cell():
    from web.suppression import suppress_movement_kinds
    kinds = {("03", "01"): {"admissions_planned": 20, "admissions_acute": 2, "transfers": 9},  # 31
             ("12", "01"): {"transfers": 3}}
    shown = {("03", "01"): 31, ("12", "01"): None}
    out = suppress_movement_kinds(kinds, shown, 4)
    # the cell's 31 is shown: acute 2 is small, and 31 − 20 − 9 − 0 would give it back: the smallest
    # non-zero other kind (transfers, 9; a zero protects least) goes with it
    assert out[("03", "01")] == {"admissions_planned": 20, "admissions_acute": None, "admissions_unknown": 0,
                                 "transfers": None}
    assert set(out[("12", "01")].values()) == {None}  # the cell itself is hidden
    assert suppress_movement_kinds(kinds, shown, 4, open_cell=lambda h, t: True)[("12", "01")]["transfers"] == 3


def test_analyst_region_view_sums_free_beds_over_wards_and_takes_in_out_from_the_matrix(tmp_path):
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    try:
        db.migrate()
        cols = ["ward_id", "version", "at", "event_id", "region_code", "ward_kind", "source", "staffed_beds",
                "occupied", "overcrowded", "out_of_area_in"]
        t = NOW.replace(tzinfo=None)
        db.insert("ward_current", [
            ("A", 1, t, "e", "01", "general", "adt", 10, 15, 5, 1),     # 5 over
            ("B", 1, t, "e", "01", "general", "adt", 20, 10, 0, 0),     # 10 free
            ("K", 1, t, "e", "01", "general", "census", 10, 9, 0, 3),   # 1 free; census out-of-area 3
            ("I", 1, t, "e", "01", "icu", "adt", 6, 1, 0, 1),           # ICU: not in the bed totals
        ], cols)
        db.insert("out_of_area_current", [("03", "01", 2, 1), ("01", "12", 1, 1)],
                  ["home_region", "treating_region", "patients", "version"])
        r = db.query_dicts("SELECT * FROM v_analyst_region_status WHERE region_code = '01'")[0]
        # free 0 + 10 + 1 = 11 beside overcrowded 5 (netted: 40 − 34 = 6); in 2 (one on the ICU ward), out 1
        assert (int(r["free_beds"]), int(r["overcrowded"])) == (11, 5)
        assert (int(r["out_of_area_in"]), int(r["out_of_area_out"]), int(r["out_of_area_in_census"])) == (2, 1, 3)
    finally:
        db.close()


def test_the_processor_writes_each_out_of_area_movement_with_its_kind():
    """Issue 12 point 7, through the processor: an admission outside the home region (with its planned /
    acute kind), a transfer between regions into a region that is not the home one; a transfer home and an
    admission at home are not movements."""
    from schemas.codec import SchemaSet
    from schemas.generate import published_schemas
    from streams.processor import Processor
    from tests.factory import admit, transfer, ward
    from tests.test_sink import records

    a, b = "SE2321000016-A001", "SE2321000032-B001"  # a ward in region 01, one in region 03
    events = [ward(a, 0), ward(b, 0, region="03", hospital="SE2321000032-H001"),
              admit(a, "s1", 1, muni="0380", admission_kind="planned"),  # home 03, cared for in 01
              transfer("s1", a, b, 2),  # home again: ends out-of-area care
              admit(a, "s2", 3, muni="0180"),  # home 01, in 01
              transfer("s2", a, b, 4)]  # home 01, now cared for in 03
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(records(events, codec))
    assert not batch.rows["deadletters"], batch.rows["deadletters"]
    moves = [(r.home_region, r.treating_region, r.movement, r.admission_kind)
             for r in batch.rows["out_of_area_admissions"]]
    assert moves == [("03", "01", "admission", "planned"), ("01", "03", "transfer", "")]
