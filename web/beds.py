"""The bed answers below the HTTP layer: the monthly bed statistics' hospital and ward rows as a viewer sees
them, and the ICU picture over time (issue 14)."""
from __future__ import annotations

import datetime as dt
import math

from sinks import outlook, queries
from sinks.clickhouse import ClickHouse
from streams.domain import bedstats
from streams.domain import icu as icu_picture
from web.access import Scope
from web.history import ward_timeline
from web.policy import ViewPolicy
from web.status import DETAIL_LEVELS, detail_rows
from web.suppression import Unit, protect_region


ICU_WARD_FIELDS = ("at", "id", "name", "region_code", "hospital_id", "staffed_beds", "occupied", "free_beds",
                   "overcrowded", "occupancy_pct")


# Monthly bed statistics below region level, for a viewer outside the region: fields hidden together (a
# mean count and its rate give each other back, staffed beds being shown), tested on the mean count.
BEDSTATS_UNITS = (Unit("occupancy", ("bed_days", "occupancy_rate"), ("occupied",)),
                  Unit("overcrowded", ("overcrowded", "overcrowded_per_100"), ("overcrowded",)),
                  Unit("outliers", ("outliers", "outliers_per_100"), ("outliers",)),
                  Unit("discharge_ready", ("discharge_ready", "discharge_ready_share"), ("discharge_ready",)),
                  Unit("discharge_ready_stays", ("discharge_ready_stays", "discharge_ready_mean_days"),
                       ("discharge_ready_stays",)))


def bedstats_detail(wards: list[dict], level: str, month: dt.date, tz: str, threshold: int,
                    open_region) -> list[dict]:
    """Hospital or ward rows of the monthly bed statistics: in every region the viewer does not see in full
    (`open_region`), a mean daily count of 1..threshold (rounded up: any patient at all counts) is hidden
    with its rate, and complements as for status (web/suppression.py), per line (each line sums apart)."""
    rows = {lv: bedstats.roll_up(wards, lv, month, tz) for lv in DETAIL_LEVELS}
    days = bedstats.days_in(month)

    def proxy(r: dict) -> dict:  # integer counts for the small-number tests; ICU is a line, not an exception
        return {"id": r["id"], "hospital_id": r["hospital_id"], "ward_kind": "general",
                "occupied": math.ceil(r["bed_days"] / days), **{u.tests[0]: math.ceil(r[u.tests[0]])
                                                                  for u in BEDSTATS_UNITS[1:]}}

    hidden: dict[tuple[str, str, str], set[str]] = {}  # (kind, id, line) → fields
    for region in {w["region_code"] for w in wards}:
        if open_region(region):
            continue
        for line in bedstats.LINES:
            hs = [proxy(r) for r in rows["hospital"] if r["region_code"] == region and r["line"] == line]
            ws = [proxy(r) for r in rows["ward"] if r["region_code"] == region and r["line"] == line]
            for unit in BEDSTATS_UNITS:
                for kind, rid in protect_region(hs, ws, unit, threshold, set()):
                    hidden.setdefault((kind, rid, line), set()).update(unit.fields)
    kind = "h" if level == "hospital" else "w"
    return [{**r, **dict.fromkeys(hidden[key])} if (key := (kind, r["id"], r["line"])) in hidden else r
            for r in rows[level]]


# -- issue 14: the ICU picture ------------------------------------------------------------------------
def icu_answer(db: ClickHouse, times: list[dt.datetime], level: str, region: str | None, policy: ViewPolicy,
               scope: Scope) -> dict:
    """The ICU picture (streams/domain/icu.py) at each of `times` from the ward history, replayed as the
    trends replay it (ward_timeline): the nation, healthcare regions and regions for every viewer (`rows`);
    with level=ward the ICU wards as status shows them at that instant to this viewer (detail_rows: small
    counts and their complements hidden outside its region)."""
    step = times[1] - times[0] if len(times) > 1 else dt.timedelta(hours=1)
    columns = queries.WARD_COLUMNS if level == "ward" else outlook.ICU_COLUMNS
    base, steps = outlook.ward_history(db, times[0], step, len(times), columns)
    stale_after = dt.timedelta(minutes=policy.stale_after_minutes)
    rows, wards = [], []
    for at, frame in zip(times, ward_timeline(base, steps, len(times))):
        rows += [{"at": at, **r} for r in icu_picture.picture(frame)
                 if not region or r["level"] != "region" or r["id"] == region]
        if level != "ward":
            continue
        icu_wards = [w for w in scope.own(frame) if icu_picture.is_icu(w) and (not region or w["region_code"] == region)]
        shown = detail_rows(icu_wards, at, stale_after=stale_after, escalation=policy.escalation, senders=None,
                            threshold=policy.small_count_threshold, leave_policy=policy.leave_policy,
                            open_region=scope.viewer.sees_detail_of)["ward"]
        wards += [{"at": at, **{f: r.get(f) for f in ICU_WARD_FIELDS[1:]}} for r in shown]
    return {"from": times[0], "to": times[-1], "step_minutes": round(step.total_seconds() / 60),
            "timezone": policy.timezone, "rows": rows, "wards": wards}
