"""Issue 12, "data quality the follow-up uses": reporting completeness, fill rates, guarantee and deviation
shares, plausibility against the same month last year — from the definitions (docs/INFORMATION_MODEL.md,
"Data quality"), every expected number worked out by hand in the comments, not computed with the code
under test. The events go through the real processor (with the reception instant each batch is given)
into the real chDB engine and are read through the API.

The month is June 2026 in Europe/Stockholm (CEST, UTC+2): from 2026-05-31 22:00 UTC to 2026-06-30 22:00
UTC. Its deadline is month end + 21 days: local midnight starting 22 July (2026-07-21 22:00 UTC).
"""
from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from schemas.model import EVENT_TYPES, NAMESPACE
from schemas.rules import RuleConfig
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.domain import quality as dq
from streams.processor import BEDS, WAITLIST, Processor, SourceRecord
from tests.factory import admit, decided, ev, ward
from tests.test_access import api_server
from web.access import Token
from web.policy import ViewPolicy
from web.snapshots import snapshot_final_at

STHLM = ZoneInfo("Europe/Stockholm")
ADMIN, NATIONAL = "admin-token", "national-token"
A01, E03 = "SE2321000016-A001", "SE2321000018-E001"
P12 = dict(provider_id="SE2321000214-P001", hospital_id="SE2321000214-H001", clinic_id="SE2321000214-K001")


def local(*args) -> str:
    return dt.datetime(*args, tzinfo=STHLM).isoformat()


def on(day: tuple, **kw) -> dict:
    """occurred_at on a local day at noon."""
    return {"occurred_at": local(*day, 12, 0), **kw}


def dec(contact, day: tuple, region="01", **kw) -> dict:
    """A ContactDecided decided and sent at noon local on `day`."""
    return decided(contact, region=region, decided_at=local(*day, 12, 0), occurred_at=local(*day, 12, 0), **kw)


