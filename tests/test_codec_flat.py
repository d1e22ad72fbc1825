"""The decoder's fast path for flat records (schemas/flat.py) gives exactly what fastavro's own logical
read gives, for every event type and random values at the edges, and refuses what it cannot prove."""
from __future__ import annotations

import datetime as dt
import io
import random

import fastavro
import pytest

from schemas.codec import SchemaSet
from schemas.errors import GarbageError
from schemas.flat import FlatReader
from schemas.generate import published_schemas

UTC = dt.timezone.utc
TEXTS = ["", "a", "Ö", "Sjukhus – avd 12", "日本", "x" * 200, "\u2212", "SE2321000016-W001"]
INTS = [0, 1, -1, 63, 64, -65, 2**31 - 1, -2**31, 12345]


def _value(rnd: random.Random, t):
    if isinstance(t, list):
        return None if rnd.random() < 0.3 and "null" in t else _value(rnd, next(x for x in t if x != "null"))
    if isinstance(t, dict):
        if t.get("logicalType") == "timestamp-millis":
            return dt.datetime(1, 1, 1, tzinfo=UTC) + dt.timedelta(
                milliseconds=rnd.choice([0, 1, rnd.randrange(2**48), 253402300799999]))
        if t.get("logicalType") == "date":
            return dt.date.fromordinal(rnd.choice([1, 719163, rnd.randrange(1, 3652059)]))
        if t.get("type") == "array":  # served_mvo_codes
            return [_value(rnd, t["items"]) for _ in range(rnd.choice([0, 1, 3]))]
        return _value(rnd, t["type"])
    return {"string": lambda: rnd.choice(TEXTS), "int": lambda: rnd.choice(INTS),
            "long": lambda: rnd.choice(INTS + [2**63 - 1, -2**63]), "boolean": lambda: rnd.random() < 0.5,
            "double": lambda: rnd.choice([0.0, -1.5, 1e308]), "float": lambda: 0.5, "null": lambda: None,
            "bytes": lambda: b"\x00\xff"}[t]()


def test_every_event_type_takes_the_fast_path():
    assert all(FlatReader.compile(fastavro.parse_schema(s, named_schemas={})) for s in published_schemas())


def test_fast_path_equals_fastavros_logical_read_for_every_event_type():
    ss = SchemaSet(published_schemas())
    rnd = random.Random(11)
    checked = 0
    for schema in published_schemas():
        version = ss.reader_for(f"{schema['namespace']}.{schema['name']}")
        for _ in range(300):
            record = {f["name"]: _value(rnd, f["type"]) for f in schema["fields"]}
            msg = ss.encode_single_object(version.name, record)
            buf = io.BytesIO(msg)
            buf.seek(10)
            expected = fastavro.schemaless_reader(buf, version.parsed, None)
            got = ss.decode(msg).record
            assert got == expected and list(got) == list(expected)
            assert [type(v) for v in got.values()] == [type(v) for v in expected.values()]
            checked += 1
    assert checked == 300 * len(published_schemas())


FLAT = {"type": "record", "name": "Flat", "namespace": "t", "fields": [
    {"name": "ok", "type": "boolean"}, {"name": "n", "type": "int"},
    {"name": "at", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]}]}


def _flat_msg(body: bytes) -> tuple[SchemaSet, bytes]:
    ss = SchemaSet([FLAT])
    return ss, b"\xc3\x01" + ss.reader_for("t.Flat").fingerprint_bytes + body


def test_fast_path_refuses_a_boolean_byte_other_than_0_or_1():
    ss, msg = _flat_msg(b"\x02\x02\x00")  # fastavro alone reads the 2 as True
    assert ss.reader_for("t.Flat")._flat.read(msg, 10) is None
    with pytest.raises(GarbageError, match="boolean"):
        ss.decode(msg)


def test_non_canonical_varint_leaves_the_fast_path_and_still_decodes():
    ss, msg = _flat_msg(b"\x01\x82\x00\x00")  # n = 1 written in two bytes: legal Avro, not canonical
    assert ss.reader_for("t.Flat")._flat.read(msg, 10) is None
    assert ss.decode(msg).record == {"ok": True, "n": 1, "at": None}


