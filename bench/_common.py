"""Shared helpers of the benchmarks: child-process cleanup, fast encoding and producing, percentiles,
results. Not a benchmark itself."""
from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import platform
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterable

RESULTS = Path(__file__).parent / "results"
TOKEN = "test-admin-token"  # the token tests/harness.Worker gives its workers

# -- cleanup: every child we start is killed on any exit (normal, exception, SIGINT/SIGTERM/SIGHUP) -------
_children: list = []  # tests.harness.Worker objects or subprocess.Popen started with start_new_session


def track(child):
    _children.append(child)
    return child


def _kill_group(proc: subprocess.Popen):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            try:
                proc.kill()
            except ProcessLookupError:
                pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            pass


def cleanup():
    while _children:
        c = _children.pop()
        try:
            if isinstance(c, subprocess.Popen):
                _kill_group(c)
            else:  # a harness Worker: SIGKILL its process group (no need for a clean stop at exit)
                c.kill()
        except Exception as e:  # noqa: BLE001 — cleanup must go on
            print(f"cleanup: {e!r}", file=sys.stderr)


def _on_signal(signum, _frame):
    raise SystemExit(f"stopped by signal {signum}")


def install_cleanup():
    atexit.register(cleanup)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, _on_signal)


# -- figures ------------------------------------------------------------------------------------------
def machine() -> str:
    return (f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} cores")


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def pct(values: list[float], p: float) -> float:
    """Percentile by linear interpolation (p in 0..100)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def write_result(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    return path


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


# -- process memory -----------------------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, int]:
    """VmRSS / VmHWM / VmSize ... of a process in bytes (from /proc/<pid>/status)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Vm"):
            key, _, rest = line.partition(":")
            parts = rest.split()
            if parts and parts[-1] == "kB":
                out[key] = int(parts[0]) * 1024
    return out


def tree_status(pid: int) -> dict[str, int]:
    """proc_status summed over a process and its children: the worker is two processes (the faust intake
    is a child, streams/intake.py). VmHWM is then the sum of each one's peak (an upper bound)."""
    from tests.harness import children

    total: dict[str, int] = {}
    for p in [pid, *children(pid)]:
        try:
            for k, v in proc_status(p).items():
                total[k] = total.get(k, 0) + v
        except OSError:
            continue
    return total


# -- events: generate, encode once, produce fast --------------------------------------------------------
def encoder():
    from schemas.codec import SchemaSet
    from schemas.generate import published_schemas
    from schemas.model import EVENT_TYPES, NAMESPACE

    codec = SchemaSet(published_schemas())

    def encode(e: dict):
        """dict (EVENTS.md form) -> (model, topic kind, key bytes, Avro single-object bytes)."""
        ev = EVENT_TYPES[e["event_type"]].model_validate(e)
        return ev, ev.topic, ev.key().encode(), codec.encode_single_object(f"{NAMESPACE}.{type(ev).__name__}",
                                                                           ev.model_dump())
    return encode


def producer(bootstrap: str):
    from confluent_kafka import Producer

    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 50, "batch.size": 1_000_000, "compression.type": "lz4",
                     "queue.buffering.max.messages": 500_000, "queue.buffering.max.kbytes": 1_048_576,
                     "message.timeout.ms": 120_000})


def produce_raw(bootstrap: str, records: Iterable[tuple[str, bytes, bytes]], timeout: float = 300) -> int:
    """Produce (topic, key, value) records as fast as the client goes; returns the number delivered.
    Raises if any was not delivered."""
    p = producer(bootstrap)
    failed: list[str] = []
    n = 0

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(str(err))

    for topic, key, value in records:
        while True:
            try:
                p.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            p.poll(0)
    left = p.flush(timeout)
    if left or failed:
        raise RuntimeError(f"produce: {left} not delivered, {len(failed)} failed ({failed[:1]})")
    return n


