"""Rendering tests for the morning report (HTML + PDF) and for the static live page.

The page test serves web/static/ together with FAKE JSON for the API endpoints (defined here), so it
tests only the page's own rendering; the real end-to-end test against web/api.py lives elsewhere.
"""
from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.report_example import example_report
from web.report_html import render_morning_report
from web.report_model import MorningReport, room_near_whom

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "web" / "static"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

CHROMIUM = shutil.which("chromium")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")


def _fmt(n: int) -> str:
    """Thousands with a narrow no-break space, as the report prints them."""
    return f"{n:,}".replace(",", "\u202f")


# --------------------------------------------------------------------------- morning report (HTML)

@pytest.fixture(scope="module")
def report() -> MorningReport:
    return example_report()


@pytest.fixture(scope="module")
def html(report) -> str:
    return render_morning_report(report)


def test_report_is_complete_html(html):
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "</html>" in html
    assert "Morgonrapport" in html and "Morning report" in html
    assert "07:00" in html
    assert "@page" in html and "A4" in html
    assert "break-before: page" in html


def test_report_contains_regions_and_numbers(report, html):
    for r in report.regions:
        assert r.name in html
        assert _fmt(r.today.staffed) in html
        assert _fmt(r.today.occupied) in html
    # hospitals within the regions
    for r in report.regions:
        for h in r.hospitals:
            assert h.name in html
    n = report.nation
    assert _fmt(n.staffed) in html
    assert _fmt(n.occupied) in html


def test_report_change_since_yesterday(report, html):
    # every region's occupied change appears, signed
    for r in report.regions:
        d = r.today.occupied - r.yesterday.occupied
        s = f"+{d}" if d > 0 else (f"\u2212{-d}" if d < 0 else "±0")
        assert s in html, (r.name, s)
    assert "Förändring sedan i går" in html and "Change since yesterday" in html


def test_report_svg_charts(html):
    assert html.count("<svg") >= 2
    assert 'id="chart-occupancy"' in html
    assert 'id="chart-change"' in html
    assert 'class="line-100"' in html  # the 100 % line


def test_report_room_near_whom(report, html):
    needs = room_near_whom(report)
    assert needs, "example data should have at least one region in need"
    by_code = {r.code: r for r in report.regions}
    for need in needs:
        reg = by_code[need.region_code]
        # escalation, or more overcrowded patients than free beds (both summed over wards, never netted)
        assert (reg.today.escalation_level or 0) >= 3 or reg.today.overcrowded > reg.today.free
        # neighbours first, and they all have free beds left once their own overcrowded patients have one
        assert all(o.spare == o.free - o.overcrowded > 0 for o in need.neighbours + need.healthcare_region)
        codes_nb = [o.region_code for o in need.neighbours]
        codes_hr = [o.region_code for o in need.healthcare_region]
        assert not set(codes_nb) & set(codes_hr)
        assert need.region_code not in codes_nb + codes_hr
        for o in need.neighbours:
            assert o.name in html
    assert "Plats nära vem" in html and "Room near whom" in html


def test_report_data_gaps(report, html):
    assert report.data_gaps
    for g in report.data_gaps:
        assert g.name in html
    assert "Dataluckor" in html and "Data gaps" in html


def test_report_says_gap_notes_and_escalation_rules_in_swedish(report, html):
    """The dictionary's Swedish (web/texts.json): the rule that fired in each badge's title, and the data-gap
    notes the morning report builds (web/morning.py: a key and its parameters)."""
    from dataclasses import replace
    from datetime import timedelta

    from web.report_model import DataGap

    import html as html_lib

    titles = [html_lib.unescape(t) for t in re.findall(r'<span class="badge esc-\d" title="([^"]*)"', html)]
    assert titles and all(re.fullmatch(r"(beläggning \d+,\d % [≥<] \d+(,\d+)? %|överbeläggningar \d+,\d per 100 "
                                       r"vårdplatser [≥<] \d+(,\d+)?)", t) for t in titles), titles[:5]
    assert not any("occupancy" in t or "overcrowded" in t for t in titles)

    rep = replace(report, data_gaps=[
        DataGap("region", "09", "Region Gotland", "09", None, note="gap.no_status"),
        DataGap("ward", "SE1-W1", "Avd 1", "01", report.picture_at - timedelta(hours=2), note="gap.stale",
                params={"minutes": 30})])
    out = render_morning_report(rep)
    gaps = out[out.index('<section id="gaps">'):out.index("</section>", out.index('<section id="gaps">'))]
    assert "<td>ingen avdelningsstatus alls</td>" in gaps
    assert "<td>ingen händelse på mer än 30 min före bilden</td>" in gaps
    assert "<td class=\"num\">aldrig</td>" in gaps  # never seen: its age
    assert "no ward status" not in gaps and "no event for" not in gaps and "never" not in gaps


