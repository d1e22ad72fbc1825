"""Exports (issue 13): every list endpoint as CSV for Swedish Excel and as XLSX, against the real app on
chDB filled by the real processor and sink (tests/test_access.py's data). Each export is parsed the way a
user's tool reads it (Python's csv module with `;` and utf-8-sig; openpyxl) and every cell is compared
with the JSON answer the same viewer gets: a suppressed count is an empty cell, never the number; a
refused request is refused as an export too."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from tests.test_access import TOKENS, server  # noqa: F401  (the module's server fixture: the real app with data)
from web import exports, openapi

STOCKHOLM = ZoneInfo("Europe/Stockholm")
VIEWERS = ("admin", "national", "national-basic", "region:01")
PATHS = ("/api/v1/status?level=nation", "/api/v1/status?level=healthcare_region", "/api/v1/status?level=region",
         "/api/v1/status?level=hospital", "/api/v1/status?level=ward", "/api/v1/out-of-area?window=now",
         "/api/v1/out-of-area?window=30d", "/api/v1/waitlist?region=01", "/api/v1/waitlist?region=12",
         "/api/v1/waitlist/snapshots?month=2026-11", "/api/v1/deadletters?limit=100", "/api/v1/quality",
         "/api/v1/icu?hours=2", "/api/v1/waitlist/breaches?region=12")
PATHS += ("/api/v1/waitlist?region=12&by=sex", "/api/v1/waitlist/performed?month=2026-11&by=hospital")  # breakdowns
PATHS += ("/api/v1/room-nearby?unit=01", "/api/v1/beds/yearly?year=2026&level=region")
# series over time and the escalation (their tables are reshaped: SHAPED below); `to` pinned (NOW: set by the
# test), else the JSON and the export, asked apart, would have other points
PATHS += ("/api/v1/status/history?level=region&step=60&to=NOW",
          "/api/v1/status/history?level=ward&region=01&step=60&to=NOW", "/api/v1/forecast?level=region&hours=24",
          "/api/v1/forecast?level=ward&region=01&hours=6", "/api/v1/escalation",
          "/api/v1/escalation/history?region=01&step=60&to=NOW")


def call(server, path: str, who: str) -> tuple[int, dict, bytes]:
    token = TOKENS[who]
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}{path}",
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()




def q(path: str, more: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}{more}"


def export_tables(server, path: str) -> tuple[str, ...]:
    """The tables the route's export holds, as its handler declares them (and the OpenAPI document says)."""
    route = path.split("?")[0]
    for r in server.app.router.routes():
        if r.method == "GET" and r.resource is not None and r.resource.canonical == route:
            return openapi.doc_of(r.handler).answer.exports
    raise AssertionError(route)


def flat_rows(value, prefix="") -> list[dict]:
    """A JSON table as rows of flat columns, written independently of web/exports.py."""
    items = value if isinstance(value, list) else [] if value is None else [value]

    def flat(d, pre):
        out = {}
        for k, v in d.items():
            out.update(flat(v, f"{pre}{k}.") if isinstance(v, dict) else {f"{pre}{k}": v})
        return out
    return [flat(r, prefix) for r in items]


def instant(value) -> dt.datetime | None:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}T[\d:.]+([+-]\d{2}:\d{2}|Z)?", value):
        at = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return at if at.tzinfo else at.replace(tzinfo=dt.timezone.utc)
    return None


class Counter:
    cells = 0
    empty_for_null = 0
    times = 0
    fractions = 0


def check_csv_cell(cell: str, value, where) -> None:
    Counter.cells += 1
    if value is None:
        Counter.empty_for_null += 1
        assert cell == "", where
    elif isinstance(value, bool):
        assert cell == ("SANT" if value else "FALSKT"), where
    elif isinstance(value, int):
        assert cell == str(value), where  # no thousands separator
    elif isinstance(value, float):
        assert "." not in cell and " " not in cell and "e" not in cell.lower(), where
        assert float(cell.replace(",", ".")) == value, where
        Counter.fractions += "," in cell
    elif isinstance(value, list):
        assert cell == ", ".join(map(str, value)), where
    elif (at := instant(value)) is not None:
        Counter.times += 1
        local = dt.datetime.strptime(cell, "%Y-%m-%d %H:%M:%S").replace(tzinfo=STOCKHOLM)
        assert local == at.replace(microsecond=0), where
    else:
        assert cell == ("'" + value if value[:1] in ("=", "+", "-", "@") else value), where


