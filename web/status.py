"""Live status at every level (ward → hospital → region → healthcare region → nation) and escalation.
Plain functions over ward rows; the API feeds them from ClickHouse and web/access.py scopes them."""
from __future__ import annotations

import datetime as dt
from typing import Callable, Iterable

from streams.domain.escalation import Escalation
from schemas import reference
from web.suppression import suppress_status

LEVELS = ("nation", "healthcare_region", "region", "hospital", "ward")
COUNTS = ("staffed_beds", "occupied", "present", "on_leave", "overcrowded", "outliers", "discharge_ready",
          "out_of_area_in")


def healthcare_region_of(region_code: str) -> str:
    r = reference.regions().get(region_code)
    # Halland belongs to two healthcare regions; totals count it once, in the first listed.
    return r.healthcare_region if r else "okänd"


def _key(level: str, w: dict) -> tuple[str, str]:
    if level == "nation":
        return "SE", "Sverige / Sweden"
    if level == "healthcare_region":
        h = healthcare_region_of(w["region_code"])
        return h, f"Sjukvårdsregion {h}"
    if level == "region":
        r = reference.regions().get(w["region_code"])
        return w["region_code"], r.name if r else w["region_code"]
    if level == "hospital":
        return w["hospital_id"], w["hospital_name"] or w["hospital_id"]
    return w["ward_id"], w["ward_name"] or w["ward_id"]


def _utc(t: dt.datetime | None) -> dt.datetime | None:
    return t.replace(tzinfo=dt.timezone.utc) if t is not None and t.tzinfo is None else t


def status_rows(wards: Iterable[dict], level: str, now: dt.datetime, *, stale_after: dt.timedelta,
                escalation: Escalation, matrix: dict[tuple[str, str], int] | None = None,
                senders: dict[str, dt.datetime] | None = None) -> list[dict]:
    """Aggregate current ward rows to `level`. ICU wards are shown at ward level but kept out of the
    general capacity totals above it (INFORMATION_MODEL §3). A ward is fresh while its own last event
    or its sender's last event (any event: the link is alive) is within `stale_after`."""
    senders = senders or {}
    groups: dict[str, dict] = {}
    for w in wards:
        if level != "ward" and w.get("ward_kind") == "icu":
            continue
        gid, name = _key(level, w)
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
        for c in COUNTS:
            g[c] += int(w.get(c) or 0)
        g["wards"] += 1
        last = _utc(w.get("last_event_at"))
        heard = max((t for t in (last, senders.get(w.get("sender_id") or "")) if t is not None), default=None)
        if heard is not None and now - heard <= stale_after:
            g["fresh"] += 1
        if last is not None and (g["last_event_at"] is None or last > g["last_event_at"]):
            g["last_event_at"] = last
    rows = []
    matrix = matrix or {}
    for g in groups.values():
        staffed, occupied = g["staffed_beds"], g["occupied"]
        occ_pct = round(100.0 * occupied / staffed, 1) if staffed else None
        over_per_100 = 100.0 * g["overcrowded"] / staffed if staffed else (100.0 if g["overcrowded"] else 0.0)
        lvl, rule = escalation.level(occ_pct, over_per_100)
        out_of_area_out = None
        if level == "region":
            out_of_area_out = sum(n for (home, treat), n in matrix.items() if home == g["id"] and treat != home)
        elif level in ("healthcare_region", "nation"):
            members = {r for r, _ in matrix} | {t for _, t in matrix}
            inside = {r for r in members if level == "nation" or healthcare_region_of(r) == g["id"]}
            out_of_area_out = sum(n for (home, treat), n in matrix.items() if home in inside and treat != home)
        last = g.pop("last_event_at")
        wards, fresh = g.pop("wards"), g.pop("fresh")
        rows.append({
            **g,
            "free_beds": max(0, staffed - occupied),
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
