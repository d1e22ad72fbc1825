"""The validation engine (INFORMATION_MODEL §5). Plain functions, no I/O.

Every rule has an id, a family (decoding, shape, codes, meaning, privacy), a default severity
(reject | finding) that configuration may change per region, and a message a person at the sending
region can act on. A record ends as accepted, accepted with findings, or rejected; never dropped.
Decoding and privacy rules are always `reject`: an undecodable record has no region to configure, and a
personal identity number must never be stored, whatever a region prefers.
"""
from __future__ import annotations

import datetime as dt
import re
import typing
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Literal, Mapping

from pydantic import AwareDatetime, ValidationError

from schemas import privacy, reference
from schemas.model import EVENT_TYPES, ContactDecided, Event, PatientTransferred, WardCensus

Severity = Literal["reject", "finding"]
Family = Literal["decoding", "shape", "codes", "meaning", "privacy", "store", "access"]
# A store rejection is not a choice either: the row cannot be written, whatever a region prefers.
FIXED_SEVERITY: frozenset[str] = frozenset({"decoding", "privacy", "store", "access"})


@dataclass(frozen=True)
class Rule:
    id: str
    family: Family
    severity: Severity
    title: str
    advice: str  # what the sending region should do


# The largest Swedish hospitals have about 1,500 beds and a ward a few dozen: a ward count above this is
# a mistake (one near 2^31 once overflowed a 32-bit column and stopped every region's events while the
# sink retried it; the ward columns are 64-bit since migration 006 and the sink now isolates such a row).
MAX_WARD_COUNT = 2_000
# Dates and instants a sender may mean. The store's Date column holds 1970-01-01…2149-06-06: a date outside
# it cannot be written (medical_target_date 2200-01-01 is refused by ClickHouse's client).
EARLIEST_DATE, LATEST_DATE = dt.date(1970, 1, 1), dt.date(2099, 12, 31)