# -------------------------------------------------------------------------------------- the scenario
def batches() -> list[tuple[str, list[tuple[str, dict]]]]:
    """(received at, [(topic, event)]) in the order the platform received them."""
    last_year = [  # region 01, June 2025: 10 admissions, 2 decisions, 1 contact performed (decided in May)
        (BEDS, ward(A01, 0, staffed=30, occurred_at=local(2025, 5, 1, 8, 0))),
        *[(BEDS, admit(A01, f"y{i}", 0, occurred_at=local(2025, 6, 2 + i, 9, 0))) for i in range(10)],
        (WAITLIST, dec("y-c1", (2025, 6, 3))), (WAITLIST, dec("y-c2", (2025, 6, 4))),
        (WAITLIST, dec("y-p1", (2025, 5, 2))),
        (WAITLIST, ev("ContactPerformed", 0, "01", contact_id="y-p1", started_at=local(2025, 6, 10, 9, 0),
                      performing_provider_id="SE2321000016-P001", performing_region_code="01",
                      occurred_at=local(2025, 6, 10, 9, 0))),
    ]
    spring = [  # region 03 reports beds in April; region 12 decides w1 in May
        (BEDS, ward(E03, 0, region="03", hospital="SE2321000018-H001", occurred_at=local(2026, 4, 1, 8, 0))),
        (BEDS, admit(E03, "u1", 0, region="03", muni="0380", occurred_at=local(2026, 4, 2, 9, 0))),
        (WAITLIST, dec("w1", (2026, 5, 10), region="12", muni="1280", **P12)),
    ]
    june = [
        # region 01 beds: a1 at 00:30 local on 1 June (22:30 UTC on 31 May: June in Stockholm)
        (BEDS, admit(A01, "a1", 0, occurred_at=local(2026, 6, 1, 0, 30), admission_kind="planned", outlier=False)),
        (BEDS, admit(A01, "a2", 0, **on((2026, 6, 10)))),
        (BEDS, admit(A01, "a3", 0, muni=None, **on((2026, 6, 11)))),  # no Swedish registration
        # region 01 decisions (MNG-007 lowered to a finding for 01, so a phase-2 decision without activity is accepted)
        (WAITLIST, dec("c1", (2026, 6, 2), phase=1, activity_code=None)),                  # activity, target: n/a
        (WAITLIST, dec("c2", (2026, 6, 3), phase=2, activity_code=None)),                  # activity not reported
        (WAITLIST, dec("c3", (2026, 6, 4), phase=2, activity_code="AA001")),               # activity reported
        (WAITLIST, dec("c4", (2026, 6, 5), phase=4, guarantee=False, medical_target_date=None)),  # target not reported
        (WAITLIST, dec("c5", (2026, 6, 6), phase=4, guarantee=False, medical_target_date="2026-09-01")),
        (WAITLIST, dec("c6", (2026, 6, 7), phase=3, activity_code="AB002", sex=None, birth_year=None)),
        # region 12: waiting at the end of June: w1 (May), w2 (deviation from 10 June), w3 (no guarantee),
        # w4 (deviation 3–20 June, cleared), w5 (deviation set only on 5 July); w6 performed in June
        (WAITLIST, dec("w2", (2026, 6, 5), region="12", muni="1280", **P12)),
        (WAITLIST, ev("DeviationSet", 0, "12", contact_id="w2", deviation="patient_chosen", **on((2026, 6, 10)))),
        (WAITLIST, dec("w3", (2026, 6, 5), region="12", muni="1280", guarantee=False, **P12)),
        (WAITLIST, dec("w4", (2026, 6, 2), region="12", muni="1280", **P12)),
        (WAITLIST, ev("DeviationSet", 0, "12", contact_id="w4", deviation="medical", **on((2026, 6, 3)))),
        (WAITLIST, ev("DeviationCleared", 0, "12", contact_id="w4", **on((2026, 6, 20)))),
        (WAITLIST, dec("w5", (2026, 6, 2), region="12", muni="1280", **P12)),
        (WAITLIST, dec("w6", (2026, 6, 3), region="12", muni="1280", **P12)),
        (WAITLIST, ev("ContactPerformed", 0, "12", contact_id="w6", started_at=local(2026, 6, 25, 9, 0),
                      performing_provider_id=P12["provider_id"], performing_region_code="12", **on((2026, 6, 25)))),
        # region 12: a phase-2 decision without activity is rejected there (MNG-007): a dead letter of June
        (WAITLIST, dec("w-bad", (2026, 6, 8), region="12", muni="1280", phase=2, activity_code=None, **P12)),
    ]
    return [
        (local(2025, 6, 30, 12, 0), last_year),
        (local(2026, 5, 15, 12, 0), spring),
        (local(2026, 7, 1, 12, 0), june),
        # a4 happened at 23:30 on the month's last day and came at 23:59 on 21 July: before the deadline
        (local(2026, 7, 21, 23, 59), [(BEDS, admit(A01, "a4", 0, occurred_at=local(2026, 6, 30, 23, 30)))]),
        # a5 (20 June) came 22 days after month end, at noon on 22 July: after the deadline, late.
        # In July too: w5's deviation (5 July) and w7's decision (2 July)
        (local(2026, 7, 22, 12, 0), [
            (BEDS, admit(A01, "a5", 0, **on((2026, 6, 20)))),
            (WAITLIST, ev("DeviationSet", 0, "12", contact_id="w5", deviation="patient_chosen", **on((2026, 7, 5)))),
            (WAITLIST, dec("w7", (2026, 7, 2), region="12", muni="1280", **P12)),
        ]),
    ]


