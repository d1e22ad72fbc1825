"""The waiting list's month-end snapshots: the answer for a month, its roll-ups to healthcare regions and the
nation, when a month is final, and closing a month (by the admin or on the schedule)."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import NamedTuple
from zoneinfo import ZoneInfo

from schemas import reference
from sinks import queries
from sinks.clickhouse import ClickHouse
from streams.domain.waitlist import roll_up
from web import texts
from web.access import Scope
from web.policy import ViewPolicy
from web.suppression import WAIT_SHARES, suppress_wait_row
from web.waitlist import waitlist_measures

log = logging.getLogger("bedflow.api")  # the API's log, as before the snapshots had a module of their own


def snapshot_answer(month: dt.date, rows: list[dict], tz: str, shown: list[dict]) -> dict:
    """A month's snapshot answer: the rows the viewer may see (`shown`, of the stored `rows`), whether the month
    is closed and whether that close is final (made after month end + 21 days), with a note when it is not."""
    final_at = snapshot_final_at(month, tz)
    closed_at = max((_utc(r["closed_at"]) for r in rows), default=None)
    answer = {"month": month.strftime("%Y-%m"), "closed": closed_at is not None,
              "final": closed_at is not None and closed_at >= final_at, "final_at": final_at, "rows": shown}
    day = final_at.astimezone(ZoneInfo(tz)).date().isoformat()
    if closed_at is None:
        answer["note"] = texts.paired("api.note.open", day=day)
    elif not answer["final"]:
        answer["note"] = texts.paired("api.note.early", day=day)
    return answer


def _utc(t: dt.datetime) -> dt.datetime:  # ClickHouse hands back naive datetimes that are UTC
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.timezone.utc)


# Regions have three weeks after month end to deliver (issue 12): a month is preliminary until then.
SNAPSHOT_GRACE = dt.timedelta(days=21)


def snapshot_final_at(month: dt.date, tz: str) -> dt.datetime:
    """When a month's snapshot becomes final: local midnight, month end + 21 days (UTC)."""
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(nxt + SNAPSHOT_GRACE, dt.time(0, 0), ZoneInfo(tz)).astimezone(dt.timezone.utc)


def month_due(now: dt.datetime, tz: str) -> dt.date:
    """The latest month whose snapshot is due to be final at `now`: the previous month once its month end
    + 21 days has passed (local time), else the one before it."""
    month = (now.astimezone(ZoneInfo(tz)).date().replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    if snapshot_final_at(month, tz) > now:
        month = (month - dt.timedelta(days=1)).replace(day=1)
    return month


def needs_closing(month: dt.date, closed_at: dt.datetime | None, tz: str) -> bool:
    """A due month is closed by the schedule unless a close was made once it was final (not before: an
    admin's early close is preliminary and misses late deliveries). Closing again after that would only
    move `closed_at`: the schedule closes each month once."""
    return closed_at is None or closed_at < snapshot_final_at(month, tz)


def close_due_month(db: ClickHouse, policy: ViewPolicy, now: dt.datetime) -> dt.date | None:
    """The schedule's step: close the month due at `now` unless it is closed already (idempotent; several
    processes may run it, the table keeps one row per key). The month closed, or None."""
    month = month_due(now, policy.timezone)
    closed_at = max((_utc(r["closed_at"]) for r in queries.snapshot_rows(db, month)), default=None)
    if not needs_closing(month, closed_at, policy.timezone):
        return None
    n = close_month(db, month, policy, now)
    log.info("snapshot %s closed on schedule: %d rows", month.strftime("%Y-%m"), n)
    return month


SNAPSHOT_CHECK_SECONDS = 3600.0  # how often a running API looks for a month due to close


async def close_on_schedule(db: ClickHouse, policy: ViewPolicy, every: float = SNAPSHOT_CHECK_SECONDS) -> None:
    while True:
        try:
            await asyncio.to_thread(close_due_month, db, policy, dt.datetime.now(dt.timezone.utc))
        except Exception as exc:  # ClickHouse away: try again next round; the type only (the text may quote data)
            log.error("closing the due snapshot failed: %s", type(exc).__name__)
        await asyncio.sleep(every)


def month_end(month: dt.date, tz: str) -> dt.datetime:
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(nxt, dt.time(0, 0), ZoneInfo(tz)).astimezone(dt.timezone.utc)


class SnapshotRow(NamedTuple):
    """One row of waitlist_snapshots (its columns are these fields)."""
    month: dt.date
    region_code: str
    mvo_group: str
    phase: int
    waiting: int
    le_30: int
    le_60: int
    le_90: int
    le_180: int
    gt_180: int
    limit_days: int | None
    with_deviation: int
    measured: int  # the one denominator of share_within_limit and share_over_180
    within_limit: int
    over_180: int
    share_within_limit: float | None
    share_over_180: float | None
    target_measured: int  # follow-ups waiting with a medical target date: the denominator of share_past_target
    past_target: int
    share_past_target: float | None
    closed_at: dt.datetime


def snapshot_rollups(scope: Scope, policy: ViewPolicy, rows: list[dict]) -> dict:
    """A month's snapshot summed to healthcare regions and the nation (counts added, shares recomputed).
    For a viewer who does not see every region in full, a rolled-up count is hidden when it holds a count
    hidden in any of its regions (so no hidden count is a published total minus shown ones), and its
    shares go with any hidden count. A region viewer, who sees no other region's waiting list, gets none
    (an area less its own region would give the others)."""
    if scope.region is not None:
        return {"healthcare_regions": None, "nation": None}
    hidden: dict[tuple[str, str, int], set[str]] = {}
    for r in rows:
        if scope.viewer.sees_detail_of(r["region_code"]):
            continue
        shown = suppress_wait_row(r, policy.small_count_threshold)
        gone = {f for f, v in shown.items() if v is None and r.get(f) is not None}
        if gone:
            hidden.setdefault((r["region_code"], r["mvo_group"], r["phase"]), set()).update(gone)
    out = {}
    for name, areas_of in (("healthcare_regions", {c: reg.healthcare_regions for c, reg in reference.regions().items()}),
                           ("nation", {c: ("SE",) for c in reference.regions()})):
        rolled = roll_up(rows, areas_of)
        for g in rolled:
            gone = set().union(*(hidden.get((region, g["mvo_group"], g["phase"]), set())
                                 for region, areas in areas_of.items() if g["area"] in areas))
            for f in gone:
                g[f] = None
            if gone:
                for f in WAIT_SHARES:
                    g[f] = None
        out[name] = rolled
    return out


def close_month(db: ClickHouse, month: dt.date, policy: ViewPolicy, now: dt.datetime | None = None) -> int:
    """(Re-)close a month-end snapshot: the waiting list at the month's last instant, per region ×
    MVO group × phase, from the contacts as they are now (so late corrections are included). `now`: the
    close's time (`closed_at`), the clock's unless the schedule says which instant it closes for."""
    at = month_end(month, policy.timezone) - dt.timedelta(milliseconds=1)
    _, regions = db.query("SELECT DISTINCT region_code FROM waitlist_contacts FINAL")
    now = now or dt.datetime.now(dt.timezone.utc)
    measured = SnapshotRow._fields[2:-1]
    rows = [SnapshotRow(month, region, *(m[f] for f in measured), now)
            for (region,) in regions
            for m in waitlist_measures(db, region, at, policy.limits, None, policy.exclude_deviations,
                                       policy.timezone)]
    db.insert("waitlist_snapshots", rows, SnapshotRow._fields)
    return len(rows)
