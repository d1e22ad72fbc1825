"""Room nearby, by need (issue 14): the ranking's definition on hand-made wards whose right order is worked out
by hand (streams/domain/room.py), then GET /api/v1/room-nearby against ClickHouse (chDB) filled by the real
processor and sink, with its scope and small-number suppression.

Geography used (schemas/reference/regions.csv): Uppsala (03) has the neighbours 01, 19, 21 in that travel
order and lies in the healthcare region Uppsala-Örebro with 04, 17, 18, 19, 20, 21; Stockholm (01) is a
neighbour outside that healthcare region; Skåne (12) is neither."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from bedflow.metrics import Metrics
from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.domain import room
from streams.processor import BEDS, Processor
from tests.factory import T0, admit, ward
from tests.test_access import Server, records
from web.access import Token
from web.api import create_app
from web.policy import ViewPolicy

UTC = dt.timezone.utc


def w(ward_id, region="03", hospital="H2", care="somatic", kind="general", mvo="101", staffed=10, occupied=5):
    return {"ward_id": ward_id, "region_code": region, "hospital_id": f"{region}-{hospital}", "hospital_name": hospital,
            "ward_name": ward_id, "care_type": care, "ward_kind": kind, "mvo_code": mvo, "staffed_beds": staffed,
            "occupied": occupied}


ASKING = w("ASK", hospital="H1", occupied=13)  # somatic internal medicine (101) in 03, 3 overcrowded


def ids(offers):
    return [o.get("ward_id") or o["region_code"] for o in offers]


# ------------------------------------------------------------------ the ranking's definition
def test_a_psychiatric_need_never_gets_a_somatic_ward_nor_a_somatic_need_a_psychiatric_one():
    wards = [w("SOM"), w("PSY", care="psychiatric", mvo="901"), w("SOM-ICU", kind="icu"), ASKING]
    psych = room.Need("03", "psychiatric", frozenset({"901"}), "03-H1")
    assert ids(room.rank_wards(psych, wards)) == ["PSY"]
    assert ids(room.rank_wards(room.ward_need(ASKING, {}), wards)) == ["SOM"]


def test_an_icu_need_takes_icu_wards_only_and_a_general_need_never_an_icu_observation_or_short_stay_ward():
    wards = [w("GEN"), w("ICU", kind="icu", mvo="121"), w("PSY-ICU", care="psychiatric", kind="icu", mvo="901"),
             w("OBS", kind="observation"), w("SHORT", kind="short_stay")]
    icu = room.Need("03", "icu", frozenset({"101"}), "03-H1")
    # ICU wards serve every specialty: both, most free beds first (5 each: then by id)
    assert ids(room.rank_wards(icu, wards)) == ["ICU", "PSY-ICU"]
    assert ids(room.rank_wards(room.Need("03", "somatic", frozenset({"101"}), "03-H1"), wards)) == ["GEN"]


def test_same_region_before_the_neighbours_in_travel_order_before_the_rest_of_the_healthcare_region():
    wards = [ASKING,
             w("OWN-HOSPITAL", hospital="H1", occupied=0),  # the asking hospital's own: not room elsewhere
             w("REST-18", region="18", occupied=0),  # rest of Uppsala-Örebro, 10 free
             w("NB-21", region="21", occupied=1),  # third neighbour, 9 free
             w("NB-01", region="01", occupied=8),  # first neighbour, 2 free
             w("NB-19", region="19", occupied=5),  # second neighbour, 5 free
             w("SAME", region="03", hospital="H3", occupied=9),  # another hospital of 03, 1 free
             w("FAR-12", region="12", occupied=0)]  # Skåne: neither neighbour nor healthcare region
    offers = room.rank_wards(room.ward_need(ASKING, {}), wards)
    assert ids(offers) == ["SAME", "NB-01", "NB-19", "NB-21", "REST-18"]
    assert [(o["relation"], o["travel_order"]) for o in offers] == [
        ("region", 0), ("neighbour", 0), ("neighbour", 1), ("neighbour", 2), ("healthcare_region", 0)]
    assert [o["rank"] for o in offers] == [1, 2, 3, 4, 5]


def test_a_ward_serving_the_mvo_code_outranks_one_of_the_same_group_only_which_outranks_another_group():
    # 101 and 107 are both "Internmedicin"; 121 (infectious diseases) is another group; 301 serves 101 by
    # declaration (served_mvo_codes). Same region, so the specialty decides, then free beds.
    wards = [ASKING, w("GROUP-107", mvo="107", occupied=0), w("OTHER-121", mvo="121", occupied=0),
             w("OWN-CODE", mvo="101", occupied=9), w("SERVES-101", mvo="301", occupied=8)]
    served = {"SERVES-101": ("301", "101"), "GROUP-107": ()}
    offers = room.rank_wards(room.ward_need(ASKING, served), wards, served)
    assert ids(offers) == ["SERVES-101", "OWN-CODE", "GROUP-107", "OTHER-121"]
    assert [o["match"] for o in offers] == ["mvo_code", "mvo_code", "mvo_group", "care_type"]
    # the asking ward's own served codes are its patients' specialties: a ward asking for 121 too
    asking_121 = room.ward_need(ASKING, {"ASK": ("121",)})
    assert asking_121.mvo_codes == {"101", "121"}
    assert ids(room.rank_wards(asking_121, wards, served))[:3] == ["OTHER-121", "SERVES-101", "OWN-CODE"]


def test_the_specialty_never_beats_distance():
    wards = [ASKING, w("NB-EXACT", region="01", occupied=0), w("SAME-OTHER-GROUP", hospital="H3", mvo="121")]
    assert ids(room.rank_wards(room.ward_need(ASKING, {}), wards)) == ["SAME-OTHER-GROUP", "NB-EXACT"]


def test_free_beds_zero_is_no_offer_and_a_stale_ward_is_none_either():
    wards = [ASKING, w("FULL", occupied=10), w("OVER", occupied=12), w("ONE", occupied=9), w("STALE", occupied=0)]
    offers = room.rank_wards(room.ward_need(ASKING, {}), wards, fresh=lambda x: x["ward_id"] != "STALE")
    assert ids(offers) == ["ONE"] and offers[0]["free_beds"] == 1 and offers[0]["overcrowded"] == 0


def test_region_offers_sum_free_beds_and_overcrowding_side_by_side_never_netted():
    # 19: one ward 6 free, one 4 over: 6 free and 4 overcrowded (not "2 free"); 01: every ward full → no
    # offer; 21: a psychiatric ward's free beds are not somatic room; the asking hospital is left out of 03.
    wards = [ASKING, w("03-OTHER", hospital="H3", occupied=7),
             w("19-A", region="19", occupied=4), w("19-B", region="19", occupied=14, mvo="121"),
             w("01-A", region="01", occupied=10), w("01-B", region="01", occupied=11),
             w("21-PSY", region="21", care="psychiatric", mvo="901", occupied=0), w("21-A", region="21", occupied=9)]
    offers = room.rank_regions(room.ward_need(ASKING, {}), wards)
    assert [(o["region_code"], o["free_beds"], o["overcrowded"], o["free_beds_specialty"], o["wards_with_room"])
            for o in offers] == [("03", 3, 0, 3, 1), ("19", 6, 4, 6, 1), ("21", 1, 0, 1, 1)]


def test_a_whole_region_asking_is_offered_other_regions_only():
    wards = [w("03-A", occupied=0), w("01-A", region="01", occupied=0), w("04-A", region="04", occupied=5)]
    offers = room.rank_regions(room.Need("03", "somatic"), wards)
    assert ids(offers) == ["01", "04"]  # a neighbour, then the rest of the healthcare region
    assert offers[1]["relation"] == "healthcare_region"


def test_a_hospital_asks_for_the_kind_most_of_its_beds_are_unless_told():
    hospital = [w("S1", hospital="H1", staffed=10), w("P1", hospital="H1", care="psychiatric", mvo="901", staffed=12),
                w("I1", hospital="H1", kind="icu", staffed=30)]
    assert room.hospital_need(hospital).kind == "psychiatric"  # 12 psychiatric beds > 10 somatic (ICU apart)
    assert room.hospital_need(hospital, "icu").kind == "icu"
    assert room.hospital_need(hospital, mvo="107").mvo_codes == {"107"}


def test_freshness_is_the_wards_or_its_senders_last_event():
    now = dt.datetime(2026, 11, 30, 12, tzinfo=UTC)
    old = {"last_event_at": now - dt.timedelta(hours=3), "sender_id": "S"}
    assert not room.is_fresh(old, now, dt.timedelta(minutes=60), {})
    assert room.is_fresh(old, now, dt.timedelta(minutes=60), {"S": now - dt.timedelta(minutes=10)})