def test_report_escapes_html():
    rep = example_report()
    rep.regions[0].hospitals[0].name = "<script>alert(1)</script>"
    out = render_morning_report(rep)
    assert "<script>alert(1)</script>" not in out
    assert "&lt;script&gt;" in out


# --------------------------------------------------------------------------- morning report (PDF)

@needs_chromium
def test_report_pdf(report, html):
    from web.pdf import html_to_pdf

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "morning_report.html").write_text(html, encoding="utf-8")
    out = ARTIFACTS / "morning_report.pdf"
    html_to_pdf(html, out)
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(data) > 10_000

    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed; PDF text not checked")
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = re.sub(r"\s+", " ", text.replace("\u202f", " ").replace("\u00a0", " "))
    for r in report.regions:
        assert r.name in flat, r.name
    n = report.nation
    for num in (n.staffed, n.occupied):
        assert _fmt(num).replace("\u202f", " ") in flat, num
    stockholm = next(r for r in report.regions if r.code == "01")
    assert _fmt(stockholm.today.staffed).replace("\u202f", " ") in flat
    assert "Morgonrapport" in flat
    # several pages: the sections break onto new A4 pages
    pages = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout \
        if shutil.which("pdfinfo") else ""
    m = re.search(r"Pages:\s+(\d+)", pages)
    if m:
        assert int(m.group(1)) >= 3


def test_pdf_clear_error_without_chromium(monkeypatch, tmp_path):
    import web.pdf as pdf

    monkeypatch.setattr(pdf.shutil, "which", lambda name: None)
    with pytest.raises(pdf.ChromiumNotFound, match="chromium"):
        pdf.html_to_pdf("<p>x</p>", tmp_path / "x.pdf")


# --------------------------------------------------------------------------- live page (fake API)

TOKEN = "test-token-123"
REGION_CODES = ["01", "03", "04", "05", "06", "07", "08", "09", "10", "12", "13", "14", "17", "18", "19",
                "20", "21", "22", "23", "24", "25"]

FAKE_NATION = {
    "id": "SE", "name": "Sverige", "staffed_beds": 21345, "occupied": 20112, "present": 19530, "on_leave": 582,
    "free_beds": 1645, "occupancy_pct": 94.2, "overcrowded": 412, "outliers": 618, "discharge_ready": 903,
    "out_of_area_in": 1210, "out_of_area_out": 1210, "escalation_level": 2,
    "escalation_rule": "occupancy_pct >= 92 (nation)", "last_event_at": "2025-01-15T06:59:58+01:00",
    "stale": False, "coverage": 0.93,
}

FAKE_HCR = [
    {"id": "Stockholm-Gotland", "name": "Stockholm-Gotland", "staffed_beds": 5310, "occupied": 5402,
     "present": 5240, "on_leave": 162, "free_beds": 69, "occupancy_pct": 101.7, "overcrowded": 161,
     "outliers": 140, "discharge_ready": 210, "out_of_area_in": 320, "out_of_area_out": 180,
     "escalation_level": 4, "escalation_rule": "occupancy_pct > 100", "last_event_at": "2025-01-15T06:59:58+01:00",
     "stale": False, "coverage": 0.97},
    {"id": "Södra", "name": "Södra", "staffed_beds": 4622, "occupied": 4310, "present": 4200, "on_leave": 110,
     "free_beds": 312, "occupancy_pct": 93.2, "overcrowded": 71, "outliers": 120, "discharge_ready": 160,
     "out_of_area_in": 150, "out_of_area_out": 140, "escalation_level": 2, "escalation_rule": "occupancy_pct >= 92",
     "last_event_at": "2025-01-15T06:59:40+01:00", "stale": False, "coverage": 0.88},
    {"id": "Norra", "name": "Norra", "staffed_beds": 2431, "occupied": 2101, "present": 2050, "on_leave": 51,
     "free_beds": 330, "occupancy_pct": 86.4, "overcrowded": None, "outliers": 31, "discharge_ready": 48,
     "out_of_area_in": 40, "out_of_area_out": 52, "escalation_level": 1, "escalation_rule": "default",
     "last_event_at": "2025-01-15T05:10:00+01:00", "stale": True, "coverage": 0.41},
]

