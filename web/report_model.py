"""The morning report's model: what the report shows, as plain dataclasses, and the one piece of
reasoning in it (room near whom). No I/O: web/morning.py fills it from ClickHouse, web/report_html.py
renders it, tests/report_example.py makes up one for tests."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from schemas import reference
from web.texts import paired


@dataclass
class Figures:
    """Bed figures of one unit (hospital, region, nation) at one instant. `None` = not known/suppressed."""
    staffed: int | None = None            # disponibla vårdplatser
    occupied: int | None = None           # belagda vårdplatser (under the leave policy)
    free: int | None = None               # lediga: Σ over wards of max(0, staffed − occupied), never netted
    occupancy_pct: float | None = None    # beläggning = occupied / staffed × 100
    overcrowded: int | None = None        # överbeläggningar: Σ over wards of max(0, occupied − staffed)
    outliers: int | None = None           # utlokaliserade patienter
    discharge_ready: int | None = None    # utskrivningsklara
    escalation_level: int | None = None   # 1..4
    escalation_rule: str | None = None    # which threshold fired

    @classmethod
    def of(cls, staffed: int, occupied: int, overcrowded: int | None = None, outliers: int | None = None,
           discharge_ready: int | None = None, escalation_level: int | None = None,
           escalation_rule: str | None = None) -> "Figures":
        """Build from staffed, occupied and overcrowded, deriving free beds and occupancy %. Summed over the
        same wards, free − overcrowded = staffed − occupied (each ward has one or the other), so free beds
        follow from the overcrowding; without it only a single ward's max(0, staffed − occupied) is known."""
        pct = round(occupied / staffed * 100, 1) if staffed else None
        free = staffed - occupied + overcrowded if overcrowded is not None else max(0, staffed - occupied)
        return cls(staffed, occupied, free, pct, overcrowded, outliers, discharge_ready,
                   escalation_level, escalation_rule)

    @property
    def shortage(self) -> int | None:
        """Overcrowded patients beyond the unit's own free beds (0 when its free beds would take them all):
        the shortfall that needs room elsewhere. A decision figure, never shown in place of free beds."""
        if self.free is None or self.overcrowded is None:
            return None
        return max(0, self.overcrowded - self.free)

    @property
    def spare(self) -> int | None:
        """Free beds left once the unit's own overcrowded patients had one: what it can offer others."""
        if self.free is None or self.overcrowded is None:
            return None
        return max(0, self.free - self.overcrowded)


@dataclass
class HospitalRow:
    id: str                                 # HSA-id of the hospital
    name: str
    today: Figures                          # the morning picture
    yesterday: Figures | None = None        # the previous morning's picture
    stale: bool = False
    last_event_at: datetime | None = None


@dataclass
class RegionRow:
    code: str                               # "01".."25"
    name: str
    today: Figures
    yesterday: Figures | None = None
    hospitals: list[HospitalRow] = field(default_factory=list)
    healthcare_regions: tuple[str, ...] = ()  # empty → taken from schemas.reference
    stale: bool = False
    last_event_at: datetime | None = None
    coverage: float | None = None           # 0..1 share of the region's wards that are fresh
    tomorrow: Figures | None = None         # the forecast for tomorrow morning (None: no forecast)


@dataclass
class DataGap:
    level: str                              # "region" | "hospital" | "ward" | "sender"
    id: str
    name: str
    region_code: str
    last_seen: datetime | None              # last event received (None: never)
    detail: str = ""                        # a free note (a sender's own words)
    note: str = ""                          # or a key in web/texts.json, said with `params`
    params: dict = field(default_factory=dict)


@dataclass
class MorningReport:
    date: date
    picture_at: datetime                    # the morning picture on `date` (tz-aware, e.g. 07:00 local)
    regions: list[RegionRow]
    nation: Figures
    nation_yesterday: Figures | None = None
    data_gaps: list[DataGap] = field(default_factory=list)
    coverage: float | None = None           # 0..1 share of the country's wards that are fresh
    generated_at: datetime | None = None
    title: str = "Morgonrapport"
    timezone: str = "Europe/Stockholm"      # local times in the report are shown in this zone
    tomorrow_at: datetime | None = None     # the forecast's instant (tomorrow's picture time); None: no forecast
    nation_tomorrow: Figures | None = None
    room_by_need: dict[str, list["KindNeed"]] = field(default_factory=dict)  # region code → its needs by kind


