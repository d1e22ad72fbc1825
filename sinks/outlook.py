"""Reads (and the one write) for the situation and forward-looking views of issue 14: the ICU picture,
the care-guarantee breaches ahead with the expected wait, and the escalation levels regions declare.
SQL only: the definitions are streams/domain/icu.py, breaches.py and escalation.py."""
from __future__ import annotations

import datetime as dt

from sinks.clickhouse import ClickHouse

# what the ICU picture reads of the ward history (the ward rows of the trends, fewer columns)
ICU_COLUMNS = ("ward_id", "region_code", "ward_kind", "staffed_beds", "occupied")


def _utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


def ward_history(db: ClickHouse, first: dt.datetime, step: dt.timedelta, points: int,
                 columns: tuple[str, ...] = ICU_COLUMNS) -> tuple[list[dict], list[tuple[int, dict]]]:
    """The ICU wards' history as the trends read the wards' (queries.wards_at and queries.ward_status_steps;
    web/history.py's ward_timeline replays it): every ward that has ever been of kind `icu`, as of `first`
    (its newest row at or before it) and its newest row between the points `first + k × step`, as
    `(k, row)`. Every row of those wards is read, so a ward's kind is that of its row at each point (one
    that stops being an ICU drops out of the picture then). Only these wards: by ward_id, the table's key
    (a national week of all wards is ~370,000 rows; of the ICU wards a twentieth)."""
    _, found = db.query("SELECT DISTINCT ward_id FROM ward_status WHERE ward_kind = 'icu'")
    ids = sorted(w for (w,) in found)
    if not ids:
        return [], []
    cols = ", ".join(f"argMax({c}, (at, version)) AS {c}" for c in columns if c != "ward_id")
    utc = _utc(first)
    p = {"ids": ids, "first": utc, "last": utc + step * (points - 1), "step": int(step.total_seconds() * 1000),
         "first_ms": int(first.timestamp() * 1000)}
    base = db.query_dicts(f"SELECT ward_id, {cols} FROM ward_status WHERE ward_id IN {{ids:Array(String)}} "
                          "AND at <= {first:DateTime64(3)} GROUP BY ward_id", p)
    rows = db.query_dicts(
        # k = ceil((at − first) / step): the first point at or after the row (as queries.ward_status_steps)
        f"SELECT ward_id, intDiv(toUnixTimestamp64Milli(at) - {{first_ms:Int64}} + {{step:Int64}} - 1, {{step:Int64}}) "
        f"AS k, {cols} FROM ward_status WHERE ward_id IN {{ids:Array(String)}} AND at > {{first:DateTime64(3)}} "
        "AND at <= {last:DateTime64(3)} GROUP BY ward_id, k ORDER BY k", p)
    return base, [(int(r.pop("k")), r) for r in rows]


def performed_recent(db: ClickHouse, region: str, start: dt.datetime, end: dt.datetime) -> dict[tuple[str, int], int]:
    """Per (MVO group, phase) of a region, the contacts performed with the start of activity in [start, end):
    the performed flow's population (closed as performed, phases 1–4, decided). MVO group '' → 'okänd'."""
    _, rows = db.query(
        "SELECT mvo_group, phase, count() FROM waitlist_contacts FINAL WHERE region_code = {region:String} "
        "AND status = 'performed' AND phase BETWEEN 1 AND 4 AND decided_at IS NOT NULL AND closed_at IS NOT NULL "
        "AND closed_at >= {start:DateTime64(3)} AND closed_at < {end:DateTime64(3)} GROUP BY mvo_group, phase",
        {"region": region, "start": _utc(start), "end": _utc(end)})
    return {(g or "okänd", int(p)): int(n) for g, p, n in rows}


def clinic_counts(db: ClickHouse, region: str, at: dt.datetime, start: dt.datetime) -> list[tuple[str, int, int, int]]:
    """Per clinic (the clinic_id of the contact's decision in force: its newest ContactDecided by
    (occurred_at, event_id), as the contact register keeps it) × phase of a region: contacts waiting at
    `at` (the waiting-list measures' reading: phases 1–4, decided by then, not closed by then) and contacts
    performed with the start of activity in [start, at). `(clinic_id, phase, waiting, performed)`."""
    _, rows = db.query(
        "SELECT ifNull(d.clinic, '') AS clinic, w.phase, "
        "countIf(w.decided_at <= {at:DateTime64(3)} AND (w.closed_at IS NULL OR w.closed_at > {at:DateTime64(3)})), "
        "countIf(w.status = 'performed' AND w.closed_at >= {start:DateTime64(3)} AND w.closed_at < {at:DateTime64(3)}) "
        "FROM (SELECT contact_key, phase, decided_at, closed_at, status FROM waitlist_contacts FINAL "
        "      WHERE region_code = {region:String} AND phase BETWEEN 1 AND 4 AND decided_at IS NOT NULL) AS w "
        "LEFT JOIN (SELECT entity_key, argMax(JSONExtractString(payload, 'clinic_id'), (occurred_at, event_id)) AS clinic "
        "           FROM events WHERE event_type = 'ContactDecided' AND region_code = {region:String} "
        "           GROUP BY entity_key) AS d ON d.entity_key = w.contact_key "
        "GROUP BY clinic, w.phase",
        {"region": region, "at": _utc(at), "start": _utc(start)})
    return [(c, int(p), int(n), int(m)) for c, p, n, m in rows if n or m]


DECLARATION_COLUMNS = ("declaration_id", "region_code", "level", "reason", "declared_by", "declared_at", "until")


def declare(db: ClickHouse, row: dict) -> None:
    """Store one declaration (its columns: DECLARATION_COLUMNS)."""
    db.insert("escalation_declared", [[row[c] for c in DECLARATION_COLUMNS]], DECLARATION_COLUMNS)


def declarations(db: ClickHouse, region: str | None = None, before: dt.datetime | None = None) -> list[dict]:
    """The declarations (of one region, or all), made at or before `before` when given, oldest first."""
    where = ["1"]
    if region:
        where.append("region_code = {region:String}")
    if before is not None:
        where.append("declared_at <= {before:DateTime64(3)}")
    rows = db.query_dicts(
        f"SELECT {', '.join(DECLARATION_COLUMNS)} FROM escalation_declared FINAL WHERE {' AND '.join(where)} "
        "ORDER BY declared_at, declaration_id",
        {"region": region or "", "before": _utc(before) if before else dt.datetime(1970, 1, 1)})
    for r in rows:
        for c in ("declared_at", "until"):
            if r[c] is not None and r[c].tzinfo is None:
                r[c] = r[c].replace(tzinfo=dt.timezone.utc)
        r["level"] = int(r["level"])
    return rows
