"""What a regional integrator runs: validate locally with the platform's own rules (checking exactly what
`bedflow validate` checks: one context, bedflow.files.validation_context), encode Avro, send through an
idempotent producer (acks=all) keyed as EVENTS.md says. The simulator publishes through the same
Publisher."""
from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterable

from confluent_kafka import Producer

from bedflow.config import Config
from bedflow.settings import Settings
from schemas import reference
from schemas.codec import ConfluentRegistry, SchemaSet
from schemas.generate import published_schemas
from schemas.model import NAMESPACE, Event

BROKER_FILE = "broker.addr"  # `bedflow up` writes the embedded broker's address here


def resolve_bootstrap(settings: Settings) -> str | None:
    if settings.bootstrap:
        return settings.bootstrap
    f = settings.data_dir / BROKER_FILE
    return f.read_text().strip() if f.exists() else None


class Publisher:
    def __init__(self, settings: Settings, bootstrap: str):
        self.settings = settings
        self.registry = ConfluentRegistry.from_url(settings.schema_registry_url) if settings.schema_registry_url else None
        self.codec = SchemaSet(published_schemas(), registry=self.registry)
        self.schema_ids: dict[str, int] = {}
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 10, "compression.type": "lz4", "message.timeout.ms": 30000,
                                  "socket.timeout.ms": 10000, "logger": logging.getLogger("bedflow.kafka"),
                                  **settings.kafka_config()})
        self.delivered = Counter()
        self.failed: list[str] = []
        self.topics = {"bedflow.beds.v1": settings.topic_beds, "bedflow.waitlist.v1": settings.topic_waitlist}

    def encode(self, ev: Event) -> bytes:
        name = f"{NAMESPACE}.{type(ev).__name__}"
        record = ev.model_dump()
        if self.registry is None:
            return self.codec.encode_single_object(name, record)
        if name not in self.schema_ids:
            subject = f"{self.topics[ev.topic]}-{name}"  # TopicRecordNameStrategy: several types per topic
            self.schema_ids[name] = self.registry.register(subject, self.codec.reader_for(name).schema)
        return self.codec.encode_confluent(name, record, self.schema_ids[name])

    def _on_delivery(self, err, msg):
        if err is None:
            self.delivered[msg.topic()] += 1
        else:
            self.failed.append(str(err))

    def topic_for(self, contract_topic: str, region_code: str | None) -> str:
        """The topic to write: the contract's, or with region topics on (deploy/) the sender's own region's
        (`<topic>.<region_code>`, the only one its Kafka ACL lets it write)."""
        topic = self.topics.get(contract_topic, contract_topic)
        known = region_code in reference.regions()  # a malformed event's region is never a topic name
        return f"{topic}.{region_code}" if self.settings.region_topics and known else topic

    def send(self, ev: Event, value: bytes | None = None):
        topic = self.topic_for(ev.topic, ev.region_code)
        payload = value if value is not None else self.encode(ev)
        self.send_raw(topic, ev.key().encode(), payload)

    def send_raw(self, topic: str, key: bytes | None, value: bytes):
        while True:
            try:
                self.producer.produce(topic, key=key, value=value, on_delivery=self._on_delivery)
                break
            except BufferError:
                self.producer.poll(0.05)
        self.producer.poll(0)

    def flush(self, timeout: float = 60) -> int:
        return self.producer.flush(timeout)


def publish_files(settings: Settings, config: Config, files: list[Path], progress: bool = True) -> int:
    from tqdm import tqdm

    from streams.broker import wait_for_broker
    from bedflow.files import COD005_NOT_CHECKED, UnusableInput, read_items, validation_context
    from schemas.rules import decoding_verdict, validate_record

    bootstrap = resolve_bootstrap(settings)
    if not bootstrap:
        print("bedflow publish: no broker given: use --bootstrap HOST:PORT (or run `bedflow up`, which "
              "writes its broker address for publish to find)", file=sys.stderr)
        return 2
    if not wait_for_broker(bootstrap, timeout=5, **settings.kafka_config()):
        print(f"bedflow publish: cannot reach a Kafka broker at {bootstrap}; nothing was sent", file=sys.stderr)
        return 2
    pub = Publisher(settings, bootstrap)
    try:
        items = [it for f in files for it in read_items(f, pub.codec)]
    except UnusableInput as e:
        print(f"bedflow publish: {e}", file=sys.stderr)
        return 2
    ctx = validation_context(items, config, settings.clock_skew_seconds)  # exactly what `bedflow validate` checks
    refused: list[tuple[str, list]] = []
    bar = tqdm(items, unit="ev", desc="publishing", disable=not progress or len(items) < 1000, file=sys.stderr)
    for it in bar:
        v = decoding_verdict(*it.error) if it.error else validate_record(it.record, ctx)
        if v.rejected:
            refused.append((it.where, v.violations))
            continue
        pub.send(v.event, it.raw if it.raw and pub.registry is None else None)
    left = pub.flush(60)
    sent = sum(pub.delivered.values())
    per_topic = ", ".join(f"{t}: {n}" for t, n in sorted(pub.delivered.items()))
    print(f"sent {sent} event(s)" + (f" ({per_topic})" if per_topic else ""))
    if refused:
        print(f"refused {len(refused)} record(s):")
        for where, violations in refused:
            print(f"  {where}: " + "; ".join(f"{x.rule_id} {x.message}" for x in violations))
    if ctx.known_wards is None:
        print(COD005_NOT_CHECKED)
    if pub.failed or left:
        print(f"not delivered: {len(pub.failed) + left} ({pub.failed[0] if pub.failed else 'timed out'})",
              file=sys.stderr)
        return 2 if sent == 0 else 1
    return 1 if refused else 0


