"""Issue 12, points 4, 5 and 8: the contract's definitions, each number worked out by hand from the
small scenario written beside it (not computed with the platform's code).

4. A census's `occupied` counts the patients present, or present + on leave when the census declares
   `occupied_includes_leave`; the census is compared with ADT like with like (present with present, on
   leave with on leave), whatever the platform's leave policy; a disagreement is a finding (MNG-010).
5. A patient with no Swedish registration (home municipality null) is admitted and counted apart, not as
   out-of-area; sex and birth year are optional; a shape rule relaxed to a finding never crashes the worker.
8. An outlier is a patient on a ward that does not serve the specialty (MVO code) medically responsible
   for them; a ward may declare the specialties it serves; ICU, observation and short-stay wards take
   every specialty; a sender's own outlier flag decides where it is sent.
"""
from __future__ import annotations

import copy
import datetime as dt

import pytest

from schemas import generate
from schemas.codec import SchemaSet
from schemas.model import EVENT_TYPES, NAMESPACE
from schemas.rules import RuleConfig, ValidationContext, validate_record
from streams.domain.beds import BedState
from streams.processor import Processor, SourceRecord
from tests.factory import T0, admit, census, decided, stay_event, transfer, ward

W = "SE2321000016-A101"
NOW = T0 + dt.timedelta(days=1)


def ctx(**kw):
    return ValidationContext(now=NOW, known_wards=None, **kw)


def model(record):
    return EVENT_TYPES[record["event_type"]].model_validate(record)


def encode(codec: SchemaSet, events: list[dict]) -> list[SourceRecord]:
    out = []
    for i, e in enumerate(events):
        name = f"{NAMESPACE}.{e['event_type']}"
        fields = {f["name"] for f in codec.reader_for(name).schema["fields"]}  # what the sender's schema has
        record = {k: v for k, v in model(e).model_dump().items() if k in fields}
        out.append(SourceRecord("bedflow.beds.v1", 0, i, codec.encode_single_object(name, record)))
    return out


def run(events, *, leave_policy="leave_not_occupied", rule_config=None, codec=None):
    codec = codec or SchemaSet(generate.published_schemas())
    p = Processor(codec, epoch="t", leave_policy=leave_policy, rule_config=rule_config)
    batch, _ = p.process(encode(codec, events))
    return p, batch


def findings_of(batch, event_type):
    return [r.findings for r in batch.rows["events"] if r.event_type == event_type]


# -- 4. census vs leave policy ------------------------------------------------------------------------
# Ward W, 3 staffed beds, ADT: s1, s2, s3 admitted, s3 on leave → 2 present, 1 on leave.
ADT = [ward(W, 0, staffed=3), admit(W, "s1", 1), admit(W, "s2", 2), admit(W, "s3", 3),
       stay_event("LeaveStarted", W, "s3", 4)]


@pytest.mark.parametrize("policy", ["leave_occupied", "leave_not_occupied"])
def test_census_agreeing_with_adt_is_no_finding_under_either_policy(policy):
    # The same ward told two ways: occupied = 2 present (v1 meaning), or 3 = present + on leave (declared).
    v1 = census(W, 10, staffed=3, occupied=2, on_leave=1)
    with_leave = census(W, 11, staffed=3, occupied=3, on_leave=1, includes_leave=True)
    _, batch = run(ADT + [v1, with_leave], leave_policy=policy)
    assert findings_of(batch, "WardCensus") == [[], []]  # before: MNG-010 under leave_occupied for v1
    assert not batch.rows["deadletters"]


def test_census_disagreeing_with_adt_is_a_finding_not_a_rejection():
    # The census sees 2 present and nobody on leave; ADT has 2 present and 1 on leave.
    p, batch = run(ADT + [census(W, 10, staffed=3, occupied=2, on_leave=0)], leave_policy="leave_occupied")
    assert findings_of(batch, "WardCensus") == [["MNG-010"]]
    assert not batch.rows["deadletters"]
    st = p.beds.status(W)  # an ADT ward keeps its ADT numbers: 3 occupied under leave_occupied
    assert (st.present, st.on_leave, st.occupied) == (2, 1, 3)


