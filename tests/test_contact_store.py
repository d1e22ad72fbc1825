"""Waiting-list contacts live in ClickHouse; the worker keeps only the recently touched ones in memory.

A processor that may hold just a handful of contacts (and reads the others back from the real engine)
must end with exactly the contacts, dead letters and findings of one that holds them all — also when
the events come late, resent and out of order, and across a restart with an empty memory."""
from __future__ import annotations

import datetime as dt
import random

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks import recovery
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.domain.beds import NEVER
from streams.domain.waitlist import Contact
from streams.processor import Processor, SourceRecord
from streams.rows import ContactRow
from bedflow.simulator import Simulator
from tests.test_sink import records

START = dt.datetime(2026, 3, 2, 6, 0, tzinfo=dt.timezone.utc)


def waitlist_events(n_max: int = 4000) -> list[dict]:
    events = list(Simulator(seed=8, regions=["03", "09"], start=START, scale=0.05)
                  .events(2, beds=False, include_topology=False))[:n_max]
    rng = random.Random(3)
    resent = rng.sample(events, len(events) // 20)  # resent later, as a sender's retry would
    shuffled = events[:]
    for i in range(0, len(shuffled) - 50, 50):  # out of order within windows of 50
        window = shuffled[i:i + 50]
        rng.shuffle(window)
        shuffled[i:i + 50] = window
    return shuffled + resent


def encode(events, codec) -> list[SourceRecord]:
    return records(events, codec, "bedflow.waitlist.v1")


def stored_contacts(db) -> dict[str, tuple]:
    cols = [f for f in ContactRow._fields if f != "version"]
    _, rows = db.query(f"SELECT {', '.join(cols)} FROM waitlist_contacts FINAL ORDER BY contact_key")
    return {r[0]: r for r in rows}


def run(db, records, *, store: bool, capacity: int = 0, batch: int = 250, restart_at: int | None = None):
    codec = SchemaSet(published_schemas())
    sink = Sink(db)

    def new_processor():
        kw = {"contact_store": lambda keys: [r.to_contact() for r in recovery.contacts(db, keys)],
              "contacts_in_memory": capacity} if store else {}
        p = Processor(codec, epoch="t", **kw)
        p.restore([], recovery.progress(db, "t"), contact_keys=recovery.contact_keys(db, chunk_keys=100))
        return p

    p = new_processor()
    findings = 0
    for i in range(0, len(records), batch):
        if restart_at is not None and i == restart_at:
            p = new_processor()  # a restart: nothing in memory, the store has everything written
        b, _ = p.process(records[i:i + batch])
        sink.write(b.rows)
        p.progress.commit()
        findings += sum(len(r.findings) for r in b.rows["events"])
        if store:
            assert len(p.waitlist.contacts) <= capacity + batch
    return findings


def test_a_few_contacts_in_memory_give_the_same_state_as_all_of_them(tmp_path):
    codec = SchemaSet(published_schemas())
    events = waitlist_events()
    records = encode(events, codec)
    whole = ClickHouse(f"chdb://{tmp_path / 'whole'}")
    whole.migrate()
    f_whole = run(whole, records, store=False)
    expected = stored_contacts(whole)
    whole.close()
    assert len(expected) > 200

    few = ClickHouse(f"chdb://{tmp_path / 'few'}")
    few.migrate()
    f_few = run(few, records, store=True, capacity=20, restart_at=len(records) // 2 // 250 * 250)
    assert stored_contacts(few) == expected
    assert f_few == f_whole
    _, (n,) = few.query("SELECT count() FROM events FINAL")
    assert n[0] == len({e["event_id"] for e in events})
    few.close()


def test_the_key_set_never_misses_a_key_it_was_given():
    from streams.keyset import KeySet

    ks = KeySet(merge_at=1000)
    given = [f"S{i % 7}:{i}" for i in range(5000)]
    ks.add(given[:2500])
    ks.add(given[2500:])
    assert ks.maybe(given) == given
    others = [f"T:{i}" for i in range(5000)]
    assert len(ks.maybe(others)) <= 1  # 64-bit digests: a collision is possible, not likely


def test_a_contact_row_carries_its_whole_state():
    c = Contact("S1:42", region_code="03", decided_stamp=(START, "e1"), provider_id="P", hospital_id="H", phase=2,
                mvo_code="101", activity_code="A1", guarantee=True, decided_at=START,
                medical_target_date=dt.date(2026, 4, 1), home_region="09",
                deviations=((START + dt.timedelta(microseconds=7), "e2", "patient_chosen"),
                            (START + dt.timedelta(days=3), "e4", None), (START + dt.timedelta(days=5), "e5", "medical")),
                booked_for=START, booked_at=NEVER,
                status="performed", closed_stamp=(START, "e3"), closed_at=START, performing_region="03",
                performing_provider="P2", removal_reason=None, referred_to_region=None)
    assert ContactRow.of(c, 1).to_contact() == c
