"""Every validation rule: one record it rejects (or flags) and one it lets pass. Table-driven."""
import datetime as dt

import pytest

from schemas.privacy import REDACTED
import typing

from pydantic import AwareDatetime

from schemas.model import EVENT_TYPES
from schemas.rules import _COUNT_FIELDS, MAX_WARD_COUNT, RULES, RuleConfig, ValidationContext, validate_record
from tests.factory import T0, admit, census, decided, ev, transfer, ward

A, B = "SE2321000016-A101", "SE2321000016-A102"
NOW = T0 + dt.timedelta(days=1)


def ctx(**kw):
    return ValidationContext(now=NOW, known_wards=kw.pop("known_wards", {A, B}), **kw)


def with_(d, **changes):
    d = dict(d)
    for k, v in changes.items():
        if v is ...:
            d.pop(k)
        else:
            d[k] = v
    return d


GOOD_ADMIT = admit(A, "s1", 5)
GOOD_DECIDED = decided("c1", 5)
# rule id → (bad record, good record, context kwargs)
CASES = {
    "SHP-001": (with_(GOOD_ADMIT, stay_id=...), GOOD_ADMIT, {}),
    "SHP-002": (with_(ward(A), staffed_beds="many"), ward(A), {}),
    "SHP-003": (with_(ward(A), ward_kind="hallway"), ward(A), {}),
    "SHP-004": (with_(GOOD_ADMIT, event_type="PatientTeleported"), GOOD_ADMIT, {}),
    "SHP-005": (with_(GOOD_ADMIT, favourite_colour="blue"), GOOD_ADMIT, {}),
    "SHP-006": (GOOD_DECIDED, GOOD_ADMIT, {"expected_topic": "bedflow.beds.v1"}),
    "SEC-001": (with_(GOOD_ADMIT, region_code="03"), GOOD_ADMIT, {"topic_region": "01"}),
    "SHP-007": (with_(GOOD_ADMIT, stay_id="VT\x10" + "70-0000"), GOOD_ADMIT, {}),
    "COD-001": (with_(GOOD_ADMIT, region_code="02"), GOOD_ADMIT, {}),
    "COD-002": (with_(GOOD_ADMIT, home_municipality_code="0280"), GOOD_ADMIT, {}),
    "COD-003": (with_(GOOD_ADMIT, responsible_mvo_code="312x"), GOOD_ADMIT, {}),
    "COD-004": (with_(ward(A), hospital_id="Karolinska"), ward(A), {}),
    "COD-005": (admit("SE2321000016-ZZZZ", "s1", 5), GOOD_ADMIT, {}),
    "COD-006": (with_(GOOD_ADMIT, event_id="not-a-uuid"), GOOD_ADMIT, {}),
    "MNG-001": (census(A, 5, staffed=-1, occupied=0, overcrowded=0), census(A, 5, staffed=4, occupied=5), {}),
    "MNG-002": (census(A, 5, staffed=4, occupied=5, overcrowded=0), census(A, 5, staffed=4, occupied=5), {}),
    "MNG-011": (census(A, 5, staffed=4, occupied=2**31 - 2, overcrowded=2**31 - 6), census(A, 5, staffed=4, occupied=5),
                {}),
    "MNG-012": (decided("c1", phase=4, medical_target_date="2200-01-01"), decided("c1", phase=4), {}),
    "MNG-003": (ev("ContactPerformed", 5, contact_id="c1", started_at=(T0 - dt.timedelta(days=2)).isoformat(),
                   performing_provider_id="SE2321000016-P001", performing_region_code="01"),
                ev("ContactPerformed", 5, contact_id="c1", started_at=T0.isoformat(),
                   performing_provider_id="SE2321000016-P001", performing_region_code="01"),
                {"decided_at": lambda key: T0 - dt.timedelta(days=1)}),
    "MNG-004": (admit(A, "s1", 60 * 24 + 30), admit(A, "s1", 60 * 24 + 2), {}),
    "MNG-005": (transfer("s1", A, A, 5), transfer("s1", A, B, 5), {}),
    "MNG-006": (decided("c1", phase=5, guarantee=True), decided("c1", phase=5, guarantee=False), {}),
    "MNG-007": (decided("c1", phase=2, activity_code=None), decided("c1", phase=2), {}),
    "MNG-008": (decided("c1", phase=4, medical_target_date=None), decided("c1", phase=4), {}),
    "MNG-009": (decided("c1", birth_year=1850), decided("c1", birth_year=1950), {}),
    "PRV-001": (with_(GOOD_ADMIT, patient_ref="19121212-1212"), GOOD_ADMIT, {}),
}


