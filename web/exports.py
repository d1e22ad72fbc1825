"""Exports for Excel, Qlik and Power BI: a JSON answer of the API as CSV (Swedish Excel's dialect) or XLSX.

An export is made from the JSON answer the viewer gets, never from the store: the access module's scope
and suppression have already been applied, and a hidden count (null) is an empty cell, never a number.
Plain functions, no I/O (web/api.py wires them to the routes).

CSV: `;` between fields, UTF-8 with a BOM (else Excel reads it as Windows-1252), decimal comma and no
thousands separator (Swedish Excel's own CSV), booleans as SANT/FALSKT (Excel's Swedish words), times
in the platform's time zone as `YYYY-MM-DD HH:MM:SS` (Excel and Power BI read that as a date-time).
XLSX: numbers as numbers, times as date-time cells (local, Excel has no time zones), one sheet a table.
"""
from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import re
import urllib.parse
from dataclasses import dataclass
from zoneinfo import ZoneInfo

FORMATS = ("json", "csv", "xlsx")
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8",
                 "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"

# An ISO 8601 instant as the API writes it (orjson: offset always given for times from the store).
_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")
# A cell starting with one of these is a formula to Excel: a sender's text (a dead letter's message)
# must not run as one (CSV injection). Prefixed with an apostrophe, as Excel itself shows text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    name: str  # the answer's key (a sheet's name, `table=` of a CSV export)
    columns: tuple[str, ...]
    rows: tuple[tuple, ...]


def flatten(value, prefix: str = "") -> dict:
    """A row as flat columns: a nested object's fields become `outer.inner`."""
    out = {}
    for key, v in value.items():
        name = f"{prefix}{key}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


def table(name: str, value) -> Table:
    """One table of an answer: a list of objects (a row each) or one object (one row); None: no rows."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    flat = [flatten(r) if isinstance(r, dict) else {name: r} for r in items]
    columns: dict[str, None] = {}
    for r in flat:
        columns.update(dict.fromkeys(r))
    return Table(name, tuple(columns), tuple(tuple(r.get(c) for c in columns) for r in flat))


def tables(answer: dict, names: tuple[str, ...]) -> list[Table]:
    """The answer's tables, in the order named; a dotted name reaches into a nested object
    (`previous_year.rows`); a missing or null one is an empty table."""
    out = []
    for name in names:
        value = answer
        for part in name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out.append(table(name, value))
    return out


# -- answers whose JSON is not a list of rows, shaped into tables for an export (web/api.py names the shape)
def unfold(series: list[dict], times: list, fields: tuple[str, ...], at: str = "at") -> list[dict]:
    """Series of values over `times` (a list per field) as long rows, one per unit × point: the unit's own
    plain fields (id, name…) first, then the point's time and values — what a pivot table, Qlik or Power BI
    reads (a list in a cell is useless to them)."""
    out = []
    for s in series:
        unit = {k: v for k, v in s.items() if k not in fields and not isinstance(v, (list, dict))}
        out += [{**unit, at: t, **{f: s[f][k] for f in fields}} for k, t in enumerate(times)]
    return out


def history_tables(answer: dict, fields: tuple[str, ...]) -> dict:
    """GET /api/v1/status/history: `points`, one row per unit × point."""
    return {"points": unfold(answer["series"], answer["times"], fields)}


def forecast_tables(answer: dict, fields: tuple[str, ...]) -> dict:
    """GET /api/v1/forecast: `points`, one row per unit × hour ahead; `backtest`, one row per unit × horizon."""
    return {"points": unfold(answer["series"], answer["times"], fields),
            "backtest": [{"id": s["id"], "name": s["name"], **e} for s in answer["series"] for e in s["backtest"]]}


def escalation_tables(answer: dict, declared: tuple[str, ...]) -> dict:
    """GET /api/v1/escalation: the rows, a region without a declaration in force with the declaration's
    columns empty (else its row would have other columns than the rest)."""
    return {"rows": [{**r, "declared": r["declared"] or dict.fromkeys(declared)} for r in answer["rows"]]}


def escalation_history_tables(answer: dict) -> dict:
    """GET /api/v1/escalation/history: `points`, one row per point (computed, declared and in force); the
    declarations as they are."""
    levels = ("computed", "declared", "level")
    return {"points": unfold([{"region": answer["region"], **{f: answer[f] for f in levels}}], answer["times"], levels),
            "declarations": answer["declarations"]}


def instant(value: str, tz: ZoneInfo) -> dt.datetime | None:
    """A string that is an ISO instant, as naive local time in `tz`; None for any other string."""
    if not _INSTANT.fullmatch(value):
        return None
    at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if at.tzinfo is None:  # the API's naive times are UTC
        at = at.replace(tzinfo=dt.timezone.utc)
    return at.astimezone(tz).replace(tzinfo=None)


def swedish_number(value: int | float) -> str:
    """A number as Swedish Excel writes it: decimal comma, no thousands separator, never an exponent."""
    if isinstance(value, int):
        return str(value)
    return format(decimal.Decimal(repr(value)), "f").replace(".", ",")


def _text(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_cell(value, tz: ZoneInfo) -> str:
    """One value of a JSON answer as a Swedish CSV field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "SANT" if value else "FALSKT"
    if isinstance(value, (int, float)):
        return swedish_number(value)
    if isinstance(value, list):
        return _text(", ".join("" if v is None else str(v) for v in value))
    value = str(value)
    at = instant(value, tz)
    return at.strftime("%Y-%m-%d %H:%M:%S") if at is not None else _text(value)