RULES: dict[str, Rule] = {
    r.id: r
    for r in [
        Rule("DEC-001", "decoding", "reject", "not decodable",
             "The payload is not Avro in the single-object or Confluent framing (or not JSON). "
             "Send Avro single-object encoding (C3 01 + schema fingerprint) or one JSON object per line."),
        Rule("DEC-002", "decoding", "reject", "unknown schema",
             "The schema fingerprint or registry id is not one of the published schemas. "
             "Use a schema from schemas/avsc of the contract version you build against."),
        Rule("DEC-003", "decoding", "reject", "truncated record",
             "The record ends before its schema says it should. Check that the whole message is sent."),
        Rule("DEC-004", "decoding", "reject", "trailing bytes",
             "Bytes follow the end of the record. Send exactly one record per message."),
        Rule("SHP-001", "shape", "reject", "required field missing",
             "Fill in the field; EVENTS.md lists the fields of every event type."),
        Rule("SHP-002", "shape", "reject", "wrong type",
             "The field has the wrong type (e.g. text where a number or an ISO 8601 instant with offset "
             "is expected)."),
        Rule("SHP-003", "shape", "reject", "value outside the enumeration",
             "Use one of the values listed for this field in EVENTS.md."),
        Rule("SHP-004", "shape", "reject", "unknown event type",
             "event_type must be one of the event names in EVENTS.md."),
        Rule("SHP-005", "shape", "finding", "unknown field ignored",
             "The field is not part of the contract version and was ignored."),
        Rule("SHP-007", "shape", "reject", "control character in a text field",
             "Text fields must not contain control characters (bytes 0x00–0x1F); check the sender's encoding."),
        Rule("SHP-006", "shape", "reject", "event on the wrong topic",
             "Bed events go to bedflow.beds.v1, waiting-list events to bedflow.waitlist.v1."),
        Rule("COD-001", "codes", "reject", "unknown region code",
             "region_code is the 2-digit SCB county code of one of the 21 regions ('01'…'25')."),
        Rule("COD-002", "codes", "reject", "invalid municipality code",
             "A municipality code is the 4-digit SCB kommunkod whose first two digits are a region code."),
        Rule("COD-003", "codes", "reject", "unknown MVO code",
             "Use a 3-digit MVO code from the national MVO table."),
        Rule("COD-004", "codes", "reject", "not an HSA-id",
             "HSA-ids have the form SE + 10-digit organisation number + '-' + local part."),
        Rule("COD-005", "codes", "reject", "ward not declared",
             "Send WardDeclared for the ward first; the rejected event can be replayed afterwards."),
        Rule("COD-006", "codes", "reject", "invalid event id",
             "event_id must be a UUID (it is the idempotency key)."),
        Rule("MNG-001", "meaning", "reject", "negative count",
             "Counts and bed numbers cannot be negative."),
        Rule("MNG-002", "meaning", "reject", "census counts inconsistent",
             "In a census, overcrowded must equal max(0, occupied − staffed), occupied counting the patients "
             "on leave or not as the census declares (occupied_includes_leave; undeclared, either is "
             "accepted); outliers, discharge-ready and out-of-area cannot exceed the ward's patients "
             "(present plus on leave), nor on leave an occupied that includes it."),
        Rule("MNG-003", "meaning", "reject", "activity starts before the decision",
             "started_at must not be before the contact's decided_at."),
        Rule("MNG-004", "meaning", "reject", "occurred in the future",
             "occurred_at is later than now plus the clock-skew allowance: check the sender's clock and "
             "time zone (instants need an offset)."),
        Rule("MNG-005", "meaning", "reject", "transfer to the same ward",
             "A transfer's from_ward_id and to_ward_id must differ."),
        Rule("MNG-006", "meaning", "reject", "acute contact under the guarantee",
             "Phase 5 (acute) is never under the care guarantee: send guarantee=false."),
        Rule("MNG-007", "meaning", "reject", "activity missing",
             "activity_code is required for phases 2 (operation/treatment) and 3 (examination)."),
        Rule("MNG-008", "meaning", "finding", "medical target date missing",
             "A follow-up (phase 4) needs its medical target date."),
        Rule("MNG-009", "meaning", "finding", "implausible birth year",
             "birth_year should be between 1900 and the current year."),
        Rule("MNG-010", "meaning", "finding", "census disagrees with ADT",
             "The ward's census differs from the count built from its admissions and discharges (present "
             "compared with present, on leave with on leave); check for missing ADT events."),
        Rule("MNG-011", "meaning", "reject", "implausibly large count",
             f"No ward has more than {MAX_WARD_COUNT:,} beds or patients: check the field (a count of one "
             "ward, not of a hospital or region)."),
        Rule("MNG-012", "meaning", "reject", "implausible date",
             f"Dates and instants must lie between {EARLIEST_DATE} and {LATEST_DATE}: check the field's "
             "format and year."),
        Rule("PRV-001", "privacy", "reject", "personal identity number",
             "A field holds what looks like a personal identity number or coordination number, in any "
             "spelling (with or without century; '-', '+', a space or nothing before the last four digits; "
             "full-width digits, Unicode dashes and spaces too). Never send one: use the pseudonymous "
             "patient_ref. The stored copy has been redacted."),
        Rule("SEC-001", "access", "reject", "event for another region",
             "With one input topic per region (bedflow.beds.v1.XX, bedflow.waitlist.v1.XX), a sender may "
             "write only its own region's topic, and every event on it must carry that region_code."),
        Rule("SNK-001", "store", "reject", "the store refused the record",
             "The record passed the rules but the store could not write a row made from it (a value out of "
             "its column's range). The rest of its batch was written; correct the values and resend."),
    ]
}


@dataclass(frozen=True)
class Violation:
    rule_id: str
    severity: Severity
    message: str
    field: str | None = None

    def as_dict(self) -> dict:
        return {"rule_id": self.rule_id, "severity": self.severity, "message": self.message,
                "field": self.field}


@dataclass
class Verdict:
    status: Literal["accepted", "finding", "rejected"]
    violations: list[Violation]
    event: Event | None = None
    record: dict | None = None  # the record as received, redacted when a privacy rule fired

    @property
    def rule_ids(self) -> list[str]:
        return [v.rule_id for v in self.violations]

    @property
    def rejected(self) -> bool:
        return self.status == "rejected"


