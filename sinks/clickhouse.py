"""The ClickHouse edge: connection, versioned migrations, and the sink that writes a processed batch.

Same code for the embedded engine (`chdb:///dir`, in-process; one process may own a directory) and a
ClickHouse server (`http(s)://user:pass@host:8123/db`). All calls go through one lock on a worker
thread: the chDB client is not safe to share between threads, and the event loop must not block.

Exactly-once comes from the design, not the broker (the ClickHouse Kafka Connect sink's idea): every
table is a ReplacingMergeTree keyed on a stable id (event_id, source position, ward+event), and a batch
ends with a `progress` row per source partition. A batch redelivered after a crash replaces rows with
identical ones, and records at or below the progress offset are skipped before they are processed.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Callable, Sequence

import clickhouse_connect

log = logging.getLogger("bedflow.sink")


class ClickHouse:
    def __init__(self, dsn: str):
        self.dsn = dsn
        self._client = None
        self._lock = threading.Lock()
        # Fault injection for outage tests: a callable raising while the "server" is down.
        self.fault: Callable[[], None] | None = None

    @property
    def client(self):
        if self._client is None:
            if self.dsn.startswith("chdb://"):
                from pathlib import Path

                Path(self.dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
            self._client = clickhouse_connect.get_client(dsn=self.dsn)
        return self._client

    def _check(self):
        if self.fault:
            self.fault()

    def command(self, sql: str, parameters: dict | None = None):
        with self._lock:
            self._check()
            return self.client.command(sql, parameters=parameters)

    def query(self, sql: str, parameters: dict | None = None) -> tuple[list[str], list[tuple]]:
        with self._lock:
            self._check()
            r = self.client.query(sql, parameters=parameters)
            return list(r.column_names), list(r.result_rows)

    def query_dicts(self, sql: str, parameters: dict | None = None) -> list[dict]:
        cols, rows = self.query(sql, parameters)
        return [dict(zip(cols, r)) for r in rows]

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]):
        if not rows:
            return
        with self._lock:
            self._check()
            self.client.insert(table, list(rows), column_names=list(columns))

    async def aquery_dicts(self, sql: str, parameters: dict | None = None) -> list[dict]:
        return await asyncio.to_thread(self.query_dicts, sql, parameters)

    def close(self):
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close()
                finally:
                    self._client = None

    # -- migrations ----------------------------------------------------------------------------------
    def migrate(self) -> list[str]:
        """Apply every migration not yet recorded, in version order. Returns the names applied."""
        self.command(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
            "applied_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY version"
        )
        _, rows = self.query("SELECT version FROM schema_migrations")
        done = {r[0] for r in rows}
        applied = []
        for version, name, sql in migrations():
            if version in done:
                continue
            for statement in _statements(sql):
                self.command(statement)
            self.insert("schema_migrations", [(version, name, _now())], ["version", "name", "applied_at"])
            applied.append(name)
            log.info("applied migration %s", name)
        return applied


def migrations() -> list[tuple[int, str, str]]:
    out = []
    for f in resources.files("sinks").joinpath("migrations").iterdir():
        m = re.match(r"^(\d+)_.*\.sql$", f.name)
        if m:
            out.append((int(m.group(1)), f.name, f.read_text(encoding="utf-8")))
    return sorted(out)


def _statements(sql: str) -> list[str]:
    lines = [ln for ln in sql.splitlines() if not ln.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _now():
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc)


# -- the sink ----------------------------------------------------------------------------------------
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": ("event_id", "event_type", "occurred_at", "ingested_at", "sender_id", "region_code", "entity_key",
               "home_region", "treating_region", "findings", "payload", "epoch", "source_topic",
               "source_partition", "source_offset"),
    "deadletters": ("at", "epoch", "source_topic", "source_partition", "source_offset", "region_code",
                    "sender_id", "event_type", "event_id", "rule_ids", "messages", "payload", "payload_format"),
    "ward_status": ("ward_id", "version", "at", "event_id", "hospital_id", "hospital_name", "ward_name",
                    "region_code", "mvo_code", "mvo_group", "care_type", "ward_kind", "source", "staffed_beds",
                    "admitted", "present", "on_leave", "occupied", "overcrowded", "outliers", "discharge_ready",
                    "out_of_area_in", "last_event_at", "sender_id"),
    "out_of_area_current": ("home_region", "treating_region", "patients", "version"),
    "waitlist_contacts": ("contact_key", "version", "region_code", "provider_id", "hospital_id", "mvo_code",
                          "mvo_group", "phase", "guarantee", "decided_at", "deviation", "booked_for", "status",
                          "closed_at", "performing_region", "home_region", "removal_reason",
                          "referred_to_region"),
    "sender_last_seen": ("sender_id", "region_code", "last_event_at"),
    "out_of_area_admissions": ("occurred_at", "event_id", "home_region", "treating_region"),
    "progress": ("epoch", "source_topic", "source_partition", "offset", "at"),
}
# Written in this order; `progress` last, so it never runs ahead of the rows it vouches for.
WRITE_ORDER = ("events", "deadletters", "ward_status", "ward_current", "out_of_area_current",
               "waitlist_contacts", "sender_last_seen", "out_of_area_admissions", "progress")


@dataclass
class SinkBatch:
    rows: dict[str, list[tuple]] = field(default_factory=lambda: {t: [] for t in WRITE_ORDER})

    def add(self, table: str, row: tuple):
        self.rows[table].append(row)

    def __len__(self):
        return sum(len(v) for v in self.rows.values())


class Sink:
    """Writes batches in order; when ClickHouse is unreachable it backs off and retries the same batch
    (nothing skipped, nothing reordered: the caller waits, so Kafka consumption pauses too)."""

    def __init__(self, db: ClickHouse, metrics=None, max_backoff: float = 5.0):
        self.db = db
        self.metrics = metrics
        self.max_backoff = max_backoff
        self.failing_since: float | None = None

    def write(self, batch: SinkBatch):
        delay = 0.1
        while True:
            try:
                for table in WRITE_ORDER:
                    cols = TABLE_COLUMNS["ward_status" if table == "ward_current" else table]
                    self.db.insert(table, batch.rows[table], cols)
                if self.failing_since is not None:
                    log.warning("ClickHouse reachable again after %.1f s; batch written",
                                time.monotonic() - self.failing_since)
                    self.failing_since = None
                    if self.metrics:
                        self.metrics.sink_up.set(1)
                if self.metrics:
                    for table, rows in batch.rows.items():
                        self.metrics.sink_rows.labels(table).inc(len(rows))
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
