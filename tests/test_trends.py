"""Trends (issue 13): GET /api/v1/status/history over a hand-made ward-status history in ClickHouse (chDB),
point by point, with the scope and suppression of /api/v1/status; its plain functions; and the live page's
sparklines and trend chart in a real Chromium, drawn with the numbers the API gave."""
from __future__ import annotations

import datetime as dt
import json
from urllib.parse import quote

import pytest

from sinks.clickhouse import ClickHouse
from tests.test_access import api_server
from tests.test_page_accessibility import violations
from web.access import BadRequest, Token
from web.history import (HISTORY_FIELDS, HISTORY_MAX_POINTS, history_series, history_times, region_timeline,
                         ward_timeline)
from web.policy import ViewPolicy

ADMIN, NATIONAL, BASIC, REGION = "trend-admin", "trend-national", "trend-basic", "trend-region01"
H1 = "SE2321000016-H001"
A, B = "SE2321000016-A101", "SE2321000016-A102"
C = "SE2321000214-C201"
# The last point: now to the minute, so the page (whose `to` is now) finds the history near its own points.
T = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
H = dt.timedelta(hours=1)

# (ward, at, occupied, overcrowded, discharge_ready): region 01's wards A and B (10 staffed beds each, one
# hospital), region 12's ward C (5 staffed beds). B has 2 patients (a small count) from T − 3.5 h to T − 1 h.
HISTORY = [
    (A, T - 5 * H, 8, 0, 1),
    (A, T - 2.5 * H, 9, 0, 2),
    (A, T - 2 * H - dt.timedelta(minutes=10), 15, 5, 6),   # the newest of its step: the point takes this one
    (A, T, 6, 0, 0),
    (B, T - 3.5 * H, 2, 0, 0),
    (B, T - 1 * H, 7, 0, 5),
    (C, T - 6 * H, 3, 0, 0),
]


def row(ward_id: str, at: dt.datetime, occupied: int, overcrowded: int, ready: int, version: int) -> dict:
    region = "12" if ward_id == C else "01"
    return {"ward_id": ward_id, "version": version, "at": at.replace(tzinfo=None), "event_id": f"e{version}",
            "hospital_id": "SE2321000214-H001" if region == "12" else H1, "hospital_name": "Sjukhus",
            "ward_name": f"Avd {ward_id[-4:]}", "region_code": region, "mvo_code": "101", "mvo_group": "",
            "care_type": "somatic", "ward_kind": "general", "source": "adt", "staffed_beds": 5 if region == "12" else 10,
            "admitted": occupied, "present": occupied, "on_leave": 0, "occupied": occupied, "overcrowded": overcrowded,
            "outliers": 0, "discharge_ready": ready, "out_of_area_in": 0, "last_event_at": at.replace(tzinfo=None),
            "sender_id": "SE2321000016-0001"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("trends")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    rows = [row(*h, version=i + 1) for i, h in enumerate(HISTORY)]
    cols = list(rows[0])
    db.insert("ward_status", [[r[c] for c in cols] for r in rows], cols)
    newest = {r["ward_id"]: r for r in rows}  # in time order: the last of each ward
    db.insert("ward_current", [[r[c] for c in cols] for r in newest.values()], cols)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("skr-basic", BASIC, "national"),
                                Token("sthlm", REGION, "region:01")),
                        audit_log=workdir / "audit.log", detail_grants=frozenset({"skr"}))
    yield from api_server(db, policy, ADMIN)


def history(server, query: str, token: str = ADMIN) -> dict:
    status, body = server.call("GET", f"/api/v1/status/history?{query}", token)
    assert status == 200, (query, status, body[:300])
    return json.loads(body)


def window(hours: int = 4, step: int = 60) -> str:
    return f"from={quote((T - hours * H).isoformat())}&to={quote(T.isoformat())}&step={step}"


def series(answer: dict) -> dict[str, dict]:
    return {s["id"]: s for s in answer["series"]}


# ------------------------------------------------------------------ the endpoint, point by point
def test_region_history_point_by_point(server):
    a = history(server, f"level=region&{window()}")
    assert a["times"] == [(T - k * H).isoformat() for k in (4, 3, 2, 1, 0)]
    assert a["step_minutes"] == 60
    r01 = series(a)["01"]
    # T−4 h: A 8 (B not yet); T−3 h: A 8 + B 2; T−2 h: A 15 (its newest row of the step) + 2; T−1 h: 15 + 7; T: 6 + 7
    assert r01["occupied"] == [8, 10, 17, 22, 13]
    assert r01["staffed_beds"] == [10, 20, 20, 20, 20]
    assert r01["occupancy_pct"] == [80.0, 50.0, 85.0, 110.0, 65.0]
    assert r01["overcrowded"] == [0, 0, 5, 5, 0]
    assert r01["discharge_ready"] == [1, 1, 6, 11, 5]
    assert r01["escalation_level"] == [1, 1, 4, 4, 1]  # 5 overcrowded on 20 beds: 25/100 ≥ 5; then 110 %
    assert series(a)["12"]["occupied"] == [3] * 5  # its one row, 6 h before: carried on
    # the same for every viewer at region level (aggregates), a region viewer included
    for token in (NATIONAL, BASIC, REGION):
        assert history(server, f"level=region&{window()}", token)["series"] == a["series"]


