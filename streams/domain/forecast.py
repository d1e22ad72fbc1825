"""Occupancy forecast (beläggningsprognos) for the next 24–72 hours, and its own error. Plain functions, no I/O.

The model, per ward, hour by hour (INFORMATION_MODEL §3, "Forecast"):

- **Rhythm**: over the last HISTORY_WEEKS weeks, for each local (Europe/Stockholm) weekday × hour of day
  (a *slot*, 168 of them), the mean number of patients who came (`arrivals`: every rise of the ward's
  occupied beds — admissions, transfers in, returns from leave; a census its net rise), the mean number
  who left (`departures`: every fall), the mean occupied beds and the mean discharge-ready patients at
  the hour's start. Only the hours since the ward's first history row count.
- **Path**: from the occupied beds now, each hour `next = now × (1 − hazard[slot]) + arrivals[slot]`, where
  `hazard = departures ÷ occupied` of the slot (the share of its patients a ward lets go in that hour of
  the week). A ward whose history repeats one week exactly is forecast exactly; a ward above its usual
  level comes back towards it as fast as its patients leave.
- **Discharge-ready** (utskrivningsklara): the history's departures already hold the usual number of
  them leaving. The patients ready now beyond the usual number for this hour of the week (or fewer:
  negative) are taken out of the flow above and leave evenly over the next READY_LEAVE_HOURS hours.
- **Staffed beds**: as now, changed as they usually change from this hour of the week to the forecast
  hour (the rhythm's mean staffed beds per slot: weekend and other planned closures come back every week).
  Overcrowding and free beds of a forecast hour are each ward's forecast occupied beds against its
  forecast staffed beds, `max(0, occupied − staffed)` and `max(0, staffed − occupied)`, summed over the
  unit's wards, never netted.

Its error: a rolling backtest — the forecasts the same model (rhythm from the weeks before each origin)
would have made at earlier origins, against what followed — as mean absolute error per horizon of the
occupied beds, overcrowding and free beds, beside the naive baseline's (the same hour one week earlier).

Hours are on a grid of whole hours (`WardHours`): hour t is [start + t h, start + (t + 1) h); a ward's state
"at" an instant is its newest history row at or before it (as the trends read it).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence
from zoneinfo import ZoneInfo

import numpy as np

HISTORY_WEEKS = 4  # N: the weeks of history the rhythm is taken from
WEEK = 168  # hours; the slots of a week
MAX_HOURS = 72  # the longest forecast
HORIZONS = (24, 48, 72)  # the horizons the error is given for
READY_LEAVE_HOURS = 72  # discharge-ready patients beyond the usual leave evenly within three days
BASELINE_LAG = WEEK  # the naive baseline: the same hour one week earlier
BACKTEST_DAYS = 7  # the rolling backtest scores the forecasts for the hours of the last 7 days ...
BACKTEST_EVERY = 6  # ... every 6 hours
TZ = "Europe/Stockholm"
HOUR = dt.timedelta(hours=1)


def slot_of(t: dt.datetime, tz: str = TZ) -> int:
    """The week slot of an instant: local weekday (Monday 0) × 24 + local hour."""
    local = t.astimezone(ZoneInfo(tz))
    return local.weekday() * 24 + local.hour


def hour_slots(start: dt.datetime, n: int, tz: str = TZ) -> np.ndarray:
    """The slots of the n hours from `start` (a DST change moves the local hours, not the grid)."""
    return np.array([slot_of(start + k * HOUR, tz) for k in range(n)], dtype=np.int64)


def floor_hour(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(minute=0, second=0, microsecond=0)


@dataclass
class WardHours:
    """Wards' hourly history on one grid: `occupied`, `ready` (discharge-ready), `staffed` at the start of
    each hour t = 0 … T (the last one is the grid's end), `arrivals` and `departures` within hour t < T,
    `known` where the ward had a state (from the end of the hour of its first row on)."""
    start: dt.datetime
    ward_ids: list[str]
    occupied: np.ndarray  # (W, T + 1)
    ready: np.ndarray  # (W, T + 1)
    staffed: np.ndarray  # (W, T + 1)
    arrivals: np.ndarray  # (W, T)
    departures: np.ndarray  # (W, T)
    known: np.ndarray  # (W, T + 1) bool
    slots: np.ndarray  # (T,) the slot of each hour

    @property
    def hours(self) -> int:
        return self.arrivals.shape[1]


@dataclass
class Rhythm:
    """Per ward and slot (W, 168): mean arrivals, departures, occupied, discharge-ready and staffed beds, and
    the hazard."""
    arrivals: np.ndarray
    departures: np.ndarray
    occupied: np.ndarray
    ready: np.ndarray
    staffed: np.ndarray

    @property
    def hazard(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            h = np.where(self.occupied > 0, self.departures / self.occupied, 0.0)
        return np.clip(h, 0.0, 1.0)


def rhythm(h: WardHours, end: int, weeks: int = HISTORY_WEEKS) -> Rhythm:
    """The rhythm from the `weeks` weeks of hours before hour `end` (hours a ward was known in only)."""
    return _Window(h, weeks).move_to(end)


class _Window:
    """Per-slot sums over a window of hours that moves forward hour by hour (the backtest's origins share
    most of their weeks: each move adds the new hours and takes the old ones out)."""
    FIELDS = ("arrivals", "departures", "occupied", "ready", "staffed")

    def __init__(self, h: WardHours, weeks: int):
        self.h, self.span = h, weeks * WEEK
        w = h.arrivals.shape[0]
        self.sums = {f: np.zeros((w, WEEK)) for f in (*self.FIELDS, "n")}
        self.lo = self.hi = 0

    def _add(self, t: int, sign: float) -> None:
        h, s = self.h, int(self.h.slots[t])
        known = h.known[:, t]
        self.sums["n"][:, s] += sign * known
        for f in self.FIELDS:
            self.sums[f][:, s] += sign * np.where(known, getattr(h, f)[:, t], 0.0)

    def _count(self, lo: int, end: int) -> None:
        h, w = self.h, self.h.arrivals.shape[0]
        keys = (np.arange(w)[:, None] * WEEK + h.slots[None, lo:end]).ravel()
        known = h.known[:, lo:end].ravel().astype(float)
        self.sums["n"] = np.bincount(keys, known, w * WEEK).reshape(w, WEEK)
        for f in self.FIELDS:
            self.sums[f] = np.bincount(keys, getattr(h, f)[:, lo:end].ravel() * known, w * WEEK).reshape(w, WEEK)
        self.lo, self.hi = lo, end

    def move_to(self, end: int) -> Rhythm:
        lo = max(0, end - self.span)
        if end < self.hi or lo < self.lo or lo >= self.hi:  # backwards or past the whole window: start again
            self._count(lo, end)
        for t in range(self.hi, end):
            self._add(t, 1.0)
        for t in range(self.lo, lo):
            self._add(t, -1.0)
        self.lo, self.hi = lo, end
        n = self.sums["n"]
        return Rhythm(*(np.divide(self.sums[f], n, out=np.zeros_like(n), where=n > 0.5) for f in self.FIELDS))


def path(r: Rhythm, occupied: Sequence[float], ready: Sequence[float], slots: Sequence[int],
         ready_hours: int = READY_LEAVE_HOURS) -> np.ndarray:
    """The forecast (W, len(slots)): occupied beds at the end of each hour of `slots` (the slots of the hours
    ahead, the first the hour the forecast starts in), from the wards' `occupied` and `ready` now."""
    occupied = np.asarray(occupied, dtype=float)
    ready = np.asarray(ready, dtype=float)
    slots = np.asarray(slots, dtype=np.int64)
    hazard = r.hazard
    excess = ready - r.ready[:, slots[0]] if len(slots) else ready * 0
    pool = np.maximum(occupied - excess, 0.0)  # the patients the rhythm's departures apply to
    out = np.empty((len(occupied), len(slots)))
    for k, s in enumerate(slots):
        pool = pool * (1.0 - hazard[:, s]) + r.arrivals[:, s]
        out[:, k] = np.maximum(pool + excess * max(0.0, 1.0 - (k + 1) / ready_hours), 0.0)
    return out


def staffed_path(r: Rhythm, staffed: Sequence[float], slots: Sequence[int]) -> np.ndarray:
    """The wards' staffed beds at the end of each hour of `slots` (as `path`): as now, plus the usual change
    from the start of the first hour's slot to the end of each hour (the start of the next slot)."""
    slots = np.asarray(slots, dtype=np.int64)
    after = np.append(slots[1:], (slots[-1] + 1) % WEEK) if len(slots) else slots
    now = np.asarray(staffed, dtype=float)[:, None]
    if not len(slots):
        return np.zeros((len(now), 0))
    return np.maximum(now + r.staffed[:, after] - r.staffed[:, slots[:1]], 0.0)


def unit_path(paths: np.ndarray, staffed: np.ndarray, members: Sequence[int]) -> dict[str, np.ndarray]:
    """A unit's forecast from its wards' paths (rows `members`): occupied, and overcrowding and free beds
    per ward against its staffed beds (`staffed`: per ward and hour as `paths`, or per ward), summed apart
    (never netted)."""
    p = paths[list(members)]
    s = np.asarray(staffed, dtype=float)[list(members)]
    s = s[:, None] if s.ndim == 1 else s
    return {"occupied": p.sum(axis=0), "overcrowded": np.maximum(p - s, 0).sum(axis=0),
            "free_beds": np.maximum(s - p, 0).sum(axis=0)}


@dataclass
class Backtest:
    """Forecasts made at earlier origins, per horizon: `forecast`, `actual` (the occupied beds at the target
    hour) and `baseline` (the occupied beds one week before the target), each (W, origins); the same of the
    staffed beds in `staffed` (forecast, actual, baseline)."""
    horizons: tuple[int, ...]
    targets: dict[int, list[int]]  # per horizon, the grid hours scored
    forecast: dict[int, np.ndarray]
    actual: dict[int, np.ndarray]
    baseline: dict[int, np.ndarray]
    staffed: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]


