"""One source of truth: the Avro schemas on disk are what the pydantic models generate; every event type
round-trips JSON → model → Avro (both framings) → model with nothing lost; evolution works both ways."""
import copy
import json
import typing

import pytest

from schemas import generate
from schemas.codec import ConfluentRegistry, SchemaSet
from schemas.model import EVENT_TYPES, NAMESPACE, to_json_dict
from tests.factory import admit, census, decided, ev, stay_event, transfer, ward

A, B = "SE2321000016-A101", "SE2321000016-A102"
EXAMPLES = {
    "WardDeclared": ward(A) | {"budgeted_beds": 28},
    "CapacityChanged": ev("CapacityChanged", 1, ward_id=A, staffed_beds=20, reason="closure"),
    "PatientAdmitted": admit(A, "s1", 2, mvo="311", muni="0380"),
    "PatientTransferred": transfer("s1", A, B, 3, mvo="101"),
    "LeaveStarted": stay_event("LeaveStarted", A, "s1", 4),
    "LeaveEnded": stay_event("LeaveEnded", A, "s1", 5),
    "DischargeReadyMarked": stay_event("DischargeReadyMarked", A, "s1", 6),
    "PatientDischarged": stay_event("PatientDischarged", A, "s1", 7),
    "WardCensus": census(A, 8, staffed=10, occupied=12, on_leave=1, outliers=2, ready=1, ooa=3),
    "ContactDecided": decided("c1", 9, phase=4, referral_id="R1", referral_sent_at="2026-11-01T08:00:00+01:00",
                              referral_arrived_at="2026-11-02T08:00:00+01:00"),
    "DeviationSet": ev("DeviationSet", 10, contact_id="c1", deviation="medical"),
    "DeviationCleared": ev("DeviationCleared", 11, contact_id="c1"),
    "ContactBooked": ev("ContactBooked", 12, contact_id="c1", booked_for="2026-12-01T09:15:00.250+01:00"),
    "ContactPerformed": ev("ContactPerformed", 13, contact_id="c1", started_at="2026-12-01T09:20:00+01:00",
                           performing_provider_id="SE2321000018-P001", performing_region_code="03"),
    "ContactRemoved": ev("ContactRemoved", 14, contact_id="c1", reason="referred_elsewhere",
                         referred_to_region_code="12"),
}


def test_schemas_on_disk_are_generated_from_the_models():
    for name, schema in generate.all_schemas().items():
        path = generate.AVSC_DIR / f"{name}.avsc"
        assert path.exists(), f"missing {path}: run `bedflow schemas --write`"
        assert path.read_text(encoding="utf-8") == generate.render(schema), f"{path} drifted from the model"


def test_models_and_schemas_agree_field_by_field():
    for cls in EVENT_TYPES.values():
        schema = json.loads((generate.AVSC_DIR / f"{NAMESPACE}.{cls.__name__}.avsc").read_text())
        assert [f["name"] for f in schema["fields"]] == list(cls.model_fields)
        for f in schema["fields"]:
            optional = type(None) in typing.get_args(cls.model_fields[f["name"]].annotation)
            assert (isinstance(f["type"], list) and "null" in f["type"]) == optional, (cls.__name__, f["name"])


def test_every_event_type_has_an_example():
    assert set(EXAMPLES) == set(EVENT_TYPES)


@pytest.fixture(scope="module")
def codecs():
    registry = ConfluentRegistry.from_url("mock://model-schemas")
    codec = SchemaSet(generate.published_schemas(), registry=registry)
    ids = {name: registry.register(f"bedflow.beds.v1-{name}", codec.reader_for(name).schema)
           for name in codec.names}
    return codec, ids


@pytest.mark.parametrize("event_type", sorted(EXAMPLES))
def test_round_trip_json_model_avro_model(event_type, codecs):
    codec, ids = codecs
    source = EXAMPLES[event_type]
    model = EVENT_TYPES[event_type].model_validate(source)
    name = f"{NAMESPACE}.{event_type}"
    for wire in (codec.encode_single_object(name, model.model_dump()),
                 codec.encode_confluent(name, model.model_dump(), ids[name])):
        decoded = codec.decode(wire)
        assert decoded.schema_name == name
        back = EVENT_TYPES[event_type].model_validate(decoded.record)
        assert back == model
        # nothing lost against the JSON we started from (instants compare as instants)
        again = to_json_dict(back)
        for key, value in source.items():
            got = again[key]
            if isinstance(value, str) and "T" in value and value[:4].isdigit():
                assert EVENT_TYPES[event_type].model_validate({**source, key: got}) == model
            else:
                assert got == value, key


def test_evolution_new_optional_field_both_ways():
    v1 = generate.avro_schema(EVENT_TYPES["PatientAdmitted"])
    v2 = copy.deepcopy(v1)
    v2["fields"].append({"name": "arrival_mode", "type": ["null", "string"], "default": None})
    name = f"{NAMESPACE}.PatientAdmitted"
    record = EVENT_TYPES["PatientAdmitted"].model_validate(EXAMPLES["PatientAdmitted"]).model_dump()
    old_writer, new_reader = SchemaSet([v1]), SchemaSet([v1, v2])
    # an old sender, a new platform: the default fills in
    decoded = new_reader.decode(old_writer.encode_single_object(name, record))
    assert decoded.record["arrival_mode"] is None and decoded.record["stay_id"] == "s1"
    # a new sender, an old platform that has learned the new fingerprint but reads with v1 fields only
    new_writer = SchemaSet([v2])
    wire = new_writer.encode_single_object(name, {**record, "arrival_mode": "ambulance"})
    old_platform = SchemaSet([v2, v1])  # v1 is the newest reader it knows
    decoded = old_platform.decode(wire)
    assert "arrival_mode" not in decoded.record and decoded.record["patient_ref"] == record["patient_ref"]


def test_superseded_versions_stay_readable():
    # Every schema moved to avsc/history when a field was added is still known by its fingerprint, and a
    # record from such an old writer reads with the new fields as null (default) and the rest unchanged.
    history = sorted((generate.AVSC_DIR / generate.HISTORY).glob("*.avsc"))
    assert {p.name.split(".")[4] for p in history} >= {"PatientAdmitted", "WardCensus", "WardDeclared", "ContactDecided"}
    platform = SchemaSet(generate.published_schemas())
    for path in history:
        old = json.loads(path.read_text(encoding="utf-8"))
        name = f"{old['namespace']}.{old['name']}"
        cls = EVENT_TYPES[old["name"]]
        source = cls.model_validate(EXAMPLES[old["name"]]).model_dump()
        record = {f["name"]: source[f["name"]] for f in old["fields"]}
        decoded = platform.decode(SchemaSet([old]).encode_single_object(name, record))
        back = cls.model_validate(decoded.record)
        new_fields = set(cls.model_fields) - set(record)
        assert all(getattr(back, f) is None for f in new_fields), (name, new_fields)
        assert {k: getattr(back, k) for k in record} == record
