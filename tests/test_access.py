"""Access: every route of the real app, with an admin, a national (granted capacity detail), a national
without the grant, a region:01 token, a wrong token and no token, against ClickHouse (chDB) filled by the
real processor and sink. Checks the status codes, the scope (a region:01 viewer never gets another
region's detail) and the suppression as an attacker would test it: no small count below region level for
a viewer outside the reporting region, no hidden cell given back by a published sum (region total minus
the visible hospitals, hospital minus its visible wards, the out-of-area margins) or an in-row identity,
no number in the words of a suppressed row. The route table below must name every route the app
registers: a new route without an entry here fails `test_every_route_is_walked`."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import threading

import pytest
from aiohttp import web

from bedflow.metrics import Metrics
from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from schemas.model import EVENT_TYPES, NAMESPACE
from sinks.clickhouse import ClickHouse
from sinks.writer import Sink
from streams.processor import BEDS, WAITLIST, Processor, SourceRecord
from tests.factory import T0, admit, decided, ward
from tests.harness import http_call
from schemas import reference
from tests.test_suppression import determined, matrix_equations, status_equations
from web.access import Token, Viewer
from web.api import create_app
from web.policy import ViewPolicy
from web.suppression import SUPPRESSED, small

ADMIN, NATIONAL, BASIC, REGION = "admin-token", "national-token", "national-basic-token", "region01-token"
TOKENS = {"admin": ADMIN, "national": NATIONAL, "national-basic": BASIC, "region:01": REGION,
          "wrong": "not-a-token", "none": None}

# Region 01: hospital H01 with two wards and a handful of patients (4: small), H02 with two wards (6 + 9,
# two of F's patients from region 03), H04 with one ward of 7; 12 and 03 one ward each (small counts).
A, B, F, G, K = "SE2321000016-A101", "SE2321000016-A102", "SE2321000016-F201", "SE2321000016-G202", "SE2321000016-K401"
C, E = "SE2321000214-C201", "SE2321000018-E301"
H01, H02, H04 = "SE2321000016-H001", "SE2321000016-H002", "SE2321000016-H004"
H12, H03 = "SE2321000214-H001", "SE2321000018-H001"
P12 = dict(provider_id="SE2321000214-P001", hospital_id=H12, clinic_id="SE2321000214-K001")


def bed_events() -> list[dict]:
    many = [admit(F, f"f{i}", 10 + i, muni="0380" if i < 2 else "0180") for i in range(6)]
    many += [admit(G, f"g{i}", 20 + i) for i in range(9)] + [admit(K, f"k{i}", 30 + i) for i in range(7)]
    return [
        ward(A, 0, staffed=6, hospital=H01), ward(B, 0, staffed=8, hospital=H01),
        ward(F, 0, staffed=10, hospital=H02), ward(G, 0, staffed=12, hospital=H02),
        ward(K, 0, staffed=20, hospital=H04),
        ward(C, 0, region="12", staffed=5, hospital=H12), ward(E, 0, region="03", staffed=4, hospital=H03),
        admit(A, "a1", 1), admit(A, "a2", 2), admit(A, "a3", 3), admit(B, "b1", 4),
        admit(C, "c1", 5, region="12", muni="1280"), admit(C, "c2", 6, region="12", muni="0180"),
        admit(E, "e1", 7, region="03", muni="0380"), *many,
        # rejected (ward never declared): one dead letter in 01, one in 12
        admit("SE2321000016-NOPE", "x1", 8), admit("SE2321000214-NOPE", "x2", 9, region="12", muni="1280"),
    ]


def waitlist_events() -> list[dict]:
    # region 12: 6 waiting under 30 days and 2 for 31–60 days: one small bucket, which takes another with it
    long_ago = (T0 - dt.timedelta(days=40)).isoformat()
    return [decided("w01-1", 1), decided("w01-2", 2), decided("w01-3", 3),
            *[decided(f"w12-{i}", 4 + i, region="12", muni="1280", **P12) for i in range(6)],
            *[decided(f"w12-old{i}", 20 + i, region="12", muni="1280", decided_at=long_ago, **P12) for i in range(2)]]


def records(codec: SchemaSet, topic: str, events: list[dict]) -> list[SourceRecord]:
    out = []
    for i, e in enumerate(events):
        m = EVENT_TYPES[e["event_type"]].model_validate(e)
        out.append(SourceRecord(topic, 0, i, codec.encode_single_object(f"{NAMESPACE}.{type(m).__name__}",
                                                                         m.model_dump())))
    return out


class Server:
    """The app on a real socket, in a thread with its own event loop (as `bedflow serve` runs it)."""

    def __init__(self, app: web.Application):
        self.app, self.loop = app, asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(20)

    def _run(self, ready: threading.Event):
        asyncio.set_event_loop(self.loop)
        self.runner = web.AppRunner(self.app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(20)

    def call(self, method: str, path: str, token: str | None) -> tuple[int, bytes]:
        return http_call(self.port, method, path, token)


def api_server(db: ClickHouse, policy: ViewPolicy, admin_token: str):
    """A module fixture's body: the API over `db` on a real socket (`server.db` is the store), stopped and
    the store closed after the module (`yield from api_server(db, policy, ADMIN)`)."""
    s = Server(create_app(db, policy, Metrics(), admin_token))
    s.db = db
    try:
        yield s
    finally:
        s.stop()
        db.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("access")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(
        records(codec, BEDS, bed_events()) + records(codec, WAITLIST, waitlist_events()))
    Sink(db).write(batch.rows)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("skr-basic", BASIC, "national"),
                                Token("sthlm", REGION, "region:01")),
                        audit_log=workdir / "audit.log", detail_grants=frozenset({"skr"}))
    s = Server(create_app(db, policy, Metrics(), ADMIN))
    s.audit, s.db = policy.audit_log, db
    try:
        yield s
    finally:
        s.stop()
        db.close()


def get_json(server: Server, path: str, who: str, method: str = "GET"):
    status, body = server.call(method, path, TOKENS[who])
    assert status == 200, (path, who, status, body[:300])
    return json.loads(body)


# ------------------------------------------------------------------ what a viewer must never get
STATUS_COUNTS = ("occupied", "present", "on_leave", "overcrowded", "outliers", "discharge_ready", "out_of_area_in")
WAIT_COUNTS = ("waiting", "le_30", "le_60", "le_90", "le_180", "gt_180", "with_deviation", "measured", "within_limit",
               "over_180", "target_measured", "past_target")
OTHER_REGIONS = (C, E, H12, H03)  # ids of regions 12 and 03


def no_small(rows: list[dict], fields) -> None:
    for r in rows:
        for f in fields:
            assert not small(r.get(f), 4), (r.get("id", r), f, r.get(f))


def check_status(server, who: str, path: str, body: bytes) -> None:
    data = json.loads(body)
    level, rows = data["level"], data["rows"]
    if level not in ("hospital", "ward"):
        return
    if who == "region:01":
        assert rows and {r["region_code"] for r in rows} == {"01"}, path
        return
    if who == "admin":
        return
    no_small(rows, STATUS_COUNTS)
    for r in rows:
        if r["occupied"] is None:  # no number in the words, no level bracketing the count
            assert r["escalation_level"] is None and not re.search(r"\d", r["escalation_rule"]), r
            assert r["free_beds"] is None and r["occupancy_pct"] is None, r
    differencing(server, who)


def differencing(server, who: str) -> None:
    """Region rows minus the visible hospitals, hospitals minus their visible wards, and the in-row
    identities, written as equations over the hidden cells: none may be determined beyond what the
    region rows alone give (a region's only hospital is its region row)."""
    hs = get_json(server, "/api/v1/status?level=hospital", who)["rows"]
    ws = get_json(server, "/api/v1/status?level=ward", who)["rows"]
    fields = (*STATUS_COUNTS, "free_beds", "occupancy_pct")
    hidden = {(k, r["id"], f) for k, rows in (("h", hs), ("w", ws)) for r in rows for f in fields if r[f] is None}
    every = {(k, r["id"], f) for k, rows in (("h", hs), ("w", ws)) for r in rows for f in fields}
    eqs = status_equations(hs, ws, "leave_not_occupied")
    assert hidden and not determined(eqs, hidden) - determined(eqs, every)


def check_out_of_area(server, who: str, path: str, body: bytes) -> None:
    rows = json.loads(body)["rows"]
    cells = {(r["home_region"], r["treating_region"]): r["patients"] for r in rows}
    if who == "admin":
        assert cells[("03", "01")] == 2 and cells[("01", "12")] == 1
        return
    own = "01" if who == "region:01" else None
    if own:  # its own region reports these: shown as they are
        assert cells[("03", "01")] == 2
    no_small([{"n": n} for c, n in cells.items() if c[1] != own], ("n",))
    assert cells[("01", "12")] is None
    regions = sorted(reference.regions())
    hidden = {c for c, n in cells.items() if n is None}
    assert not determined(matrix_equations(regions), hidden), sorted(hidden)


def check_waitlist(server, who: str, path: str, body: bytes) -> None:
    data = json.loads(body)
    rows = data["rows"]
    region = data.get("region")
    if who == "region:01":
        assert all(r.get("region_code", region) == "01" for r in rows)
    elif who != "admin":
        no_small(rows, WAIT_COUNTS)
        for r in rows:
            assert sum(r[b] is None for b in ("le_30", "le_60", "le_90", "le_180", "gt_180")) != 1, r
    if who != "admin":  # the snapshots' roll-ups: a sum over regions must not bring a hidden count back
        for key in ("nation", "healthcare_regions"):
            if data.get(key) is not None:
                no_small(data[key] if isinstance(data[key], list) else [data[key]], WAIT_COUNTS)


def check_region_rows(server, who: str, path: str, body: bytes) -> None:
    data = json.loads(body)
    if who == "region:01":
        for rows in data.values():
            if isinstance(rows, list):
                assert all(r["region_code"] == "01" for r in rows), path


def check_quality_monthly(server, who: str, path: str, body: bytes) -> None:
    """Every viewer gets every region's data quality (it compares senders); a breakdown's count of contacts
    or patients 1..4 only in the viewer's own region, and no hidden cell given back by its row's total."""
    data = json.loads(body)
    regions = {r["region_code"] for r in data["completeness"]}
    assert regions == ({"12"} if "region=12" in path else set(reference.regions())), (who, path)
    for r in data["fill_rates"]:
        if who == "admin" or (who == "region:01" and r["region_code"] == "01"):
            assert None not in (r["reported"], r["not_reported"], r["not_applicable"]), r
            continue
        no_small([r], ("reported", "not_reported", "not_applicable"))
        cells = [r[c] for c in ("reported", "not_reported", "not_applicable")]
        assert cells.count(None) != 1, r  # events − the two shown would give it
        if r["reported"] is None or r["not_reported"] is None:
            assert r["fill_rate"] is None, r
    for r in data["waiting"]:
        if who == "admin" or (who == "region:01" and r["region_code"] == "01"):
            continue
        for f in ("guarantee", "with_deviation"):
            assert not small(r[f], 4) and (r[f] is None or not small(r["waiting"] - r[f], 4)), r


def check_forecast(server, who: str, path: str, body: bytes) -> None:
    """Below region level: a region viewer gets its own region; for others, no forecast hour rounding to a
    small number of patients outside the viewer's region, and every unit whose count status hides, hidden."""
    data = json.loads(body)
    if data["level"] not in ("hospital", "ward"):
        return
    rows = data["series"]
    if who == "region:01":
        assert rows and {r["region_code"] for r in rows} == {"01"}, path
    if who in ("admin", "region:01"):
        return
    for r in rows:
        for f in ("occupied", "overcrowded"):
            assert not any(small(round(v), 4) for v in r[f] if v is not None), (r["id"], f)
        assert not small(r["occupied_now"], 4), r["id"]
    now = {r["id"]: r for r in get_json(server, f"/api/v1/status?level={data['level']}", who)["rows"]}
    assert {r["id"] for r in rows if now[r["id"]]["occupied"] is None} <= {r["id"] for r in rows if r["occupied_now"] is None}


def check_room(server, who: str, path: str, body: bytes) -> None:
    """Ward offers only with the detail grant, a region viewer's from its own region; no ward offer with 1..4
    patients and no region offer with 1..4 overcrowded outside the viewer's region."""
    data = json.loads(body)
    if who == "national-basic":
        assert data["wards"] is None and data["need"]["free_beds"] is None or data["need"]["level"] == "region", data
        return
    if who == "region:01":
        assert all(o["region_code"] == "01" for o in data["wards"]), path
    if who in ("admin", "region:01"):
        return
    for o in data["wards"]:
        assert o["free_beds"] is None or not small(o["staffed_beds"] - o["free_beds"], 4), o
    no_small(data["regions"], ("overcrowded",))


def check_report(server, who: str, path: str, body: bytes) -> None:
    html = body.decode()
    hospitals = re.search(r'<section id="hospitals">.*?</section>', html, re.S).group(0)
    rows = re.findall(r'<tr class="[^"]*" data-id="([^"]+)">(.*?)</tr>', hospitals, re.S)
    if who in ("region:01", "national-basic"):
        for other in OTHER_REGIONS:
            assert other not in html, (who, other)
    if who == "national-basic":  # no capacity detail: no hospital, no ward
        assert not rows and A not in html and H01 not in html
        return
    assert {h for h, _ in rows} >= {H01, H02, H04}
    if who != "national":
        return
    for hid, row in rows:
        values = dict(re.findall(r'data-field="(\w+)"><span class="val">([^<]*)</span>', row))
        for f in ("occupied", "overcrowded", "outliers", "discharge_ready"):
            assert values[f] not in ("1", "2", "3", "4"), (hid, f, values[f])
        if values["occupied"] == "–":
            assert '<span class="badge esc-na">' in row and "occupancy " not in row, (hid, row)  # nor the words
    hidden = [h for h, row in rows if re.search(r'data-field="occupied"><span class="val">–', row)]
    assert set(hidden) >= {H01, H04} and H02 not in hidden  # H01 (4) and H04, its complement


def check_icu(server, who: str, path: str, body: bytes) -> None:
    """Region rows and above for everyone (21 regions); ICU wards only of the viewer's own region for a
    region viewer, and no small count in another region's ICU ward."""
    data = json.loads(body)
    assert len({r["id"] for r in data["now"] if r["level"] == "region"}) == (1 if "region=" in path else 21)
    for w in data["wards"] or []:
        if who == "region:01":
            assert w["region_code"] == "01", w
        elif who != "admin":
            no_small([w], ("occupied", "overcrowded"))


def check_breaches(server, who: str, path: str, body: bytes) -> None:
    data = json.loads(body)
    if who == "region:01" or who == "admin":
        return
    no_small(data["rows"], ("waiting", "measured", "not_measured", "over_limit", "within_7", "within_14", "within_30",
                            "performed_recent"))
    no_small(data["clinics"], ("waiting", "performed_recent"))


# ------------------------------------------------------------------ every route
# (method, route) → [(a request path, the status per viewer)], and the check of a 200's content.
OK_FOR_TOKENS = {"admin": 200, "national": 200, "national-basic": 200, "region:01": 200, "wrong": 401, "none": 401}
DETAIL = OK_FOR_TOKENS | {"national-basic": 403}
OPEN = {who: 200 for who in TOKENS}
DECLARE = OK_FOR_TOKENS | {"national": 403, "national-basic": 403}
ROUTES = {
    ("GET", "/"): ([("/", OPEN)], None),
    ("GET", "/texts.js"): ([("/texts.js", OPEN)], None),
    ("GET", "/static"): ([("/static/app.js", OPEN)], None),
    ("HEAD", "/static"): None,  # aiohttp's HEAD twin of the static route: checked through GET
    ("GET", "/api/v1/reference"): ([("/api/v1/reference", OK_FOR_TOKENS)], None),
    ("GET", "/api/v1/openapi.json"): ([("/api/v1/openapi.json", OK_FOR_TOKENS)], None),
    ("GET", "/api/v1/status"): ([
        ("/api/v1/status?level=nation", OK_FOR_TOKENS),
        ("/api/v1/status?level=region", OK_FOR_TOKENS),
        ("/api/v1/status?level=hospital", DETAIL),
        ("/api/v1/status?level=ward", DETAIL),
        ("/api/v1/status?level=ward&region=01", DETAIL),
        (f"/api/v1/status?level=ward&hospital={H02}", DETAIL),
        ("/api/v1/status?level=hospital&region=12", DETAIL | {"region:01": 403}),
        (f"/api/v1/status?level=nation&hospital={H01}", OK_FOR_TOKENS | {w: 400 for w in ("admin", "national",
                                                                            "national-basic", "region:01")}),
    ], check_status),
    ("GET", "/api/v1/status/history"): ([
        ("/api/v1/status/history?level=region", OK_FOR_TOKENS),
        ("/api/v1/status/history?level=ward", DETAIL),
        ("/api/v1/status/history?level=hospital&from=2026-11-20T05:00:00Z&to=2026-11-20T08:00:00Z&step=30", DETAIL),
        ("/api/v1/status/history?level=ward&region=12", DETAIL | {"region:01": 403}),
        ("/api/v1/status/history?level=ward&step=1", DETAIL | {w: 400 for w in ("admin", "national", "region:01")}),
    ], lambda server, who, path, body: check_status(server, who, path, json.dumps({  # every point as a status row
        "level": json.loads(body)["level"], "rows": [
            {"region_code": s["region_code"], "escalation_rule": "", "free_beds": None,
             **{f: s[f][k] for f in ("occupied", "overcrowded", "discharge_ready", "occupancy_pct", "escalation_level")}}
            for s in json.loads(body)["series"] for k in range(len(s["occupied"]))]}).encode())),
    ("GET", "/api/v1/forecast"): ([
        ("/api/v1/forecast?level=region&hours=24", OK_FOR_TOKENS),
        ("/api/v1/forecast?level=hospital&hours=3", DETAIL),
        ("/api/v1/forecast?level=ward", DETAIL),
        ("/api/v1/forecast?level=ward&region=12", DETAIL | {"region:01": 403}),
        ("/api/v1/forecast?level=ward&hours=73", DETAIL | {w: 400 for w in ("admin", "national", "region:01")}),
    ], lambda *a: check_forecast(*a)),
    ("GET", "/api/v1/out-of-area"): ([(f"/api/v1/out-of-area?window={w}", OK_FOR_TOKENS) for w in ("now", "30d")],
                                     check_out_of_area),
    ("GET", "/api/v1/room-nearby"): ([  # region-level offers for all; ward offers with the detail grant
        (f"/api/v1/room-nearby?unit={H02}", OK_FOR_TOKENS), (f"/api/v1/room-nearby?unit={A}&need=icu", OK_FOR_TOKENS),
        ("/api/v1/room-nearby?unit=01&need=psychiatric", OK_FOR_TOKENS),
        (f"/api/v1/room-nearby?unit={C}", OK_FOR_TOKENS | {"region:01": 403}),
        ("/api/v1/room-nearby?unit=SE2321000016-NOPE", OK_FOR_TOKENS | {
            w: 400 for w in ("admin", "national", "national-basic", "region:01")})], lambda *a: check_room(*a)),
    ("GET", "/api/v1/waitlist"): ([("/api/v1/waitlist?region=12", OK_FOR_TOKENS | {"region:01": 403}),
                                   ("/api/v1/waitlist?region=01", OK_FOR_TOKENS),
                                   # the breakdowns (issue 12): rows below MVO group × phase, checked alike
                                   *((f"/api/v1/waitlist?region=12&by={by}", OK_FOR_TOKENS | {"region:01": 403})
                                     for by in ("sex", "age_band", "hospital", "activity")),
                                   ("/api/v1/waitlist?region=01&by=sex", OK_FOR_TOKENS),
                                   ("/api/v1/waitlist?region=01&by=kommun", OK_FOR_TOKENS | {
                                       w: 400 for w in ("admin", "national", "national-basic", "region:01")})],
                                  check_waitlist),
    ("GET", "/api/v1/waitlist/snapshots"): ([("/api/v1/waitlist/snapshots?month=2026-11", OK_FOR_TOKENS)],
                                            check_waitlist),
    ("POST", "/api/v1/waitlist/snapshots/close"): ([("/api/v1/waitlist/snapshots/close?month=2026-11",
                                                    OK_FOR_TOKENS | {"national": 403, "national-basic": 403,
                                                                     "region:01": 403})], None),
    ("GET", "/api/v1/waitlist/performed"): ([("/api/v1/waitlist/performed?month=2026-11", OK_FOR_TOKENS),
                                            ("/api/v1/waitlist/performed?month=2026-11&region=12",
                                             OK_FOR_TOKENS | {"region:01": 403}),
                                            ("/api/v1/waitlist/performed?month=2026-11&by=hospital", OK_FOR_TOKENS),
                                            ("/api/v1/waitlist/performed?month=2026-11&region=12&by=sex",
                                             OK_FOR_TOKENS | {"region:01": 403})], check_region_rows),
    ("GET", "/api/v1/beds/monthly"): ([  # its content check lives beside its other tests (imported when called)
        ("/api/v1/beds/monthly?month=2026-11&level=nation", OK_FOR_TOKENS),
        ("/api/v1/beds/monthly?month=2026-11&level=region", OK_FOR_TOKENS),
        ("/api/v1/beds/monthly?month=2026-11&level=hospital", DETAIL),
        ("/api/v1/beds/monthly?month=2026-11&level=ward", DETAIL),
        ("/api/v1/beds/monthly?month=2026-11&level=ward&region=12", DETAIL | {"region:01": 403}),
    ], lambda *a: __import__("tests.test_bed_statistics", fromlist=["check_access"]).check_access(*a)),
    # the year: region level and above only, as the monthly rows every viewer sees
    ("GET", "/api/v1/beds/yearly"): ([("/api/v1/beds/yearly?year=2026&level=nation", OK_FOR_TOKENS),
                                     ("/api/v1/beds/yearly?year=2026&level=region", OK_FOR_TOKENS),
                                     ("/api/v1/beds/yearly?year=2026&level=ward", OK_FOR_TOKENS | {
                                         k: 400 for k in ("admin", "national", "national-basic", "region:01")})], None),
    ("GET", "/api/v1/icu"): ([("/api/v1/icu", OK_FOR_TOKENS), ("/api/v1/icu?level=ward", DETAIL),
                             ("/api/v1/icu?level=ward&region=12", DETAIL | {"region:01": 403})], check_icu),
    ("GET", "/api/v1/waitlist/breaches"): ([("/api/v1/waitlist/breaches?region=12", OK_FOR_TOKENS | {"region:01": 403}),
                                           ("/api/v1/waitlist/breaches?region=01", OK_FOR_TOKENS)], check_breaches),
    ("GET", "/api/v1/escalation"): ([("/api/v1/escalation", OK_FOR_TOKENS)], None),
    ("POST", "/api/v1/escalation/declare"): ([  # a region viewer for its own region, the admin for any
        ("/api/v1/escalation/declare?region=01&level=2&reason=test", DECLARE),
        ("/api/v1/escalation/declare?region=12&level=2&reason=test", DECLARE | {"region:01": 403})], None),
    ("GET", "/api/v1/escalation/history"): ([("/api/v1/escalation/history?region=12", OK_FOR_TOKENS)], None),
    ("GET", "/api/v1/deadletters"): ([("/api/v1/deadletters?limit=100", OK_FOR_TOKENS)], check_region_rows),
    ("GET", "/api/v1/quality"): ([("/api/v1/quality", OK_FOR_TOKENS)], check_region_rows),
    ("GET", "/api/v1/quality/monthly"): ([("/api/v1/quality/monthly?month=2026-11", OK_FOR_TOKENS),
                                         ("/api/v1/quality/monthly?month=2026-11&region=12",
                                          OK_FOR_TOKENS | {"region:01": 403})], check_quality_monthly),
    ("GET", "/metrics"): ([("/metrics", OK_FOR_TOKENS)], None),
    ("GET", "/report/morning"): ([("/report/morning?date=2026-11-21", OK_FOR_TOKENS)], check_report),
}


def test_every_route_is_walked(server):
    registered = set()
    for route in server.app.router.routes():
        registered.add((route.method, route.resource.canonical))
    assert registered == set(ROUTES), "a route without an entry (and an access check) in ROUTES"
    # the month is closed first, so the snapshots have rows to check
    get_json(server, "/api/v1/waitlist/snapshots/close?month=2026-11", "admin", method="POST")
    checked = 0
    for key, entry in ROUTES.items():
        if entry is None:
            continue
        paths, check = entry
        for path, expected in paths:
            for who, token in TOKENS.items():
                status, body = server.call(key[0], path, token)
                assert status == expected[who], (key, path, who, status, body[:200])
                if status == 200 and check is not None:
                    check(server, who, path, body)
                    checked += 1
    assert checked > 40


def test_a_route_registered_around_the_access_module_is_refused(tmp_path):
    policy = ViewPolicy(audit_log=tmp_path / "audit.log")
    app = create_app(None, policy, Metrics(), ADMIN)

    async def leak(request):
        return web.json_response({"secret": 1})

    app.router.add_get("/api/v1/leak", leak)
    s = Server(app)
    try:
        assert s.call("GET", "/api/v1/leak", ADMIN)[0] == 403
        assert s.call("GET", "/api/v1/leak", None)[0] == 403
    finally:
        s.stop()


# ------------------------------------------------------------------ scope per endpoint
def test_status_scope(server):
    admin = get_json(server, "/api/v1/status?level=ward", "admin")["rows"]
    assert {r["region_code"] for r in admin} == {"01", "03", "12"}
    mine = get_json(server, "/api/v1/status?level=ward", "region:01")["rows"]
    assert {r["region_code"] for r in mine} == {"01"}
    assert {r["id"]: r for r in mine}[A]["occupied"] == 3  # its own small counts are shown
    national = {r["id"]: r for r in get_json(server, "/api/v1/status?level=ward", "national")["rows"]}
    assert set(national) == {A, B, F, G, K, C, E}
    assert national[A]["occupied"] is None and national[A]["staffed_beds"] == 6
    assert national[A]["occupancy_pct"] is None and national[A]["free_beds"] is None
    assert national[F]["occupied"] == 6 and national[G]["occupied"] == 9
    assert national[K]["occupied"] is None  # 7, but its hospital is the complement of H01: K alone would give it
    hospitals = {r["id"]: r for r in get_json(server, "/api/v1/status?level=hospital", "national")["rows"]}
    # region 01 = 26: H01 (4) hidden, and H04 (7) with it, so 26 − 15 tells only H01 + H04
    assert (hospitals[H01]["occupied"], hospitals[H02]["occupied"], hospitals[H04]["occupied"]) == (None, 15, None)
    assert hospitals[H01]["escalation_rule"] == SUPPRESSED
    assert {r["region_code"] for r in get_json(server, "/api/v1/status?level=hospital", "region:01")["rows"]} == {"01"}
    for level in ("ward", "hospital"):
        assert server.call("GET", f"/api/v1/status?level={level}&region=12", REGION)[0] == 403
        assert server.call("GET", f"/api/v1/status?level={level}", BASIC)[0] == 403  # detail is a grant
    # region level and above: aggregates, the same for everyone
    regions = {who: {r["id"]: r["occupied"] for r in get_json(server, "/api/v1/status?level=region", who)["rows"]}
               for who in ("admin", "national", "national-basic", "region:01")}
    assert len({json.dumps(v, sort_keys=True) for v in regions.values()}) == 1
    assert regions["admin"] == {"01": 26, "03": 1, "12": 2}


def test_waitlist_scope(server):
    def waiting(who, region):
        return {(r["mvo_group"], r["phase"]): r for r in
                get_json(server, f"/api/v1/waitlist?region={region}", who)["rows"]}

    own = waiting("region:01", "01")
    assert sum(r["waiting"] for r in own.values()) == 3
    assert server.call("GET", "/api/v1/waitlist?region=12", REGION)[0] == 403
    assert [(r["waiting"], r["le_30"], r["le_60"]) for r in waiting("admin", "12").values()] == [(8, 6, 2)]
    (r12,) = waiting("national", "12").values()
    # 8 waiting is shown; 2 in 31–60 days hidden, and the 6 under 30 with them (8 − 6 would give 2)
    assert (r12["waiting"], r12["le_30"], r12["le_60"], r12["le_90"]) == (8, None, None, 0)
    assert r12["share_within_limit"] is None and r12["share_over_180"] is None
    (r01,) = waiting("national", "01").values()
    assert r01["waiting"] is None and r01["le_30"] is None and r01["share_over_180"] is None


def test_waitlist_breakdown_scope(server):
    """Region 12's 8 waiting are all women (sex 2): one group, the whole row, whose 2 in 31–60 days hide it
    from a viewer outside region 12; region 01 sees its own 3 by sex; region 01 may not ask for 12's."""
    def groups(who, region):
        return [(r["breakdown"], r["waiting"], r["le_60"])
                for r in get_json(server, f"/api/v1/waitlist?region={region}&by=sex", who)["rows"]]

    assert groups("admin", "12") == [("2", 8, 2)]
    assert groups("national", "12") == [("2", None, None)]
    assert groups("region:01", "01") == [("2", 3, 0)]
    assert groups("national", "01") == [("2", None, None)]
    assert server.call("GET", "/api/v1/waitlist?region=12&by=sex", REGION)[0] == 403


def test_snapshot_scope(server):
    closed = get_json(server, "/api/v1/waitlist/snapshots/close?month=2026-11", "admin", method="POST")
    assert closed["rows"] >= 2
    admin = get_json(server, "/api/v1/waitlist/snapshots?month=2026-11", "admin")["rows"]
    assert {r["region_code"] for r in admin} == {"01", "12"}
    mine = get_json(server, "/api/v1/waitlist/snapshots?month=2026-11", "region:01")["rows"]
    assert {r["region_code"] for r in mine} == {"01"} and sum(r["waiting"] for r in mine) == 3
    national = {r["region_code"]: r for r in get_json(server, "/api/v1/waitlist/snapshots?month=2026-11",
                                                         "national")["rows"]}
    assert national["01"]["waiting"] is None
    assert (national["12"]["waiting"], national["12"]["le_60"], national["12"]["le_30"]) == (8, None, None)


def test_reading_a_snapshot_never_closes_the_month(server):
    # October has ended and region 12 had contacts open then; no one with the power to close it has
    for who in ("national", "region:01", "admin", "national", "admin"):
        answer = get_json(server, "/api/v1/waitlist/snapshots?month=2026-10", who)
        assert (answer["closed"], answer["final"], answer["rows"]) == (False, False, []), who
        assert "2026-11-22" in answer["note"] and " / " in answer["note"]  # closes at month end + 21 days
    assert server.db.query("SELECT count() FROM waitlist_snapshots WHERE month = '2026-10-01'")[1] == [(0,)]
    get_json(server, "/api/v1/waitlist/snapshots/close?month=2026-10", "admin", method="POST")
    answer = get_json(server, "/api/v1/waitlist/snapshots?month=2026-10", "national")
    assert answer["closed"] and {r["region_code"] for r in answer["rows"]} == {"12"}
    assert answer["final"] and "note" not in answer  # closed by the admin after the 21 days: final
    assert answer["final_at"] == "2026-11-21T23:00:00+00:00"  # Stockholm midnight (CET) in UTC


def test_out_of_area_scope(server):
    def cells(who):
        return {(r["home_region"], r["treating_region"]): r["patients"]
                for r in get_json(server, "/api/v1/out-of-area?window=now", who)["rows"]}

    assert cells("admin") == {("03", "01"): 2, ("01", "12"): 1}
    national = cells("national")
    assert national[("03", "01")] is None and national[("01", "12")] is None
    # row 03 and column 12 each had one hidden cell: a complement each (zero cells, shown as hidden)
    assert sum(1 for c in national if c[0] == "03") >= 2 and sum(1 for c in national if c[1] == "12") >= 2
    mine = cells("region:01")
    assert mine[("03", "01")] == 2 and mine[("01", "12")] is None  # 01 reports the first, not the second


def test_deadletter_and_quality_scope(server):
    assert {r["region_code"] for r in get_json(server, "/api/v1/deadletters", "admin")["rows"]} == {"01", "12"}
    assert {r["region_code"] for r in get_json(server, "/api/v1/deadletters", "region:01")["rows"]} == {"01"}
    mine = get_json(server, "/api/v1/quality", "region:01")
    assert {r["region_code"] for r in mine["senders"]} == {"01"}
    assert {r["region_code"] for r in mine["rejections_by_rule"]} == {"01"}
    assert mine["table_rows"] is None
    admin = get_json(server, "/api/v1/quality", "admin")
    assert {r["region_code"] for r in admin["senders"]} == {"01", "03", "12"} and admin["table_rows"]


def test_reference_tells_the_page_who_is_looking(server):
    ref = get_json(server, "/api/v1/reference", "region:01")
    assert len(ref["regions"]) == 21 and "Norra" in ref["healthcare_regions"]
    assert ref["escalation"]["level3_occupancy_pct"] == 100.0
    assert (ref["stale_after_minutes"], ref["small_count_threshold"]) == (60, 4)
    assert ref["viewer"] == {"name": "sthlm", "role": "region:01", "region": "01", "detail": True}
    assert get_json(server, "/api/v1/reference", "national")["viewer"]["region"] is None
    assert get_json(server, "/api/v1/reference", "national")["viewer"]["detail"] is True
    assert get_json(server, "/api/v1/reference", "national-basic")["viewer"]["detail"] is False


def test_morning_report_scope(server):
    def report(who):
        status, body = server.call("GET", "/report/morning?date=2026-11-21", TOKENS[who])
        assert status == 200
        return body.decode()

    admin, mine, national, basic = report("admin"), report("region:01"), report("national"), report("national-basic")
    # every ward is stale at the picture (no event since the day before): the gaps list wards
    for ward_id in (A, C, E):
        assert ward_id in admin
    assert A in mine and C not in mine and E not in mine  # other regions' wards and hospitals: not listed
    assert H01 in mine and H12 not in mine and H03 not in mine
    assert H12 in national and H12 in admin
    assert H01 not in basic and A not in basic  # no capacity detail without the grant
    # every viewer sees the regions (aggregates)
    for html in (admin, mine, national, basic):
        assert "Region Skåne" in html and "Region Uppsala" in html


def test_region_role_without_a_code_is_refused_at_config_load(tmp_path):
    from bedflow.config import Config

    for role in ("region:", "region:99"):
        with pytest.raises(ValueError, match="region"):
            Token("x", "t", role)
        path = tmp_path / "bedflow.toml"
        path.write_text(f'[[tokens]]\nname = "x"\ntoken = "t"\nrole = "{role}"\n')
        with pytest.raises((ValueError, SystemExit)):
            Config.load(path)


def test_capacity_detail_is_a_grant_in_the_config_file(tmp_path):
    from bedflow.config import Config

    path = tmp_path / "bedflow.toml"
    path.write_text('[[tokens]]\nname = "a"\ntoken = "t1"\nrole = "national"\ndetail = true\n'
                    '[[tokens]]\nname = "b"\ntoken = "t2"\nrole = "national"\n')
    config = Config.load(path)
    assert config.detail_grants == {"a"}  # not given: not granted
    policy = ViewPolicy(detail_grants=config.detail_grants)
    assert policy.sees_detail(Viewer("national", "a")) and not policy.sees_detail(Viewer("national", "b"))
    assert policy.sees_detail(Viewer("region:01", "c")) and policy.sees_detail(Viewer("admin", "admin"))
    for bad in ('detail = "yes"\n', ""):
        path.write_text('[[tokens]]\nname = "a"\ntoken = "t1"\nrole = "national"\n' + bad +
                        ('[[tokens]]\nname = "a"\ntoken = "t2"\nrole = "national"\n' if not bad else ""))
        with pytest.raises(SystemExit):  # not a boolean; two tokens of one name (a grant is by name)
            Config.load(path)


def test_every_access_is_audited(server):
    server.call("GET", "/api/v1/status", None)
    lines = [json.loads(line) for line in server.audit.read_text().splitlines()]
    assert any(e["status"] == 401 and e["who"] is None for e in lines)
    assert any(e["who"] == "sthlm" and e["role"] == "region:01" for e in lines)


def test_the_page_offers_detail_only_where_the_api_answers(server):
    """In a real browser: a region row opens its hospitals only for a viewer granted capacity detail of that
    region (reference: viewer.detail, a region viewer for its own region); elsewhere the row is not
    drillable, so the page never asks for what the API refuses (no 403, no error shown)."""
    import shutil

    from playwright.sync_api import sync_playwright

    from web.pdf import CHROMIUM_ARGS

    exe = shutil.which("chromium")
    if not exe:
        pytest.fail("Debian's chromium is required for the page test (make test installs it)")
    expected = {"national-basic": {"01": False, "12": False}, "region:01": {"01": True, "12": False},
                "national": {"01": True, "12": True}}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        for who, drillable in expected.items():
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            failed: list[tuple[str, int]] = []
            page.on("response", lambda r: r.status >= 400 and failed.append((r.url, r.status)))
            page.goto(f"http://127.0.0.1:{server.port}/")
            page.fill("#token-input", TOKENS[who])
            page.click("#login-button")
            page.wait_for_selector("#refresh-status.ok")
            page.locator("#status-body tr.row.drill").first.locator(":scope > *").first.click()  # nation → healthcare regions
            for hr, region in (("Stockholm-Gotland", "01"), ("Södra", "12")):
                if region == "12":  # back to the healthcare regions
                    page.locator('#breadcrumb a.crumb[data-depth="1"]').click()
                page.locator(f'#status-table[data-level="healthcare_region"] tr.row[data-id="{hr}"] > *').first.click()
                row = page.locator(f'#status-table[data-level="region"] tr.row[data-id="{region}"]')
                row.wait_for()
                assert ("drill" in row.get_attribute("class").split()) == drillable[region], (who, region)
                if not drillable[region]:
                    assert "kapacitetsdetaljer" in row.get_attribute("title")
                row.locator(":scope > *").first.click()  # the name cell (the sparklines are buttons of their own)
                if drillable[region]:
                    page.wait_for_selector('#status-table[data-level="hospital"] tr.row')
                    assert page.evaluate("window.bedflow.path().length") == 4
                else:
                    page.wait_for_timeout(300)  # a click that would fetch has time to
                    assert page.evaluate("window.bedflow.path().length") == 3
            assert not failed, (who, failed)
            assert "error" not in page.locator("#refresh-status").get_attribute("class")
            context.close()
        browser.close()


def test_quality_monthly_scope(server):
    """Every viewer sees every region's data quality; region 01's three waiting contacts (all under the
    guarantee) are a small breakdown: hidden outside region 01, shown to it and to the admin."""
    def waiting(who):
        return {r["region_code"]: r for r in get_json(server, "/api/v1/quality/monthly?month=2026-11", who)["waiting"]}

    for who in ("admin", "region:01"):
        assert (waiting(who)["01"]["waiting"], waiting(who)["01"]["guarantee"]) == (3, 3)
    for who in ("national", "national-basic"):
        assert waiting(who)["01"]["waiting"] == 3 and waiting(who)["01"]["guarantee"] is None
        assert waiting(who)["01"]["share_guarantee"] is None
        assert (waiting(who)["12"]["guarantee"], waiting(who)["12"]["share_guarantee"]) == (8, 1.0)  # 8 of 8: no small part
    assert len(waiting("region:01")) == 21 and waiting("region:01")["12"]["waiting"] == 8
    assert server.call("GET", "/api/v1/quality/monthly?month=2026-11&region=12", REGION)[0] == 403
