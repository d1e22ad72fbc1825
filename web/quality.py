"""Data quality per region and month (quality/monthly): the raw counts behind the national follow-up's
measures (streams/domain/quality.py), kept as JSON values, and the measures as a viewer sees them."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from schemas import reference
from schemas.model import EVENT_TYPES, WAITLIST_EVENT_TYPES
from sinks import queries
from sinks.clickhouse import ClickHouse
from streams.domain import bedstats
from streams.domain import quality as dq
from web import texts
from web.access import Scope
from web.policy import ViewPolicy
from web.snapshots import month_end, snapshot_final_at
from web.suppression import small


def quality_counts(db: ClickHouse, month: dt.date, tz: str) -> dict:
    """The raw counts behind a month's data-quality measures (sinks/queries.py), every region: the
    month, its deadline (the snapshots' month end + 21 days), the lookback months and the same month a year
    earlier as spans of instants, and the waiting contacts at the month's last instant (as close_month)."""
    start, end = bedstats.month_bounds(month, tz)
    lookback, _ = bedstats.month_bounds(dq.add_months(month, -dq.ACTIVE_LOOKBACK_MONTHS), tz)
    last_year = bedstats.month_bounds(month.replace(year=month.year - 1), tz)
    at = month_end(month, tz) - dt.timedelta(milliseconds=1)
    waiting = queries.waitlist_counts_by_region(db, at, tz)
    return {
        "completeness": queries.completeness_counts(db, start, end, snapshot_final_at(month, tz), lookback,
                                                    sorted(WAITLIST_EVENT_TYPES), sorted(EVENT_TYPES)),
        "fill": queries.fill_counts(db, start, end, {t: tuple(f) for t, f in dq.FILL_FIELDS.items()}),
        # the shares of those waiting per region, computed here: the rows behind them are ~260,000 nationally
        "waiting": {c: dq.waiting_shares(waiting.get(c, []), c) for c in sorted(reference.regions())},
        "waiting_at": at,
        "plausibility": {k: tuple(v) for k, v in queries.plausibility_counts(db, [(start, end), last_year]).items()},
    }


def quality_plain(counts: dict) -> dict:
    """quality_counts as JSON values (tuple keys as list items, the instant as text); quality_from_plain
    gives it back."""
    return {"completeness": [[*k, v] for k, v in counts["completeness"].items()], "fill": counts["fill"],
            "waiting": counts["waiting"],
            "waiting_at": counts["waiting_at"].isoformat(),
            "plausibility": [[*k, list(v)] for k, v in counts["plausibility"].items()]}


def quality_from_plain(d: dict) -> dict:
    return {"completeness": {(r, c): v for r, c, v in d["completeness"]}, "fill": d["fill"],
            "waiting": d["waiting"],
            "waiting_at": dt.datetime.fromisoformat(d["waiting_at"]),
            "plausibility": {(r, m): tuple(v) for r, m, v in d["plausibility"]}}


# Data quality: the breakdowns of a region's contacts and patients (a field reported / not reported / not
# applicable; waiting with the guarantee flag / with a deviation) are hidden like counts below region
# level outside the viewer's region. Region totals (events sent, events of a type, contacts waiting,
# decided, performed, admissions) are region-level figures every viewer sees, as the status and the
# performed comparison show them.
FILL_CELLS = ("reported", "not_reported", "not_applicable")


def suppress_fill_row(row: dict, threshold: int) -> dict:
    """A fill-rate row for a viewer outside its region: the three cells add up to `events` (shown), so a
    small cell hides, a lone hidden cell takes the smallest other with it (zeros last), a small total hides
    all three, and the rate goes with a hidden reported or not-reported count."""
    row = dict(row)
    hidden = set(FILL_CELLS) if small(row["events"], threshold) else {c for c in FILL_CELLS if small(row[c], threshold)}
    if len(hidden) == 1:
        rest = [c for c in FILL_CELLS if c not in hidden]
        hidden.add(min(rest, key=lambda c: (row[c] == 0, row[c], c)))
    for c in hidden:
        row[c] = None
    if hidden & {"reported", "not_reported"}:
        row["fill_rate"] = None
    return row


def suppress_waiting_row(row: dict, threshold: int) -> dict:
    """The guarantee and deviation shares of a region for a viewer outside it: `waiting` is shown, so a
    count is hidden (with its share) when it or its complement in `waiting` is 1..threshold."""
    row = dict(row)
    for count, share in (("guarantee", "share_guarantee"), ("with_deviation", "share_with_deviation")):
        if small(row[count], threshold) or small(row["waiting"] - row[count], threshold):
            row[count] = row[share] = None
    return row


def quality_answer(counts: dict, month: dt.date, region: str | None, policy: ViewPolicy, scope: Scope,
                   now: dt.datetime) -> dict:
    """A month's data-quality measures (streams/domain/quality.py) as a viewer sees them: every region
    (or the one asked for), small counts in the breakdowns hidden outside the viewer's region."""
    tz = policy.timezone
    deadline = snapshot_final_at(month, tz)
    names = reference.regions()
    codes = [c for c in sorted(names) if region in (None, c)]
    t = policy.small_count_threshold
    open_region = scope.viewer.sees_detail_of
    completeness = [{"region_code": r["region_code"], "name": names[r["region_code"]].name, **r}
                    for r in dq.completeness(counts["completeness"], codes, deadline, now)]
    fill = [r if open_region(r["region_code"]) else suppress_fill_row(r, t) for r in dq.fill_rates(counts["fill"], codes)]
    waiting = [counts["waiting"][c] for c in codes]
    waiting = [r if open_region(r["region_code"]) else suppress_waiting_row(r, t) for r in waiting]
    answer = {"month": month.strftime("%Y-%m"), "region": region, "deadline": deadline, "final": now >= deadline,
              "timezone": tz, "waiting_at": counts["waiting_at"], "completeness": completeness, "fill_rates": fill,
              "waiting": waiting, "plausibility": dq.plausibility(counts["plausibility"], codes)}
    if not answer["final"]:
        day = deadline.astimezone(ZoneInfo(tz)).date().isoformat()
        answer["note"] = texts.paired("api.note.deliver", day=day)
    return answer
