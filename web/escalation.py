"""Escalation with actions (issue 14): per region the computed level, the declaration in force and the level
in force (streams/domain/escalation.py), a new declaration's row, and the levels over time."""
from __future__ import annotations

import datetime as dt
import uuid

from schemas import reference
from sinks import outlook, queries
from sinks.clickhouse import ClickHouse
from streams.domain.escalation import Declaration, declared_at, region_escalation
from web.access import BadRequest
from web.history import TREND_COLUMNS, history_series, region_timeline
from web.policy import ViewPolicy
from web.status import status_rows


def _declarations(rows: list[dict]) -> list[Declaration]:
    return [Declaration(r["region_code"], r["level"], r["reason"], r["declared_by"], r["declared_at"], r["until"],
                        r["declaration_id"]) for r in rows]


def escalation_rows(wards: list[dict], declared: list[dict], region: str | None, now: dt.datetime,
                    policy: ViewPolicy) -> list[dict]:
    """Per region (all 21, or the one asked for): the computed level as status's region row computes it
    now, the declaration in force, the level in force and its actions (streams/domain/escalation.py)."""
    stale_after = dt.timedelta(minutes=policy.stale_after_minutes)
    computed = {r["id"]: (r["escalation_level"], r["escalation_rule"])
                for r in status_rows(wards, "region", now, stale_after=stale_after, escalation=policy.escalation)}
    decls = _declarations(declared)
    names = reference.regions()
    return [{"region_code": c, "name": names[c].name,
             **region_escalation(c, *computed.get(c, (None, None)), decls, now, policy.escalation)}
            for c in sorted(names) if region in (None, c)]


def declaration_row(region: str, level: int, reason: str, until: dt.datetime | None, role: str,
                    now: dt.datetime) -> dict:
    """One escalation_declared row; BadRequest when `until` is not after now."""
    if until is not None and until <= now:
        raise BadRequest.text("api.until.future")
    return {"declaration_id": uuid.uuid4().hex, "region_code": region, "level": level, "reason": reason,
            "declared_by": role, "declared_at": now, "until": until.astimezone(dt.timezone.utc) if until else None}


def escalation_history_answer(db: ClickHouse, region: str, times: list[dt.datetime], policy: ViewPolicy) -> dict:
    """A region's levels at each of `times`: computed as the trends compute the region's level (its wards'
    history summed per region, status_rows), declared (the declaration in force then) and in force; and
    the declarations behind them (the one in force at the first point and those made since)."""
    step = times[1] - times[0] if len(times) > 1 else dt.timedelta(hours=1)
    stale_after = dt.timedelta(minutes=policy.stale_after_minutes)
    base = [w for w in queries.wards_at(db, times[0]) if w["region_code"] == region]
    steps = queries.ward_status_steps(db, times[0], step, len(times), region, TREND_COLUMNS)
    series = history_series(region_timeline(base, steps, len(times)), times, lambda wards, at: status_rows(
        wards, "region", at, stale_after=stale_after, escalation=policy.escalation), region)
    computed = series[0]["escalation_level"] if series else [None] * len(times)
    decls = _declarations(outlook.declarations(db, region, times[-1]))
    declared, level = [], []
    for at, c in zip(times, computed):
        row = region_escalation(region, c, None, decls, at, policy.escalation)
        declared.append(row["declared"]["level"] if row["declared"] else None)
        level.append(row["level"])
    first = declared_at(decls, times[0])
    shown = ([first] if first is not None else []) + [d for d in decls if d.declared_at > times[0]]
    return {"region": region, "from": times[0], "to": times[-1], "step_minutes": round(step.total_seconds() / 60),
            "times": times, "computed": computed, "declared": declared, "level": level,
            "declarations": [d.as_dict() for d in shown]}
