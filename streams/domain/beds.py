"""Ward state (INFORMATION_MODEL §3) as plain data and transitions, no I/O.

Every piece of state is a last-writer-wins register stamped with the event's (occurred_at, event_id),
so applying an event is idempotent (a resent event changes nothing) and the final state does not depend
on arrival order: a late event older than what a stay already applied cannot roll it back. That is what
lets the worker rebuild the exact state after a crash by re-applying the accepted events in any order.
Ward counters are kept incrementally: each event removes the stay's old contribution and adds its new
one, so a stay is never counted twice or in two wards, and a transfer changes both wards at once.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal

from schemas import reference
from schemas.model import (
    CapacityChanged, DischargeReadyMarked, Event, LeaveEnded, LeaveStarted, PatientAdmitted,
    PatientDischarged, PatientTransferred, WardCensus, WardDeclared,
)

Stamp = tuple[dt.datetime, str]  # (occurred_at, event_id): total order for last-writer-wins
NEVER: Stamp = (dt.datetime.min.replace(tzinfo=dt.timezone.utc), "")
LeavePolicy = Literal["leave_not_occupied", "leave_occupied"]
COUNT_FIELDS = ("admitted", "present", "on_leave", "outliers", "discharge_ready", "out_of_area_in", "home_unknown")
# Kinds of ward that take patients of every specialty (intensive care, emergency observation and
# short-stay wards): a patient there is an outlier only when the sender says so.
EVERY_SPECIALTY_KINDS = frozenset({"icu", "observation", "short_stay"})


def is_outlier(ward_kind: str, ward_mvo: str, served: frozenset[str], responsible_mvo: str | None,
               flag: bool | None) -> bool:
    """An outlier (utlokaliserad patient) is cared for on a ward that does not belong to the specialty
    medically responsible for them: the responsible MVO code is neither the ward's own nor one of those it
    declares it serves (served_mvo_codes). The sender's own flag, where sent, decides."""
    if flag is not None:
        return flag
    if not responsible_mvo or not ward_mvo or ward_kind in EVERY_SPECIALTY_KINDS:
        return False
    return responsible_mvo != ward_mvo and responsible_mvo not in served


@dataclass(slots=True)  # millions of these at national scale
class Ward:
    ward_id: str
    declared: bool = False
    hospital_id: str = ""
    hospital_name: str = ""
    ward_name: str = ""
    region_code: str = ""
    sender_id: str = ""
    mvo_code: str = ""
    care_type: str = "somatic"
    ward_kind: str = "general"
    budgeted_beds: int | None = None
    served: frozenset[str] = frozenset()  # declared served_mvo_codes; empty = its own mvo_code
    declared_at: Stamp = NEVER
    staffed_beds: int = 0
    staffed_at: Stamp = NEVER
    # ADT-built counts (kept incrementally).
    counts: Counter = field(default_factory=Counter)
    has_adt: bool = False
    census: WardCensus | None = None
    census_at: Stamp = NEVER
    last_event_at: dt.datetime | None = None

    @property
    def mvo_group(self) -> str | None:
        return reference.mvo_group(self.mvo_code)


@dataclass(slots=True)  # millions of these at national scale
class Stay:
    key: str
    ward_id: str | None = None
    ward_at: Stamp = NEVER
    responsible_mvo: str | None = None
    mvo_at: Stamp = NEVER
    home_region: str | None = None
    home_unknown: bool = False  # admitted with no home municipality (no Swedish registration)
    outlier_flag: bool | None = None  # the sender's own outlier flag, for the ward it was admitted to
    flag_ward: str | None = None
    on_leave: bool = False
    leave_at: Stamp = NEVER
    discharge_ready: bool = False
    discharged: bool = False


