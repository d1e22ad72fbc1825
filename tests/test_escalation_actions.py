"""Issue 14: escalation with actions. Each level 1–4 carries the actions configured for it ([escalation.actions]
in the config file, as NHS England's OPEL framework gives each level its actions); a region declares its
level with a reason (POST /api/v1/escalation/declare: a region viewer for its own region, the admin for
any), kept beside the computed one; while in force the declared level is the level in force (GET
/api/v1/escalation), and the history keeps both (GET /api/v1/escalation/history, computed as the trends
compute a region's level). Over a hand-made ward history in ClickHouse (chDB)."""
from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request
from urllib.parse import quote

import pytest

from bedflow.config import Config
from bedflow.metrics import Metrics
from sinks.clickhouse import ClickHouse
from streams.domain.escalation import Declaration, Escalation, declared_at, level_in_force, region_escalation
from tests.test_access import Server
from web.access import Token
from web.api import create_app
from web.policy import ViewPolicy

ADMIN, NATIONAL, REGION = "esc-admin", "esc-national", "esc-region01"
T = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
H = dt.timedelta(hours=1)
W1 = "SE2321000016-A101"
ACTIONS = {1: ("Normalläge / business as usual",), 3: ("Öppna eskaleringsplatser / open escalation beds",
                                                       "Kontakta grannregionerna / call the neighbours")}
ESCALATION = Escalation(actions=tuple(ACTIONS.get(lv, ()) for lv in (1, 2, 3, 4)))


# ------------------------------------------------------------------ the definitions, as plain functions
def test_actions_come_from_the_config_file(tmp_path):
    path = tmp_path / "bedflow.toml"
    path.write_text('[escalation]\nlevel2_occupancy_pct = 85\n[escalation.actions]\n'
                    '3 = ["Öppna eskaleringsplatser / open escalation beds", "Kontakta grannregionerna / call the neighbours"]\n'
                    '1 = ["Normalläge / business as usual"]\n', encoding="utf-8")
    esc = Config.load(path).escalation
    assert esc.level2_occupancy_pct == 85 and esc.level(86, 0)[0] == 2
    assert esc.actions_for(3) == list(ACTIONS[3]) and esc.actions_for(1) == list(ACTIONS[1])
    assert esc.actions_for(2) == [] and esc.actions_for(None) == []  # none configured for level 2
    assert Config.load(None).escalation.actions_for(4) == []  # none by default
    for bad in ('5 = ["x"]\n', '2 = "not a list"\n', '2 = [1]\n'):
        path.write_text("[escalation.actions]\n" + bad, encoding="utf-8")
        with pytest.raises(SystemExit):
            Config.load(path)


def test_a_declared_level_3_shows_beside_a_computed_2_with_level_3s_actions():
    d = Declaration("01", 3, "Hög beläggning på akuten", "region:01", T - H)
    shown = region_escalation("01", 2, "occupancy 92.0 % ≥ 90 %", [d], T, ESCALATION)
    assert (shown["computed_level"], shown["level"], shown["source"]) == (2, 3, "declared")
    assert shown["declared"]["reason"] == "Hög beläggning på akuten" and shown["declared"]["declared_by"] == "region:01"
    assert shown["actions"] == list(ACTIONS[3])
    # before it was made, and in another region, the computed level is in force with its own actions
    assert region_escalation("01", 1, "", [d], T - 2 * H, ESCALATION)["actions"] == list(ACTIONS[1])
    assert region_escalation("12", 2, "", [d], T, ESCALATION)["source"] == "computed"


def test_a_declaration_holds_until_its_end_or_the_next_one():
    first = Declaration("01", 4, "a", "admin", T - 3 * H, until=T - H)
    assert declared_at([first], T - 2 * H) == first
    assert declared_at([first], T - H) is None  # `until` is the first instant it no longer holds
    second = Declaration("01", 2, "b", "region:01", T - 2 * H)
    assert declared_at([first, second], T - 90 * dt.timedelta(minutes=1)) == second  # the newer one ends the older
    assert level_in_force(3, None).source == "computed" and level_in_force(None, None).level is None
    assert level_in_force(3, second).level == 2  # a region may declare lower than computed: its judgement


# ------------------------------------------------------------------ the API
def ward_row(at: dt.datetime, occupied: int, version: int) -> dict:
    return {"ward_id": W1, "version": version, "at": at.replace(tzinfo=None), "event_id": f"e{version}",
            "hospital_id": "SE2321000016-H001", "hospital_name": "Sjukhus", "ward_name": "Avd A101",
            "region_code": "01", "mvo_code": "101", "mvo_group": "", "care_type": "somatic", "ward_kind": "general",
            "source": "adt", "staffed_beds": 50, "admitted": occupied, "present": occupied, "on_leave": 0,
            "occupied": occupied, "overcrowded": 0, "outliers": 0, "discharge_ready": 0, "out_of_area_in": 0,
            "last_event_at": at.replace(tzinfo=None), "sender_id": "SE2321000016-0001"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("escalation")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    # region 01's one ward of 50 beds: 30 occupied (60 %: level 1) from T − 5 h, 46 (92 %: level 2) from T − 1.5 h
    rows = [ward_row(T - 5 * H, 30, 1), ward_row(T - 1.5 * H, 46, 2)]
    cols = list(rows[0])
    db.insert("ward_status", [[r[c] for c in cols] for r in rows], cols)
    db.insert("ward_current", [[rows[-1][c] for c in cols]], cols)
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL, "national"), Token("sthlm", REGION, "region:01")),
                        audit_log=workdir / "audit.log", escalation=ESCALATION)
    s = Server(create_app(db, policy, Metrics(), ADMIN))
    s.audit = policy.audit_log
    try:
        yield s
    finally:
        s.stop()
        db.close()


