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

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.domain import room
from streams.processor import BEDS, Processor
from tests.factory import T0, admit, ward
from schemas.model import EVENT_TYPES, NAMESPACE
from streams.processor import SourceRecord
from tests.test_access import api_server
from web.access import Token
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


# ------------------------------------------------------------------ GET /api/v1/room-nearby (chDB, real processor)
ADMIN, NATIONAL, BASIC, REGION03, REGION01 = "room-admin", "room-national", "room-basic", "room-03", "room-01"
S03, S01, S12 = "SE2321000018-0001", "SE2321000016-0001", "SE2321000214-0001"
Q, R, P = "SE2321000018-Q101", "SE2321000018-R102", "SE2321000018-P103"  # 03: asking (H1), H2 somatic, psychiatric
S, X, I = "SE2321000016-S201", "SE2321000016-X202", "SE2321000016-I203"  # 01: 101, 301 serving 101, ICU
T, U = "SE2321000016-T301", "SE2321000214-U401"  # 19 (sent by 01's sender), 12
HB03, HB01 = "SE2321000018-Z901", "SE2321000016-Z902"  # observation wards whose fresh events keep the senders fresh
H1_03, H2_03, H01, H19, H12 = ("SE2321000018-H001", "SE2321000018-H002", "SE2321000016-H001", "SE2321000016-H019",
                               "SE2321000214-H001")


def scenario() -> list[dict]:
    """Three days ago: the wards and their patients (so the forecast has history: no movement since, so each
    ward is forecast to stay as it is); five minutes ago an event on an observation ward per sender, which
    keeps every ward of the sender fresh."""
    then = (dt.datetime.now(UTC) - dt.timedelta(days=3) - T0).total_seconds() / 60
    fresh = (dt.datetime.now(UTC) - T0).total_seconds() / 60 - 5
    ev = [ward(Q, then, "03", mvo="101", staffed=10, hospital=H1_03, sender_id=S03),
          ward(R, then, "03", mvo="107", staffed=10, hospital=H2_03, sender_id=S03),
          ward(P, then, "03", mvo="901", care_type="psychiatric", staffed=8, hospital=H2_03, sender_id=S03),
          ward(S, then, "01", mvo="101", staffed=20, hospital=H01),
          ward(X, then, "01", mvo="301", staffed=10, hospital=H01, served_mvo_codes=["301", "101"]),
          ward(I, then, "01", mvo="101", kind="icu", staffed=6, hospital=H01),
          ward(T, then, "19", mvo="101", staffed=10, hospital=H19),
          ward(U, then, "12", mvo="101", staffed=10, hospital=H12, sender_id=S12),
          ward(HB03, then, "03", mvo="041", kind="observation", staffed=2, hospital=H1_03, sender_id=S03),
          ward(HB01, then, "01", mvo="041", kind="observation", staffed=2, hospital=H01)]
    for wid, region, n, sender in ((Q, "03", 12, S03), (R, "03", 6, S03), (P, "03", 2, S03), (S, "01", 5, S01),
                                   (X, "01", 9, S01), (I, "01", 3, S01), (T, "19", 4, S01), (U, "12", 1, S12)):
        muni = {"03": "0380", "01": "0180", "19": "1980", "12": "1280"}[region]
        ev += [admit(wid, f"{wid[-4:]}-{k}", then + 1 + 0.01 * k, region=region, muni=muni, sender_id=sender)
               for k in range(n)]
    ev += [admit(HB03, "hb03", fresh, region="03", muni="0380", sender_id=S03),
           admit(HB01, "hb01", fresh, region="01", muni="0180"),
           admit(U, "hb12", fresh, region="12", muni="1280", sender_id=S12)]
    return ev


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("room")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(records(codec, BEDS, scenario()))
    Sink(db).write(batch.rows)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("skr-basic", BASIC, "national"),
                                Token("uppsala", REGION03, "region:03"), Token("sthlm", REGION01, "region:01")),
                        audit_log=workdir / "audit.log", detail_grants=frozenset({"skr"}))
    yield from api_server(db, policy, ADMIN)