def receive(db: ClickHouse) -> None:
    """Every batch through one real processor; each batch's rows are stamped with the instant the
    platform received it (ingested_at of its events, at of its dead letters), then written by the sink.
    Last, a second copy of a2's row, as a worker killed before its progress was written writes its batch
    again after the restart (on 5 July): one event still, in every count."""
    codec = SchemaSet(published_schemas())
    written = []
    proc = Processor(codec, epoch="t", rule_config=RuleConfig(region_severity={"01": {"MNG-007": "finding"}}))
    offsets = {BEDS: 0, WAITLIST: 0}
    for received, items in batches():
        at = dt.datetime.fromisoformat(received).astimezone(dt.timezone.utc)
        records = []
        for topic, e in items:
            m = EVENT_TYPES[e["event_type"]].model_validate(e)
            records.append(SourceRecord(topic, 0, offsets[topic],
                                        codec.encode_single_object(f"{NAMESPACE}.{type(m).__name__}", m.model_dump())))
            offsets[topic] += 1
        batch, _ = proc.process(records)
        rows = dict(batch.rows)
        rows["events"] = [r._replace(ingested_at=at) for r in rows["events"]]
        rows["deadletters"] = [r._replace(at=at) for r in rows["deadletters"]]
        Sink(db).write(rows)
        written += rows["events"]
    (a2,) = [r for r in written if '"stay_id":"a2"' in r.payload]
    again = dt.datetime.fromisoformat(local(2026, 7, 5, 12, 0)).astimezone(dt.timezone.utc)
    Sink(db).write({"events": [a2._replace(ingested_at=again)]})


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("quality")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    # no merges of the events' parts (as tests/harness.py hold_merges): a2's two copies stay two rows, so
    # the counts below have to count them as one
    db.command("ALTER TABLE events MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1, "
               "max_bytes_to_merge_at_min_space_in_pool = 1")
    receive(db)
    assert db.query("SELECT count() FROM events WHERE position(payload, '\"stay_id\":\"a2\"') > 0")[1] == [(2,)]
    dead = db.query_dicts("SELECT region_code, rule_ids FROM deadletters FINAL")
    assert [(d["region_code"], list(d["rule_ids"])) for d in dead] == [("12", ["MNG-007"])], dead  # only w-bad
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"),), audit_log=workdir / "audit.log")
    yield from api_server(db, policy, ADMIN)


def get(server, path, token=ADMIN) -> dict:
    status, body = server.call("GET", path, token)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def june(server, token=ADMIN) -> dict:
    return get(server, "/api/v1/quality/monthly?month=2026-06", token)


# ------------------------------------------------------------------------------- reporting completeness
def test_the_deadline_is_the_snapshots_month_end_plus_21_days(server):
    a = june(server)
    assert a["deadline"] == "2026-07-21T22:00:00+00:00"  # 22 July 00:00 CEST
    assert a["deadline"] == snapshot_final_at(dt.date(2026, 6, 1), "Europe/Stockholm").isoformat()
    assert a["final"] and "note" not in a


def test_completeness_per_region_and_contract(server):
    rows = {(r["region_code"], r["contract"]): r for r in june(server)["completeness"]}
    assert len(rows) == 21 * 2  # every region, both contracts
    pick = lambda r: (r["events"], r["on_time"], r["late"], r["rejected"], r["status"])  # noqa: E731
    # 01 beds: a1 (1 June 00:30 local, 31 May in UTC), a2, a3, a4 (received 23:59 on 21 July) on time; a5
    # received at noon on 22 July, 22 days after month end: late. The 2025 events are not of the month.
    # a2's second copy (5 July) is the same event: counted once
    assert pick(rows["01", "beds"]) == (5, 4, 1, 0, "late")
    assert pick(rows["01", "waitlist"]) == (6, 6, 0, 0, "delivered")  # c1–c6
    # 12 waitlist: w2 + its deviation, w3, w4 + set + clear, w5, w6 + performed = 9; w-bad rejected apart;
    # w5's deviation and w7 (July) are not June's
    assert pick(rows["12", "waitlist"]) == (9, 9, 0, 1, "delivered")
    # 03 sent beds in April, nothing in June: missing; it never sent waiting lists: nothing expected
    assert pick(rows["03", "beds"]) == (0, 0, 0, 0, "missing")
    assert pick(rows["03", "waitlist"]) == (0, 0, 0, 0, "inactive")
    assert rows["12", "beds"]["status"] == rows["05", "beds"]["status"] == "inactive"
    assert rows["01", "beds"]["status_label"].startswith("försenad")  # Swedish first


