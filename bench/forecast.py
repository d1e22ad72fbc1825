"""The occupancy forecast's backtest over a simulated quarter (issue 14): its mean absolute error at 24, 48
and 72 hours per level, against the naive baseline (the same hour one week earlier), measured in the same run.

    python -m bench.forecast [--scale 0.3] [--seed 1] [--every 3] [--api-scale 1]

The simulator makes the quarter (2 November 2026 – 1 February 2027, and five weeks before it for the first
forecasts' history) with a weekly rhythm of admissions, the winter season and four shocks (beds.Demand).
Its events go through the platform's own ward state (streams.domain.beds, as the processor applies them)
into ward-status rows in a chDB store, no broker; the grid of hours is read with sinks/forecast.py once,
and the forecast (streams.domain.forecast) is made from every `--every` hours of the quarter, each from
the four weeks of history before it, and compared with what followed: the occupied beds, the
overcrowding and the free beds (each per ward against its staffed beds, summed; never netted).
`--api-scale`: what the endpoint costs at that scale (1: all of Sweden; 0: not measured) — the history it
reads every five minutes and an answer of every unit of each level.
"""
from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from zoneinfo import ZoneInfo

import numpy as np

from bedflow.simulator import Demand, Shock, Simulator, to_ms
from bench._common import load_average, machine, now_iso, write_result
from schemas import reference
from schemas.model import EVENT_TYPES
from sinks import forecast as history_sql
from sinks.clickhouse import ClickHouse
from streams.domain import forecast as fc
from streams.domain.beds import BedState
from streams.processor import status_row
from streams.rows import WardStatusRow

TZ = ZoneInfo("Europe/Stockholm")
QUARTER_START = dt.datetime(2026, 11, 2, tzinfo=TZ)  # a Monday
QUARTER_DAYS = 91
WARMUP = dt.timedelta(weeks=fc.HISTORY_WEEKS + 1)  # the first forecasts' history, and a week to settle
LEVELS = ("ward", "hospital", "region", "healthcare_region", "nation")
MEASURES = {"": "occupied_beds", "overcrowded_": "overcrowding", "free_beds_": "free_beds"}  # fc.errors' prefixes


def demand(q0: dt.datetime) -> Demand:
    """Fewer admissions at weekends (planned care is on weekdays), the winter wave, and four shocks: a major
    accident in Stockholm, a norovirus outbreak in Västra Götaland, a national influenza peak, a
    storm in Skåne."""
    at = lambda days, hour=0: to_ms(q0 + dt.timedelta(days=days, hours=hour))  # noqa: E731
    return Demand(weekly=(1.12, 1.10, 1.06, 1.04, 0.98, 0.82, 0.88), season=0.12, shocks=(
        Shock(at(19, 14), 1.5, 1.5, frozenset({"01"})),
        Shock(at(38, 6), 10, 0.4, frozenset({"14"})),
        Shock(at(55), 14, 0.2),
        Shock(at(74, 9), 3, 0.8, frozenset({"12"}))))


def ward_status_rows(sim: Simulator, days: float) -> tuple[list[WardStatusRow], BedState]:
    """The simulated bed events applied to the platform's ward state, one status row per ward changed (as
    the processor writes them)."""
    state = BedState()
    rows = []
    version = 0
    for e in sim.events(days, waitlist=False):
        ev = EVENT_TYPES[e["event_type"]].model_validate(e)
        for wid in sorted(state.apply(ev).wards):
            version += 1
            rows.append(status_row(state.status(wid), version, ev))
    return rows, state


