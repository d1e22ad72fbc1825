"""Property: an identity number planted in any string field of any event type, in any spelling, whatever
the length of the string (so whatever its length byte) and whatever the neighbouring fields hold, is
rejected by the worker's processor with PRV-001, and nothing it writes or sends holds the number.

No hypothesis here (not a dependency): a seeded, deterministic generator covers every (event type,
field, spelling) at least once, every one-byte string length for every field, and random mixtures of
characters for the pre-scan's proof (the byte scan says "maybe" whenever the field scan says PIN)."""
from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import uuid

from bedflow.simulator import Simulator
from schemas import privacy
from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from schemas.model import EVENT_TYPES, NAMESPACE
from streams.processor import BEDS, WAITLIST, Processor, SourceRecord

# -- spellings ---------------------------------------------------------------------------------------------

NUMBERS = [("19121212", "1212"), ("121212", "1212"), ("19701263", "4321"), ("811218", "9876")]
DIGITS = {  # how the ten digits may be written: each maps "0".."9"
    "ascii": "0123456789",
    "full-width": "".join(chr(0xFF10 + i) for i in range(10)),
    "arabic-indic": "".join(chr(0x0660 + i) for i in range(10)),
    "devanagari": "".join(chr(0x0966 + i) for i in range(10)),
    "math-bold": "".join(chr(0x1D7CE + i) for i in range(10)),  # four UTF-8 bytes each
    "superscript": "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079",
}
SEPARATORS = ["", "-", "+", " ", " - ", "\u2010", "\u2011", "\u2013", "\u2014", "\u2212", "\ufe63", "\uff0d",
              "\uff0b", "\u00a0", "\u2009", "\u202f", "\u3000"]
INVISIBLE = ["", "\u200b", "\u00ad", "\u0301", "\u2060", "\ufeff"]  # dropped by the reader, kept in the bytes


def spell(date: str, serial: str, digits: str = "ascii", sep: str = "-", invisible: str = "") -> str:
    table = str.maketrans("0123456789", DIGITS[digits])
    d = date.translate(table)
    return d[:3] + invisible + d[3:] + sep + serial.translate(table)


def spellings() -> list[str]:
    """Every number × digit style × separator, and each with an invisible character inside."""
    out = [spell(d, s, style, sep) for (d, s), style, sep in itertools.product(NUMBERS, DIGITS, SEPARATORS)]
    out += [spell(d, s, style, "-", inv) for (d, s), style, inv in itertools.product(NUMBERS, DIGITS, INVISIBLE[1:])]
    out.append("".join(chr(0xFF10 + int(c)) if i % 2 else c for i, c in enumerate("191212121212")))  # mixed
    return out


# -- events ------------------------------------------------------------------------------------------------

def samples() -> dict[str, dict]:
    """One valid event of every type (EVENTS.md form), from the simulator."""
    sim = Simulator(seed=3, start=dt.datetime(2026, 11, 16, 5, tzinfo=dt.timezone.utc), scale=0.02)
    seen: dict[str, dict] = {}
    for e in sim.events(days=1):
        seen.setdefault(e["event_type"], e)
        if len(seen) == len(EVENT_TYPES):
            break
    assert set(seen) == set(EVENT_TYPES)
    return {t: EVENT_TYPES[t].model_validate(e).model_dump() for t, e in sorted(seen.items())}


def string_fields(event_type: str) -> list[str]:
    """The fields of the published Avro schema that can hold a string (plain or in a union)."""
    schema = next(s for s in published_schemas() if s["name"] == event_type)

    def has_string(t) -> bool:
        return t == "string" or (isinstance(t, list) and "string" in t)

    return [f["name"] for f in schema["fields"] if has_string(f["type"])]


NEIGHBOURS = ["base", "digits", "int-digits"]


def neighbour(record: dict, kind: str, planted: str) -> dict:
    """The other fields: as sampled; strings that start and end with a digit; ints whose varint byte is
    an ASCII digit (24 -> "0", 28 -> "8", -25 -> "1")."""
    d = dict(record)
    if kind == "digits":
        for k, v in d.items():
            if k != planted and isinstance(v, str) and k != "event_type":
                d[k] = "7" + v + "7"
    elif kind == "int-digits":
        for i, (k, v) in enumerate(d.items()):
            if isinstance(v, int) and not isinstance(v, bool):
                d[k] = (24, 28, -25)[i % 3]
    return d


FILLER = " Tolvan Tolvansson, avd Öst – rum " * 200  # text that holds no digit


def fit(pin: str, length: int, where: str) -> str:
    """`pin` padded with filler to `length` UTF-8 bytes (or a little more), at the start, end or middle."""
    pad_bytes = max(0, length - len(pin.encode()))
    pad = FILLER.encode()[:pad_bytes].decode("utf-8", "ignore")
    if where == "start":
        return pin + pad
    if where == "end":
        return pad.lstrip("0123456789") + pin
    half = len(pad) // 2
    return pad[:half] + pin + pad[half:]


