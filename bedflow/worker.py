"""The worker: the one module that wires the intake (Kafka), the processor, the sink (ClickHouse) and
the change-message producer. `bedflow worker` and `bedflow up` both start here (`run`).

Start order: migrate, serve the API (it reads ClickHouse, which holds exactly what was written, so it
answers at once, also right after a crash), rebuild the processor's state (bed events replayed from
ClickHouse; waiting-list contacts are read back when touched), then start the intake. Per batch:
process → write → progress committed → the intake acks → change messages out (streams/progress.py).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import gc
import logging
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import orjson
from confluent_kafka import Producer

from bedflow.config import Config
from bedflow.metrics import Metrics
from bedflow.settings import Settings
from schemas.codec import ConfluentRegistry, SchemaSet
from schemas.generate import published_schemas
from schemas.model import EVENT_TYPES, WaitlistEvent
from sinks import recovery
from sinks.clickhouse import ClickHouse
from schemas.privacy import clean_text
from sinks.writer import Sink, is_refusal, reason
from streams.refusals import blame, dead_letter_message, dead_letter_row
from streams.domain.waitlist import WaitlistState
from streams.intake import Intake, IntakeOptions, exit_unwritten
from streams.processor import Outputs, Processor, SourceRecord, parse_event, status_message, status_row
from streams.rows import ContactRow, EventRow, OutOfAreaRow, Refused

log = logging.getLogger("bedflow.worker")

WAITLIST_TYPES = sorted(n for n, cls in EVENT_TYPES.items() if issubclass(cls, WaitlistEvent))
BED_TYPES = sorted(n for n in EVENT_TYPES if n not in WAITLIST_TYPES)


def schema_set(settings: Settings) -> SchemaSet:
    registry = ConfluentRegistry.from_url(settings.schema_registry_url) if settings.schema_registry_url else None
    return SchemaSet(published_schemas(), registry=registry)


def intake_options(settings: Settings) -> IntakeOptions:
    return IntakeOptions(
        bootstrap=settings.bootstrap, consumer_group=settings.consumer_group,
        topics=tuple(settings.input_topics().values()), partitions=settings.partitions,
        batch_size=settings.sink_batch_size, batch_seconds=settings.sink_batch_seconds,
        session_timeout_ms=settings.session_timeout_ms, fetch_max_wait_ms=settings.consumer_fetch_max_wait_ms,
        log_level=settings.log_level, log_file=settings.log_file, log_format=settings.log_format, security=settings.kafka_security())


class Worker:
    """Everything the worker process owns: the store, the sink, the processor, the output producer."""

    def __init__(self, settings: Settings, config: Config, metrics: Metrics | None = None):
        self.settings, self.config = settings, config
        self.metrics = metrics or Metrics()
        self.db = ClickHouse(settings.resolved_clickhouse_dsn())
        self.sink = Sink(self.db, self.metrics)
        self.processor = self._processor()
        self.producer: Producer | None = None
        self._install_fault()

    def _processor(self) -> Processor:
        s = self.settings
        return Processor(
            schema_set(s), epoch=s.log_epoch, rule_config=self.config.rules,
            leave_policy=s.leave_policy, clock_skew_seconds=s.clock_skew_seconds,
            metrics=self.metrics, topics=(s.topic_beds, s.topic_waitlist),
            recent_ids=s.recent_event_ids, contacts_in_memory=s.contacts_in_memory,
            contact_store=lambda keys: until_reachable(
                "reading contacts", lambda: [row.to_contact() for row in recovery.contacts(self.db, keys)]))

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

    # -- state ---------------------------------------------------------------------------------------
    def restore(self) -> int:
        """Rebuild the processor from what ClickHouse holds (call after `db.migrate()`)."""
        self._stamp_old_contacts()
        epoch = self.settings.log_epoch
        written = recovery.progress(self.db, epoch)
        t0 = time.monotonic()
        n = self.processor.restore(
            recovery.accepted_payloads(self.db, epoch, written, event_types=BED_TYPES), written,
            recent_ids=recovery.recent_event_ids(self.db, epoch, written, event_types=WAITLIST_TYPES,
                                                 limit=self.settings.recent_event_ids),
            contact_keys=recovery.contact_keys(self.db))
        self.metrics.saw_regions(self.processor.newest_by_region)  # "region silent" holds across a restart
        log.info("restored state from %d accepted events in %.1f s (bed events; contacts are read when touched; written: %s)", n, time.monotonic() - t0,
                 {f"{t}/{p}": o for (t, p), o in sorted(written.items())})
        return n

    def _stamp_old_contacts(self):
        """Contacts written before the store kept their stamps (migration 005) or their deviation history
        (migration 010) are rebuilt once from their accepted events, a chunk of contacts at a time."""
        if not recovery.contacts_without_stamps(self.db):
            return
        t0, total = time.monotonic(), 0
        version = time.time_ns()
        for payloads in recovery.payloads_by_contact(self.db, WAITLIST_TYPES):
            state = WaitlistState()
            for p in payloads:
                state.apply(parse_event(orjson.loads(p)))
            rows = [ContactRow.of(c, version) for c in state.contacts.values()]
            self.sink.write({"waitlist_contacts": rows})
            total += len(rows)
        log.info("rebuilt %d waiting-list contacts with their stamps in %.1f s", total, time.monotonic() - t0)

    # -- batches -------------------------------------------------------------------------------------
    def handle(self, records: list[SourceRecord], decoded: list | None = None):
        """Process and write one batch; its positions are written once the store has it. Records whose
        rows the store refuses are dead-lettered (SNK-001) before the progress rows vouch for the batch."""
        started = time.perf_counter()
        batch, out = self.processor.process(records, decoded)
        rows = dict(batch.rows)
        progress = rows.pop("progress")
        refused = self.sink.write(rows)
        blamed = self._dead_letter_refused(rows, refused, out) if refused else []
        if self.sink.write({"progress": progress}):
            raise RuntimeError("ClickHouse refused a progress row")  # the batch stays unacked
        self.processor.progress.commit()
        if blamed:
            self._rebuild_without(blamed, rows, out)
        self.metrics.batch_seconds.observe(time.perf_counter() - started)
        self.metrics.saw_regions(self.processor.newest_by_region)
        self.metrics.saw_senders(rows.get("sender_last_seen", ()))
        return out

    def _dead_letter_refused(self, rows: dict, refused: list[Refused], out: Outputs) -> list[EventRow]:
        """Dead-letter the accepted records whose rows the store refused, and take back what of them
        was written: the batch's other records are in the store, these are in the dead letters."""
        blamed, unexplained = blame(rows["events"], refused)
        for r in unexplained:  # a dead letter itself, or a row no record of the batch explains
            log.error("ClickHouse refused a %s row no record of the batch explains (%s); not written",
                      r.table, clean_text(r.reason))
        if not blamed:
            return []
        now = dt.datetime.now(dt.timezone.utc)
        dead = [dead_letter_row(e, why, now) for e, why in blamed]
        for r in self.sink.write({"deadletters": dead}):  # still on the dead-letter topic (below)
            log.error("ClickHouse refused the dead letter of %s@%s (%s)", r.row.source_topic, r.row.source_offset,
                      clean_text(r.reason))
        self.sink.forget([e.event_id for e, _ in blamed])
        self.metrics.rejections.labels("SNK-001").inc(len(dead))
        out.deadletters += [dead_letter_message(d) for d in dead]
        for d in dead:
            log.warning("rejected %s:%s@%s rules=SNK-001 (after acceptance: the store refused it)",
                        d.source_topic, d.source_partition, d.source_offset)
        return [e for e, _ in blamed]

    def _rebuild_without(self, blamed: list[EventRow], rows: dict, out: Outputs):
        """The processor applied the blamed records: rebuild it from the store (which no longer holds
        them) and write the current rows of what this batch touched again, from the clean state."""
        log.warning("rebuilding the worker's state without %d dead-lettered records", len(blamed))
        self.processor = self._processor()
        until_reachable("rebuilding the state", self.restore)
        version = time.time_ns()
        wards = sorted({r.ward_id for r in rows["ward_current"]})
        fresh = [status_row(self.processor.beds.status(w), version, None) for w in wards]
        pairs = [OutOfAreaRow(h, t, self.processor.beds.matrix.get((h, t), 0), version)
                 for h, t in sorted({(r.home_region, r.treating_region) for r in rows["out_of_area_current"]})]
        for r in self.sink.write({"ward_current": fresh, "out_of_area_current": pairs}):
            log.error("ClickHouse refused a rebuilt %s row (%s)", r.table, clean_text(r.reason))
        contacts = {e.entity_key for e in blamed}  # their stored state is the one before this batch
        out.ward_status = [m for m in out.ward_status if m.get("ward_id") not in wards]
        out.ward_status += [status_message(self.processor.beds.status(w)) for w in wards]
        out.waitlist = [m for m in out.waitlist if m.get("contact_key") not in contacts]
        out.out_of_area = [{"home_region": p.home_region, "treating_region": p.treating_region,
                            "patients": p.patients} for p in pairs]

    def serve_batches(self, intake: Intake):
        """Run each batch from the intake in arrival order; answer with its id once written.

        One batch at a time is processed and written (on a writer thread), strictly in order as before;
        meanwhile this thread takes the next batch if it has arrived and decodes it (decoding reads and
        changes no state), and sends the change messages of the one before. Much of a batch's writing is
        ClickHouse's engine, which runs without the GIL: bench.throughput at 100,000 events, 0.84-0.87x
        faust raw with this, 0.72x without. With no next batch waiting, a batch is answered as soon as
        it is written, not when the next one comes. One look for the next batch, not a wait for whichever
        comes first: the decoding then overlaps more of the writing but takes the GIL from it, and the
        writing is the slower chain (A/B at 40,000 events: 0.87-0.95x with one look, 0.82-0.85x)."""
        with ThreadPoolExecutor(1, thread_name_prefix="bedflow-write") as writer:
            running = None  # (batch id, the future of its handle)
            for batch_id, records in intake.batches():
                decoded = self.processor.decode(records)
                out = None
                if running is not None and (out := self._written(intake, *running)) is None:
                    return
                running = (batch_id, writer.submit(self.handle, records, decoded))
                if out is not None:
                    self.emit(out)
                if not intake.waiting():
                    if (out := self._written(intake, *running)) is None:
                        return
                    running = None
                    self.emit(out)
            if running is not None and (out := self._written(intake, *running)) is not None:
                self.emit(out)

    @staticmethod
    def _written(intake: Intake, batch_id: int, handled: Future) -> Outputs | None:
        """Wait for a batch to be written and tell the intake (which acks it); its change messages, or
        None if the intake is gone."""
        try:
            out = handled.result()
        except BaseException:  # noqa: BLE001
            exit_unwritten()
        return out if intake.written(batch_id) else None

    # -- change messages -------------------------------------------------------------------------------
    def start_producer(self):
        self.producer = Producer({"bootstrap.servers": self.settings.bootstrap, "enable.idempotence": True,
                                  "acks": "all", "linger.ms": 20, "compression.type": "lz4",
                                  "logger": logging.getLogger("bedflow.kafka"),  # librdkafka's lines into our log
                                  **self.settings.kafka_config()})

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

    def flush_producer(self, timeout: float = 10) -> int:
        """Deliver the change messages still queued (at stop, before the broker may go); returns how many
        could not be delivered in time."""
        if self.producer is None:
            return 0
        left = self.producer.flush(timeout)
        if left:
            log.warning("%d change messages not delivered at stop (ClickHouse has the state)", left)
        return left


