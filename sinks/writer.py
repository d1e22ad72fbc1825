"""The writer: a processed batch of typed rows into ClickHouse, in order, retried until it is written.

Exactly-once comes from the design, not the broker (the ClickHouse Kafka Connect sink's idea): every
table is a ReplacingMergeTree keyed on a stable id (event_id, source position, ward+event), and a batch
ends with a `progress` row per source partition (streams/progress.py). A batch redelivered after a
crash replaces rows with identical ones, and records at or below the progress offset are skipped
before they are processed. Columns come from the row types' field names (streams/rows.py).

Two kinds of failure, and every failure is one of them:
- An outage is retried with back-off until the store takes the rows, nothing skipped: the connection
  failed (OSError, the client's OperationalError, the tests' injected outage), or the server answered
  with a code that says it cannot take any row now (OUTAGE_CODES: overloaded, timed out, out of memory
  or disk, Keeper or replicas gone, read-only, the table or the grant missing).
- Any other failure is the data's (a record that would fail forever and stop every region behind it)
  once a cheap probe (`SELECT 1`) shows the store answering; if the probe fails too it is an outage.
  Codes known to mean "this value cannot be stored" (REFUSAL_CODES) skip the probe. The rows are split
  in halves until the refused ones are alone; those are returned to the caller (which dead-letters the
  records they came from, SNK-001) and every other row is written.
"""
from __future__ import annotations

import logging
import re
import struct
import time
from typing import Mapping, Sequence

from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

from sinks.clickhouse import ClickHouse
from streams.rows import Refused  # noqa: F401 — re-exported: the writer's answer

log = logging.getLogger("bedflow.sink")

# ClickHouse error codes that mean "this data cannot be stored", whatever the server's health: parse and
# conversion errors, values out of a type's range, NULL in a plain column, a violated CHECK constraint.
# Known, so no probe is needed; any other code of a healthy store is treated the same way.
REFUSAL_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 321, 349, 469})

# ClickHouse error codes that mean "the store cannot take any row now" (ErrorCodes.cpp names): splitting
# would dead-letter every record of the batch, so they are retried like a lost connection until the
# server, or its operator, fixes them.
OUTAGE_CODES = {
    # overloaded or slow: passes by itself
    159: "TIMEOUT_EXCEEDED", 160: "TOO_SLOW", 173: "CANNOT_ALLOCATE_MEMORY", 201: "QUOTA_EXCEEDED",
    202: "TOO_MANY_SIMULTANEOUS_QUERIES", 236: "ABORTED", 241: "MEMORY_LIMIT_EXCEEDED",
    252: "TOO_MANY_PARTS", 364: "RECEIVED_ERROR_TOO_MANY_REQUESTS", 394: "QUERY_WAS_CANCELLED",
    439: "CANNOT_SCHEDULE_TASK", 574: "DISTRIBUTED_TOO_MANY_PENDING_BYTES", 677: "THREAD_WAS_CANCELED",
    692: "TOO_MANY_MUTATIONS", 735: "QUERY_WAS_CANCELLED_BY_CLIENT", 749: "TCP_CONNECTION_LIMIT_REACHED",
    762: "HTTP_CONNECTION_LIMIT_REACHED", 777: "MEMORY_RESERVATION_KILLED", 778: "MEMORY_RESERVATION_FAILED",
    1017: "ASYNC_INSERT_FLUSH_TIMEOUT", 1019: "QUERY_SLOT_ACQUISITION_TIMEOUT",
    1020: "MEMORY_RESERVATION_ACQUISITION_TIMEOUT",
    # the network between servers
    95: "CANNOT_READ_FROM_SOCKET", 96: "CANNOT_WRITE_TO_SOCKET", 198: "DNS_ERROR", 203: "NO_FREE_CONNECTION",
    209: "SOCKET_TIMEOUT", 210: "NETWORK_ERROR", 279: "ALL_CONNECTION_TRIES_FAILED",
    297: "SHARD_HAS_NO_CONNECTIONS", 425: "SYSTEM_ERROR", 1000: "POCO_EXCEPTION",
    1018: "EXCHANGE_PEER_DISCONNECTED",
    # Keeper and replicas (a replicated table is read-only without Keeper)
    225: "NO_ZOOKEEPER", 242: "TABLE_IS_READ_ONLY", 244: "UNEXPECTED_ZOOKEEPER_ERROR",
    254: "NO_ACTIVE_REPLICAS", 265: "NO_AVAILABLE_REPLICA", 285: "TOO_FEW_LIVE_REPLICAS",
    286: "UNSATISFIED_QUORUM_FOR_PREVIOUS_WRITE", 289: "REPLICA_IS_NOT_IN_QUORUM",
    319: "UNKNOWN_STATUS_OF_INSERT", 415: "ALL_REPLICAS_LOST", 416: "REPLICA_STATUS_CHANGED",
    571: "DATABASE_REPLICATION_FAILED", 999: "KEEPER_EXCEPTION",
    # the store or its grants, not the row: no row of the table could be written
    16: "NO_SUCH_COLUMN_IN_TABLE", 60: "UNKNOWN_TABLE", 81: "UNKNOWN_DATABASE", 164: "READONLY",
    243: "NOT_ENOUGH_SPACE", 291: "DATABASE_ACCESS_DENIED", 497: "ACCESS_DENIED",
    516: "AUTHENTICATION_FAILED", 774: "TABLE_IS_PERMANENTLY_READ_ONLY",
}
_CODE = re.compile(r"(?:Code: |error code )(\d+)")
_NAME = re.compile(r"\(([A-Z][A-Z_]+)\)")


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)  # clickhouse-connect sets it when the server sent one
    if isinstance(code, int):
        return code
    m = _CODE.search(str(exc))
    return int(m.group(1)) if m else None


