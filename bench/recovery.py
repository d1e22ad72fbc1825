"""Recovery: the worker SIGKILLed with a large backlog, restarted; time to caught-up and the state restore.

    python -m bench.recovery [--events 1000000] [--kill-at 0.1] [--partitions 4]

M bulk bed events (bench._common.fast_bulk: 60 wards in 3 regions; encoded once, produced with
confluent-kafka) are published; the worker is started, SIGKILLed once it has taken `--kill-at` of them,
and restarted. Measured: restart → caught up (committed == M), the restore the restarted worker logs
("restored state from N accepted events in X s"), the rate after the restart; then exactly-once is
checked (`table_rows`: every event once, no dead letters; ward numbers == the plain domain code's).
Baseline, same run: the uninterrupted processing rate of the first life (records taken / time from its
first record to the kill). At the default 1 M events the run takes ~7-8 min on 2 cores; `--events
200000` is a quicker look. Prints a table, writes bench/results/recovery.json.
"""
from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (committed, encoder, fast_bulk, install_cleanup, load_average, machine, now_iso,
                           tree_status, produce_raw, topic_of, track, wait_for, write_result)
from streams.broker import LocalBroker

RESTORED = re.compile(r"restored state from (\d+) accepted events in ([\d.]+) s")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--kill-at", type=float, default=0.1, help="share of the backlog taken before the SIGKILL")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=21)
    args = ap.parse_args(argv)
    install_cleanup()
    from streams.domain.beds import BedState
    from tests.bulk import expected_ward_numbers, ward_numbers
    from tests.harness import Worker

    t = time.monotonic()
    events = fast_bulk(args.events, seed=args.seed)
    gen_s = time.monotonic() - t
    encode = encoder()
    state = BedState()
    encoded = []
    t = time.monotonic()
    for e in events:
        model, kind, key, value = encode(e)
        state.apply(model)
        encoded.append((kind, key, value))
    del events
    encode_s = time.monotonic() - t
    expected = expected_ward_numbers(state)
    n = len(encoded)
    print(f"{n:,} events generated in {gen_s:.1f} s, encoded (+ expected state) in {encode_s:.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-recovery-") as tmp, \
            LocalBroker(log_dir=Path(tmp) / "broker") as broker:
        worker = track(Worker(broker.bootstrap, Path(tmp), f"rec{time.time_ns() % 10**8}",
                              partitions=args.partitions, env={"BEDFLOW_LOG_LEVEL": "info"}))
        t = time.monotonic()
        produce_raw(broker.bootstrap, ((topic_of(worker, k), key, v) for k, key, v in encoded))
        produce_s = time.monotonic() - t
        del encoded
        print(f"published in {produce_s:.1f} s ({n / produce_s:,.0f} events/s); starting the worker", flush=True)
        try:
            # life 1: uninterrupted until it has taken --kill-at of the backlog
            worker.start(wait_ready=False)
            wait_for(lambda: worker.metric("bedflow_events_in_total") > 0, 180, "the first record", interval=0.05,
                     worker=worker)
            t_first = time.monotonic()
            target = int(n * args.kill_at)
            wait_for(lambda: worker.metric("bedflow_events_in_total") >= target, 3600,
                     f"{target:,} records taken", interval=0.2, worker=worker)
            taken = worker.metric("bedflow_events_in_total")
            t_kill = time.monotonic()
            rate1 = taken / (t_kill - t_first)
            rss1 = tree_status(worker.proc.pid).get("VmHWM")
            worker.kill()
            at_kill = committed(worker)
            print(f"  SIGKILL after {taken:,.0f} records taken ({at_kill:,} committed), "
                  f"{rate1:,.0f} records/s uninterrupted", flush=True)
            # life 2: restart → restore → catch up
            t_restart = time.monotonic()
            worker.start(wait_ready=False)
            wait_for(lambda: RESTORED.search(worker.log_path.read_text(errors="replace")), 3600,
                     "the restore log line", interval=0.1, worker=worker)
            t_restored = time.monotonic()
            wait_for(lambda: worker.metric("bedflow_events_in_total") > 0, 300, "the first record after restart",
                     interval=0.05, worker=worker)
            t_first2 = time.monotonic()
            peak_restore = tree_status(worker.proc.pid).get("VmHWM")
            wait_for(lambda: committed(worker) >= n, 7200, "committed == M", interval=0.5, worker=worker)
            t_caught = time.monotonic()
            wait_for(lambda: worker.api("/api/v1/quality")["table_rows"]["events"] >= n, 300,
                     "every event in ClickHouse", worker=worker)
            rows = worker.api("/api/v1/quality")["table_rows"]
            wards = ward_numbers(worker.api("/api/v1/status?level=ward")["rows"])
            redelivered = worker.metric("bedflow_redelivered_skipped_total")
            taken2 = worker.metric("bedflow_events_in_total")
            rss2 = tree_status(worker.proc.pid).get("VmHWM")
            log2 = worker.log_path.read_text(errors="replace")
        finally:
            worker.stop()

    m = RESTORED.search(log2)
    restored_n, restore_s = int(m.group(1)), float(m.group(2))
    diff = sorted(w for w in set(wards) | set(expected) if wards.get(w) != expected.get(w))
    ok = rows["events"] == n and rows["deadletters"] == 0 and not diff
    catch_up = t_caught - t_restart
    rate2 = (n - at_kill) / (t_caught - t_first2) if t_caught > t_first2 else float("nan")
    result = {
        "when": now_iso(), "machine": machine(), "load_average": load_average(), "events": n,
        "partitions": args.partitions, "kill_at_share": args.kill_at, "publish_s": round(produce_s, 1),
        "baseline_uninterrupted_events_per_s": round(rate1, 1), "taken_before_kill": int(taken),
        "committed_at_kill": at_kill, "restart_to_caught_up_s": round(catch_up, 1),
        "restart_to_restored_s": round(t_restored - t_restart, 1),
        "restored_events": restored_n, "restore_s_logged": restore_s,
        "restore_events_per_s": round(restored_n / restore_s, 1) if restore_s else None,
        "restart_to_first_record_s": round(t_first2 - t_restart, 1),
        "rate_after_restart_events_per_s": round(rate2, 1),
        "ratio_after_restart_to_baseline": round(rate2 / rate1, 2),
        "redelivered_skipped": redelivered, "records_taken_after_restart": taken2,
        "expected_catch_up_at_baseline_rate_s": round((n - at_kill) / rate1, 1),
        "peak_rss_life1_bytes": rss1, "peak_rss_after_restore_bytes": peak_restore, "peak_rss_life2_bytes": rss2,
        "table_rows": rows, "wards_equal": not diff, "wards_differing": diff[:5], "ok": ok,
    }
    write_result("recovery", result)
    mib = 2 ** 20
    print(f"\nrecovery, {n:,} events, SIGKILL at {args.kill_at:.0%} ({args.partitions} partitions; "
          f"{result['machine']}, load {result['load_average']})")
    print(f"  {'baseline: uninterrupted rate (life 1)':<46}{rate1:>12,.0f} events/s")
    print(f"  {'restart → caught up (committed == M)':<46}{catch_up:>12.1f} s   "
          f"(at the baseline rate: {result['expected_catch_up_at_baseline_rate_s']:.1f} s)")
    print(f"  {'  of which restart → restore done':<46}{t_restored - t_restart:>12.1f} s")
    print(f"  {'  restore (worker log)':<46}{restore_s:>12.1f} s   ({restored_n:,} events, "
          f"{result['restore_events_per_s'] or 0:,.0f}/s)")
    print(f"  {'  restart → first record':<46}{t_first2 - t_restart:>12.1f} s")
    print(f"  {'rate after restart':<46}{rate2:>12,.0f} events/s  ({result['ratio_after_restart_to_baseline']:.2f} × baseline)")
    print(f"  {'redelivered records skipped (progress rows)':<46}{redelivered:>12,.0f}")
    print(f"  {'peak RSS life 1 / after restore / life 2':<46}{(rss1 or 0) / mib:>9,.0f} / "
          f"{(peak_restore or 0) / mib:,.0f} / {(rss2 or 0) / mib:,.0f} MiB")
    print(f"  {'exactly once':<46}{'yes' if ok else 'NO'}: events {rows['events']:,}/{n:,}, dead letters "
          f"{rows['deadletters']}, wards equal {not diff}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