@dataclass
class RuleConfig:
    """Severity overrides, global and per region (from the TOML config's [rules] tables)."""

    severity: dict[str, Severity] = field(default_factory=dict)
    region_severity: dict[str, dict[str, Severity]] = field(default_factory=dict)

    def severity_of(self, rule_id: str, region: str | None) -> Severity:
        rule = RULES[rule_id]
        if rule.family in FIXED_SEVERITY:
            return rule.severity
        if region and rule_id in self.region_severity.get(region, {}):
            return self.region_severity[region][rule_id]
        return self.severity.get(rule_id, rule.severity)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "RuleConfig":
        sev = {k: v for k, v in data.items() if isinstance(v, str)}
        regions = {k.removeprefix("region_"): dict(v) for k, v in data.items() if isinstance(v, Mapping)}
        for rid, s in list(sev.items()) + [(r, s) for m in regions.values() for r, s in m.items()]:
            if rid not in RULES:
                raise ValueError(f"config [rules]: unknown rule id {rid!r}")
            if s not in ("reject", "finding"):
                raise ValueError(f"config [rules]: severity of {rid} must be 'reject' or 'finding'")
        return cls(sev, regions)


@dataclass
class ValidationContext:
    """What the rules may know beyond the record itself. `known_wards=None` skips COD-005 (offline
    validation of a file without declarations); `decided_at` looks up an open contact's decision time."""

    now: dt.datetime
    clock_skew: dt.timedelta = dt.timedelta(minutes=5)
    known_wards: set[str] | None = None
    decided_at: Callable[[str], dt.datetime | None] = lambda key: None
    config: RuleConfig = field(default_factory=RuleConfig)
    expected_topic: str | None = None
    # The region of the per-region input topic the record came from (None: a shared topic).
    topic_region: str | None = None
    # True when the caller has shown that no string in the record can hold a PIN (the worker checks the
    # raw Avro bytes with privacy.bytes_may_hold_pin: one C-level scan instead of one per field).
    pin_free: bool = False


def decoding_verdict(rule_id: str, detail: str) -> Verdict:
    return Verdict("rejected", [Violation(rule_id, "reject", f"{RULES[rule_id].title}: {detail}")])


def _v(ctx: ValidationContext, region: str | None, rule_id: str, detail: str, fld: str | None = None):
    rule = RULES[rule_id]
    msg = privacy.clean_text(f"{rule.title}{': ' + detail if detail else ''}. {rule.advice}")
    return Violation(rule_id, ctx.config.severity_of(rule_id, region), msg, fld)


_TYPE_ERRORS_ENUM = {"literal_error", "enum"}


def _shape_violations(ctx, region, err: ValidationError) -> list[Violation]:
    out = []
    for e in err.errors(include_url=False, include_input=False):
        loc = ".".join(str(p) for p in e["loc"]) or None
        kind = e["type"]
        if kind == "missing":
            out.append(_v(ctx, region, "SHP-001", f"'{loc}' is missing", loc))
        elif kind in _TYPE_ERRORS_ENUM:
            out.append(_v(ctx, region, "SHP-003", f"'{loc}': {e['msg']}", loc))
        elif kind == "timezone_aware":
            out.append(_v(ctx, region, "SHP-002", f"'{loc}' needs a UTC offset", loc))
        else:
            out.append(_v(ctx, region, "SHP-002", f"'{loc}': {e['msg']}", loc))
    return out


_COUNT_FIELDS = ("staffed_beds", "budgeted_beds", "occupied", "on_leave", "overcrowded", "outliers",
                 "discharge_ready", "out_of_area")
_HSA_FIELDS = ("sender_id", "ward_id", "hospital_id", "from_ward_id", "to_ward_id", "provider_id",
               "performing_provider_id")
_MVO_FIELDS = ("mvo_code", "responsible_mvo_code")
_REGION_FIELDS = ("region_code", "performing_region_code", "referred_to_region_code")


_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _uuid_ok(value: str) -> bool:
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):  # the usual form, without uuid.UUID's cost
        return True
    try:
        uuid.UUID(value)
        return True
    except (ValueError, AttributeError, TypeError):
        return False


