"""Recovery of every kind of state, not only bed stays: waiting lists, census-only wards and capacity
changes, through SIGKILLs that land mid-run. The expected numbers are written from the scenario's own
declaration (what each ward and contact was made to be), never computed by streams/domain."""
from __future__ import annotations

import datetime as dt
import random
from urllib.parse import quote

from bedflow.publish import Publisher
from bedflow.settings import Settings
from schemas.model import EVENT_TYPES
from schemas.reference import mvo_group
from tests.factory import T0, admit, census, decided, ev, stay_event, ward
from tests.harness import (
    Worker, check_copies, hold_merges, store_rows, wait_until, written_not_committed, written_positions,
)

ORG = {"01": "SE2321000016", "03": "SE2321000018"}
AT = T0 + dt.timedelta(days=2)  # the instant the waiting list is measured at
WAIT_DAYS = (10, 45, 75, 120, 250)  # one per bucket: le_30, le_60, le_90, le_180, gt_180
BUCKETS = ("le_30", "le_60", "le_90", "le_180", "gt_180")
N_CAPACITY, N_CENSUS, N_CONTACTS = 30, 30, 1500


def minutes(t: dt.datetime) -> float:
    return (t - T0).total_seconds() / 60


def capacity_wards(rnd: random.Random) -> tuple[list[dict], dict]:
    """Region 01 wards with ADT. Ward k: declared with 10 beds, then capacity 2 + (3j) % 9 at minute 10j
    (j = 1..6, sent shuffled: the latest by time wins); a_k = k % 6 + 1 admissions, the last d_k = k % 3
    discharged; the first stay is from Malmö (region 12) when k % 4 == 0, on leave when k % 3 == 0,
    discharge-ready when k % 5 == 0."""
    events, expected = [], {}
    for k in range(N_CAPACITY):
        wid = f"{ORG['01']}-W{100 + k:03d}"
        events.append(ward(wid, 0, region="01", mvo="101", staffed=10, hospital=f"{ORG['01']}-H001"))
        changes = [ev("CapacityChanged", 10 * j, "01", ward_id=wid, staffed_beds=2 + (3 * j) % 9, reason="staffing")
                   for j in range(1, 7)]
        rnd.shuffle(changes)
        events += changes
        a, d = k % 6 + 1, k % 3
        stays = [f"S{k}-{j}" for j in range(a)]
        for j, stay in enumerate(stays):
            events.append(admit(wid, stay, 100 + j, mvo="101", muni="1280" if j == 0 and k % 4 == 0 else "0180"))
        if k % 3 == 0:
            events.append(stay_event("LeaveStarted", wid, stays[0], 120))
        if k % 5 == 0:
            events.append(stay_event("DischargeReadyMarked", wid, stays[0], 121))
        for stay in stays[a - d:]:
            events.append(stay_event("PatientDischarged", wid, stay, 130))
        staffed = 2 + (3 * 6) % 9  # the change at minute 60 is the latest
        on_leave = 1 if k % 3 == 0 else 0
        present = a - d - on_leave
        expected[wid] = dict(staffed_beds=staffed, occupied=present, present=present, on_leave=on_leave,
                             overcrowded=max(0, present - staffed), outliers=0,
                             discharge_ready=1 if k % 5 == 0 else 0, out_of_area_in=1 if k % 4 == 0 else 0)
    return events, expected


def census_wards(rnd: random.Random) -> tuple[list[dict], dict]:
    """Region 03 wards without ADT. Ward k gets ten counts at minutes 10j (j = 1..10), sent newest first
    for odd k: the count with the latest time is the ward's state."""
    events, expected = [], {}
    for k in range(N_CENSUS):
        wid = f"{ORG['03']}-W{200 + k:03d}"
        events.append(ward(wid, 0, region="03", mvo="101", staffed=12, hospital=f"{ORG['03']}-H001"))

        def count(j):
            occupied, on_leave = (k + 3 * j) % 15, j % 3
            return dict(staffed=8 + j % 5, occupied=occupied, on_leave=on_leave, outliers=min((k + j) % 4, occupied),
                        ready=j % 2 if occupied else 0, ooa=(k * j) % 3 if occupied >= 2 else 0)

        counts = [census(wid, 10 * j, region="03", **count(j)) for j in range(1, 11)]
        events += counts[::-1] if k % 2 else counts
        last = count(10)
        expected[wid] = dict(staffed_beds=last["staffed"], occupied=last["occupied"], present=last["occupied"],
                             on_leave=last["on_leave"], overcrowded=max(0, last["occupied"] - last["staffed"]),
                             outliers=last["outliers"], discharge_ready=last["ready"],
                             # a census-only ward's count has no home regions: kept apart (issue 12 point 7)
                             out_of_area_in=0, out_of_area_in_census=last["ooa"])
    return events, expected