def hostile_records(codec: SchemaSet, *, seed: int = 11, lengths_per_field: bool = True):
    """(event type, field, value, wire bytes): every (type, field, spelling) once with a length, place and
    neighbours drawn in turn, and every one-byte length (and some longer ones whose last varint byte is a
    digit) of every field with the ASCII spellings, where the length byte is what hides a number."""
    rnd = random.Random(seed)
    spells = spellings()
    ascii_spells = [s for s in spells if s.isascii()]
    out = []
    counter = itertools.count()
    for etype, record in samples().items():
        name = f"{NAMESPACE}.{etype}"
        for field in string_fields(etype):
            jobs = [(s, rnd.randrange(len(s.encode()), 64), rnd.choice(["start", "end", "middle"])) for s in spells]
            if lengths_per_field:
                jobs += [(ascii_spells[L % len(ascii_spells)], L, "start") for L in range(10, 64)]
                jobs += [(rnd.choice(ascii_spells), L, "start") for L in (64, 127, 3136, 3199, 3455, 3711)]
            for pin, length, where in jobs:
                d = neighbour(record, NEIGHBOURS[next(counter) % len(NEIGHBOURS)], field)
                d["event_id"] = str(uuid.UUID(int=rnd.getrandbits(128), version=4))  # never a duplicate
                d[field] = fit(pin, length, where)
                out.append((etype, field, d[field], codec.encode_single_object(name, d)))
    return out


def _processor(codec: SchemaSet) -> Processor:
    return Processor(codec, epoch="property")


def test_every_field_every_spelling_every_length_is_rejected_with_prv_001():
    codec = SchemaSet(published_schemas())
    cases = hostile_records(codec)
    proc = _processor(codec)
    types = {t: EVENT_TYPES[t].topic for t in EVENT_TYPES}
    records = [SourceRecord(BEDS if types[t] == BEDS else WAITLIST, 0, i, wire)
               for i, (t, _, _, wire) in enumerate(cases)]
    rejected: dict[int, list[str]] = {}
    for start in range(0, len(records), 2000):
        batch, out = proc.process(records[start:start + 2000])
        assert not batch.rows["events"], "an event with an identity number was accepted"
        for dl in out.deadletters:
            rejected[dl["source_offset"]] = dl["rule_ids"]
            text = json.dumps(dl, ensure_ascii=False)
            assert not privacy.find_pins(text), text[:400]
    missed = [(cases[i][0], cases[i][1], cases[i][2][:40]) for i in range(len(cases))
              if "PRV-001" not in rejected.get(i, [])]
    assert not missed, missed[:20]
    # the breadth asked for: every type, every string field, every one-byte length, every spelling
    assert {t for t, *_ in cases} == set(EVENT_TYPES)
    assert len({(t, f) for t, f, *_ in cases}) == sum(len(string_fields(t)) for t in EVENT_TYPES)
    assert len(cases) > 40_000


def test_the_byte_scan_says_maybe_whenever_the_field_scan_finds_a_number():
    """Random strings made of what a PIN is made of (digits of every style, separators, invisible and
    special characters, letters, the ASCII digits around) in random fields with random neighbours."""
    codec = SchemaSet(published_schemas())
    rnd = random.Random(2026)
    specials = privacy.special_chars()
    letters = list("abcÖåé日 -+") + ["\t"]
    base = samples()
    fields = {t: string_fields(t) for t in base}
    found = 0
    for i in range(30_000):
        etype = rnd.choice(sorted(base))
        date, serial = rnd.choice(NUMBERS)
        if i % 3:
            styles = list(DIGITS)
            table = {c: DIGITS[rnd.choice(styles)][int(c)] for c in "0123456789"}
            pin = "".join(table[c] for c in date) + rnd.choice(SEPARATORS) + "".join(table[c] for c in serial)
            chars = list(pin)
            for _ in range(rnd.randrange(3)):
                chars.insert(rnd.randrange(len(chars) + 1), rnd.choice(INVISIBLE[1:] + specials[:50]))
            text = "".join(rnd.choice(letters + ["1", "2"]) for _ in range(rnd.randrange(3))) + "".join(chars) + \
                "".join(rnd.choice(letters + ["3"]) for _ in range(rnd.randrange(3)))
        else:  # anything: specials and digits mixed
            pool = specials + list("0123456789") * 40 + list(" -+")
            text = "".join(rnd.choice(pool) for _ in range(rnd.randrange(8, 30)))
        d = neighbour(base[etype], rnd.choice(NEIGHBOURS), "")
        field = rnd.choice(fields[etype])
        d[field] = text
        wire = codec.encode_single_object(f"{NAMESPACE}.{etype}", d)
        if privacy.pin_fields(codec.decode(wire).record):
            found += 1
            assert privacy.bytes_may_hold_pin(wire), (etype, field, text)
    assert found > 10_000
