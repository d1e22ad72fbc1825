"""Swedish first, English as a toggle (issue 13), in a real Chromium against the real API, processor and
ClickHouse (chDB) of tests/test_page_accessibility.py: one dictionary (web/texts.json, shared with the
server and served as /texts.js) for every text the page writes; the toggle is a keyboard-usable button that switches the visible texts and <html lang>,
and is remembered across a reload; no text of the other language is left in the header and the panels;
API errors are shown in the chosen language; every time on the page is Stockholm's, whatever the
computer's zone, and the header and the waiting-list panel agree; axe finds no WCAG 2.1 AA violation in
English either (Swedish: tests/test_page_accessibility.py)."""
from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest

from tests.test_page_accessibility import NATIONAL, REGION, server, violations  # noqa: F401 (fixtures)
from web import texts

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def login(browser, server, token, zone="UTC", lang=None):
    """The page in a browser whose own zone is not Stockholm's (UTC: an hour apart in November)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, timezone_id=zone)
    if lang:
        # the viewer's earlier choice (only on the first visit: the script runs on every load)
        context.add_init_script(f"localStorage.getItem('bedflow.lang') || localStorage.setItem('bedflow.lang', '{lang}')")
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{server.port}/")
    page.fill("#token-input", token)
    page.click("#login-button")
    page.wait_for_selector("#refresh-status.ok")
    page.wait_for_selector("#deadletter-body tr.row")
    page.wait_for_selector("#waitlist-at:not(:empty)")
    page.wait_for_selector("#trend-svg")
    return context, page


def text(page, selector):
    return page.inner_text(selector).strip()


# Every text node and aria-label / title in the header and the panels holding a phrase that only the other
# language's dictionary has (whole words, placeholders split off). Senders' own messages and rule ids in the
# dead-letter table are data, not the page's texts.
LEFTOVERS = """lang => {
  const dict = window.bedflowI18n.dict, other = lang === 'sv' ? 'en' : 'sv';
  const mine = Object.values(dict[lang]);
  const phrases = new Set();
  for (const v of Object.values(dict[other])) {
    for (let f of v.split(/\\{\\w+\\}/)) {
      f = f.replace(/^[\\s,:;.()–-]+|[\\s,:;.()–-]+$/g, '');
      if (f.length >= 4 && !mine.some(m => m.includes(f))) phrases.add(f);
    }
  }
  const res = [...phrases].map(p => [p, new RegExp('(^|[^\\\\p{L}])' + p.replace(/[.*+?^${}()|[\\]\\\\]/g, '\\\\$&') +
    '($|[^\\\\p{L}])', 'u')]);
  const found = [];
  const skip = n => n.closest && n.closest('td.msg, code, [data-field="source_topic"], #waitlist-region');
  const look = (where, s) => { for (const [p, re] of res) if (re.test(s)) found.push(where + ': "' + p + '" in "' + s + '"'); };
  for (const root of document.querySelectorAll('header.top, main')) {
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
      if (!skip(n.parentElement) && n.nodeValue.trim()) look('text', n.nodeValue);
    }
    for (const el of root.querySelectorAll('[aria-label], [title]')) {
      if (skip(el) || el.classList.contains('lang-toggle')) continue;
      for (const a of ['aria-label', 'title']) if (el.getAttribute(a)) look(a, el.getAttribute(a));
    }
  }
  return {found: found, phrases: phrases.size};
}"""


def open_everything(page):
    """The tables behind the map and the chart opened, and the healthcare regions' level drawn."""
    for toggle, wrap in (("#heatmap-table-toggle", "#heatmap-table-wrap"), ("#trend-table-toggle", "#trend-table-wrap")):
        if page.get_attribute(toggle, "aria-expanded") != "true":
            page.click(toggle)
        page.wait_for_selector(f"{wrap}:not([hidden]) tbody tr")
    page.locator("#status-body tr.row.drill .drill-link").first.click()
    page.wait_for_selector('#status-table[data-level="healthcare_region"] tr.row')


def test_the_dictionary_has_both_languages_for_every_key(server, browser):
    context, page = login(browser, server, NATIONAL)
    try:
        d = page.evaluate("window.bedflowI18n.dict")
        assert set(d) == {"sv", "en"}
        # the page's dictionary is the server's one file, every key of it (API errors and notes included)
        for lang in ("sv", "en"):
            assert d[lang] == {k: v[lang] for k, v in texts.TEXTS.items()}, lang
        assert "api.region.own" in d["sv"] and "rule.occ" in d["sv"]
        assert set(d["sv"]) == set(d["en"]), set(d["sv"]) ^ set(d["en"])
        for k in d["sv"]:
            assert set(re.findall(r"\{\w+\}", d["sv"][k])) == set(re.findall(r"\{\w+\}", d["en"][k])), k
        used = page.evaluate("""() => [...document.querySelectorAll('[data-i18n]')].map(e => e.dataset.i18n).concat(
            [...document.querySelectorAll('[data-i18n-attr]')].flatMap(e => e.dataset.i18nAttr.split(';')
              .map(p => p.split('=')[1])))""")
        assert used and not set(used) - set(d["sv"]), set(used) - set(d["sv"])
    finally:
        context.close()


