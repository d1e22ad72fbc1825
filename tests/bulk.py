"""A deterministic random stream of bed events for fault tests, and its expected final state computed by
the plain domain code (what an uninterrupted, exactly-once run must end with)."""
from __future__ import annotations

import random

from streams.domain.beds import BedState
from schemas.model import EVENT_TYPES
from tests.factory import admit, stay_event, transfer, ward

REGIONS = {"01": "SE2321000016", "03": "SE2321000018", "12": "SE2321000214"}
MUNIS = ["0180", "0380", "1280", "0114", "0360", "1281"]


def bulk_events(n: int, seed: int = 1, wards_per_region: int = 4) -> list[dict]:
    rnd = random.Random(seed)
    events, wards = [], []
    for region, org in REGIONS.items():
        for i in range(wards_per_region):
            wid = f"{org}-W{i:03d}"
            wards.append((wid, region))
            events.append(ward(wid, 0, region=region, mvo=rnd.choice(["101", "311", "901"]),
                               staffed=rnd.randint(5, 30), hospital=f"{org}-H{i % 2:03d}",
                               care_type="somatic", sender_id=f"{org}-0001"))
    open_stays: dict[str, tuple[str, str]] = {}
    minute, k = 1.0, 0
    while len(events) < n:
        minute += rnd.random() * 0.02  # stays within hours: never in the future
        r = rnd.random()
        if r < 0.4 or len(open_stays) < 5:
            k += 1
            wid, region = rnd.choice(wards)
            stay = f"S{seed}-{k}"
            open_stays[stay] = (wid, region)
            events.append(admit(wid, stay, minute, mvo=rnd.choice(["101", "311", "521"]), muni=rnd.choice(MUNIS),
                                region=region, sender_id=f"{REGIONS[region]}-0001"))
        else:
            stay = rnd.choice(sorted(open_stays))
            wid, region = open_stays[stay]
            sender = f"{REGIONS[region]}-0001"
            if r < 0.55:
                events.append(stay_event(rnd.choice(["LeaveStarted", "LeaveEnded"]), wid, stay, minute, region)
                              | {"sender_id": sender})
            elif r < 0.65:
                dst, dst_region = rnd.choice([w for w in wards if w[1] == region and w[0] != wid])
                events.append(transfer(stay, wid, dst, minute, region=region) | {"sender_id": sender})
                open_stays[stay] = (dst, region)
            elif r < 0.72:
                events.append(stay_event("DischargeReadyMarked", wid, stay, minute, region) | {"sender_id": sender})
            else:
                events.append(stay_event("PatientDischarged", wid, stay, minute, region) | {"sender_id": sender})
                del open_stays[stay]
    return events


def expected_state(events: list[dict]) -> BedState:
    s = BedState()
    for e in events:
        s.apply(EVENT_TYPES[e["event_type"]].model_validate(e))
    return s


WARD_FIELDS = ("staffed_beds", "occupied", "present", "on_leave", "overcrowded", "outliers", "discharge_ready",
               "out_of_area_in")


def ward_numbers(rows: list[dict]) -> dict[str, tuple]:
    return {r["id"]: tuple(r[f] for f in WARD_FIELDS) for r in rows}


def expected_ward_numbers(state: BedState) -> dict[str, tuple]:
    out = {}
    for wid in state.wards:
        st = state.status(wid)
        out[wid] = tuple(getattr(st, f) for f in WARD_FIELDS)
    return out