FAKE_REGIONS = [
    {"id": "01", "name": "Region Stockholm", "healthcare_region": "Stockholm-Gotland", "staffed_beds": 5163,
     "occupied": 5260, "present": 5101, "on_leave": 159, "free_beds": 61, "occupancy_pct": 101.9,
     "overcrowded": 158, "outliers": 137, "discharge_ready": 205, "out_of_area_in": 300, "out_of_area_out": 170,
     "out_of_area_in_census": 12, "escalation_level": 4, "escalation_rule": "occupancy_pct > 100", "last_event_at": "2025-01-15T06:59:58+01:00",
     "stale": False, "coverage": 0.97},
    {"id": "09", "name": "Region Gotland", "healthcare_region": "Stockholm-Gotland", "staffed_beds": 147,
     "occupied": 142, "present": 139, "on_leave": 3, "free_beds": 5, "occupancy_pct": 96.6, "overcrowded": None,
     "outliers": None, "discharge_ready": 5, "out_of_area_in": 20, "out_of_area_out": 10, "escalation_level": 3,
     "escalation_rule": "free_beds < 10", "last_event_at": None, "stale": True, "coverage": 0.5},
    {"id": "12", "name": "Region Skåne", "healthcare_region": "Södra", "staffed_beds": 2974, "occupied": 2800,
     "present": 2730, "on_leave": 70, "free_beds": 174, "occupancy_pct": 94.1, "overcrowded": 40, "outliers": 80,
     "discharge_ready": 90, "out_of_area_in": 90, "out_of_area_out": 60, "escalation_level": 2,
     "escalation_rule": "occupancy_pct >= 92", "last_event_at": "2025-01-15T06:59:00+01:00", "stale": False,
     "coverage": 1.0},
]


def _fake_out_of_area(window: str) -> list[dict]:
    rows = []
    for i, h in enumerate(REGION_CODES):
        for j, t in enumerate(REGION_CODES):
            if h == t:
                continue
            v = ((i * 7 + j * 13) % 23) * (3 if window == "30d" else 1)
            if v == 0:
                continue
            rows.append({"home_region": h, "treating_region": t, "patients": None if v < 5 else v})
    return rows


