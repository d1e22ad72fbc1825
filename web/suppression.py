"""Small-number suppression: which cells a viewer outside the reporting region must not see. No I/O.

Counts 1..threshold of patients below region level (hospital, ward, MVO group × phase, region × region)
are hidden for everyone outside the reporting region (primary suppression), and then enough other cells
are hidden that no published sum or in-row identity gives a hidden one back (secondary suppression):

- Status (region → hospitals → wards; ICU wards are outside the hospital sums): per field, a region never
  has exactly one hidden hospital, a known hospital never exactly one hidden ward, and a hidden hospital
  always has a hidden ward (else its wards add up to it). With these three rules every hidden cell can
  move in a direction that keeps every published sum (a second hidden sibling, or the hidden parent
  with a hidden child): none is determined. Region rows and above are not suppressed (they are the
  aggregates every viewer may see).
- In a row, fields that give each other back are hidden together: occupied, free beds, occupancy % and
  overcrowded (with staffed beds shown, each gives the others), and present too under the
  leave-not-occupied policy (occupied = present). Under leave-occupied, occupied = present + on leave:
  present and on leave are hidden together, and always when occupied is. The escalation level and its
  words ("occupancy 4.2 % < 90 %") go with occupancy.
- Waiting lists (MVO group × phase rows): waiting = the sum of the five wait buckets, so a lone hidden
  bucket takes a second one with it; a hidden total hides the whole row; a share's numerator and
  denominator go together, and with any hidden bucket; the shares go when any count does. Rolled-up
  snapshot rows (healthcare region, nation) hide every count hidden in one of their regions
  (web/snapshots.py's snapshot_rollups).
- Breakdowns (a waiting-list or performed row split by sex, age band, hospital or activity): a split row
  with a small count is hidden whole, and protect_region's rules, the unsplit rows as the parents, keep it
  from coming back as the unsplit row less the shown splits (suppress_breakdown).
- Out-of-area "in" of a region row is the matrix column, ICU wards included: for that field a region's ICU
  wards are children of the region beside its hospitals (never exactly one of them hidden). Census-only
  wards' out-of-area counts are a field of their own, summed like the others.
- The ICU picture (/api/v1/icu) publishes each region's ICU beds apart (the sum of its ICU wards): for
  occupancy a region never has exactly one hidden ICU ward either.
- The out-of-area matrix (region × region; its row and column sums are published as the regions'
  out-of-area figures): no row or column with exactly one hidden cell, and no hidden cell that is the
  only link between two groups of hidden cells (a bridge is determined by the sums).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from web.texts import paired

SUPPRESSED = paired("api.suppressed")  # no digits: the words must not tell


def small(v, threshold: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= threshold


@dataclass(frozen=True)
class Unit:
    """Fields of a status row hidden together; `tests` are the patient counts that make it small and
    that sum from wards to hospitals to region (the first one chooses complements)."""
    name: str
    fields: tuple[str, ...]
    tests: tuple[str, ...]
    within: str | None = None  # a unit whose hidden cells this one always hides too
    icu_in_region: bool = False  # the region row's figure counts the ICU wards too (they are its children)
    icu_total: bool = False  # the region's ICU wards' sum is published apart (the ICU picture, /api/v1/icu)


def status_units(leave_policy: str = "leave_not_occupied") -> tuple[Unit, ...]:
    singles = tuple(Unit(f, (f,), (f,)) for f in ("outliers", "discharge_ready", "out_of_area_in_census",
                                                  "home_unknown")) + (
        # the region's out-of-area "in" is the matrix column: every ADT ward's patients, ICU included
        Unit("out_of_area_in", ("out_of_area_in",), ("out_of_area_in",), icu_in_region=True),)
    if leave_policy == "leave_occupied":  # occupied = present + on leave
        return (Unit("occupancy", ("occupied", "free_beds", "occupancy_pct", "overcrowded"), ("occupied", "overcrowded"),
                     icu_total=True),
                Unit("stay", ("present", "on_leave"), ("present", "on_leave"), within="occupancy")) + singles
    return (Unit("occupancy", ("occupied", "present", "free_beds", "occupancy_pct", "overcrowded"),
                 ("occupied", "present", "overcrowded"), icu_total=True),
            Unit("on_leave", ("on_leave",), ("on_leave",))) + singles


def _cheapest(rows: Iterable[dict], field: str) -> dict | None:
    """The complement to hide: the smallest non-zero value first (zeros protect least), then by id."""
    return min(rows, key=lambda r: ((r.get(field) or 0) == 0, r.get(field) or 0, r["id"]), default=None)


def protect_region(hospitals: list[dict], wards: list[dict], unit: Unit, threshold: int,
                    hidden_before: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Hidden cells of one unit in one region: ('h', hospital id) and ('w', ward id)."""
    def starts_hidden(kind: str, r: dict) -> bool:
        return (kind, r["id"]) in hidden_before or any(small(r.get(f), threshold) for f in unit.tests)

    key = unit.tests[0]
    hidden = {("h", h["id"]) for h in hospitals if starts_hidden("h", h)}
    known = {h["id"] for h in hospitals if ("h", h["id"]) not in hidden}
    # Sums the region row publishes: its hospitals, and for some fields its hospitals and ICU wards
    # (both then hold: the hospitals' sum is published too, through the morning report and the views).
    groups = [[("h", h) for h in hospitals]]
    icu = [("w", w) for w in wards if w.get("ward_kind") == "icu"]
    if unit.icu_in_region or unit.icu_total:
        hidden |= {("w", w["id"]) for _, w in icu if starts_hidden("w", w)}
    if unit.icu_in_region:
        groups.append(groups[0] + icu)
    top = groups[-1]  # the region's children as its row sums them
    if unit.icu_total:  # the ICU picture publishes the region's ICU wards' sum: never one of them hidden alone
        groups.append(icu)
    changed = True
    while changed:  # hidden only grows: this ends
        changed = False
        for group in groups:
            hidden_g = [(k, r) for k, r in group if (k, r["id"]) in hidden]
            if len(hidden_g) != 1:
                continue
            # region total − the others would give it: hide a second one
            extra = _cheapest((r for k, r in group if (k, r["id"]) not in hidden), key)
            if extra is not None:
                hidden.add((next(k for k, r in group if r is extra), extra["id"]))
                known.discard(extra["id"])
                changed = True
            elif hidden_g[0][0] == "h" and len(top) == 1:
                known.add(hidden_g[0][1]["id"])  # the region's only child: it equals the region row, seen by all
    children: dict[str, list[dict]] = {}
    for w in wards:
        if starts_hidden("w", w):
            hidden.add(("w", w["id"]))
        if w.get("ward_kind") != "icu":  # ICU wards are outside the hospital sums: a hidden one is alone
            children.setdefault(w["hospital_id"], []).append(w)
    for hid, ws in children.items():
        hidden_w = [w for w in ws if ("w", w["id"]) in hidden]
        visible_w = [w for w in ws if ("w", w["id"]) not in hidden]
        parent_known = hid in known or ("h", hid) not in hidden
        if parent_known and len(hidden_w) == 1 or not parent_known and not hidden_w:
            extra = _cheapest(visible_w, key)
            if extra is not None:
                hidden.add(("w", extra["id"]))
    return hidden