def is_outage(exc: BaseException) -> bool:
    """True when the store could not take the rows now, whatever they hold: the connection failed or
    the server named a condition of its own (OUTAGE_CODES). A failure of unknown kind is not one here:
    the writer asks the store (`Sink.answers`) before blaming the data."""
    if isinstance(exc, (OSError, OperationalError)):  # refused, reset, timed out, DNS; the client's network errors
        return True
    return isinstance(exc, DatabaseError) and _code(exc) in OUTAGE_CODES


def is_refusal(exc: BaseException) -> bool:
    """True when the failure is known to be the data's without asking the store: the client could not
    encode a value, or the server named a value it cannot hold (REFUSAL_CODES). Reads (bedflow/worker.py)
    raise these and retry the rest; the writer also splits on any failure a healthy store gives."""
    if isinstance(exc, DataError):  # clickhouse-connect could not encode a value for its column
        return True
    if isinstance(exc, DatabaseError):
        return not is_outage(exc) and _code(exc) in REFUSAL_CODES
    return isinstance(exc, (ValueError, TypeError, OverflowError, struct.error)) and not isinstance(exc, OSError)


def reason(exc: BaseException) -> str:
    """What was refused, without the value: the client's first line names the column; a server error
    is reduced to its code and name (its text may quote the value)."""
    text = str(exc)
    if isinstance(exc, DataError):
        return text.splitlines()[0][:200] if text else "DataError"
    code = _code(exc)
    if code is not None:
        names = _NAME.findall(text)  # the server ends its text with the name; a quoted value comes before it
        name = getattr(exc, "name", None) or (names[-1] if names else None)
        return f"ClickHouse error {code}{f' ({name})' if name else ''}"
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
            except Exception as exc:  # noqa: BLE001 — no outage gets here (_insert retries those)
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
        """Insert, retrying an outage until the store is back; any other failure is raised to the caller."""
        delay = 0.1
        while True:
            try:
                self.db.insert(table, rows, rows[0]._fields)
            except Exception as exc:  # noqa: BLE001 — an outage means: retry later; anything else: split
                if not is_outage(exc) and (is_refusal(exc) or self.answers()):
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

    def answers(self) -> bool:
        """Whether the store answers a query now: an unknown failure of a store that answers is the
        data's (split it), of one that does not, an outage (retry)."""
        try:
            self.db.query("SELECT 1")
        except Exception as exc:  # noqa: BLE001 — whatever stops the probe stops the write too
            log.warning("ClickHouse probe failed (%s): the failed write counts as an outage", reason(exc))
            return False
        return True

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