def simulate_command(settings: Settings, config: Config, args) -> int:
    from bedflow.simulator import Simulator

    regions = args.regions.split(",") if args.regions else None
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    start = dt.datetime.fromisoformat(args.start) if args.start else now - dt.timedelta(days=args.days)
    sim = Simulator(seed=args.seed, regions=regions, start=start, scale=args.scale)
    only = getattr(args, "only", None)
    stream = sim.events(args.days, duplicates=args.duplicates, late=args.late, malformed=args.malformed,
                        silent_regions=set(args.silent_region), beds=only != "waitlist", waitlist=only != "beds",
                        include_topology=only != "waitlist")
    if args.out:
        n = 0
        with open(args.out, "w", encoding="utf-8") as f:
            for e in stream:
                f.write(json.dumps(e, ensure_ascii=False) + "\n")
                n += 1
        print(f"wrote {n} events to {args.out}")
        return 0
    bootstrap = resolve_bootstrap(settings)
    from streams.broker import wait_for_broker

    if not bootstrap or not wait_for_broker(bootstrap, timeout=5, **settings.kafka_config()):
        print(f"bedflow simulate: cannot reach a Kafka broker at {bootstrap or '(none given)'}", file=sys.stderr)
        return 2
    pub = Publisher(settings, bootstrap)
    n = publish_stream(pub, stream, speed=args.speed, start=start)
    pub.flush()
    print(f"published {n} simulated events")
    return 0


def _instant(value) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(value)
        return t if t.tzinfo else None
    except (TypeError, ValueError):
        return None


def publish_stream(pub: Publisher, stream: Iterable[dict], *, speed: float = 0.0, start: dt.datetime | None = None,
                   stop=lambda: False) -> int:
    """Send simulated events (dicts in EVENTS.md form). Malformed ones are sent as they are (JSON bytes that
    fail decoding, or Avro of an invalid record when it still encodes), so the platform dead-letters them.
    Past events go as fast as possible (or `speed` simulated seconds per real second); future ones wait
    for the wall clock."""
    from schemas.model import EVENT_TYPES

    n = 0
    wall0 = time.monotonic()
    for e in stream:
        if stop():
            break
        e = {k: v for k, v in e.items() if not k.startswith("_")}
        occurred = _instant(e.get("occurred_at"))
        if occurred is not None:
            if occurred > dt.datetime.now(dt.timezone.utc):
                # never send the future: the platform rejects it (MNG-004); wait for real time
                while not stop() and occurred > dt.datetime.now(dt.timezone.utc):
                    time.sleep(min(0.5, (occurred - dt.datetime.now(dt.timezone.utc)).total_seconds()))
            elif speed and start:
                due = wall0 + (occurred - start).total_seconds() / speed
                if due > time.monotonic():
                    time.sleep(due - time.monotonic())
        cls = EVENT_TYPES.get(e.get("event_type"))
        try:
            ev = cls.model_validate(e) if cls else None
        except Exception:  # noqa: BLE001 — malformed on purpose: send the raw JSON, it gets dead-lettered
            ev = None
        if ev is not None:
            try:
                pub.send(ev)
                n += 1
                continue
            except Exception:  # noqa: BLE001
                pass
        topic = pub.topic_for(cls.topic if cls else "bedflow.beds.v1", str(e.get("region_code") or "") or None)
        pub.send_raw(topic, str(e.get("ward_id", "")).encode(), json.dumps(e, default=str).encode())
        n += 1
    return n