def suppress_status(hospitals: list[dict], wards: list[dict], threshold: int, *,
                    leave_policy: str = "leave_not_occupied",
                    open_region: Callable[[str], bool] = lambda region: False) -> tuple[list[dict], list[dict]]:
    """Hospital and ward status rows (web/status.py, all of them: the complements depend on the
    siblings) with small counts hidden in every region the viewer does not see in full
    (`open_region`). Returns copies; a hidden value is None."""
    by_region: dict[str, tuple[list[dict], list[dict]]] = {}
    for h in hospitals:
        by_region.setdefault(h["region_code"], ([], []))[0].append(h)
    for w in wards:
        by_region.setdefault(w["region_code"], ([], []))[1].append(w)
    out_h = {id(h): h for h in hospitals}
    out_w = {id(w): w for w in wards}
    for region, (hs, ws) in by_region.items():
        if open_region(region):
            continue
        done: dict[str, set[tuple[str, str]]] = {}
        for unit in status_units(leave_policy):
            hidden = protect_region(hs, ws, unit, threshold, done.get(unit.within, set()))
            done[unit.name] = hidden
            for kind, rows, out in (("h", hs, out_h), ("w", ws, out_w)):
                for r in rows:
                    if (kind, r["id"]) in hidden:
                        row = out[id(r)] = dict(out[id(r)])
                        for f in unit.fields:
                            row[f] = None
                        if unit.name == "occupancy":
                            row["escalation_level"], row["escalation_rule"] = None, SUPPRESSED
    return [out_h[id(h)] for h in hospitals], [out_w[id(w)] for w in wards]


