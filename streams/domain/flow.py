"""Waiting-list flow: contacts performed in a month (genomförda vårdkontakter), INFORMATION_MODEL §4. No I/O.

The stock measures (streams/domain/waitlist.py) count who waits at an instant; these count who was seen
in a month. A contact is performed in month M when it is closed as performed (ContactPerformed) and its
start of activity (`closed_at`) falls on a local date of M in Europe/Stockholm; phases 1–4 (acute contacts,
phase 5, are never on a waiting list). Its wait is the calendar days in that zone from the decision's
local date to the start's local date (decided 23:30 on D, performed on D+90: 90 days).

Per region × MVO group × phase, per region × phase (all groups) and per phase for the nation:
- `performed`: contacts performed in the month;
- `measured`: of those, the contacts under the care guarantee (guarantee flag) with a limit that applies,
  less those with a deviation active at the start of activity (default; included when deviations are
  configured in) — the denominator;
- `within_limit`: of `measured`, waited at most the limit (≤ limit days: 90 performed on day 90 is within);
- `share_within_limit` = within_limit / measured (null without a measured contact);
- `median_wait_days`: the median wait of all performed (an even count: the mean of the two middle waits),
  of the union of the contacts at each level, never a median of medians;
- follow-ups (phase 4) against the medical target date: `target_measured`, those performed with a target
  date, and `past_target`, performed on a local date after it (on the target date itself is not past):
  `share_past_target` = past_target / target_measured.

The limit is the one in force on the day performed (Limits: dated, per region / MVO group). Weighted rows
`(region, group, phase, wait_days, guarantee, deviation, count, performed_on, past_target)` are the input, so a test's
handful of contacts and the API's SQL pre-aggregation go through the same function.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, NamedTuple

from streams.domain.waitlist import (FOLLOW_UP, TZ, Contact, Limits, breakdown_field, breakdown_of, local_date,
                                     wait_days)

FLOW_PHASES = (1, 2, 3, 4)


class PerformedRow(NamedTuple):  # a tuple: the API builds ~100,000 a national month
    region_code: str
    mvo_group: str
    phase: int
    wait_days: int
    guarantee: bool
    deviation: bool
    count: int = 1
    performed_on: dt.date | None = None  # the day performed (or the first day of its limits' segment)
    past_target: bool | None = None  # a follow-up performed after its medical target date (None: no target date)
    breakdown: str | None = None  # the group in a breakdown (waitlist.breakdown_of); None: not split


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last local date of `month`."""
    first = month.replace(day=1)
    nxt = (first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return first, nxt - dt.timedelta(days=1)


def limit_segments(limits: Limits, month: dt.date) -> list[dt.date]:
    """The days of `month` on which the limits in force may change: its first day and every limit's
    effective date inside it. Contacts performed between two of these have the same limits, so the SQL
    groups by the segment's first day, not by the day performed."""
    first, last = month_bounds(month)
    return sorted({first} | {lim.effective_from for lim in limits.entries if first < lim.effective_from <= last})


def performed_in(c: Contact, month: dt.date, tz: str = TZ) -> bool:
    first, last = month_bounds(month)
    return (c.status == "performed" and c.closed_at is not None and c.decided_at is not None
            and c.phase in FLOW_PHASES and first <= local_date(c.closed_at, tz) <= last)


def rows_from_contacts(contacts: Iterable[Contact], month: dt.date, tz: str = TZ,
                       by: str | None = None) -> list[PerformedRow]:
    """The contacts performed in `month`, one row each (tests; the API pre-aggregates in SQL); with `by`,
    each in its breakdown group as of the start of activity."""
    return [PerformedRow(c.region_code or "", c.mvo_group or "okänd", c.phase, wait_days(c.decided_at, c.closed_at, tz),
                         c.guarantee, c.deviation_on(c.closed_at) is not None, 1, local_date(c.closed_at, tz),
                         None if c.medical_target_date is None else local_date(c.closed_at, tz) > c.medical_target_date,
                         breakdown_of(by, breakdown_field(c, by), c.phase, local_date(c.closed_at, tz)) if by else None)
            for c in contacts if performed_in(c, month, tz)]


def median(waits: Counter) -> float | None:
    """The median of a weighted set of waits: the middle one, or the mean of the two middle ones."""
    n = sum(waits.values())
    if n == 0:
        return None
    lo, hi = (n - 1) // 2, n // 2  # 0-based positions of the middle (the same one for an odd count)
    seen, a, b = 0, None, None
    for days in sorted(waits):
        seen += waits[days]
        if a is None and seen > lo:
            a = days
        if seen > hi:
            b = days
            break
    return (a + b) / 2


@dataclass
class FlowMeasure:
    region_code: str | None  # None: the nation
    mvo_group: str | None    # None: every group
    phase: int
    performed: int = 0
    measured: int = 0
    within_limit: int = 0
    target_measured: int = 0
    past_target: int = 0
    waits: Counter = field(default_factory=Counter)
    limits_seen: set = field(default_factory=set)
    breakdown: str | None = None  # the group of a breakdown (None: the whole MVO group × phase)

    def merge(self, other: "FlowMeasure") -> None:
        """Add a part's contacts (a group's to its region's, a region's to the nation's): counts and waits."""
        self.performed += other.performed
        self.measured += other.measured
        self.within_limit += other.within_limit
        self.target_measured += other.target_measured
        self.past_target += other.past_target
        self.waits.update(other.waits)
        self.limits_seen |= other.limits_seen

    @property
    def limit_days(self) -> int | None:
        """The limit when one applies to every contact of the row (else null: each contact's own)."""
        return next(iter(self.limits_seen)) if len(self.limits_seen) == 1 else None

    @property
    def share_within_limit(self) -> float | None:
        return round(self.within_limit / self.measured, 4) if self.measured else None

    @property
    def share_past_target(self) -> float | None:
        return round(self.past_target / self.target_measured, 4) if self.target_measured else None

    def as_dict(self) -> dict:
        out = {} if self.region_code is None else {"region_code": self.region_code}
        if self.mvo_group is not None:
            out["mvo_group"] = self.mvo_group
        if self.breakdown is not None:
            out["breakdown"] = self.breakdown
        return {**out, "phase": self.phase, "performed": self.performed, "limit_days": self.limit_days,
                "measured": self.measured, "within_limit": self.within_limit,
                "share_within_limit": self.share_within_limit, "median_wait_days": median(self.waits),
                "target_measured": self.target_measured, "past_target": self.past_target,
                "share_past_target": self.share_past_target}


@dataclass
class Flow:
    groups: list[FlowMeasure]   # region × MVO group × phase (× the breakdown's group, when split)
    regions: list[FlowMeasure]  # region × phase, every group
    nation: list[FlowMeasure]   # phase


_COUNT_FIELDS = ("performed", "measured", "within_limit", "target_measured", "past_target")


def to_plain(f: Flow) -> dict:
    """A Flow as JSON values (kept for an ended month: sinks/results.py); from_plain gives it back equal."""
    def one(m: FlowMeasure) -> list:
        return [m.region_code, m.mvo_group, m.phase, m.breakdown, *(getattr(m, k) for k in _COUNT_FIELDS),
                sorted(m.waits.items()), sorted(m.limits_seen, key=lambda x: (x is None, x or 0))]
    return {"groups": [one(m) for m in f.groups], "regions": [one(m) for m in f.regions],
            "nation": [one(m) for m in f.nation]}


def from_plain(d: dict) -> Flow:
    def one(v: list) -> FlowMeasure:
        region, group, phase, breakdown, *rest = v
        counts, waits, limits = rest[:len(_COUNT_FIELDS)], rest[-2], rest[-1]
        return FlowMeasure(region, group, phase, *counts, waits=Counter({int(k): n for k, n in waits}),
                           limits_seen=set(limits), breakdown=breakdown)
    return Flow([one(v) for v in d["groups"]], [one(v) for v in d["regions"]], [one(v) for v in d["nation"]])


def performed_measures(rows: Iterable[PerformedRow], month: dt.date, limits: Limits | None = None,
                       exclude_deviations: bool = True) -> Flow:
    """The month's flow measures at the three levels; a contact's limit is the one in force on its day
    performed (`performed_on`; the month's first day when not given). `rows`: PerformedRows or plain
    tuples in their order (the SQL's); an empty MVO group is "okänd". Rows with a breakdown group (the
    tenth field) split the group rows by it; regions and the nation are the same sums either way."""
    limits = limits or Limits()
    first, _ = month_bounds(month)
    cache: dict[tuple, int | None] = {}
    groups: dict[tuple, FlowMeasure] = {}
    # Each row into its group only (regions and the nation are merged from the groups below); rows are
    # unpacked, not read by name: a national month is ~100,000 of them.
    for region, group, phase, days, guarantee, deviation, n, on, past, *split in rows:
        if phase not in FLOW_PHASES:
            continue
        group = group or "okänd"
        key = (region, group, phase, on or first)
        limit = cache[key] if key in cache else cache.setdefault(key, limits.limit_for(*key))
        b = split[0] if split else None
        g = groups.get((*key[:3], b))
        if g is None:
            g = groups[(*key[:3], b)] = FlowMeasure(region, group, phase, breakdown=b)
        g.performed += n
        g.waits[days] += n
        g.limits_seen.add(limit)
        if limit is not None and guarantee and not (exclude_deviations and deviation):
            g.measured += n
            if days <= limit:
                g.within_limit += n
        if phase == FOLLOW_UP and past is not None:
            g.target_measured += n
            if past:
                g.past_target += n
    regions: dict[tuple, FlowMeasure] = {}
    nation: dict[int, FlowMeasure] = {}
    for (region, _, phase, _), g in groups.items():
        if (region, phase) not in regions:
            regions[region, phase] = FlowMeasure(region, None, phase)
        regions[region, phase].merge(g)
    for (_, phase), m in regions.items():
        nation.setdefault(phase, FlowMeasure(None, None, phase)).merge(m)
    return Flow([groups[k] for k in sorted(groups)], [regions[k] for k in sorted(regions)],
                [nation[k] for k in sorted(nation)])
