"""Access: every route of the real app, with an admin, a national, a region:01 token, a wrong token and
no token, against ClickHouse (chDB) filled by the real processor and sink. Checks the status codes and
the scope (a region:01 viewer never gets another region's detail; a national one never a small count
below region level). The route table below must name every route the app registers: a new route
without an entry here fails `test_every_route_is_walked`."""
from __future__ import annotations

import asyncio
import json
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
from tests.factory import admit, decided, ward
from tests.harness import http_call
from web.access import Token
from web.api import create_app
from web.policy import ViewPolicy

ADMIN, NATIONAL, REGION = "admin-token", "national-token", "region01-token"
TOKENS = {"admin": ADMIN, "national": NATIONAL, "region:01": REGION, "wrong": "not-a-token", "none": None}

# Region 01: two wards with a handful of patients each; 12 and 03 one ward each (small counts everywhere).
A, B = "SE2321000016-A101", "SE2321000016-A102"
C, E = "SE2321000214-C201", "SE2321000018-E301"
H01, H12, H03 = "SE2321000016-H001", "SE2321000214-H001", "SE2321000018-H001"
P12 = dict(provider_id="SE2321000214-P001", hospital_id=H12, clinic_id="SE2321000214-K001")


def bed_events() -> list[dict]:
    return [
        ward(A, 0, staffed=6, hospital=H01), ward(B, 0, staffed=8, hospital=H01),
        ward(C, 0, region="12", staffed=5, hospital=H12), ward(E, 0, region="03", staffed=4, hospital=H03),
        admit(A, "a1", 1), admit(A, "a2", 2), admit(A, "a3", 3), admit(B, "b1", 4),
        admit(C, "c1", 5, region="12", muni="1280"), admit(C, "c2", 6, region="12", muni="1280"),
        admit(E, "e1", 7, region="03", muni="0380"),
        # rejected (ward never declared): one dead letter in 01, one in 12
        admit("SE2321000016-NOPE", "x1", 8), admit("SE2321000214-NOPE", "x2", 9, region="12", muni="1280"),
    ]


def waitlist_events() -> list[dict]:
    return [decided("w01-1", 1), decided("w01-2", 2), decided("w01-3", 3),
            decided("w12-1", 4, region="12", muni="1280", **P12),
            decided("w12-2", 5, region="12", muni="1280", **P12)]


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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("access")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(
        records(codec, BEDS, bed_events()) + records(codec, WAITLIST, waitlist_events()))
    Sink(db).write(batch.rows)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("sthlm", REGION, "region:01")),
                        audit_log=workdir / "audit.log", detail_grants=frozenset({"skr"}))
    s = Server(create_app(db, policy, Metrics(), ADMIN))
    s.audit = policy.audit_log
    try:
        yield s
    finally:
        s.stop()
        db.close()


def get_json(server: Server, path: str, who: str, method: str = "GET"):
    status, body = server.call(method, path, TOKENS[who])
    assert status == 200, (path, who, status, body[:300])
    return json.loads(body)


# ------------------------------------------------------------------ every route: status codes
# (method, route) → (a request path, the status per viewer). Scope checks follow per endpoint.
OK_FOR_TOKENS = {"admin": 200, "national": 200, "region:01": 200, "wrong": 401, "none": 401}
OPEN = {who: 200 for who in TOKENS}
ROUTES = {
    ("GET", "/"): ("/", OPEN),
    ("GET", "/static"): ("/static/app.js", OPEN),
    ("HEAD", "/static"): None,  # aiohttp's HEAD twin of the static route: checked through GET
    ("GET", "/api/v1/reference"): ("/api/v1/reference", OK_FOR_TOKENS),
    ("GET", "/api/v1/status"): ("/api/v1/status?level=ward", OK_FOR_TOKENS),
    ("GET", "/api/v1/out-of-area"): ("/api/v1/out-of-area?window=now", OK_FOR_TOKENS),
    ("GET", "/api/v1/waitlist"): ("/api/v1/waitlist?region=12", OK_FOR_TOKENS | {"region:01": 403}),
    ("GET", "/api/v1/waitlist/snapshots"): ("/api/v1/waitlist/snapshots?month=2026-11", OK_FOR_TOKENS),
    ("POST", "/api/v1/waitlist/snapshots/close"): ("/api/v1/waitlist/snapshots/close?month=2026-11",
                                                   OK_FOR_TOKENS | {"national": 403, "region:01": 403}),
    ("GET", "/api/v1/deadletters"): ("/api/v1/deadletters?limit=100", OK_FOR_TOKENS),
    ("GET", "/api/v1/quality"): ("/api/v1/quality", OK_FOR_TOKENS),
    ("GET", "/metrics"): ("/metrics", OK_FOR_TOKENS),
    ("GET", "/report/morning"): ("/report/morning?date=2026-11-21", OK_FOR_TOKENS),
}