# ------------------------------------------------------------------------------------- waiting lists
WAIT_BUCKETS = ("le_30", "le_60", "le_90", "le_180", "gt_180")
WAIT_SHARES = ("share_within_limit", "share_over_180", "share_past_target")
# The counts behind the shares: a share's numerator and denominator are hidden together (either, with the
# share's bucket limits, narrows the other), and go with any hidden bucket (they are parts of bucket sums).
WAIT_MEASURE = ("measured", "within_limit", "over_180")
WAIT_TARGET = ("target_measured", "past_target")
WAIT_COUNTS = ("waiting", *WAIT_BUCKETS, "with_deviation", *WAIT_MEASURE, *WAIT_TARGET)  # every count of a row


def suppress_wait_row(row: dict, threshold: int) -> dict:
    """One waiting-list row (MVO group × phase) for a viewer outside its region."""
    row = dict(row)
    if small(row.get("waiting"), threshold):  # 1..N waiting: nothing of the row tells more
        for f in ("waiting", "with_deviation", *WAIT_BUCKETS, *WAIT_SHARES, *WAIT_MEASURE, *WAIT_TARGET):
            if f in row:
                row[f] = None
        return row
    hidden = [b for b in WAIT_BUCKETS if small(row.get(b), threshold)]
    if len(hidden) == 1:  # waiting − the other buckets would give it back
        extra = _cheapest(({"id": b, "v": row.get(b)} for b in WAIT_BUCKETS if b not in hidden and b in row), "v")
        if extra is not None:
            hidden.append(extra["id"])
    if small(row.get("with_deviation"), threshold):
        hidden.append("with_deviation")
    if any(b in hidden for b in WAIT_BUCKETS) or any(small(row.get(f), threshold) for f in WAIT_MEASURE):
        hidden += [f for f in WAIT_MEASURE if f in row]
    if any(small(row.get(f), threshold) for f in WAIT_TARGET):
        hidden += [f for f in WAIT_TARGET if f in row]
    for f in hidden:
        row[f] = None
    if hidden:  # a share and its base give a count back
        for f in WAIT_SHARES:
            if f in row:
                row[f] = None
    return row


