"""The morning report (morgonrapport) for the daily capacity-balancing meeting: a printable HTML page.

`render_morning_report(report)` is a pure function of a `MorningReport`: no I/O, no clock, no database.
Whoever builds the report (the API, a CLI, a scheduled job) fills the dataclasses below from the 07:00
picture and the previous morning's picture; `example_report()` builds one with made-up data.

Sections (each starts on a new A4 page when printed):
  1. Nationell sammanfattning / National summary  (key figures, occupancy chart with the 100 % line)
  2. Plats nära vem / Room near whom             (regions in need → neighbours with free beds, then the
                                                   rest of their healthcare region)
  3. Regioner / Regions                           (table with change since yesterday, change chart)
  4. Per sjukhus / Per hospital
  5. Dataluckor / Data gaps
"""
from __future__ import annotations

import html as _html
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterable

try:
    from zoneinfo import ZoneInfo

    STOCKHOLM = ZoneInfo("Europe/Stockholm")
except Exception:  # pragma: no cover - no tzdata on the machine
    STOCKHOLM = timezone(timedelta(hours=1), "CET")

__all__ = [
    "Figures", "HospitalRow", "RegionRow", "DataGap", "MorningReport", "RoomOption", "RoomNeed",
    "room_near_whom", "render_morning_report", "example_report",
]


# =============================================================================== data model

@dataclass
class Figures:
    """Bed figures of one unit (hospital, region, nation) at one instant. `None` = not known/suppressed."""
    staffed: int | None = None            # disponibla vårdplatser
    occupied: int | None = None           # belagda vårdplatser (under the leave policy)
    free: int | None = None               # lediga = staffed − occupied (may be negative)
    occupancy_pct: float | None = None    # beläggning = occupied / staffed × 100
    overcrowded: int | None = None        # överbeläggningar
    outliers: int | None = None           # utlokaliserade patienter
    discharge_ready: int | None = None    # utskrivningsklara
    escalation_level: int | None = None   # 1..4
    escalation_rule: str | None = None    # which threshold fired

    @classmethod
    def of(cls, staffed: int, occupied: int, overcrowded: int | None = None, outliers: int | None = None,
           discharge_ready: int | None = None, escalation_level: int | None = None,
           escalation_rule: str | None = None) -> "Figures":
        """Build from staffed and occupied, deriving free beds and occupancy %."""
        pct = round(occupied / staffed * 100, 1) if staffed else None
        return cls(staffed, occupied, staffed - occupied, pct, overcrowded, outliers, discharge_ready,
                   escalation_level, escalation_rule)


@dataclass
class HospitalRow:
    id: str                                 # HSA-id of the hospital
    name: str
    today: Figures                          # the 07:00 picture
    yesterday: Figures | None = None        # the previous morning's 07:00 picture
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


@dataclass
class DataGap:
    level: str                              # "region" | "hospital" | "ward" | "sender"
    id: str
    name: str
    region_code: str
    last_seen: datetime | None              # last event received (None: never)
    detail: str = ""


@dataclass
class MorningReport:
    date: date
    picture_at: datetime                    # 07:00 Europe/Stockholm on `date` (tz-aware)
    regions: list[RegionRow]
    nation: Figures
    nation_yesterday: Figures | None = None
    data_gaps: list[DataGap] = field(default_factory=list)
    coverage: float | None = None           # 0..1 share of the country's wards that are fresh
    generated_at: datetime | None = None
    title: str = "Morgonrapport"


@dataclass
class RoomOption:
    region_code: str
    name: str
    free: int
    occupancy_pct: float | None
    escalation_level: int | None
    relation: str                           # "neighbour" | "healthcare_region"


@dataclass
class RoomNeed:
    region_code: str
    name: str
    escalation_level: int | None
    free: int | None
    reason: str
    neighbours: list[RoomOption]            # neighbouring regions (regions.csv) with free beds, most first
    healthcare_region: list[RoomOption]     # the rest of its healthcare region(s) with free beds


# =============================================================================== room near whom

def _reference_regions() -> dict:
    try:
        from schemas.reference import regions
        return regions()
    except Exception:  # pragma: no cover - reference data unavailable
        return {}


