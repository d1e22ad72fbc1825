"""Waiting lists (vårdköer) and the care guarantee (vårdgaranti), INFORMATION_MODEL §4. No I/O.

Contact state is built from last-writer-wins registers like the ward state (idempotent, order-free),
except deviations: a contact keeps every DeviationSet / DeviationCleared it was sent, ordered by
(occurred_at, event_id), so a deviation is a period and is evaluated as of the measured instant.
The measures are a pure function of weighted rows `(mvo_group, phase, wait_days, guarantee, deviation,
count, past_target)`, so the same code serves a test's handful of contacts and the API's SQL pre-aggregation.
"""
from __future__ import annotations

import datetime as dt
from bisect import insort
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Iterable, Mapping, NamedTuple
from zoneinfo import ZoneInfo

from schemas import reference
from streams.domain.beds import NEVER, Stamp
from schemas.model import (
    ContactBooked, ContactDecided, ContactPerformed, ContactRemoved, DeviationCleared, DeviationSet,
    WaitlistEvent,
)

# Wait buckets (disjoint, labelled by their upper bound in days): 0–30, 31–60, 61–90, 91–180, >180.
BUCKETS = (("le_30", 30), ("le_60", 60), ("le_90", 90), ("le_180", 180), ("gt_180", None))
BUP_GROUP = "Barn- och ungdomspsykiatri"


@dataclass(slots=True)  # millions of these at national scale
class Contact:
    key: str
    region_code: str | None = None  # responsible region (huvudman)
    decided_stamp: Stamp = NEVER
    provider_id: str | None = None
    hospital_id: str | None = None
    phase: int | None = None
    mvo_code: str | None = None
    activity_code: str | None = None
    guarantee: bool = False
    decided_at: dt.datetime | None = None
    medical_target_date: dt.date | None = None
    home_region: str | None = None
    birth_year: int | None = None  # patient fields: optional in the contract (None: not reported)
    sex: int | None = None  # 1 man, 2 woman, 3 unknown (schemas.model.Sex)
    # Every deviation event (occurred_at, event_id, kind; kind None: cleared), sorted by its stamp. A
    # tuple, empty for most contacts; the periods and the state at any instant are derived from it.
    deviations: tuple[tuple[dt.datetime, str, str | None], ...] = ()
    booked_for: dt.datetime | None = None
    booked_at: Stamp = NEVER
    status: str = "open"  # open | performed | removed
    closed_stamp: Stamp = NEVER
    closed_at: dt.datetime | None = None
    performing_region: str | None = None
    performing_provider: str | None = None
    removal_reason: str | None = None
    referred_to_region: str | None = None

    @property
    def mvo_group(self) -> str | None:
        return reference.mvo_group(self.mvo_code) if self.mvo_code else None

    @property
    def deviation(self) -> str | None:
        """The deviation active after the newest deviation event (today's flag)."""
        return self.deviations[-1][2] if self.deviations else None

    @property
    def deviation_at(self) -> Stamp:
        """The stamp of the newest deviation event (NEVER without one)."""
        return self.deviations[-1][:2] if self.deviations else NEVER

    def deviation_on(self, at: dt.datetime) -> str | None:
        """The deviation active at `at`: the kind set by the newest deviation event at or before `at`
        (None when that event is a clear, or there is none)."""
        kind = None
        for t, _, k in self.deviations:
            if t > at:
                break
            kind = k
        return kind

    def deviation_periods(self) -> list[DeviationPeriod]:
        """The deviations as periods: each DeviationSet starts one, which lasts until the next deviation
        event (a clear ends it; a new set ends it and starts its own period with its kind)."""
        out: list[DeviationPeriod] = []
        for t, _, kind in self.deviations:
            if out and out[-1].cleared_at is None:
                out[-1] = out[-1]._replace(cleared_at=t)
            if kind is not None:
                out.append(DeviationPeriod(kind, t, None))
        return out


class DeviationPeriod(NamedTuple):
    kind: str  # patient_chosen (PvV) | medical (MoV) | special
    set_at: dt.datetime
    cleared_at: dt.datetime | None  # None: still active


