"""End-to-end throughput: simulated events → broker → processors → ClickHouse (queryable), with, in the
same run on the same broker, confluent-kafka's and faust's raw consume rates as baselines (faust's
measured before and after bedflow's run, averaged; and once with the intake's eager delivery).

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
import os
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


def faust_raw(bootstrap: str, topics: list[str], n: int, workdir: Path, eager: bool = False) -> tuple[float, float]:
    """(events/s, CPU µs per event) of faust consuming alone: as shipped, or with the intake's eager delivery."""
    out = workdir / "faust_raw.json"
    subprocess.run([sys.executable, "-m", "bench.faust_raw", *(["--eager"] if eager else []), bootstrap,
                    f"faustraw-{time.time_ns()}", str(n), str(out), *topics],
                   timeout=900, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    r = json.loads(out.read_text())
    return r["n"] / (r["last"] - r["first"]), r["cpu"] / r["n"] * 1e6


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of a process and each of its descendants, by command."""
    tick = os.sysconf("SC_CLK_TCK")
    out, stack = {}, [pid]
    while stack:
        p = stack.pop()
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
            cmd = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            kids = [int(k) for t in Path(f"/proc/{p}/task").iterdir()
                    for k in (t / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = "worker" if p == pid else ("intake child" if "spawn_main" in cmd else cmd.split()[-1][:30])
        out[f"{name} ({p})"] = (int(fields[11]) + int(fields[12])) / tick
        stack += kids
    return out


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat; all cores, idle and iowait left out)."""
    f = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(f) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def bedflow_e2e(worker, n: int, profile: Path | None = None, cpu: dict | None = None,
                broker_pid: int | None = None) -> tuple[float, float]:
    """(events/s, seconds): from the first record the worker takes to the last one queryable. `cpu`, when
    given, gets the CPU seconds each of the worker's processes spent in that window."""
    worker.start(wait_ready=False)
    spy = None
    if profile:  # collapsed stacks of the worker (py-spy, a dev tool: `pip install py-spy`)
        exe = Path(sys.executable).with_name("py-spy")  # the venv's, when installed there
        pid = worker.proc.pid
        while os.environ.get("BENCH_PROFILE_CHILD") and not (kids := Path(f"/proc/{pid}/task/{pid}/children").read_text().split()):
            time.sleep(0.05)
        if os.environ.get("BENCH_PROFILE_CHILD"):  # the intake child instead (a dev switch)
            time.sleep(3)
            pid = int([k for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                       if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()][0])
        # BENCH_PROFILE_GIL=1: only the threads holding the GIL (what bounds a Python process's speed)
        spy = subprocess.Popen([str(exe) if exe.exists() else "py-spy", "record", "--pid", str(pid),
                                "--rate", "200", "--format", "raw",
                                "--output", str(profile), "--nonblocking", *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else [])], stdout=subprocess.DEVNULL)
    while True:
        try:
            if worker.metric("bedflow_events_in_total") > 0:
                break
        except Exception:  # noqa: BLE001 — API not up yet
            pass
        time.sleep(0.05)
    first = time.monotonic()
    cpu0 = cpu_seconds(worker.proc.pid)
    broker0 = cpu_seconds(broker_pid) if broker_pid else {}
    busy0 = machine_busy()
    # Polled on /metrics (rows the sink has written, counted after each insert returns): /api/v1/quality
    # counts whole tables and, polled ten times a second, took CPU from the worker being measured.
    # Each poll costs the measured worker an HTTP request (~7 % of its CPU at 20 polls a second), so poll
    # rarely while far from done and every 20 ms near the end: the end is still timed to ~20 ms.
    while (done := worker.metric("bedflow_sink_rows_total", 'table="events"') +
           worker.metric("bedflow_sink_rows_total", 'table="deadletters"')) < n:
        rate = done / max(time.monotonic() - first, 1e-3)
        time.sleep(min(0.5, max(0.02, (n - done) / max(rate, 1.0) / 4)))
    elapsed = time.monotonic() - first
    if cpu is not None:
        cpu["batches"] = worker.metric("bedflow_batch_duration_seconds_count")
        cpu.update({k: round(v - cpu0.get(k, 0.0), 2) for k, v in cpu_seconds(worker.proc.pid).items()})
        if broker_pid:  # the broker serves the same fetches in both runs: its share says what is left
            cpu.update({k.replace("worker", "broker"): round(v - broker0.get(k, 0.0), 2)
                        for k, v in cpu_seconds(broker_pid).items()})
        cpu["machine (all cores)"] = round(machine_busy() - busy0, 2)
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
                        env={"BEDFLOW_LOG_LEVEL": "warning", **{k: v for k, v in os.environ.items() if k.startswith("BEDFLOW_SINK_")}})
        produce_s = produce(broker.bootstrap, worker.topics, events)
        topics = [worker.topics["beds"], worker.topics["waitlist"]]
        raw_confluent = confluent_raw(broker.bootstrap, topics, n)
        before = faust_raw(broker.bootstrap, topics, n, Path(tmp))
        raw_eager, raw_eager_cpu = faust_raw(broker.bootstrap, topics, n, Path(tmp), eager=True)
        cpu: dict[str, float] = {}
        try:
            e2e, e2e_s = bedflow_e2e(worker, n, args.profile, cpu, broker.proc.pid if broker.proc else None)
        finally:
            worker.stop()
        # The baseline once before and once after bedflow's run, averaged: the machine's speed drifts
        # over a minute (faust raw alone has varied 9,000-14,500 ev/s between runs here).
        after = faust_raw(broker.bootstrap, topics, n, Path(tmp))
        raw_faust = (before[0] + after[0]) / 2
        raw_faust_cpu = (before[1] + after[1]) / 2
    result = {
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
                   f"{__import__('os').cpu_count()} cores",
        "events": n, "partitions": args.partitions, "produce_events_per_s": round(n / produce_s),
        "confluent_raw_events_per_s": round(raw_confluent), "faust_raw_events_per_s": round(raw_faust),
        "faust_raw_before_and_after_events_per_s": [round(before[0]), round(after[0])],
        "bedflow_end_to_end_events_per_s": round(e2e), "bedflow_end_to_end_seconds": round(e2e_s, 1),
        "ratio_to_faust_raw": round(e2e / raw_faust, 3), "ratio_to_confluent_raw": round(e2e / raw_confluent, 4),
        "bedflow_batches": int(cpu.pop("batches", 0)),
        "bedflow_cpu_us_per_event": {k: round(v / n * 1e6, 1) for k, v in cpu.items()},
        "faust_raw_us_per_event": round(1e6 / raw_faust, 1),
        "faust_raw_cpu_us_per_event": round(raw_faust_cpu, 1),
        # faust with the intake's eager delivery (streams/broker.py): what of the margin that is
        "faust_raw_eager_events_per_s": round(raw_eager), "faust_raw_eager_cpu_us_per_event": round(raw_eager_cpu, 1),
        "ratio_to_faust_raw_eager": round(e2e / raw_eager, 3),
    }
    (RESULTS / "throughput.json").write_text(json.dumps(result, indent=2))
    print(f"\nthroughput, {n:,} simulated events, {args.partitions} partitions ({result['machine']})")
    print(f"  {'confluent-kafka raw consume':<34}{raw_confluent:>12,.0f} ev/s")
    print(f"  {'faust raw consume (take_events)':<34}{raw_faust:>12,.0f} ev/s "
          f"(mean of {before[0]:,.0f} before and {after[0]:,.0f} after)")
    print(f"  {'faust raw, eager delivery':<34}{raw_eager:>12,.0f} ev/s")
    print(f"  {'bedflow end to end (queryable)':<34}{e2e:>12,.0f} ev/s")
    print(f"  {'ratio to faust raw':<34}{e2e / raw_faust:>12.2f} ×")
    print(f"  {'ratio to faust raw, eager':<34}{e2e / raw_eager:>12.2f} ×")
    print(f"  {'ratio to confluent raw':<34}{e2e / raw_confluent:>12.3f} ×")
    print(f"  {'batches the worker wrote':<34}{result['bedflow_batches']:>12,} (mean {n / max(result['bedflow_batches'], 1):,.0f} events)")
    print(f"  CPU µs per event in the end-to-end window (faust raw: {1e6 / raw_faust:.0f} µs wall, "
          f"{raw_faust_cpu:.0f} µs CPU per event; eager: {raw_eager_cpu:.0f} µs CPU):")
    for k, v in result["bedflow_cpu_us_per_event"].items():
        print(f"    {k:<32}{v:>12.1f}")
    return result


if __name__ == "__main__":
    main()
