"""End-to-end throughput: simulated events → broker → processors → ClickHouse (queryable), with, in the
same run on the same broker, confluent-kafka's and faust's raw consume rates as baselines.

    python -m bench.throughput [--events 40000] [--partitions 4] [--profile stacks.txt]

Prints a table and writes bench/results/throughput.json. Timings start at the first record each
consumer sees (group joins excluded) and end when the last one is consumed (raw) or written to ClickHouse
(bedflow: the sink's row counter on /metrics; ClickHouse's own counts are checked once at the end).
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import Consumer

from bedflow.settings import Settings
from streams.broker import LocalBroker
from schemas.model import EVENT_TYPES
from bedflow.publish import Publisher
from bedflow.simulator import Simulator

RESULTS = Path(__file__).parent / "results"


def simulated(n: int, seed: int = 7) -> list[dict]:
    now = dt.datetime.now(dt.timezone.utc)
    sim = Simulator(seed=seed, start=now - dt.timedelta(days=2), scale=0.1)
    return list(itertools.islice(sim.events(1.9), n))


def produce(bootstrap: str, topics: dict, events: list[dict]) -> float:
    pub = Publisher(Settings(topic_beds=topics["beds"], topic_waitlist=topics["waitlist"]), bootstrap)
    t = time.monotonic()
    for e in events:
        pub.send(EVENT_TYPES[e["event_type"]].model_validate(e))
    assert pub.flush(120) == 0 and not pub.failed
    return time.monotonic() - t


def confluent_raw(bootstrap: str, topics: list[str], n: int) -> float:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{time.time_ns()}", "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000, "fetch.max.bytes": 52428800})
    c.subscribe(topics)
    got, first = 0, None
    while got < n:
        for m in c.consume(2000, timeout=1.0):
            if m.error():
                continue
            first = first or time.monotonic()
            got += 1
    elapsed = time.monotonic() - first
    c.close()
    return n / elapsed


def faust_raw(bootstrap: str, topics: list[str], n: int, workdir: Path) -> float:
    out = workdir / "faust_raw.json"
    subprocess.run([sys.executable, "-m", "bench.faust_raw", bootstrap, f"faustraw-{time.time_ns()}", str(n), str(out),
                    *topics], timeout=900, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = json.loads(out.read_text())
    return r["n"] / (r["last"] - r["first"])


def bedflow_e2e(worker, n: int, profile: Path | None = None) -> tuple[float, float]:
    """(events/s, seconds): from the first record the worker takes to the last one queryable."""
    worker.start(wait_ready=False)
    spy = None
    if profile:  # collapsed stacks of the worker (py-spy, a dev tool: `pip install py-spy`)
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(worker.proc.pid), "--rate", "200", "--format", "raw",
                                "--output", str(profile), "--nonblocking"], stdout=subprocess.DEVNULL)
    while True:
        try:
            if worker.metric("bedflow_events_in_total") > 0:
                break
        except Exception:  # noqa: BLE001 — API not up yet
            pass
        time.sleep(0.05)
    first = time.monotonic()
    # Polled on /metrics (rows the sink has written, counted after each insert returns): /api/v1/quality
    # counts whole tables and, polled ten times a second, took CPU from the worker being measured.
    # Each poll costs the measured worker an HTTP request (~7 % of its CPU at 20 polls a second), so poll
    # rarely while far from done and every 20 ms near the end: the end is still timed to ~20 ms.
    while (done := worker.metric("bedflow_sink_rows_total", 'table="events"') +
           worker.metric("bedflow_sink_rows_total", 'table="deadletters"')) < n:
        rate = done / max(time.monotonic() - first, 1e-3)
        time.sleep(min(0.5, max(0.02, (n - done) / max(rate, 1.0) / 4)))
    elapsed = time.monotonic() - first
    if spy:
        spy.send_signal(2)
        spy.wait(60)
    rows = worker.api("/api/v1/quality")["table_rows"]  # and queryable: counted in ClickHouse itself
    if rows["events"] + rows["deadletters"] != n:
        raise SystemExit(f"ClickHouse holds {rows['events']} events + {rows['deadletters']} dead letters, "
                         f"expected {n}")
    return n / elapsed, elapsed


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--profile", type=Path, help="write the worker's collapsed stacks (py-spy) here")
    args = ap.parse_args(argv)
    from tests.harness import Worker

    RESULTS.mkdir(parents=True, exist_ok=True)
    events = simulated(args.events)
    n = len({e["event_id"] for e in events})
    with tempfile.TemporaryDirectory() as tmp, LocalBroker() as broker:
        worker = Worker(broker.bootstrap, Path(tmp), f"bench{time.time_ns() % 10**8}", partitions=args.partitions,
                        env={"BEDFLOW_LOG_LEVEL": "warning"})
        produce_s = produce(broker.bootstrap, worker.topics, events)
        topics = [worker.topics["beds"], worker.topics["waitlist"]]
        raw_confluent = confluent_raw(broker.bootstrap, topics, n)
        raw_faust = faust_raw(broker.bootstrap, topics, n, Path(tmp))
        try:
            e2e, e2e_s = bedflow_e2e(worker, n, args.profile)
        finally:
            worker.stop()
    result = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
                   f"{__import__('os').cpu_count()} cores",
        "events": n, "partitions": args.partitions, "produce_events_per_s": round(n / produce_s),
        "confluent_raw_events_per_s": round(raw_confluent), "faust_raw_events_per_s": round(raw_faust),
        "bedflow_end_to_end_events_per_s": round(e2e), "bedflow_end_to_end_seconds": round(e2e_s, 1),
        "ratio_to_faust_raw": round(e2e / raw_faust, 3), "ratio_to_confluent_raw": round(e2e / raw_confluent, 4),
    }
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=2))
    print(f"\nthroughput, {n:,} simulated events, {args.partitions} partitions ({result['machine']})")
    print(f"  {'confluent-kafka raw consume':<34}{raw_confluent:>12,.0f} ev/s")
    print(f"  {'faust raw consume (take_events)':<34}{raw_faust:>12,.0f} ev/s")
    print(f"  {'bedflow end to end (queryable)':<34}{e2e:>12,.0f} ev/s")
    print(f"  {'ratio to faust raw':<34}{e2e / raw_faust:>12.2f} ×")
    print(f"  {'ratio to confluent raw':<34}{e2e / raw_confluent:>12.3f} ×")
    return result


if __name__ == "__main__":
    main()
