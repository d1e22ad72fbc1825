"""Fuzzed records for the platform: random bytes, truncated and bit-flipped Avro, wrong types, extreme
values, and personal identity numbers in every string field. Deterministic for a seed."""
from __future__ import annotations

import json
import random

from schemas.codec import SchemaSet
from schemas.model import EVENT_TYPES, NAMESPACE
from tests.bulk import bulk_events
from tests.factory import decided, ev

PINS = ["19121212-1212", "121212-1212", "1212121212", "191212121212", "121212+1212", "20010230-1234",
        "19701263-4321", "ab 8112189876 cd"]
EXTREME_INTS = [0, -1, -(2**31), 2**31 - 1, 10**6]


def _string_fields(record: dict) -> list[str]:
    return [k for k, v in record.items() if isinstance(v, str) and k not in ("event_type", "occurred_at")]


def fuzz_records(n: int, codec: SchemaSet, seed: int = 99) -> list[tuple[str, bytes, str]]:
    """(topic kind 'beds'|'waitlist', value, what kind of fuzz)"""
    rnd = random.Random(seed)
    base = bulk_events(400, seed=seed) + [decided(f"c{i}", i) for i in range(50)] + \
        [ev("DeviationSet", 60 + i, contact_id=f"c{i}", deviation="medical") for i in range(20)]
    models = [EVENT_TYPES[e["event_type"]].model_validate(e) for e in base]
    encoded = [(m.topic.split(".")[1], codec.encode_single_object(f"{NAMESPACE}.{type(m).__name__}", m.model_dump()), m)
               for m in models]
    out = []
    while len(out) < n:
        kind = rnd.choice(["random", "truncated", "bitflip", "wrong_type", "extreme", "pin", "pin", "valid"])
        topic, wire, model = rnd.choice(encoded)
        if kind == "random":
            out.append((topic, rnd.randbytes(rnd.randint(0, 300)), kind))
        elif kind == "truncated":
            out.append((topic, wire[: rnd.randint(0, len(wire) - 1)], kind))
        elif kind == "bitflip":
            b = bytearray(wire)
            for _ in range(rnd.randint(1, 4)):
                i = rnd.randrange(len(b))
                b[i] ^= 1 << rnd.randrange(8)
            out.append((topic, bytes(b), kind))
        elif kind == "wrong_type":
            d = model.model_dump(mode="json")
            key = rnd.choice(list(d))
            d[key] = rnd.choice([None, 123, [1, 2], {"x": 1}, "", "x" * 500])
            out.append((topic, json.dumps(d).encode(), kind))  # JSON on the wire is not the contract
        elif kind == "extreme":
            d = model.model_dump()
            ints = [k for k, v in d.items() if isinstance(v, int) and not isinstance(v, bool)]
            strs = _string_fields(d)
            if ints:
                d[rnd.choice(ints)] = rnd.choice(EXTREME_INTS)
            if strs:
                d[rnd.choice(strs)] = rnd.choice(["", "ö" * 2000, "\u0000\u202e", "x" * 10000])
            try:
                out.append((topic, codec.encode_single_object(f"{NAMESPACE}.{type(model).__name__}", d), kind))
            except Exception:  # noqa: BLE001 — not encodable: skip this draw
                continue
        elif kind == "pin":
            d = model.model_dump()
            d[rnd.choice(_string_fields(d))] = rnd.choice(PINS)
            out.append((topic, codec.encode_single_object(f"{NAMESPACE}.{type(model).__name__}", d), kind))
        else:
            out.append((topic, wire, kind))
    return out
