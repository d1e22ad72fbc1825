"""The waiting list's performed contacts per month (streams/domain/flow.py): MVO group rows, the regions side
by side per phase with each region's caveats, and the nation, as a viewer sees them."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from schemas import reference
from sinks import queries, results
from sinks.clickhouse import ClickHouse
from streams.domain import flow
from streams.domain.waitlist import Limits, breakdown_label, breakdown_of
from web import texts
from web.access import Scope
from web.policy import ViewPolicy
from web.snapshots import month_end, snapshot_final_at
from web.suppression import FLOW_COUNTS, FLOW_SHARES, suppress_breakdown, suppress_performed
from web.waitlist import AGE_LOWS, hospital_names


def flow_caveats(code: str, performed: int, sends_deviations: bool, limits: Limits, month: dt.date) -> list[str]:
    """What to know before comparing a region's figures with the others' ("svenska / English")."""
    out = []
    if not performed:
        out.append(texts.paired("api.caveat.performed"))
    if not sends_deviations:  # its share counts every guarantee contact: none is left out for a deviation
        out.append(texts.paired("api.caveat.deviations"))
    _, last = flow.month_bounds(month)
    own: dict = {}  # (phase, mvo_group) → the newest of the region's own limits
    for lim in sorted(limits.entries, key=lambda x: x.effective_from):
        if lim.region == code and lim.effective_from <= last:
            own[(lim.phase, lim.mvo_group)] = lim
    for (phase, group), lim in sorted(own.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        which = f" {group}" if group else ""
        out.append(texts.paired("api.caveat.limit", phase=phase, group=which, days=lim.days))
    return out


def performed_answer(db: ClickHouse, month: dt.date, region: str | None, policy: ViewPolicy, scope: Scope,
                     now: dt.datetime, by: str | None = None) -> dict:
    """The month's performed contacts (streams/domain/flow.py) as a viewer sees them: MVO group rows,
    every region side by side per phase (the comparison) with each region's caveats, and the nation. A
    region viewer gets its own region in full and nothing of the others (as the other waiting-list
    answers); others get every region, small counts hidden in the group rows (suppress_performed). With `by`,
    the group rows are split by it (a GROUP BY: the comparison and the nation are the same), each with
    `breakdown` and its label, hidden against the unsplit group rows as this viewer gets them
    (suppress_breakdown; the comparison's region × phase rows are their published sums)."""
    tz = policy.timezone
    first, _ = flow.month_bounds(month)
    start = dt.datetime.combine(first, dt.time(0, 0), ZoneInfo(tz)).astimezone(dt.timezone.utc)
    end = month_end(month, tz)
    segments = flow.limit_segments(policy.limits, month)
    def counted() -> dict:
        read = queries.performed_counts(db, start, end, segments, scope.region, tz, by, AGE_LOWS)  # PerformedRow's
        if by:  # the stored value → its group; the age at the start of activity (its year is the month's)
            read = [(*r[:9], breakdown_of(by, r[9], r[2], first)) for r in read]
        return {"flow": flow.to_plain(flow.performed_measures(read, month, policy.limits, policy.exclude_deviations)),
                "senders": sorted(queries.regions_with_deviations(db, end))}

    if end <= now:  # an ended month: its measures kept until late data arrive for it (sinks/results.py)
        key = (f"{tz}:{scope.region or ''}:{by or ''}:{','.join(map(str, segments))}:{policy.limits!r}:"
               f"{policy.exclude_deviations}")
        got = results.kept_or_computed(db, "performed_flow", first, key, counted)
    else:
        got = counted()
    measured = flow.from_plain(got["flow"])
    senders = set(got["senders"])
    codes = [c for c in sorted(reference.regions()) if (region or scope.region) in (None, c)]
    by_region = {(m.region_code, m.phase): m for m in measured.regions}
    comparison = [(by_region.get((c, p)) or flow.FlowMeasure(c, None, p)).as_dict()
                  for c in codes for p in flow.FLOW_PHASES]
    names = reference.regions()
    regions = []
    for c in codes:
        n = sum(r["performed"] for r in comparison if r["region_code"] == c)
        regions.append({"region_code": c, "name": names[c].name, "performed": n,
                        "caveats": flow_caveats(c, n, c in senders, policy.limits, month)})
    rows = [m.as_dict() for m in measured.groups if m.region_code in codes]
    shown = suppress_performed(rows, policy.small_count_threshold, scope.viewer.sees_detail_of)
    if by:
        whole: dict[tuple, flow.FlowMeasure] = {}  # the unsplit group rows: their breakdown's groups merged
        for g in measured.groups:
            whole.setdefault((g.region_code, g.mvo_group, g.phase), flow.FlowMeasure(
                g.region_code, g.mvo_group, g.phase)).merge(g)
        parents = suppress_performed([whole[k].as_dict() for k in sorted(whole) if k[0] in codes],
                                     policy.small_count_threshold, scope.viewer.sees_detail_of)
        names = hospital_names(db) if by == "hospital" else None
        split = [{**r, "breakdown_label": breakdown_label(by, r["breakdown"], names)} for r in rows]
        shown = suppress_breakdown(parents, split, FLOW_COUNTS, (*FLOW_SHARES, "median_wait_days"),
                                   policy.small_count_threshold, scope.viewer.sees_detail_of,
                                   total_of=lambda p: (p["region_code"], p["phase"]))
    final_at = snapshot_final_at(month, tz)
    answer = {"month": month.strftime("%Y-%m"), "region": region, "by": by, "final": now >= final_at,
              "final_at": final_at, "rows": shown,
              "comparison": comparison, "regions": regions,
              # an area less a region viewer's own region would be the others: none for it
              "nation": None if scope.region is not None else [m.as_dict() for m in measured.nation]}
    if not answer["final"]:
        day = final_at.astimezone(ZoneInfo(tz)).date().isoformat()
        answer["note"] = texts.paired("api.note.deliver", day=day)
    return answer