def test_a_region_active_only_before_the_lookback_is_not_missing(server):
    # 03's April events are within the 3 months before June, not before September: September is no
    # longer "missing" for 03 but "inactive" (and 01's June beds make its September beds missing)
    rows = {(r["region_code"], r["contract"]): r["status"]
            for r in get(server, "/api/v1/quality/monthly?month=2026-09")["completeness"]}
    assert rows["03", "beds"] == "inactive" and rows["01", "beds"] == "missing"
    assert rows["12", "waitlist"] == "missing"  # w7 decided and w5's deviation in July


def test_completeness_is_pending_until_the_deadline_has_passed():
    deadline = snapshot_final_at(dt.date(2026, 6, 1), "Europe/Stockholm")
    counts = {("01", "beds"): {"events": 5, "late": 0, "before": 3, "rejected": 0}, ("03", "beds"): {"before": 2}}
    before = {(r["region_code"], r["contract"]): r["status"]
              for r in dq.completeness(counts, ["01", "03"], deadline, deadline - dt.timedelta(milliseconds=1))}
    assert set(before.values()) == {"pending"}  # also 03, silent so far
    after = {(r["region_code"], r["contract"]): r["status"] for r in dq.completeness(counts, ["01", "03"], deadline, deadline)}
    assert after == {("01", "beds"): "delivered", ("01", "waitlist"): "inactive", ("03", "beds"): "missing",
                     ("03", "waitlist"): "inactive"}


def test_the_current_month_is_pending_and_preliminary(server):
    now = dt.datetime.now(STHLM).date()
    a = get(server, f"/api/v1/quality/monthly?month={now:%Y-%m}")
    assert {r["status"] for r in a["completeness"]} == {"pending"}
    assert not a["final"] and "preliminär" in a["note"]


# ------------------------------------------------------------------------------------------ fill rates
def test_fill_rates_keep_not_reported_apart_from_not_applicable(server):
    rows = {(r["region_code"], r["event_type"], r["field"]): r for r in june(server)["fill_rates"]}
    pick = lambda k: tuple(rows[k][f] for f in ("reported", "not_reported", "not_applicable", "fill_rate"))  # noqa: E731
    # activity: applies in phases 2–3: c3, c6 reported, c2 (phase 2, null) not reported; c1 (phase 1) and
    # c4, c5 (phase 4) not applicable: 2 / (2 + 1)
    assert pick(("01", "ContactDecided", "activity_code")) == (2, 1, 3, 0.6667)
    # medical target date: applies in phase 4: c5 reported, c4 not reported, the other four not applicable
    assert pick(("01", "ContactDecided", "medical_target_date")) == (1, 1, 4, 0.5)
    assert pick(("01", "ContactDecided", "sex")) == (5, 1, 0, 0.8333)  # c6 without: 5 / 6
    assert pick(("01", "ContactDecided", "birth_year")) == (5, 1, 0, 0.8333)
    assert pick(("01", "ContactDecided", "referral_id")) == (0, 6, 0, 0.0)  # never sent
    # admissions a1–a5: only a1 has a kind and an outlier flag (false is a value); a3 has no municipality
    assert pick(("01", "PatientAdmitted", "admission_kind")) == (1, 4, 0, 0.2)
    assert pick(("01", "PatientAdmitted", "outlier")) == (1, 4, 0, 0.2)
    assert pick(("01", "PatientAdmitted", "home_municipality_code")) == (4, 1, 0, 0.8)
    assert rows["01", "PatientAdmitted", "outlier"]["events"] == 5
    # a region that sent nothing: zeros and no rate (not 0 %)
    assert pick(("05", "ContactDecided", "sex")) == (0, 0, 0, None)


def test_fill_rate_counts_are_hidden_as_small_numbers_outside_the_region(server):
    rows = {(r["region_code"], r["event_type"], r["field"]): r for r in june(server, NATIONAL)["fill_rates"]}
    # 01's activity 2 / 1 / 3 are all small: hidden with the rate; the events of the type (6) are shown
    r = rows["01", "ContactDecided", "activity_code"]
    assert (r["reported"], r["not_reported"], r["not_applicable"], r["fill_rate"], r["events"]) == (None,) * 4 + (6,)