def test_census_overcrowding_on_the_regions_own_leave_basis_is_accepted():
    # 10 staffed, 10 present, 2 on leave. A region whose beds stay occupied during leave counts 12 in beds
    # and 2 overcrowded; one where leave frees the bed counts 0 overcrowded. Both are consistent.
    counts_leave = census(W, 5, staffed=10, occupied=10, on_leave=2, overcrowded=2)
    frees_bed = census(W, 5, staffed=10, occupied=10, on_leave=2, overcrowded=0)
    declared = census(W, 5, staffed=10, occupied=12, on_leave=2, overcrowded=2, includes_leave=True)
    for record in (counts_leave, frees_bed, declared):
        assert validate_record(record, ctx()).status == "accepted", record  # before: MNG-002 for the first
    # Declared, the basis is fixed: 12 occupied with 10 staffed is 2 overcrowded, not 0.
    wrong = census(W, 5, staffed=10, occupied=12, on_leave=2, overcrowded=0, includes_leave=True)
    assert validate_record(wrong, ctx()).rule_ids == ["MNG-002"]
    # Neither basis gives 5; and 3 on leave cannot be inside an occupied of 2.
    assert validate_record(census(W, 5, staffed=10, occupied=10, on_leave=2, overcrowded=5), ctx()).rejected
    impossible = census(W, 5, staffed=10, occupied=2, on_leave=3, overcrowded=0, includes_leave=True)
    assert validate_record(impossible, ctx()).rule_ids == ["MNG-002"]


@pytest.mark.parametrize("policy, occupied, overcrowded", [("leave_occupied", 12, 2), ("leave_not_occupied", 10, 0)])
def test_census_only_ward_reads_its_declared_basis(policy, occupied, overcrowded):
    # 10 present + 2 on leave, sent as occupied = 12 including leave: 10 present, 2 on leave; the
    # platform's policy then says whether the 2 occupy beds.
    b = BedState(policy)
    b.apply(model(ward(W, 0, staffed=10)))
    b.apply(model(census(W, 5, staffed=10, occupied=12, on_leave=2, overcrowded=2, includes_leave=True)))
    st = b.status(W)
    assert (st.source, st.present, st.on_leave, st.admitted, st.occupied, st.overcrowded) == \
        ("census", 10, 2, 12, occupied, overcrowded)


# -- 5. valid admissions ------------------------------------------------------------------------------
def test_patient_without_swedish_registration_is_admitted_and_counted_apart():
    # Ward W in region 01: s1 from Stockholm (0180), s2 from Uppsala (0380, out-of-area), s3 with no
    # Swedish registration. 3 admitted, 1 out-of-area (03 → 01), 1 with home region unknown.
    no_home = admit(W, "s3", 3, muni=None)
    assert validate_record(no_home, ctx()).status == "accepted"
    p, batch = run([ward(W, 0), admit(W, "s1", 1), admit(W, "s2", 2, muni="0380"), no_home])
    st = p.beds.status(W)
    assert (st.admitted, st.out_of_area_in, st.home_unknown) == (3, 1, 1)
    assert p.beds.out_of_area_now() == {("03", "01"): 1}
    assert [(r.home_region, r.treating_region) for r in batch.rows["out_of_area_admissions"]] == [("03", "01")]
    assert not batch.rows["deadletters"]


def test_home_municipality_is_sent_as_null_not_left_out():
    # "Mandatory when it exists": null says there is none; a missing field is still a sender's mistake.
    record = admit(W, "s1", 1)
    del record["home_municipality_code"]
    assert validate_record(record, ctx()).rule_ids == ["SHP-001"]


def test_sex_and_birth_year_are_optional():
    record = decided("c1", 5)
    for f in ("sex", "birth_year"):
        del record[f]
    assert validate_record(record, ctx()).status == "accepted"
    assert validate_record(decided("c2", 5, sex=None, birth_year=None, muni=None), ctx()).status == "accepted"


def _without(name: str, field: str) -> dict:
    """A writer schema of `name` lacking `field` (a sender's system built without it)."""
    schema = copy.deepcopy(generate.avro_schema(EVENT_TYPES[name]))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != field]
    return schema


@pytest.mark.parametrize("field, accepted", [("patient_ref", False), ("home_municipality_code", True)])
def test_relaxed_shape_rule_never_crashes_the_processor(field, accepted):
    # SHP-001 configured as a finding; the only PatientAdmitted schema the codec knows lacks `field`.
    # A nullable field is read as not reported (accepted, with the finding); a field the event cannot do
    # without is rejected to the dead letters with SHP-001 (before: the processor failed on event=None).
    codec = SchemaSet(generate.published_schemas() + [_without("PatientAdmitted", field)])
    cfg = RuleConfig(severity={"SHP-001": "finding"})
    p, batch = run([ward(W, 0), admit(W, "s1", 1, muni="0380")], rule_config=cfg, codec=codec)
    dead = batch.rows["deadletters"]
    if accepted:
        assert findings_of(batch, "PatientAdmitted") == [["SHP-001"]] and not dead
        st = p.beds.status(W)
        assert (st.admitted, st.out_of_area_in, st.home_unknown) == (1, 0, 1)
    else:
        assert findings_of(batch, "PatientAdmitted") == [] and [r.rule_ids for r in dead] == [["SHP-001"]]
        assert "cannot be used without it" in dead[0].messages[0]
        assert p.beds.status(W).admitted == 0


