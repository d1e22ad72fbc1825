"""Tests for schemas.codec: spec vectors, both framings, evolution, hostile input."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from pathlib import Path

import pytest
from fastavro.schema import parse_schema, to_parsing_canonical_form

from schemas.codec import (
    ConfluentRegistry,
    Decoded,
    DecodeError,
    EncodeError,
    GarbageError,
    RegistryUnavailableError,
    SchemaSet,
    TrailingBytesError,
    TruncatedError,
    UnknownSchemaError,
    canonical_form,
    fingerprint64,
)

ROOT = Path(__file__).resolve().parent.parent
VECTORS = Path(__file__).parent / "data" / "avro_fingerprints.txt"
AVSC_DIR = ROOT / "schemas" / "avsc"

# ---------------------------------------------------------------- test schemas

BEDS_V1 = {
    "type": "record",
    "name": "BedsReported",
    "namespace": "test.bedflow",
    "fields": [
        {"name": "ward_id", "type": "string"},
        {"name": "beds", "type": "int"},
    ],
}
BEDS_V2 = {  # v2 adds an optional field with a default: backward and forward compatible
    "type": "record",
    "name": "BedsReported",
    "namespace": "test.bedflow",
    "fields": [
        {"name": "ward_id", "type": "string"},
        {"name": "beds", "type": "int"},
        {"name": "note", "type": ["null", "string"], "default": None},
    ],
}
RICH = {  # every kind of Avro type, so round trips and fuzz reach every walker
    "type": "record",
    "name": "Rich",
    "namespace": "test.bedflow",
    "fields": [
        {"name": "flag", "type": "boolean"},
        {"name": "n", "type": "long"},
        {"name": "ratio", "type": "double"},
        {"name": "f", "type": "float"},
        {"name": "raw", "type": "bytes"},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B", "C"]}},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "counts", "type": {"type": "map", "values": "int"}},
        {"name": "maybe", "type": ["null", "string", "long"]},
        {"name": "nested", "type": {"type": "record", "name": "Inner", "fields": [{"name": "k", "type": "Kind"}]}},
        {"name": "nulls", "type": {"type": "array", "items": "null"}},
    ],
}
PIG = {  # recursive, straight from the Avro test vectors
    "type": "record",
    "name": "PigValue",
    "namespace": "test.bedflow",
    "fields": [{"name": "value", "type": ["null", "int", "long", "PigValue"]}],
}

BEDS_REC = {"ward_id": "SE-01-W7", "beds": 12}
RICH_REC = {
    "flag": True,
    "n": -(2**40),
    "ratio": 0.5,
    "f": 1.5,
    "raw": b"\x00\xff",
    "at": dt.datetime(2024, 3, 1, 12, 30, tzinfo=dt.timezone.utc),
    "day": dt.date(2024, 3, 1),
    "kind": "B",
    "hash": b"abcd",
    "tags": ["x", "åäö"],
    "counts": {"a": 1, "b": -2},
    "maybe": 7,
    "nested": {"k": "C"},
    "nulls": [None, None],
}
PIG_REC = {"value": {"value": {"value": 5}}}


def make_set(registry=None) -> SchemaSet:
    return SchemaSet([BEDS_V1, BEDS_V2, RICH, PIG], registry=registry)


class FakeClient:
    """Duck-typed stand-in for SchemaRegistryClient (register_schema / get_schema)."""

    class NotFound(Exception):
        http_status_code = 404

    def __init__(self):
        self.schemas: dict[int, str] = {}
        self.get_calls = 0
        self.down = False

    def register_schema(self, subject, schema):
        sid = len(self.schemas) + 1
        self.schemas[sid] = schema.schema_str
        return sid

    def get_schema(self, schema_id):
        self.get_calls += 1
        if self.down:
            raise ConnectionError("registry unreachable")
        if schema_id not in self.schemas:
            raise self.NotFound("Schema Not Found")

        class Registered:
            schema_str = self.schemas[schema_id]
            schema_type = "AVRO"

        return Registered()


def fake_registry(*schemas: dict) -> tuple[ConfluentRegistry, FakeClient, list[int]]:
    client = FakeClient()
    ids = []
    for s in schemas:  # registered straight into the fake, so no confluent import is needed
        sid = len(client.schemas) + 1
        client.schemas[sid] = json.dumps(s)
        ids.append(sid)
    return ConfluentRegistry(client), client, ids


# ------------------------------------------------------------- Avro spec vectors


def load_vectors() -> list[dict]:
    lines = VECTORS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip() and not line.startswith("#")]


VECTOR_LIST = load_vectors()


def test_vector_file_has_provenance_and_enough_vectors():
    assert "apache/avro" in VECTORS.read_text(encoding="utf-8").splitlines()[1]
    assert sum(v["fingerprint"] is not None for v in VECTOR_LIST) >= 10


@pytest.mark.parametrize("vec", VECTOR_LIST, ids=lambda v: v["id"])
def test_spec_canonical_form(vec):
    schema = json.loads(vec["input"])
    if vec["id"] == "026":
        # the vector's boolean field has default "true" (a string), which fastavro
        # rightly rejects when parsing strictly; canonical form ignores defaults anyway
        schema = parse_schema(schema, _ignore_default_error=True)
    assert canonical_form(schema) == vec["canonical"]


@pytest.mark.parametrize("vec", [v for v in VECTOR_LIST if v["fingerprint"] is not None], ids=lambda v: v["id"])
def test_spec_fingerprint(vec):
    # the spec lists fingerprints as signed Java longs; ours are unsigned
    assert fingerprint64(vec["canonical"]) == vec["fingerprint"] % 2**64


def test_schema_set_fingerprint_matches_spec_vector():
    # vector 020: {"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}
    vec = next(v for v in VECTOR_LIST if v["id"] == "020")
    version = SchemaSet([json.loads(vec["input"])]).reader_for("x.y.foo")
    assert version.canonical == vec["canonical"]
    assert version.fingerprint == vec["fingerprint"] % 2**64
    assert version.fingerprint_bytes == (vec["fingerprint"] % 2**64).to_bytes(8, "little")


def test_single_object_header_layout_byte_by_byte():
    # vector 019: record "foo" with no fields, fingerprint -4824392279771201922
    vec = next(v for v in VECTOR_LIST if v["id"] == "019")
    ss = SchemaSet([json.loads(vec["input"])])
    msg = ss.encode_single_object("foo", {})
    fp = vec["fingerprint"] % 2**64  # 0xBD0C_50C8_4319_BE7E
    expected = bytes([0xC3, 0x01]) + bytes((fp >> (8 * i)) & 0xFF for i in range(8))
    assert msg == expected  # empty record: the body is zero bytes
    assert msg.hex() == "c3017ebe1943c8500cbd"
    assert ss.decode(msg) == Decoded("foo", {}, "single_object", writer_fingerprint=fp)


def test_canonical_form_ignores_doc_and_order_of_attributes():
    shuffled = {"fields": BEDS_V1["fields"], "doc": "whatever", "namespace": "test.bedflow", "name": "BedsReported", "type": "record"}
    assert canonical_form(shuffled) == canonical_form(BEDS_V1) == to_parsing_canonical_form(BEDS_V1)


# ----------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "name, record",
    [("test.bedflow.BedsReported", {**BEDS_REC, "note": "x"}), ("test.bedflow.Rich", RICH_REC), ("test.bedflow.PigValue", PIG_REC)],
)
def test_round_trip_single_object(name, record):
    ss = make_set()
    msg = ss.encode_single_object(name, record)
    assert msg[:2] == b"\xc3\x01"
    assert msg[2:10] == ss.reader_for(name).fingerprint_bytes
    out = ss.decode(msg)
    assert (out.schema_name, out.record, out.framing, out.schema_id) == (name, record, "single_object", None)
    assert out.writer_fingerprint == ss.reader_for(name).fingerprint


def test_decode_accepts_bytearray_and_memoryview():
    ss = make_set()
    msg = ss.encode_single_object("test.bedflow.PigValue", PIG_REC)
    assert ss.decode(bytearray(msg)).record == ss.decode(memoryview(msg)).record == PIG_REC


@pytest.mark.parametrize(
    "name, record",
    [("test.bedflow.BedsReported", {**BEDS_REC, "note": None}), ("test.bedflow.Rich", RICH_REC), ("test.bedflow.PigValue", PIG_REC)],
)
def test_round_trip_confluent(name, record):
    registry, client, ids = fake_registry(BEDS_V2, RICH, PIG)
    ss = make_set(registry)
    sid = dict(zip(["test.bedflow.BedsReported", "test.bedflow.Rich", "test.bedflow.PigValue"], ids))[name]
    msg = ss.encode_confluent(name, record, sid)
    assert msg[0] == 0 and int.from_bytes(msg[1:5], "big") == sid
    out = ss.decode(msg)
    assert (out.schema_name, out.record, out.framing, out.schema_id) == (name, record, "confluent", sid)
    calls = client.get_calls
    ss.decode(msg)
    assert client.get_calls == calls  # writer schema is cached by id


def test_confluent_header_layout():
    ss = SchemaSet([BEDS_V1])
    msg = ss.encode_confluent("test.bedflow.BedsReported", BEDS_REC, 0x01020304)
    assert msg[:5] == bytes([0x00, 0x01, 0x02, 0x03, 0x04])
    # body: string "SE-01-W7" (zigzag length 8 -> 0x10), int 12 (zigzag -> 0x18)
    assert msg[5:] == b"\x10SE-01-W7\x18"


def test_encode_errors():
    registry, _, ids = fake_registry(BEDS_V1)
    ss = make_set(registry)
    with pytest.raises(EncodeError, match="no schema named"):
        ss.encode_single_object("test.bedflow.Nope", {})
    with pytest.raises(EncodeError):
        ss.encode_single_object("test.bedflow.BedsReported", {"ward_id": "w"})  # beds missing
    with pytest.raises(EncodeError):
        ss.encode_single_object("test.bedflow.BedsReported", {**BEDS_REC, "extra": 1})
    with pytest.raises(EncodeError, match="32-bit"):
        ss.encode_confluent("test.bedflow.BedsReported", BEDS_REC, 2**32)
    with pytest.raises(EncodeError, match="not the newest"):  # id 1 is v1, the writer is v2
        ss.encode_confluent("test.bedflow.BedsReported", BEDS_REC, ids[0])


# ------------------------------------------------------------------- evolution


def test_v1_writer_read_by_v2_reader_fills_default():
    old_sender = SchemaSet([BEDS_V1])
    msg = old_sender.encode_single_object("test.bedflow.BedsReported", BEDS_REC)
    reader = SchemaSet([BEDS_V1, BEDS_V2])
    out = reader.decode(msg)
    assert out.record == {**BEDS_REC, "note": None}
    assert out.writer_fingerprint == fingerprint64(canonical_form(BEDS_V1))
    assert reader.reader_for("test.bedflow.BedsReported").schema == BEDS_V2


def test_v2_writer_read_by_v1_reader_skips_new_field():
    new_sender = SchemaSet([BEDS_V2])
    msg = new_sender.encode_single_object("test.bedflow.BedsReported", {**BEDS_REC, "note": "ward closing"})
    # an old consumer that has been given the v2 writer schema but still reads as v1 (v1 added last)
    old_reader = SchemaSet([BEDS_V2, BEDS_V1])
    assert old_reader.decode(msg).record == BEDS_REC
    # the realistic way: the consumer only knows v1, the registry knows v2
    registry, _, ids = fake_registry(BEDS_V2)
    v1_only = SchemaSet([BEDS_V1], registry=registry)
    cmsg = new_sender.encode_confluent("test.bedflow.BedsReported", {**BEDS_REC, "note": "x"}, ids[0])
    assert v1_only.decode(cmsg).record == BEDS_REC
    # ...whereas without the registry the v2 fingerprint is simply unknown to it
    with pytest.raises(UnknownSchemaError):
        v1_only.decode(msg)


def test_incompatible_writer_is_unknown_schema():
    v_bad = {**BEDS_V1, "fields": [{"name": "ward_id", "type": "string"}, {"name": "beds", "type": "string"}]}
    msg = SchemaSet([v_bad]).encode_single_object("test.bedflow.BedsReported", {"ward_id": "w", "beds": "many"})
    with pytest.raises(UnknownSchemaError, match="cannot be resolved"):
        SchemaSet([v_bad, BEDS_V1]).decode(msg)


def test_readding_a_version_is_a_noop():
    ss = SchemaSet([BEDS_V1, BEDS_V2])
    v1 = ss.add(BEDS_V1)
    assert v1.schema == BEDS_V1 and v1.fingerprint == fingerprint64(canonical_form(BEDS_V1))
    assert ss.reader_for("test.bedflow.BedsReported").schema == BEDS_V2  # re-adding v1 did not make it newest
    assert ss.names == ["test.bedflow.BedsReported"]


def test_non_record_schema_rejected():
    with pytest.raises(ValueError):
        SchemaSet(["string"])


# -------------------------------------------------------------- hostile input


def good_msg(ss=None) -> bytes:
    return (ss or make_set()).encode_single_object("test.bedflow.BedsReported", {**BEDS_REC, "note": "hi"})


def assert_rule(exc_info, rule_id):
    assert exc_info.value.rule_id == rule_id
    assert str(exc_info.value).startswith(rule_id + ": ") and exc_info.value.message


def test_every_decode_error_is_a_decoding_rule():
    """The errors the decoder raises (schemas/errors.py, re-exported by the codec) each name a DEC rule."""
    from schemas import codec, errors
    from schemas.rules import RULES

    def subclasses(c):
        return [s for d in c.__subclasses__() for s in [d, *subclasses(d)]]

    raised = subclasses(errors.DecodeError)  # the base is never raised itself
    assert {GarbageError, UnknownSchemaError, RegistryUnavailableError, TruncatedError, TrailingBytesError} <= set(raised)
    assert {c.rule_id for c in raised} == {r for r in RULES if RULES[r].family == "decoding"}
    assert all(getattr(codec, c.__name__) is c for c in raised + [errors.DecodeError, errors.EncodeError])


def test_garbage():
    with pytest.raises(GarbageError) as ei:
        make_set().decode(b"hello world, not avro")
    assert_rule(ei, "DEC-001")
    assert "framing" in ei.value.message


def test_bad_single_object_marker():
    with pytest.raises(GarbageError):
        make_set().decode(b"\xc3\x02" + good_msg()[2:])


def test_not_bytes():
    with pytest.raises(GarbageError):
        make_set().decode(None)  # type: ignore[arg-type]


def test_empty_input():
    with pytest.raises(TruncatedError) as ei:
        make_set().decode(b"")
    assert_rule(ei, "DEC-003")


@pytest.mark.parametrize("n", [1, 2, 5, 9])
def test_truncated_single_object_header(n):
    with pytest.raises(TruncatedError, match="header"):
        make_set().decode(good_msg()[:n])


@pytest.mark.parametrize("n", [1, 3, 4])
def test_truncated_confluent_header(n):
    with pytest.raises(TruncatedError, match="header"):
        make_set().decode(b"\x00\x00\x00\x00\x01"[:n])


def test_truncated_body():
    msg = good_msg()
    for cut in range(10, len(msg)):
        with pytest.raises(TruncatedError) as ei:
            make_set().decode(msg[:cut])
        assert_rule(ei, "DEC-003")


def test_trailing_bytes():
    with pytest.raises(TrailingBytesError) as ei:
        make_set().decode(good_msg() + b"\x00")
    assert_rule(ei, "DEC-004")
    assert "1 byte(s)" in ei.value.message


def test_unknown_fingerprint():
    msg = good_msg()
    with pytest.raises(UnknownSchemaError) as ei:
        make_set().decode(msg[:2] + bytes(8) + msg[10:])
    assert_rule(ei, "DEC-002")


def test_confluent_without_registry():
    with pytest.raises(UnknownSchemaError, match="no registry is configured") as ei:
        make_set().decode(b"\x00\x00\x00\x00\x07" + b"\x02x\x02\x00")
    assert_rule(ei, "DEC-002")


def test_unknown_registry_id():
    registry, _, _ = fake_registry(BEDS_V2)
    with pytest.raises(UnknownSchemaError, match="not in the registry") as ei:
        make_set(registry).decode(b"\x00\x00\x00\x00\x63" + b"\x02x\x02\x00")
    assert_rule(ei, "DEC-002")


def test_registry_id_of_unknown_record_name():
    other = {"type": "record", "name": "Other", "namespace": "x", "fields": []}
    registry, _, ids = fake_registry(other)
    with pytest.raises(UnknownSchemaError, match="x.Other"):
        make_set(registry).decode(b"\x00" + ids[0].to_bytes(4, "big"))


def test_registry_down_is_retryable_unknown_schema():
    registry, client, ids = fake_registry(BEDS_V2)
    client.down = True
    with pytest.raises(RegistryUnavailableError) as ei:
        make_set(registry).decode(b"\x00" + ids[0].to_bytes(4, "big") + b"\x02x\x02\x00")
    assert ei.value.retryable and ei.value.rule_id == "DEC-002"


def so(ss: SchemaSet, name: str, body: bytes) -> bytes:
    return b"\xc3\x01" + ss.reader_for(name).fingerprint_bytes + body


@pytest.mark.parametrize(
    "body, err",
    [
        (b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", TruncatedError),  # ward_id length 2**62
        (b"\x01", GarbageError),  # negative string length
        (b"\xff" * 11, GarbageError),  # varint longer than a long
        (b"\x02x\xff\xff\xff\xff\x7f\x00", GarbageError),  # int out of 32-bit range
        (b"\x02x\x02\x04", GarbageError),  # union index 2 of 2 branches
        (b"\x02x\x02\x02\x02\xff", GarbageError),  # invalid UTF-8
    ],
)
def test_hostile_bodies(body, err):
    ss = make_set()
    with pytest.raises(err):
        ss.decode(so(ss, "test.bedflow.BedsReported", body))


def rich_prefix(ss: SchemaSet) -> bytes:
    """Rich body up to (not including) the 'tags' array."""
    full = ss.encode_single_object("test.bedflow.Rich", {**RICH_REC, "tags": [], "counts": {}, "maybe": None, "nulls": []})
    # tags, counts (empty: 0 each), maybe (index 0), nested.k (1 byte), nulls (0) = 5 bytes at the end
    return full[:-5]


@pytest.mark.parametrize(
    "tail, err",
    [
        (b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", TruncatedError),  # tags: 2**62 strings declared
        (b"\x01\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", TruncatedError),  # negative count, block size 2**62
        (b"\x00\x00\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", GarbageError),  # 2**62 nulls
        (b"\x00\x00\x00\x06\x00", GarbageError),  # enum index 3 of 3
        (b"\x03\x04\x02x\x00", GarbageError),  # negative count with wrong block size
    ],
)
def test_absurd_counts_rejected_quickly(tail, err):
    ss = make_set()
    start = time.perf_counter()
    with pytest.raises(err):
        ss.decode(rich_prefix(ss) + tail)
    assert time.perf_counter() - start < 0.5


def test_negative_block_count_with_size_is_accepted():
    ss = make_set()
    # tags: count -1, size 2, "x"; then end of tags; counts/maybe/nested/nulls as before
    out = ss.decode(rich_prefix(ss) + b"\x01\x04\x02x\x00" + b"\x00\x00\x00\x00")
    assert out.record["tags"] == ["x"]


def test_bad_boolean_is_garbage():
    ss = make_set()
    msg = ss.encode_single_object("test.bedflow.Rich", RICH_REC)
    assert msg[10] == 1  # 'flag' is the first field
    with pytest.raises(GarbageError, match="boolean"):
        ss.decode(msg[:10] + b"\x02" + msg[11:])


def test_out_of_range_timestamp_is_garbage():
    stamp = {"type": "record", "name": "Stamp", "namespace": "t",
             "fields": [{"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}}]}
    ss = SchemaSet([stamp])
    # a valid long, but 2**62 ms is far outside datetime's range (fastavro raises OverflowError/ValueError)
    with pytest.raises(GarbageError):
        ss.decode(so(ss, "t.Stamp", b"\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"))


# ------------------------------------------------------------------------ fuzz


def test_fuzz_random_and_bit_flipped_inputs():
    rng = random.Random(20240301)
    registry, _, ids = fake_registry(BEDS_V1, BEDS_V2, RICH, PIG)
    ss = make_set(registry)
    seeds = [
        good_msg(ss),
        ss.encode_single_object("test.bedflow.Rich", RICH_REC),
        ss.encode_single_object("test.bedflow.PigValue", PIG_REC),
        ss.encode_confluent("test.bedflow.Rich", RICH_REC, ids[2]),
        ss.encode_confluent("test.bedflow.PigValue", PIG_REC, ids[3]),
    ]
    headers = [s[:10] for s in seeds[:3]] + [s[:5] for s in seeds[3:]] + [b"\x00\x00\x00\x00\x01"]
    outcomes: dict[str, int] = {}
    for i in range(5000):
        kind = i % 5
        if kind == 0:  # pure noise
            data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 64)))
        elif kind == 1:  # valid header, noise body: exercises the body walker
            data = rng.choice(headers) + bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 80)))
        elif kind == 2:  # bit flips in a valid message
            buf = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 4)):
                pos = rng.randrange(len(buf))
                buf[pos] ^= 1 << rng.randrange(8)
            data = bytes(buf)
        elif kind == 3:  # byte flips in the body only (header kept)
            seed = rng.choice(seeds)
            cut = 10 if seed[0] == 0xC3 else 5
            buf = bytearray(seed)
            for _ in range(rng.randrange(1, 4)):
                buf[rng.randrange(cut, len(buf))] = rng.getrandbits(8)
            data = bytes(buf)
        else:  # truncation / extension
            seed = rng.choice(seeds)
            data = seed[: rng.randrange(len(seed) + 1)] if rng.random() < 0.5 else seed + bytes([rng.getrandbits(8)])
        try:
            out = ss.decode(data)
        except DecodeError as exc:
            assert exc.rule_id in {"DEC-001", "DEC-002", "DEC-003", "DEC-004"}
            assert exc.message
            outcomes[type(exc).__name__] = outcomes.get(type(exc).__name__, 0) + 1
        else:
            assert isinstance(out, Decoded) and isinstance(out.record, dict)
            outcomes["ok"] = outcomes.get("ok", 0) + 1
        # anything else propagates and fails the test
    # the fuzz must actually reach every outcome, not bounce off the header check
    for key in ("ok", "GarbageError", "UnknownSchemaError", "TruncatedError", "TrailingBytesError"):
        assert outcomes.get(key, 0) > 0, outcomes


# ------------------------------------------------ real confluent mock registry


def test_confluent_kafka_mock_registry():
    sr = pytest.importorskip(
        "confluent_kafka.schema_registry", reason="needs confluent-kafka[schemaregistry] (authlib, httpx2, cachetools)"
    )
    # the plain constructor does not honour mock://; new_client does
    registry = ConfluentRegistry.from_url("mock://bedflow-codec-test")
    assert type(registry.client).__name__ == "MockSchemaRegistryClient"
    assert isinstance(registry.client, sr.SchemaRegistryClient)
    v1_id = registry.register("beds-test.bedflow.BedsReported", BEDS_V1)
    v2_id = registry.register("beds-test.bedflow.BedsReported", BEDS_V2)
    assert v1_id != v2_id
    ss = SchemaSet([BEDS_V1, BEDS_V2], registry=registry)
    old = SchemaSet([BEDS_V1], registry=registry).encode_confluent("test.bedflow.BedsReported", BEDS_REC, v1_id)
    assert ss.decode(old).record == {**BEDS_REC, "note": None}
    new = ss.encode_confluent("test.bedflow.BedsReported", {**BEDS_REC, "note": "n"}, v2_id)
    assert ss.decode(new) == Decoded(
        "test.bedflow.BedsReported", {**BEDS_REC, "note": "n"}, "confluent",
        writer_fingerprint=ss.reader_for("test.bedflow.BedsReported").fingerprint, schema_id=v2_id,
    )
    # a fresh client on the same mock URL has its own store: ids are not shared
    fresh = SchemaSet([BEDS_V2], registry=ConfluentRegistry.from_url("mock://bedflow-codec-test"))
    with pytest.raises(UnknownSchemaError, match="not in the registry"):
        fresh.decode(new)
    assert registry.schema_by_id(v2_id) == BEDS_V2


# --------------------------------------------------- the project's own schemas


def minimal_value(schema, named: dict):
    """Smallest valid value for a parsed fastavro schema."""
    if isinstance(schema, list):
        return minimal_value(schema[0], named)
    if isinstance(schema, str):
        if schema in named:
            return minimal_value(named[schema], named)
        return {"null": None, "boolean": False, "int": 0, "long": 0, "float": 0.0, "double": 0.0,
                "bytes": b"", "string": ""}[schema]
    t, logical = schema["type"], schema.get("logicalType")
    if logical in ("timestamp-millis", "timestamp-micros"):
        return dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    if logical == "date":
        return dt.date(2024, 1, 1)
    if logical == "uuid":
        return "00000000-0000-0000-0000-000000000000"
    if t in ("record", "error"):
        return {f["name"]: minimal_value(f["type"], named) for f in schema["fields"]}
    if t == "enum":
        return schema["symbols"][0]
    if t == "fixed":
        return bytes(schema["size"])
    if t == "array":
        return []
    if t == "map":
        return {}
    return minimal_value(t, named)


AVSC_FILES = sorted(AVSC_DIR.glob("*.avsc")) if AVSC_DIR.is_dir() else []


@pytest.mark.skipif(not AVSC_FILES, reason="no schemas/avsc/*.avsc yet")
@pytest.mark.parametrize("path", AVSC_FILES, ids=lambda p: p.stem)
def test_project_avsc_round_trip(path):
    ss = SchemaSet.from_files(AVSC_FILES)
    name = SchemaSet.from_files([path]).names[0]
    version = ss.reader_for(name)
    record = minimal_value(version.parsed, version.parsed.get("__named_schemas", {}))
    out = ss.decode(ss.encode_single_object(name, record))
    assert out.schema_name == name and out.record == record
    registry, _, ids = fake_registry(version.schema)
    assert SchemaSet.from_files(AVSC_FILES, registry=registry).decode(ss.encode_confluent(name, record, ids[0])).record == record
