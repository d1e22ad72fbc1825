"""The processing core: raw source records in, a sink batch and change messages out. No Kafka, no
ClickHouse here — the intake (streams/intake.py) feeds it and the worker (bedflow/worker.py) writes what
it returns.

Per record: skip if its source position was already written (redelivery after a crash), decode, validate,
then either dead-letter it with the rules that rejected it (redacted) or apply it to the ward /
waiting-list state and record what changed.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import time
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, NamedTuple

from schemas.codec import DecodeError, SchemaSet
from schemas import privacy, reference
from streams.domain.beds import BedState, WardStatus
from streams.domain.waitlist import Contact, WaitlistState
from streams.keyset import KeySet
from streams.progress import Progress
from streams.rows import (
    Batch, ContactRow, DeadLetterRow, EventRow, LateMonthRow, OutOfAreaAdmissionRow, OutOfAreaRow, SenderSeenRow,
    WardStatusRow, utc,
)
from schemas.model import (
    EVENT_TYPES, Event, PatientAdmitted, PatientTransferred, WaitlistEvent, WardCensus, to_json,
)
from schemas.rules import (
    RuleConfig, ValidationContext, Verdict, census_disagreement, decoding_verdict, validate_record,
)

log = logging.getLogger("bedflow.processor")
BEDS, WAITLIST = "bedflow.beds.v1", "bedflow.waitlist.v1"
# Reads the stored state of contacts by key (those the store has); the worker wires it to ClickHouse.
ContactStore = Callable[[list[str]], Iterable[Contact]]


class SourceRecord(NamedTuple):
    """One raw record as the intake took it (a tuple: it crosses the pipe from the intake by the thousand)."""
    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    # The intake's byte pre-scan (privacy.bytes_may_hold_pin), run in its process, which has CPU to spare
    # since its eager delivery: False proves no string in `value` can hold a PIN; None: not scanned, the
    # processor scans it.
    may_hold_pin: bool | None = None


@dataclass
class Outputs:
    """Change messages for the output topics (JSON-able dicts)."""

    ward_status: list[dict] = field(default_factory=list)
    out_of_area: list[dict] = field(default_factory=list)
    waitlist: list[dict] = field(default_factory=list)
    deadletters: list[dict] = field(default_factory=list)


class Processor:
    """Per batch: skip what is written, decode, read the touched contacts the store holds, validate,
    apply, and return the rows to write (streams/rows.py) and the change messages to send."""

    def __init__(self, codec: SchemaSet, *, epoch: str, rule_config: RuleConfig | None = None,
                 leave_policy: str = "leave_not_occupied", clock_skew_seconds: int = 300, metrics=None,
                 topics: tuple[str, str] = (BEDS, WAITLIST), recent_ids: int = 100_000,
                 contact_store: ContactStore | None = None, contacts_in_memory: int = 20_000):
        self.codec = codec
        privacy.warm()  # records not scanned by the intake are scanned here: its tables are built now
        self.epoch = epoch
        self.rule_config = rule_config or RuleConfig()
        self.beds = BedState(leave_policy)
        # With a store, contacts live there and only the recently touched stay here (national scale:
        # 2.4 M contacts would be 2.6 GB in memory); without one (tests, files) all stay here.
        self.contact_store = contact_store
        self.waitlist = WaitlistState(contacts_in_memory if contact_store is not None else None)
        # Which contacts the store may hold: a new contact (most of a backlog) is not looked for there.
        self.stored_contacts = KeySet()
        self.clock_skew = dt.timedelta(seconds=clock_skew_seconds)
        self.metrics = metrics
        self.beds_topic, self.waitlist_topic = topics
        self._sources: dict[str, tuple[str, str | None]] = {}
        self.progress = Progress(epoch)
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._recent_max = recent_ids
        self._known_wards: set[str] = set()
        self.newest_by_region: dict[str, dt.datetime] = {}

    # -- recovery ------------------------------------------------------------------------------------
    def restore(self, payloads: Iterable[str], written: dict[tuple[str, int], int],
                recent_ids: Iterable[str] = (), contact_keys: Iterable[list[str]] = ()) -> int:
        """Rebuild state from accepted events (EVENTS.md JSON, any order: transitions are order-free),
        take back the written positions, remember recently accepted ids not replayed, and the keys of
        the contacts the store holds (in chunks)."""
        for chunk in contact_keys:
            self.stored_contacts.add(chunk)
        n = 0
        for payload in payloads:
            ev = parse_event(json.loads(payload))
            self._apply(ev)
            self._remember(ev.event_id)
            n += 1
        for event_id in recent_ids:
            self._remember(event_id)
        self.progress.restore(written)
        return n

    # -- processing ----------------------------------------------------------------------------------
    def decode(self, records: list[SourceRecord]) -> list:
        """Each record's decoded form or its DecodeError, for `process`: reads and changes no state, so
        the worker runs it while the previous batch is being written."""
        decode = self.codec.decode_record
        out = []
        for rec in records:
            try:
                out.append(decode(rec.value))
            except DecodeError as err:
                out.append(err)
        return out

    def process(self, records: Iterable[SourceRecord], decoded: list | None = None) -> tuple[Batch, Outputs]:
        """A batch's rows and change messages; `decoded`: `decode(records)`, when done already."""
        batch, out = Batch(), Outputs()
        now = dt.datetime.now(dt.timezone.utc)
        version = time.time_ns()
        batch_version = version
        # Events before the month now starting within 3 h (UTC, so that every local month that has ended,
        # or ends within the hour, is covered) are late for an ended month: recorded in late_months.
        soon = now + dt.timedelta(hours=3)
        late_before = dt.datetime(soon.year, soon.month, 1, tzinfo=dt.timezone.utc)
        late_months: set[dt.date] = set()

        def note_late(t: dt.datetime | None):
            if t is not None and t < late_before:
                u = t.astimezone(dt.timezone.utc)
                late_months.add(dt.date(u.year, u.month, 1))
        touched_wards: dict[str, WardStatus] = {}
        touched_pairs: set[tuple[str, str]] = set()
        touched_contacts: set[str] = set()
        senders: dict[str, tuple[str, dt.datetime]] = {}
        counts: Counter = Counter()  # metrics, added once per batch (label lookups are not free)
        records = list(records)
        decoded = self._take(records, counts, self.decode(records) if decoded is None else decoded)
        self._read_contacts(decoded)
        ctx = self._ctx(now)  # one per batch: the per-record fields are set by _verdict
        for rec, record in decoded:
            verdict = self._verdict(rec, record, ctx)
            if verdict.rejected:
                self._dead_letter(rec, verdict, now, batch, out)
                note_late(_occurred_at(verdict.record))  # a late dead letter changes its month's data quality
                continue
            ev = verdict.event
            if ev.event_id in self._recent:
                counts["duplicates"] += 1
                continue
            self._remember(ev.event_id)
            findings = [v.rule_id for v in verdict.violations]
            if isinstance(ev, WardCensus) and self.beds.wards_get(ev.ward_id).has_adt:
                extra = census_disagreement(ctx, ev.region_code, ev, self.beds.adt_counts(ev.ward_id))
                findings += [v.rule_id for v in extra]
            counts[("accepted", rec.topic, "finding" if findings else "accepted")] += 1
            for f in findings:
                counts[("finding", f)] += 1
            version += 1
            note_late(ev.occurred_at)
            change = self._apply(ev)
            row = self._event_row(ev, rec, now, findings)
            batch.add("events", row)
            if ev.sender_id not in senders or row.occurred_at > senders[ev.sender_id][1]:
                senders[ev.sender_id] = (ev.region_code, row.occurred_at)
            mv = self.beds.movement(ev)
            if mv is not None:
                batch.add("out_of_area_admissions", OutOfAreaAdmissionRow(
                    row.occurred_at, ev.event_id, mv.home_region, mv.treating_region, mv.kind, mv.admission_kind))
            if isinstance(ev, WaitlistEvent):
                if change:
                    touched_contacts.add(row.entity_key)  # a waiting-list event's entity is its contact's key
            elif change:
                for wid in sorted(change.wards):
                    st = self.beds.status(wid)
                    touched_wards[wid] = st
                    batch.add("ward_status", status_row(st, version, ev))
                touched_pairs.update(change.matrix)
        version += 1
        for wid, st in touched_wards.items():
            batch.add("ward_current", status_row(st, version, None))
            out.ward_status.append(privacy.clean_message(status_message(st)))
        for pair in sorted(touched_pairs):
            n = self.beds.matrix.get(pair, 0)
            batch.add("out_of_area_current", OutOfAreaRow(pair[0], pair[1], n, version))
            out.out_of_area.append({"home_region": pair[0], "treating_region": pair[1], "patients": n})
        for key in sorted(touched_contacts):
            c = self.waitlist.contacts[key]
            batch.add("waitlist_contacts", ContactRow.of(c, version))
            out.waitlist.append(privacy.clean_message(contact_message(c), CONTACT_TEXT_FROM_SENDERS))
        if self.contact_store is not None:
            self.stored_contacts.add(touched_contacts)
        for sender, (region, last) in senders.items():
            batch.add("sender_last_seen", SenderSeenRow(sender, region, last))
        for month in sorted(late_months):
            batch.add("late_months", LateMonthRow(month, batch_version))
        for row in self.progress.rows(now):
            batch.add("progress", row)
        self._count(counts)
        return batch, out

    def _take(self, records: list[SourceRecord], counts: Counter, decoded: list) -> list[tuple[SourceRecord, object]]:
        """Skip what is written; the rest with its decoded form (a DecodeError stays with its record for
        the verdict)."""
        out = []
        for rec, record in zip(records, decoded):
            if self.progress.skip(rec.topic, rec.partition, rec.offset):
                counts["redelivered"] += 1
                continue
            self.progress.advance(rec.topic, rec.partition, rec.offset)
            counts[("in", rec.topic)] += 1
            out.append((rec, record))
        return out

    def _read_contacts(self, decoded: list[tuple[SourceRecord, object]]):
        """Bring the contacts this batch touches into memory, in one read of the store."""
        if self.contact_store is None:
            return
        self.waitlist.trim()  # the previous batch is written: what is forgotten is in the store
        keys = [f"{r['sender_id']}:{r['contact_id']}" for rec, r in decoded
                if self._source(rec.topic)[0] == WAITLIST and isinstance(r, dict)
                and isinstance(r.get("sender_id"), str) and isinstance(r.get("contact_id"), str)]
        missing = self.stored_contacts.maybe(self.waitlist.missing(keys))
        if missing:
            self.waitlist.load(self.contact_store(missing))

    def _count(self, counts: Counter):
        m = self.metrics
        if m is None:
            return
        for key, n in counts.items():
            if key == "redelivered":
                m.redelivered.inc(n)
            elif key == "duplicates":
                m.duplicates.inc(n)
            elif key[0] == "in":
                m.events_in.labels(key[1]).inc(n)
            elif key[0] == "accepted":
                m.events_accepted.labels(key[1], key[2]).inc(n)
            else:
                m.findings.labels(key[1]).inc(n)

    def _source(self, topic: str) -> tuple[str, str | None]:
        """The contract topic a source topic carries and, for a per-region input topic (`<topic>.<region>`,
        the only one a region's sender may write in the deployed layout), that region."""
        known = self._sources.get(topic)
        if known is None:
            known = (BEDS if topic == self.beds_topic else WAITLIST, None)
            for base, contract in ((self.beds_topic, BEDS), (self.waitlist_topic, WAITLIST)):
                suffix = topic[len(base) + 1:]
                if topic.startswith(base + ".") and suffix in reference.regions():
                    known = (contract, suffix)
            self._sources[topic] = known
        return known

    def _ctx(self, now) -> ValidationContext:
        return ValidationContext(now=now, clock_skew=self.clock_skew, known_wards=self._known_wards,
                                 decided_at=self.waitlist.decided_at, config=self.rule_config)

    def _verdict(self, rec: SourceRecord, record, ctx: ValidationContext) -> Verdict:
        if isinstance(record, DecodeError):
            return decoding_verdict(record.rule_id, privacy.clean_text(str(record)))
        ctx.expected_topic, ctx.topic_region = self._source(rec.topic)
        may = rec.may_hold_pin
        ctx.pin_free = not (privacy.bytes_may_hold_pin(rec.value) if may is None else may)
        return validate_record(record, ctx)

    def _apply(self, ev: Event):
        if ev.event_type == "WardDeclared":
            self._known_wards.add(ev.ward_id)
        prev = self.newest_by_region.get(ev.region_code)
        if prev is None or ev.occurred_at > prev:
            self.newest_by_region[ev.region_code] = ev.occurred_at
        if isinstance(ev, WaitlistEvent):
            return self.waitlist.apply(ev)
        return self.beds.apply(ev)

    def _remember(self, event_id: str):
        self._recent[event_id] = None
        if len(self._recent) > self._recent_max:
            self._recent.popitem(last=False)

    def _event_row(self, ev: Event, rec: SourceRecord, now, findings) -> EventRow:
        home = treating = ""
        if isinstance(ev, PatientAdmitted):
            home = reference.municipality_region(ev.home_municipality_code) or ""
            treating = self.beds.wards_get(ev.ward_id).region_code
        entity = ev.key() if isinstance(ev, WaitlistEvent) else (
            ev.to_ward_id if isinstance(ev, PatientTransferred) else ev.ward_id)
        payload = to_json(ev)  # the EVENTS.md JSON form
        return EventRow._make((ev.event_id, ev.event_type, utc(ev.occurred_at), now, ev.sender_id, ev.region_code,
                               entity, home, treating, findings, payload, self.epoch, rec.topic, rec.partition,
                               rec.offset))  # _make: see ContactRow.of

    def _dead_letter(self, rec: SourceRecord, verdict: Verdict, now, batch: Batch, out: Outputs):
        rule_ids = verdict.rule_ids
        # Everything below leaves the processor (topic, store, API): each text is cleaned here once more,
        # whatever the rules did, since a message may quote the input.
        messages = [privacy.clean_text(v.message) for v in verdict.violations]
        if self.metrics:
            for r in rule_ids:
                self.metrics.rejections.labels(r).inc()
        record = verdict.record
        if record is not None:
            payload = json.dumps(privacy.clean(record), default=str, ensure_ascii=False)
            payload, fmt = privacy.redact_text(payload), "json"  # values str()-ed by `default` included
        else:
            payload, fmt = base64.b64encode(privacy.redact_bytes(rec.value)).decode(), "base64"
        def s(key):
            v = record.get(key) if isinstance(record, dict) else None
            return privacy.clean_text(v) if isinstance(v, str) else ""
        row = DeadLetterRow(now, self.epoch, rec.topic, rec.partition, rec.offset, s("region_code"), s("sender_id"),
                            s("event_type"), s("event_id"), rule_ids, messages, payload, fmt)
        batch.add("deadletters", row)
        out.deadletters.append({"at": now.isoformat(), "source_topic": rec.topic, "source_partition": rec.partition,
                                "source_offset": rec.offset, "region_code": row.region_code,
                                "sender_id": row.sender_id, "event_type": row.event_type,
                                "event_id": row.event_id, "rule_ids": rule_ids, "messages": messages,
                                "payload": payload, "payload_format": fmt})
        log.info("rejected %s:%s@%s rules=%s", rec.topic, rec.partition, rec.offset, ",".join(rule_ids))