def records(codec: SchemaSet, topic: str, events: list[dict]) -> list[SourceRecord]:
    """As tests/test_access.py encodes them, with a list of served MVO codes as Avro has it."""
    out = []
    for i, e in enumerate(events):
        m = EVENT_TYPES[e["event_type"]].model_validate(e)
        fields = {k: list(v) if isinstance(v, tuple) else v for k, v in m.model_dump().items()}
        out.append(SourceRecord(topic, 0, i, codec.encode_single_object(f"{NAMESPACE}.{type(m).__name__}", fields)))
    return out


def room_of(server, query: str, token: str, status: int = 200) -> dict:
    got, body = server.call("GET", f"/api/v1/room-nearby?{query}", token)
    assert got == status, (query, got, body[:300])
    return json.loads(body)


def test_the_endpoint_ranks_the_wards_that_can_take_the_asking_wards_patients(server):
    a = room_of(server, f"unit={Q}", ADMIN)
    assert a["need"]["level"] == "ward" and a["need"]["kind"] == "somatic" and a["need"]["mvo_codes"] == ["101"]
    assert (a["need"]["free_beds"], a["need"]["overcrowded"], a["need"]["shortage"]) == (0, 2, 2)
    # R: same region, another hospital, the same group only (107); then the neighbour 01: X serves 101 by its
    # declaration (read from the WardDeclared events) as S does by its own code, S has more free beds;
    # then the second neighbour 19. Not P (psychiatric), I (ICU), the observation wards, nor U (Skåne).
    assert [(o["ward_id"], o["relation"], o["match"], o["free_beds"]) for o in a["wards"]] == [
        (R, "region", "mvo_group", 4), (S, "neighbour", "mvo_code", 15), (X, "neighbour", "mvo_code", 1),
        (T, "neighbour", "mvo_code", 6)]
    assert [(o["region_code"], o["free_beds"], o["overcrowded"]) for o in a["regions"]] == [
        ("03", 4, 0), ("01", 16, 0), ("19", 6, 0)]
    # no movement in the wards' history: each is forecast to stay as it is, tomorrow 07:00 Stockholm
    at = dt.datetime.fromisoformat(a["forecast_at"])
    assert at.astimezone(dt.timezone(dt.timedelta(hours=1))).hour == 7  # CET in November
    assert [o["forecast_free_beds"] for o in a["wards"]] == [4, 15, 1, 6]
    assert [o["forecast_free_beds"] for o in a["regions"]] == [4, 16, 6]
    assert a["need"]["forecast_overcrowded"] == 2


def test_the_endpoint_takes_a_need_an_mvo_code_a_hospital_and_a_region(server):
    psych = room_of(server, f"unit={Q}&need=psychiatric", ADMIN)
    assert [o["ward_id"] for o in psych["wards"]] == [P]
    icu = room_of(server, f"unit={Q}&need=icu", ADMIN)
    assert [o["ward_id"] for o in icu["wards"]] == [I] and [o["region_code"] for o in icu["regions"]] == ["01"]
    assert [o["ward_id"] for o in room_of(server, f"unit={Q}&mvo=301", ADMIN)["wards"]][:3] == [R, X, S]
    hospital = room_of(server, f"unit={H1_03}", ADMIN)
    assert hospital["need"]["level"] == "hospital" and hospital["wards"][0]["ward_id"] == R
    region = room_of(server, "unit=03", ADMIN)
    assert region["need"]["level"] == "region" and [o["region_code"] for o in region["regions"]] == ["01", "19"]
    room_of(server, "unit=SE2321000018-NOPE", ADMIN, 400)
    room_of(server, f"unit={Q}&mvo=99x", ADMIN, 400)
    room_of(server, f"unit={Q}&need=surgery", ADMIN, 400)
    room_of(server, "need=icu", ADMIN, 400)


