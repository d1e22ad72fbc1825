"""The worker's byte-level PIN pre-check may skip the per-field scan only when it is safe: every PIN
planted in any string field of any event type, next to any neighbouring text, is seen in the raw bytes."""
from __future__ import annotations

import itertools

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