def _occurred_at(record) -> dt.datetime | None:
    """A rejected record's occurred_at in UTC, when it has a readable one (naive: taken as UTC)."""
    v = record.get("occurred_at") if isinstance(record, dict) else None
    try:
        t = v if isinstance(v, dt.datetime) else dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except (AttributeError, TypeError, ValueError):
        return None
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).astimezone(dt.timezone.utc)


def status_row(st: WardStatus, version: int, ev: Event | None) -> WardStatusRow:
    at = utc(ev.occurred_at) if ev is not None else utc(st.last_event_at) or dt.datetime.now(dt.timezone.utc)
    return WardStatusRow(
        st.ward_id, version, at, ev.event_id if ev else "", st.hospital_id, st.hospital_name, st.ward_name,
        st.region_code, st.mvo_code, reference.mvo_group(st.mvo_code) or "", st.care_type, st.ward_kind, st.source,
        st.staffed_beds, st.admitted, st.present, st.on_leave, st.occupied, st.overcrowded, st.outliers,
        st.discharge_ready, st.out_of_area_in, utc(st.last_event_at), st.sender_id, st.home_unknown)


def parse_event(record: dict) -> Event:
    return EVENT_TYPES[record["event_type"]].model_validate(record)


def status_message(st: WardStatus) -> dict:
    d = asdict(st)
    d["last_event_at"] = st.last_event_at.isoformat() if st.last_event_at else None
    return d


CONTACT_TEXT_FROM_SENDERS = ("contact_key",)  # the rest of a contact message is codes and our own words


def contact_message(c: Contact) -> dict:
    return {"contact_key": c.key, "region_code": c.region_code, "mvo_group": c.mvo_group, "phase": c.phase,
            "status": c.status, "deviation": c.deviation,
            "decided_at": c.decided_at.isoformat() if c.decided_at else None,
            "closed_at": c.closed_at.isoformat() if c.closed_at else None}
