"""Where the worker's time goes, per event, in one process (no broker, no intake child): decode,
process (rules, state, rows), ClickHouse write and change messages, on the simulated events of
bench.throughput, in the worker's batch size.

    python -m bench.stages [--events 40000] [--profile]

The throughput benchmark says how fast the whole is; this one says which part to look at. Figures are
µs per event on this machine in this run, as CPU time of this process (`time.process_time`: what others
running on the machine do not change) and as wall time (`perf_counter`); `--profile` adds cProfile's top
functions of the processing.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time

import orjson

from bedflow.config import Config
from bedflow.settings import Settings
from bedflow.worker import Worker, settle_heap
from bench.throughput import simulated
from schemas.model import EVENT_TYPES, NAMESPACE
from schemas.privacy import bytes_may_hold_pin
from streams.processor import SourceRecord


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=tmp)
        worker = Worker(settings, Config())
        worker.db.migrate()
        codec = worker.processor.codec
        events = simulated(args.events)
        payloads = [codec.encode_single_object(f"{NAMESPACE}.{e['event_type']}",
                                               EVENT_TYPES[e["event_type"]].model_validate(e).model_dump())
                    for e in events]
        topic = {True: settings.topic_waitlist, False: settings.topic_beds}
        # As the intake child hands them over: pre-scanned for identity numbers in its process.
        records = [SourceRecord(topic[e["event_type"] in _waitlist_types()], i % 4, i // 4, p, None,
                                bytes_may_hold_pin(p))
                   for i, (e, p) in enumerate(zip(events, payloads))]
        n = len(records)
        settle_heap()  # as the worker does once restored
        c0, t0 = time.process_time(), time.perf_counter()
        for p in payloads:
            codec.decode(p)
        decode = (time.process_time() - c0, time.perf_counter() - t0)
        c0, t0 = time.process_time(), time.perf_counter()
        for p in payloads:
            bytes_may_hold_pin(p)
        prescan = (time.process_time() - c0, time.perf_counter() - t0)
        size = settings.sink_batch_size
        stages = ("process", "write", "emit (JSON)")
        cpu = dict.fromkeys(stages, 0.0)
        wall = dict.fromkeys(stages, 0.0)
        prof = cProfile.Profile() if args.profile else None
        for i in range(0, n, size):
            marks = [(time.process_time(), time.perf_counter())]
            if prof:
                prof.enable()
            batch, out = worker.processor.process(records[i:i + size])
            if prof:
                prof.disable()
            marks.append((time.process_time(), time.perf_counter()))
            worker.sink.write(batch.rows)
            worker.processor.progress.commit()
            marks.append((time.process_time(), time.perf_counter()))
            for msgs in (out.ward_status, out.out_of_area, out.waitlist, out.deadletters):
                for m in msgs:
                    orjson.dumps(m, default=str)
            marks.append((time.process_time(), time.perf_counter()))
            for k, (a, b) in zip(stages, zip(marks, marks[1:])):
                cpu[k] += b[0] - a[0]
                wall[k] += b[1] - a[1]
        worker.db.close()
    total_cpu, total_wall = sum(cpu.values()), sum(wall.values())
    print(f"\nworker stages, {n:,} simulated events in batches of {size:,} (µs per event)")
    print(f"  {'':<34}{'CPU':>8}{'wall':>8}")
    print(f"  {'decode alone (part of process)':<34}{decode[0] / n * 1e6:8.1f}{decode[1] / n * 1e6:8.1f}")
    # The intake child runs the pre-scan (its process has CPU to spare); the processor takes its answer.
    print(f"  {'PIN pre-scan (in the intake child)':<34}{prescan[0] / n * 1e6:8.1f}{prescan[1] / n * 1e6:8.1f}")
    for k in stages:
        print(f"  {k:<34}{cpu[k] / n * 1e6:8.1f}{wall[k] / n * 1e6:8.1f}")
    print(f"  {'total':<34}{total_cpu / n * 1e6:8.1f}{total_wall / n * 1e6:8.1f}"
          f"   → {n / total_cpu:,.0f} ev/s per CPU second")
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


def _waitlist_types():
    from bedflow.worker import WAITLIST_TYPES
    return set(WAITLIST_TYPES)


if __name__ == "__main__":
    main()
