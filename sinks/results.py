"""Kept monthly answers: the statistics of an ended month, computed once and read back (issue 12).

A month's national statistics (beds per ward over the month, performed contacts) integrate a month of
history: seconds of ClickHouse work for the first request, and the same work again after every restart.
Once a month has ended, its answer changes only when late data arrive. So the answer is kept in
`month_results` with the data version it was computed from, and reused while that version is current.

The data version of month M is the newest `late_months` row for M or an earlier month: the worker writes
one per batch that holds events of an ended month (streams/processor.py), and state as of an instant in M
can depend on any earlier event (a deviation set before a contact was performed), never on a later one.
Read before computing, so a late write that lands during the computation makes the kept answer stale,
not wrong.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import orjson

from sinks.clickhouse import ClickHouse

RESULT_COLUMNS = ("name", "month", "key", "body", "data_version", "computed_at")


def data_version(db: ClickHouse, month: dt.date) -> int:
    """The newest late write for `month` or any month before it (0: none)."""
    _, rows = db.query("SELECT max(version) FROM late_months WHERE month <= {month:Date}", {"month": month})
    return int(rows[0][0] or 0) if rows else 0


def kept(db: ClickHouse, name: str, month: dt.date, key: str) -> tuple[int, Any] | None:
    """(data version, answer) of the kept answer, or None."""
    _, rows = db.query("SELECT data_version, body FROM month_results FINAL WHERE name = {name:String} "
                       "AND month = {month:Date} AND key = {key:String}", {"name": name, "month": month, "key": key})
    return (int(rows[0][0]), orjson.loads(rows[0][1])) if rows else None


def kept_or_computed(db: ClickHouse, name: str, month: dt.date, key: str, compute: Callable[[], Any]) -> Any:
    """The kept answer of an ended month while its data version is current; else computed and kept. The
    answer is always given as read back from its JSON (a date as its ISO text), kept or fresh alike."""
    version = data_version(db, month)  # first: a write during the computation leaves the answer stale
    hit = kept(db, name, month, key)
    if hit is not None and hit[0] == version:
        return hit[1]
    body = orjson.dumps(compute())
    db.insert("month_results", [(name, month, key, body.decode(), version, dt.datetime.now(dt.timezone.utc))],
              RESULT_COLUMNS)
    return orjson.loads(body)
