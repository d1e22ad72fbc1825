"""Care-guarantee breaches ahead and the expected wait (issue 14), from the waiting-list measures'
definitions (streams/domain/waitlist.py, INFORMATION_MODEL §4). No I/O.

- A contact **passes the limit** (överskrider vårdgarantins gräns) on the first calendar day its wait is
  over the limit: with the limit L in force today and W calendar days waited (Europe/Stockholm), that is
  in L + 1 − W days (performed after exactly L days is within). It **breaches within N days** when
  1 ≤ L + 1 − W ≤ N, if nothing changes (not performed, not removed, no deviation set). Counted only
  among the contacts the guarantee share measures: under the guarantee and (by default) without a
  deviation active now; contacts with a deviation in force or not under the guarantee are not counted
  (`not_measured`), nor those already past the limit (`over_limit`, counted apart).
- The **expected wait** for a new referral (förväntad väntetid): the queue now ÷ the recent flow. The
  flow is the contacts performed (the performed flow's population) over the last RECENT_WEEKS weeks,
  per week; expected wait = waiting ÷ (performed ÷ weeks) × 7 calendar days. None when nothing was
  performed (no flow: no estimate). The queue is every contact waiting now (deviations included: they
  are ahead in the queue too).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Mapping

from streams.domain.waitlist import WaitRow, Limits

HORIZONS = (7, 14, 30)  # days ahead
RECENT_WEEKS = 4  # the flow behind the expected wait


def days_to_breach(wait_days: int, limit_days: int) -> int:
    """Days from today until the contact's wait is over the limit (≤ 0: it is over already)."""
    return limit_days + 1 - wait_days


def expected_wait_days(waiting: int, performed: int, weeks: int = RECENT_WEEKS) -> float | None:
    """waiting ÷ (performed per week) × 7, in calendar days (one decimal); None when nothing was performed."""
    if not performed:
        return None
    return round(waiting / (performed / weeks) * 7, 1)


@dataclass
class BreachMeasure:
    """One MVO group × phase of a region."""
    mvo_group: str
    phase: int
    limit_days: int | None = None
    waiting: int = 0
    measured: int = 0          # under the guarantee, no deviation in force (the guarantee share's population)
    not_measured: int = 0      # waiting − measured: a deviation in force or not under the guarantee
    over_limit: int = 0        # measured and already past the limit
    within_7: int | None = 0
    within_14: int | None = 0
    within_30: int | None = 0
    performed_recent: int = 0  # performed in the last RECENT_WEEKS weeks

    @property
    def performed_per_week(self) -> float:
        return round(self.performed_recent / RECENT_WEEKS, 2)

    @property
    def expected_wait_days(self) -> float | None:
        return expected_wait_days(self.waiting, self.performed_recent)

    def as_dict(self) -> dict:
        return {"mvo_group": self.mvo_group, "phase": self.phase, "limit_days": self.limit_days,
                "waiting": self.waiting, "measured": self.measured, "not_measured": self.not_measured,
                "over_limit": self.over_limit, "within_7": self.within_7, "within_14": self.within_14,
                "within_30": self.within_30, "performed_recent": self.performed_recent,
                "performed_per_week": self.performed_per_week, "expected_wait_days": self.expected_wait_days}


def breaches(rows: Iterable[WaitRow], performed: Mapping[tuple[str, int], int], region: str | None,
             on: dt.date, limits: Limits | None = None, exclude_deviations: bool = True) -> list[BreachMeasure]:
    """Per MVO group × phase (1–4) of a region: the waiting rows now (`rows`, the waiting-list measures'
    weighted rows at the instant, wait days as of its local date `on`) and the contacts performed in the
    last RECENT_WEEKS weeks per (group, phase) (`performed`). Without a limit for the row (phases 3–4 by
    default) the breach counts are None."""
    limits = limits or Limits()
    out: dict[tuple[str, int], BreachMeasure] = {}

    def group(g: str, p: int) -> BreachMeasure:
        m = out.get((g, p))
        if m is None:
            m = out[(g, p)] = BreachMeasure(g, p, limits.limit_for(region, g, p, on))
            if m.limit_days is None:
                m.within_7 = m.within_14 = m.within_30 = None
        return m

    for r in rows:
        if r.phase not in (1, 2, 3, 4):
            continue
        m = group(r.mvo_group, r.phase)
        m.waiting += r.count
        if not r.guarantee or (exclude_deviations and r.deviation):
            m.not_measured += r.count
            continue
        m.measured += r.count
        if m.limit_days is None:
            continue
        left = days_to_breach(r.wait_days, m.limit_days)
        if left <= 0:
            m.over_limit += r.count
            continue
        for n in HORIZONS:
            if left <= n:
                setattr(m, f"within_{n}", getattr(m, f"within_{n}") + r.count)
    for (g, p), n in performed.items():
        if p in (1, 2, 3, 4):
            group(g, p).performed_recent += n
    return sorted(out.values(), key=lambda m: (m.mvo_group, m.phase))


@dataclass
class ClinicQueue:
    """One clinic (clinic_id) × phase: what a clinic types into Signe by hand, derived."""
    clinic_id: str
    phase: int
    waiting: int = 0
    performed_recent: int = 0

    def as_dict(self) -> dict:
        return {"clinic_id": self.clinic_id, "phase": self.phase, "waiting": self.waiting,
                "performed_recent": self.performed_recent,
                "performed_per_week": round(self.performed_recent / RECENT_WEEKS, 2),
                "expected_wait_days": expected_wait_days(self.waiting, self.performed_recent)}


def clinic_queues(counts: Iterable[tuple[str, int, int, int]]) -> list[ClinicQueue]:
    """(clinic_id, phase, waiting now, performed in the last RECENT_WEEKS weeks) → one row each, phases 1–4."""
    out: dict[tuple[str, int], ClinicQueue] = {}
    for clinic, phase, waiting, performed in counts:
        if phase not in (1, 2, 3, 4):
            continue
        q = out.setdefault((clinic, phase), ClinicQueue(clinic, phase))
        q.waiting += waiting
        q.performed_recent += performed
    return sorted(out.values(), key=lambda q: (q.clinic_id, q.phase))
