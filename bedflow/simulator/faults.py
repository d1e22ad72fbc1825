"""Injected faults: what real senders get wrong, for testing the platform's robustness.

Applied to the live part of the stream only (occurred_at >= start), with their own random stream
`"{seed}:faults"`, so the fault-free events are the same with or without faults:

- **malformed** (share `p_bad`): the event is replaced by a broken copy: a required field missing, a bad
  region code, a personal identity number in an identifier field, an unparseable timestamp, or (capacity
  and census events) a negative count;
- **late** (share `p_late`): the event is held back and sent 1-12 h after its place in the stream;
- **duplicates** (share `p_dup` of the events sent on time): the same dict (same event_id) is sent again
  1 s - 15 min later;
- **silent regions**: no event of theirs is sent from `start + (end - start) / 4` on (held-back
  events included).

With `mark=True` the affected dicts carry `"_fault": kind` (duplicate / late / the malformed kind).
"""
from __future__ import annotations

import heapq
import itertools
import random
from typing import Iterable, Iterator

from .clock import HOUR_MS, MIN_MS

# identity numbers put into identifier fields by the "pin" fault
_PIN_SAMPLES = ("19121212-1212", "121212-1212", "201212121212", "19800101-0017")

# the required fields of each event type (EVENTS.md): one of these goes missing in "missing_field"
_REQUIRED = {
    "CapacityChanged": ("ward_id", "staffed_beds", "reason"),
    "PatientAdmitted": ("ward_id", "stay_id", "patient_ref", "responsible_mvo_code", "home_municipality_code"),
    "PatientTransferred": ("stay_id", "from_ward_id", "to_ward_id"),
    "LeaveStarted": ("ward_id", "stay_id"), "LeaveEnded": ("ward_id", "stay_id"),
    "DischargeReadyMarked": ("ward_id", "stay_id"), "PatientDischarged": ("ward_id", "stay_id"),
    "WardCensus": ("ward_id", "staffed_beds", "occupied", "on_leave", "overcrowded"),
    "ContactDecided": ("contact_id", "provider_id", "phase", "mvo_code", "guarantee", "decided_at",
                       "home_municipality_code"),  # birth year and sex are optional (not every region reports them)
    "DeviationSet": ("contact_id", "deviation"), "DeviationCleared": ("contact_id",),
    "ContactBooked": ("contact_id", "booked_for"),
    "ContactPerformed": ("contact_id", "started_at", "performing_provider_id", "performing_region_code"),
    "ContactRemoved": ("contact_id", "reason"),
}


def with_faults(merged: Iterable[tuple], seed: int, start: int, end: int, history: bool, p_dup: float,
                p_late: float, p_bad: float, silent: set[str], mark: bool) -> Iterator[dict]:
    """The events of `merged` ((t, rank, n, event) in time order) with faults injected (module docstring);
    events before `start` are passed through if `history`, else dropped."""
    frng = random.Random(f"{seed}:faults")
    cutoff = start + (end - start) // 4
    pending: list = []  # held back (late, duplicate copies): (emit_t, seq, event)
    seq = itertools.count()
    for t, _, _, ev in merged:
        while pending and pending[0][0] <= t:
            et, _, pe = heapq.heappop(pending)
            if not (pe.get("region_code") in silent and et >= cutoff):
                yield pe
        if t < start:
            if history:
                yield ev
            continue
        if ev["region_code"] in silent and t >= cutoff:
            continue
        r = frng.random()
        if r < p_bad:
            yield malform(frng, ev, mark)
            continue
        if r < p_bad + p_late:
            if mark:
                ev = {**ev, "_fault": "late"}
            heapq.heappush(pending, (t + frng.randint(HOUR_MS, 12 * HOUR_MS), next(seq), ev))
            continue
        yield ev
        if p_dup and frng.random() < p_dup:
            copy = dict(ev)
            if mark:
                copy["_fault"] = "duplicate"
            heapq.heappush(pending, (t + frng.randint(1000, 15 * MIN_MS), next(seq), copy))
    while pending:
        et, _, pe = heapq.heappop(pending)
        if not (pe.get("region_code") in silent and et >= cutoff):
            yield pe


def malform(frng: random.Random, ev: dict, mark: bool) -> dict:
    """A broken copy of `ev` (one fault kind, drawn from `frng`)."""
    bad = dict(ev)
    et = ev["event_type"]
    kinds = ["missing_field", "bad_region", "pin", "bad_timestamp"]
    if et in ("CapacityChanged", "WardCensus"):
        kinds.append("negative_count")
        kinds.append("negative_count")
    kind = frng.choice(kinds)
    if kind == "missing_field":
        del bad[frng.choice(_REQUIRED.get(et, ()) + ("occurred_at", "sender_id", "region_code"))]
    elif kind == "bad_region":
        bad["region_code"] = frng.choice(["02", "99", "00", "1", "AB"])
    elif kind == "pin":
        pin = frng.choice(_PIN_SAMPLES)
        for f in ("patient_ref", "stay_id", "contact_id", "ward_id"):
            if f in bad:
                bad[f] = pin
                break
    elif kind == "bad_timestamp":
        bad["occurred_at"] = frng.choice(["2026-13-45T99:00:00", "yesterday", "", "20261120"])
    elif kind == "negative_count":
        f = frng.choice(["staffed_beds"] + (["occupied", "on_leave"] if et == "WardCensus" else []))
        bad[f] = -frng.randint(1, 20)
    if mark:
        bad["_fault"] = kind
    return bad
