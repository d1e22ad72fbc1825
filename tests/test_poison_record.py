"""One record must never stop everyone (issue 11, done-means 3), through the real worker, broker and store.

An absurd census (counts near 2^31) is dead-lettered by its rule; where a region has relaxed the bound
rules, the widest census is stored (64-bit columns) and a record the rules accept but the store refuses
(a date beyond the store's Date column) is found by the sink's split and dead-lettered as SNK-001.
Events sent after them, from every region, arrive; then ClickHouse is down for 60 s, with more events
and another refused record sent into the outage, and nothing is lost.
"""
from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid

from confluent_kafka import Consumer

from bedflow.settings import Settings
from streams.refusals import blame
from schemas import reference
from streams.rows import Refused
from streams.rows import EventRow, OutOfAreaRow, WardStatusRow
from tests.harness import Worker, check_copies, committed_total, hold_merges, publish, store_rows, wait_until

BIG = 2**31 - 2
OUTAGE_AFTER, OUTAGE_SECONDS = 30, 60  # seconds after the worker starts; the issue asks for 60 s down
RELAXED = '[rules.region_03]\n"MNG-011" = "finding"\n"MNG-012" = "finding"\n'
SENDER = "SE2321000016-0001"


def _ev(event_type: str, region: str, at: dt.datetime, **fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "event_type": event_type, "occurred_at": at.isoformat(),
            "sender_id": SENDER, "region_code": region, **fields}


def ward_of(region: str, tag: str = "W") -> str:
    return f"SE2321000016-{tag}{region}"


def declared(region: str, at, tag: str = "W") -> dict:
    return _ev("WardDeclared", region, at, ward_id=ward_of(region, tag), hospital_id=f"SE2321000016-H{region}",
               ward_name=f"Avd {tag}{region}", hospital_name=f"Sjukhus {region}", mvo_code="101",
               care_type="somatic", ward_kind="general", staffed_beds=20, budgeted_beds=None)


def admitted(region: str, stay: str, at) -> dict:
    return _ev("PatientAdmitted", region, at, ward_id=ward_of(region), stay_id=f"{stay}-{region}",
               patient_ref=f"p_{stay}{region}", responsible_mvo_code="101", home_municipality_code=f"{region}80")


def absurd_census(region: str, at, tag: str = "W") -> dict:
    return _ev("WardCensus", region, at, ward_id=ward_of(region, tag), staffed_beds=4, occupied=BIG, on_leave=BIG + 1,
               overcrowded=BIG - 4, outliers=0, discharge_ready=0, out_of_area=0)


def contact(contact_id: str, at, target: str | None = None) -> dict:
    return _ev("ContactDecided", "03", at, contact_id=contact_id, provider_id="SE2321000016-P001",
               hospital_id="SE2321000016-H001", clinic_id="SE2321000016-K001", phase=4 if target else 1,
               mvo_code="511", activity_code=None, guarantee=True, decided_at=at.isoformat(),
               medical_target_date=target, referral_id=None, referral_sent_at=None, referral_arrived_at=None,
               birth_year=1970, sex=2, home_municipality_code="0380")


def sent_to(worker: Worker) -> int:
    g = worker.env["BEDFLOW_CONSUMER_GROUP"]
    return committed_total(worker.bootstrap, g, worker.topics["beds"]) + \
        committed_total(worker.bootstrap, g, worker.topics["waitlist"])


