"""Monthly bed statistics in the national form (issue 12, "what is missing"). Plain functions, no I/O.

A month is the calendar month in Europe/Stockholm: from local midnight on its first day to local
midnight on the first day of the next (743 or 745 hours in the DST months). Per ward the SQL
(sinks/queries.py, ward_month) integrates the ward-status history over that span and reads it at the
daily sample instants; these functions turn the sums into the measures and roll them up.

- **Daily count** (dagligt antal) of overcrowded, outliers and discharge-ready patients: the ward's state
  at SAMPLE_HOUR:00 local time each calendar day (its newest history row at or before that instant);
  the monthly figure is the mean of the month's daily counts (sum ÷ calendar days).
- **Staffed beds** (disponibla vårdplatser): the time-weighted mean over the month.
- **Bed-days** (vårddagar): occupied beds integrated over the month, a calendar day counting as one day
  (time-weighted mean occupied × calendar days).
- **Occupancy rate** (beläggningsgrad): bed-days ÷ (staffed beds × calendar days).
- **Per 100 staffed beds**: the monthly mean daily count × 100 ÷ staffed beds (time-weighted mean);
  the discharge-ready share of staffed beds is the same ratio as a fraction.
- **Mean days as discharge-ready** (medeltid som utskrivningsklar): of the stays discharged in the month
  that had been marked discharge-ready, the mean time from the first mark to the discharge, in days of 24 h;
  counted at the ward of discharge.
A unit's figures are sums over its wards (means add), apart per line: somatic, psychiatric and ICU
(IVA, any care type) — never mixed. Before a ward's first history row it had no beds and no patients.
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from schemas import reference

SAMPLE_HOUR = 8  # the morning capacity meeting's hour: the daily counts are read then
LEVELS = ("nation", "healthcare_region", "region", "hospital", "ward")
LINES = ("somatic", "psychiatric", "icu")
# per ward, from the SQL: integrals in bed-milliseconds, and sums over the daily sample instants
SUMS = ("staffed_ms", "occupied_ms", "overcrowded_days", "outliers_days", "discharge_ready_days",
        # the stays discharged in the month that had been discharge-ready, and their time as such (sinks/queries.py
        # discharge_ready_stays; a ward row without them has none)
        "discharge_ready_stays", "discharge_ready_ms")
DAY_MS = 86_400_000


def month_bounds(month: dt.date, tz: str = "Europe/Stockholm") -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of the calendar month in `tz`, as UTC instants."""
    first = month.replace(day=1)
    nxt = (first + dt.timedelta(days=32)).replace(day=1)
    z = ZoneInfo(tz)
    return (dt.datetime.combine(first, dt.time(0), z).astimezone(dt.timezone.utc),
            dt.datetime.combine(nxt, dt.time(0), z).astimezone(dt.timezone.utc))


def days_in(month: dt.date) -> int:
    first = month.replace(day=1)
    return ((first + dt.timedelta(days=32)).replace(day=1) - first).days


def sample_instants(month: dt.date, tz: str = "Europe/Stockholm", hour: int = SAMPLE_HOUR) -> list[dt.datetime]:
    """The daily count's instants: `hour`:00 local time on each calendar day of the month, as UTC."""
    first, z = month.replace(day=1), ZoneInfo(tz)
    return [dt.datetime.combine(first + dt.timedelta(days=i), dt.time(hour), z).astimezone(dt.timezone.utc)
            for i in range(days_in(month))]


def line_of(care_type: str | None, ward_kind: str | None) -> str:
    """The statistics line of a ward: ICU by its kind, whatever its care type; else its care type."""
    if ward_kind == "icu":
        return "icu"
    return "psychiatric" if care_type == "psychiatric" else "somatic"


def unit_of(level: str, w: dict) -> tuple[str, str]:
    """(id, name) of the unit a ward row belongs to at `level`. Halland, in two healthcare regions, is
    counted once, in the first listed (as the status API does)."""
    if level == "nation":
        return "SE", "Sverige / Sweden"
    region = reference.regions().get(w["region_code"])
    if level == "healthcare_region":
        h = region.healthcare_region if region else "okänd"
        return h, f"Sjukvårdsregion {h}"
    if level == "region":
        return w["region_code"], region.name if region else w["region_code"]
    if level == "hospital":
        return w["hospital_id"], w.get("hospital_name") or w["hospital_id"]
    return w["ward_id"], w.get("ward_name") or w["ward_id"]


def population_of(level: str, unit_id: str) -> int | None:
    """Inhabitants of a region-level unit (schemas/reference: rounded, about 2023); None below region."""
    regions = reference.regions()
    if level == "nation":
        return sum(r.population for r in regions.values())
    if level == "healthcare_region":
        return sum(r.population for r in regions.values() if r.healthcare_region == unit_id) or None
    if level == "region":
        return regions[unit_id].population if unit_id in regions else None
    return None


def _ratio(num: float, den: float, scale: float = 1.0, digits: int = 4) -> float | None:
    return round(scale * num / den, digits) if den else None


