"""Peak memory of the worker holding national-scale state.

    python -m bench.memory [--scale 0.2] [--days 1] [--no-restart]

The simulator at `--scale` (1.0 = all of Sweden: ~2,250 wards, ~22,000 staffed beds and ~3 M waiting-list
events of backlog) is fed to one worker in two phases: (1) the ward topology + bed census + `--days` of bed
events, (2) the waiting-list backlog + `--days` of waiting-list events. The worker's RSS is sampled from
/proc/<pid>/status every 0.25 s; VmHWM gives the peak. Baseline, same run: the RSS of the idle worker just
started (API up, nothing consumed). Reported: peak RSS, RSS after each phase, the growth per ward (phase 1)
and per contact / per open contact (phase 2), and linear extrapolations to scale 1. Then (unless
`--no-restart`) the worker is SIGKILLed and restarted: how soon its API gives the same numbers as
before the kill (every region's status and waiting list), when its state is restored, and the peak RSS. RSS includes the embedded chDB engine (same process). The default scale keeps the run to ~5 min
on 2 cores; `--scale 1` is the national case (~25-30 min: ~3 M events at the worker's rate).
Prints a table, writes bench/results/memory.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench._common import (committed, encoder, install_cleanup, load_average, machine, now_iso, tree_status,
                           produce_raw, topic_of, track, wait_for, write_result)
from streams.broker import LocalBroker
from bedflow.simulator import Simulator

MIB = 2 ** 20


class Sampler(threading.Thread):
    def __init__(self, worker):
        super().__init__(daemon=True)
        self.worker, self.stop, self.peak, self.samples = worker, threading.Event(), 0, []

    def run(self):
        while not self.stop.is_set():
            try:
                rss = tree_status(self.worker.proc.pid)["VmRSS"]
                self.peak = max(self.peak, rss)
                self.samples.append((time.monotonic(), rss))
            except (OSError, KeyError, AttributeError):
                pass
            time.sleep(0.25)


def exact_numbers(worker, at: str) -> tuple | None:
    """What a bed manager and an analyst read: every region's status, and every region's waiting list as of
    `at` (a fixed instant: waits grow with the clock)."""
    try:
        regions = worker.api("/api/v1/status?level=region")["rows"]
        waits = [worker.api(f"/api/v1/waitlist?region={r['id']}&at={at}")["rows"] for r in regions]
    except Exception:  # noqa: BLE001 — not answering yet
        return None
    strip = ("last_event_at", "stale", "coverage")  # these move with the clock, not with the state
    return (sorted(tuple(sorted((k, str(v)) for k, v in r.items() if k not in strip)) for r in regions), str(waits))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=0.2)
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--no-restart", action="store_true", help="skip the restore measurement")
    args = ap.parse_args(argv)
    install_cleanup()
    from tests.harness import Worker

    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=args.days, minutes=5)
    sim = Simulator(seed=args.seed, start=start, scale=args.scale)
    encode = encoder()
    t = time.monotonic()
    beds = [(k, key, v) for _, k, key, v in map(encode, sim.events(args.days, waitlist=False))]
    contacts: dict[str, bool] = {}  # key -> open
    waits = []
    for e in Simulator(seed=args.seed, start=start, scale=args.scale).events(args.days, beds=False,
                                                                             include_topology=False):
        model, k, key, v = encode(e)
        waits.append((k, key, v))
        ck = model.key()
        if e["event_type"] in ("ContactPerformed", "ContactRemoved"):
            contacts[ck] = False
        else:
            contacts.setdefault(ck, True)
    wards = len(sim.wards)
    open_contacts = sum(contacts.values())
    print(f"scale {args.scale}: {wards:,} wards, {len(beds):,} bed events, {len(waits):,} waiting-list events "
          f"({len(contacts):,} contacts, {open_contacts:,} open) — generated and encoded in "
          f"{time.monotonic() - t:.0f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, \
            LocalBroker(log_dir=Path(tmp) / "broker") as broker:
        worker = track(Worker(broker.bootstrap, Path(tmp), f"mem{time.time_ns() % 10**8}",
                              partitions=args.partitions, env={"BEDFLOW_LOG_LEVEL": "info"}))
        sampler = None
        try:
            worker.start()
            time.sleep(3)
            idle = tree_status(worker.proc.pid)
            sampler = Sampler(worker)
            sampler.start()
            print(f"idle worker: RSS {idle['VmRSS'] / MIB:,.0f} MiB; phase 1 (beds) …", flush=True)
            t1 = time.monotonic()
            produce_raw(broker.bootstrap, ((topic_of(worker, k), key, v) for k, key, v in beds))
            wait_for(lambda: committed(worker) >= len(beds), 3600, "phase 1 committed", interval=0.5, worker=worker)
            p1_s = time.monotonic() - t1
            time.sleep(2)
            after1 = tree_status(worker.proc.pid)
            print(f"  {p1_s:.0f} s; RSS {after1['VmRSS'] / MIB:,.0f} MiB; phase 2 (waiting lists) …", flush=True)
            t2 = time.monotonic()
            produce_raw(broker.bootstrap, ((topic_of(worker, k), key, v) for k, key, v in waits))
            total = len(beds) + len(waits)
            wait_for(lambda: committed(worker) >= total, 7200, "phase 2 committed", interval=1.0, worker=worker)
            p2_s = time.monotonic() - t2
            time.sleep(2)
            after2 = tree_status(worker.proc.pid)
            rows = worker.api("/api/v1/quality")["table_rows"]
            print(f"  {p2_s:.0f} s; RSS {after2['VmRSS'] / MIB:,.0f} MiB, peak {after2['VmHWM'] / MIB:,.0f} MiB",
                  flush=True)
            restore = None
            if not args.no_restart:
                at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                before = exact_numbers(worker, at)
                assert before is not None, "the API did not answer before the kill"
                worker.kill()
                t3 = time.monotonic()
                worker.start(wait_ready=False)
                # the API answers from ClickHouse while the state is rebuilt: when does it give the
                # same numbers as before the kill?
                wait_for(lambda: exact_numbers(worker, at) == before, 600, "the API's numbers as before the kill",
                         interval=0.2, worker=worker)
                exact_s = time.monotonic() - t3
                wait_for(lambda: "restored state from" in worker.log_path.read_text(errors="replace"), 3600,
                         "restore", interval=0.5, worker=worker)
                restored_s = time.monotonic() - t3
                time.sleep(2)
                r = tree_status(worker.proc.pid)
                line = next((ln for ln in worker.log_path.read_text(errors="replace").splitlines()
                             if "restored state from" in ln), "")
                restore = {"restart_to_exact_api_s": round(exact_s, 1), "restart_to_restored_s": round(restored_s, 1),
                           "peak_rss_bytes": r["VmHWM"], "rss_after_bytes": r["VmRSS"],
                           "log": line.split(": ", 1)[-1][:200]}
                print(f"  restart: the API's numbers exact after {exact_s:.1f} s, state restored after "
                      f"{restored_s:.1f} s, peak RSS {r['VmHWM'] / MIB:,.0f} MiB", flush=True)
        finally:
            if sampler:
                sampler.stop.set()
            worker.stop()

    d1 = after1["VmRSS"] - idle["VmRSS"]
    d2 = after2["VmRSS"] - after1["VmRSS"]
    per_ward = d1 / wards
    per_contact = d2 / max(1, len(contacts))
    per_open = d2 / max(1, open_contacts)
    nat_wards = 2250
    nat_contacts = len(contacts) / args.scale
    national = idle["VmRSS"] + per_ward * nat_wards + per_contact * nat_contacts
    result = {
        "when": now_iso(), "machine": machine(), "load_average": load_average(), "scale": args.scale,
        "days": args.days, "wards": wards, "bed_events": len(beds), "waitlist_events": len(waits),
        "contacts": len(contacts), "open_contacts": open_contacts, "table_rows": rows,
        "baseline_idle_rss_bytes": idle["VmRSS"], "rss_after_beds_bytes": after1["VmRSS"],
        "rss_after_waitlist_bytes": after2["VmRSS"], "peak_rss_bytes": after2["VmHWM"],
        "peak_rss_sampled_bytes": sampler.peak if sampler else None,
        "phase_seconds": [round(p1_s, 1), round(p2_s, 1)],
        "rss_per_ward_bytes": round(per_ward), "rss_per_contact_bytes": round(per_contact),
        "rss_per_open_contact_bytes": round(per_open),
        "ratio_peak_to_idle": round(after2["VmHWM"] / idle["VmRSS"], 2),
        "extrapolated_scale1_rss_bytes": round(national), "restore": restore,
    }
    write_result("memory", result)
    print(f"\nmemory of the worker, simulator scale {args.scale} ({wards:,} wards, {len(beds) + len(waits):,} events, "
          f"{len(contacts):,} contacts of which {open_contacts:,} open; {result['machine']}, "
          f"load {result['load_average']})")
    print(f"  {'baseline: idle worker RSS':<46}{idle['VmRSS'] / MIB:>10,.0f} MiB")
    print(f"  {'after beds (topology, census, day)':<46}{after1['VmRSS'] / MIB:>10,.0f} MiB")
    print(f"  {'after waiting lists (backlog, day)':<46}{after2['VmRSS'] / MIB:>10,.0f} MiB")
    print(f"  {'peak RSS (VmHWM)':<46}{after2['VmHWM'] / MIB:>10,.0f} MiB  ({result['ratio_peak_to_idle']:.2f} × idle)")
    print(f"  {'growth per ward (phase 1)':<46}{per_ward / 1024:>10,.1f} KiB")
    print(f"  {'growth per contact / per open contact':<46}{per_contact:>10,.0f} B / {per_open:,.0f} B")
    print(f"  {'extrapolated RSS at scale 1 (linear)':<46}{national / MIB:>10,.0f} MiB  "
          f"(2,250 wards, {nat_contacts:,.0f} contacts)")
    if restore:
        print(f"  {'restart after SIGKILL: peak RSS while restoring':<46}{restore['peak_rss_bytes'] / MIB:>10,.0f} MiB  "
              f"(API exact after {restore['restart_to_exact_api_s']:.1f} s, restored after "
              f"{restore['restart_to_restored_s']:.1f} s)")
        print(f"    {restore['log']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