# ------------------------------------------------------------------------------------- out of area
def suppress_matrix(cells: dict[tuple[str, str], int], regions: Iterable[str], threshold: int, *,
                    open_cell: Callable[[str, str], bool] = lambda home, treating: False
                    ) -> dict[tuple[str, str], int | None]:
    """Out-of-area patients per (home region, treating region); a missing pair is 0. Returns the cells to
    show: those given, plus any zero cell hidden as a complement, a hidden one as None. Cells the viewer
    sees in full (`open_cell`: its own region reports them) are never hidden; the complements are taken
    among the others."""
    regions = sorted(set(regions) | {h for h, _ in cells} | {t for _, t in cells})
    value = lambda c: cells.get(c, 0)  # noqa: E731
    candidates = {(h, t) for h in regions for t in regions if (h != t or (h, t) in cells) and not open_cell(h, t)}
    hidden = {c for c in candidates if small(value(c), threshold)}

    def cheapest(line: Iterable[tuple[str, str]]):
        return min(line, key=lambda c: (value(c) == 0, value(c), c), default=None)

    changed = True
    while changed:
        changed = False
        for axis in (0, 1):  # rows (home region), then columns (treating region)
            for r in regions:
                line = [c for c in hidden if c[axis] == r]
                if len(line) == 1:
                    extra = cheapest(c for c in candidates - hidden if c[axis] == r)
                    if extra is not None:
                        hidden.add(extra)
                        changed = True
        for cell, cols_a, rows_b in _bridges(hidden):  # link the two sides: the bridge is then on a cycle
            extra = cheapest(c for c in candidates - hidden if c[0] in rows_b and c[1] in cols_a)
            if extra is not None:
                hidden.add(extra)
                changed = True
                break
    shown: dict[tuple[str, str], int | None] = {c: n for c, n in cells.items() if c not in hidden}
    shown.update({c: None for c in hidden})
    return dict(sorted(shown.items()))


def _bridges(hidden: set[tuple[str, str]]):
    """Hidden cells whose removal splits the hidden cells' graph (rows and columns as nodes): the sums of
    one side give such a cell. Yields (cell, the columns on its row's side, the rows on its column's side)."""
    for cell in sorted(hidden):
        rest = hidden - {cell}
        side_a = _component(rest, ("r", cell[0]))
        if ("c", cell[1]) not in side_a:
            side_b = _component(rest, ("c", cell[1]))
            yield cell, {code for kind, code in side_a if kind == "c"}, {code for kind, code in side_b if kind == "r"}


def _component(cells: set[tuple[str, str]], start: tuple[str, str]) -> set[tuple[str, str]]:
    seen, todo = {start}, [start]
    while todo:
        kind, code = todo.pop()
        for h, t in cells:
            nxt = ("c", t) if kind == "r" and h == code else ("r", h) if kind == "c" and t == code else None
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


MOVEMENT_KINDS = ("admissions_planned", "admissions_acute", "admissions_unknown", "transfers")


def suppress_movement_kinds(kinds: dict[tuple[str, str], dict[str, int]], shown: dict[tuple[str, str], int | None],
                            threshold: int, *, open_cell: Callable[[str, str], bool] = lambda home, treating: False
                            ) -> dict[tuple[str, str], dict[str, int | None]]:
    """The out-of-area window's breakdown per cell (sinks.queries.out_of_area_window_kinds), for the cells
    `suppress_matrix` shows: the kinds add up to the cell, so a hidden cell hides them all, and in a shown
    cell a lone small kind takes a second one with it (the smallest other, zeros included)."""
    out: dict[tuple[str, str], dict[str, int | None]] = {}
    for cell, total in shown.items():
        k = {name: kinds.get(cell, {}).get(name, 0) for name in MOVEMENT_KINDS}
        if open_cell(*cell):
            out[cell] = dict(k)
            continue
        if total is None:
            out[cell] = dict.fromkeys(MOVEMENT_KINDS)
            continue
        hidden = [name for name in MOVEMENT_KINDS if small(k[name], threshold)]
        if len(hidden) == 1:
            extra = _cheapest(({"id": n, "v": k[n]} for n in MOVEMENT_KINDS if n not in hidden), "v")
            if extra is not None:
                hidden.append(extra["id"])
        out[cell] = {name: None if name in hidden else k[name] for name in MOVEMENT_KINDS}
    return out


FLOW_COUNTS = ("performed", "measured", "within_limit", "target_measured", "past_target")
FLOW_SHARES = {"share_within_limit": ("measured", "within_limit"), "share_past_target": ("target_measured", "past_target")}