def check_xlsx_cell(cell, value, where) -> None:
    Counter.cells += 1
    if value is None:
        assert cell is None, where
    elif isinstance(value, (int, float)):
        assert isinstance(cell, (int, float)) and not isinstance(cell, str) and cell == value, where
    elif isinstance(value, list):
        assert cell == (", ".join(map(str, value)) or None), where  # none (a level without actions): empty
    elif (at := instant(value)) is not None:
        assert isinstance(cell, dt.datetime), where
        local = at.astimezone(STOCKHOLM).replace(tzinfo=None)
        assert abs(cell - local) < dt.timedelta(milliseconds=1), where
    else:
        assert cell == value, where


def answer_table(answer: dict, name: str) -> list[dict]:
    value = answer
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return flat_rows(value)


# The tables of an answer that is no list of rows, written here apart from web/exports.py with the columns
# spelled out: one row per unit × point (the unit's own fields, then the point's time and values).
HISTORY = ("occupancy_pct", "occupied", "staffed_beds", "overcrowded", "discharge_ready", "escalation_level")
FORECAST = ("occupied", "overcrowded", "free_beds", "occupancy_pct", "staffed_beds_ahead")
DECLARED = ("level", "reason", "declared_by", "declared_at", "until")


def per_point(units: list[dict], head: tuple[str, ...], times: list[str], fields: tuple[str, ...]) -> list[dict]:
    rows = []
    for u in units:
        for k, at in enumerate(times):
            rows.append({**{c: u[c] for c in head if c in u}, "at": at, **{f: u[f][k] for f in fields}})
    return rows


SHAPED = {
    "/api/v1/status/history": lambda a: {"points": per_point(a["series"], ("id", "name", "region_code"), a["times"],
                                                             HISTORY)},
    "/api/v1/forecast": lambda a: {
        "points": per_point(a["series"], ("id", "name", "region_code", "hospital_id", "ward_kind", "staffed_beds",
                                          "occupied_now"), a["times"], FORECAST),
        "backtest": [{"id": s["id"], "name": s["name"], **e} for s in a["series"] for e in s["backtest"]]},
    "/api/v1/escalation": lambda a: {"rows": flat_rows([{**r, "declared": r["declared"] or dict.fromkeys(DECLARED)}
                                                        for r in a["rows"]])},
    "/api/v1/escalation/history": lambda a: {
        "points": [{"region": a["region"], "at": at, "computed": a["computed"][k], "declared": a["declared"][k],
                    "level": a["level"][k]} for k, at in enumerate(a["times"])],
        "declarations": flat_rows(a["declarations"])},
}


def rows_of(path: str, answer: dict, name: str) -> list[dict]:
    """The rows an export's table holds: the answer's own list, or its reshaped series (SHAPED)."""
    shape = SHAPED.get(path.split("?")[0])
    return shape(answer)[name] if shape else answer_table(answer, name)


def compare_csv(data: bytes, rows: list[dict], where) -> None:
    """A CSV export read as Swedish Excel reads it, cell by cell against the JSON rows."""
    assert data.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM: Swedish Excel reads å ä ö right"
    got = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    header, cells = got[0], got[1:]
    assert len(cells) == len(rows), where
    for row, line in zip(rows, cells):
        assert header == list(row), where  # every row of these answers has the same fields
        for col, cell in zip(header, line):
            check_csv_cell(cell, row[col], (*where, col))


def compare_xlsx(data: bytes, answer: dict, names: tuple[str, ...], where, path: str = "") -> None:
    """An XLSX export opened with openpyxl: a sheet per table, cell by cell against the JSON answer."""
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == list(names), where
    for name in names:
        rows = rows_of(path, answer, name)
        sheet = list(wb[name].iter_rows(values_only=True))
        assert len(sheet) == len(rows) + 1 or not rows and not sheet, (*where, name)
        for row, line in zip(rows, sheet[1:]):
            assert list(sheet[0]) == list(row), (*where, name)
            for col, cell in zip(sheet[0], line):
                check_xlsx_cell(cell, row[col], (*where, name, col))