def test_toggle_switches_texts_and_lang_and_survives_a_reload(server, browser):
    context, page = login(browser, server, NATIONAL)
    try:
        assert page.get_attribute("html", "lang") == "sv"
        assert text(page, "#status-panel h2") == "Vårdplatsläge"
        assert text(page, "#logout-button") == "Logga ut"
        assert text(page, "#pause-button") == "Pausa uppdatering"
        assert text(page, "#lang-button") == "English"
        assert page.get_attribute("#lang-button", "lang") == "en"
        assert text(page, "#waitlist-at").startswith("Läge ")
        assert text(page, "#refresh-status").startswith("Uppdaterad ")
        assert text(page, '#breadcrumb .crumb[data-depth="0"]') == "Sverige"

        # from the keyboard: Tab reaches the button, Enter switches; focus stays on it
        page.focus("#lang-button")
        page.keyboard.press("Enter")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert page.evaluate("document.activeElement.id") == "lang-button"
        assert text(page, "#lang-button") == "Svenska"
        assert page.get_attribute("#lang-button", "lang") == "sv"
        assert text(page, "#status-panel h2") == "Bed status"
        assert text(page, "#logout-button") == "Sign out"
        assert text(page, "#pause-button") == "Pause updates"
        assert text(page, "#deadletter-panel h2") == "Rejected messages (dead letters)"
        assert text(page, "#waitlist-at").startswith("As of ")
        assert text(page, "#refresh-status").startswith("Updated ")
        assert text(page, '#breadcrumb .crumb[data-depth="0"]') == "Sweden"
        assert text(page, "#trend-unit") == "Sweden"
        assert "last 24 hours" in page.inner_text("#trend-caption")
        assert page.get_attribute("#trend-svg", "aria-label").startswith("Sweden, last 24 hours")
        assert page.title() == "bedflow – Bed capacity"
        # the escalation reason in the badge's title, in English (the API's rule restated)
        reason = page.get_attribute("#nation-totals .badge", "title")
        assert re.search(r"(occupancy \d+\.\d %|overcrowded \d+\.\d per 100 beds)", reason), reason
        # a refresh keeps the language
        n = page.evaluate("document.querySelector('#refresh-status').textContent")
        page.wait_for_function(f"document.querySelector('#refresh-status').textContent !== {n!r}", timeout=15_000)
        assert text(page, "#status-panel h2") == "Bed status"

        page.reload()
        page.wait_for_selector("#refresh-status.ok")
        assert page.get_attribute("html", "lang") == "en"
        assert text(page, "#logout-button") == "Sign out"
        assert text(page, "#lang-button") == "Svenska"

        page.focus("#lang-button")
        page.keyboard.press("Space")
        page.wait_for_function("document.documentElement.lang === 'sv'")
        assert text(page, "#logout-button") == "Logga ut"
        assert text(page, "#refresh-status").startswith("Uppdaterad ")
        reason = page.get_attribute("#nation-totals .badge", "title")
        assert re.search(r"(beläggning \d+,\d %|överbeläggningar \d+,\d per 100 vårdplatser)", reason), reason
        assert page.evaluate("localStorage.getItem('bedflow.lang')") == "sv"
    finally:
        context.close()


@pytest.mark.parametrize("lang", ["sv", "en"])
def test_no_text_of_the_other_language_is_left(server, browser, lang):
    context, page = login(browser, server, NATIONAL, lang="en" if lang == "sv" else "sv")
    try:
        page.click("#lang-button")  # switched on the page: every panel redrawn from its last answer
        page.wait_for_function(f"document.documentElement.lang === '{lang}'")
        open_everything(page)
        result = page.evaluate(LEFTOVERS, lang)
        assert result["phrases"] > 50  # the check has something to look for
        assert not result["found"], "\n".join(result["found"])
        page.reload()  # and the same when the page starts in that language
        page.wait_for_selector("#refresh-status.ok")
        page.wait_for_selector("#deadletter-body tr.row")
        open_everything(page)
        result = page.evaluate(LEFTOVERS, lang)
        assert not result["found"], "\n".join(result["found"])
    finally:
        context.close()