def suppress_performed(rows: list[dict], threshold: int, open_region) -> list[dict]:
    """The performed flow's MVO group rows for a viewer: in every region it does not see in full
    (`open_region`), a row with any count 1..threshold is hidden whole (its counts nearly give each other
    back: a follow-up's target count is its performed count, most performed are measured), and as a
    region × phase row (shown: a region-level figure) is the sum of its group rows, a region × phase never
    has exactly one hidden row: the smallest other one goes too. Returns copies; a hidden value is None."""
    out = [dict(r) for r in rows]
    siblings: dict[tuple[str, int], list[dict]] = {}
    for r in out:
        if not open_region(r["region_code"]):
            siblings.setdefault((r["region_code"], r["phase"]), []).append(r)
    for group in siblings.values():
        hidden = {i for i, r in enumerate(group) if any(small(r[f], threshold) for f in FLOW_COUNTS)}
        if len(hidden) == 1:  # the region row less the shown rows would give it back
            rest = [i for i in range(len(group)) if i not in hidden]
            if rest:
                hidden.add(min(rest, key=lambda i: (group[i]["performed"], group[i]["mvo_group"])))
        for i in hidden:
            for f in (*FLOW_COUNTS, *FLOW_SHARES, "median_wait_days"):
                group[i][f] = None
    return out


# ------------------------------------------------------------------------------------- breakdowns
def suppress_breakdown(parents: list[dict], rows: list[dict], counts: tuple[str, ...], blank: tuple[str, ...],
                       threshold: int, open_region, total_of) -> list[dict]:
    """A measure's rows split by one dimension (sex, age band, hospital, activity: `breakdown`) for a viewer,
    beside its unsplit rows (`parents`, keyed like the rows by region × MVO group × phase) as this viewer
    gets them (a hidden count None). In every region the viewer does not see in full (`open_region`), a
    breakdown row with any of `counts` 1..threshold is hidden whole (`counts` and `blank` None: its counts
    nearly give each other back), and then the status's rules (protect_region: the parents as hospitals,
    their breakdown rows as wards): a shown parent never has exactly one hidden breakdown row (the parent
    less the shown ones would give it) and a hidden parent always has one (else they add up to it).
    `total_of(parent)`: the published sum the parents add up to (the performed comparison's region × phase),
    among which no parent is hidden alone. Returns copies."""
    out = [dict(r) for r in rows]
    key = lambda r: (r["region_code"], r["mvo_group"], r["phase"])  # noqa: E731
    children: dict[tuple, list[dict]] = {}
    for r in out:
        if not open_region(r["region_code"]):
            children.setdefault(key(r), []).append(r)
    totals: dict = {}
    for p in parents:
        if key(p) in children:
            totals.setdefault(total_of(p), []).append(p)
    for k in children.keys() - {key(p) for p in parents}:  # no unsplit row given: protect against their sum
        sums = {f: sum(r.get(f) or 0 for r in children[k]) for f in counts}
        p = {"region_code": k[0], "mvo_group": k[1], "phase": k[2], **sums}
        totals.setdefault(total_of(p), []).append(p)
    unit = Unit("breakdown", counts, counts)
    for ps in totals.values():
        hospitals = [{"id": repr(key(p)), **{f: p.get(f) for f in counts}} for p in ps]
        wards = [{"id": f"{repr(key(p))}/{i}", "hospital_id": repr(key(p)), **{f: r.get(f) for f in counts}, "row": r}
                 for p in ps for i, r in enumerate(children[key(p)])]
        hidden_parents = {("h", h["id"]) for h in hospitals if h[counts[0]] is None}
        hidden = protect_region(hospitals, wards, unit, threshold, hidden_parents)
        for w in wards:
            if ("w", w["id"]) in hidden:
                w["row"].update(dict.fromkeys(f for f in (*counts, *blank) if f in w["row"]))
    return out