def _code_violations(ctx, region, ev: Event) -> list[Violation]:
    out = []
    fields = ev.__dict__  # plain dict lookups: pydantic's getattr on a missing name is slow
    present = _PRESENT[type(ev)]  # only the fields of its type: most are absent from most types
    regions, specialties, is_hsa_id = reference.regions(), reference.specialties(), reference.is_hsa_id
    if not _uuid_ok(ev.event_id):
        out.append(_v(ctx, region, "COD-006", f"'{ev.event_id}' is not a UUID", "event_id"))
    for f in present.regions:
        val = fields[f]
        if val is not None and val not in regions:
            out.append(_v(ctx, region, "COD-001", f"{f}='{val}'", f))
    if present.municipality:
        muni = fields["home_municipality_code"]
        if muni is not None and reference.municipality_region(muni) is None:
            out.append(_v(ctx, region, "COD-002", f"home_municipality_code='{muni}'", "home_municipality_code"))
    for f in present.mvo:
        val = fields[f]
        if val is not None and val not in specialties:
            out.append(_v(ctx, region, "COD-003", f"{f}='{val}'", f))
    for val in fields.get("served_mvo_codes") or ():
        if val not in specialties:
            out.append(_v(ctx, region, "COD-003", f"served_mvo_codes: '{val}'", "served_mvo_codes"))
    for f in present.hsa:
        val = fields[f]
        if val is not None and not is_hsa_id(val):
            out.append(_v(ctx, region, "COD-004", f"{f}='{val}'", f))
    if ctx.known_wards is not None and ev.event_type != "WardDeclared":
        # Only the ward the event is keyed by: its declaration is on the same partition, so it has been
        # seen if it was sent first. A transfer's from-ward lives on another partition (no order).
        w = ev.to_ward_id if isinstance(ev, PatientTransferred) else fields.get("ward_id")
        if w is not None and w not in ctx.known_wards:
            out.append(_v(ctx, region, "COD-005", f"ward '{w}' has not been declared", "ward_id"))
    return out


def _date_fields(cls: type[Event]) -> tuple[str, ...]:
    """The fields of an event type that hold a date or an instant (optional ones included)."""
    def is_date(a) -> bool:
        return a is AwareDatetime or (isinstance(a, type) and issubclass(a, dt.date))
    return tuple(name for name, info in cls.model_fields.items()
                 if any(is_date(a) for a in (typing.get_args(info.annotation) or (info.annotation,))))


_DATE_FIELDS = {cls: _date_fields(cls) for cls in EVENT_TYPES.values()}  # once: per record it is a lookup


class _Present(typing.NamedTuple):
    """The checked fields an event type has, in the order the rules check them."""
    regions: tuple[str, ...]
    municipality: bool
    mvo: tuple[str, ...]
    hsa: tuple[str, ...]
    counts: tuple[str, ...]


def _present(cls: type[Event]) -> _Present:
    has = cls.model_fields
    return _Present(tuple(f for f in _REGION_FIELDS if f in has), "home_municipality_code" in has,
                    tuple(f for f in _MVO_FIELDS if f in has), tuple(f for f in _HSA_FIELDS if f in has),
                    tuple(f for f in _COUNT_FIELDS if f in has))


_PRESENT = {cls: _present(cls) for cls in EVENT_TYPES.values()}


def census_overcrowded(ev: WardCensus) -> tuple[int, ...]:
    """The overcrowding a census's own counts give: max(0, occupied − staffed) on the basis it declares
    (occupied_includes_leave); undeclared, both bases (present only, present + on leave) are valid."""
    present = ev.present_patients()
    if ev.occupied_includes_leave is None:
        return (max(0, present - ev.staffed_beds), max(0, present + ev.on_leave - ev.staffed_beds))
    return (max(0, ev.occupied - ev.staffed_beds),)


def _census_violations(ctx, region, ev: WardCensus) -> list[Violation]:
    out = []
    if ev.occupied_includes_leave and ev.on_leave > ev.occupied:
        return [_v(ctx, region, "MNG-002", f"on_leave={ev.on_leave} exceeds occupied={ev.occupied}, which "
                                           "includes the patients on leave (occupied_includes_leave)")]
    expected = census_overcrowded(ev)
    if ev.overcrowded not in expected:
        out.append(_v(ctx, region, "MNG-002", f"overcrowded={ev.overcrowded} but max(0, occupied − staffed)="
                                              f"{' or '.join(map(str, sorted(set(expected))))}"))
    patients = ev.present_patients() + ev.on_leave
    for f in ("outliers", "discharge_ready", "out_of_area"):
        if getattr(ev, f) > patients:
            out.append(_v(ctx, region, "MNG-002", f"{f}={getattr(ev, f)} exceeds the ward's patients"))
    return out