def _fake_app():
    import orjson
    from aiohttp import web

    def authed(handler):
        async def wrapped(request):
            if request.headers.get("Authorization") != f"Bearer {TOKEN}":
                return web.json_response({"error": "unauthorized"}, status=401)
            return await handler(request)
        return wrapped

    @authed
    async def status(request):
        level = request.query.get("level", "nation")
        rows = {"nation": [FAKE_NATION], "healthcare_region": FAKE_HCR, "region": FAKE_REGIONS}.get(level)
        if rows is None and level == "hospital":
            rows = [{"id": "SE2321000016-H1", "name": "Karolinska Solna", **{k: v for k, v in FAKE_REGIONS[0].items()
                                                                             if k not in ("id", "name")}}]
        if rows is None:
            rows = []
        return web.json_response({"level": level, "rows": rows, "generated_at": "2025-01-15T07:00:00+01:00"})

    @authed
    async def out_of_area(request):
        w = request.query.get("window", "now")
        return web.json_response({"window": w, "rows": _fake_out_of_area(w)})

    @authed
    async def waitlist(request):
        region = request.query.get("region", "01")
        rows = [
            {"mvo_group": "Ögonsjukvård", "phase": 2, "waiting": 3120, "le_30": 900, "le_60": 700, "le_90": 600,
             "le_180": 620, "gt_180": 300, "share_within_limit": 0.71, "share_over_180": 0.096},
            {"mvo_group": "Öron-, näs- och halssjukvård", "phase": 1, "waiting": 1480, "le_30": 700, "le_60": 400,
             "le_90": 200, "le_180": 150, "gt_180": 30, "share_within_limit": 0.88, "share_over_180": 0.02},
            {"mvo_group": "Ortopedi", "phase": 2, "waiting": 2210, "le_30": 400, "le_60": 380, "le_90": 330,
             "le_180": 600, "gt_180": 500, "share_within_limit": 0.5, "share_over_180": 0.226},
            {"mvo_group": "Barn- och ungdomspsykiatri", "phase": 1, "waiting": None, "le_30": None, "le_60": None,
             "le_90": None, "le_180": None, "gt_180": None, "share_within_limit": None, "share_over_180": None},
        ]
        return web.json_response({"region": region, "at": "2025-01-15T07:00:00+01:00", "rows": rows})

    @authed
    async def deadletters(request):
        rows = [
            {"at": "2025-01-15T06:58:12+01:00", "source_topic": "beds.events.v1", "rule_ids": ["R-HSA-01"],
             "messages": ["ward is not a valid HSA-id: 'AVD 7'"], "region_code": "12"},
            {"at": "2025-01-15T06:41:03+01:00", "source_topic": "waitlist.events.v1",
             "rule_ids": ["R-PHASE-02", "R-ACT-01"],
             "messages": ["phase 2 requires an activity", "activity code 'XYZ' unknown"], "region_code": "05"},
        ]
        return web.json_response({"rows": rows})

    @authed
    async def reference(request):
        # the real endpoint's payload (regions and thresholds the page must not keep a copy of)
        from web.access import Scope, Viewer
        from web.api import reference_data
        from web.policy import ViewPolicy

        return web.Response(body=orjson.dumps(reference_data(ViewPolicy(), Scope(Viewer("admin", "admin"), 4))),
                            content_type="application/json")

    async def index(request):
        return web.FileResponse(STATIC / "index.html")

    async def page_texts(request):  # the one dictionary, as the real API serves it
        from web import texts
        return web.Response(text=texts.script(), content_type="text/javascript")

    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/texts.js", page_texts)
    app.router.add_get("/api/v1/reference", reference)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/out-of-area", out_of_area)
    app.router.add_get("/api/v1/waitlist", waitlist)
    app.router.add_get("/api/v1/deadletters", deadletters)
    app.router.add_static("/static/", STATIC)
    return app


CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@needs_chromium
def test_static_page_renders_fake_api():
    asyncio.run(_page_scenario())


