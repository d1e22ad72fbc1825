"""The morning report (morgonrapport) for the daily capacity-balancing meeting: the HTML renderer.

`render_morning_report(report)` is a pure function of a `MorningReport` (web/report_model.py): no I/O
beyond reading its stylesheet, no clock, no database. The stylesheet (web/templates/morning_report.css)
is inlined so the report is one self-contained file, as the PDF needs.

Sections (each starts on a new A4 page when printed):
  1. Nationell sammanfattning / National summary  (key figures, occupancy chart with the 100 % line)
  2. Plats nära vem / Room near whom             (regions in need → neighbours with free beds, then the
                                                   rest of their healthcare region)
  2b. Plats i närheten efter behov / Room nearby by need  (per region in need and kind of bed: its need and
                                                   the ranked offers, with tomorrow morning's forecast)
  3. Regioner / Regions                           (table with change since yesterday, change chart)
  3b. I morgon 07:00 / Tomorrow at 07:00          (the forecast per region beside today's numbers)
  4. Per sjukhus / Per hospital
  5. Dataluckor / Data gaps
"""
from __future__ import annotations

import html as _html
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from web.report_model import KIND_NAMES, DataGap, Figures, KindNeed, MorningReport, RegionRow, RoomOption, room_near_whom
from web.texts import paired, rule_text, text

STYLESHEET = Path(__file__).parent / "templates" / "morning_report.css"


@lru_cache(maxsize=1)
def _css() -> str:
    return STYLESHEET.read_text(encoding="utf-8")


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


def _local(dt: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if dt is None:
        return "–"
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(ZoneInfo(tz)).strftime(fmt)


def _hhmm(rep: MorningReport) -> str:
    """The picture time as the meeting says it ("07:00")."""
    return _local(rep.picture_at, rep.timezone, "%H:%M")


def _age(dt: datetime | None, ref: datetime) -> str:
    if dt is None:
        return text("gap.never")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    s = (ref - dt).total_seconds()
    if s < 3600:
        return f"{max(0, round(s / 60))} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h".replace(".", ",")
    return f"{round(s / 86400)} d"


def _t(key: str, lang: str = "sv", **params) -> str:
    """A text of the dictionary (web/texts.json) for HTML: the report's own words, < > & escaped."""
    return _html.escape(text(key, lang, **params), quote=False)


def _pair(key: str, **params) -> str:
    """"svenska / English" for HTML (a note, a label)."""
    return _html.escape(paired(key, **params), quote=False)


def _both(key: str, **params) -> str:
    """A heading's Swedish with its English beside it, the English marked for the print style."""
    return f'{_t(key, **params)} <span class="en">/ {_t(key, "en", **params)}</span>'


def _over(key: str, **params) -> str:
    """A table head's Swedish over its English."""
    return f'{_t(key, **params)}<br><span class="en">{_t(key, "en", **params)}</span>'


ESC_COLOURS = {1: "#2e7d32", 2: "#f2c200", 3: "#ef6c00", 4: "#c62828"}
ESC_NAMES = {n: paired(f"esc.{n}") for n in (1, 2, 3, 4)}  # "Förhöjd / Elevated"


def _badge(level: int | None, rule: str | None = None) -> str:
    if level is None:
        return '<span class="badge esc-na">–</span>'
    title = f' title="{_e(rule_text(rule))}"' if rule else ""  # the rule that fired, in Swedish
    return f'<span class="badge esc-{int(level)}"{title}>{int(level)}</span>'


# Columns of the comparison tables: (attribute, its heading's key in web/texts.json, "higher is worse")
# Free beds and overcrowding side by side, each summed over the wards: neither is netted against the other.
COLUMNS = [
    ("staffed", "report.col.staffed", False),
    ("occupied", "report.col.occupied", True),
    ("occupancy_pct", "report.col.occupancy", True),
    ("free", "report.col.free", False),
    ("overcrowded", "report.col.overcrowded", True),
    ("outliers", "report.col.outliers", True),
    ("discharge_ready", "report.col.ready", True),
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
    neg = " neg" if attr == "overcrowded" and (today.shortage or 0) > 0 else ""  # more than its free beds
    over = " neg" if attr == "occupancy_pct" and v is not None and v > 100 else ""
    return (f'<td class="num{neg}{over}" data-field="{attr}"><span class="val">{main}</span>'
            f'<span class="chg {cls}" data-change="{attr}">{ch}</span></td>')


def _table_head(first: str) -> str:
    cols = "".join(f'<th class="num">{_over(key)}</th>' for _, key, _w in COLUMNS)
    return f'<thead><tr><th>{first}</th><th class="c">{_over("report.col.level")}</th>{cols}</tr></thead>'


def _figure_row(name_html: str, today: Figures, yesterday: Figures | None, cls: str = "", data_id: str = "") -> str:
    cells = "".join(_value_cell(a, today, yesterday, w) for a, _key, w in COLUMNS)
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
           f'height="{height}" role="img" aria-label="{_e(paired("report.chart.occupancy"))}">']
    # grid
    for g in range(0, int(vmax) + 1, 20):
        gx = x(g)
        out.append(f'<line x1="{gx:.1f}" x2="{gx:.1f}" y1="{top - 4}" y2="{height - 20}" class="grid"/>')
        out.append(f'<text x="{gx:.1f}" y="{height - 6}" class="axis" text-anchor="middle">{g} %</text>')
    for i, r in enumerate(rows):
        y = top + i * (bar_h + gap)
        p = r.today.occupancy_pct
        # the bar has the colour of the region's escalation level (the config's one rule)
        colour = "#b7bec6" if r.stale else ESC_COLOURS.get(r.today.escalation_level, "#9aa4ae")
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
               f'<text x="{left + 18}" y="14" class="axis">{_pair("report.chart.yesterday")}</text>')
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
           f'height="{height}" role="img" aria-label="{_e(paired("report.chart.change"))}">']
    out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{top - 4}" y2="{height - 18}" class="axis-line"/>')
    out.append(f'<text x="{left}" y="{height - 4}" class="axis">{_pair("report.chart.fewer")}</text>')
    out.append(f'<text x="{left + plot_w}" y="{height - 4}" class="axis" text-anchor="end">{_pair("report.chart.more")}</text>')
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



