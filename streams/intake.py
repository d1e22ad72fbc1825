"""The worker on two cores: a child process consumes Kafka (faust), this process processes and writes.

faust spends ~150 µs of Python per record and the processing (decode, rules, state, ClickHouse, change
messages) about as much again; in one process the GIL makes those add up (~3,300 ev/s on this machine).
So the intake — the faust app with its agents and their manual acks — runs in a child process and
ships each batch over a pipe; this process (the processor state, the ClickHouse store, the API) runs the
batches in order on one thread and answers each with its id once it is written. Only then does the
child ack the batch's events, so the commit discipline of streams/app.py is unchanged: no offset is
committed before the state change it caused is durable. Either process dying takes the other with it:
the child gets SIGKILL when its parent dies (PR_SET_PDEATHSIG) and stops on the pipe's end; the parent
exits 70 when the child is gone without being asked.
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
from multiprocessing.connection import Connection

from bedflow.settings import Settings
from streams.processor import SourceRecord

log = logging.getLogger("bedflow.intake")


# -- the child: faust consumes and ships batches ---------------------------------------------------

class PipeSubmit:
    """`submit` for streams.app.build_app: send the batch to the processing process; the returned future
    resolves when that process reports the batch written (in order: one pipe, one sender thread)."""

    def __init__(self, conn: Connection):
        self.conn = conn
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future] = {}
        self.sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bedflow-intake-send")
        self.loop: asyncio.AbstractEventLoop | None = None

    def __call__(self, records: list[SourceRecord]) -> asyncio.Future:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            threading.Thread(target=self._replies, name="bedflow-intake-replies", daemon=True).start()
        batch_id = next(self.ids)
        future = self.loop.create_future()
        self.waiting[batch_id] = future
        rows = [(r.topic, r.partition, r.offset, r.value, r.key) for r in records]
        self.sender.submit(self._send, batch_id, rows)
        return future

    def _send(self, batch_id: int, rows: list[tuple]):
        try:
            self.conn.send_bytes(pickle.dumps((batch_id, rows), protocol=pickle.HIGHEST_PROTOCOL))
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


def intake_main(settings_fields: dict, conn: Connection):
    """Entry point of the child process."""
    from streams.app import build_app, run_worker

    _die_with_parent()
    settings = Settings(**settings_fields)
    logging.basicConfig(level=getattr(logging, settings.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(settings, PipeSubmit(conn))
    run_worker(app, settings.log_level)


# -- the parent: runs batches, serves the API, supervises the child ------------------------------

def _serve_batches(conn: Connection, runtime) -> None:
    """Run each batch from the intake in arrival order and answer with its id once written."""
    from streams.app import exit_unwritten

    while True:
        try:
            batch_id, rows = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the intake stopped
        try:
            runtime.handle([SourceRecord(*row) for row in rows])
        except BaseException:  # noqa: BLE001
            exit_unwritten()
        try:
            conn.send(batch_id)
        except OSError:
            return


def run_with_intake(settings: Settings, runtime, *, serve_api: bool = True, admin_token: str = "",
                    extra_tasks=(), on_stop=()) -> int:
    """Run the worker as intake child + this process until SIGINT/SIGTERM (0) or the child dies (70).
    `on_stop` callables run first thing when stopping (e.g. to end threads the extra tasks started)."""
    ctx = multiprocessing.get_context("spawn")
    here, there = ctx.Pipe()
    child = ctx.Process(target=intake_main, args=(settings.model_dump(), there), name="bedflow-intake")
    child.start()
    there.close()
    batches = threading.Thread(target=_serve_batches, args=(here, runtime), name="bedflow-batch", daemon=True)
    batches.start()
    return asyncio.run(_supervise(settings, runtime, child, batches, serve_api, admin_token, extra_tasks, on_stop))


async def _supervise(settings, runtime, child, batches, serve_api, admin_token, extra_tasks, on_stop) -> int:
    from streams.app import serve_api_of

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    runner = await serve_api_of(runtime, settings, admin_token) if serve_api else None
    tasks = [asyncio.ensure_future(t()) for t in extra_tasks]
    child_ended = asyncio.ensure_future(asyncio.to_thread(child.join))
    stop_asked = asyncio.ensure_future(stopping.wait())
    await asyncio.wait([child_ended, stop_asked], return_when=asyncio.FIRST_COMPLETED)
    code = 0
    for fn in on_stop:
        fn()
    if stop_asked.done():
        if child.is_alive():
            child.terminate()  # SIGTERM: faust stops cleanly; in-flight batches stay unacked
        await asyncio.wait([child_ended], timeout=30)
        if child.is_alive():
            child.kill()
            await child_ended
    else:
        log.critical("the intake process ended by itself (exit code %s); stopping", child.exitcode)
        code = 70
    await asyncio.to_thread(batches.join, 30)  # the batch being written finishes first
    await asyncio.to_thread(runtime.flush_producer)
    stop_asked.cancel()
    for t in tasks:
        t.cancel()
    if runner is not None:
        await runner.cleanup()
    return code