def _meaning_violations(ctx, region, ev: Event) -> list[Violation]:
    out = []
    fields = ev.__dict__
    for f in _PRESENT[type(ev)].counts:
        val = fields[f]
        if isinstance(val, int) and val < 0:
            out.append(_v(ctx, region, "MNG-001", f"{f}={val}", f))
        elif isinstance(val, int) and val > MAX_WARD_COUNT:
            out.append(_v(ctx, region, "MNG-011", f"{f}={val}", f))
    if isinstance(ev, WardCensus) and not out:
        out += _census_violations(ctx, region, ev)
    for f in _DATE_FIELDS[type(ev)]:
        val = fields[f]
        if val is not None:
            day = val.date() if isinstance(val, dt.datetime) else val
            if not EARLIEST_DATE <= day <= LATEST_DATE:
                out.append(_v(ctx, region, "MNG-012", f"{f}={val.isoformat()}", f))
    if ev.occurred_at > ctx.now + ctx.clock_skew:
        out.append(_v(ctx, region, "MNG-004", f"occurred_at={ev.occurred_at.isoformat()}", "occurred_at"))
    if isinstance(ev, PatientTransferred) and ev.from_ward_id == ev.to_ward_id:
        out.append(_v(ctx, region, "MNG-005", f"both are '{ev.to_ward_id}'"))
    if isinstance(ev, ContactDecided):
        if ev.phase == 5 and ev.guarantee:
            out.append(_v(ctx, region, "MNG-006", "", "guarantee"))
        if ev.phase in (2, 3) and not ev.activity_code:
            out.append(_v(ctx, region, "MNG-007", f"phase {ev.phase}", "activity_code"))
        if ev.phase == 4 and ev.medical_target_date is None:
            out.append(_v(ctx, region, "MNG-008", "", "medical_target_date"))
        if ev.birth_year is not None and not 1900 <= ev.birth_year <= ctx.now.year:
            out.append(_v(ctx, region, "MNG-009", f"birth_year={ev.birth_year}", "birth_year"))
    started = fields.get("started_at")
    if started is not None:
        decided = ctx.decided_at(ev.key())
        if decided is not None and started < decided:
            out.append(_v(ctx, region, "MNG-003",
                          f"started_at {started.isoformat()} < decided_at {decided.isoformat()}", "started_at"))
    return out


_CANNOT_USE = " The event cannot be used without it, so it is rejected whatever the configured severity."


def _finish(violations: list[Violation], event: Event | None, record: dict) -> Verdict:
    if not violations and event is not None:  # the usual case, first
        return Verdict("accepted", violations, event, record)
    if event is None and not any(v.severity == "reject" for v in violations):
        # A shape rule relaxed to a finding, but there is no event to apply: reject (never pass on None).
        violations = [replace(v, severity="reject", message=v.message + _CANNOT_USE)
                      if RULES[v.rule_id].family == "shape" and v.severity == "finding" and v.rule_id != "SHP-005"
                      else v for v in violations]
        if not any(v.severity == "reject" for v in violations):
            violations.append(Violation("SHP-001", "reject", RULES["SHP-001"].title + "." + _CANNOT_USE))
    if any(v.severity == "reject" for v in violations):
        return Verdict("rejected", violations, None, record)
    return Verdict("finding" if violations else "accepted", violations, event, record)


_FIELD_NAMES = {cls: frozenset(cls.model_fields) for cls in EVENT_TYPES.values()}  # pydantic's property is slow
_NULLABLE = {cls: frozenset(f for f, info in cls.model_fields.items() if type(None) in typing.get_args(info.annotation))
             for cls in EVENT_TYPES.values()}


def _without_relaxed_fields(cls: type[Event], record: dict, shape: list[Violation]) -> Event | None:
    """A region relaxed every shape rule that fired to a finding: if each bad field is one the contract
    lets be null, the event is read with those fields as not reported (null). Otherwise None."""
    if not shape or any(v.severity == "reject" for v in shape):
        return None
    bad = {v.field.split(".")[0] if v.field else None for v in shape}
    if None in bad or not bad <= _NULLABLE[cls]:
        return None
    try:
        return cls.model_validate({**record, **dict.fromkeys(bad)})
    except ValidationError:
        return None