class WaitlistState:
    """The contacts the processor is working on. With a `capacity`, only the most recently touched
    contacts stay in memory: the rest live in the store (every contact is written there after each
    change) and are read back with `missing` / `load` before a batch touches them. Without one (tests,
    offline validation) every contact stays."""

    def __init__(self, capacity: int | None = None):
        self.contacts: OrderedDict[str, Contact] = OrderedDict()
        self.capacity = capacity

    def missing(self, keys: Iterable[str]) -> list[str]:
        """Keys not in memory (to read from the store before applying)."""
        return [k for k in dict.fromkeys(keys) if k not in self.contacts]

    def load(self, contacts: Iterable[Contact]):
        for c in contacts:
            self.contacts.setdefault(c.key, c)

    def trim(self):
        """Forget the least recently touched contacts beyond capacity. Call between batches only:
        every contact in memory is written by then, so the store has what is forgotten."""
        if self.capacity is None:
            return
        while len(self.contacts) > self.capacity:
            self.contacts.popitem(last=False)

    def apply(self, ev: WaitlistEvent) -> bool:
        """Apply one event; True when the contact changed (False for a resent or superseded event)."""
        stamp: Stamp = (ev.occurred_at, ev.event_id)
        key = ev.key()
        c = self.contacts.get(key)
        if c is None:
            c = self.contacts[key] = Contact(key)
        else:
            self.contacts.move_to_end(key)
        if isinstance(ev, ContactDecided):
            if stamp <= c.decided_stamp:
                return False
            c.decided_stamp = stamp
            c.region_code, c.provider_id, c.hospital_id = ev.region_code, ev.provider_id, ev.hospital_id
            c.phase, c.mvo_code, c.activity_code = ev.phase, ev.mvo_code, ev.activity_code
            c.guarantee, c.decided_at, c.medical_target_date = ev.guarantee, ev.decided_at, ev.medical_target_date
            c.home_region = reference.municipality_region(ev.home_municipality_code)
            c.birth_year, c.sex = ev.birth_year, ev.sex
            return True
        if isinstance(ev, (DeviationSet, DeviationCleared)):
            # Kept, not overwritten: a late event takes its place in the history by its stamp (an older
            # clear still ends the period it falls in); a resent one (same stamp) changes nothing.
            entry = (ev.occurred_at, ev.event_id, ev.deviation if isinstance(ev, DeviationSet) else None)
            if any(e[:2] == stamp for e in c.deviations):
                return False
            if not c.deviations or stamp > c.deviations[-1][:2]:
                c.deviations += (entry,)
            else:
                history = list(c.deviations)
                insort(history, entry, key=lambda e: e[:2])
                c.deviations = tuple(history)
            return True
        if isinstance(ev, ContactBooked):
            if stamp <= c.booked_at:
                return False
            c.booked_at, c.booked_for = stamp, ev.booked_for
            return True
        if isinstance(ev, (ContactPerformed, ContactRemoved)):
            if stamp <= c.closed_stamp:
                return False
            c.closed_stamp = stamp
            if isinstance(ev, ContactPerformed):
                c.status, c.closed_at = "performed", ev.started_at
                c.performing_region, c.performing_provider = ev.performing_region_code, ev.performing_provider_id
            else:
                c.status, c.closed_at = "removed", ev.occurred_at
                c.removal_reason, c.referred_to_region = ev.reason, ev.referred_to_region_code
            return True
        return False

    def decided_at(self, key: str) -> dt.datetime | None:
        c = self.contacts.get(key)
        return c.decided_at if c else None


# -- limits: data with an effective date and optional per-region / per-group overrides ---------------
@dataclass(frozen=True)
class Limit:
    phase: int
    days: int
    effective_from: dt.date
    region: str | None = None
    mvo_group: str | None = None

    def specificity(self) -> int:
        return (self.region is not None) * 2 + (self.mvo_group is not None)


DEFAULT_LIMITS: tuple[Limit, ...] = (
    # 0-7-90-90 (2005–2018) and 0-3-90-90 (2019–): the specialised-care limits are 90 + 90 days.
    Limit(1, 90, dt.date(2005, 11, 1)), Limit(2, 90, dt.date(2005, 11, 1)),
    Limit(1, 90, dt.date(2019, 1, 1)), Limit(2, 90, dt.date(2019, 1, 1)),
    # BUP: 30 days to first assessment, 30 more to in-depth assessment or treatment.
    Limit(1, 30, dt.date(2011, 1, 1), mvo_group=BUP_GROUP), Limit(2, 30, dt.date(2011, 1, 1), mvo_group=BUP_GROUP),
)