def test_every_rule_has_a_case():
    # DEC-* are decoding rules (tests/test_decoding_verdicts.py); MNG-010 needs ward state (stream tests);
    # SNK-001 needs the store (tests/test_sink.py, tests/test_poison_record.py)
    untested = set(RULES) - set(CASES) - {r for r in RULES if r.startswith("DEC-")} - {"MNG-010", "SNK-001"}
    assert not untested


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_rejects_bad_and_passes_good(rule_id):
    bad, good, kw = CASES[rule_id]
    v_bad = validate_record(bad, ctx(**kw))
    assert rule_id in v_bad.rule_ids, v_bad.violations
    expected = "rejected" if RULES[rule_id].severity == "reject" else "finding"
    assert v_bad.status == expected
    assert all(v.message for v in v_bad.violations)
    v_good = validate_record(good, ctx(**kw))
    assert rule_id not in v_good.rule_ids
    assert v_good.status == "accepted", v_good.violations


@pytest.mark.parametrize("pin", ["19121212-1212", "121212-1212", "1212121212", "191212121212", "121212+1212",
                                 "19121272-1219", "text 8112189876 text"])
def test_personal_identity_numbers_rejected_and_redacted(pin):
    for field in ("patient_ref", "stay_id", "sender_id", "ward_id"):
        v = validate_record(with_(GOOD_ADMIT, **{field: pin}), ctx())
        assert v.status == "rejected" and "PRV-001" in v.rule_ids
        assert pin not in repr(v.record) and pin not in repr(v.violations)
        assert REDACTED in v.record[field]


def test_severity_per_region_from_config():
    cfg = RuleConfig.from_mapping({"MNG-008": "reject", "region_03": {"COD-002": "finding"}})
    v = validate_record(decided("c1", phase=4, medical_target_date=None), ctx(config=cfg))
    assert v.status == "rejected" and "MNG-008" in v.rule_ids
    bad_muni_03 = with_(admit(A, "s1", 5, region="03"), home_municipality_code="0299")
    assert validate_record(bad_muni_03, ctx(config=cfg)).status == "finding"
    assert validate_record(with_(GOOD_ADMIT, home_municipality_code="0299"), ctx(config=cfg)).status == "rejected"
    # privacy cannot be relaxed
    cfg2 = RuleConfig(severity={"PRV-001": "finding"})
    assert validate_record(with_(GOOD_ADMIT, patient_ref="121212-1212"), ctx(config=cfg2)).status == "rejected"
    # nor can a region's own topic be used for another region's events
    cfg3 = RuleConfig.from_mapping({"SEC-001": "finding", "region_03": {"SEC-001": "finding"}})
    other = with_(GOOD_ADMIT, region_code="03")
    assert validate_record(other, ctx(config=cfg3, topic_region="01")).status == "rejected"


def test_config_rejects_unknown_rule_ids():
    with pytest.raises(ValueError, match="unknown rule id"):
        RuleConfig.from_mapping({"XYZ-001": "finding"})


def test_non_object_record_is_a_decoding_rejection():
    v = validate_record(["a", "list"], ctx())
    assert v.status == "rejected" and v.rule_ids == ["DEC-001"]


def test_a_uuid_event_id_that_reads_like_a_date_is_not_an_identity_number():
    v = validate_record(with_(GOOD_ADMIT, event_id="19121212-1212-4c55-9d1e-0a8f6a2b9c11"), ctx())
    assert v.status == "accepted", v.violations
    assert "PRV-001" in validate_record(with_(GOOD_ADMIT, event_id="19121212-1212"), ctx()).rule_ids


