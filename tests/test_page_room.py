"""The page's need / offer panel (issue 14) in a real Chromium against the real API (chDB filled by the real
processor, the scenario of tests/test_room_nearby.py): the selected region's need of one kind of bed, now
and tomorrow morning, and the ranked region offers near it; chosen with the keyboard; Swedish first with the
English toggle; the 5-second refresh updates the cells in place (the rows are the same nodes, focus stays);
axe-core finds no WCAG 2.1 A/AA violation on the page with the panel filled, nor on the morning report with
its new sections ("Plats i närheten efter behov", "I morgon 07:00")."""
from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.processor import BEDS, Processor
from tests.test_access import api_server
from tests.test_exports import compare_csv, compare_xlsx, export_tables, rows_of
from tests.test_page_accessibility import violations
from tests.test_room_nearby import records, scenario
from web.access import Token
from web.policy import ViewPolicy

ADMIN, NATIONAL, REGION03 = "page-room-admin", "page-room-national", "page-room-03"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("page-room")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(records(codec, BEDS, scenario()))
    Sink(db).write(batch.rows)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("uppsala", REGION03, "region:03")),
                        audit_log=workdir / "audit.log", detail_grants=frozenset({"skr"}))
    yield from api_server(db, policy, ADMIN)


def open_page(browser, server, token):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.fill("#token-input", token)
    page.click("#login-button")
    page.wait_for_selector("#refresh-status.ok")
    page.wait_for_selector("#room-need-body tr[data-id='now']")
    return context, page


def offers(page) -> list[tuple[str, str, str, str]]:
    """(region, relation, free now, forecast free tomorrow) of each offer row, as data-value holds them."""
    return page.eval_on_selector_all("#room-offers-body tr.row", """rows => rows.map(r => [
        r.querySelector('[data-field=region_code]').dataset.value, r.querySelector('[data-field=relation]').dataset.value,
        r.querySelector('[data-field=free_beds]').dataset.value,
        r.querySelector('[data-field=forecast_free_beds]').dataset.value])""")


def choose_region(page, code: str):
    with page.expect_response(lambda r: f"room-nearby?unit={code}" in r.url):
        page.select_option("#room-region", code)
    page.wait_for_selector(f"#room-need-caption:has-text('{ {'03': 'Uppsala', '01': 'Stockholm'}[code] }')")


def test_a_regions_need_and_the_ranked_offers_near_it(server, browser):
    context, page = open_page(browser, server, NATIONAL)
    try:
        choose_region(page, "03")
        # 03 asks as a whole region: its neighbours in travel order, 01 (S 15 + X 1 free) then 19 (6); no
        # region of another healthcare region that is no neighbour (12). Nothing moves: tomorrow as now.
        assert offers(page) == [["01", "neighbour", "16", "16"], ["19", "neighbour", "6", "6"]]
        assert page.inner_text("#room-offers-body tr[data-id='01'] [data-field=relation]") == "grannregion 1"
        now = page.locator("#room-need-body tr[data-id='now']")
        assert now.locator("[data-field=free_beds]").get_attribute("data-value") == "4"  # R's 4 (Q is full)
        # Q's 2 overcrowded are a small number outside the national viewer's region: hidden, shown as such
        assert now.locator("[data-field=overcrowded]").get_attribute("data-value") == ""
        assert now.locator("[data-field=overcrowded]").inner_text() == "<5"
        assert re.fullmatch(r"Lediga i morgon 07:00", page.inner_text("#room-tomorrow-head"))
        # the kind of bed, with the keyboard: psychiatric — 03's own psychiatric ward is no offer to itself
        page.focus("#room-kind")
        with page.expect_response(lambda r: "need=psychiatric" in r.url):
            page.keyboard.press("ArrowDown")
        page.wait_for_selector("#room-offers-body tr[data-id='empty']")
        assert page.evaluate("document.activeElement.id") == "room-kind"
        with page.expect_response(lambda r: "need=icu" in r.url):
            page.keyboard.press("ArrowDown")
        page.wait_for_function("() => document.querySelector(\"#room-offers-body tr[data-id='01']\")")
        assert [o[0] for o in offers(page)] == ["01"]  # I, the ICU ward of 01 (3 free)
        # English, from the one dictionary
        page.click("#lang-button")
        assert page.inner_text("#room-offers-body tr[data-id='01'] [data-field=relation]") == "neighbour 1"
        assert page.inner_text("#room-tomorrow-head") == "Free tomorrow 07:00"
        assert "Offers near Uppsala, ICU" in page.inner_text("#room-offers-caption")
    finally:
        context.close()


