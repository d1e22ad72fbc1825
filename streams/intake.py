"""The intake: faust consumes the raw topics in a child process and ships batches to the worker.

faust spends ~150 µs of Python per record and the processing (decode, rules, state, ClickHouse, change
messages) about as much again; in one process the GIL makes those add up (~3,300 ev/s on this machine).
So the intake — the faust app with its agents and their manual acks — runs in a child process and ships
each batch over a pipe; the worker (bedflow/worker.py) runs the batches in order and answers each with
its id once it is written. Only then does the child ack the batch's events (streams/progress.py has
the rule): no offset is committed before the state change it caused is durable.

Every few seconds the child also measures the lag of the partitions it holds (end offset minus the next
offset to write) and sends it over a second pipe, so that the number keeps moving while a batch is
stuck (ClickHouse down): that is when it matters.

Either process dying takes the other with it: the child gets SIGKILL when its parent dies
(PR_SET_PDEATHSIG) and stops on the pipe's end; the worker stops when the child is gone unasked.
"""
from __future__ import annotations

import asyncio
import ctypes
import itertools
import logging
import multiprocessing
import os
import pickle
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Callable, Iterator

from schemas import privacy
from streams.broker import KafkaSecurity, faust_app, faust_broker_settings
from streams.processor import SourceRecord

log = logging.getLogger("bedflow.intake")


@dataclass(frozen=True)
class IntakeOptions:
    """What the intake child needs (plain values: it crosses a process boundary)."""

    bootstrap: str
    consumer_group: str
    # One agent per entry: a topic, or a group of topics read as one (the per-region input topics of
    # one contract topic, e.g. bedflow.beds.v1.01 … .25, where each sender may write only its own).
    topics: tuple[str | tuple[str, ...], ...]
    partitions: int
    batch_size: int = 5000
    batch_seconds: float = 0.2
    session_timeout_ms: int = 10_000
    fetch_max_wait_ms: int = 100
    log_level: str = "info"
    log_file: str = ""  # empty: stderr
    log_format: str = "text"  # or "json" (schemas.privacy.log_formatter)
    security: KafkaSecurity = KafkaSecurity()
    lag_seconds: float = 5.0  # how often the consumer lag is measured (one ListOffsets request)


def exit_unwritten():
    """Never ack a batch that is not written: die (from an except block), and it is redelivered."""
    log.critical("batch failed; exiting without committing so it is redelivered", exc_info=True)
    logging.shutdown()
    os._exit(70)


# -- the child: faust consumes and ships batches ---------------------------------------------------

# A batch as plain tuples in SourceRecord's field order (smaller and faster to pickle than named ones).
Submit = Callable[[list[tuple]], "asyncio.Future[None]"]
Lags = dict[tuple[str, int], int]


def partition_lag(listed_end: int | None, fetched_end: int | None, done: int) -> int:
    """Records of a partition not yet written: its end offset minus `done`, the next offset to write.
    The end is the larger of the broker's answer to ListOffsets and the high watermark of the last fetch:
    Tansu's ListOffsets gives the last record batch's base offset + 1 (short by the batch's size), while
    a fetch's watermark is exact but stands still when nothing is fetched (the buffer full in an outage)."""
    ends = [e for e in (listed_end, fetched_end) if e is not None and e >= 0]
    return max(0, max(ends, default=done) - done)


async def consumer_lag(consumer, written: dict[tuple[str, int], int]) -> Lags | None:
    """The lag of every partition the faust consumer holds (None before it has started). The next
    offset to write is the newest of: what this process has written (`written`) and the group's
    committed offset (faust's record of it, read at assignment); else the partition's first offset."""
    try:
        tps = consumer.assignment()
    except Exception:  # noqa: BLE001 — the consumer is not started yet
        return None
    if not tps:
        return {}
    try:
        listed = await consumer.highwaters(*tps)
    except Exception:  # noqa: BLE001 — broker away: the fetch watermarks still say something
        listed = {}
    committed = getattr(consumer, "_committed_offset", {})  # faust internal: absent, written offsets still serve
    done: dict = {}
    for tp in tps:
        known = [v for v in (written.get((tp.topic, tp.partition)), committed.get(tp)) if v is not None]
        if known:
            done[tp] = max(known)
    missing = [tp for tp in tps if tp not in done]
    if missing:
        try:
            done.update(await consumer.earliest_offsets(*missing))
        except Exception:  # noqa: BLE001
            done.update((tp, 0) for tp in missing)
    lags: Lags = {}
    for tp in tps:
        try:
            fetched = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 — not fetched yet
            fetched = None
        lags[(tp.topic, tp.partition)] = partition_lag(listed.get(tp), fetched, done.get(tp) or 0)
    return lags