def test_every_list_export_is_the_viewers_json_answer(server):
    # a closed month, so the snapshot has rows
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/v1/waitlist/snapshots/close?month=2026-11",
                                 method="POST", headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    assert urllib.request.urlopen(req, timeout=60).status == 200
    # a declared level (the others have none: their declaration's columns empty), its reason a formula to Excel
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/v1/escalation/declare?region=01&level=3&"
                                 "reason=%3DSUMMA(1)%20akuten%20full", method="POST",
                                 headers={"Authorization": f"Bearer {TOKENS['admin']}"})
    assert urllib.request.urlopen(req, timeout=60).status == 200
    compared, shaped = 0, set()
    # whole seconds, after the declaration (made at a millisecond of this second)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(seconds=1)
    now = urllib.parse.quote(now.isoformat())
    for path in PATHS:
        path = path.replace("NOW", now)
        names = export_tables(server, path)
        assert names, path
        for who in VIEWERS:
            status, _, body = call(server, path, who)
            for fmt in ("csv", "xlsx"):
                st, headers, data = call(server, q(path, f"format={fmt}"), who)
                assert st == status, (path, who, fmt, st, data[:200])  # refused alike
            if status != 200:
                continue
            answer = json.loads(body)
            for name in names:
                rows = rows_of(path, answer, name)
                st, headers, data = call(server, q(path, f"format=csv&table={name}"), who)
                assert st == 200 and headers["Content-Type"].startswith("text/csv"), (path, who, name, data[:200])
                compare_csv(data, rows, (path, who, name))
                compared += len(rows)
                if path.split("?")[0] in SHAPED and rows:
                    shaped.add((path.split("?")[0], name))
            st, headers, data = call(server, q(path, "format=xlsx"), who)
            assert st == 200 and headers["Content-Type"] == exports.CONTENT_TYPES["xlsx"]
            compare_xlsx(data, answer, names, (path, who), path)
    assert compared > 100
    # every reshaped table had rows to compare (the declaration made above included)
    assert shaped == {(p, n) for p, shape in SHAPED.items() for n in ("points", "backtest", "rows", "declarations")
                      if n in export_tables(server, p)}, shaped
    # the data hold what must be exercised: hidden counts, decimals, times
    assert Counter.empty_for_null > 10 and Counter.fractions > 5 and Counter.times > 10, vars(Counter)


def test_a_hidden_count_is_an_empty_cell_never_the_number(server):
    # H01 holds 4 patients (small): hidden from a national viewer, shown to the admin
    h01 = "SE2321000016-H001"

    def cell(who, fmt):
        _, _, data = call(server, f"/api/v1/status?level=hospital&region=01&format={fmt}", who)
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
            return next(r for r in rows if r["id"] == h01)["occupied"]
        sheet = list(openpyxl.load_workbook(io.BytesIO(data))["rows"].iter_rows(values_only=True))
        return dict(zip(sheet[0], next(r for r in sheet[1:] if r[0] == h01)))["occupied"]
    assert cell("admin", "csv") == "4" and cell("admin", "xlsx") == 4
    assert cell("national", "csv") == "" and cell("national", "xlsx") is None


def test_file_names_are_swedish_and_dated_in_stockholm(server):
    today = dt.datetime.now(STOCKHOLM).date().isoformat()
    for path, stem in (("/api/v1/status?level=region", "belaggning-region"),
                       ("/api/v1/out-of-area?window=30d", "utomlanspatienter-30d"),
                       ("/api/v1/waitlist?region=01", "vantelista-01"),
                       ("/api/v1/quality", "datakvalitet"),
                       ("/api/v1/status/history?level=region&step=60", "belaggning-over-tid-region"),
                       ("/api/v1/status/history?level=region&id=01&step=60", "belaggning-over-tid-region-01"),
                       ("/api/v1/forecast?level=nation&hours=6", "belaggningsprognos-nation"),
                       ("/api/v1/escalation/history?region=01&step=60", "eskalering-over-tid-01")):
        for fmt in ("csv", "xlsx"):
            st, headers, _ = call(server, q(path, f"format={fmt}"), "admin")
            assert st == 200
            disposition = headers["Content-Disposition"]
            assert disposition.startswith(f'attachment; filename="{stem}-{today}.{fmt}"'), disposition
            assert "filename*=UTF-8''" in disposition
    _, headers, _ = call(server, "/api/v1/status?level=nation&format=csv", "admin")
    assert "bel%C3%A4ggning-nation" in headers["Content-Disposition"]  # the exact name, ä and all


def test_bad_export_parameters_get_a_clear_400(server):
    for path in ("/api/v1/status?format=pdf", "/api/v1/quality?format=csv&table=nope"):
        st, _, body = call(server, path, "admin")
        assert st == 400 and "måste vara en av" in json.loads(body)["error"], body
    st, _, _ = call(server, "/api/v1/status?format=csv", "none")
    assert st == 401