def _tile(key: str, v: str, d: str = "", alert: bool = False) -> str:
    return (f'<div class="tile{" alert" if alert else ""}"><div class="k">{_both(key)}'
            f'</div><div class="v">{v}</div><div class="d">{d}</div></div>')


def _nation_section(rep: MorningReport) -> str:
    n, y = rep.nation, rep.nation_yesterday

    def d(attr: str, pp: bool = False) -> str:
        dv = _delta(getattr(n, attr), getattr(y, attr) if y else None)
        if dv is None:
            return ""
        return _pair("report.yesterday") + ": " + (_signed(dv, 1, " pp") if pp else _signed(dv))

    tiles = "".join([
        _tile("report.col.staffed", _int(n.staffed), d("staffed")),
        _tile("report.col.occupied", _int(n.occupied), d("occupied")),
        _tile("report.col.occupancy", _pct(n.occupancy_pct), d("occupancy_pct", True),
              alert=(n.occupancy_pct or 0) > 100),
        _tile("f.free", _int(n.free), d("free")),
        _tile("report.col.overcrowded", _int(n.overcrowded), d("overcrowded"),
              alert=(n.shortage or 0) > 0),
        _tile("report.col.outliers", _int(n.outliers), d("outliers")),
        _tile("report.col.ready", _int(n.discharge_ready), d("discharge_ready")),
        _tile("report.tile.coverage", _pct(rep.coverage * 100, 0) if rep.coverage is not None else "–",
              _pair("report.tile.coverage.note"),
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
                     f"{_pair('report.regions.one' if len(names) == 1 else 'report.regions.many')}"
                     f"{': ' + _e(', '.join(names)) if names and lvl >= 3 else ''}</li>")
    short = [r for r in rep.regions if (r.today.shortage or 0) > 0]
    if short:
        items.append(f'<li id="shortage">{_pair("report.shortage")}: '
                     + _e(", ".join(f"{r.name.replace('Region ', '')} ({_int(r.today.overcrowded)} "
                                    f"{paired('report.overcrowded')}, {_int(r.today.free)} {paired('report.free')})"
                                    for r in short)) + "</li>")
    stale = [r for r in rep.regions if r.stale]
    items.append(f"<li>{_pair('report.gaps.count')}: <b>{len(rep.data_gaps)}</b>"
                 + (f" – {_pair('report.stale.regions')}: {_e(', '.join(r.name for r in stale))}" if stale else "")
                 + "</li>")
    partial = ""
    if rep.coverage is not None and rep.coverage < 1:
        partial = f'<p class="note">{_pair("report.partial", pct=_pct(rep.coverage * 100, 0))}</p>'
    return (f'<section id="nation"><h2>{_both("report.nation")}</h2>'
            f'<div class="tiles">{tiles}</div>{partial}'
            f'<ul class="summary-list">{"".join(items)}</ul>'
            f'<h3>{_both("report.chart.heading", t=_hhmm(rep))}</h3>'
            f'{_occupancy_chart(rep.regions)}</section>')


def _room_section(rep: MorningReport) -> str:
    needs = room_near_whom(rep)
    parts = [f'<section id="room"><h2>{_both("report.room")}</h2><p class="note">{_pair("report.room.note")}</p>']
    if not needs:
        parts.append(f'<p>{_both("report.room.none")}</p>')

    def opts(lst: list[RoomOption]) -> str:
        if not lst:
            return f'<p class="note">{_pair("report.room.nospare")}</p>'
        return "<ol>" + "".join(
            f'<li><b>{_e(o.name)}</b> ({_e(o.region_code)}): <span class="free">{_int(o.spare)}</span> '
            f'{_pair("report.offer")} ({_int(o.free)} {_pair("report.free")}, {_int(o.overcrowded)} '
            f'{_pair("report.overcrowded")}) · {_pct(o.occupancy_pct)} · {_pair("report.level")} '
            f'{_badge(o.escalation_level)}</li>' for o in lst) + "</ol>"

    for nd in needs:
        parts.append(
            f'<div class="need lvl-{nd.escalation_level or 0}" data-region="{_e(nd.region_code)}">'
            f'<h3>{_badge(nd.escalation_level)} {_e(nd.name)} ({_e(nd.region_code)})</h3>'
            f'<div class="why">{_e(_reason(nd.escalation_level, nd.shortage))} · {_pair("report.free")}: '
            f'{_int(nd.free)} · {_pair("report.overcrowded")}: {_int(nd.overcrowded)}</div>'
            f'<div class="grp">{_both("report.room.neighbours")}</div>{opts(nd.neighbours)}'
            f'<div class="grp">{_both("report.room.rest")}</div>{opts(nd.healthcare_region)}</div>')
    parts.append("</section>")
    return "".join(parts)


RELATIONS = {"region": paired("room.rel.region"), "neighbour": paired("report.rel.neighbour"),
             "healthcare_region": paired("room.rel.healthcare_region")}


def _fc(v: float | None) -> str:
    """A forecast count: whole beds (a forecast is a mean, not a head count)."""
    return "–" if v is None else _int(round(v))


def _room_need_section(rep: MorningReport) -> str:
    """Per region in need, per kind of bed: its own free beds and overcrowding (and shortage) and the ranked
    region-level offers of that kind (streams/domain/room.py), tomorrow morning's forecast beside."""
    hhmm = _hhmm(rep)
    fc = rep.tomorrow_at is not None
    parts = [f'<section id="room-need"><h2>{_both("report.need")}</h2>'
             f'<p class="note">{_pair("report.need.note")}</p>']
    if not fc:
        parts.append(f'<p class="note" id="room-need-no-forecast">{_both("report.need.noforecast")}</p>')
    if not rep.room_by_need:
        parts.append(f'<p>{_both("report.room.none")}</p>')
    names = {r.code: r.name for r in rep.regions}
    fc_head = (f'<th scope="col" class="num">{_over("report.col.free.tomorrow", t=hhmm)}</th>'
               if fc else "")
    for code, kinds in rep.room_by_need.items():
        rows = []
        for k in kinds:
            rows.append(_need_row(code, names.get(code, code), k, fc))
            if not k.offers:
                rows.append(f'<tr data-id="{_e(code)}:{k.kind}:-"><td></td><td colspan="{4 + fc}" class="muted">'
                            f'{_pair("report.need.nooffers")}</td></tr>')
            for o in k.offers:
                rows.append(f'<tr class="offer" data-id="{_e(code)}:{k.kind}:{_e(o.region_code)}"><td></td>'
                            f'<td class="name">{_e(o.name)} ({_e(o.region_code)})</td>'
                            f'<td>{_e(RELATIONS.get(o.relation, o.relation))}</td>'
                            f'<td class="num" data-field="free">{_int(o.free)}</td>'
                            f'<td class="num" data-field="overcrowded">{_int(o.overcrowded)}</td>'
                            + (f'<td class="num" data-field="forecast_free">{_fc(o.forecast_free)}</td>' if fc else "")
                            + "</tr>")
        parts.append(
            f'<div class="region-block" data-region="{_e(code)}"><h3>{_e(names.get(code, code))} ({_e(code)})</h3>'
            f'<table class="room-need"><caption class="visually-hidden">'
            f'{_e(paired("report.need.caption", name=names.get(code, code)))}</caption><thead><tr>'
            f'<th scope="col">{_over("room.kind")}</th><th scope="col">Region</th><th scope="col">Relation</th>'
            f'<th scope="col" class="num">{_over("room.free.now")}</th>'
            f'<th scope="col" class="num">{_over("room.over.now")}</th>{fc_head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')
    parts.append("</section>")
    return "".join(parts)


def _need_row(code: str, name: str, k: KindNeed, fc: bool) -> str:
    short = f" · {paired('report.need.shortage')} {_int(k.shortage)}" if k.shortage else ""
    return (f'<tr class="own" data-id="{_e(code)}:{k.kind}"><th scope="row">{_e(KIND_NAMES.get(k.kind, k.kind))}</th>'
            f'<td class="name">{_e(name)} ({_e(code)})</td><td>{_pair("report.need.own")}{_e(short)}</td>'
            f'<td class="num" data-field="free">{_int(k.free)}</td>'
            f'<td class="num" data-field="overcrowded">{_int(k.overcrowded)}</td>'
            + (f'<td class="num" data-field="forecast_free">{_fc(k.forecast_free)}</td>' if fc else "") + "</tr>")


def _tomorrow_section(rep: MorningReport) -> str:
    """Tomorrow's picture time: the forecast per region (occupancy, free, overcrowded) beside today's."""
    hhmm = _hhmm(rep)
    head = f'<section id="tomorrow"><h2>{_both("report.tomorrow", t=hhmm)}</h2>'
    if rep.tomorrow_at is None:
        return head + f'<p class="note">{_pair("report.tomorrow.none")}</p></section>'

    def cells(attr: str, today: Figures, tomorrow: Figures | None) -> str:
        fmt = _pct if attr == "occupancy_pct" else _int
        t = getattr(tomorrow, attr) if tomorrow is not None else None
        return (f'<td class="num" data-field="{attr}">{fmt(getattr(today, attr))}</td>'
                f'<td class="num fc" data-field="tomorrow_{attr}">{fmt(t)}</td>')

    attrs = ("occupancy_pct", "free", "overcrowded")
    rows = [f'<tr data-id="{_e(r.code)}"><th scope="row">{_e(r.name)}</th>'
            + "".join(cells(a, r.today, r.tomorrow) for a in attrs) + "</tr>" for r in rep.regions]
    rows.append(f'<tr class="total" data-id="SE"><th scope="row">{_pair("report.nation.row")}</th>'
                + "".join(cells(a, rep.nation, rep.nation_tomorrow) for a in attrs) + "</tr>")
    sub = "".join(f'<th scope="col" class="num">{_over("report.today")}</th><th scope="col" '
                  f'class="num">{_over("report.tomorrow.col")}</th>' for _ in attrs)
    return (head + f'<p class="note">{_pair("report.tomorrow.note", t=_local(rep.tomorrow_at, rep.timezone))}</p>'
            '<table class="tomorrow"><thead><tr><th scope="col" rowspan="2">Region</th>'
            f'<th scope="colgroup" colspan="2" class="c">{_both("report.col.occupancy")}</th>'
            f'<th scope="colgroup" colspan="2" class="c">{_both("report.col.free")}</th>'
            f'<th scope="colgroup" colspan="2" class="c">{_both("report.col.overcrowded")}</th>'
            f'</tr><tr>{sub}</tr></thead><tbody>{"".join(rows)}</tbody></table></section>')


def _reason(level: int | None, shortage: int | None) -> str:
    reasons = []
    if (level or 0) >= 3:
        reasons.append(paired("report.reason.level", level=level))
    if shortage:
        reasons.append(paired("report.reason.shortage", n=_int(shortage)))
    return ", ".join(reasons)


def _region_name_html(name: str, stale: bool, last: datetime | None, tz: str) -> str:
    tag = (f'<span class="stale-tag" title="{_e(paired("report.lastseen"))} {_e(_local(last, tz))}">'
           f'{_pair("row.stale")}</span>' if stale else "")
    return _e(name) + tag


def _regions_section(rep: MorningReport) -> str:
    rows = [_figure_row(_region_name_html(r.name, r.stale, r.last_event_at, rep.timezone), r.today, r.yesterday,
                        "stale" if r.stale else "", r.code)
            for r in rep.regions]
    rows.append(_figure_row(_pair("report.nation.row"), rep.nation, rep.nation_yesterday, "total", "SE"))
    return (f'<section id="regions"><h2>{_both("report.regions")}</h2>'
            f'<p class="note">{_pair("report.regions.note", t=_hhmm(rep))}. {_pair("report.pp")}.</p>'
            f'<table class="regions">{_table_head("Region")}<tbody>{"".join(rows)}</tbody></table>'
            f'<div class="keep"><h3>{_both("report.regions.chart")}</h3>{_change_chart(rep.regions)}</div></section>')


def _hospitals_section(rep: MorningReport) -> str:
    blocks = []
    for r in rep.regions:
        if not r.hospitals:
            continue
        rows = [_figure_row(_region_name_html(h.name, h.stale, h.last_event_at, rep.timezone), h.today,
                            h.yesterday, "stale" if h.stale else "", h.id) for h in r.hospitals]
        blocks.append(f'<div class="region-block"><h3>{_e(r.name)} ({_e(r.code)})</h3>'
                      f'<table class="hospitals">{_table_head(_pair("report.hospital"))}<tbody>{"".join(rows)}</tbody>'
                      f'</table></div>')
    hidden = any(h.today.occupied is None or h.today.outliers is None or h.today.discharge_ready is None
                 for r in rep.regions for h in r.hospitals)
    note = f'<p class="note">{_pair("report.hidden")}</p>' if hidden else ""
    return (f'<section id="hospitals"><h2>{_both("report.hospitals")}</h2>{note}'
            f'{"".join(blocks) or "<p>–</p>"}</section>')


LEVEL_NAMES = {"region": "Region", "hospital": paired("report.hospital"), "ward": paired("report.ward"),
               "sender": paired("report.sender")}


def _gap_note(g: DataGap) -> str:
    """A gap's note in Swedish from the dictionary (the report is read at a Swedish meeting), or its free text."""
    return text(g.note, "sv", **g.params) if g.note else g.detail


def _gaps_section(rep: MorningReport) -> str:
    names = {r.code: r.name for r in rep.regions}
    if rep.data_gaps:
        gaps = sorted(rep.data_gaps, key=lambda g: (g.region_code, g.last_seen or datetime.min.replace(
            tzinfo=timezone.utc)))
        rows = "".join(
            f'<tr data-id="{_e(g.id)}"><td>{_e(LEVEL_NAMES.get(g.level, g.level))}</td><td class="name">{_e(g.name)}'
            f'</td><td>{_e(names.get(g.region_code, g.region_code))}</td>'
            f'<td>{_e(_local(g.last_seen, rep.timezone))}</td>'
            f'<td class="num">{_e(_age(g.last_seen, rep.picture_at))}</td><td>{_e(_gap_note(g))}</td></tr>'
            for g in gaps)
        table = (f'<table class="gaps"><thead><tr><th>{_both("report.col.level")}</th><th>{_both("f.unit")}</th>'
                 f'<th>Region</th><th>{_both("report.gaps.lastseen")}</th>'
                 f'<th class="num">{_over("report.gaps.age", t=_hhmm(rep))}</th>'
                 f'<th>{_both("report.gaps.note")}</th></tr></thead><tbody>{rows}</tbody></table>')
    else:
        table = f'<p>{_both("report.gaps.none")}</p>'
    return (f'<section id="gaps"><h2>{_both("report.gaps")}</h2>'
            f'<p class="note">{_pair("report.gaps.about")}</p>{table}</section>')


def render_morning_report(report: MorningReport) -> str:
    """The whole report as one self-contained HTML document (inline CSS and SVG, no external resources)."""
    rep = report
    weekday = ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"][rep.date.weekday()]
    hhmm = _hhmm(rep)
    gen = f" · {_pair('report.generated')} {_e(_local(rep.generated_at, rep.timezone))}" if rep.generated_at else ""
    head = (f'<header class="report"><h1>{_e(rep.title)} <span class="en">/ {_t("report.title", "en")}</span></h1>'
            f'<div class="sub">{_pair("report.meeting")} · {weekday} {rep.date.isoformat()} · '
            f'{_t("report.picture", t=hhmm)} <span class="en">/ {_t("report.picture", "en", t=hhmm)} '
            f'{_e(rep.timezone)}</span>{gen}</div></header>')
    body = "".join([
        _nation_section(rep),
        _room_section(rep),
        _room_need_section(rep),
        _regions_section(rep),
        _tomorrow_section(rep),
        _hospitals_section(rep),
        _gaps_section(rep),
    ])
    foot = f'<footer class="report">bedflow · {_pair("report.footer")}.</footer>'
    return ("<!doctype html>\n<html lang=\"sv\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(rep.title)} {rep.date.isoformat()} – {_t('report.title', 'en')}</title>"
            f"<style>{_css()}</style></head><body><div class=\"sheet\">{head}{body}{foot}</div></body></html>\n")