def build_app(opts: IntakeOptions, submit: Submit, report_lag: Callable[[Lags], None] | None = None):
    """The faust app: an agent per source topic collects batches and hands each to `submit`, whose
    future resolves once the batch is written; only then are its events acked. With `report_lag`, a
    timer hands it the lag of the partitions held, every `opts.lag_seconds`."""
    app = faust_app(
        opts.consumer_group,
        fetch_max_wait_ms=opts.fetch_max_wait_ms,
        eager_delivery=True,
        broker=f"kafka://{opts.bootstrap}",
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        topic_partitions=opts.partitions,
        stream_buffer_maxsize=max(4096, opts.batch_size * 2),
        broker_credentials=opts.security.faust_credentials(),
        stream_wait_empty=False,  # unacked events at shutdown are redelivered (and skipped if written)
        **faust_broker_settings(opts.session_timeout_ms),
    )
    inflight = asyncio.Semaphore(2)  # batches handed over but not yet written: bounds memory
    # Batches the worker has and has not written yet, and a waker per agent rung when one is written. A batch
    # older than batch_seconds goes when the worker is idle; while it is busy the batch grows (to
    # batch_size) and goes the moment the worker is free: the same latency when the load is light, fewer
    # and larger writes when it is heavy (each costs the worker tens of ms whatever its size: measured).
    busy = {"batches": 0}
    wakers: list[asyncio.Event] = []
    written_upto: dict[tuple[str, int], int] = {}  # (topic, partition) → next offset to write

    if report_lag is not None:
        @app.timer(interval=opts.lag_seconds, name="bedflow.consumer_lag")
        async def measure_lag():
            lags = await consumer_lag(app.consumer, written_upto)
            if lags is not None:
                report_lag(lags)

    def make_agent(names: tuple[str, ...]):
        topic = app.topic(*names, key_type=bytes, value_type=bytes, key_serializer="raw",
                          value_serializer="raw", partitions=opts.partitions)
        topic_name = names[0]

        async def consume(stream):
            manual = stream.noack()  # acks are ours: only after the batch is written
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
                busy["batches"] -= 1
                for waker in wakers:
                    waker.set()
                for e in events:
                    await manual.ack(e)
                for m in (e.message for e in events):
                    if m.offset >= written_upto.get((m.topic, m.partition), 0):
                        written_upto[(m.topic, m.partition)] = m.offset + 1

            async def flush():
                nonlocal batch
                if not batch:
                    return
                events, batch = batch, []  # swapped before any await: the timer and the loop can't clash
                await inflight.acquire()
                busy["batches"] += 1
                # Plain tuples in SourceRecord's field order, built once, with the byte pre-scan for identity
                # numbers: it runs in this process, which has CPU to spare since the eager delivery (~45 µs
                # per event against the worker's ~80; bench.throughput prints both processes' CPU).
                may_hold_pin = privacy.bytes_may_hold_pin
                records = [(m.topic, m.partition, m.offset, v, m.key, may_hold_pin(v))
                           for m in (e.message for e in events)
                           for v in (m.value if isinstance(m.value, bytes) else b"",)]
                asyncio.ensure_future(written(events, submit(records)))

            waker = asyncio.Event()
            wakers.append(waker)

            async def timer():
                while True:
                    try:
                        await asyncio.wait_for(waker.wait(), opts.batch_seconds / 2)
                    except asyncio.TimeoutError:
                        pass
                    waker.clear()
                    if batch and loop.time() - first_at >= opts.batch_seconds and not busy["batches"]:
                        await flush()

            ticker = asyncio.ensure_future(timer())
            try:
                async for event in manual.events():
                    if not batch:
                        first_at = loop.time()
                    batch.append(event)
                    if len(batch) >= opts.batch_size:
                        await flush()
            finally:
                ticker.cancel()

        consume.__name__ = f"consume_{topic_name.replace('.', '_').replace('-', '_')}"
        app.agent(topic, name=f"bedflow.{consume.__name__}")(consume)

    for entry in opts.topics:
        make_agent((entry,) if isinstance(entry, str) else tuple(entry))
    return app