def test_int_outside_32_bits_in_a_flat_record_is_garbage():
    ss, msg = _flat_msg(b"\x01\xfe\xff\xff\xff\x1f\x00")  # 2**31 in 5 canonical bytes
    with pytest.raises(GarbageError):
        ss.decode(msg)


def _old_proof(schema: dict, data: bytes, offset: int):
    """The fast path's earlier proof, kept as the oracle: fastavro reads the body (logical types too),
    takes all of it, and writing the values back gives the very same bytes; every Avro int in 32 bits."""
    buf = io.BytesIO(data)
    buf.seek(offset)
    try:
        record = fastavro.schemaless_reader(buf, schema, None)
        if buf.tell() != len(data):
            return None
        out = io.BytesIO()
        fastavro.schemaless_writer(out, schema, record)
    except Exception:  # noqa: BLE001 — anything fastavro cannot read or write back is not proven
        return None
    if out.getvalue() != data[offset:]:
        return None
    for f in schema["fields"]:
        types = f["type"] if isinstance(f["type"], list) else [f["type"]]
        if "int" in types and record[f["name"]] is not None and not -2**31 <= record[f["name"]] < 2**31:
            return None
    return record


def test_the_exact_reader_accepts_what_the_old_proof_accepted_and_nothing_else():
    """Differential: valid bodies and bodies with a byte changed, inserted, dropped or cut (over-long
    varints, booleans of 2, union indexes out of range, strings past the end, trailing bytes) give the
    same record from both, or None from both."""
    ss = SchemaSet(published_schemas())
    rnd = random.Random(7)
    edge = [0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0x81, 0xFF, 0xFE, 0xC3, 0xED]
    agreed = {"record": 0, "none": 0}
    for _ in range(4000):
        s = rnd.choice(list(published_schemas()))
        name = f"{s['namespace']}.{s['name']}"
        version = ss.reader_for(name)
        msg = ss.encode_single_object(name, {f["name"]: _value(rnd, f["type"]) for f in s["fields"]})
        if rnd.random() < 0.85:
            body = bytearray(msg[10:])
            k = rnd.randrange(5)
            i = rnd.randrange(len(body) + 1)
            if k == 0 and i < len(body):
                body[i] = rnd.choice(edge)
            elif k == 1:
                body[i:i] = bytes([rnd.choice([0x80, 0x81, 0xFF])])
            elif k == 2 and i < len(body):
                del body[i]
            elif k == 3:
                del body[i:]
            else:
                body += bytes([rnd.choice(edge)])
            msg = msg[:10] + bytes(body)
        old = _old_proof(version.parsed, msg, 10)
        new = FlatReader.compile(version.parsed).read(msg, 10)
        assert (old is None) == (new is None), (name, msg[10:].hex(), old, new)
        if old is not None:
            assert list(old) == list(new) and all(type(old[k]) is type(new[k]) and old[k] == new[k] for k in old)
        agreed["none" if old is None else "record"] += 1
    assert agreed["record"] > 500 and agreed["none"] > 500, agreed  # both sides of the proof were tried


def test_the_stored_json_text_is_pydantics_for_every_event_type():
    """schemas.model.to_json (orjson from the fields, the events row's payload) gives exactly the text of
    pydantic's model_dump_json: random values at the edges, instants in UTC and with other offsets and
    with or without milliseconds, empty and filled lists, None."""
    from schemas.model import EVENT_TYPES, to_json

    ss = SchemaSet(published_schemas())
    rnd = random.Random(11)
    zones = [UTC, dt.timezone(dt.timedelta(hours=1)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]
    compared = 0
    for _ in range(3000):
        s = rnd.choice(list(published_schemas()))
        record = {f["name"]: _value(rnd, f["type"]) for f in s["fields"]}
        record["event_type"] = s["name"]
        for k, v in record.items():
            if isinstance(v, dt.datetime):
                v = v.replace(microsecond=rnd.choice([0, 1000, 999000, v.microsecond]))
                record[k] = v.astimezone(rnd.choice(zones)) if dt.datetime(2, 1, 1, tzinfo=UTC) < v < \
                    dt.datetime(9998, 1, 1, tzinfo=UTC) else v
        try:
            event = EVENT_TYPES[s["name"]].model_validate(record)
        except Exception:  # noqa: BLE001 — a value the model refuses never becomes a row
            continue
        assert to_json(event) == event.model_dump_json(), s["name"]
        compared += 1
    assert compared > 1000, compared
