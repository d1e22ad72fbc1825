"""The event contract (EVENTS.md, version 1) as pydantic models — the one source of truth.

The Avro schemas in `schemas/avsc/` are generated from these classes (`bedflow schemas --write`) and a
test checks the files on disk still equal what the models generate, so the two cannot drift.
Enumerations travel as Avro strings with the listed values (EVENTS.md allows either); the shape rules
check the values, so adding a value later is not a breaking schema change.
"""
from __future__ import annotations

import datetime as dt
from typing import Annotated, ClassVar, Literal, Union

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

CONTRACT_VERSION = 1
NAMESPACE = f"se.bedflow.events.v{CONTRACT_VERSION}"

CareType = Literal["somatic", "psychiatric"]
WardKind = Literal["general", "icu", "observation", "short_stay"]
CapacityReason = Literal["staffing", "closure", "escalation", "other"]
Deviation = Literal["patient_chosen", "medical", "special"]
RemovalReason = Literal["referred_elsewhere", "no_longer_needed", "duplicate", "cleanup"]
Phase = Literal[1, 2, 3, 4, 5]
Sex = Literal[1, 2, 3]
AdmissionKind = Literal["planned", "acute"]
Count = Annotated[int, Field(ge=0)]  # int ≥ 0 in EVENTS.md; negatives get their own (meaning) rule