class PipeSubmit:
    """`submit` for build_app: send the batch to the worker process; the returned future resolves when
    that process reports the batch written (in order: one pipe, one sender thread)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future] = {}
        self.sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bedflow-intake-send")
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, records: list[tuple]) -> asyncio.Future:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            threading.Thread(target=self._replies, name="bedflow-intake-replies", daemon=True).start()
        batch_id = next(self.ids)
        future = self.loop.create_future()
        self.waiting[batch_id] = future
        self.sender.submit(self._send, batch_id, records)
        return future

    def _send(self, batch_id: int, records: list[tuple]):
        try:
            self.conn.send_bytes(pickle.dumps((batch_id, records), protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:
            self._parent_gone()

    def _replies(self):
        while True:
            try:
                batch_id = self.conn.recv()
            except (EOFError, OSError):
                self._parent_gone()
                return
            self.loop.call_soon_threadsafe(self._written, batch_id)

    def _written(self, batch_id: int):
        future = self.waiting.pop(batch_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    @staticmethod
    def _parent_gone():
        # Nothing unwritten is acked, so stopping here loses nothing: the batches are redelivered.
        log.warning("the processing process is gone; the intake stops without committing more")
        logging.shutdown()
        os._exit(0)


def _die_with_parent():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the pipe's end still stops the child
        pass


def _lag_sender(conn: Connection | None) -> Callable[[Lags], None] | None:
    if conn is None:
        return None

    def send(lags: Lags):
        try:
            conn.send(lags)  # a few hundred bytes every few seconds: never blocks on a reading parent
        except OSError:  # the parent is gone: the batch pipe notices it too
            pass
    return send


def intake_main(opts: IntakeOptions, conn: Connection, lag_conn: Connection | None = None):
    """Entry point of the child process: run the faust worker until SIGTERM/SIGINT."""
    import faust

    _die_with_parent()
    logging.basicConfig(level=getattr(logging, opts.log_level.upper(), logging.INFO),
                        **({"filename": opts.log_file} if opts.log_file else {}))
    for handler in logging.getLogger().handlers:
        handler.setFormatter(privacy.log_formatter(opts.log_format))
    privacy.warm()  # the pre-scan's tables before the first batch, not inside it
    app = build_app(opts, PipeSubmit(conn), _lag_sender(lag_conn))
    faust.Worker(app, loglevel=opts.log_level, quiet=True, redirect_stdouts=False,
                 **({"logfile": opts.log_file} if opts.log_file else {})).execute_from_commandline()


# -- the parent's side of the pipe --------------------------------------------------------------------

class Intake:
    """The worker's handle on the intake child: start it, take its batches in order, answer each.
    `on_lag` gets the consumer lag of the partitions the child holds, from a thread of its own."""

    def __init__(self, opts: IntakeOptions, on_lag: Callable[[Lags], None] | None = None):
        ctx = multiprocessing.get_context("spawn")
        self._here, there = ctx.Pipe()
        lag_here, lag_there = ctx.Pipe(duplex=False) if on_lag else (None, None)
        self.child = ctx.Process(target=intake_main, args=(opts, there, lag_there), name="bedflow-intake")
        self.child.start()
        there.close()
        if on_lag:
            lag_there.close()
            threading.Thread(target=self._lags, args=(lag_here, on_lag), name="bedflow-intake-lag",
                             daemon=True).start()

    @staticmethod
    def _lags(conn: Connection, on_lag: Callable[[Lags], None]):
        while True:
            try:
                lags = conn.recv()
            except (EOFError, OSError):
                return  # the intake stopped
            try:
                on_lag(lags)
            except Exception:  # noqa: BLE001 — a metric must never stop the worker
                log.exception("consumer lag not recorded")

    def batches(self) -> Iterator[tuple[int, list[SourceRecord]]]:
        """(batch id, records) in arrival order, until the intake stops."""
        while True:
            try:
                batch_id, rows = pickle.loads(self._here.recv_bytes())
            except (EOFError, OSError):
                return  # the intake stopped
            yield batch_id, list(map(SourceRecord._make, rows))

    def waiting(self) -> bool:
        """Whether a batch is there to take now."""
        try:
            return self._here.poll(0)
        except (EOFError, OSError):
            return False

    def written(self, batch_id: int) -> bool:
        """Tell the intake the batch is written (it acks the batch's offsets); False if it is gone."""
        try:
            self._here.send(batch_id)
            return True
        except OSError:
            return False

    def stop(self, timeout: float = 30):
        """SIGTERM: faust stops cleanly; in-flight batches stay unacked (redelivered, skipped if written)."""
        if self.child.is_alive():
            self.child.terminate()
        self.child.join(timeout)
        if self.child.is_alive():
            self.child.kill()
            self.child.join()