def test_ward_history_is_suppressed_like_status(server):
    admin = series(history(server, f"level=ward&{window()}"))
    assert admin[A]["occupied"] == [8, 8, 15, 15, 6]
    assert admin[B]["occupied"] == [None, 2, 2, 7, 7]  # no ward before its first row
    national = series(history(server, f"level=ward&{window()}", NATIONAL))
    # B's 2 is hidden, and A with it (the hospital's sum minus A would give B back); a hidden point is null
    assert national[B]["occupied"] == [None, None, None, 7, 7]
    assert national[A]["occupied"] == [8, None, None, 15, 6]
    assert national[A]["escalation_level"][1:3] == [None, None] and national[A]["occupancy_pct"][1] is None
    assert set(national) == {A, B, C}
    assert series(history(server, f"level=ward&{window()}", NATIONAL))[C]["occupied"] == [None] * 5  # 3: small
    # the last point is what /api/v1/status shows now
    status, body = server.call("GET", "/api/v1/status?level=ward", NATIONAL)
    now = {r["id"]: r for r in json.loads(body)["rows"]}
    for w in (A, B, C):
        assert national[w]["occupied"][-1] == now[w]["occupied"], w
    # a region viewer: its own region in full, nothing of another's detail
    mine = series(history(server, f"level=ward&{window()}", REGION))
    assert set(mine) == {A, B} and mine[B]["occupied"] == [None, 2, 2, 7, 7]


def test_one_unit_hospital_filter_and_default_step(server):
    one = history(server, f"level=ward&id={A}&{window()}")
    assert history(server, f"level=region&id=01&{window()}")["series"] == \
        [series(history(server, f"level=region&{window()}"))["01"]]  # one region read alone: the same points
    assert [s["id"] for s in one["series"]] == [A]
    assert history(server, f"level=ward&hospital={H1}&{window()}")["series"] == \
        [s for s in history(server, f"level=ward&{window()}")["series"] if s["id"] in (A, B)]
    day = history(server, f"level=nation&from={quote((T - 24 * H).isoformat())}&to={quote(T.isoformat())}")
    assert day["step_minutes"] == 5 and len(day["times"]) == 289  # the finest step that fits
    assert day["series"][0]["occupied"][-1] == 16 and day["series"][0]["occupied"][0] is None  # 6 + 7 + 3
    week = history(server, "level=nation&from=" + quote((T - 7 * 24 * H).isoformat()) + "&to=" + quote(T.isoformat()))
    assert week["step_minutes"] == 60 and len(week["times"]) == 169


def test_bad_requests_and_scope(server):
    def status(query, token=ADMIN):
        return server.call("GET", f"/api/v1/status/history?{query}", token)[0]

    assert status(f"level=ward&from={quote(T.isoformat())}&to={quote((T - H).isoformat())}") == 400  # backwards
    assert status(f"level=ward&{window(hours=48, step=5)}") == 400      # 577 points
    assert status(f"level=ward&{window(step=1)}") == 400                  # step below 5 min
    assert status(f"level=ward&{window(step=2000)}") == 400
    assert status("level=ward&from=yesterday") == 400
    assert status(f"level=region&hospital={H1}") == 400
    assert status("level=ward", BASIC) == 403                            # detail is a grant
    assert status("level=ward&region=12", REGION) == 403                 # another region's detail
    assert status("level=region", None) == 401


# ------------------------------------------------------------------ the plain functions
def test_history_times_and_series():
    to = dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone.utc)
    assert history_times(to - 2 * H, to, 60) == [to - 2 * H, to - H, to]
    assert history_times(to - 90 * dt.timedelta(minutes=1), to, 60) == [to - H, to]  # none before from
    assert len(history_times(to - 24 * H, to, None)) == 289
    with pytest.raises(BadRequest):
        history_times(to, to, 60)
    with pytest.raises(BadRequest):
        history_times(to - 30 * 24 * H, to, 60)
    assert HISTORY_MAX_POINTS == 300
    base = [{"ward_id": "w1", "v": 1}]
    steps = [(2, {"ward_id": "w1", "v": 3}), (1, {"ward_id": "w2", "v": 5})]
    frames = [sorted((w["ward_id"], w["v"]) for w in f) for f in ward_timeline(base, steps, 3)]
    assert frames == [[("w1", 1)], [("w1", 1), ("w2", 5)], [("w1", 3), ("w2", 5)]]

    def rows_at(wards, at):
        return [{"id": w["ward_id"], "name": w["ward_id"].upper(), "occupied": w["v"] if w["v"] != 3 else None}
                for w in wards]

    out = history_series(ward_timeline(base, steps, 3), [to - 2 * H, to - H, to], rows_at)
    assert [(s["id"], s["occupied"]) for s in out] == [("w1", [1, 1, None]), ("w2", [None, 5, 5])]
    assert history_series(ward_timeline(base, steps, 3), [to - 2 * H, to - H, to], rows_at, "w2")[0]["name"] == "W2"


