"""The occupancy forecast as a viewer sees it (GET /api/v1/forecast): the wards' forecasts
(streams/domain/forecast.py) summed to the unit asked for, with the rolling backtest's error beside, and
the scope and small-number suppression of /api/v1/status. No I/O of its own: the API reads through
sinks/forecast.py and queries.current_wards."""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np

from sinks import forecast as history_sql
from sinks.clickhouse import ClickHouse
from streams.domain import forecast as fc
from streams.domain.bedstats import unit_of
from web import texts
from web.suppression import Unit, protect_region, small

HISTORY_TTL = 300.0  # seconds: the history, the rhythm and the backtest are read again this often
SERIES = ("occupied", "overcrowded", "free_beds", "occupancy_pct")
ERRORS = ("mae", "baseline_mae", "overcrowded_mae", "overcrowded_baseline_mae", "free_beds_mae",
          "free_beds_baseline_mae")


@dataclass
class History:
    """What a forecast needs besides the current state, read at `read_at`: the wards' grid of hours, the
    rhythm of its last weeks and the rolling backtest."""
    read_at: dt.datetime
    hours: fc.WardHours
    rhythm: fc.Rhythm
    backtest: fc.Backtest


def read_history(db: ClickHouse, now: dt.datetime, tz: str) -> History:
    n = fc.grid_hours()
    start = fc.floor_hour(now) - n * fc.HOUR
    base, changes = history_sql.ward_hours(db, start, n)
    h = fc.build_hours(start, n, base, changes, tz)
    return History(now, h, fc.rhythm(h, h.hours), fc.backtest(h, fc.backtest_targets(h)))


def _lowest_small(values, threshold: int) -> int:
    """The smallest whole number 1..threshold a forecast rounds to at any hour, else 0."""
    rounded = [round(float(v)) for v in values]
    return min((v for v in rounded if small(v, threshold)), default=0)


FORECAST_UNIT = Unit("forecast", SERIES, ("occupied", "low_occupied", "low_overcrowded"))