def measures(sums: dict, month_ms: int, days: int, population: int | None = None) -> dict:
    """The published figures of one unit and line from its summed ward integrals (SUMS)."""
    staffed = sums["staffed_ms"] / month_ms if month_ms else 0.0  # time-weighted mean staffed beds
    bed_days = sums["occupied_ms"] / month_ms * days if month_ms else 0.0
    daily = {k: sums[f"{k}_days"] / days if days else 0.0 for k in ("overcrowded", "outliers", "discharge_ready")}
    return {
        "staffed_beds": round(staffed, 2),
        "bed_days": round(bed_days, 2),
        "occupancy_rate": _ratio(sums["occupied_ms"], sums["staffed_ms"]),
        "overcrowded": round(daily["overcrowded"], 2),
        "overcrowded_per_100": _ratio(daily["overcrowded"], staffed, 100, 2),
        "outliers": round(daily["outliers"], 2),
        "outliers_per_100": _ratio(daily["outliers"], staffed, 100, 2),
        "discharge_ready": round(daily["discharge_ready"], 2),
        "discharge_ready_share": _ratio(daily["discharge_ready"], staffed),
        "staffed_beds_per_1000": _ratio(staffed, population, 1000, 3) if population else None,
        "discharge_ready_stays": sums["discharge_ready_stays"],
        "discharge_ready_mean_days": _ratio(sums["discharge_ready_ms"], sums["discharge_ready_stays"] * DAY_MS, 1, 2),
    }


def roll_up(wards: list[dict], level: str, month: dt.date, tz: str = "Europe/Stockholm",
            with_sums: bool = False) -> list[dict]:
    """Rows of `level` × line from per-ward sums (each ward row: ward_id, hospital_id, region_code, names,
    care_type, ward_kind and SUMS). Somatic, psychiatric and ICU lines apart at every level. `with_sums`:
    the rows keep their SUMS too (the year is made from them)."""
    start, end = month_bounds(month, tz)
    month_ms = int((end - start).total_seconds() * 1000)
    days = days_in(month)
    groups: dict[tuple[str, str], dict] = {}
    for w in wards:
        uid, name = unit_of(level, w)
        line = line_of(w.get("care_type"), w.get("ward_kind"))
        g = groups.get((uid, line))
        if g is None:
            g = groups[(uid, line)] = {"id": uid, "name": name, "line": line, "wards": 0, **dict.fromkeys(SUMS, 0)}
            if level in ("region", "hospital", "ward"):
                g["region_code"] = w["region_code"]
            if level in ("hospital", "ward"):
                g["hospital_id"] = w["hospital_id"]
        for k in SUMS:
            g[k] += int(w.get(k) or 0)
        g["wards"] += 1
    rows = []
    for (uid, line), g in sorted(groups.items(), key=lambda kv: (kv[0][0], LINES.index(kv[0][1]))):
        sums = {k: g.pop(k) for k in SUMS}
        rows.append({**g, **measures(sums, month_ms, days, population_of(level, uid)), **(sums if with_sums else {})})
    return rows


# The year's figures (årsvärden) from its months: a mean daily count, its rate per 100 or share, and staffed
# beds are the mean of the months' figures (each month weighing the same, as the national tables do); a
# month without the unit counts as 0 beds and 0 patients in the means of counts and staffed beds, and is
# left out of the means of rates (no beds, no rate). Sums (bed-days, stays) add; the occupancy rate and the
# mean days as discharge-ready are recomputed from the year's sums.
YEAR_MEAN_COUNTS = ("staffed_beds", "overcrowded", "outliers", "discharge_ready")
YEAR_MEAN_RATES = ("overcrowded_per_100", "outliers_per_100", "discharge_ready_share")


def year_roll_up(months: list[tuple[dt.date, list[dict]]], level: str, tz: str = "Europe/Stockholm") -> list[dict]:
    """Rows of `level` × line for the months given (each: the month and its per-ward sums, as roll_up takes)."""
    per_month = [{(r["id"], r["line"]): r for r in roll_up(wards, level, m, tz, with_sums=True)} for m, wards in months]
    keys = sorted(set().union(*per_month), key=lambda k: (k[0], LINES.index(k[1])))
    n = len(months)
    rows = []
    for key in keys:
        found = [pm[key] for pm in per_month if key in pm]
        first = found[0]
        total = {k: sum(r[k] for r in found) for k in SUMS}
        row = {k: first[k] for k in ("id", "name", "line", "region_code") if k in first}
        row["months"] = len(found)
        row["wards"] = max(r["wards"] for r in found)
        for k in YEAR_MEAN_COUNTS:
            row[k] = round(sum(r[k] for r in found) / n, 2) if n else 0.0
        row["bed_days"] = round(sum(r["bed_days"] for r in found), 2)
        row["occupancy_rate"] = _ratio(total["occupied_ms"], total["staffed_ms"])
        for k in YEAR_MEAN_RATES:
            rates = [r[k] for r in found if r[k] is not None]
            row[k] = round(sum(rates) / len(rates), 4 if k.endswith("share") else 2) if rates else None
        population = population_of(level, key[0])
        row["staffed_beds_per_1000"] = _ratio(row["staffed_beds"], population, 1000, 3) if population else None
        row["discharge_ready_stays"] = total["discharge_ready_stays"]
        row["discharge_ready_mean_days"] = _ratio(total["discharge_ready_ms"], total["discharge_ready_stays"] * DAY_MS, 1, 2)
        rows.append(row)
    return rows