def backtest(h: WardHours, targets: Sequence[int], horizons: Sequence[int] = HORIZONS,
             weeks: int = HISTORY_WEEKS) -> Backtest:
    """For each target hour and horizon: the forecast made `horizon` hours before it (its rhythm from the
    `weeks` weeks before that origin, its state the wards' then), the occupied beds at the target and one
    week earlier. Targets whose origin or baseline falls before the grid are left out."""
    horizons = tuple(horizons)
    keep = {hz: [t for t in targets if t - hz >= 0 and t - BASELINE_LAG >= 0 and t <= h.hours] for hz in horizons}
    origins = sorted({t - hz for hz in horizons for t in keep[hz]})
    longest = max(horizons)
    made: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    window = _Window(h, weeks)
    for o in origins:
        n = min(longest, h.hours - o)
        r = window.move_to(o)
        made[o] = (path(r, h.occupied[:, o], h.ready[:, o], h.slots[o:o + n]),
                   staffed_path(r, h.staffed[:, o], h.slots[o:o + n]))
    w = h.occupied.shape[0]
    forecast, actual, baseline, staffed = {}, {}, {}, {}
    for hz in horizons:
        ts = keep[hz]
        before = [t - BASELINE_LAG for t in ts]
        forecast[hz] = np.array([made[t - hz][0][:, hz - 1] for t in ts]).T.reshape(w, len(ts))
        actual[hz] = h.occupied[:, ts].astype(float).reshape(w, len(ts))
        baseline[hz] = h.occupied[:, before].astype(float).reshape(w, len(ts))
        staffed[hz] = (np.array([made[t - hz][1][:, hz - 1] for t in ts]).T.reshape(w, len(ts)),
                       h.staffed[:, ts].astype(float).reshape(w, len(ts)),
                       h.staffed[:, before].astype(float).reshape(w, len(ts)))
    return Backtest(horizons, keep, forecast, actual, baseline, staffed)