def forecast_answer(history: History, wards: list[dict], level: str, unit: str | None, region: str | None,
                    hours: int, now: dt.datetime, tz: str, threshold: int, open_region,
                    hidden_now: set[tuple[str, str]]) -> dict:
    """The answer for the wards a viewer may see (`wards`: current ward rows, already scoped). Above ward
    level ICU wards are left out, as status leaves them out. Below region level, in each region the viewer
    does not see in full (`open_region`), a unit's whole forecast and error are hidden when its current
    count is hidden by status (`hidden_now`: ('h'|'w', id)) or a forecast hour of its occupied beds or
    overcrowding rounds to 1..threshold, with complements as status hides them (web/suppression.py)."""
    h = history.hours
    row_of = {w: i for i, w in enumerate(h.ward_ids)}
    # region= above hospital level: that region's wards make the unit, as status reads it (below, the rows
    # are filtered after the suppression, which needs the region's every ward)
    wards = [w for w in wards if w["ward_id"] in row_of
             and (region is None or level in ("hospital", "ward") or w["region_code"] == region)]
    idx = np.array([row_of[w["ward_id"]] for w in wards], dtype=np.int64)
    origin = fc.floor_hour(now)
    slots = fc.hour_slots(origin, hours, tz)
    occupied = np.array([float(w["occupied"] or 0) for w in wards])
    ready = np.array([float(w["discharge_ready"] or 0) for w in wards])
    staffed = np.array([float(w["staffed_beds"] or 0) for w in wards])
    r = history.rhythm
    sub = fc.Rhythm(*(x[idx] if len(idx) else np.zeros((0, fc.WEEK)) for x in (
        r.arrivals, r.departures, r.occupied, r.ready, r.staffed)))
    paths = fc.path(sub, occupied, ready, slots) if len(wards) else np.zeros((0, hours))
    staffed_ahead = fc.staffed_path(sub, staffed, slots) if len(wards) else np.zeros((0, hours))
    bt = history.backtest

    over_w = np.maximum(paths - staffed_ahead, 0.0)  # per ward, then summed: never netted
    free_w = np.maximum(staffed_ahead - paths, 0.0)

    def unit_rows(lv: str, selected) -> list[dict]:
        groups: dict[str, dict] = {}
        for i, w in enumerate(wards):
            if lv != "ward" and w.get("ward_kind") == "icu":
                continue
            gid, name = unit_of(lv, w)
            g = groups.setdefault(gid, {"id": gid, "name": name, "members": []})
            if lv in ("region", "hospital", "ward"):
                g["region_code"] = w["region_code"]
            if lv == "ward":
                g["hospital_id"], g["ward_kind"] = w["hospital_id"], w.get("ward_kind")
            if lv == "hospital":
                g["hospital_id"] = w["hospital_id"]
            g["members"].append(i)
        rows = sorted((g for g in groups.values() if selected(g)), key=lambda g: g["id"])
        members = [g.pop("members") for g in rows]
        if not rows:
            return rows
        sums = {k: fc.sum_units(x, members) for k, x in (("occupied", paths), ("overcrowded", over_w),
                                                          ("free_beds", free_w), ("staffed", staffed_ahead))}
        with np.errstate(divide="ignore", invalid="ignore"):
            pct = np.where(sums["staffed"] > 0, 100.0 * sums["occupied"] / sums["staffed"], np.nan)
        now_sums = {k: fc.sum_units(x, members) for k, x in (("staffed", staffed), ("occupied", occupied))}
        errors = fc.errors_of_units(bt, [idx[m] for m in members])
        for u, g in enumerate(rows):
            # the occupied beds now (hidden with the forecast); not the discharge-ready (status hides them apart)
            g.update(staffed_beds=int(now_sums["staffed"][u]), occupied_now=int(now_sums["occupied"][u]),
                     **{k: np.round(sums[k][u], 1).tolist() for k in ("occupied", "overcrowded", "free_beds")},
                     staffed_beds_ahead=np.round(sums["staffed"][u], 1).tolist(),
                     occupancy_pct=[None if math.isnan(v) else v for v in np.round(pct[u], 1).tolist()],
                     backtest=[{k: (round(v, 2) if k in ERRORS and v is not None else v) for k, v in e.items()}
                               for e in errors[u]])
        return rows

    def wanted(g: dict) -> bool:
        return (unit is None or g["id"] == unit) and (region is None or g.get("region_code", region) == region)

    if level in ("hospital", "ward"):
        every = {lv: unit_rows(lv, lambda g: True) for lv in ("hospital", "ward")}
        hidden = _hidden(every["hospital"], every["ward"], threshold, open_region, hidden_now)
        kind = "h" if level == "hospital" else "w"
        rows = [r for r in every[level] if wanted(r)]
        for r in rows:
            if (kind, r["id"]) in hidden:
                r.update({f: [None] * hours for f in SERIES}, occupied_now=None,
                         backtest=[{**e, **dict.fromkeys(ERRORS)} for e in r["backtest"]])
    else:
        rows = unit_rows(level, wanted)
    return {"level": level, "id": unit, "origin": origin, "hours": hours, "timezone": tz,
            "times": [origin + k * fc.HOUR for k in range(1, hours + 1)],
            "history_read_at": history.read_at, "model": model_description(), "series": rows}


def _hidden(hospitals: list[dict], wards: list[dict], threshold: int, open_region,
            hidden_now: set[tuple[str, str]]) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    regions = {r["region_code"] for r in (*hospitals, *wards)}
    for region in regions:
        if open_region(region):
            continue

        def proxy(r: dict) -> dict:
            return {**r, "occupied": r["occupied_now"], "low_occupied": _lowest_small(r["occupied"], threshold),
                    "low_overcrowded": _lowest_small(r["overcrowded"], threshold)}
        hs = [proxy(r) for r in hospitals if r["region_code"] == region]
        ws = [proxy(r) for r in wards if r["region_code"] == region]
        out |= protect_region(hs, ws, FORECAST_UNIT, threshold, hidden_now)
    return out


def model_description() -> dict:
    """The model's constants, so an answer says what it assumed."""
    return {"history_weeks": fc.HISTORY_WEEKS, "rhythm": texts.paired("api.forecast.rhythm"),
            "discharge_ready_leave_hours": fc.READY_LEAVE_HOURS,
            "staffed_beds": texts.paired("api.forecast.staffed"),
            "backtest_days": fc.BACKTEST_DAYS, "backtest_every_hours": fc.BACKTEST_EVERY,
            "baseline": texts.paired("api.forecast.baseline"),
            "horizons": list(fc.HORIZONS)}