@dataclass
class Limits:
    entries: tuple[Limit, ...] = DEFAULT_LIMITS

    def limit_for(self, region: str | None, mvo_group: str | None, phase: int, on: dt.date) -> int | None:
        best: Limit | None = None
        for lim in self.entries:
            if lim.phase != phase or lim.effective_from > on:
                continue
            if lim.region is not None and lim.region != region:
                continue
            if lim.mvo_group is not None and lim.mvo_group != mvo_group:
                continue
            if best is None or (lim.specificity(), lim.effective_from) > (best.specificity(), best.effective_from):
                best = lim
        return best.days if best else None

    @classmethod
    def from_config(cls, rows: Iterable[Mapping]) -> "Limits":
        extra = tuple(
            Limit(int(r["phase"]), int(r["days"]), dt.date.fromisoformat(str(r["effective_from"])),
                  r.get("region"), r.get("mvo_group"))
            for r in rows
        )
        return cls(DEFAULT_LIMITS + extra)


# -- measures ---------------------------------------------------------------------------------------
# Days are calendar days in the national model's time zone (issue 12 point 10): a contact decided at
# 23:30 on day D has waited 1 day at 00:30 on D+1. The zone is a parameter (the settings' timezone).
TZ = "Europe/Stockholm"
GUARANTEE_PHASES = (1, 2)  # the phases under the care guarantee: the only ones with a >180-day share
FOLLOW_UP = 4  # measured against the medical target date, not the decision date


@dataclass(frozen=True)
class WaitRow:
    mvo_group: str
    phase: int
    wait_days: int
    guarantee: bool
    deviation: bool
    count: int = 1
    past_target: bool | None = None  # waiting past the medical target date (None: no target date)
    breakdown: str | None = None  # the row's group in a breakdown (breakdown_of); None: not split


def local_date(t: dt.datetime, tz: str = TZ) -> dt.date:
    return t.astimezone(ZoneInfo(tz)).date()


def wait_days(decided_at: dt.datetime, at: dt.datetime, tz: str = TZ) -> int:
    """Calendar days in `tz` from the decision to `at` (not 24-hour periods)."""
    return (local_date(at, tz) - local_date(decided_at, tz)).days


def is_waiting(c: Contact, at: dt.datetime) -> bool:
    """Open at `at`: decided by then, not yet closed by then, never acute (phase 5 is never waiting)."""
    return (c.decided_at is not None and c.phase != 5 and c.decided_at <= at
            and (c.closed_at is None or c.closed_at > at))


def rows_from_contacts(contacts: Iterable[Contact], at: dt.datetime, region: str | None = None,
                       tz: str = TZ, by: str | None = None) -> list[WaitRow]:
    """One row per contact waiting at `at`; with `by`, each in its breakdown group as of `at`."""
    today = local_date(at, tz)
    return [
        WaitRow(c.mvo_group or "okänd", c.phase, wait_days(c.decided_at, at, tz), c.guarantee,
                c.deviation_on(at) is not None,
                past_target=None if c.medical_target_date is None else c.medical_target_date < today,
                breakdown=breakdown_of(by, breakdown_field(c, by), c.phase, today) if by else None)
        for c in contacts
        if is_waiting(c, at) and (region is None or c.region_code == region)
    ]