def until_reachable(what: str, read: Callable, max_backoff: float = 5.0):
    """A read the batch cannot go on without, retried through an outage like a write (a failed read would
    end the worker, and a restarted one would read through the same outage)."""
    delay = 0.1
    while True:
        try:
            return read()
        except Exception as exc:  # noqa: BLE001
            if is_refusal(exc):
                raise
            log.warning("ClickHouse read failed while %s (%s); retrying in %.1f s", what, clean_text(reason(exc)), delay)
            time.sleep(delay)
            delay = min(max_backoff, delay * 2)


def settle_heap():
    """Once started (libraries loaded, state restored): take every object alive now out of the cyclic
    garbage collector's sight. They live as long as the process, and each full collection (several a
    minute under load: a batch's rows live long enough to reach the oldest generation) would walk them
    all again. In bench.stages the collector's time falls from 14.5 to 6.6 µs per event (part of that
    heap is the bench's own records, which a worker does not hold). Reference counting still frees
    them; only a cycle among them would stay, and the collector runs first so that none is frozen now."""
    gc.collect()
    gc.freeze()


def run(settings: Settings, config: Config, *, admin_token: str, serve_api: bool = True,
        on_restored: Callable[[int], None] | None = None, on_stop: Callable[[], None] | None = None) -> int:
    """Run a worker until SIGINT/SIGTERM (0) or until its intake dies (70). `on_restored(n)` runs once the
    state is rebuilt from n events, just before consuming starts; `on_stop` first thing when stopping."""
    return asyncio.run(_run(settings, config, admin_token, serve_api, on_restored, on_stop))


