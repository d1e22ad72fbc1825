"""One typed row per output table: what the processor hands the sink.

NamedTuples are still tuples (the sink inserts them as they are, at tens of thousands a second), but
each field has a name, and the store's column names are the field names — `sinks/` reads the columns
from the row type, so no column list lives anywhere else. A table name maps to its row type in
`TABLES`, in write order: `progress` last, so it never runs ahead of the rows it vouches for.
"""
from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from streams.domain.beds import NEVER, Stamp
from streams.domain.waitlist import Contact

EPOCH_ZERO = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)  # a stamp that never happened, in a DateTime64


def utc(t: dt.datetime | None) -> dt.datetime | None:
    return t.astimezone(dt.timezone.utc) if t is not None else None


class EventRow(NamedTuple):
    """An accepted event (payload in the EVENTS.md JSON form), keyed by event_id."""
    event_id: str
    event_type: str
    occurred_at: dt.datetime
    ingested_at: dt.datetime
    sender_id: str
    region_code: str
    entity_key: str
    home_region: str
    treating_region: str
    findings: list[str]
    payload: str
    epoch: str
    source_topic: str
    source_partition: int
    source_offset: int


class DeadLetterRow(NamedTuple):
    """A rejected record with the rules that rejected it (redacted), keyed by source position."""
    at: dt.datetime
    epoch: str
    source_topic: str
    source_partition: int
    source_offset: int
    region_code: str
    sender_id: str
    event_type: str
    event_id: str
    rule_ids: list[str]
    messages: list[str]
    payload: str
    payload_format: str


class WardStatusRow(NamedTuple):
    """A ward's status after a change (history) or now (current)."""
    ward_id: str
    version: int
    at: dt.datetime
    event_id: str
    hospital_id: str
    hospital_name: str
    ward_name: str
    region_code: str
    mvo_code: str
    mvo_group: str
    care_type: str
    ward_kind: str
    source: str
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
    sender_id: str
    home_unknown: int = 0  # patients with no home municipality (no Swedish registration), counted apart


class OutOfAreaRow(NamedTuple):
    home_region: str
    treating_region: str
    patients: int
    version: int


class ContactRow(NamedTuple):
    """A waiting-list contact's whole state, stamps included: the store is where contacts live, and a
    contact read back (`to_contact`) continues its last-writer-wins registers exactly. Its deviation
    events are three parallel arrays sorted by stamp (`deviation_ats`, `deviation_ids`, `deviation_kinds`,
    '' for a clear), so the SQL can tell the deviation active at any instant; `deviation` and its stamp
    are the newest event's, today's flag."""
    contact_key: str
    version: int
    region_code: str
    provider_id: str
    hospital_id: str
    mvo_code: str
    mvo_group: str
    phase: int
    guarantee: bool
    decided_at: dt.datetime | None
    deviation: str | None
    booked_for: dt.datetime | None
    status: str
    closed_at: dt.datetime | None
    performing_region: str
    home_region: str
    removal_reason: str
    referred_to_region: str
    activity_code: str
    medical_target_date: dt.date | None
    performing_provider: str
    decided_stamp_at: dt.datetime
    decided_stamp_id: str
    deviation_stamp_at: dt.datetime
    deviation_stamp_id: str
    booked_stamp_at: dt.datetime
    booked_stamp_id: str
    closed_stamp_at: dt.datetime
    closed_stamp_id: str
    deviation_ats: list[dt.datetime]
    deviation_ids: list[str]
    deviation_kinds: list[str]
    # the patient fields (breakdowns by sex and age band); None: not reported. patient_fields_stored is
    # False only in rows written before migration 015, which need one rebuild from their events.
    birth_year: int | None
    sex: int | None
    patient_fields_stored: bool

    @classmethod
    def of(cls, c: Contact, version: int) -> "ContactRow":
        # _make: a NamedTuple's own __new__ binds its 35 parameters in Python (0.6 µs against 0.2 µs)
        return cls._make((
            c.key, version, c.region_code or "", c.provider_id or "", c.hospital_id or "", c.mvo_code or "",
            c.mvo_group or "", c.phase or 0, c.guarantee, utc(c.decided_at), c.deviation, utc(c.booked_for),
            c.status, utc(c.closed_at), c.performing_region or "", c.home_region or "",
            c.removal_reason or "", c.referred_to_region or "", c.activity_code or "",
            c.medical_target_date, c.performing_provider or "",
            *_stamp(c.decided_stamp), *_stamp(c.deviation_at), *_stamp(c.booked_at), *_stamp(c.closed_stamp),
            *(_deviation_columns(c.deviations) if c.deviations else _NO_DEVIATIONS), c.birth_year, c.sex, True))

    def to_contact(self) -> Contact:
        return Contact(
            key=self.contact_key, region_code=self.region_code or None, decided_stamp=_unstamp(
                self.decided_stamp_at, self.decided_stamp_id), provider_id=self.provider_id or None,
            hospital_id=self.hospital_id or None, phase=self.phase or None, mvo_code=self.mvo_code or None,
            activity_code=self.activity_code or None, guarantee=bool(self.guarantee), decided_at=_aware(self.decided_at),
            medical_target_date=self.medical_target_date, home_region=self.home_region or None,
            deviations=self._deviations(),
            booked_for=_aware(self.booked_for), booked_at=_unstamp(self.booked_stamp_at, self.booked_stamp_id),
            status=self.status, closed_stamp=_unstamp(self.closed_stamp_at, self.closed_stamp_id),
            closed_at=_aware(self.closed_at), performing_region=self.performing_region or None,
            performing_provider=self.performing_provider or None, removal_reason=self.removal_reason or None,
            referred_to_region=self.referred_to_region or None,
            birth_year=None if self.birth_year is None else int(self.birth_year),
            sex=None if self.sex is None else int(self.sex))


    def _deviations(self) -> tuple[tuple[dt.datetime, str, str | None], ...]:
        if self.deviation_ids:
            return tuple((_aware(t), i, k or None)
                         for t, i, k in zip(self.deviation_ats, self.deviation_ids, self.deviation_kinds))
        if self.deviation_stamp_id:  # a row written before the store kept the history (migration 010)
            return ((_aware(self.deviation_stamp_at), self.deviation_stamp_id, self.deviation),)
        return ()