@dataclass
class GroupMeasure:
    """One MVO group × phase. Both care-guarantee shares are of the same population, `measured`: the
    contacts waiting under the guarantee (guarantee flag set), less those with an active deviation when
    deviations are excluded; so share_within_limit + share over the limit = 1 and the >180 share is a part
    of the latter. Each share is published with its numerator and denominator."""
    mvo_group: str
    phase: int
    waiting: int = 0
    buckets: dict[str, int] = field(default_factory=lambda: {b: 0 for b, _ in BUCKETS})
    limit_days: int | None = None
    measured: int = 0  # the denominator of share_within_limit and share_over_180
    within_limit: int = 0
    over_180: int = 0
    with_deviation: int = 0
    target_measured: int = 0  # follow-ups waiting with a medical target date: the denominator of share_past_target
    past_target: int = 0
    breakdown: str | None = None  # the group of a breakdown (None: the whole MVO group × phase)

    @property
    def share_within_limit(self) -> float | None:
        return round(self.within_limit / self.measured, 4) if self.limit_days and self.measured else None

    @property
    def share_over_180(self) -> float | None:
        return round(self.over_180 / self.measured, 4) if self.phase in GUARANTEE_PHASES and self.measured else None

    @property
    def share_past_target(self) -> float | None:
        return round(self.past_target / self.target_measured, 4) if self.target_measured else None

    def as_dict(self) -> dict:
        return {"mvo_group": self.mvo_group, "phase": self.phase, "waiting": self.waiting, **self.buckets,
                "limit_days": self.limit_days, "with_deviation": self.with_deviation,
                "measured": self.measured, "within_limit": self.within_limit, "over_180": self.over_180,
                "share_within_limit": self.share_within_limit, "share_over_180": self.share_over_180,
                "target_measured": self.target_measured, "past_target": self.past_target,
                "share_past_target": self.share_past_target,
                **({} if self.breakdown is None else {"breakdown": self.breakdown})}


def bucket_of(days: int) -> str:
    for name, upper in BUCKETS:
        if upper is None or days <= upper:
            return name
    raise AssertionError


def measures(rows: Iterable[WaitRow], at: dt.datetime, region: str | None, limits: Limits | None = None,
             exclude_deviations: bool = True, tz: str = TZ) -> list[GroupMeasure]:
    """Per MVO group × phase: count, wait buckets (calendar days since the decision), and the shares:
    within the applicable limit and over 180 days, both of the guarantee contacts waiting (those with an
    active deviation left out by default); for follow-ups (phase 4) the share waiting past the medical
    target date, of those waiting with one."""
    limits = limits or Limits()
    on = local_date(at, tz)
    out: dict[tuple[str, int], GroupMeasure] = {}
    for r in rows:
        if r.phase == 5:
            continue
        # a breakdown is a GROUP BY: the same counts per (group, phase, breakdown), the limit the group's
        g = out.get((r.mvo_group, r.phase, r.breakdown))
        if g is None:
            g = out[(r.mvo_group, r.phase, r.breakdown)] = GroupMeasure(
                r.mvo_group, r.phase, limit_days=limits.limit_for(region, r.mvo_group, r.phase, on),
                breakdown=r.breakdown)
        g.waiting += r.count
        g.buckets[bucket_of(r.wait_days)] += r.count
        g.with_deviation += r.count if r.deviation else 0
        if r.guarantee and not (exclude_deviations and r.deviation):
            g.measured += r.count
            g.over_180 += r.count if r.wait_days > 180 else 0
            g.within_limit += r.count if g.limit_days is not None and r.wait_days <= g.limit_days else 0
        if r.phase == FOLLOW_UP and r.past_target is not None:
            g.target_measured += r.count
            g.past_target += r.count if r.past_target else 0
    return sorted(out.values(), key=lambda g: (g.mvo_group, g.phase, g.breakdown or ""))


# -- breakdowns (issue 12): the same measures split by one dimension, a GROUP BY ----------------------
# Each contact falls in exactly one group of a breakdown (a field that is null has a group of its own),
# so the groups of an MVO group × phase add up to its unsplit row, count by count.
BREAKDOWNS = ("sex", "age_band", "hospital", "activity")
NOT_REPORTED = "not_reported"      # the field applies and is null
NOT_APPLICABLE = "not_applicable"  # the field does not apply to the contact's phase (activity only)
# The contract's codes (INFORMATION_MODEL §4, schemas.model.Sex): 1 man, 2 woman, 3 unknown. 3 is reported
# ("unknown" as the sender's system says), null is not reported: two groups.
SEX_LABELS = {"1": "man / male", "2": "kvinna / female", "3": "okänt / unknown"}
# Age bands, by lower bound (the last is open). The follow-up's documents in docs/ name none, so these are
# the common bands of Swedish health statistics: children, working age split at 45, the young old, the old.
AGE_BANDS = ((0, "0-17"), (18, "18-44"), (45, "45-64"), (65, "65-79"), (80, "80+"))
# Activity applies to operations/treatments and examinations, as the data-quality fill rates read it.
ACTIVITY_PHASES = (2, 3)
OTHER_LABELS = {NOT_REPORTED: "ej rapporterat / not reported", NOT_APPLICABLE: "ej tillämpligt / not applicable"}


