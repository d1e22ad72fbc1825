"""The morning report's data: the 07:00 picture (Europe/Stockholm) of every region and hospital from the
ward status history, the previous morning beside it, and the data gaps. Rendering is web/report.py."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from bedflow.config import Config
from bedflow.settings import Settings
from sinks.clickhouse import ClickHouse
from schemas import reference
from web import queries
from web.report import DataGap, Figures, HospitalRow, MorningReport, RegionRow
from web.status import Viewer, status_rows, suppress


def picture_instant(day: dt.date, settings: Settings) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(settings.morning_hour), ZoneInfo(settings.timezone))


def _figures(row: dict | None) -> Figures | None:
    if row is None:
        return None
    return Figures(staffed=row["staffed_beds"], occupied=row["occupied"], free=row["free_beds"],
                   occupancy_pct=row["occupancy_pct"], overcrowded=row["overcrowded"], outliers=row["outliers"],
                   discharge_ready=row["discharge_ready"], escalation_level=row["escalation_level"],
                   escalation_rule=row["escalation_rule"])


def _when(iso: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(iso) if iso else None


def build_morning_report(db: ClickHouse, day: dt.date, settings: Settings, config: Config,
                         viewer: Viewer | None = None) -> MorningReport:
    viewer = viewer or Viewer("national")
    at = picture_instant(day, settings)
    before = at - dt.timedelta(days=1)
    stale_after = dt.timedelta(minutes=settings.stale_after_minutes)

    seen = {when: queries.senders_last_seen(db, when, within=stale_after) for when in (at, before)}

    def rows(wards, level, when):
        r = status_rows(wards, level, when, stale_after=stale_after, escalation=config.escalation,
                        senders=seen[when])
        return {x["id"]: x for x in suppress(r, level, viewer, settings.small_count_threshold)}

    today_w, yday_w = queries.wards_at(db, at), queries.wards_at(db, before)
    nation, nation_y = rows(today_w, "nation", at), rows(yday_w, "nation", before)
    regions, regions_y = rows(today_w, "region", at), rows(yday_w, "region", before)
    hospitals, hospitals_y = rows(today_w, "hospital", at), rows(yday_w, "hospital", before)
    wards = rows(today_w, "ward", at)

    region_rows = []
    for code, r in sorted(regions.items()):
        hs = [HospitalRow(id=h["id"], name=h["name"], today=_figures(h), yesterday=_figures(hospitals_y.get(hid)),
                          stale=h["stale"], last_event_at=_when(h["last_event_at"]))
              for hid, h in sorted(hospitals.items()) if h["region_code"] == code]
        ref = reference.regions().get(code)
        region_rows.append(RegionRow(code=code, name=r["name"], today=_figures(r), yesterday=_figures(regions_y.get(code)),
                                     hospitals=hs, healthcare_regions=ref.healthcare_regions if ref else (),
                                     stale=r["stale"], last_event_at=_when(r["last_event_at"]), coverage=r["coverage"]))
    gaps = [DataGap("region", code, reference.regions()[code].name, code, None, "no ward status at all")
            for code in sorted(reference.regions()) if code not in regions]
    gaps += [DataGap("ward", w["id"], w["name"], w["region_code"], _when(w["last_event_at"]),
                     f"no event for more than {settings.stale_after_minutes} min before the picture")
             for w in wards.values() if w["stale"]]
    n = nation.get("SE")
    return MorningReport(
        date=day, picture_at=at, regions=region_rows,
        nation=_figures(n) or Figures.of(0, 0), nation_yesterday=_figures(nation_y.get("SE")),
        data_gaps=gaps, coverage=n["coverage"] if n else 0.0,
        generated_at=dt.datetime.now(dt.timezone.utc))


def report_to_pdf(settings: Settings, config: Config, day: dt.date, out: Path) -> Path:
    from web.pdf import html_to_pdf
    from web.report import render_morning_report

    db = ClickHouse(settings.resolved_clickhouse_dsn())
    try:
        db.migrate()
        html = render_morning_report(build_morning_report(db, day, settings, config))
    finally:
        db.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    html_to_pdf(html, out)
    return out