def sum_units(x: np.ndarray, units: Sequence[Sequence[int]]) -> np.ndarray:
    """Rows of `x` (per ward) summed per unit (each a non-empty list of rows): (len(units), …)."""
    order = np.fromiter((i for m in units for i in m), dtype=np.int64)
    starts = np.cumsum([0] + [len(m) for m in units[:-1]]) if len(units) else np.zeros(0, dtype=np.int64)
    if not len(units):
        return np.zeros((0, *x.shape[1:]))
    return np.add.reduceat(x[order], starts, axis=0)


def errors(bt: Backtest, members: Sequence[int]) -> list[dict]:
    """A unit's mean absolute error per horizon (its wards `members` summed at each target), the model's
    and the naive baseline's: of the occupied beds (`mae`, `baseline_mae`), of the overcrowding and of the
    free beds (each per ward against its staffed beds, summed), with the number of forecasts scored."""
    return errors_of_units(bt, [list(members)])[0]


def errors_of_units(bt: Backtest, units: Sequence[Sequence[int]]) -> list[list[dict]]:
    """`errors` of many units at once."""
    out: list[list[dict]] = [[] for _ in units]
    for hz in bt.horizons:
        n = len(bt.targets[hz])
        sf, sy, sb = bt.staffed[hz]
        f, y, b = bt.forecast[hz], bt.actual[hz], bt.baseline[hz]
        figures = {}
        for name, fn in (("", lambda o, s: o), ("overcrowded_", lambda o, s: np.maximum(o - s, 0)),
                         ("free_beds_", lambda o, s: np.maximum(s - o, 0))):
            truth = sum_units(fn(y, sy), units)
            figures[f"{name}mae"] = np.abs(sum_units(fn(f, sf), units) - truth).mean(axis=1) if n else None
            figures[f"{name}baseline_mae"] = np.abs(sum_units(fn(b, sb), units) - truth).mean(axis=1) if n else None
        for u in range(len(units)):
            out[u].append({"hours": hz, "forecasts": n,
                           **{k: None if v is None else float(v[u]) for k, v in figures.items()}})
    return out


