"""Freshness: publish → visible in the API, under a steady load.

    python -m bench.freshness [--seconds 60] [--rate 1000] [--probe-every 0.2] [--partitions 4]

A worker (tests/harness.Worker, the production sink batching of 0.25 s) gets the scale-1 ward topology
(~2,250 wards) and a probe ward; then simulated bed events (scale-1 census + live day) and waiting-list
events (scale-0.1 backlog + live day) are published at a steady `--rate` events/s for `--seconds`, with
occurred_at = now at send time. In the background of that load a CapacityChanged with a unique
staffed_beds value is sent to the probe ward every `--probe-every` s, and `/api/v1/status?level=ward&region=01`
is polled every `--poll-every` s until the value shows (a probe also counts as visible when a later
probe's value shows: the ward's events are processed in order). Two figures per probe:

* publish → processed: the probe's change message on the ward-status output topic (the worker emits it
  after the batch is in ClickHouse), i.e. the pipeline without the API;
* publish → visible in the API: what a user sees. The API caches its reads for 1 s (web/api.py
  `_cached`), so this figure includes up to 1 s of cache age, plus the poll interval.

Baseline, same run and same worker: the same probes for `--idle-seconds` before the load starts.
Target: p99 publish → visible ≤ 2 s. Prints a table, writes bench/results/freshness.json.
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench._common import (TOKEN, committed, encoder, install_cleanup, load_average, machine, now_iso, pct,
                           produce_raw, producer, topic_of, track, wait_for, write_result)
from streams.broker import LocalBroker
from bedflow.simulator import Simulator

PROBE_WARD = "SE2321000016-PROBE1"
PROBE_SENDER = "SE2321000016-0001"
BASE_VALUE = 1000


def load_events(n: int, beds_share: float, seed: int) -> list[dict]:
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    n_beds = int(n * beds_share)
    beds = list(itertools.islice(Simulator(seed=seed, start=start, scale=1.0).events(
        2.0, waitlist=False, include_topology=False), n_beds))
    wait = list(itertools.islice(Simulator(seed=seed, start=start, scale=0.1).events(
        1.0, beds=False, include_topology=False), n - len(beds)))
    out, acc = [], 0.0
    bi = wi = 0
    while bi < len(beds) or wi < len(wait):  # interleave at the requested share
        acc += beds_share
        if (acc >= 1 and bi < len(beds)) or wi >= len(wait):
            acc -= 1 if acc >= 1 else 0
            out.append(beds[bi])
            bi += 1
        else:
            out.append(wait[wi])
            wi += 1
    return out


class Probes:
    """CapacityChanged probes to one ward; when each was published, processed and seen in the API."""

    def __init__(self, bootstrap: str, topic: str, encode):
        from confluent_kafka import Producer

        # the region publisher's settings (bedflow/publish.py): idempotent, acks=all, linger 10 ms
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 10, "compression.type": "lz4"})
        self.topic, self.encode = topic, encode
        self.sent: dict[int, float] = {}      # value -> monotonic publish time
        self.processed: dict[int, float] = {}
        self.visible: dict[int, float] = {}
        self.phase: dict[int, str] = {}
        self.next = BASE_VALUE
        self.lock = threading.Lock()

    def send(self, phase: str):
        from tests.factory import ev

        value = self.next
        self.next += 1
        e = ev("CapacityChanged", 0, "01", ward_id=PROBE_WARD, staffed_beds=value, reason="other",
               sender_id=PROBE_SENDER) | {"occurred_at": dt.datetime.now(dt.timezone.utc).isoformat()}
        _, _, key, payload = self.encode(e)
        with self.lock:
            self.sent[value] = time.monotonic()
            self.phase[value] = phase
        self.producer.produce(self.topic, key=key, value=payload)
        self.producer.poll(0)

    def mark(self, table: dict, value: int, t: float):
        """`value` is current at time t: it and every earlier probe are done by then."""
        with self.lock:
            for v in range(BASE_VALUE, min(value, self.next - 1) + 1):
                if v in self.sent and v not in table:
                    table[v] = t

    def latencies(self, table: dict, phase: str) -> list[float]:
        return [table[v] - self.sent[v] for v in self.sent if self.phase[v] == phase and v in table]

    def missing(self, table: dict, phase: str) -> int:
        return sum(1 for v in self.sent if self.phase[v] == phase and v not in table)


def poll_api(port: int, probes: Probes, stop: threading.Event, every: float, errors: list):
    url = f"http://127.0.0.1:{port}/api/v1/status?level=ward&region=01"
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    while not stop.is_set():
        t_next = time.monotonic() + every
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                rows = json.loads(r.read())["rows"]
            t = time.monotonic()
            for row in rows:
                if row["id"] == PROBE_WARD and row["staffed_beds"] is not None and row["staffed_beds"] >= BASE_VALUE:
                    probes.mark(probes.visible, int(row["staffed_beds"]), t)
        except Exception as e:  # noqa: BLE001 — keep polling, count it
            errors.append(repr(e)[:200])
        time.sleep(max(0.0, t_next - time.monotonic()))


def consume_status(bootstrap: str, topic: str, probes: Probes, stop: threading.Event, ready: threading.Event):
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"fresh-{time.time_ns()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, "fetch.wait.max.ms": 10})
    c.subscribe([topic], on_assign=lambda *_: ready.set())
    try:
        while not stop.is_set():
            for m in c.consume(500, timeout=0.05):
                if m.error() or m.key() != PROBE_WARD.encode():
                    continue
                t = time.monotonic()
                d = json.loads(m.value())
                if d.get("staffed_beds", 0) >= BASE_VALUE:
                    probes.mark(probes.processed, int(d["staffed_beds"]), t)
    finally:
        c.close()


def steady_load(bootstrap: str, worker, encoded_iter, rate: float, seconds: float, encode, probes: Probes,
                probe_every: float, phase: str, stats: dict):
    """Send `rate` events/s (encoding each at send time, occurred_at = now) and a probe every probe_every s."""
    p = producer(bootstrap) if rate else None
    t0 = time.monotonic()
    sent = 0
    next_probe = t0
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            break
        if now >= next_probe:
            probes.send(phase)
            next_probe += probe_every
        if p is not None:
            due = int((now - t0) * rate) - sent
            stamp = dt.datetime.now(dt.timezone.utc).isoformat()
            for _ in range(max(0, due)):
                e = next(encoded_iter, None)
                if e is None:
                    raise RuntimeError("ran out of simulated events; raise --rate×--seconds margin")
                _, kind, key, value = encode(e | {"occurred_at": stamp})
                while True:
                    try:
                        p.produce(topic_of(worker, kind), key=key, value=value)
                        break
                    except BufferError:
                        p.poll(0.01)
                sent += 1
            p.poll(0)
        time.sleep(0.005)
    if p is not None:
        left = p.flush(60)
        if left:
            raise RuntimeError(f"{left} load events not delivered")
    probes.producer.flush(30)
    stats["sent"] = sent
    stats["seconds"] = time.monotonic() - t0


def summary(lat: list[float]) -> dict:
    return {"n": len(lat), "p50_s": round(pct(lat, 50), 3), "p95_s": round(pct(lat, 95), 3),
            "p99_s": round(pct(lat, 99), 3), "max_s": round(max(lat), 3) if lat else None}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--rate", type=float, default=1000, help="load events per second")
    ap.add_argument("--probe-every", type=float, default=0.2)
    ap.add_argument("--poll-every", type=float, default=0.1, help="API poll interval (s)")
    ap.add_argument("--idle-seconds", type=float, default=15, help="baseline probes before the load")
    ap.add_argument("--beds-share", type=float, default=0.5, help="share of bed events in the load")
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--seed", type=int, default=5)
    args = ap.parse_args(argv)
    install_cleanup()
    from tests.factory import ward
    from tests.harness import Worker

    need = int(args.rate * args.seconds * 1.05) + 1000
    t = time.monotonic()
    events = load_events(need, args.beds_share, args.seed)
    print(f"generated {len(events):,} simulated events in {time.monotonic() - t:.1f} s", flush=True)
    encode = encoder()
    topology = Simulator(seed=args.seed, scale=1.0).topology()
    # the sim's wards are declared long ago; the probe ward too
    topology.append(ward(PROBE_WARD, 0, region="01", mvo="101", staffed=20, sender_id=PROBE_SENDER))
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp, \
            LocalBroker(log_dir=Path(tmp) / "broker") as broker:
        worker = track(Worker(broker.bootstrap, Path(tmp), f"fresh{time.time_ns() % 10**8}",
                              partitions=args.partitions,
                              env={"BEDFLOW_LOG_LEVEL": "warning", "BEDFLOW_SINK_BATCH_SECONDS": "0.25"}))
        produce_raw(broker.bootstrap, ((topic_of(worker, k), key, v) for _, k, key, v in map(encode, topology)))
        worker.start()
        wait_for(lambda: committed(worker, ("beds",)) >= len(topology), 120, "the topology", worker=worker)
        probes = Probes(broker.bootstrap, worker.topics["beds"], encode)
        stop, ready = threading.Event(), threading.Event()
        errors: list[str] = []
        threads = [threading.Thread(target=consume_status, daemon=True,
                                    args=(broker.bootstrap, worker.topics["ward-status"], probes, stop, ready)),
                   threading.Thread(target=poll_api, args=(worker.port, probes, stop, args.poll_every, errors),
                                    daemon=True)]
        for th in threads:
            th.start()
        if not ready.wait(30):
            raise SystemExit("the ward-status consumer got no assignment in 30 s")
        try:
            print(f"baseline: probes every {args.probe_every} s on the idle worker for {args.idle_seconds:.0f} s",
                  flush=True)
            idle: dict = {}
            steady_load(broker.bootstrap, worker, iter(()), 0, args.idle_seconds, encode, probes, args.probe_every,
                        "idle", idle)
            time.sleep(3)
            print(f"load: {args.rate:.0f} events/s for {args.seconds:.0f} s, probes every {args.probe_every} s",
                  flush=True)
            stats: dict = {}
            steady_load(broker.bootstrap, worker, iter(events), args.rate, args.seconds, encode, probes,
                        args.probe_every, "load", stats)
            backlog_at_end = len(topology) + stats["sent"] + probes.next - BASE_VALUE - committed(worker)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and (probes.missing(probes.visible, "load")
                                                   or probes.missing(probes.processed, "load")):
                time.sleep(0.2)
            processed_rate = worker.metric("bedflow_events_in_total")
        finally:
            stop.set()
            for th in threads:
                th.join(10)
            worker.stop()
            probes.producer.flush(5)
            del probes.producer  # before the broker stops (no reconnect noise)

    res = {}
    for phase in ("idle", "load"):
        res[phase] = {"processed": summary(probes.latencies(probes.processed, phase)),
                      "visible": summary(probes.latencies(probes.visible, phase)),
                      "never_visible": probes.missing(probes.visible, phase)}
    vis = res["load"]["visible"]
    result = {
        "when": now_iso(), "machine": machine(), "load_average": load_average(),
        "rate_target": args.rate, "rate_achieved": round(stats["sent"] / stats["seconds"], 1),
        "seconds": args.seconds, "events_sent": stats["sent"], "beds_share": args.beds_share,
        "wards": len(topology), "partitions": args.partitions, "sink_batch_seconds": 0.25,
        "api_cache_ttl_s": 1.0, "poll_every_s": args.poll_every, "probe_every_s": args.probe_every,
        "backlog_at_end_of_load": backlog_at_end, "api_poll_errors": len(errors),
        "worker_records_in": processed_rate, **res,
        "target_p99_visible_s": 2.0, "target_met": vis["p99_s"] <= 2.0 and res["load"]["never_visible"] == 0,
        "ratio_p99_visible_load_to_idle": round(vis["p99_s"] / res["idle"]["visible"]["p99_s"], 2),
    }
    write_result("freshness", result)
    print(f"\nfreshness, {result['rate_achieved']:.0f} events/s for {args.seconds:.0f} s "
          f"({stats['sent']:,} events, {len(topology):,} wards, {args.partitions} partitions; {result['machine']}, "
          f"load {result['load_average']})")
    print(f"  {'':<54}{'n':>5}{'p50 s':>9}{'p95 s':>9}{'p99 s':>9}{'max s':>9}")
    for phase, label in (("idle", "idle worker (baseline)"), ("load", f"under {args.rate:.0f} ev/s")):
        for kind, what in (("processed", "publish → processed"), ("visible", "publish → visible in API")):
            r = res[phase][kind]
            print(f"  {what + ', ' + label:<54}{r['n']:>5}{r['p50_s']:>9.3f}{r['p95_s']:>9.3f}{r['p99_s']:>9.3f}"
                  f"{(r['max_s'] or 0):>9.3f}")
    print(f"  (visible includes the API's 1 s read cache and the {args.poll_every} s poll; "
          f"processed = change message emitted after the ClickHouse write)")
    print(f"  backlog when the load stopped: {backlog_at_end} records; probes never visible: "
          f"{res['load']['never_visible']}; API poll errors: {len(errors)}")
    print(f"  ratio p99 visible, load / idle: {result['ratio_p99_visible_load_to_idle']:.2f} ×")
    print(f"  target p99 publish → visible ≤ 2 s: {'met' if result['target_met'] else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