def post(server, body: dict | None, token: str, query: str = "") -> tuple[int, dict]:
    req = urllib.request.Request(f"http://127.0.0.1:{server.port}/api/v1/escalation/declare{query}", method="POST",
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def get(server, path, token=ADMIN) -> dict:
    status, body = server.call("GET", path, token)
    assert status == 200, (path, status, body[:300])
    return json.loads(body)


def test_declare_show_beside_the_computed_level_and_keep_the_history(server):
    before = {r["region_code"]: r for r in get(server, "/api/v1/escalation", NATIONAL)["rows"]}
    assert len(before) == 21 and before["01"]["computed_level"] == 2 and before["01"]["declared"] is None
    assert (before["01"]["level"], before["01"]["source"], before["01"]["actions"]) == (2, "computed", [])
    assert before["12"]["computed_level"] is None and before["12"]["source"] == "none"  # no wards
    reason = "Hög beläggning på akuten, IVA fullt"
    status, made = post(server, {"region": "01", "level": 3, "reason": reason}, REGION)
    assert status == 200 and made["declared_by"] == "region:01" and made["actions"] == list(ACTIONS[3])
    (r01,) = get(server, "/api/v1/escalation?region=01", NATIONAL)["rows"]
    assert (r01["computed_level"], r01["level"], r01["source"]) == (2, 3, "declared")
    assert r01["declared"]["reason"] == reason and r01["declared"]["declared_by"] == "region:01"
    assert r01["actions"] == list(ACTIONS[3]) and REGION not in json.dumps(r01)  # the role, never the token
    # the history: computed from the ward history point by point, the declaration from when it was made
    h = get(server, f"/api/v1/escalation/history?region=01&from={quote((T - 4 * H).isoformat())}&step=60")
    assert h["computed"] == [1, 1, 1, 2, 2]  # − 4, − 3, − 2 h: 60 %; − 1 h and now: 92 %
    assert h["declared"] == [None, None, None, None, 3] and h["level"] == [1, 1, 1, 2, 3]
    assert [d["reason"] for d in h["declarations"]] == [reason]
    # the computed levels are the trend's (status/history at region level), point for point
    window = f"from={quote((T - 6 * H).isoformat())}&to={quote(T.isoformat())}&step=30"
    trend = get(server, f"/api/v1/status/history?level=region&id=01&{window}")["series"][0]["escalation_level"]
    assert get(server, f"/api/v1/escalation/history?region=01&{window}")["computed"] == trend
    assert trend[:2] == [None, None] and trend[-1] == 2  # no ward before T − 5 h
    # audited like every request: who, the role, the route; the reason's text is not in the audit log
    lines = [json.loads(x) for x in server.audit.read_text().splitlines()]
    entry = next(e for e in lines if e["method"] == "POST" and e["route"] == "/api/v1/escalation/declare")
    assert (entry["who"], entry["role"], entry["status"]) == ("sthlm", "region:01", 200)
    assert "akuten" not in server.audit.read_text()


def test_who_may_declare_and_what_is_refused(server):
    ok = {"region": "12", "level": 4, "reason": "Stabsläge / major incident"}
    assert post(server, ok, REGION)[0] == 403      # another region's level
    assert post(server, ok, NATIONAL)[0] == 403    # a national viewer declares for no region
    assert post(server, ok, "wrong")[0] == 401
    until = (dt.datetime.now(dt.timezone.utc) + H).isoformat()
    status, made = post(server, {**ok, "until": until}, ADMIN)
    assert status == 200 and made["declared_by"] == "admin" and made["until"] is not None
    (r12,) = get(server, "/api/v1/escalation?region=12")["rows"]
    assert (r12["level"], r12["source"], r12["computed_level"]) == (4, "declared", None)
    for bad in ({**ok, "level": 5}, {"region": "12", "level": 2}, {**ok, "reason": "pnr 19121212-1212"},
                {**ok, "reason": " "}, {**ok, "until": "2020-01-01T00:00:00Z"}, {**ok, "region": "99"}):
        assert post(server, bad, ADMIN)[0] == 400, bad
    status, _ = post(server, None, ADMIN, "?region=01&level=1&reason=" + quote("Läget normalt"))  # as parameters
    assert status == 200
    assert get(server, "/api/v1/escalation?region=01")["rows"][0]["level"] == 1
    # given as parameters, the region and level are audited with the request; the reason never is
    last = [json.loads(x) for x in server.audit.read_text().splitlines() if '"POST"' in x][-1]
    assert last["params"] == {"region": "01", "level": "1"} and "normalt" not in server.audit.read_text()
