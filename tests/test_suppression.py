"""Small-number suppression (web/suppression.py), plain functions tested directly.

Each test plays the attacker: it writes down every sum and in-row identity a viewer can see (region
totals over hospitals, hospital totals over wards, occupied = present (+ on leave), free = staffed −
occupied, waiting = the buckets, the out-of-area margins) and checks with linear algebra that no hidden
cell is determined by them: a cell is given back exactly when its unit vector lies in the row space of
the equations over the hidden cells. Random trees and matrices, many seeds."""
from __future__ import annotations

import datetime as dt
import random
import re

import numpy as np
import pytest

from streams.domain.escalation import Escalation
from web.status import status_rows
from web.suppression import (SUPPRESSED, WAIT_BUCKETS, small, suppress_matrix, suppress_status,
                             suppress_wait_row)

T = 4
NOW = dt.datetime(2026, 11, 30, 8, tzinfo=dt.timezone.utc)


def determined(equations: list[tuple[dict, float]], hidden: set) -> set:
    """Hidden cells the equations give back. An equation: ({cell: coefficient}, constant), visible cells
    already moved into the constant (only the hidden part matters here)."""
    cells = sorted(hidden, key=repr)
    index = {c: i for i, c in enumerate(cells)}
    rows = [[0.0] * len(cells) for _ in equations]
    for r, (coef, _) in zip(rows, equations):
        for c, k in coef.items():
            if c in index:
                r[index[c]] += k
    a = np.array([r for r in rows if any(r)] or [[0.0] * len(cells)])
    # x is given back iff every solution of A·d = 0 has d_x = 0: look at the null space's x column
    _, sv, vt = np.linalg.svd(a)
    rank = int((sv > 1e-9 * max(1.0, sv.max(initial=0))).sum())
    null = vt[rank:]
    return {c for c in cells if not null.size or np.abs(null[:, index[c]]).max() < 1e-9}


# ------------------------------------------------------------------------------------- status trees
def random_wards(rng: random.Random, leave_policy: str) -> list[dict]:
    wards = []
    for region in rng.sample(["01", "03", "12", "14"], rng.randint(1, 3)):
        for h in range(rng.randint(1, 5)):
            hospital = f"SE{region}-H{h}"
            for w in range(rng.randint(1, 5)):
                staffed = rng.choice([2, 4, 6, 10, 20, 30])
                present = rng.choice([0, 1, 2, 3, 5, staffed, staffed + 2, rng.randint(0, staffed + 3)])
                on_leave = rng.choice([0, 0, 1, 2, 6])
                occupied = present + on_leave if leave_policy == "leave_occupied" else present
                wards.append(dict(
                    ward_id=f"{hospital}-W{w}", ward_name=f"W{w}", hospital_id=hospital, hospital_name=hospital,
                    region_code=region, ward_kind="icu" if rng.random() < 0.15 else "general", care_type="x",
                    mvo_code="101", source="adt", staffed_beds=staffed, present=present, on_leave=on_leave,
                    occupied=occupied, overcrowded=max(0, occupied - staffed),
                    outliers=rng.choice([0, 0, 1, 2, 7]), discharge_ready=rng.choice([0, 1, 3, 5, 9]),
                    out_of_area_in=rng.choice([0, 0, 1, 8]), last_event_at=NOW, sender_id="s"))
    return wards


SUMMED = ("occupied", "present", "on_leave", "overcrowded", "outliers", "discharge_ready", "out_of_area_in")


