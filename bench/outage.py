"""ClickHouse unavailable for a minute while events keep arriving: nothing lost, nothing doubled, and how
fast the worker catches up afterwards.

    python -m bench.outage [--outage 60] [--after 10] [--rate 500] [--tail 40] [--partitions 4]

A worker with BEDFLOW_FAULT_CLICKHOUSE_OUTAGE="<after>:<outage>" (every ClickHouse call fails in that
window, counted from the worker's start-up) gets the bulk stream (tests/bulk.bulk_events) at a steady
`--rate` events/s from the moment it is up until `after + outage + tail` seconds have passed. Sampled
every 0.5 s: records sent and committed. Figures: the backlog when ClickHouse comes back, the catch-up
time (outage end → the lag is back to its pre-outage level) and the drain rate during catch-up. Baseline,
same run: the normal processing rate of an unfaulted worker draining a backlog of the same stream. Then
exactly-once is checked like tests/test_faults.py::test_clickhouse_outage_loses_nothing: committed ==
sent, every event once in ClickHouse, ward numbers == the plain domain code's, no dead letters.
Prints a table, writes bench/results/outage.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._common import (committed, encoder, install_cleanup, load_average, log_lines, machine, now_iso, pct,
                           produce_raw, producer, topic_of, track, wait_for, write_result)
from streams.broker import LocalBroker
from tests.bulk import bulk_events, expected_state, expected_ward_numbers, ward_numbers

LOG_TIME = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})")


def log_time(line: str) -> float | None:
    """A log line's wall-clock time (logging's asctime, local time) as a time.time() value."""
    m = LOG_TIME.search(line)
    return dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() if m else None


def baseline_rate(broker, workdir: Path, encoded, partitions: int) -> dict:
    """An unfaulted worker draining a pre-published backlog: records/s from its first record taken to the
    last one committed."""
    from tests.harness import Worker

    w = track(Worker(broker.bootstrap, workdir, f"ob{time.time_ns() % 10**8}", partitions=partitions,
                     env={"BEDFLOW_LOG_LEVEL": "warning"}))
    n = produce_raw(broker.bootstrap, ((topic_of(w, k), key, v) for k, key, v in encoded))
    try:
        w.start(wait_ready=False)
        wait_for(lambda: w.metric("bedflow_events_in_total") > 0, 120, "the first record", interval=0.05,
                 worker=w)
        t0 = time.monotonic()
        wait_for(lambda: committed(w) >= n, 300, "the baseline backlog", interval=0.2, worker=w)
        s = time.monotonic() - t0
    finally:
        w.stop()
    return {"events": n, "seconds": round(s, 2), "events_per_s": round(n / s, 1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--outage", type=float, default=60, help="seconds ClickHouse is unavailable")
    ap.add_argument("--after", type=float, default=10, help="seconds after the worker's start the outage begins")
    ap.add_argument("--rate", type=float, default=500, help="events/s published throughout")
    ap.add_argument("--tail", type=float, default=40, help="seconds of publishing after the outage")
    ap.add_argument("--baseline-events", type=int, default=20_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=13)
    args = ap.parse_args(argv)
    install_cleanup()
    from tests.harness import Worker

    total = int(args.rate * (args.after + args.outage + args.tail))
    events = bulk_events(total, seed=args.seed)
    expected = expected_ward_numbers(expected_state(events))
    encode = encoder()
    encoded = [(k, key, v) for _, k, key, v in map(encode, events)]
    wall_minus_mono = time.time() - time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp, \
            LocalBroker(log_dir=Path(tmp) / "broker") as broker:
        print(f"baseline: an unfaulted worker draining {min(args.baseline_events, total):,} events …", flush=True)
        base = baseline_rate(broker, Path(tmp) / "baseline", encoded[:args.baseline_events], args.partitions)
        print(f"  {base['events_per_s']:,.0f} events/s", flush=True)

        worker = track(Worker(broker.bootstrap, Path(tmp) / "outage", f"out{time.time_ns() % 10**8}",
                              partitions=args.partitions,
                              env={"BEDFLOW_LOG_LEVEL": "warning",
                                   "BEDFLOW_FAULT_CLICKHOUSE_OUTAGE": f"{args.after:g}:{args.outage:g}"}))
        samples: list[tuple[float, int, int]] = []   # (monotonic, sent, committed)
        sent = [0]
        stop = threading.Event()
        errors: list[str] = []

        def publish():
            p = producer(broker.bootstrap)
            t0 = time.monotonic()
            try:
                while sent[0] < total and not stop.is_set():
                    due = min(total, int((time.monotonic() - t0) * args.rate))
                    while sent[0] < due:
                        k, key, v = encoded[sent[0]]
                        try:
                            p.produce(topic_of(worker, k), key=key, value=v)
                        except BufferError:
                            p.poll(0.01)
                            continue
                        sent[0] += 1
                    p.poll(0)
                    time.sleep(0.01)
                if p.flush(60):
                    errors.append("not all events delivered")
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

        def sample():
            while not stop.is_set():
                try:
                    s = sent[0]
                    samples.append((time.monotonic(), s, committed(worker)))
                except Exception as e:  # noqa: BLE001
                    errors.append(repr(e)[:200])
                time.sleep(0.5)

        try:
            print(f"outage run: {total:,} events at {args.rate:.0f}/s; ClickHouse down {args.outage:.0f} s from "
                  f"{args.after:.0f} s after start …", flush=True)
            worker.start()
            threads = [threading.Thread(target=publish, daemon=True), threading.Thread(target=sample, daemon=True)]
            for th in threads:
                th.start()
            threads[0].join(args.after + args.outage + args.tail + 120)
            wait_for(lambda: committed(worker) >= total, 600, "committed == sent after the outage", worker=worker)
            t_done = time.monotonic()
            wait_for(lambda: worker.api("/api/v1/quality")["table_rows"]["events"] >= total, 120,
                     "every event in ClickHouse", worker=worker)
            stop.set()
            threads[1].join(5)
            rows = worker.api("/api/v1/quality")["table_rows"]
            wards = ward_numbers(worker.api("/api/v1/status?level=ward")["rows"])
            retries = worker.metric("bedflow_sink_retries_total")
            log = log_lines(worker)
        finally:
            stop.set()
            worker.stop()

    # the outage window, from the worker's own log (the fault clock starts when its Worker is built)
    fault_line = next((ln for ln in log.splitlines() if "fault injection" in ln), "")
    back_line = next((ln for ln in log.splitlines() if "reachable again" in ln), "")
    failed_lines = [ln for ln in log.splitlines() if "ClickHouse write failed" in ln]
    t_fault = log_time(fault_line)
    if t_fault is None:
        raise SystemExit("no 'fault injection' line in the worker log; cannot place the outage")
    out_start = t_fault - wall_minus_mono + args.after
    out_end = out_start + args.outage
    t_back = (log_time(back_line) - wall_minus_mono) if back_line else None
    # normal lag: before the outage, once publishing runs
    pre = [s - c for t, s, c in samples if out_start - args.after + 3 < t < out_start - 0.5]
    lag_normal = pct(pre, 95) if pre else args.rate
    threshold = lag_normal + args.rate * 0.5
    after_end = [(t, s, c) for t, s, c in samples if t >= out_end]
    backlog_at_end = (after_end[0][1] - after_end[0][2]) if after_end else None
    caught = next(((t, s, c) for t, s, c in after_end if s - c <= threshold), None)
    t_caught = caught[0] if caught else t_done
    catch_up = t_caught - out_end
    c_end = after_end[0][2] if after_end else 0
    drained = ((caught[2] if caught else total) - c_end)
    drain_rate = drained / catch_up if catch_up > 0 else float("nan")
    diff = sorted(w for w in set(wards) | set(expected) if wards.get(w) != expected.get(w))
    ok = (rows["events"] == total and rows["deadletters"] == 0 and not diff and bool(back_line)
          and bool(failed_lines) and not errors)
    result = {
        "when": now_iso(), "machine": machine(), "load_average": load_average(),
        "events": total, "rate": args.rate, "outage_s": args.outage, "outage_after_s": args.after,
        "partitions": args.partitions,
        "baseline": base,
        "lag_before_outage_p95": round(lag_normal), "backlog_at_outage_end": backlog_at_end,
        "first_write_after_outage_end_s": round(t_back - out_end, 2) if t_back else None,
        "catch_up_s": round(catch_up, 2), "catch_up_threshold_lag": round(threshold),
        "drain_events_per_s": round(drain_rate, 1),
        "ratio_drain_to_baseline": round(drain_rate / base["events_per_s"], 2),
        "sink_retries": retries, "write_failures_logged": len(failed_lines),
        "table_rows": rows, "wards_equal": not diff, "wards_differing": diff[:5], "errors": errors, "ok": ok,
        "timeline": [(round(t - out_start, 1), s, c) for t, s, c in samples],
    }
    write_result("outage", result)
    print(f"\noutage, ClickHouse down {args.outage:.0f} s while {args.rate:.0f} events/s keep arriving "
          f"({total:,} events, {args.partitions} partitions; {result['machine']}, load {result['load_average']})")
    print(f"  {'baseline: normal processing rate':<48}{base['events_per_s']:>10,.0f} events/s")
    print(f"  {'lag before the outage (p95)':<48}{lag_normal:>10,.0f} records")
    print(f"  {'backlog when ClickHouse came back':<48}{backlog_at_end if backlog_at_end is not None else -1:>10,} records")
    if t_back:
        print(f"  {'first successful write after the outage end':<48}{t_back - out_end:>10.1f} s  (sink back-off ≤ 5 s)")
    print(f"  {'catch-up time (outage end → lag normal)':<48}{catch_up:>10.1f} s")
    print(f"  {'drain rate during catch-up':<48}{drain_rate:>10,.0f} events/s  "
          f"({result['ratio_drain_to_baseline']:.2f} × baseline)")
    print(f"  {'exactly once':<48}{'yes' if ok else 'NO'}: events {rows['events']:,}/{total:,}, dead letters "
          f"{rows['deadletters']}, wards equal {not diff}, retries {retries:.0f}"
          + (f", errors {errors[:2]}" if errors else ""))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