def test_ward_offers_only_with_the_detail_grant_and_a_region_viewer_only_its_own(server):
    basic = room_of(server, f"unit={Q}", BASIC)
    assert basic["wards"] is None and basic["need"]["free_beds"] is None and basic["need"]["name"] is None
    # not 03 less the asking hospital: beside 03's published total it would give the hospital's figures
    assert [(o["rank"], o["region_code"]) for o in basic["regions"]] == [(1, "01"), (2, "19")]
    own = room_of(server, f"unit={Q}", REGION03)
    assert [o["ward_id"] for o in own["wards"]] == [R]  # its own region's wards; the others as regions
    assert [o["region_code"] for o in own["regions"]] == ["03", "01", "19"]
    room_of(server, f"unit={Q}", REGION01, 403)  # another region's unit
    assert server.call("GET", f"/api/v1/room-nearby?unit={Q}", None)[0] == 401


def test_small_numbers_are_hidden_outside_the_viewers_region(server):
    # 03's own region offer (its wards outside the asking hospital) only for who sees 03 in full. A region's
    # overcrowding is hidden outside it when it, or its complement in the region's published total, is 1..4:
    # 03's somatic need (Q's 2) for the national viewer, not for 03's own. Ward offers: the national viewer
    # sees no ward with 1..4 patients (X has 9, T 4: hidden).
    national = room_of(server, f"unit={Q}", NATIONAL)
    assert [o["region_code"] for o in national["regions"]] == ["01", "19"]
    assert room_of(server, f"unit={Q}", REGION03)["regions"][0]["overcrowded"] == 0
    region03 = room_of(server, "unit=03", NATIONAL)
    assert region03["need"]["overcrowded"] is None and region03["need"]["free_beds"] == 4  # Q's 2: small
    assert room_of(server, "unit=03", REGION03)["need"]["overcrowded"] == 2
    assert room_of(server, f"unit={Q}", ADMIN)["regions"][0]["overcrowded"] == 0
    # A ward whose occupancy status hides from the viewer is no ward offer (being offered would tell it has a
    # free bed): T (4 patients) and the complements status hides with the small wards; the rest in order.
    hidden = {r["id"] for r in json.loads(server.call("GET", "/api/v1/status?level=ward", NATIONAL)[1])["rows"]
              if r["occupied"] is None}
    assert T in hidden and X not in hidden
    expected = [o for o in room_of(server, f"unit={Q}", ADMIN)["wards"] if o["ward_id"] not in hidden]
    assert [(o["rank"], o["ward_id"], o["free_beds"]) for o in national["wards"]] == [
        (i + 1, o["ward_id"], o["free_beds"]) for i, o in enumerate(expected)]
    assert X in [o["ward_id"] for o in national["wards"]]
    assert national["need"]["overcrowded"] is None or national["need"]["overcrowded"] > 4


