"""The worker's two halves: the faust agents that consume the raw topics (run in a child process, see
streams/intake.py) and the Runtime that processes, writes the sink and emits changes.

Commit discipline (exactly-once by design, not by the broker): the agents read with manual acks and
ack a batch's events only after the batch is in ClickHouse (a retried write); a failed batch kills the
process instead. So no offset is committed before the state change it caused is durable.
After a crash the state is rebuilt from ClickHouse (accepted events up to each partition's progress
row), and redelivered records at or below that progress are skipped.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import time
from typing import Callable

import faust
import orjson
from confluent_kafka import Producer

from bedflow.config import Config
from bedflow.metrics import Metrics
from bedflow.settings import Settings
from schemas.codec import ConfluentRegistry, SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse, Sink
from streams.broker import faust_app, faust_broker_settings
from streams.processor import Outputs, Processor, SourceRecord

log = logging.getLogger("bedflow.worker")


def schema_set(settings: Settings) -> SchemaSet:
    registry = ConfluentRegistry.from_url(settings.schema_registry_url) if settings.schema_registry_url else None
    return SchemaSet(published_schemas(), registry=registry)


class Runtime:
    """Everything the worker process owns: the store, the sink, the processor, the output producer."""

    def __init__(self, settings: Settings, config: Config, metrics: Metrics | None = None):
        self.settings, self.config = settings, config
        self.metrics = metrics or Metrics()
        self.db = ClickHouse(settings.resolved_clickhouse_dsn())
        self.sink = Sink(self.db, self.metrics)
        self.processor = Processor(
            schema_set(settings), epoch=settings.log_epoch, rule_config=config.rules,
            leave_policy=settings.leave_policy, clock_skew_seconds=settings.clock_skew_seconds,
            metrics=self.metrics, topics=(settings.topic_beds, settings.topic_waitlist))
        self.producer: Producer | None = None
        self._install_fault()

    def _install_fault(self):
        spec = self.settings.fault_clickhouse_outage
        if not spec:
            return
        after, length = (float(x) for x in spec.split(":"))
        start = time.monotonic() + after

        def fault():
            if start <= time.monotonic() < start + length:
                raise ConnectionError("injected ClickHouse outage (BEDFLOW_FAULT_CLICKHOUSE_OUTAGE)")

        self.db.fault = fault
        log.warning("fault injection: ClickHouse unavailable %.0f s after start, for %.0f s", after, length)

    def restore(self) -> int:
        """Migrate, then rebuild state from what ClickHouse holds."""
        self.db.migrate()
        _, prog = self.db.query("SELECT source_topic, source_partition, max(offset) FROM progress FINAL "
                                "WHERE epoch = {e:String} GROUP BY source_topic, source_partition",
                                {"e": self.settings.log_epoch})
        progress = {(t, int(p)): int(o) for t, p, o in prog}
        t0 = time.monotonic()
        n = self.processor.restore(self._accepted_payloads(progress), progress)
        log.info("restored state from %d accepted events in %.1f s (progress: %s)", n, time.monotonic() - t0,
                 {f"{t}/{p}": o for (t, p), o in sorted(progress.items())})
        return n

    def _accepted_payloads(self, progress, chunk_rows: int = 200_000):
        """Accepted events to rebuild from, in chunks (by a hash of event_id) so memory stays bounded:
        every older epoch's event, and this epoch's up to its partition's progress."""
        _, total = self.db.query("SELECT count() FROM events")
        chunks = max(1, int(total[0][0]) // chunk_rows + 1)
        for i in range(chunks):
            _, rows = self.db.query(
                "SELECT payload, epoch, source_topic, source_partition, source_offset FROM events FINAL "
                "WHERE cityHash64(event_id) % {k:UInt32} = {i:UInt32}", {"k": chunks, "i": i})
            for payload, epoch, topic, part, offset in rows:
                if epoch != self.settings.log_epoch or offset <= progress.get((topic, int(part)), -1):
                    yield payload

    def start_producer(self, bootstrap: str):
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 20, "compression.type": "lz4", **self.settings.kafka_config()})

    def flush_producer(self, timeout: float = 10) -> int:
        """Deliver the change messages still queued (at stop, before the broker may go); returns how many
        could not be delivered in time."""
        if self.producer is None:
            return 0
        left = self.producer.flush(timeout)
        if left:
            log.warning("%d change messages not delivered at stop (ClickHouse has the state)", left)
        return left

    def emit(self, out: Outputs):
        """Change messages for other consumers (after the sink write: ClickHouse is the record)."""
        if self.producer is None:
            return
        s = self.settings
        for topic, msgs, key in ((s.topic_ward_status, out.ward_status, "ward_id"),
                                 (s.topic_out_of_area, out.out_of_area, "home_region"),
                                 (s.topic_waitlist_status, out.waitlist, "contact_key"),
                                 (s.topic_deadletter, out.deadletters, "source_topic")):
            for m in msgs:  # orjson: this loop runs once per changed ward/contact, tens of thousands a second
                self._produce(topic, str(m.get(key, "")).encode(), orjson.dumps(m, default=str))
            if msgs:
                self.metrics.events_out.labels(topic).inc(len(msgs))
        self.producer.poll(0)

    def _produce(self, topic, key, value):
        while True:
            try:
                self.producer.produce(topic, key=key, value=value)
                return
            except BufferError:  # local queue full: let it drain
                self.producer.poll(0.1)

    def handle(self, records: list[SourceRecord]):
        """Process and write one batch (blocking; runs on a worker thread)."""
        batch, out = self.processor.process(records)
        self.sink.write(batch)
        self.metrics.sink_lag_seconds.set(0)
        now = dt.datetime.now(dt.timezone.utc)
        for region, newest in self.processor.newest_by_region.items():
            self.metrics.freshness_seconds.labels(region).set(max(0.0, (now - newest).total_seconds()))
        self.emit(out)


