"""Room nearby, by need, as a viewer sees it (GET /api/v1/room-nearby, the page's need / offer panel and the
morning report): the ranking of streams/domain/room.py over the current wards, the forecast free beds for
tomorrow morning beside today's (streams/domain/forecast.py through web/forecast.py), and the scope and
small-number suppression of /api/v1/status. No I/O: the caller reads the wards, the served codes
(sinks/room.py), the senders and the forecast history."""
from __future__ import annotations

import datetime as dt
from typing import Callable
from zoneinfo import ZoneInfo

from schemas import reference
from streams.domain import forecast as fc
from streams.domain import room
from web import forecast as forecast_view
from web import texts
from web.access import BadRequest
from web.suppression import small

REGION_FIELDS = ("rank", "region_code", "name", "relation", "travel_order", "free_beds", "overcrowded",
                 "free_beds_specialty", "wards_with_room", "forecast_free_beds", "forecast_overcrowded")
WARD_FIELDS = ("rank", "region_code", "hospital_id", "hospital_name", "ward_id", "ward_name", "relation", "match",
               "staffed_beds", "free_beds", "overcrowded", "forecast_free_beds")
NEED_FIELDS = ("level", "id", "name", "region_code", "kind", "mvo_codes", "mvo_groups", "free_beds", "overcrowded",
               "shortage", "forecast_free_beds", "forecast_overcrowded")


def tomorrow_morning(now: dt.datetime, tz: str, hour: int) -> dt.datetime:
    """Tomorrow at `hour`:00 local time (the capacity meeting's morning), as an instant."""
    local = now.astimezone(ZoneInfo(tz)).date() + dt.timedelta(days=1)
    return dt.datetime.combine(local, dt.time(hour), ZoneInfo(tz))


def hours_ahead(now: dt.datetime, target: dt.datetime) -> int | None:
    """The forecast hour index (1..MAX_HOURS) that ends at `target`, counted from the hour `now` is in;
    None when the target is not a whole hour ahead within the forecast's reach."""
    k = (target - fc.floor_hour(now)) / fc.HOUR
    return int(k) if k == int(k) and 1 <= k <= fc.MAX_HOURS else None


def ward_forecast(history: forecast_view.History | None, wards: list[dict], now: dt.datetime, tz: str,
                  k: int | None) -> dict[str, dict[str, float]]:
    """ward_id → its forecast at the end of forecast hour k (`occupied`, `free_beds`, `overcrowded`), as
    /api/v1/forecast computes it for the ward (the same model and function, unsuppressed: the caller sums
    it to region level or hides it); wards without history are left out."""
    if history is None or k is None or not wards:
        return {}
    answer = forecast_view.forecast_answer(history, wards, "ward", None, None, k, now, tz, 0, lambda region: True,
                                           set())
    return {s["id"]: {f: s[f][k - 1] for f in ("occupied", "free_beds", "overcrowded")} for s in answer["series"]}


def _sum_forecast(wards: list[dict], forecast: dict[str, dict[str, float]]
                  ) -> tuple[float | None, float | None]:
    """Free beds and overcrowding forecast for wards (each ward's, summed apart: never netted)."""
    if not wards or any(w["ward_id"] not in forecast for w in wards):
        return None, None
    return (round(sum(forecast[w["ward_id"]]["free_beds"] for w in wards), 1),
            round(sum(forecast[w["ward_id"]]["overcrowded"] for w in wards), 1))


def find_unit(wards: list[dict], unit: str) -> tuple[str, list[dict]]:
    """The asking unit: ('ward', [it]), ('hospital', its wards) or ('region', its wards) for a region code."""
    ws = [w for w in wards if w["ward_id"] == unit]
    if ws:
        return "ward", ws
    ws = [w for w in wards if w["hospital_id"] == unit]
    if ws:
        return "hospital", ws
    if unit in reference.regions():
        return "region", [w for w in wards if w["region_code"] == unit]
    raise BadRequest.text("api.unit.unknown")


def need_for(level: str, unit: str, unit_wards: list[dict], served: dict, kind: str | None,
             mvo: str | None) -> room.Need:
    if level == "ward":
        return room.ward_need(unit_wards[0], served, kind, mvo)
    if level == "hospital":
        return room.hospital_need(unit_wards, kind, mvo)
    return room.Need(unit, kind or "somatic", frozenset({mvo}) if mvo else frozenset())


def region_offers(need: room.Need, wards: list[dict], served: dict, fresh: Callable,
                  forecast: dict[str, dict[str, float]], threshold: int, open_region: Callable[[str], bool]) -> list[dict]:
    """The region-level offers (every viewer): rank_regions with the forecast beside, and in each region the
    viewer does not see in full, an overcrowding of 1..threshold patients hidden — or whose complement in the
    region's published total (status's region row; for ICU the ICU picture's) is 1..threshold. The asking
    hospital's own region is offered at region level only to a viewer who sees that region in full."""
    offers = room.rank_regions(need, wards, served, fresh)
    if need.hospital_id is not None and not open_region(need.region_code):
        # the asking region's own offer is that region less the asking hospital: beside the region's published
        # total it would give the hospital's figures back (capacity detail, and counts status hides) — so only
        # for viewers who see that region in full; the others get its wards as ward offers (detail grant)
        offers = [{**o, "rank": i + 1} for i, o in enumerate(o for o in offers if o["region_code"] != need.region_code)]
    for o in offers:
        members = [w for w in wards if w["region_code"] == o["region_code"] and room.fits_kind(need, w)
                   and fresh(w) and room.not_the_asking_unit(need, w)]
        o["forecast_free_beds"], o["forecast_overcrowded"] = _sum_forecast(members, forecast)
        if not open_region(o["region_code"]):
            total = sum(room.overcrowded(w) for w in wards if w["region_code"] == o["region_code"]
                        and (w.get("ward_kind") == room.ICU) == (need.kind == room.ICU))
            if small(o["overcrowded"], threshold) or small(total - o["overcrowded"], threshold):
                o["overcrowded"] = o["forecast_overcrowded"] = None
    return offers