def _needs_room(f: Figures) -> bool:
    return (f.escalation_level or 0) >= 3 or (f.free is not None and f.free < 0)


def room_near_whom(report: MorningReport) -> list[RoomNeed]:
    """For each region with escalation ≥ 3 or negative free beds: neighbouring regions with free beds
    (regions.csv neighbours), then the rest of its healthcare region(s) with free beds. Stale regions are
    not offered as room (their numbers cannot be trusted)."""
    ref = _reference_regions()
    by_code = {r.code: r for r in report.regions}

    def hcrs(r: RegionRow) -> tuple[str, ...]:
        if r.healthcare_regions:
            return r.healthcare_regions
        return ref[r.code].healthcare_regions if r.code in ref else ()

    def option(r: RegionRow, relation: str) -> RoomOption | None:
        f = r.today
        if r.stale or f.free is None or f.free <= 0:
            return None
        return RoomOption(r.code, r.name, f.free, f.occupancy_pct, f.escalation_level, relation)

    needs: list[RoomNeed] = []
    for r in sorted(report.regions, key=lambda r: (-(r.today.escalation_level or 0), r.today.free or 0)):
        f = r.today
        if not _needs_room(f):
            continue
        reasons = []
        if (f.escalation_level or 0) >= 3:
            reasons.append(f"nivå / level {f.escalation_level}")
        if f.free is not None and f.free < 0:
            reasons.append(f"{_signed(f.free)} lediga / free beds")
        nb_codes = ref[r.code].neighbours if r.code in ref else ()
        nbs = [o for c in nb_codes if c in by_code and (o := option(by_code[c], "neighbour"))]
        nbs.sort(key=lambda o: -o.free)
        mine = set(hcrs(r))
        taken = {r.code, *nb_codes}
        rest = [o for other in report.regions
                if other.code not in taken and mine & set(hcrs(other)) and (o := option(other, "healthcare_region"))]
        rest.sort(key=lambda o: -o.free)
        needs.append(RoomNeed(r.code, r.name, f.escalation_level, f.free, ", ".join(reasons), nbs, rest))
    return needs


# =============================================================================== formatting

NNBSP = "\u202f"   # narrow no-break space: Swedish thousands separator
MINUS = "\u2212"


def _e(s: object) -> str:
    return _html.escape("" if s is None else str(s), quote=True)


def _int(v: int | None, dash: str = "–") -> str:
    if v is None:
        return dash
    s = f"{abs(int(v)):,}".replace(",", NNBSP)
    return (MINUS + s) if v < 0 else s


def _pct(v: float | None, digits: int = 1) -> str:
    if v is None:
        return "–"
    s = f"{abs(v):.{digits}f}".replace(".", ",")
    return f"{MINUS if v < 0 else ''}{s} %"


def _signed(v: int | float | None, digits: int = 0, unit: str = "") -> str:
    if v is None:
        return "–"
    if abs(v) < (0.5 if digits == 0 else 0.5 * 10 ** -digits):
        return "±0" + unit
    body = _int(abs(round(v))) if digits == 0 else f"{abs(v):.{digits}f}".replace(".", ",")
    return ("+" if v > 0 else MINUS) + body + unit


def _delta(today: int | float | None, yesterday: int | float | None) -> int | float | None:
    if today is None or yesterday is None:
        return None
    return today - yesterday