def status_equations(hospitals: list[dict], wards: list[dict], leave_policy: str) -> list[tuple[dict, float]]:
    """Every linear relation a viewer knows among the cells ('h'|'w', id, field)."""
    eqs = []
    regions = {h["region_code"] for h in hospitals}
    for f in (*SUMMED, "free_beds"):  # free beds: each ward's max(0, staffed − occupied), summed (issue 12)
        for region in regions:  # the region row is public: its total over the hospitals
            coef = {("h", h["id"], f): 1 for h in hospitals if h["region_code"] == region}
            if f == "out_of_area_in":  # ... and for "in", the matrix column: its ICU wards too
                coef.update({("w", w["id"], f): 1 for w in wards if w["region_code"] == region
                             and w["ward_kind"] == "icu"})
            eqs.append((coef, 0))
        for h in hospitals:
            coef = {("h", h["id"], f): -1}
            coef.update({("w", w["id"], f): 1 for w in wards if w["hospital_id"] == h["id"] and w["ward_kind"] != "icu"})
            eqs.append((coef, 0))
    for kind, rows in (("h", hospitals), ("w", wards)):
        for r in rows:
            c = lambda f: (kind, r["id"], f)  # noqa: E731
            if leave_policy == "leave_occupied":
                eqs.append(({c("occupied"): 1, c("present"): -1, c("on_leave"): -1}, 0))
            else:
                eqs.append(({c("occupied"): 1, c("present"): -1}, 0))
            eqs.append(({c("occupancy_pct"): 1, c("occupied"): -100 / r["staffed_beds"]}, 0))
            # free − overcrowded = staffed − occupied in every row (a ward has one or the other; a hospital
            # sums its wards'): linear, known to everyone. Which of the two a hidden ward has is not shown.
            eqs.append(({c("free_beds"): 1, c("overcrowded"): -1, c("occupied"): 1}, r["staffed_beds"]))
    return eqs


def hidden_cells(before: list[dict], after: list[dict], kind: str) -> set:
    return {(kind, b["id"], f) for b, a in zip(before, after) for f in (*SUMMED, "free_beds", "occupancy_pct")
            if b[f] is not None and a[f] is None}


@pytest.mark.parametrize("leave_policy", ["leave_not_occupied", "leave_occupied"])
def test_no_hidden_status_cell_is_given_back_by_sums_or_in_row_identities(leave_policy):
    checked = 0
    for seed in range(100):
        rng = random.Random(seed)
        wards = random_wards(rng, leave_policy)
        kw = dict(stale_after=dt.timedelta(hours=1), escalation=Escalation())
        hs, ws = status_rows(wards, "hospital", NOW, **kw), status_rows(wards, "ward", NOW, **kw)
        hs2, ws2 = suppress_status(hs, ws, T, leave_policy=leave_policy)
        hidden = hidden_cells(hs, hs2, "h") | hidden_cells(ws, ws2, "w")
        # primary: every small patient count is hidden
        for kind, before, after in (("h", hs, hs2), ("w", ws, ws2)):
            for b, a in zip(before, after):
                for f in SUMMED:
                    if small(b[f], T):
                        assert a[f] is None, (seed, kind, b["id"], f, b[f])
                if a["occupied"] is None:  # no number in the words, no level that brackets the count
                    assert a["escalation_rule"] == SUPPRESSED and a["escalation_level"] is None
                    assert a["free_beds"] is None and a["occupancy_pct"] is None
        # what the region rows alone give (a region's only hospital is its region row) is known anyway
        eqs = status_equations(hs, ws, leave_policy)
        everything = hidden_cells(hs, [dict.fromkeys(h) for h in hs], "h") | \
            hidden_cells(ws, [dict.fromkeys(w) for w in ws], "w")  # every detail cell hidden
        public = determined(eqs, everything)
        given_back = determined(eqs, hidden) - public
        assert not given_back, (seed, sorted(given_back)[:5])
        checked += len(hidden)
    assert checked > 500  # the random trees did hide a lot


def test_a_hospital_is_not_the_region_minus_the_others():
    # Region 01: hospital A with 3 patients (small), B with 40, C with 30. Without a complement,
    # region − B − C = A.
    def ward(wid, hospital, occupied):
        return dict(ward_id=wid, ward_name=wid, hospital_id=hospital, hospital_name=hospital, region_code="01",
                    ward_kind="general", care_type="x", mvo_code="101", source="adt", staffed_beds=50,
                    present=occupied, on_leave=0, occupied=occupied, overcrowded=0, outliers=0, discharge_ready=0,
                    out_of_area_in=0, last_event_at=NOW, sender_id="s")
    wards = [ward("a1", "A", 3), ward("b1", "B", 25), ward("b2", "B", 15), ward("c1", "C", 30)]
    kw = dict(stale_after=dt.timedelta(hours=1), escalation=Escalation())
    hs, ws = status_rows(wards, "hospital", NOW, **kw), status_rows(wards, "ward", NOW, **kw)
    hs2, ws2 = suppress_status(hs, ws, T)
    by_id = {h["id"]: h for h in hs2}
    assert by_id["A"]["occupied"] is None
    assert by_id["C"]["occupied"] is None and by_id["B"]["occupied"] == 40  # C (30) is the cheaper complement
    wards2 = {w["id"]: w for w in ws2}
    assert wards2["c1"]["occupied"] is None  # C hidden: its one ward would add up to it
    assert wards2["b1"]["occupied"] == 25 and wards2["b2"]["occupied"] == 15
    assert "3" not in (by_id["A"]["escalation_rule"] or "")