# One valid record of every event type: the bounds below are tried on each field of each type.
GOOD_OF_TYPE = {
    "WardDeclared": with_(ward(A), budgeted_beds=12), "CapacityChanged": ev("CapacityChanged", 5, ward_id=A,
    staffed_beds=8, reason="staffing"), "PatientAdmitted": GOOD_ADMIT, "PatientTransferred": transfer("s1", A, B, 5),
    "LeaveStarted": ev("LeaveStarted", 5, ward_id=A, stay_id="s1"), "LeaveEnded": ev("LeaveEnded", 5, ward_id=A,
    stay_id="s1"), "DischargeReadyMarked": ev("DischargeReadyMarked", 5, ward_id=A, stay_id="s1"),
    "PatientDischarged": ev("PatientDischarged", 5, ward_id=A, stay_id="s1"), "WardCensus": census(A, 5, 4, 5),
    "ContactDecided": decided("c1", 5, phase=4, referral_id="R1", referral_sent_at=T0.isoformat(),
                              referral_arrived_at=T0.isoformat()),
    "DeviationSet": ev("DeviationSet", 5, contact_id="c1", deviation="medical"),
    "DeviationCleared": ev("DeviationCleared", 5, contact_id="c1"),
    "ContactBooked": ev("ContactBooked", 5, contact_id="c1", booked_for=(T0 + dt.timedelta(days=9)).isoformat()),
    "ContactPerformed": ev("ContactPerformed", 5, contact_id="c1", started_at=T0.isoformat(),
                           performing_provider_id="SE2321000016-P001", performing_region_code="01"),
    "ContactRemoved": ev("ContactRemoved", 5, contact_id="c1", reason="referred_elsewhere", referred_to_region_code="03"),
}


def _fields_of(kind: type) -> list[tuple[str, str]]:
    """(event type, field) for every field whose annotation holds `kind` (Literal codes are not numbers)."""
    out = []
    for name, cls in EVENT_TYPES.items():
        for f, info in cls.model_fields.items():
            if kind in _leaves(info.annotation):
                out.append((name, f))
    return out


def _leaves(annotation) -> set:
    if annotation is AwareDatetime:  # pydantic's marker class for an instant with an offset
        return {dt.datetime}
    args = typing.get_args(annotation)
    if not args or typing.get_origin(annotation) is typing.Literal:
        return {annotation}
    if typing.get_origin(annotation) is typing.Annotated:
        return _leaves(args[0])
    return set().union(*(_leaves(a) for a in args))


def test_every_event_type_has_a_valid_example():
    assert set(GOOD_OF_TYPE) == set(EVENT_TYPES)
    for name, record in GOOD_OF_TYPE.items():
        assert validate_record(record, ctx()).status == "accepted", (name, validate_record(record, ctx()).violations)


def test_every_integer_field_is_bounded():
    # A new integer field must get a bound here (or a reason why the store cannot overflow with it).
    unbounded = {f for _, f in _fields_of(int)} - set(_COUNT_FIELDS) - {"birth_year"}  # birth_year: MNG-009, not stored
    assert not unbounded
    for name, f in _fields_of(int):
        if f in _COUNT_FIELDS:
            for value, rule in ((MAX_WARD_COUNT + 1, "MNG-011"), (2**31 - 1, "MNG-011"), (-1, "MNG-001")):
                v = validate_record(with_(GOOD_OF_TYPE[name], **{f: value}), ctx())
                assert v.status == "rejected" and rule in v.rule_ids, (name, f, value, v.violations)
            ok = validate_record(with_(GOOD_OF_TYPE[name], **{f: 0 if name == "WardCensus" else MAX_WARD_COUNT}), ctx())
            assert "MNG-011" not in ok.rule_ids, (name, f)


@pytest.mark.parametrize("day", ["1969-12-31", "2100-01-01", "9999-12-31", "0001-01-01"])
def test_every_date_and_instant_is_bounded(day):
    fields = _fields_of(dt.datetime) + _fields_of(dt.date)
    assert {f for _, f in fields} >= {"occurred_at", "decided_at", "medical_target_date", "booked_for", "started_at"}
    for name, f in fields:
        value = day if f == "medical_target_date" else f"{day}T12:00:00+00:00"
        v = validate_record(with_(GOOD_OF_TYPE[name], **{f: value}), ctx())
        assert v.status == "rejected" and "MNG-012" in v.rule_ids, (name, f, v.violations)


def test_bounds_may_be_relaxed_per_region_but_the_store_rule_may_not():
    cfg = RuleConfig.from_mapping({"region_01": {"MNG-011": "finding", "MNG-012": "finding", "SNK-001": "finding"}})
    v = validate_record(census(A, 5, staffed=4, occupied=2**31 - 2, overcrowded=2**31 - 6), ctx(config=cfg))
    assert v.status == "finding" and "MNG-011" in v.rule_ids
    assert cfg.severity_of("SNK-001", "01") == "reject"
