"""Repeated SIGKILL of the worker under load: zero lost, zero duplicated.

    python -m bench.kill_trials [--trials 20] [--events 15000] [--partitions 4] [--seed 1]

Per trial: fresh topics, consumer group and chDB dir (tests/harness.Worker) on one broker started here;
the bulk stream (tests/bulk.bulk_events, encoded once) is published, the worker started and SIGKILLed
2-3 times at random moments (mostly while it is processing, sometimes during start-up / restore), then
restarted until everything is committed; the ward numbers must equal those of the plain domain code
(expected_state) and `table_rows` must hold every event once, no dead letters. Baseline, same run: an
uninterrupted trial (start, catch up, verify). Prints a table, writes bench/results/kill_trials.json.
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench._common import (committed, encoder, install_cleanup, load_average, machine, now_iso, topic_of,
                           track, wait_for, write_result, produce_raw)
from streams.broker import LocalBroker
from tests.bulk import bulk_events, expected_state, expected_ward_numbers, ward_numbers


def verify(worker, n: int, expected: dict) -> dict:
    rows = worker.api("/api/v1/quality")["table_rows"]
    wards = ward_numbers(worker.api("/api/v1/status?level=ward")["rows"])
    diff = sorted(w for w in set(wards) | set(expected) if wards.get(w) != expected.get(w))
    return {"events": rows["events"], "deadletters": rows["deadletters"], "wards_equal": not diff,
            "wards_differing": diff[:5],
            "ok": rows["events"] == n and rows["deadletters"] == 0 and not diff}


def trial(broker, workdir: Path, name: str, encoded, n: int, expected: dict, kills: int, rnd: random.Random,
          partitions: int, timeout: float) -> dict:
    from tests.harness import Worker

    worker = track(Worker(broker.bootstrap, workdir, name, partitions=partitions,
                          env={"BEDFLOW_LOG_LEVEL": "info"}))
    produce_raw(broker.bootstrap, ((topic_of(worker, kind), key, value) for kind, key, value in encoded))
    kill_log = []
    t0 = time.monotonic()
    try:
        for _ in range(kills):
            life0 = time.monotonic()
            worker.start(wait_ready=False)
            if rnd.random() < 0.25:  # somewhere in start-up, restore, group join or the first batches
                time.sleep(rnd.uniform(0.3, 4.0))
                phase = "startup"
            else:  # while it is working: once this life has consumed records
                try:
                    wait_for(lambda: worker.metric("bedflow_events_in_total") > 0, 20,
                             "the worker to take records", interval=0.05, worker=worker)
                    phase = "processing"
                except TimeoutError:  # an earlier life did it all and committed: nothing left to take
                    phase = "no-progress"
                # the worker takes ~5,000 records/s: kill within the first 2/3 of the stream's processing
                time.sleep(rnd.uniform(0.0, 0.66 * n / 5000))
            try:
                seen = int(worker.metric("bedflow_events_in_total"))
            except Exception:  # noqa: BLE001 — API not up yet (start-up)
                seen = 0
            worker.kill()
            kill_log.append({"phase": phase, "after_s": round(time.monotonic() - life0, 2),
                             "processed_in_life": seen, "committed_at_kill": committed(worker)})
        worker.start()
        wait_for(lambda: committed(worker) >= n, timeout, "committed == sent", worker=worker)
        wait_for(lambda: worker.api("/api/v1/quality")["table_rows"]["events"] >= n, 60,
                 "every event in ClickHouse", worker=worker)
        elapsed = time.monotonic() - t0
        check = verify(worker, n, expected)
        restores = [line.split("restored state from ")[1].split(" accepted")[0]
                    for i in range(1, worker.starts + 1)
                    for line in (workdir / f"worker-{i}.log").read_text(errors="replace").splitlines()
                    if "restored state from" in line]
        return {"name": name, "kills": kill_log, "seconds": round(elapsed, 2), **check,
                "restored_events_per_life": [int(x) for x in restores]}
    except Exception as e:  # noqa: BLE001 — a failed trial is a result, not the end of the run
        return {"name": name, "kills": kill_log, "seconds": round(time.monotonic() - t0, 2), "ok": False,
                "error": str(e)[:2000]}
    finally:
        worker.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--events", type=int, default=15000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=180, help="per trial, for catching up after the last kill")
    args = ap.parse_args(argv)
    install_cleanup()

    events = bulk_events(args.events, seed=args.seed)
    n = len(events)
    expected = expected_ward_numbers(expected_state(events))
    encode = encoder()
    encoded = [(kind, key, value) for _, kind, key, value in map(encode, events)]
    rnd = random.Random(args.seed)
    tag = f"{time.time_ns() % 10**8}"
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp, \
            LocalBroker(log_dir=Path(tmp) / "broker") as broker:
        print(f"kill trials: {args.trials} trials of {n:,} events, {args.partitions} partitions, "
              f"broker {broker.bootstrap}\n  (each kill: phase@seconds into that life/records taken in that life/committed at kill)",
              flush=True)
        base = trial(broker, Path(tmp) / "baseline", f"kb{tag}", encoded, n, expected, 0, rnd, args.partitions,
                     args.timeout)
        print(f"  baseline (no kill): {base['seconds']:.1f} s, ok={base['ok']}", flush=True)
        for i in range(args.trials):
            r = trial(broker, Path(tmp) / f"t{i}", f"kt{tag}x{i}", encoded, n, expected, rnd.choice((2, 3)),
                      rnd, args.partitions, args.timeout)
            results.append(r)
            print(f"  trial {i + 1:>2}/{args.trials}: {'PASS' if r['ok'] else 'FAIL'}  {r['seconds']:6.1f} s  "
                  f"kills " + ", ".join(f"{k['phase']}@{k['after_s']}s/{k['processed_in_life']}/{k['committed_at_kill']}"
                                        for k in r["kills"])
                  + (f"  {r.get('error', '')[:300]}" if not r["ok"] else ""), flush=True)
            if not r["ok"] and "error" not in r:
                print(f"      events={r['events']} deadletters={r['deadletters']} "
                      f"wards differing={r['wards_differing']}", flush=True)

    passed = sum(r["ok"] for r in results)
    times = [r["seconds"] for r in results if r["ok"]]
    kills = [k for r in results for k in r["kills"]]
    mid = sum(1 for k in kills if 0 < k["processed_in_life"] and k["committed_at_kill"] < n)
    result = {
        "when": now_iso(), "machine": machine(), "load_average": load_average(),
        "events_per_trial": n, "partitions": args.partitions, "trials": args.trials, "passed": passed,
        "kills": len(kills), "kills_mid_stream": mid,
        "kills_by_phase": {p: sum(1 for k in kills if k["phase"] == p) for p in {k["phase"] for k in kills}},
        "baseline_uninterrupted_seconds": base["seconds"], "baseline_ok": base["ok"],
        "trial_seconds_median": round(statistics.median(times), 2) if times else None,
        "trial_seconds_max": round(max(times), 2) if times else None,
        "ratio_trial_to_baseline": round(statistics.median(times) / base["seconds"], 2) if times else None,
        "trials_detail": results, "baseline_detail": base,
    }
    write_result("kill_trials", result)
    print(f"\nkill trials, {n:,} events each, {args.partitions} partitions ({result['machine']}, "
          f"load {result['load_average']})")
    print(f"  {'trials passed':<44}{passed:>6} / {args.trials}")
    print(f"  {'kills (of which mid-stream: records taken)':<44}{len(kills):>6} ({mid})")
    print(f"  {'kills by phase':<44}{result['kills_by_phase']}")
    print(f"  {'baseline: uninterrupted trial':<44}{base['seconds']:>8.1f} s  (ok={base['ok']})")
    if times:
        print(f"  {'killed trial, median / max':<44}{result['trial_seconds_median']:>8.1f} s / "
              f"{result['trial_seconds_max']:.1f} s")
        print(f"  {'ratio median killed / uninterrupted':<44}{result['ratio_trial_to_baseline']:>8.2f} ×")
    return 0 if passed == args.trials and base["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