def region_need(code: str, kind: str, wards: list[dict], forecast: dict[str, dict[str, float]],
                threshold: int, open_region: Callable[[str], bool]) -> dict:
    """A whole region's need of one kind (its wards of the kind: free beds and overcrowding now, side by side,
    the shortage its own free beds cannot take, and tomorrow's forecast), region-level figures every viewer
    may see — the overcrowding hidden as a region offer's is (region_offers)."""
    mine = [w for w in wards if w["region_code"] == code and room.fits_kind(room.Need(code, kind), w)]
    free, over = sum(room.free_beds(w) for w in mine), sum(room.overcrowded(w) for w in mine)
    ff, fo = _sum_forecast(mine, forecast)
    out = {"name": reference.regions()[code].name, "free_beds": free, "overcrowded": over,
           "shortage": max(0, over - free), "forecast_free_beds": ff, "forecast_overcrowded": fo}
    if not open_region(code):
        total = sum(room.overcrowded(w) for w in wards if w["region_code"] == code
                    and (w.get("ward_kind") == room.ICU) == (kind == room.ICU))
        if small(over, threshold) or small(total - over, threshold):
            out.update(overcrowded=None, shortage=None, forecast_overcrowded=None)
    return out


def room_answer(wards: list[dict], served: dict, unit: str, kind: str | None, mvo: str | None, now: dt.datetime,
                *, fresh: Callable, detail: bool, own: Callable[[list[dict]], list[dict]],
                detail_rows_of: Callable[[list[dict]], dict], history: forecast_view.History | None,
                tz: str, morning_hour: int, threshold: int, open_region: Callable[[str], bool]) -> dict:
    """The answer for one asking unit. `detail`: the viewer has the detail grant (ward offers and the unit's
    own figures; `own` narrows wards to its scope, `detail_rows_of` gives status's suppressed hospital and
    ward rows for them); without it, region-level offers only."""
    level, unit_wards = find_unit(wards, unit)
    need = need_for(level, unit, unit_wards, served, kind, mvo)
    target = tomorrow_morning(now, tz, morning_hour)
    k = hours_ahead(now, target)
    forecast = ward_forecast(history, wards, now, tz, k)

    seen = own(wards) if detail else []
    status = detail_rows_of(seen) if detail else {"hospital": [], "ward": []}
    hidden_now = {(kind_, r["id"]) for kind_, lv in (("h", "hospital"), ("w", "ward"))
                  for r in status[lv] if r.get("occupied") is None}

    def forecast_of(lv: str) -> dict[str, dict]:
        """The forecast hour k of each unit at level `lv` as /api/v1/forecast shows it to this viewer."""
        if history is None or k is None:
            return {}
        answer = forecast_view.forecast_answer(history, seen, lv, None, None, k, now, tz, threshold, open_region,
                                               hidden_now)
        return {s["id"]: {f: s[f][k - 1] for f in ("free_beds", "overcrowded")} for s in answer["series"]}

    need_row = {"level": level, "id": unit, "name": None, "region_code": need.region_code, "kind": need.kind,
                "mvo_codes": sorted(need.mvo_codes), "mvo_groups": sorted(need.mvo_groups),
                "free_beds": None, "overcrowded": None, "shortage": None,
                "forecast_free_beds": None, "forecast_overcrowded": None}
    if level == "region":
        need_row.update(region_need(unit, need.kind, unit_wards, forecast, threshold, open_region))
    elif detail:  # a ward or hospital: its figures as status and the forecast show them to this viewer
        shown = {r["id"]: r for r in status[level]}.get(unit)
        if shown is not None:
            free, over = shown["free_beds"], shown["overcrowded"]
            f = forecast_of(level).get(unit, {})
            need_row.update(name=shown["name"], free_beds=free, overcrowded=over,
                            shortage=None if free is None or over is None else max(0, over - free),
                            forecast_free_beds=f.get("free_beds"), forecast_overcrowded=f.get("overcrowded"))

    ward_offers = None
    if detail:
        rows = {r["id"]: r for r in status["ward"]}
        f_of = forecast_of("ward")
        # A ward whose occupancy status hides from this viewer is no ward offer: being offered would tell that
        # it has a free bed, and its place among the others how many (its free beds count in its region's offer)
        shown = [o for o in room.rank_wards(need, seen, served, fresh)
                 if rows.get(o["ward_id"], {}).get("occupied", 0) is not None]
        ward_offers = [{**{f: o.get(f) for f in WARD_FIELDS}, "rank": i + 1,
                        "forecast_free_beds": f_of.get(o["ward_id"], {}).get("free_beds")} for i, o in enumerate(shown)]
    return {"unit": unit, "need": need_row, "at": now, "forecast_at": target if forecast else None,
            "timezone": tz, "regions": region_offers(need, wards, served, fresh, forecast, threshold, open_region),
            "wards": ward_offers, "rules": RULES}


RULES = [texts.paired(f"api.room.rule{n}") for n in range(1, 7)]
