"""Reads for room nearby by need (streams/domain/room.py): the MVO codes each ward declares it serves.

The ward state in ClickHouse (ward_current) keeps the ward's own MVO code but not its declared served codes;
they are read from the accepted WardDeclared events, the newest declaration of each ward by event time and
id (as the worker applies them: last writer wins)."""
from __future__ import annotations

from sinks.clickhouse import ClickHouse


def served_codes(db: ClickHouse) -> dict[str, tuple[str, ...]]:
    """ward_id → the served_mvo_codes of its newest WardDeclared (empty: only its own code)."""
    _, rows = db.query(
        "SELECT ward, argMax(codes, (occurred_at, event_id)) FROM ("
        " SELECT JSONExtractString(payload, 'ward_id') AS ward,"
        "  JSONExtract(payload, 'served_mvo_codes', 'Array(String)') AS codes, occurred_at, event_id"
        " FROM events WHERE event_type = 'WardDeclared') GROUP BY ward")
    return {ward: tuple(codes) for ward, codes in rows if ward}