def test_every_route_is_walked(server):
    registered = set()
    for route in server.app.router.routes():
        registered.add((route.method, route.resource.canonical))
    assert registered == set(ROUTES), "a route without an entry (and an access check) in ROUTES"
    for key, entry in ROUTES.items():
        if entry is None:
            continue
        path, expected = entry
        got = {who: server.call(key[0], path, token)[0] for who, token in TOKENS.items()}
        assert got == expected, (key, got)


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
    assert set(national) == {A, B, C, E}
    assert national[A]["occupied"] is None and national[A]["staffed_beds"] == 6
    assert national[A]["occupancy_pct"] is None and national[A]["free_beds"] is None
    hospitals = get_json(server, "/api/v1/status?level=hospital", "region:01")["rows"]
    assert {r["region_code"] for r in hospitals} == {"01"}
    for level in ("ward", "hospital"):
        assert server.call("GET", f"/api/v1/status?level={level}&region=12", REGION)[0] == 403
    # region level and above: aggregates, the same for everyone
    regions = {who: {r["id"]: r["occupied"] for r in get_json(server, "/api/v1/status?level=region", who)["rows"]}
               for who in ("admin", "national", "region:01")}
    assert regions["admin"] == regions["national"] == regions["region:01"] == {"01": 4, "03": 1, "12": 2}


def test_waitlist_scope(server):
    def waiting(who, region):
        return {(r["mvo_group"], r["phase"]): r for r in
                get_json(server, f"/api/v1/waitlist?region={region}", who)["rows"]}

    own = waiting("region:01", "01")
    assert sum(r["waiting"] for r in own.values()) == 3
    assert server.call("GET", "/api/v1/waitlist?region=12", REGION)[0] == 403
    assert sum(r["waiting"] for r in waiting("admin", "12").values()) == 2
    national = list(waiting("national", "12").values()) + list(waiting("national", "01").values())
    assert len(national) == 2
    for r in national:
        assert r["waiting"] is None and r["le_30"] is None  # 2 and 3 waiting: small counts
        assert r["share_within_limit"] is None and r["share_over_180"] is None  # no back door


def test_snapshot_scope(server):
    closed = get_json(server, "/api/v1/waitlist/snapshots/close?month=2026-11", "admin", method="POST")
    assert closed["rows"] >= 2
    admin = get_json(server, "/api/v1/waitlist/snapshots?month=2026-11", "admin")["rows"]
    assert {r["region_code"] for r in admin} == {"01", "12"}
    mine = get_json(server, "/api/v1/waitlist/snapshots?month=2026-11", "region:01")["rows"]
    assert {r["region_code"] for r in mine} == {"01"} and sum(r["waiting"] for r in mine) == 3
    national = get_json(server, "/api/v1/waitlist/snapshots?month=2026-11", "national")["rows"]
    assert {r["region_code"] for r in national} == {"01", "12"}
    assert all(r["waiting"] is None for r in national)


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
    assert ref["viewer"] == {"name": "sthlm", "role": "region:01", "region": "01"}
    assert get_json(server, "/api/v1/reference", "national")["viewer"]["region"] is None


def test_morning_report_scope(server):
    def report(who):
        status, body = server.call("GET", "/report/morning?date=2026-11-21", TOKENS[who])
        assert status == 200
        return body.decode()

    admin, mine, national = report("admin"), report("region:01"), report("national")
    # every ward is stale at the picture (no event since the day before): the gaps list wards
    for ward_id in (A, C, E):
        assert ward_id in admin
    assert A in mine and C not in mine and E not in mine  # other regions' wards and hospitals: not listed
    assert H01 in mine and H12 not in mine and H03 not in mine
    assert H12 in national and H12 in admin
    # every viewer sees the regions (aggregates)
    for html in (admin, mine, national):
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


def test_every_access_is_audited(server):
    server.call("GET", "/api/v1/status", None)
    lines = [json.loads(line) for line in server.audit.read_text().splitlines()]
    assert any(e["status"] == 401 and e["who"] is None for e in lines)
    assert any(e["who"] == "sthlm" and e["role"] == "region:01" for e in lines)