def dead_letter_topic(worker: Worker, expected: int) -> list[dict]:
    c = Consumer({"bootstrap.servers": worker.bootstrap, "group.id": f"dl-{worker.suffix}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([worker.topics["deadletter"]])
    out, deadline = [], time.monotonic() + 60
    try:
        while len(out) < expected and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is not None and not m.error():
                out.append(json.loads(m.value()))
    finally:
        c.close()
    return out


def test_poison_records_are_dead_lettered_and_nothing_stops_or_is_lost(broker, tmp_path):
    regions = sorted(reference.regions())
    assert len(regions) == 21
    config = tmp_path / "bedflow.toml"
    config.write_text(RELAXED)
    worker = Worker(broker.bootstrap, tmp_path, f"poison{random.randrange(10**6)}", config_file=config,
                    env={"BEDFLOW_FAULT_CLICKHOUSE_OUTAGE": f"{OUTAGE_AFTER}:{OUTAGE_SECONDS}"})
    t0 = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    t = lambda minutes: t0 + dt.timedelta(minutes=minutes)  # noqa: E731
    first = ([declared(r, t(0)) for r in regions] + [declared("03", t(0), tag="X"), contact("c-good", t(1))]
             + [absurd_census("01", t(2)),             # MNG-011 (region 01 keeps the bound)
                absurd_census("03", t(2), tag="X"),    # region 03 relaxed it: stored, 64-bit sums
                contact("c-poison", t(2), target="2200-01-01")]  # accepted (relaxed), refused by the store
             + [admitted(r, "s1", t(3)) for r in regions])
    second = ([_ev("ContactBooked", "03", t(4), contact_id="c-good", booked_for=t(60 * 24).isoformat())]
              + [absurd_census("05", t(4)), contact("c-poison2", t(4), target="2222-02-02")]
              + [admitted(r, "s2", t(5)) for r in regions])
    hold_merges(worker.store_dir)  # raw rows stay as written: a second write of anything shows below
    try:
        started = time.monotonic()
        worker.start()
        publish(worker, first)
        wait_until(lambda: sent_to(worker) >= len(first), 60, what="the first events", worker=worker)
        status = {r["id"]: r for r in worker.api("/api/v1/status?level=ward")["rows"]}
        assert all(status[ward_of(r)]["occupied"] == 1 for r in regions), "an event after the poison is missing"
        assert (status[ward_of("03", "X")]["occupied"], status[ward_of("03", "X")]["on_leave"]) == (BIG, BIG + 1)
        rules = {d["event_type"] + ":" + d["region_code"]: d["rule_ids"]
                 for d in worker.api("/api/v1/deadletters?limit=100")["rows"]}
        assert "MNG-011" in rules["WardCensus:01"] and rules["ContactDecided:03"] == ["SNK-001"]
        assert worker.api("/api/v1/quality")["table_rows"]["events"] == len(first) - 2

        # the outage begins OUTAGE_AFTER s after the worker's start: send the second round into it
        wait_until(lambda: worker.status_code("/api/v1/status?level=nation") != 200, OUTAGE_AFTER + 30,
                   what="the outage", worker=worker)
        publish(worker, second)
        wait_until(lambda: worker.metric("bedflow_sink_retries_total") > 0, 30, what="failed writes", worker=worker)
        assert worker.metric("bedflow_sink_up") == 0
        wait_until(lambda: worker.metric("bedflow_sink_up") == 1, OUTAGE_SECONDS + 30, what="ClickHouse back",
                   worker=worker)
        assert time.monotonic() - started >= OUTAGE_AFTER + OUTAGE_SECONDS
        wait_until(lambda: sent_to(worker) >= len(first) + len(second), 120, what="the backlog", worker=worker)
        status = {r["id"]: r for r in worker.api("/api/v1/status?level=ward")["rows"]}
        assert {r: status[ward_of(r)]["occupied"] for r in regions} == {r: 2 for r in regions}
        counts = worker.api("/api/v1/quality")["table_rows"]
        assert counts["events"] == len(first) + len(second) - 4  # every accepted event once
        assert counts["deadletters"] == 4
        dead = worker.api("/api/v1/deadletters?limit=100")["rows"]
        assert sorted(d["rule_ids"] == ["SNK-001"] for d in dead) == [False, False, True, True]
        assert all("2200" not in m and "2222" not in m for d in dead for m in d["messages"] if "SNK-001" in d["rule_ids"])
        topic = dead_letter_topic(worker, 4)
        assert sorted(tuple(m["rule_ids"]) == ("SNK-001",) for m in topic) == [False, False, True, True]
        log = worker.log_path.read_text()
        assert "ClickHouse write failed" in log and "reachable again" in log and "refused a row" in log
        assert log.count("rebuilding the worker's state without") == 2
        assert worker.alive()
    finally:
        worker.stop()
    # As written, not only after deduplication. No kill here, so no record may be written twice: the
    # outage fails each write before it reaches the store and the sink retries that write alone, and a
    # split writes each half once. The refused records' rows were taken back (a lightweight DELETE).
    assert not worker.alive()
    rows = store_rows(worker.store_dir)
    accepted = len(first) + len(second) - 4
    assert rows["raw"]["events"] == rows["final"]["events"] == accepted, rows["raw"]
    assert rows["raw"]["deadletters"] == rows["final"]["deadletters"] == 4 and rows["deadletter_copies"] == 0
    assert rows["raw"]["ward_status"] == rows["final"]["ward_status"]
    check_copies(rows, kills=[])  # events, ward status, admissions: once; state rows: once per version
    # c-good's state: one row for its decision (first round), one for its booking (second round, written
    # through the outage); the refused contacts have none
    assert (rows["raw"]["waitlist_contacts"], rows["final"]["waitlist_contacts"]) == (2, 1), rows
    # current rows are rewritten per batch and per rebuild (new versions, checked above): one per ward
    assert rows["final"]["ward_current"] == len(regions) + 1 <= rows["raw"]["ward_current"]


def test_refused_rows_are_blamed_on_the_records_they_come_from():
    """The plain rule that maps a refused row to the accepted records of its batch."""
    at = dt.datetime(2026, 11, 20, tzinfo=dt.timezone.utc)

    def event(event_id, event_type, entity, payload="{}", home="", treating=""):
        return EventRow(event_id, event_type, at, at, SENDER, "01", entity, home, treating, [], payload, "e",
                        "beds", 0, 1)

    census = event("e1", "WardCensus", "W1")
    other = event("e2", "PatientAdmitted", "W2", home="03", treating="01")
    moved = event("e3", "PatientTransferred", "W2", payload='{"from_ward_id": "W1", "to_ward_id": "W2"}')
    booked = event("e4", "ContactBooked", "S:c1")
    events = [census, other, moved, booked]
    status = WardStatusRow("W1", 1, at, "", "H", "h", "w", "01", "101", "", "somatic", "general", "census",
                           4, 2**40, 0, 0, 0, 0, 0, 0, 0, at, SENDER)
    blamed, unexplained = blame(events, [Refused("ward_status", status._replace(event_id="e1"), "r1")])
    assert [(e.event_id, why) for e, why in blamed] == [("e1", "ward_status: r1")]
    blamed, _ = blame(events, [Refused("ward_current", status, "r2")])  # the ward's events, a move from it too
    assert [e.event_id for e, _ in blamed] == ["e1", "e3"]
    blamed, _ = blame(events, [Refused("out_of_area_current", OutOfAreaRow("03", "01", 2**40, 1), "r3")])
    assert [e.event_id for e, _ in blamed] == ["e2"]
    blamed, unexplained = blame(events, [Refused("progress", (), "r4")])
    assert blamed == [] and len(unexplained) == 1


def test_the_worker_dead_letters_what_the_store_refuses_and_keeps_the_rest(tmp_path):
    """The worker's batch step on the real store, without a broker: a record the store refuses is a
    dead letter with its source position, gone from every table (raw, not only after FINAL), its
    position is still written; a contact read during an outage is retried; and the corrected record,
    resent with the same id, is accepted."""
    from bedflow.config import Config
    from schemas.codec import SchemaSet
    from schemas.generate import published_schemas
    from schemas.rules import RuleConfig
    from bedflow.worker import Worker as BatchWorker
    from sinks import recovery
    from streams.processor import SourceRecord
    from tests.test_sink import records

    settings = Settings(data_dir=str(tmp_path / "data"), log_epoch="e")
    w = BatchWorker(settings, Config(rules=RuleConfig.from_mapping({"region_03": {"MNG-012": "finding"}})))
    codec = SchemaSet(published_schemas())
    beds, wl = settings.topic_beds, settings.topic_waitlist
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)
    poison = contact("c-poison", at, target="2200-01-01")
    try:
        w.db.migrate()
        w.restore()
        out = w.handle(records([declared("03", at), admitted("03", "s1", at)], codec, beds)
                       + records([contact("c-good", at), poison], codec, wl))
        assert [(m["source_topic"], m["source_offset"], m["rule_ids"]) for m in out.deadletters] == [(wl, 1, ["SNK-001"])]
        assert "medical_target_date" in out.deadletters[0]["messages"][0]
        for table, where, n in (("events", "", 3), ("events", f"event_id = '{poison['event_id']}'", 0),
                                ("deadletters", "has(rule_ids, 'SNK-001')", 1), ("waitlist_contacts", "", 1)):
            _, rows = w.db.query(f"SELECT count() FROM {table} {'WHERE ' + where if where else ''}")
            assert rows[0][0] == n, (table, where)
        assert recovery.progress(w.db, "e") == {(beds, 0): 1, (wl, 0): 1} == w.processor.progress.written
        assert w.processor.beds.status(ward_of("03")).occupied == 1

        calls = {"n": 0}

        def flaky():  # the store is away for the first reads of the next batch
            calls["n"] += 1
            if calls["n"] <= 3:
                raise ConnectionError("down")

        w.db.fault = flaky
        booked = _ev("ContactBooked", "03", at, contact_id="c-good", booked_for=(at + dt.timedelta(days=2)).isoformat())
        fixed = {**poison, "medical_target_date": "2027-01-15"}
        again = [SourceRecord(r.topic, 0, 2 + i, r.value) for i, r in enumerate(records([booked, fixed], codec, wl))]
        assert w.handle(again).deadletters == []
        w.db.fault = None
        (good,) = recovery.contacts(w.db, [f"{SENDER}:c-good"])
        assert (good.region_code, good.phase, good.booked_for is not None) == ("03", 1, True)  # its decision kept
        _, rows = w.db.query(f"SELECT count() FROM events WHERE event_id = '{poison['event_id']}'")
        assert rows[0][0] == 1  # the corrected resend is not taken for a duplicate of the dead letter
    finally:
        w.db.close()
