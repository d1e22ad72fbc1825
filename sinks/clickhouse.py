"""The ClickHouse client: connection and versioned migrations (the writer is sinks/writer.py, the reads
that rebuild the worker's state sinks/recovery.py).

Same code for the embedded engine (`chdb:///dir`, in-process; one process may own a directory) and a
ClickHouse server (`http(s)://user:pass@host:8123/db`). All calls go through one lock on a worker
thread: the chDB client is not safe to share between threads, and the event loop must not block.
"""
from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
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
        # One insert context per (table, columns), kept: a new one asks the server for the column types
        # (a DESCRIBE per insert). Dropped after a failed insert and when the schema may have changed.
        self._inserts: dict[tuple[str, tuple[str, ...]], Any] = {}
        # The embedded engine lets one process own a directory: no other migrator can be running there.
        self.sole_owner = dsn.startswith("chdb://")

    @property
    def client(self):
        if self._client is None:
            if self.dsn.startswith("chdb://"):
                from pathlib import Path

                Path(self.dsn.removeprefix("chdb://")).mkdir(parents=True, exist_ok=True)
            self._client = clickhouse_connect.get_client(dsn=self.dsn)
            from clickhouse_connect.driver import options
            options.pd, options.np  # noqa: B018 — its lazy imports (pandas) now, not in the first insert
        return self._client

    def _check(self):
        if self.fault:
            self.fault()

    def command(self, sql: str, parameters: dict | None = None):
        with self._lock:
            self._check()
            self._inserts.clear()  # DDL may change a table's columns
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
            key = (table, tuple(columns))
            context = self._inserts.get(key)
            if context is None:
                # A batch may hold events of any number of months (late data, a sender's backfill): over
                # the default 100 partitions an INSERT fails, which the writer would retry for ever.
                context = self._inserts[key] = self.client.create_insert_context(
                    table, list(columns), settings={"max_partitions_per_insert_block": 0})
            try:
                self.client.insert(data=list(rows), context=context)
            except BaseException:
                self._inserts.pop(key, None)
                raise

    def close(self):
        with self._lock:
            self._inserts.clear()
            if self._client is not None:
                try:
                    self._client.close()
                finally:
                    self._client = None

    # -- migrations ----------------------------------------------------------------------------------
    def migrate(self, poll: float = 2.0) -> list[str]:
        """Apply every migration not yet recorded, in version order. Returns the names applied.

        One migrator at a time: every bedflow process migrates at start, and a migration that copies a
        table (016) must not run twice at once. While migrations are pending, the runner holds a lock, the
        view `schema_migrations_lock` (CREATE VIEW fails for all but one; on a Replicated database its
        DDL log orders them), and the others wait for it, polling every `poll` seconds."""
        _, ((engine,),) = self.query("SELECT engine FROM system.databases WHERE name = currentDatabase()")
        adapt = replicated if engine == "Replicated" else _unreplicated
        self.command(adapt(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, name String, "
            "applied_at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY version"
        ))
        if not self._pending():
            return []
        self._lock_migrations(poll)
        try:
            applied = []
            for version, name, sql in self._pending():  # again: another migrator may have run them
                for statement in filter(None, map(adapt, _statements(sql))):
                    self.command(statement)
                self.insert("schema_migrations", [(version, name, _now())], ["version", "name", "applied_at"])
                applied.append(name)
                log.info("applied migration %s", name)
            return applied
        finally:
            self.command(f"DROP VIEW IF EXISTS {MIGRATION_LOCK}")

    def _pending(self) -> list[tuple[int, str, str]]:
        _, rows = self.query("SELECT version FROM schema_migrations")
        done = {r[0] for r in rows}
        return [m for m in migrations() if m[0] not in done]

    def _lock_migrations(self, poll: float):
        holder = re.sub(r"[^\w.:-]", "_", f"{socket.gethostname()}:{os.getpid()}")
        since = _now().strftime("%Y-%m-%d %H:%M:%S")
        started = last_said = time.monotonic()
        while True:
            try:
                self.command(f"CREATE VIEW {MIGRATION_LOCK} AS SELECT '{holder}' AS holder, '{since}' AS since")
                return
            except Exception as exc:  # noqa: BLE001 — only "it exists" means: someone else holds it
                if "TABLE_ALREADY_EXISTS" not in str(exc) and "Code: 57." not in str(exc):
                    raise
            if self.sole_owner:
                # One process owns an embedded store's directory: the holder was this store's last owner,
                # stopped while it migrated. Its migrations can run again (016 from any point it reached).
                log.warning("taking over the migration lock of a stopped process")
                self.command(f"DROP VIEW IF EXISTS {MIGRATION_LOCK}")
                continue
            if time.monotonic() - last_said >= 30 or last_said == started:
                last_said = time.monotonic()
                try:
                    (who, at), = self.query(f"SELECT holder, since FROM {MIGRATION_LOCK}")[1]
                except Exception:  # noqa: BLE001 — released meanwhile
                    who, at = "?", "?"
                log.warning("waiting for the migrations run by %s since %s UTC (if that process is gone: "
                            "DROP VIEW %s; deploy/OPERATIONS.md)", who, at, MIGRATION_LOCK)
            time.sleep(poll)

    def grant_analysts(self, password_sha256: str) -> int:
        """Create the analysts' read-only role and user (migrations/analyst_grants.sql) on a ClickHouse
        server; the embedded engine has no users. Returns the number of statements run."""
        statements = analyst_grant_statements(password_sha256)
        for statement in statements:
            self.command(statement)
        return len(statements)


MIGRATION_LOCK = "schema_migrations_lock"
_MERGETREE = re.compile(r"\bENGINE\s*=\s*(?!Replicated)(\w*MergeTree)\b")


def replicated(statement: str) -> str:
    """A migration statement for a database with ENGINE = Replicated (the production cluster, deploy/):
    its MergeTree tables become Replicated…MergeTree, which that database gives their Keeper path and
    replica name. ClickHouse does not convert them itself: a plain MergeTree table there would only have
    its definition replicated, not its rows."""
    return _MERGETREE.sub(r"ENGINE = Replicated\1", statement)


_SYNC_REPLICA = re.compile(r"^SYSTEM\s+SYNC\s+REPLICA\b", re.IGNORECASE)


def _unreplicated(statement: str) -> str | None:
    """A migration statement for a plain database (chDB, compose's one server): `SYSTEM SYNC REPLICA`,
    which a migration runs before copying a replicated table, has nothing to wait for there (and fails)."""
    return None if _SYNC_REPLICA.match(statement) else statement


def analyst_grant_statements(password_sha256: str) -> list[str]:
    """The grants file's statements with the password hash put in (64 hex digits, nothing else)."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", password_sha256 or ""):
        raise ValueError("the analysts' password hash must be 64 hex digits (SHA-256 of the password)")
    sql = resources.files("sinks").joinpath("migrations/analyst_grants.sql").read_text(encoding="utf-8")
    return [s.replace("${BEDFLOW_ANALYST_PASSWORD_SHA256}", password_sha256.lower()) for s in _statements(sql)]


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