def age_band(birth_year: int | None, on: dt.date) -> str:
    """The band of the age reached in the year of `on` (the contract has the birth year, not the date):
    a contact measured on any day of 2027 of a patient born in 1962 is 65. A birth year after `on`'s year
    counts as 0 (in the first band)."""
    if birth_year is None:
        return NOT_REPORTED
    age = max(0, on.year - birth_year)
    return next(label for low, label in reversed(AGE_BANDS) if age >= low)


def breakdown_field(c: Contact, by: str):
    """The contact's stored field a breakdown reads (as the SQL reads the column)."""
    return {"sex": c.sex, "age_band": c.birth_year, "hospital": c.hospital_id, "activity": c.activity_code}[by]


def breakdown_of(by: str, value, phase: int, on: dt.date) -> str:
    """A contact's group in breakdown `by`, from its field's value (None or '' when not reported), its
    phase and the local date of the measured instant (waiting: `at`; performed: the start of activity)."""
    if by == "age_band":
        return age_band(None if value is None else int(value), on)
    if value is None or value == "":
        if by == "activity" and phase not in ACTIVITY_PHASES:
            return NOT_APPLICABLE
        return NOT_REPORTED
    return str(value)


def breakdown_label(by: str, group: str, hospital_names: Mapping[str, str] | None = None) -> str:
    """Swedish first, for the rows people read; a hospital by its name where the wards declared one."""
    if group in OTHER_LABELS:
        return OTHER_LABELS[group]
    if by == "sex":
        return SEX_LABELS.get(group, group)
    if by == "age_band":
        return f"{group.replace('-', '–')} år / years"
    if by == "hospital" and hospital_names and hospital_names.get(group):
        return hospital_names[group]
    return group


# -- roll-up of month-end snapshots: region → healthcare region → nation -----------------------------
SNAPSHOT_COUNTS = ("waiting", "le_30", "le_60", "le_90", "le_180", "gt_180", "with_deviation", "measured",
                   "within_limit", "over_180", "target_measured", "past_target")


def with_shares(row: dict) -> dict:
    """A row's shares from its counts (the definitions of GroupMeasure); None where a count is not stored."""
    m, t = row.get("measured"), row.get("target_measured")
    row["share_within_limit"] = round(row["within_limit"] / m, 4) if m and row.get("limit_days") else None
    row["share_over_180"] = round(row["over_180"] / m, 4) if m and row["phase"] in GUARANTEE_PHASES else None
    row["share_past_target"] = round(row["past_target"] / t, 4) if t else None
    return row


def roll_up(rows: Iterable[Mapping], areas_of: Mapping[str, Iterable[str]]) -> list[dict]:
    """Snapshot rows (per region × MVO group × phase, with the counts of SNAPSHOT_COUNTS) summed into
    areas (`areas_of`: region code → its areas: healthcare regions, where Halland is in two, or the
    nation): counts add, shares are recomputed from the summed counts, never averaged. A count some region
    did not store (a month closed before the counts were) is None. limit_days is kept when every region
    has the same; with different limits the share is of each region's own limit."""
    out: dict[tuple[str, str, int], dict] = {}
    limits: dict[tuple[str, str, int], set] = {}
    for r in rows:
        for area in areas_of.get(r["region_code"], ()):
            key = (area, r["mvo_group"], r["phase"])
            g = out.get(key)
            if g is None:
                g = out[key] = {"area": area, "mvo_group": r["mvo_group"], "phase": r["phase"], "limit_days": None,
                                "regions": 0, **{c: 0 for c in SNAPSHOT_COUNTS}}
            limits.setdefault(key, set()).add(r.get("limit_days"))
            g["regions"] += 1
            for c in SNAPSHOT_COUNTS:
                g[c] = None if g[c] is None or r.get(c) is None else g[c] + int(r[c])
    for key, g in out.items():
        seen = limits[key]
        g["limit_days"] = next(iter(seen)) if len(seen) == 1 else None
        with_shares(g)
        if len(seen) > 1 and None not in seen and g["measured"]:  # each region's own limit: the sum still holds
            g["share_within_limit"] = round(g["within_limit"] / g["measured"], 4)
    return [out[k] for k in sorted(out)]