_NO_DEVIATIONS = ((), (), ())  # most contacts: shared, never mutated (the client only reads them)


def _deviation_columns(events) -> tuple[list, list, list]:
    return [utc(t) for t, _, _ in events], [i for _, i, _ in events], [k or "" for _, _, k in events]


def _stamp(s: Stamp) -> tuple[dt.datetime, str]:
    return (EPOCH_ZERO, "") if s == NEVER else (utc(s[0]), s[1])


def _unstamp(at: dt.datetime, event_id: str) -> Stamp:
    return NEVER if not event_id else (_aware(at), event_id)


def _aware(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


class SenderSeenRow(NamedTuple):
    sender_id: str
    region_code: str
    last_event_at: dt.datetime


class OutOfAreaAdmissionRow(NamedTuple):
    """A patient coming into care outside the home region (streams.domain.beds.BedState.movement)."""
    occurred_at: dt.datetime
    event_id: str
    home_region: str
    treating_region: str
    movement: str = "admission"  # or "transfer" (between wards of two regions)
    admission_kind: str = ""  # "planned" | "acute" | "" (not sent)


class LateMonthRow(NamedTuple):
    """Data written for a month that has ended (a late event): kept answers for it and the months after it
    are computed again (sinks/results.py). Written after the data of its batch."""
    month: dt.date
    version: int


class ProgressRow(NamedTuple):
    """How far a source partition is written (see streams/progress.py)."""
    epoch: str
    source_topic: str
    source_partition: int
    offset: int
    at: dt.datetime


# Table → row type, in write order (`progress` last).
TABLES: dict[str, type] = {
    "events": EventRow,
    "deadletters": DeadLetterRow,
    "ward_status": WardStatusRow,
    "ward_current": WardStatusRow,
    "out_of_area_current": OutOfAreaRow,
    "waitlist_contacts": ContactRow,
    "sender_last_seen": SenderSeenRow,
    "out_of_area_admissions": OutOfAreaAdmissionRow,
    "late_months": LateMonthRow,
    "progress": ProgressRow,
}


class Batch:
    """The rows one processed batch writes, per table."""

    __slots__ = ("rows",)

    def __init__(self):
        self.rows: dict[str, list[tuple]] = {t: [] for t in TABLES}

    def add(self, table: str, row: tuple):
        self.rows[table].append(row)

    def __len__(self):
        return sum(len(v) for v in self.rows.values())


class Refused(NamedTuple):
    """A row the store refused on its own (the rest of its batch is written)."""
    table: str
    row: tuple
    reason: str  # names the column or the error, never a value (values may be personal data)

