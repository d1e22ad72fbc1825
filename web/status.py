"""Live status at every level (ward → hospital → region → healthcare region → nation) and escalation.
Plain functions over ward rows; the API feeds them from ClickHouse and web/access.py scopes them."""
from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable

from streams.domain.escalation import Escalation
from schemas import reference
from streams.domain.bedstats import unit_of  # one naming of a ward's unit at each level
from web.suppression import suppress_status

LEVELS = ("nation", "healthcare_region", "region", "hospital", "ward")
COUNTS = ("staffed_beds", "occupied", "present", "on_leave", "free_beds", "overcrowded", "outliers",
          "discharge_ready", "out_of_area_in", "out_of_area_in_census", "home_unknown")


def ward_free_beds(staffed: int, occupied: int) -> int:
    """A ward's free beds (lediga vårdplatser): its staffed beds no patient occupies, never below zero; the
    patients beyond its staffed beds are its overcrowding. Every level sums its wards' free beds and their
    overcrowding apart, so one ward's overcrowding never cancels another ward's free beds."""
    return max(0, staffed - occupied)


def healthcare_region_of(region_code: str) -> str:
    r = reference.regions().get(region_code)
    # Halland belongs to two healthcare regions; totals count it once, in the first listed.
    return r.healthcare_region if r else "okänd"


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    return t.replace(tzinfo=dt.timezone.utc) if t is not None and t.tzinfo is None else t


def status_rows(wards: Iterable[dict], level: str, now: dt.datetime, *, stale_after: dt.timedelta,
                escalation: Escalation, matrix: dict[tuple[str, str], int] | None = None,
                senders: dict[str, dt.datetime] | None = None) -> list[dict]:
    """Aggregate current ward rows to `level`. ICU wards are shown at ward level but kept out of the
    general capacity totals above it (INFORMATION_MODEL §3). Free beds and overcrowding are each summed
    over the wards, never netted. With a `matrix` (open out-of-area stays per home × treating region),
    region rows and above take out-of-area in and out from it; below, and without one, "in" is the ADT
    wards' count. Census-only wards' out-of-area counts are `out_of_area_in_census` at every level. A ward
    is fresh while its own last event or its sender's last event (any event: the link is alive) is within
    `stale_after`."""
    senders = senders or {}
    groups: dict[str, dict] = {}
    for w in wards:
        if level != "ward" and w.get("ward_kind") == "icu":
            continue
        gid, name = unit_of(level, w)
        g = groups.get(gid)
        if g is None:
            g = groups[gid] = {"id": gid, "name": name, **{c: 0 for c in COUNTS}, "wards": 0, "fresh": 0,
                               "last_event_at": None}
            if level in ("region", "hospital", "ward"):
                g["region_code"] = w["region_code"]
                g["healthcare_region"] = healthcare_region_of(w["region_code"])
            if level == "ward":
                g.update(hospital_id=w["hospital_id"], ward_kind=w.get("ward_kind"), care_type=w.get("care_type"),
                         mvo_code=w.get("mvo_code"), source=w.get("source"))
            if level == "hospital":
                g["hospital_id"] = w["hospital_id"]
        for c in ("staffed_beds", "occupied", "present", "on_leave", "overcrowded", "outliers", "discharge_ready",
                  "home_unknown"):
            g[c] += int(w.get(c) or 0)
        g["free_beds"] += ward_free_beds(int(w.get("staffed_beds") or 0), int(w.get("occupied") or 0))
        # A census-only ward reports a count with no home regions: kept apart, so that "in" (from the
        # admissions' home municipalities) balances "out" nationally.
        ooa = "out_of_area_in_census" if w.get("source") == "census" else "out_of_area_in"
        g[ooa] += int(w.get("out_of_area_in") or 0)
        g["wards"] += 1
        last = _utc(w.get("last_event_at"))
        heard = max((t for t in (last, senders.get(w.get("sender_id") or "")) if t is not None), default=None)
        if heard is not None and now - heard <= stale_after:
            g["fresh"] += 1
        if last is not None and (g["last_event_at"] is None or last > g["last_event_at"]):
            g["last_event_at"] = last
    rows = []
    for g in groups.values():
        staffed, occupied = g["staffed_beds"], g["occupied"]
        occ_pct = round(100.0 * occupied / staffed, 1) if staffed else None
        over_per_100 = 100.0 * g["overcrowded"] / staffed if staffed else (100.0 if g["overcrowded"] else 0.0)
        lvl, rule = escalation.level(occ_pct, over_per_100)
        out_of_area_out = None
        if matrix is not None and level in ("region", "healthcare_region", "nation"):
            # In and out from the same matrix of open stays (ICU wards included), so the nation's in equals
            # its out and a region's in is the matrix column a viewer can add up; a healthcare region's
            # figures are its regions' sums.
            inside = _regions_of(level, g["id"], matrix)
            g["out_of_area_in"] = sum(n for (home, treat), n in matrix.items() if treat in inside and treat != home)
            out_of_area_out = sum(n for (home, treat), n in matrix.items() if home in inside and treat != home)
        last = g.pop("last_event_at")
        wards, fresh = g.pop("wards"), g.pop("fresh")
        rows.append({
            **g,
            "occupancy_pct": occ_pct,
            "out_of_area_out": out_of_area_out,
            "escalation_level": lvl,
            "escalation_rule": rule,
            "last_event_at": last.isoformat() if last else None,
            "stale": fresh == 0,
            "coverage": round(fresh / wards, 4) if wards else 0.0,
            "wards": wards,
        })
    return sorted(rows, key=lambda r: r["id"])


def _regions_of(level: str, gid: str, matrix: dict[tuple[str, str], int]) -> set[str]:
    if level == "region":
        return {gid}
    members = {r for r, _ in matrix} | {t for _, t in matrix}
    return {r for r in members if level == "nation" or healthcare_region_of(r) == gid}


DETAIL_LEVELS = ("hospital", "ward")


def detail_rows(wards: list[dict], now: dt.datetime, *, stale_after: dt.timedelta, escalation: Escalation,
                senders: dict[str, dt.datetime] | None, threshold: int, leave_policy: str,
                open_region: Callable[[str], bool]) -> dict[str, list[dict]]:
    """Hospital and ward rows as a viewer sees them: small counts hidden (with their complements) in every
    region it does not see in full. Built from every ward given, whatever part the caller then shows:
    a complement depends on the siblings, and the same cell must be hidden in every answer."""
    rows = {level: status_rows(wards, level, now, stale_after=stale_after, escalation=escalation, senders=senders)
            for level in DETAIL_LEVELS}
    if all(open_region(w["region_code"]) for w in wards):
        return rows
    hospitals, ward_rows = suppress_status(rows["hospital"], rows["ward"], threshold, leave_policy=leave_policy,
                                           open_region=open_region)
    return {"hospital": hospitals, "ward": ward_rows}