@dataclass(frozen=True)
class WardStatus:
    """What the views show for one ward at one moment."""

    ward_id: str
    hospital_id: str
    hospital_name: str
    ward_name: str
    region_code: str
    mvo_code: str
    care_type: str
    ward_kind: str
    source: str  # "adt" | "census" | "none"
    staffed_beds: int
    admitted: int
    present: int
    on_leave: int
    occupied: int
    overcrowded: int
    outliers: int
    discharge_ready: int
    out_of_area_in: int
    last_event_at: dt.datetime | None
    sender_id: str = ""
    home_unknown: int = 0  # patients with no home region: counted apart, never as out-of-area


@dataclass
class Change:
    """What an applied event changed: wards whose status moved and out-of-area matrix deltas.
    Empty for a duplicate."""

    wards: set[str] = field(default_factory=set)
    matrix: Counter = field(default_factory=Counter)

    def __bool__(self) -> bool:
        return bool(self.wards or self.matrix)


def stay_key(ev: Event) -> str:
    # stay ids are unique per sender (vårdtillfälle per sender)
    return f"{ev.sender_id}:{ev.stay_id}"


class BedState:
    def __init__(self, leave_policy: LeavePolicy = "leave_not_occupied"):
        self.leave_policy = leave_policy
        self.wards: dict[str, Ward] = {}
        self.stays: dict[str, Stay] = {}
        self.ward_stays: dict[str, set[str]] = {}
        self.matrix: Counter = Counter()  # (home_region, treating_region) → open out-of-area stays

    # -- contributions -------------------------------------------------------------------------------
    def _contribution(self, stay: Stay) -> tuple[str | None, Counter, tuple[str, str] | None]:
        if stay.discharged or stay.ward_id is None:
            return None, Counter(), None
        ward = self.wards.get(stay.ward_id)
        c = Counter(admitted=1)
        c["on_leave" if stay.on_leave else "present"] += 1
        c["discharge_ready"] += stay.discharge_ready
        c["home_unknown"] += stay.home_unknown
        pair = None
        if ward is not None:
            flag = stay.outlier_flag if stay.flag_ward == stay.ward_id else None
            c["outliers"] += is_outlier(ward.ward_kind, ward.mvo_code, ward.served, stay.responsible_mvo, flag)
            if stay.home_region and ward.region_code and stay.home_region != ward.region_code:
                c["out_of_area_in"] += 1
                pair = (stay.home_region, ward.region_code)
        return stay.ward_id, c, pair

    def _move(self, stay: Stay, mutate) -> Change:
        change = Change()
        old_ward, old_c, old_pair = self._contribution(stay)
        mutate()
        new_ward, new_c, new_pair = self._contribution(stay)
        if (old_ward, old_c, old_pair) == (new_ward, new_c, new_pair):
            return change
        if old_ward is not None:
            self.wards_get(old_ward).counts.subtract(old_c)
            self.ward_stays.get(old_ward, set()).discard(stay.key)
            change.wards.add(old_ward)
        if new_ward is not None:
            self.wards_get(new_ward).counts.update(new_c)
            self.ward_stays.setdefault(new_ward, set()).add(stay.key)
            change.wards.add(new_ward)
        if old_pair != new_pair:
            if old_pair:
                self.matrix[old_pair] -= 1
                change.matrix[old_pair] -= 1
            if new_pair:
                self.matrix[new_pair] += 1
                change.matrix[new_pair] += 1
        return change

    def wards_get(self, ward_id: str) -> Ward:
        w = self.wards.get(ward_id)
        if w is None:
            w = self.wards[ward_id] = Ward(ward_id)
        return w

    def _recount(self, ward_id: str) -> Change:
        """Recompute a ward's counters from its stays (its MVO or region changed)."""
        ward = self.wards_get(ward_id)
        change = Change(wards={ward_id})
        for key in self.ward_stays.get(ward_id, set()):
            _, c, pair = self._contribution(self.stays[key])
            if pair:
                change.matrix[pair] -= 1
        ward.counts = Counter()
        for key in self.ward_stays.get(ward_id, set()):
            _, c, pair = self._contribution(self.stays[key])
            ward.counts.update(c)
            if pair:
                change.matrix[pair] += 1
        return change

    # -- transitions ---------------------------------------------------------------------------------
    def apply(self, ev: Event) -> Change:
        stamp: Stamp = (ev.occurred_at, ev.event_id)
        if isinstance(ev, (WardDeclared, CapacityChanged, WardCensus)):
            change = self._apply_ward_event(ev, stamp)
        else:
            change = self._apply_stay_event(ev, stamp)
        for wid in change.wards | self._wards_named(ev):
            w = self.wards_get(wid)
            if w.last_event_at is None or ev.occurred_at > w.last_event_at:
                w.last_event_at = ev.occurred_at
                change.wards.add(wid)
        return change

    @staticmethod
    def _wards_named(ev: Event) -> set[str]:
        if isinstance(ev, PatientTransferred):
            return {ev.from_ward_id, ev.to_ward_id}
        return {ev.ward_id}

    def _apply_ward_event(self, ev, stamp: Stamp) -> Change:
        ward = self.wards_get(ev.ward_id)
        change = Change()
        if isinstance(ev, WardDeclared):
            if stamp > ward.declared_at:
                before = (ward.mvo_code, ward.region_code, ward.ward_kind, ward.served)
                ward.declared, ward.declared_at = True, stamp
                ward.hospital_id, ward.hospital_name = ev.hospital_id, ev.hospital_name
                ward.ward_name, ward.region_code, ward.sender_id = ev.ward_name, ev.region_code, ev.sender_id
                ward.mvo_code, ward.care_type, ward.ward_kind = ev.mvo_code, ev.care_type, ev.ward_kind
                ward.budgeted_beds = ev.budgeted_beds
                ward.served = frozenset(ev.served_mvo_codes or ())
                change.wards.add(ev.ward_id)
                if before != (ward.mvo_code, ward.region_code, ward.ward_kind, ward.served):
                    recount = self._recount(ev.ward_id)
                    self.matrix.update(recount.matrix)
                    change.matrix.update(recount.matrix)
            if stamp > ward.staffed_at:
                ward.staffed_beds, ward.staffed_at = ev.staffed_beds, stamp
                change.wards.add(ev.ward_id)
        elif isinstance(ev, CapacityChanged):
            if stamp > ward.staffed_at:
                ward.staffed_beds, ward.staffed_at = ev.staffed_beds, stamp
                change.wards.add(ev.ward_id)
        elif isinstance(ev, WardCensus):
            if stamp > ward.census_at:
                ward.census, ward.census_at = ev, stamp
                change.wards.add(ev.ward_id)
            if stamp > ward.staffed_at:
                ward.staffed_beds, ward.staffed_at = ev.staffed_beds, stamp
        return change

    def _apply_stay_event(self, ev, stamp: Stamp) -> Change:
        key = stay_key(ev)
        stay = self.stays.get(key)
        if stay is None:
            stay = self.stays[key] = Stay(key)
        if isinstance(ev, (PatientAdmitted, PatientTransferred)):
            for wid in self._wards_named(ev):
                self.wards_get(wid).has_adt = True

        def mutate():
            if isinstance(ev, PatientAdmitted):
                if stamp > stay.ward_at:
                    stay.ward_id, stay.ward_at = ev.ward_id, stamp
                if stamp > stay.mvo_at:
                    stay.responsible_mvo, stay.mvo_at = ev.responsible_mvo_code, stamp
                stay.home_region = reference.municipality_region(ev.home_municipality_code)
                stay.home_unknown = ev.home_municipality_code is None
                stay.outlier_flag, stay.flag_ward = ev.outlier, ev.ward_id
            elif isinstance(ev, PatientTransferred):
                if stamp > stay.ward_at:
                    stay.ward_id, stay.ward_at = ev.to_ward_id, stamp
                if ev.responsible_mvo_code and stamp > stay.mvo_at:
                    stay.responsible_mvo, stay.mvo_at = ev.responsible_mvo_code, stamp
            elif isinstance(ev, (LeaveStarted, LeaveEnded)):
                if stamp > stay.leave_at:
                    stay.on_leave, stay.leave_at = isinstance(ev, LeaveStarted), stamp
            elif isinstance(ev, DischargeReadyMarked):
                stay.discharge_ready = True
            elif isinstance(ev, PatientDischarged):
                stay.discharged = True

        return self._move(stay, mutate)

    # -- views ---------------------------------------------------------------------------------------
    def adt_counts(self, ward_id: str) -> dict[str, int]:
        w = self.wards_get(ward_id)
        c = w.counts
        # Present and on leave apart, to compare like with like with a census (rules.census_disagreement).
        return {"present": c["present"], "on_leave": c["on_leave"], "discharge_ready": c["discharge_ready"],
                "outliers": c["outliers"], "out_of_area": c["out_of_area_in"]}

    def status(self, ward_id: str) -> WardStatus:
        w = self.wards_get(ward_id)
        c = w.counts
        census = w.census
        if w.has_adt or census is None:
            source = "adt" if w.has_adt else "none"
            admitted, present, on_leave = c["admitted"], c["present"], c["on_leave"]
            outliers, ready, ooa = c["outliers"], c["discharge_ready"], c["out_of_area_in"]
            occupied = admitted if self.leave_policy == "leave_occupied" else present
            home_unknown = c["home_unknown"]
        else:
            # Census-only ward: the sender's own count is authoritative. Its `occupied` counts the present
            # patients or present + on leave as it declares; the platform's leave policy decides ours.
            source = "census"
            present, on_leave, home_unknown = census.present_patients(), census.on_leave, 0
            admitted = present + on_leave
            occupied = admitted if self.leave_policy == "leave_occupied" else present
            outliers, ready, ooa = census.outliers, census.discharge_ready, census.out_of_area
        return WardStatus(
            ward_id=w.ward_id, hospital_id=w.hospital_id, hospital_name=w.hospital_name,
            ward_name=w.ward_name, region_code=w.region_code, mvo_code=w.mvo_code,
            care_type=w.care_type, ward_kind=w.ward_kind, source=source, staffed_beds=w.staffed_beds,
            admitted=admitted, present=present, on_leave=on_leave, occupied=occupied,
            overcrowded=max(0, occupied - w.staffed_beds), outliers=outliers, discharge_ready=ready,
            out_of_area_in=ooa, last_event_at=w.last_event_at, sender_id=w.sender_id, home_unknown=home_unknown,
        )

    def out_of_area_now(self) -> dict[tuple[str, str], int]:
        return {k: v for k, v in self.matrix.items() if v}

    def movement(self, ev: Event) -> "Movement | None":
        """The out-of-area movement an event is, for the 24 h / 7 d / 30 d figures: an admission to a ward
        outside the patient's home region, or a transfer between wards of two regions into a region that
        is not the patient's home (a transfer home ends out-of-area care: not counted). Read before or after
        applying `ev` alike (a stay's home region is set by its admission). A transfer whose admission has
        not arrived has no known home region: not counted."""
        if isinstance(ev, PatientAdmitted):
            home = reference.municipality_region(ev.home_municipality_code)
            treating = self.wards_get(ev.ward_id).region_code
            if home and treating and home != treating:
                return Movement(home, treating, "admission", getattr(ev, "admission_kind", None) or "")
        elif isinstance(ev, PatientTransferred):
            stay = self.stays.get(stay_key(ev))
            home = stay.home_region if stay else None
            src, dst = self.wards_get(ev.from_ward_id).region_code, self.wards_get(ev.to_ward_id).region_code
            if home and src and dst and src != dst and dst != home:
                return Movement(home, dst, "transfer")
        return None


@dataclass(frozen=True)
class Movement:
    """A patient coming into care outside their home region (INFORMATION_MODEL: out-of-area windows)."""
    home_region: str
    treating_region: str
    kind: Literal["admission", "transfer"]
    admission_kind: str = ""  # "planned" | "acute" | "" (not sent): admissions only