def test_swedish_cells():
    tz = STOCKHOLM
    assert exports.swedish_number(0.6667) == "0,6667"
    assert exports.swedish_number(1e-05) == "0,00001"
    assert exports.swedish_number(1234567.5) == "1234567,5"
    assert exports.swedish_number(22000) == "22000"
    assert exports.csv_cell(None, tz) == "" and exports.csv_cell(True, tz) == "SANT"
    assert exports.csv_cell("2026-11-30T11:00:00+00:00", tz) == "2026-11-30 12:00:00"  # CET
    assert exports.csv_cell("2026-07-01T10:00:00Z", tz) == "2026-07-01 12:00:00"  # CEST
    assert exports.csv_cell("2026-11", tz) == "2026-11" and exports.csv_cell("2026-11-30", tz) == "2026-11-30"
    assert exports.csv_cell("=HYPERLINK(\"x\")", tz) == "'=HYPERLINK(\"x\")"  # never a formula
    assert exports.csv_cell(["MNG-001", "MNG-011"], tz) == "MNG-001, MNG-011"


def test_xlsx_cells_keep_their_types():
    t = exports.table("rows", [{"n": 3, "share": 0.25, "at": "2026-11-30T11:00:00+00:00", "text": "=1+1",
                                "hidden": None, "nested": {"a": 1}}])
    assert t.columns == ("n", "share", "at", "text", "hidden", "nested.a")
    wb = openpyxl.load_workbook(io.BytesIO(exports.to_xlsx([t], "Europe/Stockholm")))
    ws = wb["rows"]
    assert [c.value for c in ws[2]] == [3, 0.25, dt.datetime(2026, 11, 30, 12, 0), "=1+1", None, 1]
    assert ws["D2"].data_type == "s"  # text, not a formula
    assert ws["C2"].is_date


def test_content_disposition_gives_plain_and_exact_names():
    cd = exports.content_disposition("väntelista-månadsbild-2026-11", dt.date(2026, 12, 1), "csv")
    assert cd == ('attachment; filename="vantelista-manadsbild-2026-11-2026-12-01.csv"; '
                  "filename*=UTF-8''v%C3%A4ntelista-m%C3%A5nadsbild-2026-11-2026-12-01.csv")


@pytest.mark.parametrize("name,taken,expected", [("rejections_by_rule", set(), "rejections_by_rule"),
                                                 ("a" * 40, set(), "a" * 31), ("x/y", {"x_y"}, "x_y_2")])
def test_sheet_titles(name, taken, expected):
    assert exports.sheet_title(name, set(taken)) == expected


def test_the_pages_download_buttons_give_each_table_as_csv_and_xlsx(server, browser):
    """In a real Chromium: the buttons beside each table download this viewer's table (the bearer header,
    never a token in the URL), named by the server, and the files hold the JSON answer's cells; the trend
    table's, the points on screen. (The room panel's: tests/test_page_room.py, whose data have offers.)"""
    today = dt.datetime.now(STOCKHOLM).date().isoformat()
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.fill("#token-input", TOKENS["national"])
        page.click("#login-button")
        page.wait_for_selector("#status-body tr.row")
        page.wait_for_selector("#deadletter-body tr.row")
        page.wait_for_selector('#trend-svg[data-id="nation:SE"]')
        region = page.input_value("#waitlist-region")
        assert region
        for panel, path, stem in (("status-panel", "/api/v1/status?level=nation", "beläggning-nation"),
                                  ("heatmap-panel", "/api/v1/out-of-area?window=now", "utomlänspatienter-now"),
                                  ("waitlist-panel", f"/api/v1/waitlist?region={region}", f"väntelista-{region}"),
                                  ("deadletter-panel", "/api/v1/deadletters?limit=25", "avvisade-händelser"),
                                  ("trend-panel", None, "beläggning-över-tid-nation")):
            if path is None:  # the trend table's: the points on screen (from, to and step of the shown answer)
                path = page.evaluate("window.bedflow.trendExport()")
                assert "&to=" in path, path
            _, _, body = call(server, path, "national")
            answer, names = json.loads(body), export_tables(server, path)
            assert rows_of(path, answer, names[0]), panel  # a file with rows to compare
            if panel == "trend-panel":
                shown = page.eval_on_selector_all("#trend-table-body th[data-field=at]", "e => e.map(x => x.dataset.value)")
                assert [r["at"] for r in rows_of(path, answer, "points")] == shown == answer["times"]
                assert len(shown) == 97  # 24 h every 15 minutes
            for fmt in ("csv", "xlsx"):
                with page.expect_download() as info:
                    page.click(f"#{panel} .export-buttons button[data-export={fmt}]")
                download = info.value
                # the exact Swedish name (filename*), å ä ö and all
                assert download.suggested_filename == f"{stem}-{today}.{fmt}", (panel, download.suggested_filename)
                data = Path(download.path()).read_bytes()
                if fmt == "csv":
                    compare_csv(data, rows_of(path, answer, names[0]), (panel,))
                else:
                    compare_xlsx(data, answer, names, (panel,), path)
            assert "Hämtad" in page.inner_text(f"#{panel} .export-msg")
    finally:
        context.close()