class Event(BaseModel):
    """Common fields of every event."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    topic: ClassVar[str] = ""
    doc: ClassVar[str] = ""

    event_id: str
    event_type: str
    occurred_at: AwareDatetime
    sender_id: str
    region_code: str

    def key(self) -> str:
        raise NotImplementedError


class BedEvent(Event):
    topic: ClassVar[str] = "bedflow.beds.v1"
    ward_id: str

    def key(self) -> str:  # keyed by ward so that a ward's events stay in order
        return self.ward_id


class WardDeclared(BedEvent):
    doc: ClassVar[str] = "Registers or updates a ward (vårdenhet)."
    event_type: Literal["WardDeclared"] = "WardDeclared"
    hospital_id: str
    ward_name: str
    hospital_name: str
    mvo_code: str
    care_type: CareType
    ward_kind: WardKind
    staffed_beds: int
    budgeted_beds: int | None = None
    # The MVO specialties the ward serves (a ward shared by orthopaedics and surgery lists both); null =
    # only its own mvo_code. Outliers are patients whose responsible specialty is not among them.
    served_mvo_codes: tuple[str, ...] | None = None


class CapacityChanged(BedEvent):
    doc: ClassVar[str] = "Staffed beds (disponibla vårdplatser) from occurred_at on."
    event_type: Literal["CapacityChanged"] = "CapacityChanged"
    staffed_beds: int
    reason: CapacityReason


class PatientAdmitted(BedEvent):
    doc: ClassVar[str] = "A patient is admitted (inskriven) to a ward: +1 admitted."
    event_type: Literal["PatientAdmitted"] = "PatientAdmitted"
    stay_id: str
    patient_ref: str
    responsible_mvo_code: str
    # Mandatory when it exists: null for a patient with no Swedish registration (home region unknown).
    home_municipality_code: str | None
    # The sender's own outlier flag (utlokaliserad), where its system has one; null = derived by the platform.
    outlier: bool | None = None
    admission_kind: AdmissionKind | None = None


class PatientTransferred(Event):
    doc: ClassVar[str] = "Moves a stay between wards; both wards change at the same instant."
    topic: ClassVar[str] = "bedflow.beds.v1"
    event_type: Literal["PatientTransferred"] = "PatientTransferred"
    stay_id: str
    from_ward_id: str
    to_ward_id: str
    responsible_mvo_code: str | None = None  # null = unchanged

    def key(self) -> str:
        return self.to_ward_id


class LeaveStarted(BedEvent):
    doc: ClassVar[str] = "The patient goes on leave (permission): present → on leave."
    event_type: Literal["LeaveStarted"] = "LeaveStarted"
    stay_id: str


class LeaveEnded(BedEvent):
    doc: ClassVar[str] = "The patient returns from leave: on leave → present."
    event_type: Literal["LeaveEnded"] = "LeaveEnded"
    stay_id: str


class DischargeReadyMarked(BedEvent):
    doc: ClassVar[str] = "The stay is medically finished, waiting for municipal care (utskrivningsklar)."
    event_type: Literal["DischargeReadyMarked"] = "DischargeReadyMarked"
    stay_id: str


class PatientDischarged(BedEvent):
    doc: ClassVar[str] = "Closes the stay: −1 admitted."
    event_type: Literal["PatientDischarged"] = "PatientDischarged"
    stay_id: str


class WardCensus(BedEvent):
    doc: ClassVar[str] = "A sender's own count of a ward at an instant (for wards without ADT)."
    event_type: Literal["WardCensus"] = "WardCensus"
    staffed_beds: int
    occupied: int
    on_leave: int
    overcrowded: int
    outliers: int
    discharge_ready: int
    out_of_area: int
    # What `occupied` counts: false/null = the patients present (v1's meaning), true = present + on leave
    # (a region whose beds stay occupied during leave). `on_leave` is the number on leave either way.
    occupied_includes_leave: bool | None = None

    def present_patients(self) -> int:
        """The patients present on the ward, whatever `occupied` includes."""
        return max(0, self.occupied - self.on_leave) if self.occupied_includes_leave else self.occupied


class WaitlistEvent(Event):
    topic: ClassVar[str] = "bedflow.waitlist.v1"
    contact_id: str

    def key(self) -> str:  # contact ids are unique per sender only
        return f"{self.sender_id}:{self.contact_id}"


class ContactDecided(WaitlistEvent):
    doc: ClassVar[str] = "Opens a waiting contact at the decision to carry out the activity."
    event_type: Literal["ContactDecided"] = "ContactDecided"
    provider_id: str
    hospital_id: str
    clinic_id: str
    phase: Phase
    mvo_code: str
    activity_code: str | None = None
    guarantee: bool
    decided_at: AwareDatetime
    medical_target_date: dt.date | None = None
    referral_id: str | None = None
    referral_sent_at: AwareDatetime | None = None
    referral_arrived_at: AwareDatetime | None = None
    birth_year: int | None = None  # not reported by every region
    sex: Sex | None = None
    home_municipality_code: str | None  # mandatory when it exists: null = no Swedish registration


class DeviationSet(WaitlistEvent):
    doc: ClassVar[str] = "A deviation (avvikelse) starts: PvV, MoV or special."
    event_type: Literal["DeviationSet"] = "DeviationSet"
    deviation: Deviation


class DeviationCleared(WaitlistEvent):
    doc: ClassVar[str] = "The active deviation ends."
    event_type: Literal["DeviationCleared"] = "DeviationCleared"


class ContactBooked(WaitlistEvent):
    doc: ClassVar[str] = "A time is booked."
    event_type: Literal["ContactBooked"] = "ContactBooked"
    booked_for: AwareDatetime


class ContactPerformed(WaitlistEvent):
    doc: ClassVar[str] = "Closes the contact as performed (start av aktivitet)."
    event_type: Literal["ContactPerformed"] = "ContactPerformed"
    started_at: AwareDatetime
    performing_provider_id: str
    performing_region_code: str


class ContactRemoved(WaitlistEvent):
    doc: ClassVar[str] = "Closes the contact without a visit; a referral elsewhere stays visible."
    event_type: Literal["ContactRemoved"] = "ContactRemoved"
    reason: RemovalReason
    referred_to_region_code: str | None = None


EVENT_TYPES: dict[str, type[Event]] = {
    cls.model_fields["event_type"].default: cls
    for cls in (
        WardDeclared, CapacityChanged, PatientAdmitted, PatientTransferred, LeaveStarted, LeaveEnded,
        DischargeReadyMarked, PatientDischarged, WardCensus,
        ContactDecided, DeviationSet, DeviationCleared, ContactBooked, ContactPerformed, ContactRemoved,
    )
}
BED_EVENT_TYPES = frozenset(n for n, c in EVENT_TYPES.items() if c.topic == "bedflow.beds.v1")
WAITLIST_EVENT_TYPES = frozenset(n for n, c in EVENT_TYPES.items() if c.topic == "bedflow.waitlist.v1")
AnyEvent = Union[tuple(EVENT_TYPES.values())]  # noqa: UP007


def topic_of(event_type: str) -> str:
    return EVENT_TYPES[event_type].topic


def to_json_dict(event: Event) -> dict:
    """The EVENTS.md JSON form (ISO instants with offset, dates as YYYY-MM-DD)."""
    return event.model_dump(mode="json")


def to_json(event: Event) -> str:
    """The EVENTS.md JSON text, exactly as `event.model_dump_json()` gives it (field order, instants with
    Z or their offset, dates, lists; compared on every event type with random values at the edges), by
    orjson from the fields: 0.5 µs instead of pydantic's 2.5 µs, once per accepted event. An int beyond
    64 bits, which orjson refuses, goes through pydantic."""
    try:
        return orjson.dumps(event.__dict__, option=orjson.OPT_UTC_Z).decode()
    except TypeError:
        return event.model_dump_json()