def test_other_relaxed_shape_rules_reject_what_cannot_be_used_and_drop_what_may_be_null():
    cfg = RuleConfig(severity={"SHP-003": "finding", "SHP-004": "finding"})
    bad_sex = validate_record(decided("c1", 5, sex=7), ctx(config=cfg))
    assert bad_sex.status == "finding" and bad_sex.event.sex is None
    bad_kind = validate_record(ward(W, 0, kind="hallway"), ctx(config=cfg))  # ward_kind may not be null
    assert bad_kind.rejected and bad_kind.rule_ids == ["SHP-003"] and bad_kind.event is None
    unknown = validate_record(dict(admit(W, "s1", 1), event_type="PatientTeleported"), ctx(config=cfg))
    assert unknown.rejected and unknown.rule_ids == ["SHP-004"]


# -- 8. outliers --------------------------------------------------------------------------------------
SURG, SHARED, EMERG, ICU, MED = (f"SE2321000016-W00{i}" for i in range(1, 6))


def test_outliers_by_responsible_specialty_and_ward_kind():
    # Wards: surgery (301); a surgery ward shared with orthopaedics (declares 311; its own 301 always);
    # an emergency short-stay ward; an ICU (411); internal medicine (101).
    # Patients (responsible MVO): s1 orthopaedics 311 on surgery → outlier (same aggregated group
    # "Kirurgi", which the old comparison missed); s2 311 and s9 301 on the shared ward → not; s3 101 on the
    # short-stay ward → not; s4 101 on the ICU → not; s5 on the ICU flagged by its sender (no bed on its
    # ward) → outlier; s6 surgery 301 on medicine flagged false by its sender → not; s7 101 on medicine →
    # not; s8 surgery 301 on medicine → outlier.
    b = BedState()
    for e in [ward(SURG, 0, mvo="301"), ward(SHARED, 0, mvo="301", served_mvo_codes=["311"]),
              ward(EMERG, 0, mvo="046", kind="short_stay"), ward(ICU, 0, mvo="411", kind="icu"),
              ward(MED, 0, mvo="101"),
              admit(SURG, "s1", 1, mvo="311"), admit(SHARED, "s2", 2, mvo="311"), admit(SHARED, "s9", 2, mvo="301"),
              admit(EMERG, "s3", 3, mvo="101"),
              admit(ICU, "s4", 4, mvo="101"), admit(ICU, "s5", 5, mvo="101", outlier=True),
              admit(MED, "s6", 6, mvo="301", outlier=False), admit(MED, "s7", 7, mvo="101"),
              admit(MED, "s8", 8, mvo="301")]:
        assert validate_record(e, ctx()).status == "accepted", e
        b.apply(model(e))
    outliers = {w: b.status(w).outliers for w in (SURG, SHARED, EMERG, ICU, MED)}
    assert outliers == {SURG: 1, SHARED: 0, EMERG: 0, ICU: 1, MED: 1}
    # s5 moves to medicine (101 is medicine's own): the flag was for the ICU → ICU 0, medicine still 1 (s8).
    b.apply(model(transfer("s5", ICU, MED, 10)))
    assert (b.status(ICU).outliers, b.status(MED).outliers) == (0, 1)
    # The surgery ward declares that it serves orthopaedics too: s1 is no longer an outlier.
    b.apply(model(ward(SURG, 20, mvo="301", served_mvo_codes=["301", "311"])))
    assert b.status(SURG).outliers == 0


def test_served_specialties_must_be_mvo_codes():
    v = validate_record(ward(SHARED, 0, mvo="301", served_mvo_codes=["301", "31x"]), ctx())
    assert v.rejected and v.rule_ids == ["COD-003"]


def test_patients_without_a_home_region_are_a_column_of_the_status_at_every_level(tmp_path):
    """The same scenario through the store and the status rows: `home_unknown` at ward, region and nation."""
    import datetime as dt

    from sinks import queries
    from sinks.clickhouse import ClickHouse
    from sinks.writer import Sink
    from streams.domain.escalation import Escalation
    from web.status import status_rows

    _, batch = run([ward(W, 0), admit(W, "s1", 1), admit(W, "s2", 2, muni="0380"), admit(W, "s3", 3, muni=None)])
    db = ClickHouse(f"chdb://{tmp_path / 'ch'}")
    try:
        db.migrate()
        Sink(db).write(batch.rows)
        wards = queries.current_wards(db)
    finally:
        db.close()
    now = dt.datetime.now(dt.timezone.utc)
    for level in ("ward", "region", "nation"):
        rows = status_rows(wards, level, now, stale_after=dt.timedelta(days=3650), escalation=Escalation())
        assert [(r["home_unknown"], r["occupied"]) for r in rows] == [(1, 3)], level
