"""The writer: a processed batch of typed rows into ClickHouse, in order, retried until it is written.

Exactly-once comes from the design, not the broker (the ClickHouse Kafka Connect sink's idea): every
table is a ReplacingMergeTree keyed on a stable id (event_id, source position, ward+event), and a batch
ends with a `progress` row per source partition (streams/progress.py). A batch redelivered after a
crash replaces rows with identical ones, and records at or below the progress offset are skipped
before they are processed. Columns come from the row types' field names (streams/rows.py).

Two kinds of failure. An outage (unreachable, timeout, overloaded: anything but a refusal) is retried
with back-off until the store is back, nothing skipped. A refusal (the store cannot hold a value of a
row) would fail forever and stop every region behind it, so the rows are split in halves until the
refused ones are alone; those are returned to the caller (which dead-letters the records they came
from, SNK-001) and every other row is written.
"""
from __future__ import annotations

import logging
import re
import struct
import time
from typing import Mapping, Sequence

from clickhouse_connect.driver.exceptions import DatabaseError, DataError

from sinks.clickhouse import ClickHouse
from streams.rows import Refused  # noqa: F401 — re-exported: the writer's answer

log = logging.getLogger("bedflow.sink")

# ClickHouse error codes that mean "this data cannot be stored", whatever the server's health: parse and
# conversion errors, values out of a type's range, NULL in a plain column, a violated CHECK constraint.
REFUSAL_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 469})
_CODE = re.compile(r"(?:Code: |error code )(\d+)")
_NAME = re.compile(r"\(([A-Z][A-Z_]+)\)")


def is_refusal(exc: BaseException) -> bool:
    """True when the store refused the data, False when it could not take it now (an outage)."""
    if isinstance(exc, DataError):  # clickhouse-connect could not encode a value for its column
        return True
    if isinstance(exc, DatabaseError):
        m = _CODE.search(str(exc))
        return bool(m) and int(m.group(1)) in REFUSAL_CODES
    return isinstance(exc, (ValueError, TypeError, OverflowError, struct.error)) and not isinstance(exc, OSError)


def reason(exc: BaseException) -> str:
    """What was refused, without the value: the client's first line names the column; a server error
    is reduced to its code and name (its text may quote the value)."""
    text = str(exc)
    if isinstance(exc, DataError):
        return text.splitlines()[0][:200] if text else "DataError"
    code, name = _CODE.search(text), _NAME.search(text)
    if code:
        return f"ClickHouse error {code.group(1)}{f' ({name.group(1)})' if name else ''}"
    return type(exc).__name__


class Sink:
    """Writes batches in order; when ClickHouse is unreachable it backs off and retries the same rows
    (nothing skipped, nothing reordered: the caller waits, so Kafka consumption pauses too)."""

    def __init__(self, db: ClickHouse, metrics=None, max_backoff: float = 5.0):
        self.db = db
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.failing_since: float | None = None

    def write(self, rows: Mapping[str, Sequence[tuple]]) -> list[Refused]:
        """`rows`: table → typed rows (NamedTuples), in write order (dicts keep their order). Returns the
        rows the store refused; every other row is written when this returns."""
        refused: list[Refused] = []
        for table, table_rows in rows.items():
            if table_rows:
                refused += self._write_table(table, list(table_rows))
        return refused

    def _write_table(self, table: str, rows: list[tuple]) -> list[Refused]:
        refused: list[Refused] = []
        chunks = [rows]  # a stack: the first half is written before the second, keeping the order
        while chunks:
            chunk = chunks.pop()
            try:
                self._insert(table, chunk)
            except Exception as exc:  # noqa: BLE001 — only refusals get here (_insert retries the rest)
                if len(chunk) == 1:
                    log.error("ClickHouse refused a row of %s (%s); it goes to the dead letters", table, reason(exc))
                    refused.append(Refused(table, chunk[0], reason(exc)))
                else:
                    if len(chunk) == len(rows):
                        log.warning("ClickHouse refused %d rows of %s (%s); splitting to find the refused ones",
                                    len(rows), table, reason(exc))
                    mid = len(chunk) // 2
                    chunks += [chunk[mid:], chunk[:mid]]
        return refused

    def _insert(self, table: str, rows: list[tuple]):
        """Insert, retrying an outage until the store is back; a refusal is raised to the caller."""
        delay = 0.1
        while True:
            try:
                self.db.insert(table, rows, rows[0]._fields)
            except Exception as exc:  # noqa: BLE001 — any failure but a refusal means: retry later
                if is_refusal(exc):
                    raise
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                log.warning("ClickHouse write failed (%s); retrying in %.1f s, batch kept", reason(exc), delay)
                if self.metrics:
                    self.metrics.sink_retries.inc()
                    self.metrics.sink_up.set(0)
                time.sleep(delay)
                delay = min(self.max_backoff, delay * 2)
                continue
            if self.failing_since is not None:
                log.warning("ClickHouse reachable again after %.1f s; batch written",
                            time.monotonic() - self.failing_since)
                self.failing_since = None
                if self.metrics:
                    self.metrics.sink_up.set(1)
            if self.metrics:
                self.metrics.sink_rows.labels(table).inc(len(rows))
            return

    def forget(self, event_ids: Sequence[str], tables: Sequence[str] = ("events", "ward_status",
                                                                        "out_of_area_admissions")):
        """Delete the rows of events that were dead-lettered after some of their rows were written (a
        lightweight DELETE: the rows vanish from reads at once). Retried like a write."""
        if not event_ids:
            return
        for table in tables:
            delay = 0.1
            while True:
                try:
                    self.db.command(f"DELETE FROM {table} WHERE event_id IN {{ids:Array(String)}}",
                                    {"ids": list(event_ids)})
                    break
                except Exception as exc:  # noqa: BLE001
                    log.warning("ClickHouse delete failed (%s); retrying in %.1f s", reason(exc), delay)
                    time.sleep(delay)
                    delay = min(self.max_backoff, delay * 2)