def _local(dt: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if dt is None:
        return "–"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(STOCKHOLM).strftime(fmt)


def _age(dt: datetime | None, ref: datetime) -> str:
    if dt is None:
        return "aldrig / never"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    s = (ref - dt).total_seconds()
    if s < 3600:
        return f"{max(0, round(s / 60))} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h".replace(".", ",")
    return f"{round(s / 86400)} d"


def _occ_class(p: float | None) -> str:
    if p is None:
        return "na"
    if p > 100:
        return "over"
    if p >= 95:
        return "high"
    if p >= 85:
        return "mid"
    return "ok"


ESC_COLOURS = {1: "#2e7d32", 2: "#f2c200", 3: "#ef6c00", 4: "#c62828"}
OCC_COLOURS = {"ok": "#2e7d32", "mid": "#d6a800", "high": "#e46c0a", "over": "#c62828", "na": "#9aa4ae"}
ESC_NAMES = {1: "Normal", 2: "Förhöjd / Elevated", 3: "Hög / High", 4: "Kritisk / Critical"}


def _badge(level: int | None, rule: str | None = None) -> str:
    if level is None:
        return '<span class="badge esc-na">–</span>'
    title = f' title="{_e(rule)}"' if rule else ""
    return f'<span class="badge esc-{int(level)}"{title}>{int(level)}</span>'


# Columns of the comparison tables: (attribute, Swedish, English, "higher is worse")
COLUMNS = [
    ("staffed", "Vårdplatser", "Staffed beds", False),
    ("occupied", "Belagda", "Occupied", True),
    ("free", "Lediga", "Free", False),
    ("occupancy_pct", "Beläggning", "Occupancy", True),
    ("overcrowded", "Överbeläggningar", "Overcrowded", True),
    ("outliers", "Utlokaliserade", "Outliers", True),
    ("discharge_ready", "Utskrivningsklara", "Discharge-ready", True),
]


def _value_cell(attr: str, today: Figures, yesterday: Figures | None, worse_up: bool) -> str:
    v = getattr(today, attr)
    y = getattr(yesterday, attr) if yesterday is not None else None
    d = _delta(v, y)
    if attr == "occupancy_pct":
        main = _pct(v)
        ch = _signed(d, 1, " pp") if d is not None else "–"
    else:
        main = _int(v)
        ch = _signed(d) if d is not None else "–"
    cls = ""
    if d is not None and abs(d) >= (0.05 if attr == "occupancy_pct" else 1):
        cls = "worse" if (d > 0) == worse_up else "better"
    neg = " neg" if attr == "free" and v is not None and v < 0 else ""
    over = " neg" if attr == "occupancy_pct" and v is not None and v > 100 else ""
    return (f'<td class="num{neg}{over}" data-field="{attr}"><span class="val">{main}</span>'
            f'<span class="chg {cls}" data-change="{attr}">{ch}</span></td>')


def _table_head(first: str) -> str:
    cols = "".join(f'<th class="num">{sv}<br><span class="en">{en}</span></th>' for _, sv, en, _w in COLUMNS)
    return (f"<thead><tr><th>{first}</th><th class=\"c\">Nivå<br><span class=\"en\">Level</span></th>{cols}"
            "</tr></thead>")


def _figure_row(name_html: str, today: Figures, yesterday: Figures | None, cls: str = "", data_id: str = "") -> str:
    cells = "".join(_value_cell(a, today, yesterday, w) for a, _sv, _en, w in COLUMNS)
    did = f' data-id="{_e(data_id)}"' if data_id else ""
    return (f'<tr class="{cls}"{did}><td class="name">{name_html}</td>'
            f'<td class="c">{_badge(today.escalation_level, today.escalation_rule)}</td>{cells}</tr>')


# =============================================================================== charts (inline SVG)

def _occupancy_chart(regions: list[RegionRow]) -> str:
    """Horizontal bars: occupancy per region today, a tick for yesterday, and the 100 % line."""
    rows = [r for r in regions]
    bar_h, gap, left, right, top = 15, 5, 150, 62, 26
    width = 680
    plot_w = width - left - right
    vmax = max([120.0] + [r.today.occupancy_pct or 0 for r in rows] + [
        (r.yesterday.occupancy_pct or 0) if r.yesterday else 0 for r in rows])
    vmax = float(int((vmax + 9.99) // 10 * 10))
    height = top + len(rows) * (bar_h + gap) + 24

    def x(v: float) -> float:
        return left + max(0.0, min(v, vmax)) / vmax * plot_w

    out = [f'<svg id="chart-occupancy" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="Beläggning per region / Occupancy per region">']
    # grid
    for g in range(0, int(vmax) + 1, 20):
        gx = x(g)
        out.append(f'<line x1="{gx:.1f}" x2="{gx:.1f}" y1="{top - 4}" y2="{height - 20}" class="grid"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 6}" class="axis" text-anchor="middle">{g} %</text>')
    for i, r in enumerate(rows):
        y = top + i * (bar_h + gap)
        p = r.today.occupancy_pct
        colour = "#b7bec6" if r.stale else OCC_COLOURS[_occ_class(p)]
        label = _e(r.name.replace("Region ", ""))
        out.append(f'<text x="{left - 8}" y="{y + bar_h - 3}" class="lbl" text-anchor="end">{label}</text>')
        if p is not None:
            out.append(f'<rect x="{left}" y="{y}" width="{x(p) - left:.1f}" height="{bar_h}" rx="2" '
                       f'fill="{colour}"><title>{label}: {_pct(p)}</title></rect>')
            out.append(f'<text x="{x(p) + 5:.1f}" y="{y + bar_h - 3}" class="val">{_pct(p)}</text>')
        if r.yesterday is not None and r.yesterday.occupancy_pct is not None:
            yx = x(r.yesterday.occupancy_pct)
            out.append(f'<line x1="{yx:.1f}" x2="{yx:.1f}" y1="{y - 2}" y2="{y + bar_h + 2}" class="yday"/>')
    x100 = x(100)
    out.append(f'<line class="line-100" x1="{x100:.1f}" x2="{x100:.1f}" y1="{top - 10}" y2="{height - 20}"/>')
    out.append(f'<text x="{x100:.1f}" y="{top - 13}" class="axis strong" text-anchor="middle">100 %</text>')
    out.append(f'<line x1="{left}" x2="{left + 14}" y1="10" y2="10" class="yday"/>'
               f'<text x="{left + 18}" y="14" class="axis">= i går / yesterday</text>')
    out.append("</svg>")
    return "".join(out)


def _change_chart(regions: list[RegionRow]) -> str:
    """Diverging bars: change in occupied beds since yesterday per region (right = more patients)."""
    data = [(r, _delta(r.today.occupied, r.yesterday.occupied if r.yesterday else None)) for r in regions]
    bar_h, gap, left, top = 15, 5, 150, 10
    width = 680
    plot_w = width - left - 60
    m = max([10] + [abs(d) for _, d in data if d is not None])
    cx = left + plot_w / 2
    height = top + len(data) * (bar_h + gap) + 22
    out = [f'<svg id="chart-change" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
           f'height="{height}" role="img" aria-label="Förändring belagda sedan i går / Change in occupied since '
           f'yesterday">']
    out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{top - 4}" y2="{height - 18}" class="axis-line"/>')
    out.append(f'<text x="{left}" y="{height - 4}" class="axis">← färre / fewer</text>')
    out.append(f'<text x="{left + plot_w}" y="{height - 4}" class="axis" text-anchor="end">fler / more →</text>')
    for i, (r, d) in enumerate(data):
        y = top + i * (bar_h + gap)
        label = _e(r.name.replace("Region ", ""))
        out.append(f'<text x="{left - 8}" y="{y + bar_h - 3}" class="lbl" text-anchor="end">{label}</text>')
        if d is None:
            out.append(f'<text x="{cx + 6:.1f}" y="{y + bar_h - 3}" class="val">–</text>')
            continue
        w = abs(d) / m * (plot_w / 2)
        if d >= 0:
            out.append(f'<rect x="{cx:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" class="up"/>')
            out.append(f'<text x="{cx + w + 5:.1f}" y="{y + bar_h - 3}" class="val">{_signed(d)}</text>')
        else:
            out.append(f'<rect x="{cx - w:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="2" class="down"/>')
            out.append(f'<text x="{cx - w - 5:.1f}" y="{y + bar_h - 3}" class="val" text-anchor="end">'
                       f'{_signed(d)}</text>')
    out.append("</svg>")
    return "".join(out)


# =============================================================================== HTML

CSS = """
@page { size: A4; margin: 14mm 12mm 14mm 12mm; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font-family: "DejaVu Sans", "Liberation Sans", system-ui, Arial, sans-serif; color: #17212b; margin: 0;
       font-size: 10pt; line-height: 1.35; background: #fff; }
.en { color: #5f6b78; font-weight: normal; }
header.report { border-bottom: 3px solid #14324f; padding-bottom: 6px; margin-bottom: 12px; }
header.report h1 { margin: 0; font-size: 20pt; color: #14324f; }
header.report .sub { font-size: 10.5pt; color: #34414e; margin-top: 2px; }
section { break-before: page; page-break-before: always; }
section:first-of-type { break-before: auto; page-break-before: auto; }
h2 { font-size: 14pt; color: #14324f; margin: 0 0 8px; border-bottom: 1px solid #cfd6de; padding-bottom: 3px; }
h3 { font-size: 11pt; margin: 12px 0 4px; color: #14324f; }
p.note { font-size: 8.5pt; color: #5f6b78; margin: 4px 0 8px; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 6px; margin: 6px 0 10px; }
.tile { border: 1px solid #d7dde4; border-radius: 6px; padding: 6px 8px; break-inside: avoid; }
.tile .k { font-size: 8pt; color: #34414e; }
.tile .v { font-size: 17pt; font-weight: bold; font-variant-numeric: tabular-nums; }
.tile .d { font-size: 8.5pt; color: #5f6b78; }
.tile.alert .v { color: #c62828; }
.summary-list { margin: 4px 0 10px 18px; padding: 0; }
.summary-list li { margin: 2px 0; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 8.5pt; }
thead { display: table-header-group; }
th { text-align: left; font-size: 7.5pt; color: #34414e; border-bottom: 1.5px solid #8996a3; padding: 3px 4px;
     vertical-align: bottom; }
td { padding: 3px 4px; border-bottom: 0.5px solid #dde2e8; vertical-align: top; }
tr { break-inside: avoid; }
th.num, td.num { text-align: right; }
th.c, td.c { text-align: center; }
td.name { font-weight: bold; }
td .val { display: block; font-size: 9.5pt; }
td .chg { display: block; font-size: 7.5pt; color: #5f6b78; }
td .chg.worse { color: #b3261e; }
td .chg.better { color: #2e7d32; }
td.neg .val { color: #c62828; font-weight: bold; }
tr.total td { border-top: 1.5px solid #14324f; font-weight: bold; background: #f1f4f7; }
tr.stale td { color: #8a939d; background: #f5f6f7; }
.stale-tag { font-size: 7pt; font-weight: bold; color: #fff; background: #8a939d; border-radius: 6px; padding: 0 4px;
             margin-left: 4px; white-space: nowrap; display: inline-block; }
.keep { break-inside: avoid; page-break-inside: avoid; }
.badge { display: inline-block; min-width: 16px; padding: 0 4px; border-radius: 8px; color: #fff; font-weight: bold;
         text-align: center; font-size: 8pt; }
.badge.esc-1 { background: #2e7d32; } .badge.esc-2 { background: #f2c200; color: #3a2e00; }
.badge.esc-3 { background: #ef6c00; } .badge.esc-4 { background: #c62828; } .badge.esc-na { background: #b7bec6; }
.chart { display: block; max-width: 100%; height: auto; margin: 4px 0 8px; font-family: inherit; }
.chart .lbl { font-size: 10px; fill: #17212b; }
.chart .val { font-size: 9.5px; fill: #34414e; font-weight: bold; }
.chart .axis { font-size: 9px; fill: #5f6b78; }
.chart .axis.strong { fill: #c62828; font-weight: bold; }
.chart .grid { stroke: #e6eaee; stroke-width: 1; }
.chart .axis-line { stroke: #8996a3; stroke-width: 1; }
.chart .line-100 { stroke: #c62828; stroke-width: 1.5; stroke-dasharray: 4 3; }
.chart .yday { stroke: #17212b; stroke-width: 2; }
.chart .up { fill: #d9822b; } .chart .down { fill: #4a90c2; }
.need { border: 1px solid #d7dde4; border-left: 5px solid #ef6c00; border-radius: 6px; padding: 6px 10px;
        margin: 0 0 8px; break-inside: avoid; }
.need.lvl-4 { border-left-color: #c62828; }
.need h3 { margin: 0 0 4px; }
.need .why { font-size: 8.5pt; color: #34414e; }
.need ol { margin: 2px 0 2px 18px; padding: 0; }
.need li { margin: 1px 0; }
.need .grp { font-size: 8pt; font-weight: bold; color: #34414e; margin-top: 4px; }
.free { font-weight: bold; color: #2e7d32; }
.region-block { break-inside: avoid; margin-bottom: 8px; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
footer.report { margin-top: 10px; font-size: 7.5pt; color: #8a939d; }
@media screen {
  body { background: #e9edf1; }
  .sheet { background: #fff; width: 210mm; margin: 12px auto; padding: 14mm 12mm; box-shadow: 0 1px 4px rgba(0,0,0,.2); }
  section { margin-top: 18px; border-top: 1px dashed #b7bec6; padding-top: 12px; }
  section:first-of-type { border-top: 0; margin-top: 0; padding-top: 0; }
}
@media print { .sheet { width: auto; margin: 0; padding: 0; } }
"""


def _tile(k_sv: str, k_en: str, v: str, d: str = "", alert: bool = False) -> str:
    return (f'<div class="tile{" alert" if alert else ""}"><div class="k">{k_sv} <span class="en">/ {k_en}</span>'
            f'</div><div class="v">{v}</div><div class="d">{d}</div></div>')


def _nation_section(rep: MorningReport) -> str:
    n, y = rep.nation, rep.nation_yesterday

    def d(attr: str, pp: bool = False) -> str:
        dv = _delta(getattr(n, attr), getattr(y, attr) if y else None)
        if dv is None:
            return ""
        return "i går / yesterday: " + (_signed(dv, 1, " pp") if pp else _signed(dv))

    tiles = "".join([
        _tile("Vårdplatser", "Staffed beds", _int(n.staffed), d("staffed")),
        _tile("Belagda", "Occupied", _int(n.occupied), d("occupied")),
        _tile("Lediga", "Free beds", _int(n.free), d("free"), alert=(n.free or 0) < 0),
        _tile("Beläggning", "Occupancy", _pct(n.occupancy_pct), d("occupancy_pct", True),
              alert=(n.occupancy_pct or 0) > 100),
        _tile("Överbeläggningar", "Overcrowded", _int(n.overcrowded), d("overcrowded")),
        _tile("Utlokaliserade", "Outliers", _int(n.outliers), d("outliers")),
        _tile("Utskrivningsklara", "Discharge-ready", _int(n.discharge_ready), d("discharge_ready")),
        _tile("Täckning", "Coverage", _pct(rep.coverage * 100, 0) if rep.coverage is not None else "–",
              "andel avdelningar med färska data / share of wards fresh",
              alert=rep.coverage is not None and rep.coverage < 0.9),
    ])
    by_level: dict[int, list[str]] = {}
    for r in rep.regions:
        if r.today.escalation_level:
            by_level.setdefault(r.today.escalation_level, []).append(r.name.replace("Region ", ""))
    items = []
    for lvl in (4, 3, 2, 1):
        names = by_level.get(lvl, [])
        items.append(f"<li>{_badge(lvl)} {ESC_NAMES[lvl]}: <b>{len(names)}</b> "
                     f"{'region' if len(names) == 1 else 'regioner / regions'}"
                     f"{': ' + _e(', '.join(names)) if names and lvl >= 3 else ''}</li>")
    neg = [r for r in rep.regions if r.today.free is not None and r.today.free < 0]
    if neg:
        items.append("<li>Negativt antal lediga / negative free beds: " +
                     _e(", ".join(f"{r.name.replace('Region ', '')} ({_int(r.today.free)})" for r in neg)) + "</li>")
    stale = [r for r in rep.regions if r.stale]
    items.append(f"<li>Dataluckor / data gaps: <b>{len(rep.data_gaps)}</b>"
                 + (f" – inaktuella regioner / stale regions: {_e(', '.join(r.name for r in stale))}" if stale else "")
                 + "</li>")
    partial = ""
    if rep.coverage is not None and rep.coverage < 1:
        partial = (f'<p class="note">Summorna omfattar avdelningar med färska data ({_pct(rep.coverage * 100, 0)}); '
                   f'se Dataluckor. / Totals cover wards with fresh data ({_pct(rep.coverage * 100, 0)}); '
                   f'see Data gaps.</p>')
    return (f'<section id="nation"><h2>Nationell sammanfattning <span class="en">/ National summary</span></h2>'
            f'<div class="tiles">{tiles}</div>{partial}'
            f'<ul class="summary-list">{"".join(items)}</ul>'
            f'<h3>Beläggning per region kl. 07:00 <span class="en">/ Occupancy per region at 07:00</span></h3>'
            f'{_occupancy_chart(rep.regions)}</section>')


def _room_section(rep: MorningReport) -> str:
    needs = room_near_whom(rep)
    parts = ['<section id="room"><h2>Plats nära vem <span class="en">/ Room near whom</span></h2>'
             '<p class="note">Regioner med eskaleringsnivå ≥ 3 eller negativt antal lediga vårdplatser, med '
             'grannregioner (regions.csv) som har lediga vårdplatser, därefter övriga regioner i samma '
             'sjukvårdsregion. Inaktuella regioner erbjuds inte. / Regions at escalation level ≥ 3 or with '
             'negative free beds; neighbouring regions with free beds first, then the rest of the healthcare '
             'region. Stale regions are not offered.</p>']
    if not needs:
        parts.append("<p>Ingen region behöver avlastning i dag. <span class=\"en\">/ No region needs relief "
                      "today.</span></p>")

    def opts(lst: list[RoomOption]) -> str:
        if not lst:
            return '<p class="note">inga med lediga vårdplatser / none with free beds</p>'
        return "<ol>" + "".join(
            f'<li><b>{_e(o.name)}</b> ({_e(o.region_code)}): <span class="free">{_int(o.free)}</span> lediga / free'
            f' · {_pct(o.occupancy_pct)} · nivå / level {_badge(o.escalation_level)}</li>' for o in lst) + "</ol>"

    for nd in needs:
        parts.append(
            f'<div class="need lvl-{nd.escalation_level or 0}" data-region="{_e(nd.region_code)}">'
            f'<h3>{_badge(nd.escalation_level)} {_e(nd.name)} ({_e(nd.region_code)})</h3>'
            f'<div class="why">{_e(nd.reason)} · lediga / free: {_int(nd.free)}</div>'
            f'<div class="grp">Grannregioner <span class="en">/ Neighbouring regions</span></div>{opts(nd.neighbours)}'
            f'<div class="grp">Övriga i sjukvårdsregionen <span class="en">/ Rest of the healthcare region</span>'
            f'</div>{opts(nd.healthcare_region)}</div>')
    parts.append("</section>")
    return "".join(parts)


def _region_name_html(name: str, stale: bool, last: datetime | None, ref: datetime) -> str:
    tag = (f'<span class="stale-tag" title="senast / last seen {_e(_local(last))}">inaktuell / stale</span>'
           if stale else "")
    return _e(name) + tag


def _regions_section(rep: MorningReport) -> str:
    rows = [_figure_row(_region_name_html(r.name, r.stale, r.last_event_at, rep.picture_at), r.today, r.yesterday,
                        "stale" if r.stale else "", r.code)
            for r in rep.regions]
    rows.append(_figure_row("Riket / Nation", rep.nation, rep.nation_yesterday, "total", "SE"))
    return (f'<section id="regions"><h2>Regioner – förändring sedan i går <span class="en">/ Regions – change since '
            f'yesterday</span></h2>'
            f'<p class="note">Värde kl. 07:00 och under det förändringen sedan i går kl. 07:00 (Förändring sedan i '
            f'går / Change since yesterday). pp = procentenheter / percentage points.</p>'
            f'<table class="regions">{_table_head("Region")}<tbody>{"".join(rows)}</tbody></table>'
            f'<div class="keep"><h3>Förändring belagda vårdplatser sedan i går <span class="en">/ Change in occupied '
            f'beds since yesterday</span></h3>{_change_chart(rep.regions)}</div></section>')


def _hospitals_section(rep: MorningReport) -> str:
    blocks = []
    for r in rep.regions:
        if not r.hospitals:
            continue
        rows = [_figure_row(_region_name_html(h.name, h.stale, h.last_event_at, rep.picture_at), h.today,
                            h.yesterday, "stale" if h.stale else "", h.id) for h in r.hospitals]
        blocks.append(f'<div class="region-block"><h3>{_e(r.name)} ({_e(r.code)})</h3>'
                      f'<table class="hospitals">{_table_head("Sjukhus / Hospital")}<tbody>{"".join(rows)}</tbody>'
                      f'</table></div>')
    return (f'<section id="hospitals"><h2>Per sjukhus <span class="en">/ Per hospital</span></h2>'
            f'{"".join(blocks) or "<p>–</p>"}</section>')


LEVEL_NAMES = {"region": "Region", "hospital": "Sjukhus / Hospital", "ward": "Avdelning / Ward",
               "sender": "Avsändare / Sender"}


def _gaps_section(rep: MorningReport) -> str:
    names = {r.code: r.name for r in rep.regions}
    if rep.data_gaps:
        gaps = sorted(rep.data_gaps, key=lambda g: (g.region_code, g.last_seen or datetime.min.replace(
            tzinfo=timezone.utc)))
        rows = "".join(
            f'<tr data-id="{_e(g.id)}"><td>{_e(LEVEL_NAMES.get(g.level, g.level))}</td><td class="name">{_e(g.name)}'
            f'</td><td>{_e(names.get(g.region_code, g.region_code))}</td><td>{_e(_local(g.last_seen))}</td>'
            f'<td class="num">{_e(_age(g.last_seen, rep.picture_at))}</td><td>{_e(g.detail)}</td></tr>'
            for g in gaps)
        table = ('<table class="gaps"><thead><tr><th>Nivå <span class="en">/ Level</span></th><th>Enhet '
                 '<span class="en">/ Unit</span></th><th>Region</th><th>Senast sedd <span class="en">/ Last seen'
                 '</span></th><th class="num">Ålder kl. 07:00<br><span class="en">Age at 07:00</span></th>'
                 f'<th>Anmärkning <span class="en">/ Note</span></th></tr></thead><tbody>{rows}</tbody></table>')
    else:
        table = "<p>Inga dataluckor. <span class=\"en\">/ No data gaps.</span></p>"
    return (f'<section id="gaps"><h2>Dataluckor <span class="en">/ Data gaps</span></h2>'
            f'<p class="note">Enheter utan färska händelser vid bildtiden. Deras senast kända värden ingår inte som '
            f'aktuella. / Units without fresh events at picture time; their last known values are not presented as '
            f'current.</p>{table}</section>')


def render_morning_report(report: MorningReport) -> str:
    """The whole report as one self-contained HTML document (inline CSS and SVG, no external resources)."""
    rep = report
    weekday = ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"][rep.date.weekday()]
    gen = f" · genererad / generated {_e(_local(rep.generated_at))}" if rep.generated_at else ""
    head = (f'<header class="report"><h1>{_e(rep.title)} <span class="en">/ Morning report</span></h1>'
            f'<div class="sub">Kapacitetsmöte / Capacity meeting · {weekday} {rep.date.isoformat()} · '
            f'Läge kl. {_e(_local(rep.picture_at, "%H:%M"))} <span class="en">/ Picture at '
            f'{_e(_local(rep.picture_at, "%H:%M"))} Europe/Stockholm</span>{gen}</div></header>')
    body = "".join([
        _nation_section(rep),
        _room_section(rep),
        _regions_section(rep),
        _hospitals_section(rep),
        _gaps_section(rep),
    ])
    foot = ('<footer class="report">bedflow · Beläggning = belagda / disponibla vårdplatser vid bildtiden (inte '
            'årlig beläggningsgrad) / Occupancy = occupied / staffed beds at picture time (not the annual '
            'occupancy rate).</footer>')
    return ("<!doctype html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(rep.title)} {rep.date.isoformat()} – Morning report</title>"
            f"<style>{CSS}</style></head><body><div class=\"sheet\">{head}{body}{foot}</div></body></html>\n")


# =============================================================================== example data

def _level(f: Figures) -> tuple[int, str]:
    p = f.occupancy_pct or 0
    if p > 100:
        return 4, "beläggning / occupancy > 100 %"
    if p >= 97 or (f.free is not None and f.free < 5):
        return 3, "beläggning / occupancy ≥ 97 % eller / or lediga / free < 5"
    if p >= 92:
        return 2, "beläggning / occupancy ≥ 92 %"
    return 1, "normal"


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
    ref = _reference_regions()
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