def backtest_targets(h: WardHours, days: int = BACKTEST_DAYS, every: int = BACKTEST_EVERY) -> list[int]:
    """The rolling backtest's target hours: every `every` hours over the last `days` days, up to the grid's end."""
    end = h.hours
    return [end - k * every for k in range(days * 24 // every)][::-1]


def grid_hours(weeks: int = HISTORY_WEEKS, days: int = BACKTEST_DAYS) -> int:
    """How many hours of history the forecast and its backtest need: the rhythm's weeks before the
    earliest origin (the last `days` days' targets less the longest horizon) and the baseline's week."""
    return weeks * WEEK + MAX_HOURS + days * 24


def build_hours(start: dt.datetime, hours: int, base: dict[str, tuple[int, int, int]],
                changes: dict[str, list[tuple[int, int, int, int, int, int, int]]], tz: str = TZ) -> WardHours:
    """The grid from the history as sinks/forecast.py reads it. `base`: per ward its state (occupied, ready,
    staffed) at `start` (its newest row at or before it), for the wards that had one. `changes`: per ward,
    per grid hour with rows in it, `(hour, first_occupied, last_occupied, rises, falls, last_ready,
    last_staffed)` in hour order: the occupied beds of its first and last row in the hour, the rises and
    falls between its rows inside the hour, and its state after the hour's last row. The step from the
    state before an hour to its first row counts as a rise or a fall of that hour."""
    ids = sorted(set(base) | set(changes))
    w = len(ids)
    occ = np.zeros((w, hours + 1))
    ready = np.zeros((w, hours + 1))
    staffed = np.zeros((w, hours + 1))
    arr = np.zeros((w, hours))
    dep = np.zeros((w, hours))
    known = np.zeros((w, hours + 1), dtype=bool)
    for i, ward in enumerate(ids):
        state = base.get(ward)
        first_known = 0 if state is not None else None
        # the state after each hour with rows, carried on over the hours without
        marks = np.full(hours + 1, -1, dtype=np.int64)
        vals = [state or (0, 0, 0)]
        if state is not None:
            marks[0] = 0
        for hr, first, last, rises, falls, r, s in changes.get(ward, ()):
            before = vals[-1][0] if (state is not None or len(vals) > 1) else first
            step = first - before
            arr[i, hr] += rises + max(step, 0)
            dep[i, hr] += falls + max(-step, 0)
            vals.append((last, r, s))
            marks[hr + 1] = len(vals) - 1
            if first_known is None:
                first_known = hr + 1
        pick = np.maximum.accumulate(marks)
        table = np.array(vals, dtype=float)
        got = pick >= 0
        occ[i, got], ready[i, got], staffed[i, got] = (table[pick[got], c] for c in range(3))
        if first_known is not None:
            known[i, first_known:] = True
    return WardHours(start, ids, occ, ready, staffed, arr, dep, known, hour_slots(start, hours, tz))