async def _page_scenario():
    from aiohttp import web
    from playwright.async_api import async_playwright

    runner = web.AppRunner(_fake_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("pageerror", lambda e: errors.append(str(e)))
            await page.goto(base + "/")

            # login form first; a wrong token brings it back with an error
            await page.wait_for_selector("#login-form", state="visible")
            await page.fill("#token-input", "wrong")
            await page.click("#login-button")
            await page.wait_for_selector("#login-error", state="visible")
            assert await page.is_visible("#login-form")

            await page.fill("#token-input", TOKEN)
            await page.click("#login-button")
            await page.wait_for_selector('#status-body tr[data-id="SE"]')
            assert await page.evaluate("sessionStorage.getItem('bedflow.token')") == TOKEN

            # nation row equals the fake JSON
            row = page.locator('#status-body tr[data-id="SE"]')
            for field in ("staffed_beds", "occupied", "free_beds", "overcrowded", "outliers", "discharge_ready",
                          "out_of_area_in", "out_of_area_out", "escalation_level", "present", "on_leave"):
                raw = await row.locator(f'[data-field="{field}"]').get_attribute("data-value")
                assert raw == str(FAKE_NATION[field]), field
            assert float(await row.locator('[data-field="occupancy_pct"]').get_attribute("data-value")) == 94.2
            txt = await row.locator('[data-field="staffed_beds"]').inner_text()
            assert re.sub(r"\D", "", txt) == "21345"
            assert (await row.locator('[data-field="escalation_level"]').get_attribute("title")).endswith(
                FAKE_NATION["escalation_rule"])
            # header totals and coverage
            assert await page.get_attribute('#nation-totals [data-field="occupied"]', "data-value") == "20112"
            assert "93 %" in await page.inner_text("#coverage")

            # drill down: nation -> healthcare regions
            await row.locator(':scope > *').first.click()  # the name cell: the row's middle holds its sparklines
            await page.wait_for_selector('#status-body tr[data-id="Södra"]')
            assert await page.locator("#status-body tr.row").count() == 3
            stale = page.locator('#status-body tr[data-id="Norra"]')
            assert "stale" in (await stale.get_attribute("class"))
            assert "inaktuell" in await stale.inner_text()  # Swedish first (the English is a toggle)
            assert await stale.locator('[data-field="overcrowded"]').inner_text() == "<5"
            assert "Sjukvårdsregioner" in await page.inner_text("#breadcrumb")

            # healthcare region -> its regions (client-side filter)
            await page.click('#status-body tr[data-id="Stockholm-Gotland"] > :first-child')
            await page.wait_for_selector('#status-body tr[data-id="01"]')
            ids = await page.locator("#status-body tr.row").evaluate_all("rs => rs.map(r => r.dataset.id)")
            assert ids == ["01", "09"]
            # census-only wards' out-of-area count shown apart from in / out (issue 12 point 7)
            r01 = page.locator('#status-body tr[data-id="01"]')
            assert await r01.locator('[data-field="out_of_area_in_census"]').get_attribute("data-value") == "12"
            assert await page.locator('#status-body tr[data-id="09"] [data-field="out_of_area_in_census"]').count() == 0

            # heat map 21 x 21
            await page.wait_for_selector("#heatmap .hm-cell")
            assert await page.locator("#heatmap .hm-cell").count() == 21 * 21
            assert await page.locator('#heatmap .hm-cell[data-home="01"][data-treating="03"]').count() == 1

            # waiting list + dead letters rendered
            await page.wait_for_selector('#waitlist-body tr[data-id="Ögonsjukvård|2"]')
            assert await page.get_attribute('#waitlist-body tr[data-id="Ögonsjukvård|2"] [data-field="waiting"]',
                                            "data-value") == "3120"
            assert await page.locator("#deadletter-body tr.row").count() == 2

            # a refresh cycle keeps the drill-down position
            await page.wait_for_timeout(5600)
            assert await page.locator('#status-body tr[data-id="01"]').count() == 1
            assert await page.locator('#status-body tr[data-id="SE"]').count() == 0

            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "page.png"), full_page=False)
            await page.screenshot(path=str(ARTIFACTS / "page_full.png"), full_page=True)

            # 401 during use shows the login again
            await page.evaluate("sessionStorage.setItem('bedflow.token', 'expired')")
            await page.evaluate("window.bedflow.refresh()")
            await page.wait_for_selector("#login-form", state="visible")
            await browser.close()
    finally:
        await runner.cleanup()
    assert not errors, errors


def test_report_hidden_hospital_shows_dashes_a_note_and_no_escalation_words(report):
    from dataclasses import replace
    from web.suppression import SUPPRESSED

    rep = replace(report, regions=[replace(r, hospitals=list(r.hospitals)) for r in report.regions])
    plain = render_morning_report(rep)
    assert "– = dolt" not in plain  # nothing hidden: no note
    h = rep.regions[0].hospitals[0]
    rep.regions[0].hospitals[0] = replace(h, today=replace(h.today, occupied=None, free=None, occupancy_pct=None,
                                                           overcrowded=None, escalation_level=None,
                                                           escalation_rule=SUPPRESSED))
    out = render_morning_report(rep)
    assert "– = dolt" in out and "hidden" in out
    row = re.search(rf'<tr class="[^"]*" data-id="{re.escape(h.id)}">(.*?)</tr>', out, re.S).group(1)
    assert '<span class="badge esc-na">–</span>' in row and "occupancy " not in row
    assert re.search(r'data-field="occupied"><span class="val">–</span><span class="chg "[^>]*>–<', row)
