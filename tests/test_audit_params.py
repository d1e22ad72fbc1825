"""Bad parameters get 400 with a clear message (Swedish / English), never a 500, on every route, and are
audited like any answer. Against the real app over ClickHouse (chDB); web/api.py parses every parameter
with web.access's `param_*` functions, which raise BadRequest → 400."""
from __future__ import annotations

import json

import pytest

from bedflow.metrics import Metrics
from sinks.clickhouse import ClickHouse
from tests.test_access import Server
from web.api import create_app
from web.policy import ViewPolicy

ADMIN = "adm-5e1f"

CASES = [
    ("GET", "/api/v1/status?level=bogus", "level"),
    ("GET", "/api/v1/status?level=ward&region=zz", "region"),
    ("GET", "/api/v1/status?level=region&region=1", "region"),
    ("GET", "/api/v1/status?level=nation&hospital=SE2321000016-H001", "hospital"),
    ("GET", "/api/v1/out-of-area?window=1y", "window"),
    ("GET", "/api/v1/waitlist", "region"),
    ("GET", "/api/v1/waitlist?region=zz", "region"),
    ("GET", "/api/v1/waitlist?region=01&phase=x", "phase"),
    ("GET", "/api/v1/waitlist?region=01&phase=9", "phase"),
    ("GET", "/api/v1/waitlist?region=01&phase=-1", "phase"),
    ("GET", "/api/v1/waitlist?region=01&phase=99999999999999999999", "phase"),
    ("GET", "/api/v1/waitlist?region=01&at=nope", "at"),
    ("GET", "/api/v1/waitlist?region=01&at=0001-01-01", "at"),
    ("GET", "/api/v1/waitlist/snapshots", "month"),
    ("GET", "/api/v1/waitlist/snapshots?month=2026-13", "month"),
    ("GET", "/api/v1/waitlist/snapshots?month=9999-12", "month"),
    ("POST", "/api/v1/waitlist/snapshots/close?month=9999-12", "month"),
    ("POST", "/api/v1/waitlist/snapshots/close?month=x", "month"),
    ("GET", "/api/v1/deadletters?limit=x", "limit"),
    ("GET", "/api/v1/deadletters?limit=-5", "limit"),
    ("GET", "/report/morning?date=x", "date"),
    ("GET", "/report/morning?date=0001-01-01", "date"),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("params")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    policy = ViewPolicy(audit_log=workdir / "audit.log")
    s = Server(create_app(db, policy, Metrics(), ADMIN))
    s.audit = policy.audit_log
    try:
        yield s
    finally:
        s.stop()
        db.close()


@pytest.mark.parametrize("method,path,param", CASES)
def test_a_bad_parameter_is_a_400_with_a_clear_message(site, method, path, param):
    status, body = site.call(method, path, ADMIN)
    assert status == 400, (status, body[:200])
    assert param in json.loads(body)["error"]  # names the parameter it refuses
    entry = [json.loads(line) for line in site.audit.read_text().splitlines()][-1]
    assert (entry["status"], entry["path"]) == (400, path.split("?")[0])


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/v1/status?level=ward&region=01"),
    ("GET", "/api/v1/out-of-area?window=24h"),
    ("GET", "/api/v1/waitlist?region=25&phase=5&at=2026-11-21T07:00:00%2B01:00"),
    ("GET", "/api/v1/waitlist?region=01&phase=1&at=2026-11-21"),
    ("GET", "/api/v1/deadletters?limit=1000"),
    ("GET", "/report/morning?date=2026-11-21"),
])
def test_a_good_parameter_is_answered(site, method, path):
    status, body = site.call(method, path, ADMIN)
    assert status == 200, (status, body[:200])