def test_open_regions_are_untouched():
    rng = random.Random(7)
    wards = random_wards(rng, "leave_not_occupied")
    kw = dict(stale_after=dt.timedelta(hours=1), escalation=Escalation())
    hs, ws = status_rows(wards, "hospital", NOW, **kw), status_rows(wards, "ward", NOW, **kw)
    hs2, ws2 = suppress_status(hs, ws, T, open_region=lambda region: True)
    assert hs2 == hs and ws2 == ws


def test_the_suppressed_words_hold_no_number():
    assert not re.search(r"\d", SUPPRESSED)


# ------------------------------------------------------------------------------------- waiting lists
def test_a_waiting_list_row_never_gives_a_hidden_bucket_back():
    for seed in range(400):
        rng = random.Random(seed)
        buckets = {b: rng.choice([0, 0, 1, 2, 3, 5, 12, 40]) for b in WAIT_BUCKETS}
        row = {"mvo_group": "511", "phase": 1, "waiting": sum(buckets.values()), **buckets, "limit_days": 90,
               "with_deviation": rng.choice([0, 1, 7]), "share_within_limit": 0.5, "share_over_180": 0.1}
        out = suppress_wait_row(row, T)
        for f in ("waiting", "with_deviation", *WAIT_BUCKETS):
            if small(row[f], T):
                assert out[f] is None, (seed, f)
        hidden = {f for f in ("waiting", *WAIT_BUCKETS) if out[f] is None}
        eqs = [({f: 1 for f in WAIT_BUCKETS} | {"waiting": -1}, 0)]
        assert not determined(eqs, hidden), (seed, row, out)
        if hidden or out["with_deviation"] is None:
            assert out["share_within_limit"] is None and out["share_over_180"] is None


# ------------------------------------------------------------------------------------- out of area
REGIONS = ["01", "03", "04", "05", "06", "12", "14"]


def matrix_equations(regions: list[str]) -> list[tuple[dict, float]]:
    cells = [(h, t) for h in regions for t in regions if h != t]
    return ([({c: 1 for c in cells if c[0] == r}, 0) for r in regions]
            + [({c: 1 for c in cells if c[1] == r}, 0) for r in regions])


@pytest.mark.parametrize("open_region", [None, "03"])
def test_no_hidden_out_of_area_cell_is_given_back_by_the_margins(open_region):
    for seed in range(120):
        rng = random.Random(seed)
        cells = {(h, t): rng.choice([1, 2, 3, 4, 5, 9, 30]) for h in REGIONS for t in REGIONS
                 if h != t and rng.random() < 0.45}
        shown = suppress_matrix(cells, REGIONS, T,
                                open_cell=lambda h, t: t == open_region)
        hidden = {c for c, n in shown.items() if n is None}
        for c, n in cells.items():
            if c[1] == open_region:
                assert shown[c] == n  # the viewer's own region reports it
            elif small(n, T):
                assert shown[c] is None, (seed, c)
        assert all(shown[c] == n for c, n in cells.items() if c not in hidden)
        assert not determined(matrix_equations(REGIONS), hidden), (seed, sorted(hidden))


def test_a_bridge_between_two_hidden_blocks_is_closed():
    # Two 2×2 blocks of small cells joined by one small cell: every row and column has two hidden cells,
    # and still the margins give the joining cell. The function links the blocks by one more cell.
    cells = {("01", "04"): 2, ("01", "05"): 2, ("03", "04"): 3, ("03", "05"): 1,
             ("06", "03"): 2, ("06", "14"): 3, ("12", "03"): 1, ("12", "14"): 2,
             ("01", "14"): 4}
    lines = [c[0] for c in cells] + [c[1] for c in cells]
    assert min(lines.count(x) for x in lines) == 2
    assert determined(matrix_equations(REGIONS), set(cells)) == {("01", "14")}
    shown = suppress_matrix(cells, REGIONS, T)
    hidden = {c for c, n in shown.items() if n is None}
    assert set(cells) <= hidden
    assert not determined(matrix_equations(REGIONS), hidden)
