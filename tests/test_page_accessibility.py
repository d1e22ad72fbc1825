"""The live page against WCAG 2.1 AA in a real Chromium: axe-core (vendored, tests/vendor/axe-core) finds no
violation of WCAG 2.0/2.1 A and AA with data on the page (fresh and stale wards, every escalation level,
suppressed counts, the out-of-area table, dead letters) for a national and a region:01 viewer; the 5-second
refresh keeps keyboard focus on the element that has it (cells updated in place, not tables replaced);
the refresh can be paused from the keyboard (WCAG 2.2.2) and asks for nothing while paused.

The data go through the real processor and sink into ClickHouse (chDB), as in test_access."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.processor import BEDS, WAITLIST, Processor
from tests.factory import T0, admit, census, ward
from tests.test_access import api_server, records, waitlist_events
from web.access import Token
from web.policy import ViewPolicy

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
ADMIN, NATIONAL, REGION = "a11y-admin", "a11y-national", "a11y-region01"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

H1, H2 = "SE2321000016-H001", "SE2321000016-H002"
A, B, C, E, D = (f"SE2321000016-A10{i}" for i in range(1, 6))
S12, S03 = "SE2321000214-C201", "SE2321000018-E301"
QUIET = "SE2321000016-0002"  # a second sender in 01, silent for days


def bed_events() -> list[dict]:
    """Fresh wards in 01 at escalation levels 4, 3, 2 and 1 (counts above the small-count threshold, so a
    national viewer sees them too), stale wards in 01, 12 and 03, out-of-area patients both ways, small
    (suppressed) counts, and one rejected event (a ward never declared)."""
    fresh = (dt.datetime.now(dt.timezone.utc) - T0).total_seconds() / 60 - 5  # minutes after T0: 5 min ago
    ev = [ward(A, fresh, staffed=4, hospital=H1), ward(B, fresh, staffed=10, hospital=H1),
          ward(C, fresh, staffed=10, hospital=H1), ward(E, fresh, staffed=20, hospital=H1),
          ward(D, 0, staffed=6, hospital=H2, sender_id=QUIET),
          ward(S12, 0, region="12", staffed=5, hospital="SE2321000214-H001"),
          ward(S03, 0, region="03", staffed=4, hospital="SE2321000018-H001")]
    for w, n in ((A, 9), (B, 10), (C, 9), (E, 5)):  # 225 %, 100 %, 90 %, 25 %
        ev += [admit(w, f"{w[-4:]}-{i}", fresh + 0.1 * i, muni="0380" if i < 2 else "0180") for i in range(n)]
    ev += [admit(D, f"d{i}", 5 + i, sender_id=QUIET) for i in range(6)]  # stale: its sender went quiet
    ev += [admit(S12, "s1", 5, region="12", muni="0180"), admit(S12, "s2", 6, region="12", muni="1280"),
           census(S03, 10, staffed=4, occupied=5, ooa=1, region="03")]
    ev += [admit("SE2321000016-NOPE", "x1", 8)]
    return ev


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("a11y")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(
        records(codec, BEDS, bed_events()) + records(codec, WAITLIST, waitlist_events()))
    Sink(db).write(batch.rows)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("sthlm", REGION, "region:01")),
                        audit_log=workdir / "audit.log", detail_grants=frozenset({"skr"}))
    yield from api_server(db, policy, ADMIN)




def open_page(browser, server, token):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.fill("#token-input", token)
    page.click("#login-button")
    page.wait_for_selector("#refresh-status.ok")
    page.wait_for_selector("#heatmap svg g.hm-cell")
    page.wait_for_selector("#deadletter-body tr.row")
    return context, page


# Text contrast (WCAG 1.4.3) of the heat map's numbers, which axe leaves "incomplete" (text in SVG): each
# label's fill against its cell's fill, as WCAG defines it.
HEATMAP_CONTRAST = """() => {
  const lum = c => { const v = c.match(/[\\d.]+/g).slice(0, 3).map(Number).map(x => x / 255)
    .map(x => x <= 0.04045 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4));
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const ratio = (a, b) => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  return [...document.querySelectorAll('#heatmap g.hm-cell')].filter(g => g.querySelector('text.hm-num')).map(g => {
    const fill = g.querySelector('rect').getAttribute('fill');
    const bg = fill.startsWith('url') ? 'rgb(197,204,212)' : fill;  // the hatch's darker stroke
    return [g.dataset.home + '>' + g.dataset.treating, ratio(lum(getComputedStyle(g.querySelector('text')).fill), lum(bg))];
  });
}"""


def violations(page, where: str, undecided: bool = True) -> list[str]:
    """axe-core's WCAG 2.0/2.1 A and AA violations of the page as it is now, one readable line per node; also
    the colour contrasts axe could not decide (except text in SVG, checked by HEATMAP_CONTRAST, and
    text-free icons), so a background axe cannot read (a gradient) cannot hide a failing contrast."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("opts => axe.run(document, opts)", {"runOnly": {"type": "tag", "values": WCAG_AA},
                                                               "resultTypes": ["violations", "incomplete"]})
    found = [f"{where}: {v['id']} ({v['impact']}) {n['target']} {n.get('failureSummary', '')[:300]}"
             for v in result["violations"] for n in v["nodes"]]
    for v in result["incomplete"] if undecided else []:
        for n in v["nodes"]:
            why = " ".join(c.get("message", "") for c in n.get("any", []))
            if v["id"] == "color-contrast" and (n["html"].startswith("<text") or "only non-text" in why):
                continue
            found.append(f"{where}: undecided {v['id']} {n['target']} {why[:200]}")
    found += [f"{where}: heat map number {k} contrast {r:.2f}:1" for k, r in page.evaluate(HEATMAP_CONTRAST)
              if r < 4.5]
    return found


