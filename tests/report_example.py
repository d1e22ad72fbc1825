"""A made-up but plausible morning report for the renderer's tests (deterministic for a given seed).
Escalation levels come from streams.domain.escalation, as in the real report."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from schemas import reference
from streams.domain.escalation import Escalation
from web.report_model import DataGap, Figures, HospitalRow, MorningReport, RegionRow

STOCKHOLM = ZoneInfo("Europe/Stockholm")


ESCALATION = Escalation()  # the config's default thresholds: the one rule the platform uses


def _level(f: Figures) -> tuple[int, str]:
    over_per_100 = 100.0 * (f.overcrowded or 0) / f.staffed if f.staffed else 0.0
    return ESCALATION.level(f.occupancy_pct, over_per_100)


def _sum(figs: Iterable[Figures]) -> Figures:
    figs = list(figs)
    staffed = sum(f.staffed or 0 for f in figs)
    occupied = sum(f.occupied or 0 for f in figs)
    out = Figures.of(staffed, occupied, sum(f.overcrowded or 0 for f in figs), sum(f.outliers or 0 for f in figs),
                     sum(f.discharge_ready or 0 for f in figs))
    out.escalation_level, out.escalation_rule = _level(out)
    return out


HOSPITAL_NAMES = {
    "01": ["Karolinska Universitetssjukhuset", "Södersjukhuset", "Danderyds sjukhus"],
    "12": ["Skånes universitetssjukhus", "Helsingborgs lasarett", "Centralsjukhuset Kristianstad"],
    "14": ["Sahlgrenska Universitetssjukhuset", "NU-sjukvården", "Skaraborgs sjukhus"],
}

# Target occupancy per region for the example (made up): a crowded capital, a few busy regions.
_TARGET = {"01": 1.035, "03": 0.985, "04": 0.93, "09": 0.97, "12": 0.95, "22": 0.99, "25": 0.88}


def example_report(seed: int = 7) -> MorningReport:
    """A made-up but plausible report for tests and development (deterministic for a given seed)."""
    rnd = random.Random(seed)
    ref = reference.regions()
    day = date(2025, 1, 15)
    picture = datetime(day.year, day.month, day.day, 7, 0, tzinfo=STOCKHOLM)
    regions: list[RegionRow] = []
    gaps: list[DataGap] = []
    for code, reg in ref.items():
        names = HOSPITAL_NAMES.get(code) or [f"Länssjukhuset {reg.short_name}", f"Lasarettet i {reg.short_name}"]
        if reg.staffed_beds_2015 < 400:
            names = names[:1]
        weights = [rnd.uniform(0.5, 1.0) for _ in names]
        weights[0] *= 1.8
        total_w = sum(weights)
        target = _TARGET.get(code, rnd.uniform(0.86, 0.95))
        hospitals = []
        for i, (hname, w) in enumerate(zip(names, weights)):
            staffed = max(40, round(reg.staffed_beds_2015 * 0.93 * w / total_w))
            occ = round(staffed * (target + rnd.uniform(-0.025, 0.025)))
            y_staffed = staffed + rnd.choice([0, 0, 2, -3, 4])
            y_occ = occ - rnd.randint(-18, 22)
            # Some wards overcrowded while others have free beds: the hospital has both (free beds then
            # follow: free − overcrowded = staffed − occupied, summed over the same wards).
            t = Figures.of(staffed, occ, max(0, occ - staffed) + rnd.randint(0, 4), round(staffed * rnd.uniform(.01, .03)),
                           round(staffed * rnd.uniform(.03, .06)))
            y = Figures.of(y_staffed, y_occ, max(0, y_occ - y_staffed) + rnd.randint(0, 4),
                           round(y_staffed * rnd.uniform(.01, .03)), round(y_staffed * rnd.uniform(.03, .06)))
            t.escalation_level, t.escalation_rule = _level(t)
            y.escalation_level, y.escalation_rule = _level(y)
            hid = f"SE2321000{code}{i + 1}-H{i + 1}"
            stale = code == "25" and i == 1
            last = picture - (timedelta(hours=5, minutes=12) if stale else timedelta(seconds=rnd.randint(2, 90)))
            hospitals.append(HospitalRow(hid, hname, t, y, stale, last))
            if stale:
                gaps.append(DataGap("hospital", hid, hname, code, last,
                                    "inga ADT-händelser sedan natten / no ADT events since the night"))
        today = _sum(h.today for h in hospitals)
        yday = _sum(h.yesterday for h in hospitals if h.yesterday)
        stale_region = code == "09"
        last = picture - (timedelta(hours=2, minutes=40) if stale_region else timedelta(seconds=rnd.randint(1, 30)))
        coverage = 0.0 if stale_region else (0.6 if code == "25" else round(rnd.uniform(0.95, 1.0), 2))
        if stale_region:
            gaps.append(DataGap("region", code, reg.name, code, last,
                                "regionens förbindelse nere / the region's link is down"))
        regions.append(RegionRow(code, reg.name, today, yday, hospitals, reg.healthcare_regions, stale_region, last,
                                 coverage))
    gaps.append(DataGap("ward", "SE2321000016-7ABC", "Avd 74 Ortopedi, Södersjukhuset", "01",
                        picture - timedelta(hours=9, minutes=30), "senaste WardCensus / last WardCensus"))
    gaps.append(DataGap("ward", "SE2321000222-IVA2", "IVA 2, Länssjukhuset Sundsvall-Härnösand", "22", None,
                        "aldrig rapporterat / never reported"))
    nation = _sum(r.today for r in regions)
    nation_y = _sum(r.yesterday for r in regions if r.yesterday)
    return MorningReport(day, picture, regions, nation, nation_y, gaps, coverage=0.94,
                         generated_at=picture + timedelta(minutes=3))