def test_region_sums_give_the_status_rows_of_the_wards():
    """Above hospital level the trend sums the wards per region first (region_timeline): status_rows over
    those sums gives the trend's figures of status_rows over the wards themselves, at every level and point,
    ICU wards (outside the totals) included among random changes."""
    import random

    from streams.domain.escalation import Escalation
    from web.status import status_rows

    rnd = random.Random(13)
    regions = ("01", "03", "12", "13", "14")
    kinds = ("general", "general", "icu", "observation")

    def ward_row(i: int) -> dict:
        staffed = rnd.randint(0, 30)
        occupied = rnd.randint(0, 35)
        return {"ward_id": f"w{i}", "region_code": regions[i % len(regions)], "hospital_id": f"h{i % 7}",
                "hospital_name": "", "ward_name": "", "ward_kind": kinds[i % len(kinds)], "source": "adt",
                "staffed_beds": staffed, "occupied": occupied, "present": occupied, "on_leave": rnd.randint(0, 3),
                "overcrowded": max(0, occupied - staffed), "outliers": rnd.randint(0, 4),
                "discharge_ready": rnd.randint(0, 6), "out_of_area_in": 0, "last_event_at": None, "sender_id": ""}

    base = [ward_row(i) for i in range(40)]
    steps = sorted(((rnd.randint(1, 11), ward_row(rnd.randint(0, 59))) for _ in range(150)), key=lambda s: s[0])
    at = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)
    for level in ("nation", "healthcare_region", "region"):
        def rows(wards):
            return [{f: r[f] for f in ("id", *HISTORY_FIELDS)}
                    for r in status_rows(wards, level, at, stale_after=H, escalation=Escalation())]
        by_ward = [rows(f) for f in ward_timeline(base, steps, 12)]
        by_region = [rows(f) for f in region_timeline(base, steps, 12)]
        assert by_region == by_ward, level
        assert len({str(r) for r in by_ward}) > 6  # the points differ: the changes were applied


# ------------------------------------------------------------------ the page, in a real Chromium


def values(attr: str) -> list:
    """A data-values attribute back as the API's list (empty: null)."""
    return [None if v == "" else float(v) for v in attr.split(",")] if attr else []


def pct(v: float) -> str:
    return f"{v:.1f}".replace(".", ",") + " %"


