"""`bedflow up`: the whole platform on its embedded defaults — the Tansu broker (a child process), the
topics, and a worker started as `bedflow worker` starts one (bedflow/worker.py), optionally fed by
simulated regions.

The embedded broker keeps everything in memory, so a restart starts with empty topics. ClickHouse keeps
the history and the accepted events; the worker rebuilds its state from them, so the live numbers come
back as they were. Each broker start gets a new log epoch so old source offsets are not confused with
the new broker's.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
import sys
import threading

from bedflow.config import Config
from bedflow.settings import Settings
from streams.broker import LocalBroker, create_topics, wait_for_broker
from bedflow.publish import BROKER_FILE

log = logging.getLogger("bedflow.up")


def topics_of(settings: Settings) -> dict[str, int]:
    p = settings.partitions
    return {settings.topic_beds: p, settings.topic_waitlist: p, settings.topic_deadletter: p,
            settings.topic_ward_status: p, settings.topic_out_of_area: p, settings.topic_waitlist_status: p}


def up(settings: Settings, config: Config, *, simulate: bool = False, sim_seed: int = 1, sim_scale: float = 0.1,
       sim_days: float = 1.0) -> int:
    from bedflow import worker

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    broker = None
    if settings.bootstrap:
        if not wait_for_broker(settings.bootstrap, timeout=20, **settings.kafka_config()):
            print(f"bedflow up: the Kafka broker at {settings.bootstrap} does not answer", file=sys.stderr)
            return 2
    else:
        broker = LocalBroker(log_dir=settings.data_dir / "logs").start()
        epoch = f"embedded-{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
        settings = settings.model_copy(update={"bootstrap": broker.bootstrap, "log_epoch": epoch})
    addr_file = settings.data_dir / BROKER_FILE
    addr_file.write_text(settings.bootstrap)
    stop = threading.Event()
    try:
        create_topics(settings.bootstrap, topics_of(settings),
                      configs={"cleanup.policy": "delete", "retention.ms": "-1"},
                      client_config=settings.kafka_config())
        token = settings.admin_token or secrets.token_urlsafe(24)

        def restored(n: int):
            print(f"""
bedflow is up
  page and API : http://{settings.host}:{settings.port}/
  admin token  : {token}{'' if settings.admin_token else '   (generated; set BEDFLOW_ADMIN_TOKEN to fix it)'}
  Kafka        : {settings.bootstrap}{'   (embedded Tansu broker)' if broker else ''}
  ClickHouse   : {settings.resolved_clickhouse_dsn()}   ({n} events restored)
  publish      : bedflow publish --bootstrap {settings.bootstrap} examples/region-01.jsonl
{f"  log          : {settings.log_file}{chr(10)}" if settings.log_file else ""}Ctrl-C stops everything.
""", flush=True)
            if simulate:
                threading.Thread(target=run_simulation, name="simulate", daemon=True,
                                 args=(settings, stop, sim_seed, sim_scale, sim_days, n == 0)).start()

        return worker.run(settings, config, admin_token=token, on_restored=restored, on_stop=stop.set)
    finally:
        stop.set()
        addr_file.unlink(missing_ok=True)
        if broker is not None:
            broker.stop()


def run_simulation(settings: Settings, stop: threading.Event, seed: int, scale: float, days: float, fresh: bool):
    """Publish simulated regions until stopped: history from `days` ago as fast as it goes, then in
    real time (each event when its time comes)."""
    from bedflow.publish import Publisher, publish_stream
    from bedflow.simulator import Simulator

    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    # A restarted platform keeps its history, so a new simulation run gets its own seed (new ids).
    run_seed = seed if fresh else seed * 1_000_003 + int(now.timestamp())
    sim = Simulator(seed=run_seed, start=now - dt.timedelta(days=days), scale=scale)
    pub = Publisher(settings, settings.bootstrap)
    # Beds and waiting lists in two streams, so the wards fill in while the long waiting-list
    # backlog (contacts decided up to 18 months ago) is still being sent.
    streams = {"beds": sim.events(days + 365, waitlist=False),
               "waitlist": sim.events(days + 365, beds=False, include_topology=False)}
    counts: dict[str, int] = {}

    def send(name):
        counts[name] = publish_stream(pub, streams[name], stop=stop.is_set)

    threads = [threading.Thread(target=send, args=(n,), name=f"simulate-{n}", daemon=True) for n in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pub.flush(10)
    log.info("simulator stopped after %s events", counts)