def to_csv(t: Table, tz: str) -> bytes:
    zone = ZoneInfo(tz)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(t.columns)
    for row in t.rows:
        writer.writerow([csv_cell(v, zone) for v in row])
    return out.getvalue().encode("utf-8-sig")


def xlsx_value(value, tz: ZoneInfo):
    """One value of a JSON answer as an XLSX cell's value: numbers stay numbers, instants become local
    date-times, lists are joined."""
    if isinstance(value, list):
        return ", ".join("" if v is None else str(v) for v in value)
    if isinstance(value, str):
        at = instant(value, tz)
        return at if at is not None else value
    return value


def sheet_title(name: str, taken: set[str]) -> str:
    """An Excel sheet name: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "blad"
    title, i = base, 2
    while title.lower() in taken:
        title = f"{base[:28]}_{i}"
        i += 1
    taken.add(title.lower())
    return title


def to_xlsx(ts: list[Table], tz: str) -> bytes:
    from openpyxl import Workbook  # only an export needs it
    from openpyxl.cell import WriteOnlyCell

    zone = ZoneInfo(tz)
    wb = Workbook(write_only=True)
    taken: set[str] = set()
    for t in ts:
        ws = wb.create_sheet(sheet_title(t.name, taken))
        ws.append(list(t.columns))
        for row in t.rows:
            cells = []
            for v in row:
                v = xlsx_value(v, zone)
                if isinstance(v, dt.datetime):
                    v = WriteOnlyCell(ws, value=v)
                    v.number_format = TIME_FORMAT
                elif isinstance(v, str) and v.startswith("="):
                    v = WriteOnlyCell(ws, value=v)
                    v.data_type = "s"  # text, never a formula (openpyxl takes "=…" for one)
                cells.append(v)  # plain values otherwise: a cell object each doubled the time
            ws.append(cells)
    if not ts:
        wb.create_sheet("blad")
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def content_disposition(stem: str, day: dt.date, fmt: str) -> str:
    """`attachment` with the Swedish file name: an ASCII one for every client (å ä ö → a a o) and the
    exact one (RFC 6266 filename*) for those that read it."""
    name = f"{stem}-{day.isoformat()}.{fmt}"
    plain = name.translate(str.maketrans("åäöÅÄÖé", "aaoAAOe"))
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", plain)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{urllib.parse.quote(name)}"


def export(answer: dict, names: tuple[str, ...], fmt: str, tz: str, only: str | None = None) -> bytes:
    """The answer's tables as `fmt` (csv: one table, `only` or the first; xlsx: every one, a sheet each)."""
    if fmt == "csv":
        return to_csv(tables(answer, (only or names[0],))[0], tz)
    return to_xlsx(tables(answer, names), tz)