async def _run(settings, config, admin_token, serve_api, on_restored, on_stop) -> int:
    from bedflow.views import api_app
    from web.api import metrics_app, start_site

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    worker = Worker(settings, config)
    await asyncio.to_thread(worker.db.migrate)
    runner = None
    if serve_api:
        runner = await start_site(api_app(worker.db, settings, config, worker.metrics, admin_token),
                                  settings.host, settings.port)
        log.info("API and page on http://%s:%d/", settings.host, settings.port)
    else:  # no API: /metrics alone, for the probes and Prometheus
        runner = await start_site(metrics_app(worker.metrics), settings.host, settings.port)
        log.info("metrics on http://%s:%d/metrics (no API)", settings.host, settings.port)
    restoring = asyncio.ensure_future(asyncio.to_thread(worker.restore))
    await asyncio.wait([restoring, asyncio.ensure_future(stopping.wait())], return_when=asyncio.FIRST_COMPLETED)
    if not restoring.done():  # asked to stop while restoring: nothing consumed, nothing to hand back
        if on_stop:
            on_stop()
        await restoring
        return await _close(worker, runner, code=0)
    restored = restoring.result()
    settle_heap()
    worker.start_producer()
    if on_restored:
        on_restored(restored)
    intake = Intake(intake_options(settings), on_lag=worker.metrics.set_consumer_lag)
    batches = threading.Thread(target=worker.serve_batches, args=(intake,), name="bedflow-batch", daemon=True)
    batches.start()
    child_ended = asyncio.ensure_future(asyncio.to_thread(intake.child.join))
    stop_asked = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([child_ended, stop_asked], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if on_stop:
        on_stop()
    if stop_asked.done():
        await asyncio.to_thread(intake.stop)
    else:
        log.critical("the intake process ended by itself (exit code %s); stopping", intake.child.exitcode)
        code = 70
    await asyncio.to_thread(batches.join, 30)  # the batch being written finishes first
    await asyncio.to_thread(worker.flush_producer)
    stop_asked.cancel()
    return await _close(worker, runner, code)


async def _close(worker: Worker, runner, code: int) -> int:
    if runner is not None:
        await runner.cleanup()
    worker.db.close()
    return code
