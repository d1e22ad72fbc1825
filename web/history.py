"""The trends (status/history, escalation/history, the ICU picture): a trend's points in time and the wards
as of each point, replayed from the ward history (sinks/queries.py ward_status_steps)."""
from __future__ import annotations

import datetime as dt

from web.access import BadRequest


HISTORY_FIELDS = ("occupancy_pct", "occupied", "staffed_beds", "overcrowded", "discharge_ready", "escalation_level")
HISTORY_MAX_POINTS = 300
HISTORY_STEPS = (5, 15, 30, 60, 180, 360, 720, 1440)  # minutes: the default is the finest that fits


def history_times(start: dt.datetime, to: dt.datetime, step_minutes: int | None) -> list[dt.datetime]:
    """A trend's points, ending at `to` (so the last is the live figure), `step_minutes` apart (by default the
    finest of HISTORY_STEPS that fits), none before `start`; BadRequest for an empty or too long range."""
    if start >= to:
        raise BadRequest.text("api.range.order")
    span = to - start
    if step_minutes is None:
        step_minutes = next((m for m in HISTORY_STEPS if span // dt.timedelta(minutes=m) < HISTORY_MAX_POINTS),
                            HISTORY_STEPS[-1])
    step = dt.timedelta(minutes=step_minutes)
    n = span // step + 1
    if n > HISTORY_MAX_POINTS:
        raise BadRequest.text("api.range.points", n=n, max=HISTORY_MAX_POINTS)
    return [to - step * (n - 1 - k) for k in range(n)]


def ward_timeline(base: list[dict], steps: list[tuple[int, dict]], points: int):
    """The wards as of each point: `base` as of point 0, then each `(k, row)` of queries.ward_status_steps
    replacing its ward's row from point k on. Yields one list of ward rows per point."""
    current = {w["ward_id"]: w for w in base}
    by_point: dict[int, list[dict]] = {}
    for k, row in steps:
        by_point.setdefault(k, []).append(row)
    for k in range(points):
        for row in by_point.get(k, ()):
            current[row["ward_id"]] = row
        yield list(current.values())


TREND_SUMS = ("staffed_beds", "occupied", "present", "on_leave", "overcrowded", "outliers", "discharge_ready",
              "out_of_area_in")
TREND_COLUMNS = ("ward_id", "region_code", "ward_kind", *TREND_SUMS)  # what region_timeline reads


def region_timeline(base: list[dict], steps: list[tuple[int, dict]], points: int):
    """As ward_timeline, for the levels above hospital: the wards as of each point summed per region, one row
    per region, ICU wards left out (status_rows leaves them out above ward level), kept up to date by each
    ward's change. status_rows over these rows gives the counts, occupancy and escalation level it gives over
    the wards themselves (not free beds, freshness or out-of-area: no trend shows them)."""
    current: dict[str, dict] = {}
    sums: dict[str, dict] = {}
    wards: dict[str, int] = {}

    def add(w: dict, sign: int) -> None:
        if w.get("ward_kind") == "icu":
            return
        region = w["region_code"]
        s = sums.setdefault(region, {"ward_id": region, "region_code": region, "ward_kind": "general",
                                     "source": "adt", **dict.fromkeys(TREND_SUMS, 0)})
        for f in TREND_SUMS:
            s[f] += sign * (w[f] or 0)
        wards[region] = wards.get(region, 0) + sign

    by_point: dict[int, list[dict]] = {}
    for k, row in steps:
        by_point.setdefault(k, []).append(row)
    for w in base:
        current[w["ward_id"]] = w
        add(w, 1)
    for k in range(points):
        for row in by_point.get(k, ()):
            old = current.get(row["ward_id"])
            if old is not None:
                add(old, -1)
            current[row["ward_id"]] = row
            add(row, 1)
        yield [dict(s) for region, s in sums.items() if wards.get(region)]


def history_series(wards_per_point, times: list[dt.datetime], rows_at, unit: str | None = None) -> list[dict]:
    """One series per unit: `rows_at(wards, at)` (the status rows a viewer gets, suppression applied) at each
    point, HISTORY_FIELDS as lists over `times`; null where the unit had no ward yet or a count is hidden.
    `unit`: that unit only."""
    series: dict[str, dict] = {}
    for k, (wards, at) in enumerate(zip(wards_per_point, times)):
        for r in rows_at(wards, at):
            if unit is not None and str(r["id"]) != unit:
                continue
            s = series.get(r["id"])
            if s is None:
                s = series[r["id"]] = {"id": r["id"], "name": r["name"], "region_code": r.get("region_code"),
                                       **{f: [None] * len(times) for f in HISTORY_FIELDS}}
            s["name"] = r["name"]  # the newest name
            for f in HISTORY_FIELDS:
                s[f][k] = r.get(f)
    return sorted(series.values(), key=lambda s: s["id"])
