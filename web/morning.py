"""The morning report's data: the morning picture (policy.morning_hour, local time) of every region and
hospital from the ward status history, the previous morning beside it, and the data gaps, all seen
through the viewer's scope (web/access.py) and suppression (web/suppression.py). The model is
web/report_model.py, the HTML web/report_html.py."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from schemas import reference
from sinks import queries
from sinks import room as room_sql
from sinks.clickhouse import ClickHouse
from streams.domain import room
from web import forecast as forecast_view
from web import room as room_view
from web.access import Scope
from web.policy import ViewPolicy
from web.report_model import (DataGap, Figures, HospitalRow, KindNeed, KindOffer, MorningReport, RegionRow,
                              room_near_whom)
from web.status import detail_rows, status_rows

ROOM_OFFERS = 5  # the nearest offers of each kind the report lists for a region in need


def picture_instant(day: dt.date, policy: ViewPolicy) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(policy.morning_hour), ZoneInfo(policy.timezone))


def _figures(row: dict | None) -> Figures | None:
    if row is None:
        return None
    return Figures(staffed=row["staffed_beds"], occupied=row["occupied"], free=row["free_beds"],
                   occupancy_pct=row["occupancy_pct"], overcrowded=row["overcrowded"], outliers=row["outliers"],
                   discharge_ready=row["discharge_ready"], escalation_level=row["escalation_level"],
                   escalation_rule=row["escalation_rule"])


def _when(iso: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso) if iso else None


def build_morning_report(db: ClickHouse, day: dt.date, policy: ViewPolicy, scope: Scope,
                         history: forecast_view.History | None = None) -> MorningReport:
    """Nation and regions for every viewer (aggregates); hospitals and stale wards only for a viewer
    granted capacity detail (ViewPolicy.sees_detail): a region viewer's own region, small counts hidden
    (with their complements) in the regions a viewer does not see in full. `history`: the forecast's history
    when the caller has it fresh (else it is read when tomorrow's picture time is within reach)."""
    at = picture_instant(day, policy)
    before = at - dt.timedelta(days=1)
    stale_after = dt.timedelta(minutes=policy.stale_after_minutes)
    detail = policy.sees_detail(scope.viewer)

    seen = {when: queries.senders_last_seen(db, when, within=stale_after) for when in (at, before)}

    def rows(wards, level, when):
        r = status_rows(wards, level, when, stale_after=stale_after, escalation=policy.escalation,
                        senders=seen[when])
        return {x["id"]: x for x in r}

    def detail_of(wards, when) -> dict[str, dict[str, dict]]:
        if not detail:
            return {"hospital": {}, "ward": {}}
        d = detail_rows(scope.own(wards), when, stale_after=stale_after, escalation=policy.escalation,
                        senders=seen[when], threshold=policy.small_count_threshold, leave_policy=policy.leave_policy,
                        open_region=scope.viewer.sees_detail_of)
        return {level: {x["id"]: x for x in d[level]} for level in d}

    today_w, yday_w = queries.wards_at(db, at), queries.wards_at(db, before)
    nation, nation_y = rows(today_w, "nation", at), rows(yday_w, "nation", before)
    regions, regions_y = rows(today_w, "region", at), rows(yday_w, "region", before)
    today_d, yday_d = detail_of(today_w, at), detail_of(yday_w, before)
    hospitals, hospitals_y, wards = today_d["hospital"], yday_d["hospital"], today_d["ward"]

    region_rows = []
    for code, r in sorted(regions.items()):
        hs = [HospitalRow(id=h["id"], name=h["name"], today=_figures(h), yesterday=_figures(hospitals_y.get(hid)),
                          stale=h["stale"], last_event_at=_when(h["last_event_at"]))
              for hid, h in sorted(hospitals.items()) if h["region_code"] == code]
        ref = reference.regions().get(code)
        region_rows.append(RegionRow(code=code, name=r["name"], today=_figures(r), yesterday=_figures(regions_y.get(code)),
                                     hospitals=hs, healthcare_regions=ref.healthcare_regions if ref else (),
                                     stale=r["stale"], last_event_at=_when(r["last_event_at"]), coverage=r["coverage"]))
    gaps = [DataGap("region", code, reference.regions()[code].name, code, None, note="gap.no_status")
            for code in sorted(reference.regions()) if code not in regions]
    gaps += [DataGap("ward", w["id"], w["name"], w["region_code"], _when(w["last_event_at"]),
                     note="gap.stale", params={"minutes": policy.stale_after_minutes})
             for w in wards.values() if w["stale"]]
    n = nation.get("SE")
    now = dt.datetime.now(dt.timezone.utc)
    report = MorningReport(
        date=day, picture_at=at, regions=region_rows,
        nation=_figures(n) or Figures.of(0, 0), nation_yesterday=_figures(nation_y.get("SE")),
        data_gaps=gaps, coverage=n["coverage"] if n else 0.0,
        generated_at=now, timezone=policy.timezone)
    forecast = _tomorrow(db, report, day, policy, now, history)
    fresh = lambda w: room.is_fresh(w, at, stale_after, seen[at])  # noqa: E731 — as status reads freshness
    report.room_by_need = room_by_need(report, today_w, room_sql.served_codes(db), fresh, forecast,
                                       policy.small_count_threshold, scope.viewer.sees_detail_of)
    return report


def _tomorrow(db: ClickHouse, report: MorningReport, day: dt.date, policy: ViewPolicy, now: dt.datetime,
              history: forecast_view.History | None = None) -> dict[str, dict[str, float]]:
    """The forecast for the next day's picture time ("I morgon 07:00"), per region and the nation as the
    forecast's region rows sum it (each ward's forecast against its staffed beds now, ICU apart, free and
    overcrowded never netted), into `report`; the wards' forecasts are returned for the offers. Only while
    that instant is ahead within the forecast's reach (the model starts from the wards' state now)."""
    target = picture_instant(day + dt.timedelta(days=1), policy)
    k = room_view.hours_ahead(now, target)
    if k is None:
        return {}
    wards = queries.current_wards(db)
    history = history or forecast_view.read_history(db, now, policy.timezone)
    forecast = room_view.ward_forecast(history, wards, now, policy.timezone, k)
    if not forecast:
        return {}

    def figures(ws: list[dict]) -> Figures:
        ws = [w for w in ws if w.get("ward_kind") != "icu" and w["ward_id"] in forecast]
        staffed = sum(int(w["staffed_beds"] or 0) for w in ws)
        occ = sum(forecast[w["ward_id"]]["occupied"] for w in ws)
        return Figures(staffed=staffed, occupied=round(occ),
                       occupancy_pct=round(100.0 * occ / staffed, 1) if staffed else None,
                       free=round(sum(forecast[w["ward_id"]]["free_beds"] for w in ws)),
                       overcrowded=round(sum(forecast[w["ward_id"]]["overcrowded"] for w in ws)))

    for r in report.regions:
        r.tomorrow = figures([w for w in wards if w["region_code"] == r.code])
    report.nation_tomorrow = figures(wards)
    report.tomorrow_at = target
    return forecast


def room_by_need(report: MorningReport, wards: list[dict], served: dict, fresh,
                 forecast: dict[str, dict[str, float]], threshold: int, open_region) -> dict[str, list[KindNeed]]:
    """For each region that needs room (room_near_whom), per kind of bed it has wards of (somatic,
    psychiatric, ICU): its own free beds and overcrowding of the kind and the nearest ranked region-level
    offers (streams/domain/room.py: neighbours in travel order, then the rest of its healthcare region),
    as /api/v1/room-nearby?unit=<region>&need=<kind> gives them to this viewer."""
    out: dict[str, list[KindNeed]] = {}
    for need in room_near_whom(report):
        kinds = []
        for kind in room.NEEDS:
            if not any(w["region_code"] == need.region_code and room.fits_kind(room.Need(need.region_code, kind), w)
                       for w in wards):
                continue
            own = room_view.region_need(need.region_code, kind, wards, forecast, threshold, open_region)
            offers = room_view.region_offers(room.Need(need.region_code, kind), wards, served, fresh, forecast,
                                             threshold, open_region)[:ROOM_OFFERS]
            kinds.append(KindNeed(kind, own["free_beds"], own["overcrowded"], own["shortage"],
                                  [KindOffer(o["region_code"], o["name"], o["relation"], o["free_beds"],
                                             o["overcrowded"], o["forecast_free_beds"]) for o in offers],
                                  own["forecast_free_beds"], own["forecast_overcrowded"]))
        out[need.region_code] = kinds
    return out