def contacts() -> tuple[list[dict], dict]:
    """Region 01 contacts. Contact i: decided WAIT_DAYS[i % 5] and a half days before AT, phase 1 when
    i % 4 < 2 else 3, MVO 511 when i % 3 == 0 else 101; performed when i % 7 == 0, removed when
    i % 11 == 0 (and not performed), booked (still waiting) when i % 13 == 0."""
    events, expected = [], {}
    closes = []
    for i in range(N_CONTACTS):
        c, phase, mvo = f"C{i}", 1 if i % 4 < 2 else 3, "511" if i % 3 == 0 else "101"
        decided_at = AT - dt.timedelta(days=WAIT_DAYS[i % 5] + 0.5)
        events.append(decided(c, i * 0.01, "01", phase=phase, mvo=mvo, decided_at=decided_at.isoformat()))
        after = 60 * 24 + i * 0.01  # a day after T0, before AT
        if i % 7 == 0:
            started = (T0 + dt.timedelta(minutes=after)).isoformat()
            closes.append(ev("ContactPerformed", after, "01", contact_id=c, started_at=started,
                             performing_provider_id="SE2321000016-P001", performing_region_code="01"))
        elif i % 11 == 0:
            closes.append(ev("ContactRemoved", after, "01", contact_id=c, reason="no_longer_needed",
                             referred_to_region_code=None))
        if i % 13 == 0:
            closes.append(ev("ContactBooked", after - 1, "01", contact_id=c,
                             booked_for=(AT + dt.timedelta(days=10)).isoformat()))
        if i % 7 and i % 11:
            row = expected.setdefault((mvo_group(mvo), phase), dict.fromkeys(("waiting",) + BUCKETS, 0))
            row["waiting"] += 1
            row[BUCKETS[i % 5]] += 1
    return events + closes, expected


def test_waitlists_census_and_capacity_survive_kills_mid_run(broker, tmp_path):
    rnd = random.Random(21)
    cap_events, cap_expected = capacity_wards(rnd)
    cen_events, cen_expected = census_wards(rnd)
    wl_events, wl_expected = contacts()
    events = cap_events + cen_events + wl_events
    worker = Worker(broker.bootstrap, tmp_path, f"rec{rnd.randrange(10**6)}", env={"BEDFLOW_SINK_BATCH_SIZE": "100"})
    hold_merges(worker.store_dir)
    pub = Publisher(Settings(topic_beds=worker.topics["beds"], topic_waitlist=worker.topics["waitlist"]),
                    worker.bootstrap)
    for e in events:
        pub.send(EVENT_TYPES[e["event_type"]].model_validate(e))
    assert pub.flush(60) == 0 and not pub.failed
    kills, lives = [], []
    try:
        for taken in (150, 500):
            worker.start()
            lives.append(worker.kill_mid_run(len(events), taken))
            kills.append(written_positions(store_rows(worker.store_dir)))
        worker.start()
        wait_until(lambda: worker.committed() >= len(events), 180, what="the worker to catch up", worker=worker)
        wait_until(lambda: worker.api("/api/v1/quality")["table_rows"]["events"] == len(events), 60,
                   what="every event in ClickHouse", worker=worker)
        assert worker.metric("bedflow_redelivered_skipped_total") == \
            written_not_committed(kills[-1], lives[-1]["committed"])

        fields = tuple(next(iter(cap_expected.values())))
        got = {r["id"]: {f: r[f] for f in fields} for r in worker.api("/api/v1/status?level=ward")["rows"]}
        assert {w: got.get(w) for w in cap_expected} == cap_expected
        cen_fields = tuple(next(iter(cen_expected.values())))
        got = {r["id"]: {f: r.get(f) for f in cen_fields} for r in worker.api("/api/v1/status?level=ward")["rows"]}
        assert {w: got.get(w) for w in cen_expected} == cen_expected
        assert {r["id"]: r["source"] for r in worker.api("/api/v1/status?level=ward&region=03")["rows"]} == \
            dict.fromkeys(cen_expected, "census")

        rows = worker.api(f"/api/v1/waitlist?region=01&at={quote(AT.isoformat())}")["rows"]
        assert {(r["mvo_group"], r["phase"]): {k: r[k] for k in ("waiting",) + BUCKETS} for r in rows} == wl_expected
        assert sum(r["waiting"] for r in rows) == sum(1 for i in range(N_CONTACTS) if i % 7 and i % 11)

        ooa = {(r["home_region"], r["treating_region"]): r["patients"]
               for r in worker.api("/api/v1/out-of-area?window=now")["rows"]}
        assert ooa == {("12", "01"): len(range(0, N_CAPACITY, 4))}
        assert worker.api("/api/v1/quality")["table_rows"]["deadletters"] == 0
    finally:
        worker.stop()
    rows = store_rows(worker.store_dir)
    assert rows["final"]["events"] == len(events)
    check_copies(rows, kills)
