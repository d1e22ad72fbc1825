"""The writer: a processed batch of typed rows into ClickHouse, in order, retried until it is written.

Exactly-once comes from the design, not the broker (the ClickHouse Kafka Connect sink's idea): every
table is a ReplacingMergeTree keyed on a stable id (event_id, source position, ward+event), and a batch
ends with a `progress` row per source partition (streams/progress.py). A batch redelivered after a
crash replaces rows with identical ones, and records at or below the progress offset are skipped
before they are processed. Columns come from the row types' field names (streams/rows.py).
"""
from __future__ import annotations

import logging
import time
from typing import Mapping, Sequence

from sinks.clickhouse import ClickHouse

log = logging.getLogger("bedflow.sink")


class Sink:
    """Writes batches in order; when ClickHouse is unreachable it backs off and retries the same batch
    (nothing skipped, nothing reordered: the caller waits, so Kafka consumption pauses too)."""

    def __init__(self, db: ClickHouse, metrics=None, max_backoff: float = 5.0):
        self.db = db
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.failing_since: float | None = None

    def write(self, rows: Mapping[str, Sequence[tuple]]):
        """`rows`: table → typed rows (NamedTuples), in write order (dicts keep their order)."""
        delay = 0.1
        while True:
            try:
                for table, table_rows in rows.items():
                    if table_rows:
                        self.db.insert(table, table_rows, table_rows[0]._fields)
                if self.failing_since is not None:
                    log.warning("ClickHouse reachable again after %.1f s; batch written",
                                time.monotonic() - self.failing_since)
                    self.failing_since = None
                    if self.metrics:
                        self.metrics.sink_up.set(1)
                if self.metrics:
                    for table, table_rows in rows.items():
                        self.metrics.sink_rows.labels(table).inc(len(table_rows))
                return
            except Exception as exc:  # noqa: BLE001 — any failure of the store means: retry later
                if self.failing_since is None:
                    self.failing_since = time.monotonic()
                log.warning("ClickHouse write failed (%s: %s); retrying in %.1f s, batch kept",
                            type(exc).__name__, str(exc)[:200], delay)
                if self.metrics:
                    self.metrics.sink_retries.inc()
                    self.metrics.sink_up.set(0)
                time.sleep(delay)
                delay = min(self.max_backoff, delay * 2)