def validate_record(record: Any, ctx: ValidationContext) -> Verdict:
    """Validate one decoded record (a dict in the EVENTS.md form, or Avro-decoded)."""
    if not isinstance(record, dict):
        return decoding_verdict("DEC-001", f"expected an object, got {type(record).__name__}")
    region = record.get("region_code")
    region = region if isinstance(region, str) else None
    violations: list[Violation] = []
    pin_paths = [] if ctx.pin_free else privacy.pin_fields(record)
    if pin_paths:
        # Redact first: nothing after this point may hold the original value.
        record = privacy.redact(record)
        violations += [_v(ctx, region, "PRV-001", f"in field '{p}'", p) for p in pin_paths]
    texts = " ".join([v for v in record.values() if isinstance(v, str)])
    # One scan; the fields are named only when one has any. Printable ASCII (the usual text) has none:
    # that test is a third of the regex's time.
    if not (texts.isascii() and texts.isprintable()) and privacy.CONTROL_RE.search(texts):
        for key, value in record.items():
            if isinstance(value, str) and privacy.CONTROL_RE.search(value):
                violations.append(_v(ctx, region, "SHP-007", f"in field '{privacy.clean_text(str(key))}'", str(key)))
    etype = record.get("event_type")
    cls = EVENT_TYPES.get(etype) if isinstance(etype, str) else None
    if cls is None:
        violations.append(_v(ctx, region, "SHP-004", f"event_type={etype!r}", "event_type"))
        return _finish(violations, None, record)
    if ctx.topic_region is not None and region != ctx.topic_region:
        violations.append(_v(ctx, region, "SEC-001", f"region_code={region!r} on the topic of region {ctx.topic_region}",
                             "region_code"))
    if ctx.expected_topic and cls.topic != ctx.expected_topic:
        violations.append(_v(ctx, region, "SHP-006", f"{etype} arrived on {ctx.expected_topic}"))
    unknown = () if record.keys() <= _FIELD_NAMES[cls] else sorted(set(record) - _FIELD_NAMES[cls])
    for name in unknown:
        violations.append(_v(ctx, region, "SHP-005", f"'{name}'", name))
    try:
        event = cls.model_validate(record)
    except ValidationError as err:
        shape = _shape_violations(ctx, region, err)
        violations += shape
        event = _without_relaxed_fields(cls, record, shape)
        if event is None:
            return _finish(violations, None, record)
    violations += _code_violations(ctx, region, event)
    violations += _meaning_violations(ctx, region, event)
    return _finish(violations, event, record)


def store_rejection(detail: str) -> Violation:
    """SNK-001: the store refused a row made from an accepted record (found by the sink's split)."""
    rule = RULES["SNK-001"]
    return Violation("SNK-001", rule.severity, privacy.clean_text(f"{rule.title}: {detail}. {rule.advice}"))


CENSUS_COMPARED = ("present", "on_leave", "discharge_ready", "outliers", "out_of_area")


def census_disagreement(ctx: ValidationContext, region: str, census: WardCensus,
                        adt: Mapping[str, int]) -> list[Violation]:
    """MNG-010 (a finding, never a rejection): a census for a ward that also has ADT is compared with the
    ADT-built counts like with like: patients present with present, on leave with on leave, whatever the
    census's occupied includes and whatever the platform's leave policy."""
    own = {"present": census.present_patients(), "on_leave": census.on_leave,
           "discharge_ready": census.discharge_ready, "outliers": census.outliers, "out_of_area": census.out_of_area}
    diffs = [f"{k}: census {own[k]} vs ADT {adt[k]}" for k in CENSUS_COMPARED if k in adt and own[k] != adt[k]]
    return [_v(ctx, region, "MNG-010", "; ".join(diffs))] if diffs else []


def describe_rules(ids: Iterable[str] | None = None) -> list[dict]:
    return [{"id": r.id, "family": r.family, "severity": r.severity, "title": r.title, "advice": r.advice}
            for r in RULES.values() if ids is None or r.id in ids]