# ------------------------------------------------------------------ the morning report: room by need, tomorrow 07:00
def test_the_report_lists_each_needing_regions_offers_by_kind_of_bed():
    import re

    from tests.report_example import example_report
    from web.morning import room_by_need
    from web.report_html import render_morning_report
    from web.report_model import Figures

    rep = example_report()
    for r in rep.regions:  # no region in need but 03: 10 beds, 14 patients (4 overcrowded, 0 free)
        r.today = Figures.of(10, 14, 4, escalation_level=2) if r.code == "03" else Figures.of(10, 5, 0, escalation_level=1)
    wards = [w("Q", occupied=14), w("P3", care="psychiatric", mvo="901", staffed=8, occupied=8),
             w("S", region="01", staffed=20, occupied=5), w("I", region="01", kind="icu", staffed=6, occupied=3),
             w("T", region="19", occupied=4), w("PSY19", region="19", care="psychiatric", mvo="901", occupied=9),
             w("FAR", region="12", occupied=0)]
    ahead = {"S": {"occupied": 17.0, "free_beds": 3.0, "overcrowded": 0.0},
             "T": {"occupied": 4.0, "free_beds": 6.0, "overcrowded": 0.0}}
    rep.room_by_need = room_by_need(rep, wards, {}, lambda x: True, ahead, 4, lambda code: True)
    kinds = rep.room_by_need["03"]
    assert list(rep.room_by_need) == ["03"] and [k.kind for k in kinds] == ["somatic", "psychiatric"]  # no ICU ward in 03
    som, psy = kinds
    assert (som.free, som.overcrowded, som.shortage) == (0, 4, 4)
    assert [(o.region_code, o.relation, o.free, o.overcrowded) for o in som.offers] == [
        ("01", "neighbour", 15, 0), ("19", "neighbour", 6, 0)]
    assert [(o.region_code, o.free) for o in psy.offers] == [("19", 1)]
    # the forecast beside (tomorrow 07:00): S forecast 17 of 20 → 3 free; T 4 of 10 → 6
    assert [o.forecast_free for o in som.offers] == [3.0, 6.0] and psy.offers[0].forecast_free is None

    without = render_morning_report(rep)
    section = re.search(r'<section id="room-need">.*?</section>', without, re.S).group(0)
    assert re.findall(r'data-id="(03:[a-z]+:[0-9]+)"', section) == ["03:somatic:01", "03:somatic:19", "03:psychiatric:19"]
    assert "Ingen prognos för i morgon" in section and "Lediga i morgon" not in section
    assert "Ingen prognos" in re.search(r'<section id="tomorrow">.*?</section>', without, re.S).group(0)

    rep.tomorrow_at = rep.picture_at + dt.timedelta(days=1)
    for r in rep.regions:
        r.tomorrow = Figures(staffed=10, occupied=9, free=1, overcrowded=0, occupancy_pct=90.0)
    rep.nation_tomorrow = Figures(staffed=210, occupied=189, free=21, overcrowded=0, occupancy_pct=90.0)
    html = render_morning_report(rep)
    section = re.search(r'<section id="room-need">.*?</section>', html, re.S).group(0)
    assert "Lediga i morgon 07:00" in section
    assert re.search(r'data-id="03:somatic:01">.*?data-field="forecast_free">3<', section, re.S)
    tomorrow = re.search(r'<section id="tomorrow">.*?</section>', html, re.S).group(0)
    assert "I morgon kl. 07:00" in tomorrow and "2025-01-16 07:00" in tomorrow
    row = re.search(r'<tr data-id="03">(.*?)</tr>', tomorrow, re.S).group(1)
    assert re.findall(r'data-field="(\w+)">([^<]*)<', row) == [
        ("occupancy_pct", "140,0 %"), ("tomorrow_occupancy_pct", "90,0 %"), ("free", "0"), ("tomorrow_free", "1"),
        ("overcrowded", "4"), ("tomorrow_overcrowded", "0")]


def test_the_report_forecasts_tomorrow_morning_from_the_wards_now(server):
    # The wards have not moved since they were declared (the observation wards' last patients came minutes
    # ago): each is forecast to stay as it is now, so tomorrow's region figures are status's now.
    from web.access import Scope, Viewer
    from web.morning import build_morning_report

    policy = ViewPolicy()
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=1))).date()  # CET: the test runs in November
    rep = build_morning_report(server.db, today, policy, Scope(Viewer("admin", "admin"), 4))
    assert rep.tomorrow_at == dt.datetime.combine(today + dt.timedelta(days=1), dt.time(7),
                                                  dt.timezone(dt.timedelta(hours=1)))
    now = {r["id"]: r for r in json.loads(server.call("GET", "/api/v1/status?level=region", ADMIN)[1])["rows"]}
    for r in rep.regions:
        assert (r.tomorrow.occupied, r.tomorrow.free, r.tomorrow.overcrowded) == (
            now[r.code]["occupied"], now[r.code]["free_beds"], now[r.code]["overcrowded"]), r.code
    assert rep.nation_tomorrow.free == sum(r.tomorrow.free for r in rep.regions)