def test_login_screen_has_no_wcag_aa_violation(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector("#login-form")
        found = violations(page, "login")
        page.fill("#token-input", "not-a-token")
        page.click("#login-button")
        page.wait_for_selector("#login-error:not([hidden])")
        found += violations(page, "login error")
        assert not found, "\n".join(found)
    finally:
        context.close()


@pytest.mark.parametrize("token", [NATIONAL, REGION], ids=["national", "region01"])
def test_no_wcag_aa_violation_with_data(server, browser, token):
    context, page = open_page(browser, server, token)
    try:
        found = violations(page, "nation")
        assert page.evaluate(HEATMAP_CONTRAST), "no heat map number was checked"
        page.locator("#status-body tr.row.drill .drill-link").first.click()          # healthcare regions
        page.locator('#status-body tr.row[data-id="Stockholm-Gotland"] .drill-link').click()
        page.locator('#status-table[data-level="region"] tr.row[data-id="01"] .drill-link').click()
        page.locator(f'#status-table[data-level="hospital"] tr.row[data-id="{H1}"] .drill-link').click()
        page.wait_for_selector(f'#status-table[data-level="ward"] tr.row[data-id="{A}"]')
        badges = page.locator("#status-body .badge").evaluate_all("bs => bs.map(b => b.className)")
        for level in (1, 2, 3, 4):  # every badge colour is on the page being checked
            assert any(f"esc-{level}" in b.split() for b in badges), (level, badges)
        # the out-of-area table alternative, opened from the keyboard
        page.focus("#heatmap-table-toggle")
        page.keyboard.press("Enter")
        page.wait_for_selector("#heatmap-table-wrap:not([hidden]) #heatmap-table tbody tr")
        assert page.get_attribute("#heatmap-table-toggle", "aria-expanded") == "true"
        found += violations(page, "wards + out-of-area table")
        # a stale ward (region 01's other hospital) on the page too
        page.locator('#breadcrumb a.crumb[data-depth="3"]').click()
        page.locator(f'#status-table[data-level="hospital"] tr.row[data-id="{H2}"] .drill-link').click()
        page.wait_for_selector(f'#status-table[data-level="ward"] tr.row.stale[data-id="{D}"]')
        found += violations(page, "stale wards")
        assert not found, "\n".join(found)
    finally:
        context.close()


def test_the_out_of_area_table_has_the_matrix_values(server, browser):
    context, page = open_page(browser, server, NATIONAL)
    try:
        page.click("#heatmap-table-toggle")
        page.wait_for_selector("#heatmap-table tbody tr")
        assert page.locator("#heatmap-table caption").inner_text().strip()
        assert page.locator("#heatmap-table thead th[scope=col]").count() >= 3
        cells = {(c.get_attribute("data-home"), c.get_attribute("data-treating")): c.get_attribute("data-value")
                 for c in page.locator("#heatmap svg g.hm-cell").all()}
        rows = page.locator("#heatmap-table tbody tr").all()
        assert rows
        for r in rows:
            key = (r.get_attribute("data-home"), r.get_attribute("data-treating"))
            assert r.get_attribute("data-value") == cells[key], key
            assert r.locator("th[scope=row]").count() == 1
        shown = {(r.get_attribute("data-home"), r.get_attribute("data-treating")) for r in rows}
        assert shown == {k for k, v in cells.items() if k[0] != k[1] and v != "0"}
    finally:
        context.close()


def test_refresh_keeps_focus_and_pause_stops_it(server, browser):
    context, page = open_page(browser, server, NATIONAL)
    try:
        calls: list[str] = []
        page.on("request", lambda r: "/api/v1/" in r.url and calls.append(r.url))
        # a drill-down from the keyboard: Tab reaches the unit, Enter opens it, focus goes to the new level
        page.locator("#status-body tr.row.drill .drill-link").first.focus()
        page.keyboard.press("Enter")
        link = page.locator('#status-body tr.row[data-id="Stockholm-Gotland"] .drill-link')
        link.wait_for()
        page.wait_for_function("document.activeElement.matches('#breadcrumb .crumb.current')")
        assert "Sjukvårdsregioner" in page.evaluate("document.activeElement.textContent")
        link.focus()
        # mark the focused element and spoil a cell of its row: after two refreshes the same element still has
        # focus, and the cell shows the API's value again (updated in place, not the table replaced)
        page.evaluate("""() => {
            const a = document.activeElement; a.kept = true;  // a property: the node itself, not its markup
            const v = a.closest('tr').querySelector('[data-field="occupied"]');
            window.__real = v.textContent; v.textContent = "spoilt";
        }""")
        for _ in range(2):
            n = len([c for c in calls if "/api/v1/status" in c])
            deadline = 15_000
            while len([c for c in calls if "/api/v1/status" in c]) <= n and deadline > 0:
                page.wait_for_timeout(250)
                deadline -= 250
            assert deadline > 0, "no automatic refresh in 15 s"
        page.wait_for_timeout(1000)  # the responses rendered
        assert page.evaluate("document.activeElement.kept === true")
        assert page.evaluate("""() => document.activeElement.closest('tr')
            .querySelector('[data-field="occupied"]').textContent""") == page.evaluate("window.__real")
        assert page.evaluate("document.activeElement.closest('tr').dataset.id") == "Stockholm-Gotland"

        # pause from the keyboard: no API call while paused, then resume
        page.focus("#pause-button")
        page.keyboard.press("Enter")
        assert page.get_attribute("#pause-button", "aria-pressed") == "true"
        assert "Återuppta" in page.inner_text("#pause-button")
        assert "pausad" in page.inner_text("#refresh-announce")  # told to a screen reader, once
        page.wait_for_timeout(300)  # a request already in flight is let through
        before = len(calls)
        page.wait_for_timeout(11_000)  # two refresh periods
        assert len(calls) == before, calls[before:]
        assert page.evaluate("document.activeElement.id") == "pause-button"
        page.keyboard.press("Space")
        assert page.get_attribute("#pause-button", "aria-pressed") == "false"
        page.wait_for_timeout(1500)
        assert len(calls) > before  # resuming refreshes at once
        assert "igen" in page.inner_text("#refresh-announce")
    finally:
        context.close()


def test_heat_map_numbers_are_readable_at_every_shade(server, browser):
    """The out-of-area answer replaced (in the browser) by one with every shade, 1 to 440 patients, and the
    suppressed "<5": each number keeps 4.5:1 against its cell (axe cannot check text in SVG)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        codes = [f"{c:02d}" for c in (1, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 17, 18, 19, 20, 21, 22, 23, 24, 25)]
        rows = [{"home_region": h, "treating_region": t, "patients": None if (i + j) % 7 == 0 else i * 21 + j + 1}
                for i, h in enumerate(codes) for j, t in enumerate(codes) if h != t]
        body = json.dumps({"window": "now", "rows": rows})
        page.route("**/api/v1/out-of-area*",
                   lambda route, *_: route.fulfill(body=body, content_type="application/json"))
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.fill("#token-input", NATIONAL)
        page.click("#login-button")
        page.wait_for_selector("#heatmap g.hm-cell text.hm-num")
        ratios = page.evaluate(HEATMAP_CONTRAST)
        assert len(ratios) == len(rows)
        assert all(r >= 4.5 for _, r in ratios), sorted(ratios, key=lambda x: x[1])[:5]
    finally:
        context.close()


def test_morning_report_pdf_is_tagged(tmp_path):
    """The morning report's PDF is tagged for screen readers: a structure tree with the headings, tables with
    header cells, lists, the language (sv) and each chart a figure with its text alternative."""
    import re
    import subprocess
    from concurrent.futures import ThreadPoolExecutor

    from tests.report_example import example_report
    from web.pdf import html_to_pdf
    from web.report_html import render_morning_report

    if not shutil.which("chromium") or not shutil.which("pdfinfo"):
        pytest.fail("Debian's chromium and poppler-utils are required (make test installs them)")
    out = tmp_path / "report.pdf"
    with ThreadPoolExecutor(1) as pool:  # in a thread of its own: this module's browser holds an event loop
        pool.submit(html_to_pdf, render_morning_report(example_report()), out).result()
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"^Tagged:\s+yes$", info, re.M), info
    assert re.search(r"^Title:\s+Morgonrapport", info, re.M), info
    struct = subprocess.run(["pdfinfo", "-struct", str(out)], capture_output=True, text=True, check=True).stdout
    kinds = {line.split()[0].rstrip(":") for line in struct.splitlines() if line.strip()}
    assert {"Document", "H1", "H2", "Table", "TR", "TH", "TD", "L", "LI", "Figure"} <= kinds, kinds
    data = out.read_bytes()
    assert b"/Lang (sv)" in data
    alts = []
    for m in re.findall(rb"/Alt\s*(<[0-9A-Fa-f]+>|\([^)]*\))", data):
        alts.append(bytes.fromhex(m[1:-1].decode()).decode("utf-16") if m.startswith(b"<") else m[1:-1].decode())
    assert struct.count("Figure") == len(alts) >= 2, alts
    assert any(a.startswith("Beläggning per region") for a in alts), alts


def test_page_reflows_at_320_css_pixels(server, browser):
    """WCAG 1.4.10: at 320 CSS px wide (400 % zoom of a 1280 px screen) the page itself does not scroll
    sideways; only the wide tables and the heat map do, inside their own boxes."""
    context, page = open_page(browser, server, NATIONAL)
    try:
        page.set_viewport_size({"width": 320, "height": 800})
        page.wait_for_timeout(300)
        assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), \
            page.evaluate("document.documentElement.scrollWidth")
        # (cells scrolled out of their box are "undecided" for axe: checked at full width above)
        assert not violations(page, "320 px", undecided=False)
    finally:
        context.close()


def test_morning_report_html_has_no_wcag_aa_violation(browser):
    """The morning report (HTML, the source of the tagged PDF) on screen and as printed."""
    from tests.report_example import example_report
    from web.report_html import render_morning_report

    context = browser.new_context()
    page = context.new_page()
    try:
        page.set_content(render_morning_report(example_report()))
        found = []
        for media in ("screen", "print"):
            page.emulate_media(media=media)
            found += violations(page, f"report ({media})")
        assert not found, "\n".join(found)
    finally:
        context.close()