def test_api_errors_are_shown_in_the_chosen_language(server, browser):
    """Three of the API's errors as the page shows them: a region viewer asking for another region's waiting
    list (403), and two bad parameters (400, the page's requests rewritten on the way). Each is said in
    Swedish, then in English after a toggle (from the dictionary by the answer's code), never both."""
    context, page = login(browser, server, REGION)
    try:
        def shown(sv, en):
            page.wait_for_function(f"(document.querySelector('#refresh-status').title || '').includes({sv!r})",
                                   timeout=15_000)
            title = page.get_attribute("#refresh-status", "title")
            assert sv in title and en not in title, title
            assert text(page, "#refresh-status").startswith("Anslutningsfel")
            page.click("#lang-button")
            page.wait_for_function("document.documentElement.lang === 'en'")
            title = page.get_attribute("#refresh-status", "title")
            assert en in title and sv not in title, title
            assert text(page, "#refresh-status").startswith("Connection problem")
            page.click("#lang-button")
            page.wait_for_function("document.documentElement.lang === 'sv'")
            assert sv in page.get_attribute("#refresh-status", "title")

        def rewritten(pattern, old, new):
            page.route(pattern, lambda route: route.continue_(url=route.request.url.replace(old, new)))
            page.evaluate("window.bedflow.refresh()")

        # 400: a number out of range (the dead letters asked with limit=0)
        rewritten("**/api/v1/deadletters?*", "limit=25", "limit=0")
        shown(texts.text("api.param.int", "sv", name="limit", low=1, high=1000),
              texts.text("api.param.int", "en", name="limit", low=1, high=1000))
        page.unroute("**/api/v1/deadletters?*")
        page.evaluate("window.bedflow.refresh()")
        page.wait_for_selector("#refresh-status.ok")

        # 400: a choice not offered (the out-of-area window)
        rewritten("**/api/v1/out-of-area?*", "window=", "window=zz&x=")
        shown("window måste vara en av: now, ", "window must be one of: now, ")
        page.unroute("**/api/v1/out-of-area?*")
        page.evaluate("window.bedflow.refresh()")
        page.wait_for_selector("#refresh-status.ok")

        # 403: another region's detail
        page.evaluate("""() => { const s = document.getElementById('waitlist-region');
            s.add(new Option('12', '12')); s.value = '12'; s.dispatchEvent(new Event('change')); }""")
        region = "01"  # the REGION token is region:01
        shown(texts.text("api.region.own", "sv", region=region), texts.text("api.region.own", "en", region=region))
        assert "ser bara sin egen" in texts.text("api.region.own", "sv", region=region)  # the wording kept
    finally:
        context.close()


def test_times_are_stockholm_time_and_the_header_agrees_with_the_waiting_list(server, browser):
    for zone in ("UTC", "America/New_York"):
        context, page = login(browser, server, NATIONAL, zone=zone)
        try:
            assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == zone
            now = dt.datetime.now(STOCKHOLM)
            header = re.search(r"(\d{2}):(\d{2}):(\d{2})", text(page, "#refresh-status"))
            waitlist = re.search(r"(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})", text(page, "#waitlist-at"))
            assert header and waitlist, (text(page, "#refresh-status"), text(page, "#waitlist-at"))

            def at(h, m, s):
                t = now.replace(hour=int(h), minute=int(m), second=int(s), microsecond=0)
                return min((t + dt.timedelta(days=d) for d in (-1, 0, 1)), key=lambda x: abs(x - now))

            h = at(*header.groups())
            w = at(*waitlist.groups()[1:])
            assert waitlist.group(1) == w.date().isoformat()
            assert abs((h - now).total_seconds()) < 120, (h, now)
            assert abs((w - now).total_seconds()) < 120, (w, now)
            assert abs((h - w).total_seconds()) < 60, (h, w)
            # a dead letter's time is its instant in Stockholm
            cell = page.locator('#deadletter-body [data-field="at"]').first
            instant = dt.datetime.fromisoformat(cell.get_attribute("data-value").replace("Z", "+00:00"))
            assert cell.inner_text().strip() == instant.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")
            # the trend table's first row too
            page.click("#trend-table-toggle")
            row = page.locator('#trend-table-body th[data-field="at"]').first
            instant = dt.datetime.fromisoformat(row.get_attribute("data-value").replace("Z", "+00:00"))
            assert row.inner_text().strip() == instant.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M:%S")
        finally:
            context.close()


def test_no_wcag_aa_violation_in_english(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script("localStorage.setItem('bedflow.lang', 'en')")
    page = context.new_page()
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector("#login-form")
        assert page.get_attribute("html", "lang") == "en"
        found = violations(page, "login (en)")
        page.fill("#token-input", "not-a-token")
        page.click("#login-button")
        page.wait_for_selector("#login-error:not([hidden])")
        assert text(page, "#login-error") == "Invalid or expired token"
        found += violations(page, "login error (en)")
        page.fill("#token-input", NATIONAL)
        page.click("#login-button")
        page.wait_for_selector("#refresh-status.ok")
        page.wait_for_selector("#heatmap svg g.hm-cell")
        page.wait_for_selector("#deadletter-body tr.row")
        found += violations(page, "nation (en)")
        page.click("#heatmap-table-toggle")
        page.wait_for_selector("#heatmap-table-wrap:not([hidden]) tbody tr")
        page.locator("#status-body tr.row.drill .drill-link").first.click()
        page.wait_for_selector('#status-table[data-level="healthcare_region"] tr.row')
        found += violations(page, "healthcare regions + out-of-area table (en)")
        # the trend table's rows scrolled out of its box are "undecided" for axe (as at 320 px)
        page.click("#trend-table-toggle")
        page.wait_for_selector("#trend-table-wrap:not([hidden]) tbody tr")
        found += violations(page, "trend table (en)", undecided=False)
        assert not found, "\n".join(found)
    finally:
        context.close()