def fast_bulk(n: int, seed: int = 1, regions: int = 3, wards_per_region: int = 20,
              start: dt.datetime | None = None) -> list[dict]:
    """Like tests/bulk.bulk_events (declared wards, then admissions, leave, transfers, discharge-ready
    marks, discharges), but O(1) per event so that a million events take seconds, and with a bounded
    number of open stays (~4 per staffed bed). occurred_at rises ~3 ms per event from `start`
    (default: so that the last event is a minute before now)."""
    from tests.bulk import MUNIS, REGIONS
    from tests.factory import admit, stay_event, transfer, ward

    rnd = random.Random(seed)
    step = 0.003 / 60  # minutes per event
    now = dt.datetime.now(dt.timezone.utc)
    start = start or now - dt.timedelta(minutes=n * step + 1)
    t0 = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)  # tests/factory.T0
    base = (start - t0).total_seconds() / 60
    region_items = list(REGIONS.items())[:regions]
    events, wards = [], []
    for region, org in region_items:
        for i in range(wards_per_region):
            wid = f"{org}-B{i:03d}"
            wards.append((wid, region))
            events.append(ward(wid, base, region=region, mvo=rnd.choice(["101", "311", "901"]),
                               staffed=rnd.randint(5, 30), hospital=f"{org}-H{i % 2:03d}",
                               care_type="somatic", sender_id=f"{org}-0001"))
    by_region: dict[str, list[str]] = {}
    for wid, region in wards:
        by_region.setdefault(region, []).append(wid)
    cap = 80 * len(wards)
    open_ids: list[str] = []
    where: dict[str, tuple[str, str]] = {}
    k = 0
    minute = base
    while len(events) < n:
        minute += step
        r = rnd.random()
        if (r < 0.4 and len(open_ids) < cap) or len(open_ids) < 5:
            k += 1
            wid, region = wards[rnd.randrange(len(wards))]
            stay = f"B{seed}-{k}"
            where[stay] = (wid, region)
            open_ids.append(stay)
            events.append(admit(wid, stay, minute, mvo=rnd.choice(["101", "311", "521"]), muni=rnd.choice(MUNIS),
                                region=region, sender_id=f"{REGIONS[region]}-0001"))
            continue
        i = rnd.randrange(len(open_ids))
        stay = open_ids[i]
        wid, region = where[stay]
        sender = f"{REGIONS[region]}-0001"
        if r < 0.55:
            events.append(stay_event(rnd.choice(["LeaveStarted", "LeaveEnded"]), wid, stay, minute, region)
                          | {"sender_id": sender})
        elif r < 0.65:
            dst = rnd.choice([w for w in by_region[region] if w != wid])
            events.append(transfer(stay, wid, dst, minute, region=region) | {"sender_id": sender})
            where[stay] = (dst, region)
        elif r < 0.72:
            events.append(stay_event("DischargeReadyMarked", wid, stay, minute, region) | {"sender_id": sender})
        else:
            events.append(stay_event("PatientDischarged", wid, stay, minute, region) | {"sender_id": sender})
            open_ids[i] = open_ids[-1]
            open_ids.pop()
            del where[stay]
    return events


def topic_of(worker, kind: str) -> str:
    return worker.topics["beds"] if kind == "bedflow.beds.v1" else worker.topics["waitlist"]


def committed(worker, topics=("beds", "waitlist")) -> int:
    from tests.harness import committed_total

    return sum(committed_total(worker.bootstrap, worker.env["BEDFLOW_CONSUMER_GROUP"], worker.topics[t])
               for t in topics)


def log_lines(worker, start: int = 1) -> str:
    """All logs of this worker's lives from `start` on."""
    return "\n".join((worker.workdir / f"worker-{i}.log").read_text(errors="replace")
                     for i in range(start, worker.starts + 1)
                     if (worker.workdir / f"worker-{i}.log").exists())


def wait_for(predicate, timeout: float, what: str, interval: float = 0.3, worker=None):
    """tests.harness.wait_until with the argument order the benchmarks use (raises a TimeoutError)."""
    from tests.harness import wait_until

    return wait_until(predicate, timeout, interval, what, worker=worker)