def test_the_refresh_updates_the_cells_in_place_and_keeps_focus(server, browser):
    context, page = open_page(browser, server, NATIONAL)
    try:
        choose_region(page, "03")
        page.focus("#room-panel .table-wrap")
        page.evaluate("""() => { document.querySelector("#room-offers-body tr[data-id='01']").__kept = true;
                                 document.querySelector("#room-need-body tr[data-id='now']").__kept = true; }""")
        for _ in range(2):  # two refreshes of every panel
            with page.expect_response(lambda r: "room-nearby" in r.url, timeout=15000):
                pass
        assert page.evaluate("""() => document.querySelector("#room-offers-body tr[data-id='01']").__kept === true &&
                                      document.querySelector("#room-need-body tr[data-id='now']").__kept === true""")
        assert page.evaluate("document.activeElement.matches('#room-panel .table-wrap')")
    finally:
        context.close()


def test_a_region_viewer_asks_about_its_own_region(server, browser):
    context, page = open_page(browser, server, REGION03)
    try:
        assert page.eval_on_selector_all("#room-region option", "os => os.map(o => o.value)") == ["03"]
        page.wait_for_selector("#room-offers-body tr[data-id='01']")
        # its own region's figures in full: Q's 2 overcrowded, 4 free, no shortage
        now = page.locator("#room-need-body tr[data-id='now']")
        assert [now.locator(f"[data-field={f}]").get_attribute("data-value") for f in
                ("free_beds", "overcrowded", "shortage")] == ["4", "2", "0"]
    finally:
        context.close()


def test_the_panels_downloads_are_the_viewers_room_answer(server, browser):
    """The panel's CSV and Excel buttons, clicked in Chromium: the files, read back with csv and openpyxl,
    hold the viewer's JSON answer for the chosen region and kind of bed cell by cell (hidden counts empty)."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.fill("#token-input", NATIONAL)
        page.click("#login-button")
        page.wait_for_selector("#room-need-body tr[data-id='now']")
        choose_region(page, "03")
        page.wait_for_selector("#room-offers-body tr[data-id='01']")
        path = "/api/v1/room-nearby?unit=03&need=somatic"
        status, body = server.call("GET", path, NATIONAL)
        assert status == 200
        answer, names = json.loads(body), export_tables(server, path)
        assert names == ("regions", "wards") and [r["region_code"] for r in answer["regions"]] == ["01", "19"]
        assert answer["wards"], "ward offers: the national viewer has the detail grant"
        today = dt.datetime.now(ZoneInfo("Europe/Stockholm")).date().isoformat()
        for fmt in ("csv", "xlsx"):
            with page.expect_download() as info:
                page.click(f"#room-panel .export-buttons button[data-export={fmt}]")
            assert info.value.suggested_filename == f"plats-i-närheten-03-{today}.{fmt}"
            data = Path(info.value.path()).read_bytes()
            if fmt == "csv":
                compare_csv(data, rows_of(path, answer, "regions"), ("room", fmt))
            else:
                compare_xlsx(data, answer, names, ("room", fmt), path)
        assert "Hämtad" in page.inner_text("#room-panel .export-msg")
    finally:
        context.close()


@pytest.mark.parametrize("token", [NATIONAL, REGION03], ids=["national", "region03"])
def test_no_wcag_aa_violation_with_the_panel_filled(server, browser, token):
    context, page = open_page(browser, server, token)
    try:
        if token == NATIONAL:
            choose_region(page, "03")
        page.wait_for_selector("#room-offers-body tr[data-id='01']")
        found = [v for v in violations(page, "room panel") if "heat map" not in v]
        assert not found, "\n".join(found)
    finally:
        context.close()


def test_the_morning_reports_new_sections_have_no_wcag_aa_violation(browser):
    from tests.report_example import example_report
    from tests.test_room_nearby import w
    from web.morning import room_by_need
    from web.report_html import render_morning_report
    from web.report_model import Figures

    rep = example_report()
    for r in rep.regions:
        r.today = Figures.of(10, 14, 4, escalation_level=3) if r.code == "03" else Figures.of(10, 5, 0, escalation_level=1)
        r.tomorrow = Figures(staffed=10, occupied=9, free=1, overcrowded=0, occupancy_pct=90.0)
    rep.tomorrow_at = rep.picture_at + dt.timedelta(days=1)
    rep.nation_tomorrow = Figures(staffed=210, occupied=189, free=21, overcrowded=0, occupancy_pct=90.0)
    wards = [w("Q", occupied=14), w("S", region="01", staffed=20, occupied=5), w("T", region="19", occupied=4)]
    ahead = {"S": {"occupied": 17.0, "free_beds": 3.0, "overcrowded": 0.0}}
    rep.room_by_need = room_by_need(rep, wards, {}, lambda x: True, ahead, 4, lambda code: True)
    context = browser.new_context(viewport={"width": 1000, "height": 1200})
    page = context.new_page()
    try:
        page.set_content(render_morning_report(rep))
        assert page.locator("#room-need tr.offer").count() == 2 and page.locator("#tomorrow tbody tr").count() == 22
        found = violations(page, "report", undecided=False)
        page.emulate_media(media="print")
        found += violations(page, "report (print)", undecided=False)
        assert not found, "\n".join(found)
    finally:
        context.close()