@dataclass
class RoomOption:
    region_code: str
    name: str
    free: int
    occupancy_pct: float | None
    escalation_level: int | None
    relation: str                           # "neighbour" | "healthcare_region"
    overcrowded: int = 0                    # its own overcrowded patients (they come first)
    spare: int = 0                          # free − overcrowded > 0: what it can offer


@dataclass
class RoomNeed:
    region_code: str
    name: str
    escalation_level: int | None
    free: int | None
    neighbours: list[RoomOption]            # neighbouring regions (regions.csv) with spare beds, most first
    healthcare_region: list[RoomOption]     # the rest of its healthcare region(s) with spare beds
    overcrowded: int | None = None
    shortage: int | None = None             # overcrowded beyond its own free beds


@dataclass
class KindOffer:
    """A region's offer of one kind of bed (streams/domain/room.py's region-level offer)."""
    region_code: str
    name: str
    relation: str                           # "region" | "neighbour" | "healthcare_region"
    free: int                               # free beds of the kind (Σ over its wards), never netted
    overcrowded: int | None                 # its overcrowding of the kind beside (None: hidden)
    forecast_free: float | None = None      # free beds forecast for tomorrow morning


@dataclass
class KindNeed:
    """A region's need of one kind of bed (somatic, psychiatric, ICU) and the ranked offers near it."""
    kind: str                               # "somatic" | "psychiatric" | "icu"
    free: int | None
    overcrowded: int | None
    shortage: int | None
    offers: list[KindOffer] = field(default_factory=list)
    forecast_free: float | None = None
    forecast_overcrowded: float | None = None


KIND_NAMES = {kind: paired(f"room.{kind}") for kind in ("somatic", "psychiatric", "icu")}  # "Somatik / Somatic"


# =============================================================================== room near whom

def needs_room(f: Figures) -> bool:
    """Escalation level 3 or more, or more overcrowded patients than free beds (a shortage the region's
    own free beds cannot cover: what "negative free beds" meant before free beds stopped being netted)."""
    return (f.escalation_level or 0) >= 3 or (f.shortage or 0) > 0


def room_near_whom(report: MorningReport) -> list[RoomNeed]:
    """For each region with escalation ≥ 3 or a shortage: neighbouring regions with spare beds
    (regions.csv neighbours), then the rest of its healthcare region(s) with spare beds. Stale regions are
    not offered as room (their numbers cannot be trusted)."""
    ref = reference.regions()
    by_code = {r.code: r for r in report.regions}

    def hcrs(r: RegionRow) -> tuple[str, ...]:
        if r.healthcare_regions:
            return r.healthcare_regions
        return ref[r.code].healthcare_regions if r.code in ref else ()

    def option(r: RegionRow, relation: str) -> RoomOption | None:
        f = r.today
        if r.stale or not f.spare:
            return None
        return RoomOption(r.code, r.name, f.free, f.occupancy_pct, f.escalation_level, relation,
                          f.overcrowded, f.spare)

    needs: list[RoomNeed] = []
    for r in sorted(report.regions, key=lambda r: (-(r.today.escalation_level or 0), -(r.today.shortage or 0))):
        f = r.today
        if not needs_room(f):
            continue
        nb_codes = ref[r.code].neighbours if r.code in ref else ()
        nbs = [o for c in nb_codes if c in by_code and (o := option(by_code[c], "neighbour"))]
        nbs.sort(key=lambda o: -o.spare)
        mine = set(hcrs(r))
        taken = {r.code, *nb_codes}
        rest = [o for other in report.regions
                if other.code not in taken and mine & set(hcrs(other)) and (o := option(other, "healthcare_region"))]
        rest.sort(key=lambda o: -o.spare)
        needs.append(RoomNeed(r.code, r.name, f.escalation_level, f.free, nbs, rest, f.overcrowded, f.shortage))
    return needs
