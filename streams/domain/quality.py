"""Data quality the national follow-up uses (issue 12, "what is missing"), per region and month. Plain
functions, no I/O: the SQL (sinks/queries.py) returns raw counts, these turn them into the measures.

The **month** is the calendar month in Europe/Stockholm (local midnight to local midnight). The
**deadline** of a month is the one the waiting-list snapshots use: local midnight at month end + 21 days
(web/snapshots.py `snapshot_final_at`); it is passed in, never computed here a second time.

- **Reporting completeness** (rapporteringsfullständighet), per region × contract (the beds topic's
  events, the waiting-list topic's events): the accepted events whose `occurred_at` lies in the month,
  each counted once (by `event_id`) and received when the platform wrote it (`ingested_at`, the newest
  copy's); `on_time` were received before the deadline, `late` at or after it. `rejected`: the month's
  dead letters (counted apart, never in `events`). The status, in this order:
  `pending` the deadline has not passed; `late` some event of the month was received after it;
  `delivered` events, every one received before the deadline; `missing` no event although the region sent
  events of this contract with `occurred_at` in the ACTIVE_LOOKBACK_MONTHS months before; `inactive` no
  event now or then (nothing was expected).
- **Fill rate per field** (ifyllnadsgrad) of the optional fields (FILL_FIELDS), per region × event type
  × field, over the accepted events of that type whose `occurred_at` lies in the month: `not_applicable`
  the events whose phase makes the field not apply (whatever they carry), `reported` the others with a
  value, `not_reported` the others without one (null); `fill_rate = reported ÷ (reported + not_reported)`.
- **Guarantee and deviation shares** (andel med vårdgaranti, andel med avvikelse) per region: of the
  contacts waiting at the month's last instant (the waiting-list measures' "waiting at an instant":
  phases 1–4, decided by then, not closed by then), the share with the guarantee flag and the share with
  a deviation active at that instant; counts beside the shares.
- **Plausibility** (rimlighet) per region: contacts decided (decision in the month), contacts performed
  (start of activity in the month) and admissions (PatientAdmitted occurring in the month) against the
  same month a year earlier: `ratio = count ÷ previous_year`, flagged when the previous year had some
  (> 0) and this year is zero or the ratio is outside PLAUSIBLE_BAND (the bounds themselves are inside).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, Mapping

CONTRACTS = ("beds", "waitlist")
ACTIVE_LOOKBACK_MONTHS = 3  # a region that sent a contract's events in these months before is expected to send
STATUSES = ("pending", "late", "delivered", "missing", "inactive")
# Swedish first (the page and the exports show these; the codes stay in `status`)
STATUS_LABELS = {
    "pending": "inväntas (tidsfristen har inte gått ut) / pending (the deadline has not passed)",
    "late": "försenad (något kom efter tidsfristen) / late (some arrived after the deadline)",
    "delivered": "levererad i tid / delivered on time",
    "missing": "saknas (rapporterade tidigare) / missing (reported before)",
    "inactive": "ingen rapportering väntad / no reporting expected",
}

# The optional fields whose fill rate is measured, per event type: field → the phases in which it applies
# (None: every event of the type). Activity is required for operations/treatments and examinations
# (phases 2–3), the medical target date for follow-ups (phase 4): elsewhere they do not apply.
FILL_FIELDS: dict[str, dict[str, tuple[int, ...] | None]] = {
    "ContactDecided": {"birth_year": None, "sex": None, "home_municipality_code": None, "referral_id": None,
                       "referral_sent_at": None, "referral_arrived_at": None, "activity_code": (2, 3),
                       "medical_target_date": (4,)},
    "PatientAdmitted": {"home_municipality_code": None, "admission_kind": None, "outlier": None},
}

# A month's count against the same month a year before is plausible inside [0.5, 2.0]: half or double is
# more than seasons or a new system explain at region level; outside it, read the region's figures with
# care (a sender may have dropped or doubled a feed). Both bounds are inside.
PLAUSIBLE_BAND = (0.5, 2.0)
PLAUSIBILITY_MEASURES = ("contacts_decided", "contacts_performed", "admissions")


def add_months(month: dt.date, n: int) -> dt.date:
    """The first day of the month `n` months after `month` (n < 0: before)."""
    k = month.year * 12 + month.month - 1 + n
    return dt.date(k // 12, k % 12 + 1, 1)


def _share(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


# ------------------------------------------------------------------------------- reporting completeness
def completeness_status(events: int, late: int, active_before: bool, deadline: dt.datetime, now: dt.datetime) -> str:
    if now < deadline:
        return "pending"
    if late:
        return "late"
    if events:
        return "delivered"
    return "missing" if active_before else "inactive"


def completeness(counts: Mapping[tuple[str, str], Mapping[str, int]], regions: Iterable[str],
                 deadline: dt.datetime, now: dt.datetime) -> list[dict]:
    """One row per region × contract (every region, zeros included). `counts[(region, contract)]`:
    `events` (accepted, of the month), `late` (of those, first received at or after the deadline),
    `before` (accepted events of the lookback months), `rejected` (dead letters of the month)."""
    out = []
    for region in regions:
        for contract in CONTRACTS:
            c = counts.get((region, contract), {})
            events, late = int(c.get("events", 0)), int(c.get("late", 0))
            status = completeness_status(events, late, int(c.get("before", 0)) > 0, deadline, now)
            out.append({"region_code": region, "contract": contract, "events": events, "on_time": events - late,
                        "late": late, "rejected": int(c.get("rejected", 0)), "status": status,
                        "status_label": STATUS_LABELS[status]})
    return out


# ------------------------------------------------------------------------------------------ fill rates
def applies(event_type: str, field: str, phase: int | None) -> bool:
    phases = FILL_FIELDS[event_type][field]
    return phases is None or phase in phases


def fill_rates(rows: Iterable[Mapping], regions: Iterable[str]) -> list[dict]:
    """Per region × event type × field (every region and field, zeros included). `rows`: per region ×
    event type × phase, `events` (accepted events of the month) and `present[field]` (of those, how many
    carry a value for the field); phase is None (or 0) for an event type without one."""
    acc: dict[tuple[str, str, str], list[int]] = {}
    totals: dict[tuple[str, str], int] = {}
    for r in rows:
        etype = r["event_type"]
        if etype not in FILL_FIELDS:
            continue
        n = int(r["events"])
        totals[(r["region_code"], etype)] = totals.get((r["region_code"], etype), 0) + n
        for field in FILL_FIELDS[etype]:
            cell = acc.setdefault((r["region_code"], etype, field), [0, 0, 0])
            if applies(etype, field, r.get("phase")):
                have = int(r["present"].get(field, 0))
                cell[0] += have
                cell[1] += n - have
            else:
                cell[2] += n
    out = []
    for region in regions:
        for etype, fields in FILL_FIELDS.items():
            for field, phases in fields.items():
                reported, not_reported, not_applicable = acc.get((region, etype, field), (0, 0, 0))
                out.append({"region_code": region, "event_type": etype, "field": field,
                            "applies_in_phases": None if phases is None else list(phases),
                            "events": totals.get((region, etype), 0), "reported": reported,
                            "not_reported": not_reported, "not_applicable": not_applicable,
                            "fill_rate": _share(reported, reported + not_reported)})
    return out


# ------------------------------------------------------------------------ guarantee and deviation shares
def waiting_shares(rows: Iterable[tuple], region: str) -> dict:
    """The shares of one region from its waiting contacts at the instant, as the waiting-list measures read
    them (sinks.queries.waitlist_counts: weighted rows `(mvo_group, phase, wait_days, guarantee, deviation,
    count, past_target)`). Phase 5 (acute) is never waiting."""
    waiting = guarantee = deviation = 0
    for _, phase, _, gu, dev, n, _ in rows:
        if phase == 5:
            continue
        waiting += n
        guarantee += n if gu else 0
        deviation += n if dev else 0
    return {"region_code": region, "waiting": waiting, "guarantee": guarantee,
            "share_guarantee": _share(guarantee, waiting), "with_deviation": deviation,
            "share_with_deviation": _share(deviation, waiting)}


# ---------------------------------------------------------------------------------------- plausibility
def plausible(count: int, previous_year: int, band: tuple[float, float] = PLAUSIBLE_BAND) -> tuple[float | None, bool]:
    """(ratio, flag): the ratio this year ÷ last year (None without last year's data), and whether to flag it."""
    if not previous_year:
        return None, False
    ratio = count / previous_year
    return round(ratio, 4), count == 0 or not band[0] <= ratio <= band[1]


def plausibility(counts: Mapping[tuple[str, str], tuple[int, int]], regions: Iterable[str]) -> list[dict]:
    """One row per region × measure (PLAUSIBILITY_MEASURES): `counts[(region, measure)] = (this month,
    the same month a year earlier)`; a missing entry is (0, 0)."""
    out = []
    for region in regions:
        for measure in PLAUSIBILITY_MEASURES:
            count, before = counts.get((region, measure), (0, 0))
            ratio, flag = plausible(count, before)
            out.append({"region_code": region, "measure": measure, "count": count, "previous_year": before,
                        "ratio": ratio, "flag": flag})
    return out