def test_the_page_draws_sparklines_and_the_chart_with_the_apis_numbers(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    answers: dict[str, object] = {}  # url -> response; bodies are read later, on the test's own turn
    page.on("response", lambda r: "/api/v1/status/history" in r.url and answers.__setitem__(r.url, r))

    def answer(*parts: str) -> dict:
        """The history answer whose URL has every part and no other id, waiting for its response event:
        the page can draw before Playwright has handed the response to this listener."""
        for _ in range(100):
            for u, r in list(answers.items()):
                if all(p in u for p in parts) and ("id=" in parts[-1] or "id=" not in u):
                    return r.json()
            page.wait_for_timeout(100)
        raise AssertionError(f"no history answer with {parts}: {list(answers)}")
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.fill("#token-input", ADMIN)
        page.click("#login-button")
        page.wait_for_selector('#status-body .spark-btn[data-trend-id="SE"][data-values*=","]')
        page.wait_for_selector('#trend-svg[data-id="nation:SE"]')
        # drill to the regions of Stockholm-Gotland: their sparklines come from the history at region level
        page.locator("#status-body tr.row.drill .drill-link").first.click()
        page.locator('#status-body tr.row[data-id="Stockholm-Gotland"] .drill-link').click()
        row01 = '#status-table[data-level="region"] .spark-btn[data-trend-id="01"][data-values*=","]'
        spark = page.locator(row01 + '[data-range="24h"]')
        spark.wait_for()
        # one hourly answer over 7 days for the view's sparklines: the 24 h one is its last 25 points
        week01 = answer("level=region")
        assert len(week01["times"]) == 169 and week01["step_minutes"] == 60
        api01 = series(week01)["01"]
        day = api01["occupancy_pct"][-25:]
        assert values(spark.get_attribute("data-values")) == day
        occ = [v for v in day if v is not None]
        label = spark.get_attribute("aria-label")  # the text alternative: min, max and now
        assert f"senaste 24 h: lägst {pct(min(occ))}, högst {pct(max(occ))}, nu {pct(day[-1])}" in label, label
        assert pct(65.0) in label and pct(110.0) in label  # the hand-made history's now and peak
        assert page.locator("#status-body .spark-btn svg path.spark-line").count() >= 2
        # the 7 d sparkline beside it: every hourly point of the week, its own name (a 7 d min / max / now)
        week = page.locator(row01 + '[data-range="7d"]')
        assert values(week.get_attribute("data-values")) == api01["occupancy_pct"]
        assert api01["occupancy_pct"][0] is None and sum(v is not None for v in api01["occupancy_pct"]) == 6
        occ7 = [v for v in api01["occupancy_pct"] if v is not None]
        label7 = week.get_attribute("aria-label")
        assert f"senaste 7 dygn: lägst {pct(min(occ7))}, högst {pct(max(occ7))}, nu {pct(occ7[-1])}" in label7, label7
        assert week.inner_text() == "7 dygn" and spark.inner_text() == "24 h"  # the visible tags, in the names
        assert "nu · trend 24 h · 7 dygn" in page.inner_text("#status-table thead")

        # the sparkline picks the unit for the chart: its three lines and the escalation strip are the API's
        spark.click()
        page.wait_for_selector('#trend-svg[data-id="region:01"]')
        got = answer("level=region", "id=01")
        chart, times = series(got)["01"], got["times"]
        assert len(chart["occupied"]) == 97  # 24 h every 15 minutes
        for field in ("occupancy_pct", "overcrowded", "discharge_ready"):
            drawn = page.get_attribute(f'#trend-svg path[data-field="{field}"]', "data-values")
            assert values(drawn) == chart[field], field
        assert values(page.get_attribute('#trend-svg g[data-field="escalation_level"]', "data-values")) == \
            chart["escalation_level"]
        strip = page.locator("#trend-svg rect").evaluate_all("rs => rs.map(r => r.getAttribute('class'))")
        assert strip == [f"lvl-{v}" if v else "lvl-na" for v in chart["escalation_level"]]
        assert 4 in chart["escalation_level"] and chart["escalation_level"][-1] == 1
        assert "Stockholm" in page.inner_text("#trend-unit")
        assert pct(110.0) in page.get_attribute("#trend-svg", "aria-label")

        # the table alternative, opened from the keyboard: one row per point, the same numbers
        page.focus("#trend-table-toggle")
        page.keyboard.press("Enter")
        page.wait_for_selector("#trend-table-wrap:not([hidden]) #trend-table tbody tr")
        rows = page.locator("#trend-table-body tr").all()
        assert len(rows) == len(times)
        for k in (-1, -9, -33):  # now, 2 h before (the peak of overcrowding), 8 h before (no ward yet: empty)
            got = {c.get_attribute("data-field"): c.get_attribute("data-value")
                   for c in rows[k].locator("[data-field]").all()}
            assert got["at"] == times[k]
            for field in ("occupancy_pct", "occupied", "overcrowded", "discharge_ready"):
                assert values(got[field]) == ([chart[field][k]] if chart[field][k] is not None else []), (k, field)
        assert chart["overcrowded"][-9] == 5 and chart["occupied"][-33] is None
        # axe-core: the sparklines, the chart's controls, the table (its rows scrolled out of its box are
        # "undecided" for axe, as in test_page_accessibility at 320 px) and the chart
        found = violations(page, "trend table", undecided=False)
        page.click("#trend-table-toggle")
        page.evaluate("window.scrollTo(0, 0)")
        # the sparklines sit in the occupancy cell: the status table still fits a 1280 px screen
        assert page.evaluate("(w => w.scrollWidth <= w.clientWidth)(document.querySelector('#status-panel .table-wrap'))")
        found += violations(page, "trend chart")
        assert not found, "\n".join(found)
        page.click("#trend-table-toggle")

        # 7 days: hourly points
        page.click('#trend-range button[data-range="7d"]')
        page.wait_for_selector('#trend-svg[data-range="7d"]', state="attached")  # the table is open
        assert page.get_attribute("#trend-svg", "data-points") == "169"
        assert len(page.locator("#trend-table-body tr").all()) == 169
        # a sparkline opens the chart over its own period, and the period's buttons say so
        page.click("#trend-table-toggle")
        spark.click()
        page.wait_for_selector('#trend-svg[data-range="24h"]')
        assert page.get_attribute('#trend-range button[data-range="7d"]', "aria-pressed") == "false"
        week.click()
        page.wait_for_selector('#trend-svg[data-range="7d"][data-points="169"]')
        assert page.get_attribute('#trend-range button[data-range="7d"]', "aria-pressed") == "true"
    finally:
        context.close()
