"""The worker's byte-level PIN pre-check may skip the per-field scan only when it is safe: every PIN
planted in any string field of any event type, next to any neighbouring text, is seen in the raw bytes."""
from __future__ import annotations

import itertools

import pytest

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from schemas import privacy
from schemas.model import EVENT_TYPES, NAMESPACE
from tests.bulk import bulk_events
from tests.factory import decided, ev
from tests.fuzz import PINS, _string_fields

NEIGHBOURS = ["", "Ö", "ö-", "x", " ", "١", "\u00a0", "é+", "日本"]


def _samples():
    base = bulk_events(60, seed=5) + [decided("c1", 1), ev("DeviationSet", 2, contact_id="c1", deviation="medical")]
    seen = {}
    for e in base:
        seen.setdefault(e["event_type"], e)
    return [EVENT_TYPES[t].model_validate(e) for t, e in seen.items()]


def test_every_planted_pin_is_seen_in_the_avro_bytes():
    codec = SchemaSet(published_schemas())
    checked = 0
    for model in _samples():
        name = f"{NAMESPACE}.{type(model).__name__}"
        for field, pin, (before, after) in itertools.product(
                _string_fields(model.model_dump()), PINS, itertools.product(NEIGHBOURS, repeat=2)):
            d = model.model_dump()
            d[field] = before + pin + after
            data = codec.encode_single_object(name, d)
            decoded = codec.decode(data).record
            if privacy.pin_fields(decoded):  # whatever the per-field scan finds, the byte scan must see
                assert privacy.bytes_may_hold_pin(data), (name, field, d[field])
                checked += 1
    assert checked > 1000


def test_clean_simulated_events_usually_skip_the_field_scan():
    codec = SchemaSet(published_schemas())
    events = [EVENT_TYPES[e["event_type"]].model_validate(e) for e in bulk_events(500, seed=9)]
    flagged = sum(privacy.bytes_may_hold_pin(codec.encode_single_object(f"{NAMESPACE}.{type(m).__name__}",
                                                                         m.model_dump())) for m in events)
    assert not any(privacy.pin_fields(m.model_dump()) for m in events)
    assert flagged < len(events) * 0.05  # false alarms only cost the slow path; they must be rare to pay


# -- spellings ---------------------------------------------------------------------------------------------

FW = str.maketrans("0123456789", "０１２３４５６７８９")
READ_AS_PINS = [
    "19121212-1212", "121212-1212", "1212121212", "191212121212", "121212+1212",  # the classic forms
    "19121212 1212", "121212 1212", "19121212 - 1212",  # a space, as people type it
    "19121212\u20131212", "19121212\u20141212", "19121212\u22121212", "19121212\u20111212",  # en/em dash, minus
    "19121212\u00a01212", "19121212\u20091212", "19121212\u202f1212",  # no-break, thin, narrow no-break space
    "19121212-1212".translate(FW), "19121212\uff0d1212".translate(FW),  # full-width digits and hyphen
    "\u0661\u0669\u0661\u0662\u0661\u0662\u0661\u0662-\u0661\u0662\u0661\u0662",  # Arabic-Indic digits
    "1912\u200b1212-1212", "191212\u00ad121212", "1\u03019121212-1212",  # invisible characters inside
    "19701263-4321", "701291-4321",  # samordningsnummer (day + 60)
    "namn 8112189876 namn", "Tolvan (19121212-1212)",
]
NOT_PINS = [
    "SE2321000016-0001", "SE2321000131-E000000000123",  # HSA-ids: organisation numbers have month >= 20
    "212000-1355", "5560360793",  # organisation numbers
    "19121232-1212", "19121200-1212", "19121312-1212",  # no such day or month
    "2026-11-30T10:00:00+01:00", "070-123 45 67", "12345678901234",  # a date, a phone number, a long number
    "p_53392d3200000000",
]


@pytest.mark.parametrize("text", READ_AS_PINS)
def test_every_spelling_of_an_identity_number_is_found_and_redacted(text):
    assert privacy.find_pins(text), text
    redacted = privacy.redact_text(text)
    assert privacy.REDACTED in redacted and not privacy.find_pins(redacted)
    assert not any(c.isdigit() for c in redacted.replace(privacy.REDACTED, "")), redacted
    assert privacy.pin_fields({"ward_name": text}) == ["ward_name"]


@pytest.mark.parametrize("text", NOT_PINS)
def test_codes_and_dates_that_are_not_identity_numbers_pass(text):
    assert not privacy.find_pins(text) and privacy.redact_text(text) == text


def test_no_character_reads_as_a_whole_identity_number():
    # bytes_may_hold_pin relies on it: a PIN with a special character in it spans several characters.
    specials = privacy.special_chars()
    assert "\u2013" in specials and "\u00a0" in specials and "\uff11" in specials and "\u200b" in specials
    assert "ö" not in specials and "é" not in specials
    assert max(sum(ch.isdigit() for ch in privacy.normalize(c)) for c in specials) <= 3


def _wire(**fields):
    codec = SchemaSet(published_schemas())
    model = _samples()[0]
    d = {**model.model_dump(), **fields}
    return codec, codec.encode_single_object(f"{NAMESPACE}.{type(model).__name__}", d)