# ------------------------------------------------------------------------ guarantee and deviation shares
def test_guarantee_and_deviation_shares_of_those_waiting_at_month_end(server):
    a = june(server)
    assert a["waiting_at"] == "2026-06-30T21:59:59.999000+00:00"  # the month's last instant (23:59:59.999 CEST)
    w12 = {r["region_code"]: r for r in a["waiting"]}["12"]
    # waiting at the end of June: w1–w5 (w6 performed, w7 decided in July, w-bad rejected) = 5;
    # guarantee: w1, w2, w4, w5 = 4 of 5; a deviation in force then: w2 only (w4's cleared on 20 June,
    # w5's set on 5 July: today's flag, not June's) = 1 of 5
    assert (w12["waiting"], w12["guarantee"], w12["share_guarantee"]) == (5, 4, 0.8)
    assert (w12["with_deviation"], w12["share_with_deviation"]) == (1, 0.2)
    # for a viewer outside the region 4 and 1 are small: hidden with their shares; the 5 waiting are shown
    n12 = {r["region_code"]: r for r in june(server, NATIONAL)["waiting"]}["12"]
    assert (n12["waiting"], n12["guarantee"], n12["share_guarantee"], n12["with_deviation"]) == (5, None, None, None)


# ---------------------------------------------------------------------------------------- plausibility
def test_plausibility_against_the_same_month_last_year(server):
    rows = {(r["region_code"], r["measure"]): r for r in june(server)["plausibility"]}
    pick = lambda k: tuple(rows[k][f] for f in ("count", "previous_year", "ratio", "flag"))  # noqa: E731
    assert pick(("01", "admissions")) == (5, 10, 0.5, False)     # half: on the band's edge, inside
    assert pick(("01", "contacts_decided")) == (6, 2, 3.0, True)  # c1–c6 against y-c1, y-c2: three times
    assert pick(("01", "contacts_performed")) == (0, 1, 0.0, True)  # none now, y-p1 then
    assert pick(("12", "contacts_decided")) == (5, 0, None, False)  # w2–w6; no data last year: no ratio
    assert pick(("12", "contacts_performed")) == (1, 0, None, False)  # w6
    assert pick(("05", "admissions")) == (0, 0, None, False)


def test_the_plausibility_band_and_its_edges():
    assert dq.PLAUSIBLE_BAND == (0.5, 2.0)
    assert dq.plausible(10, 5) == (2.0, False) and dq.plausible(11, 5) == (2.2, True)
    assert dq.plausible(4, 10) == (0.4, True) and dq.plausible(0, 3) == (0.0, True)
    assert dq.plausible(7, 0) == (None, False) and dq.plausible(0, 0) == (None, False)


# ------------------------------------------------------------------------------------ scope and exports
def test_one_region_and_the_export(server):
    one = get(server, "/api/v1/quality/monthly?month=2026-06&region=12")
    for table in ("completeness", "fill_rates", "waiting", "plausibility"):
        assert {r["region_code"] for r in one[table]} == {"12"}, table
    status, body = server.call("GET", "/api/v1/quality/monthly?month=2026-06&format=csv&table=plausibility", ADMIN)
    assert status == 200 and body.startswith(b"\xef\xbb\xbf") and b"contacts_decided" in body
    assert b"0,5" in body  # 01's admissions ratio with a decimal comma


def test_a_final_months_counts_read_back_equal_from_their_kept_json(server):
    """The counts behind a month past its deadline are kept as JSON (sinks/results.py): read back, they are
    the very counts the SQL gives."""
    import orjson

    from web.quality import quality_counts, quality_from_plain, quality_plain

    counts = quality_counts(server.db, dt.date(2026, 6, 1), "Europe/Stockholm")
    assert counts["completeness"] and counts["fill"] and counts["plausibility"]
    assert quality_from_plain(orjson.loads(orjson.dumps(quality_plain(counts)))) == counts