def exit_unwritten():
    """Never ack a batch that is not written: die (from an except block), and it is redelivered."""
    log.critical("batch failed; exiting without committing so it is redelivered", exc_info=True)
    logging.shutdown()
    os._exit(70)


Submit = Callable[[list[SourceRecord]], "asyncio.Future[None]"]


def build_app(settings: Settings, submit: Submit) -> faust.App:
    """The faust app: an agent per source topic collects batches and hands each to `submit`, whose
    future resolves once the batch is in ClickHouse; only then are its events acked."""
    app = faust_app(
        settings.consumer_group,
        fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=settings.partitions,
        stream_buffer_maxsize=max(4096, settings.sink_batch_size * 2),
        broker_credentials=settings.faust_credentials(),
        stream_wait_empty=False,  # unacked events at shutdown are redelivered (and skipped if written)
        **faust_broker_settings(settings.session_timeout_ms),
    )
    inflight = asyncio.Semaphore(2)  # batches handed over but not yet written: bounds memory

    def make_agent(topic_name: str):
        topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw",
                          value_serializer="raw", partitions=settings.partitions)

        async def consume(stream):
            manual = stream.noack()  # acks are ours: only after the batch is in ClickHouse
            batch: list = []
            first_at = 0.0
            loop = asyncio.get_running_loop()

            async def written(events, future):
                try:
                    await future
                except asyncio.CancelledError:
                    raise  # stopping: the batch stays unacked, so it is redelivered (and skipped if written)
                except BaseException:  # noqa: BLE001
                    exit_unwritten()
                inflight.release()
                for e in events:
                    await manual.ack(e)

            async def flush():
                nonlocal batch
                if not batch:
                    return
                events, batch = batch, []  # swapped before any await: the timer and the loop can't clash
                await inflight.acquire()
                records = [SourceRecord(e.message.topic, e.message.partition, e.message.offset,
                                        e.message.value if isinstance(e.message.value, bytes) else b"",
                                        e.message.key) for e in events]
                asyncio.ensure_future(written(events, submit(records)))

            async def timer():
                while True:
                    await asyncio.sleep(settings.sink_batch_seconds / 2)
                    if batch and loop.time() - first_at >= settings.sink_batch_seconds:
                        await flush()

            ticker = asyncio.ensure_future(timer())
            try:
                async for event in manual.events():
                    if not batch:
                        first_at = loop.time()
                    batch.append(event)
                    if len(batch) >= settings.sink_batch_size:
                        await flush()
            finally:
                ticker.cancel()

        consume.__name__ = f"consume_{topic_name.replace('.', '_').replace('-', '_')}"
        app.agent(topic, name=f"bedflow.{consume.__name__}")(consume)

    make_agent(settings.topic_beds)
    make_agent(settings.topic_waitlist)

    return app


async def serve_api_of(runtime: Runtime, settings: Settings, admin_token: str):
    from bedflow.views import api_app
    from web.api import start_site

    web_app = api_app(runtime.db, settings, runtime.config, runtime.metrics, admin_token)
    runner = await start_site(web_app, settings.host, settings.port)
    log.info("API and page on http://%s:%d/", settings.host, settings.port)
    return runner


def run_worker(app: faust.App, loglevel: str = "info"):
    """Run the faust worker in this process until stopped (SIGINT/SIGTERM stop it cleanly)."""
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