def test_the_byte_before_a_string_is_its_length_and_may_be_a_digit():
    # The example: 25 bytes, so its length byte is "2" (zigzag 50): a digit before the number.
    for name in ("19121212-1212 Tolvan Tolv", "121212-1212 Tolvan Tolv +++", "1212121212" + "x" * 17):
        codec, data = _wire(ward_name=name)
        assert data[data.index(name.encode()) - 1:][:1].isdigit()
        assert privacy.bytes_may_hold_pin(data)
        assert privacy.pin_fields(codec.decode(data).record)


def test_the_pre_scan_sees_non_ascii_spellings():
    for name in READ_AS_PINS:
        codec, data = _wire(ward_name=name)
        assert privacy.bytes_may_hold_pin(data), name


def test_raw_payload_redaction_reads_escapes_utf16_and_lengths():
    pin = "19121212-1212"
    payloads = [
        b"\x32" + pin.encode() + b"\x02",  # a truncated Avro string: length byte "2" before it
        ('{"x": "' + "".join(f"\\u{ord(c):04x}" for c in pin) + '"}').encode(),  # JSON \u escapes
        "".join(f"\\x{b:02x}" for b in pin.translate(FW).encode()).encode(),  # quoted bytes of full-width digits
        pin.translate(FW).encode(),
        pin.encode("utf-16-le"), b"\x07" + pin.encode("utf-16-be"), ("x" + pin).encode("utf-16"),
    ]
    for raw in payloads:
        out = privacy.redact_bytes(raw)
        assert len(out) == len(raw) and out != raw
        for text in (out.decode("utf-8", "replace"), out.decode("utf-16-le", "replace"),
                     out[1:].decode("utf-16-le", "replace"), out.decode("utf-16-be", "replace"),
                     out[1:].decode("utf-16-be", "replace")):
            assert not privacy.find_pins(text.replace("\x00", "")), (raw, out)
        assert not privacy.find_pins(privacy.clean_text(out.decode("utf-8", "replace")))


def test_clean_text_reads_control_characters_as_gaps_and_escapes_as_what_they_spell():
    assert privacy.find_pins(privacy.clean_text("19121212\t1212")) == []
    assert privacy.REDACTED in privacy.clean_text("19121212\x1f1212")
    quoted = "bad: b'" + "".join(f"\\x{b:02x}" for b in "１９１２１２１２-１２１２".encode()) + "'"
    assert "\\xef\\xbc\\x91" not in privacy.clean_text(quoted)
    assert privacy.clean_text("Avd 4 \u2013 Kirurgi") == "Avd 4 \u2013 Kirurgi"


def test_decoder_errors_never_quote_a_number():
    from schemas.errors import GarbageError

    err = GarbageError("string 'x19121212-1212' at byte 3")
    assert "1212" not in str(err) and privacy.REDACTED in err.message


def test_a_canonical_uuid_only_is_not_scanned():
    assert privacy.pin_fields({"event_id": "19121212-1212-4abc-8def-0123456789ab"}) == []
    assert privacy.pin_fields({"event_id": "191212121212----4abc8def0123456789ab"}) == ["event_id"]


def test_the_fast_pattern_matches_exactly_what_the_plain_one_does():
    import random
    import re

    plain = re.compile(rf"(?<![0-9]){privacy._BODY}(?![0-9])")
    rnd = random.Random(4)
    for _ in range(20_000):
        s = "".join(rnd.choice("0123456789012345678901 -+x\t") for _ in range(rnd.randrange(5, 30)))
        assert [m.span() for m in privacy.PIN_RE.finditer(s)] == [m.span() for m in plain.finditer(s)], s


def test_change_messages_pass_as_they_are_unless_one_holds_a_number():
    msg = {"ward_id": "SE2321000016-A101", "ward_name": "Avd Öst", "staffed_beds": 12, "last_event_at": None}
    assert privacy.clean_message(msg) is msg
    bad = privacy.clean_message({**msg, "ward_name": "Avd 19121212\u20131212"})
    assert bad["ward_name"] == "Avd " + privacy.REDACTED and bad["staffed_beds"] == 12


def test_a_contact_message_is_searched_in_the_text_senders_wrote():
    from streams.processor import CONTACT_TEXT_FROM_SENDERS, contact_message
    from streams.domain.waitlist import Contact

    msg = contact_message(Contact(key="SE2321000016-0001:19121212-1212", region_code="01", mvo_code="301"))
    assert set(CONTACT_TEXT_FROM_SENDERS) <= set(msg)
    out = privacy.clean_message(msg, CONTACT_TEXT_FROM_SENDERS)
    assert out["contact_key"] == "SE2321000016-0001:" + privacy.REDACTED and out["mvo_group"] == msg["mvo_group"]
    fine = contact_message(Contact(key="SE2321000016-0001:VK-1", region_code="01", mvo_code="000"))  # Övrig specialiserad vård
    assert not fine["mvo_group"].isascii() and privacy.clean_message(fine, CONTACT_TEXT_FROM_SENDERS) is fine


def test_log_lines_and_tracebacks_are_redacted():
    import io
    import logging

    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(privacy.CleanFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("test.clean")
    log.addHandler(handler)
    try:
        log.warning("stay %s", "19121212-1212")
        try:
            raise ValueError("input_value='20121212 1212'")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "19121212" not in text and "20121212" not in text
    assert text.count(privacy.REDACTED) >= 2 and "Traceback" in text  # the message and the exception line
