"""Ward state transitions (plain domain code, no I/O)."""
import random

import pytest

from streams.domain.beds import BedState
from schemas.model import EVENT_TYPES
from tests.factory import admit, census, stay_event, transfer, ward

A, B, C = "SE2321000016-A101", "SE2321000016-A102", "SE2321000214-B201"


def parse(d):
    return EVENT_TYPES[d["event_type"]].model_validate(d)


def run(events, policy="leave_not_occupied"):
    s = BedState(policy)
    for e in events:
        s.apply(parse(e))
    return s


def scenario():
    return [
        ward(A, 0, mvo="101", staffed=2),                       # internal medicine, region 01
        ward(B, 0, mvo="311", staffed=5),                       # orthopaedics, region 01
        ward(C, 0, region="12", mvo="101", staffed=3, hospital="SE2321000214-H001"),
        admit(A, "s1", 10),                                     # plain
        admit(A, "s2", 11, mvo="311", muni="0380"),             # outlier + out-of-area (Uppsala)
        admit(A, "s3", 12),
        stay_event("LeaveStarted", A, "s3", 20),
        admit(B, "s4", 13, muni="1280"),                        # out-of-area from Skåne
        transfer("s4", B, A, 30),                               # B → A: A now 4 admitted
        stay_event("DischargeReadyMarked", A, "s1", 40),
        admit(C, "s5", 15, region="12", muni="0180"),           # Stockholm patient treated in Skåne
        stay_event("PatientDischarged", A, "s2", 50),
    ]


def test_scenario_counts():
    s = run(scenario())
    a, b, c = s.status(A), s.status(B), s.status(C)
    assert (a.admitted, a.present, a.on_leave, a.occupied) == (3, 2, 1, 2)
    assert (a.staffed_beds, a.overcrowded, a.discharge_ready, a.outliers, a.out_of_area_in) == (2, 0, 1, 0, 1)
    assert (b.admitted, b.occupied, b.out_of_area_in) == (0, 0, 0)
    assert (c.admitted, c.out_of_area_in) == (1, 1)
    assert s.out_of_area_now() == {("12", "01"): 1, ("01", "12"): 1}


def test_leave_policy_changes_occupancy_and_overcrowding():
    s = run(scenario(), policy="leave_occupied")
    a = s.status(A)
    assert (a.occupied, a.overcrowded) == (3, 1)


def test_outlier_counted_at_hosting_ward_and_moves_with_transfer():
    events = [ward(A, 0, mvo="101"), ward(B, 0, mvo="311"), admit(B, "x", 1, mvo="101")]
    s = run(events)
    assert s.status(B).outliers == 1
    s.apply(parse(transfer("x", B, A, 2)))
    assert s.status(B).outliers == 0 and s.status(A).outliers == 0  # internal medicine patient now home


def test_resent_event_changes_nothing():
    events = scenario()
    s1 = run(events)
    s2 = run(events + events[3:])  # every stay event sent twice
    for w in (A, B, C):
        assert s1.status(w) == s2.status(w)
    assert s1.out_of_area_now() == s2.out_of_area_now()


def test_late_event_does_not_roll_back():
    s = run([ward(A, 0), admit(A, "s", 1), stay_event("LeaveStarted", A, "s", 10),
             stay_event("LeaveEnded", A, "s", 20)])
    assert s.status(A).present == 1
    # an old leave start arriving late must not put the patient back on leave
    s.apply(parse(stay_event("LeaveStarted", A, "s", 5)))
    assert (s.status(A).present, s.status(A).on_leave) == (1, 0)


@pytest.mark.parametrize("seed", range(5))
def test_final_state_independent_of_arrival_order(seed):
    events = scenario()
    ref = run(events)
    rnd = random.Random(seed)
    head, tail = events[:3], events[3:]
    rnd.shuffle(tail)
    got = run(head + tail)
    for w in (A, B, C):
        assert got.status(w) == ref.status(w)
    assert got.out_of_area_now() == ref.out_of_area_now()


def test_census_only_ward_uses_census_and_overcrowding():
    s = run([ward(A, 0, staffed=10), census(A, 60, staffed=10, occupied=12, on_leave=1, outliers=2, ready=1, ooa=3)])
    a = s.status(A)
    assert (a.source, a.staffed_beds, a.occupied, a.on_leave, a.overcrowded, a.outliers, a.out_of_area_in) == \
        ("census", 10, 12, 1, 2, 2, 3)


def test_capacity_change_follows_event_time():
    from tests.factory import ev
    s = run([ward(A, 0, staffed=10), ev("CapacityChanged", 30, ward_id=A, staffed_beds=8, reason="closure")])
    assert s.status(A).staffed_beds == 8
    s.apply(parse(ev("CapacityChanged", 20, ward_id=A, staffed_beds=12, reason="escalation")))  # late
    assert s.status(A).staffed_beds == 8


def test_redeclared_ward_specialty_recounts_outliers():
    s = run([ward(A, 0, mvo="101"), admit(A, "s", 1, mvo="311")])
    assert s.status(A).outliers == 1
    s.apply(parse(ward(A, 5, mvo="311")))
    assert s.status(A).outliers == 0
