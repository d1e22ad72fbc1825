"""The ICU picture (IVA-läget, issue 14): staffed and occupied ICU beds, free beds and overcrowding per
region, healthcare region and nation, point by point from the ward history — the daily national
situation picture the ICU registry used to put together by hand. No I/O.

ICU beds are the beds of the wards of kind `icu` (every care type), kept out of general capacity
elsewhere (INFORMATION_MODEL §3). Free beds and overcrowding are summed per ward and never netted:
an ICU 2 over and one with 3 free make a region with 3 free and 2 overcrowded.
"""
from __future__ import annotations

from typing import Iterable

from schemas import reference

ICU = "icu"
ICU_COUNTS = ("staffed_beds", "occupied", "free_beds", "overcrowded", "wards")


def is_icu(ward: dict) -> bool:
    return ward.get("ward_kind") == ICU


def ward_counts(ward: dict) -> dict:
    """One ICU ward's contribution: its staffed and occupied beds (occupied under the leave policy, as
    the ward state holds it), free beds max(0, staffed − occupied), overcrowded max(0, occupied − staffed)."""
    staffed, occupied = int(ward.get("staffed_beds") or 0), int(ward.get("occupied") or 0)
    return {"staffed_beds": staffed, "occupied": occupied, "free_beds": max(0, staffed - occupied),
            "overcrowded": max(0, occupied - staffed), "wards": 1}


def _row(level: str, uid: str, name: str) -> dict:
    return {"level": level, "id": uid, "name": name, **dict.fromkeys(ICU_COUNTS, 0)}


def _finish(row: dict) -> dict:
    s = row["staffed_beds"]
    row["occupancy_pct"] = round(100.0 * row["occupied"] / s, 1) if s else None
    return row


def picture(wards: Iterable[dict]) -> list[dict]:
    """The ICU picture of one instant from the wards as they were then (any kind: the ICU wards are
    picked here): one row for the nation, one per healthcare region (every member region counted, so
    Halland's beds are within both of its healthcare regions and these rows do not add up to the
    nation), one per region (all 21, zeros included)."""
    regions = reference.regions()
    nation = _row("nation", "SE", "Sverige / Sweden")
    by_hr = {h: _row("healthcare_region", h, f"Sjukvårdsregion {h}") for h in reference.healthcare_regions()}
    by_region = {c: _row("region", c, r.name) for c, r in sorted(regions.items())}
    for w in wards:
        if not is_icu(w):
            continue
        counts = ward_counts(w)
        region = regions.get(w["region_code"])
        targets = [nation, by_region.get(w["region_code"])]
        targets += [by_hr.get(h) for h in (region.healthcare_regions if region else ())]
        for t in targets:
            if t is not None:
                for c in ICU_COUNTS:
                    t[c] += counts[c]
    return [_finish(r) for r in (nation, *by_hr.values(), *by_region.values())]