def units(state: BedState, ward_ids: list[str]) -> dict[str, dict[str, list[int]]]:
    """The grid's rows of each unit at each level (ICU wards left out above ward level, as status does)."""
    out: dict[str, dict[str, list[int]]] = {lv: {} for lv in LEVELS}
    for i, wid in enumerate(ward_ids):
        w = state.wards[wid]
        out["ward"].setdefault(wid, []).append(i)
        if w.ward_kind == "icu":
            continue
        hr = reference.regions()[w.region_code].healthcare_region
        for lv, key in (("hospital", w.hospital_id), ("region", w.region_code), ("healthcare_region", hr),
                        ("nation", "SE")):
            out[lv].setdefault(key, []).append(i)
    return out


def api_timing(scale: float, seed: int) -> dict:
    """What GET /api/v1/forecast costs at `scale` (1: all of Sweden): the history it reads every
    HISTORY_TTL (grid_hours of ward-status rows, the rhythm and the 36-origin backtest) and one answer
    per level from it, on the last days of a simulated stretch just long enough for the grid."""
    from web import forecast as view

    days = fc.grid_hours() / 24 + 7
    start = QUARTER_START.astimezone(dt.timezone.utc)
    sim = Simulator(seed, start=start, scale=scale, demand=demand(start))
    rows, _ = ward_status_rows(sim, days)
    now = start + dt.timedelta(days=days)
    with tempfile.TemporaryDirectory() as tmp:
        db = ClickHouse(f"chdb://{tmp}/ch")
        db.migrate()
        for i in range(0, len(rows), 200_000):
            db.insert("ward_status", rows[i:i + 200_000], WardStatusRow._fields)
        db.insert("ward_current", list({r.ward_id: r for r in rows}.values()), WardStatusRow._fields)
        wards = db.query_dicts("SELECT * FROM ward_current FINAL")
        t = time.perf_counter()
        history = view.read_history(db, now, "Europe/Stockholm")
        read = time.perf_counter() - t
        db.close()
    answers = {}
    for level in LEVELS:
        t = time.perf_counter()
        view.forecast_answer(history, wards, level, None, None, fc.MAX_HOURS, now, "Europe/Stockholm", 4,
                             lambda region: False, set())
        answers[level] = round(time.perf_counter() - t, 3)
    return {"scale": scale, "wards": len(wards), "ward_status_rows": len(rows),
            "history_read_seconds": round(read, 2), "answer_seconds_all_units_suppressed": answers}


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--every", type=int, default=3, help="hours between the forecasts scored")
    ap.add_argument("--api-scale", type=float, default=1.0, help="the endpoint's cost at this scale (0: not measured)")
    args = ap.parse_args(argv)
    t_run = time.perf_counter()
    q0 = QUARTER_START.astimezone(dt.timezone.utc)
    start = q0 - WARMUP
    sim = Simulator(args.seed, start=start, scale=args.scale, demand=demand(q0))
    days = WARMUP / dt.timedelta(days=1) + QUARTER_DAYS
    t = time.perf_counter()
    rows, state = ward_status_rows(sim, days)
    t_sim = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        db = ClickHouse(f"chdb://{tmp}/ch")
        db.migrate()
        t = time.perf_counter()
        for i in range(0, len(rows), 200_000):
            db.insert("ward_status", rows[i:i + 200_000], WardStatusRow._fields)
        newest = {r.ward_id: r for r in rows}
        db.insert("ward_current", list(newest.values()), WardStatusRow._fields)
        n = int(days * 24)
        h = fc.build_hours(start, n, *history_sql.ward_hours(db, start, n))
        t_read = time.perf_counter() - t
        db.close()
    first = int((q0 - start) / fc.HOUR) + fc.MAX_HOURS  # every horizon's origin inside the quarter
    targets = list(range(first, h.hours + 1, args.every))
    t = time.perf_counter()
    bt = fc.backtest(h, targets)
    t_fc = time.perf_counter() - t
    groups = units(state, h.ward_ids)
    tables = {}
    for measure in MEASURES:
        table = tables[measure] = {}
        for lv in LEVELS:
            per = {hz: {"mae": [], "baseline_mae": []} for hz in fc.HORIZONS}
            level_occupied = []
            for members in groups[lv].values():
                for e in fc.errors(bt, members):
                    per[e["hours"]]["mae"].append(e[f"{measure}mae"])
                    per[e["hours"]]["baseline_mae"].append(e[f"{measure}baseline_mae"])
                level_occupied.append(float(h.occupied[members][:, targets].sum(axis=0).mean()))
            table[lv] = {"units": len(groups[lv]), "mean_occupied": round(float(np.mean(level_occupied)), 1),
                         **{str(hz): {"mae": round(float(np.mean(v["mae"])), 3),
                                      "baseline_mae": round(float(np.mean(v["baseline_mae"])), 3),
                                      "ratio": round(float(np.mean(v["mae"]) / np.mean(v["baseline_mae"])), 3)}
                            for hz, v in per.items()}}
    beats = {MEASURES[m]: all(t[lv][str(hz)]["ratio"] < 1 for lv in LEVELS for hz in fc.HORIZONS)
             for m, t in tables.items()}
    result = {
        "benchmark": "forecast", "at": now_iso(), "machine": machine(), "load_average": load_average(),
        "quarter": {"start": QUARTER_START.isoformat(), "days": QUARTER_DAYS}, "scale": args.scale, "seed": args.seed,
        "wards": len(h.ward_ids), "ward_status_rows": len(rows), "forecasts_per_ward_and_horizon": len(targets),
        "every_hours": args.every, "demand": demand(q0)._asdict() | {"shocks": [s._asdict() | {
            "regions": sorted(s.regions) if s.regions else None} for s in demand(q0).shocks]},
        "model": {"history_weeks": fc.HISTORY_WEEKS, "discharge_ready_leave_hours": fc.READY_LEAVE_HOURS},
        "mae": {MEASURES[m]: t for m, t in tables.items()}, "beats_baseline_everywhere": beats,
        "seconds": {"simulate_and_state": round(t_sim, 1), "store_and_read": round(t_read, 1),
                    "forecasts": round(t_fc, 1), "total": round(time.perf_counter() - t_run, 1)},
    }
    if args.api_scale:
        result["api"] = api_timing(args.api_scale, args.seed)
        result["seconds"]["total"] = round(time.perf_counter() - t_run, 1)
    path = write_result("forecast", result)
    print(f"forecast backtest: {len(h.ward_ids)} wards, {len(targets)} forecasts per ward and horizon "
          f"(every {args.every} h over the quarter from {QUARTER_START:%Y-%m-%d}), scale {args.scale}")
    for m, table in tables.items():
        print(f"\nMAE of the {MEASURES[m].replace('_', ' ')}: the forecast (the naive baseline) and their ratio")
        print(f"{'level':<18} {'units':>5} {'occupied':>9}  " + "  ".join(
            f"{f'{hz} h':>22}" for hz in fc.HORIZONS))
        for lv in LEVELS:
            r = table[lv]
            cells = "  ".join(f"{r[str(hz)]['mae']:>8.2f} ({r[str(hz)]['baseline_mae']:>7.2f}) {r[str(hz)]['ratio']:>4.2f}×"
                              for hz in fc.HORIZONS)
            print(f"{lv:<18} {r['units']:>5} {r['mean_occupied']:>9.1f}  {cells}")
    if "api" in result:
        a = result["api"]
        print(f"\nGET /api/v1/forecast at scale {a['scale']} ({a['wards']} wards): the history read (every "
              f"{view_ttl()} s) {a['history_read_seconds']} s; an answer of every unit of a level, suppressed: "
              f"{a['answer_seconds_all_units_suppressed']} s")
    print(f"\nbeats the baseline at every level and horizon: {beats}; {result['seconds']}; wrote {path}")
    return 0 if all(beats.values()) else 1


def view_ttl() -> int:
    from web.forecast import HISTORY_TTL
    return int(HISTORY_TTL)


if __name__ == "__main__":
    raise SystemExit(main())
