"""The waiting-list answers: the measures per MVO group × phase (the domain's definitions over the sink's
pre-aggregated rows), their breakdowns, the rows a viewer may see, and the care-guarantee breaches ahead."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sinks import outlook, queries
from sinks.clickhouse import ClickHouse
from streams.domain import breaches as wait_ahead
from streams.domain.waitlist import (AGE_BANDS, SNAPSHOT_COUNTS, TZ, Limits, WaitRow, breakdown_label, breakdown_of,
                                     local_date, measures, with_shares)
from web import texts
from web.access import Scope
from web.policy import ViewPolicy
from web.suppression import WAIT_COUNTS, WAIT_SHARES, small, suppress_breakdown, suppress_wait_row


# the waiting-list breakdowns (issue 12): optional, so a Param of its own (openapi.choice's are required or defaulted)
AGE_LOWS = tuple(low for low, _ in AGE_BANDS)  # the SQL groups birth years by these (sinks.queries._split_column)


BREACH_COUNTS = ("waiting", "measured", "not_measured", "over_limit", "within_7", "within_14", "within_30",
                 "performed_recent")


def wait_rows(scope: Scope, policy: ViewPolicy, rows: list[dict], region: str | None = None) -> list[dict]:
    """Waiting-list rows (MVO group × phase: below region level), each of its `region_code` or else of
    `region`: a region viewer gets its own region's rows; outside the viewer's region small counts are
    hidden (web/suppression.py)."""
    out = []
    for r in rows:
        where = r.get("region_code", region)
        if scope.region is not None and where != scope.region:
            continue
        out.append(r if scope.viewer.sees_detail_of(where) else suppress_wait_row(r, policy.small_count_threshold))
    return out


def waitlist_measures(db: ClickHouse, region: str, at: dt.datetime, limits: Limits, phase: int | None = None,
                      exclude_deviations: bool = True, tz: str = TZ) -> list[dict]:
    """Waiting-list measures for a region at an instant: SQL pre-aggregates open contacts by calendar wait
    day in `tz`, the domain function does the buckets and shares (one implementation for tests and the API)."""
    # a contact without a known MVO group is counted under "okänd", as rows_from_contacts does
    rows = [WaitRow(g or "okänd", p, d, gu, dv, n, past)
            for g, p, d, gu, dv, n, past in queries.waitlist_counts(db, region, at, phase, tz)]
    return [m.as_dict() for m in measures(rows, at, region, limits, exclude_deviations, tz)]


def hospital_names(db: ClickHouse) -> dict[str, str]:
    """Hospital HSA-id → the name its wards declared (the hospital breakdown's labels)."""
    return {w["hospital_id"]: w["hospital_name"] for w in queries.current_wards(db) if w.get("hospital_name")}


def waitlist_breakdown(db: ClickHouse, region: str, at: dt.datetime, policy: ViewPolicy, scope: Scope,
                       phase: int | None, by: str) -> list[dict]:
    """The waiting-list measures of a region at `at` split by `by` (streams/domain/waitlist.py BREAKDOWNS):
    the same SQL and definitions grouped by one more field, each row with `breakdown` and its label. Outside
    the viewer's region a row with a small count is hidden whole, with complements against the unsplit MVO
    group × phase rows as this viewer gets them (suppress_breakdown)."""
    tz = policy.timezone
    on = local_date(at, tz)
    split = [WaitRow(g or "okänd", p, d, gu, dv, n, past, breakdown_of(by, raw, p, on)) for g, p, d, gu, dv, n, past, raw
             in queries.waitlist_counts(db, region, at, phase, tz, by, AGE_LOWS)]
    names = hospital_names(db) if by == "hospital" else None
    rows = [{"region_code": region, **m.as_dict(), "breakdown_label": breakdown_label(by, m.breakdown, names)}
            for m in measures(split, at, region, policy.limits, policy.exclude_deviations, tz)]
    if scope.viewer.sees_detail_of(region):
        return rows
    # the unsplit rows: their groups' counts summed (a GROUP BY less one field), shares from the sums
    parents: dict[tuple, dict] = {}
    for r in rows:
        p = parents.setdefault((r["mvo_group"], r["phase"]), {
            "region_code": region, "mvo_group": r["mvo_group"], "phase": r["phase"], "limit_days": r["limit_days"],
            **dict.fromkeys(SNAPSHOT_COUNTS, 0)})
        for c in SNAPSHOT_COUNTS:
            p[c] += r[c]
    parents_shown = wait_rows(scope, policy, [with_shares(p) for p in parents.values()], region)
    return suppress_breakdown(parents_shown, rows, WAIT_COUNTS, WAIT_SHARES,
                              policy.small_count_threshold, scope.viewer.sees_detail_of,
                              total_of=lambda p: (p["mvo_group"], p["phase"]))  # each unsplit row: the sum to protect


def suppress_sibling_rows(rows: list[dict], counts: tuple[str, ...], derived: tuple[str, ...], threshold: int,
                          siblings: str = "phase") -> list[dict]:
    """Rows of one region below region level (MVO group × phase, clinic × phase) for a viewer outside the
    region: a row with any count 1..threshold is hidden whole, with what is derived from its counts (its
    counts nearly give each other back: within 7 days ⊂ 14 ⊂ 30 ⊂ measured ⊂ waiting); the rows of one
    phase add up to the region's, so a phase never has exactly one hidden row: the smallest other by
    waiting goes too (as suppress_performed). Returns copies; a hidden value is None."""
    out = [dict(r) for r in rows]
    by: dict = {}
    for r in out:
        by.setdefault(r[siblings], []).append(r)
    for group in by.values():
        hidden = {i for i, r in enumerate(group) if any(small(r[f], threshold) for f in counts)}
        if len(hidden) == 1:
            rest = [i for i in range(len(group)) if i not in hidden]
            if rest:
                hidden.add(min(rest, key=lambda i: (group[i]["waiting"], i)))
        for i in hidden:
            for f in (*counts, *derived):
                group[i][f] = None
    return out


NOT_COUNTED = texts.paired("api.breaches.uncounted")


def breaches_answer(db: ClickHouse, region: str, now: dt.datetime, policy: ViewPolicy, scope: Scope) -> dict:
    """A region's care-guarantee breaches ahead and expected waits (streams/domain/breaches.py): the
    waiting-list measures' rows now (queries.waitlist_counts: the same reading of waiting and of a
    deviation in force) and the contacts performed over the last RECENT_WEEKS weeks; per clinic too.
    Small counts hidden for a viewer outside the region (suppress_sibling_rows)."""
    tz = policy.timezone
    waiting = [WaitRow(g or "okänd", p, d, gu, dv, n, past)
               for g, p, d, gu, dv, n, past in queries.waitlist_counts(db, region, now, None, tz)]
    start = now - dt.timedelta(weeks=wait_ahead.RECENT_WEEKS)
    performed = outlook.performed_recent(db, region, start, now)
    on = now.astimezone(ZoneInfo(tz)).date()
    rows = [m.as_dict() for m in wait_ahead.breaches(waiting, performed, region, on, policy.limits,
                                                      policy.exclude_deviations)]
    clinics = [c.as_dict() for c in wait_ahead.clinic_queues(outlook.clinic_counts(db, region, now, start))]
    if not scope.viewer.sees_detail_of(region):
        t = policy.small_count_threshold
        rows = suppress_sibling_rows(rows, BREACH_COUNTS, ("performed_per_week", "expected_wait_days"), t)
        clinics = suppress_sibling_rows(clinics, ("waiting", "performed_recent"),
                                        ("performed_per_week", "expected_wait_days"), t)
    return {"region": region, "at": now, "timezone": tz, "horizons": list(wait_ahead.HORIZONS),
            "recent_weeks": wait_ahead.RECENT_WEEKS, "not_counted": NOT_COUNTED, "rows": rows, "clinics": clinics}
