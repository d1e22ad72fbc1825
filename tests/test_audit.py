"""Credentials and the audit log: a token only in the Authorization header (never in a URL, never written
down), every request audited (refusals, bad parameters and errors too) without a secret in it, the audit
file rotated and kept open, JSON lines on stdout for a cluster's log system. Against the real app on a real
socket, over ClickHouse (chDB); the page's morning-report link in a real browser."""
from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
from aiohttp import web

import web.access as access
from bedflow.metrics import Metrics
from sinks.clickhouse import ClickHouse
from tests.test_access import Server
from web.access import VIEWER, Access, AuditLog, BadRequest, Token
from web.api import create_app
from web.policy import ViewPolicy

ADMIN_TOKEN, NATIONAL_TOKEN = "adm-7f3c9e1d5b", "nat-0a8b2c4d6e"
PIN = "19121212-1212"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The real app over an empty store, and beside it an app of the test's own two routes, under the same
    access module and audit file: one that fails (500) and one that refuses its parameter (400)."""
    workdir = tmp_path_factory.mktemp("audit")
    db = ClickHouse(f"chdb://{workdir / 'ch'}")
    db.migrate()
    policy = ViewPolicy(tokens=(Token("skr", NATIONAL_TOKEN, "national"),), audit_log=workdir / "audit.log")
    app = create_app(db, policy, Metrics(), ADMIN_TOKEN)
    extra = Access(policy, ADMIN_TOKEN, Metrics())  # same policy, same audit file (one handler per file)
    sub = web.Application(middlewares=[extra.middleware])

    async def boom(request):
        raise ValueError(f"cannot parse {PIN}")  # a message that quotes data: must reach neither log

    async def picky(request):
        raise BadRequest("x måste vara ett tal / x must be a number")

    extra.add(sub, "GET", "/t/boom", boom, VIEWER)
    extra.add(sub, "GET", "/t/picky", picky, VIEWER)
    s, s.extra = Server(app), Server(sub)
    s.audit = policy.audit_log
    try:
        yield s
    finally:
        s.extra.stop()
        s.stop()
        db.close()


def entries(site) -> list[dict]:
    return [json.loads(line) for line in site.audit.read_text().splitlines()]


def last(site, path: str) -> dict:
    return [e for e in entries(site) if e["path"] == path][-1]


def test_a_token_in_the_url_is_refused_and_never_written(site, caplog):
    caplog.set_level(logging.DEBUG)
    for path, header in ((f"/api/v1/reference?token={ADMIN_TOKEN}", None),
                         (f"/api/v1/reference?token={ADMIN_TOKEN}", ADMIN_TOKEN),  # even beside a good header
                         (f"/api/v1/status?level=nation&access_token={NATIONAL_TOKEN}", None),
                         (f"/?token={ADMIN_TOKEN}", None)):
        status, body = site.call("GET", path, header)
        assert status == 401, path
        assert "Authorization: Bearer" in json.loads(body)["error"]
    assert site.call("GET", "/api/v1/reference", ADMIN_TOKEN)[0] == 200  # the header works
    audit = site.audit.read_text()
    for secret in (ADMIN_TOKEN, NATIONAL_TOKEN):
        assert secret not in audit and secret not in caplog.text
    refused = last(site, "/api/v1/status")
    assert refused["status"] == 401 and refused["who"] is None and refused["params"] == {"level": "nation"}


def test_every_answer_is_audited_errors_and_refusals_included(site, caplog):
    caplog.set_level(logging.DEBUG)
    cases = [("/api/v1/reference", ADMIN_TOKEN, 200, "admin"),
             ("/api/v1/reference", None, 401, None),
             ("/api/v1/reference", "wrong-token", 401, None),
             ("/api/v1/nothing-here", ADMIN_TOKEN, 404, "admin"),
             ("/static/app.js", None, 200, None),
             ("/t/picky", NATIONAL_TOKEN, 400, "skr"),
             ("/t/boom", NATIONAL_TOKEN, 500, "skr")]
    for path, token, status, who in cases:
        server = site.extra if path.startswith("/t/") else site
        assert server.call("GET", path, token)[0] == status, path
        e = last(site, path)
        assert (e["status"], e["who"], e["method"]) == (status, who, "GET"), e
        assert dt.datetime.fromisoformat(e["at"]).tzinfo is not None and e["ms"] >= 0
    assert site.call("POST", "/api/v1/waitlist/snapshots/close?month=2026-10", NATIONAL_TOKEN)[0] == 403
    e = last(site, "/api/v1/waitlist/snapshots/close")
    assert (e["status"], e["who"], e["role"], e["params"]) == (403, "skr", "national", {"month": "2026-10"})
    # a 500 answers with a plain message and logs the error's type, never its text (it quoted data)
    status, body = site.extra.call("GET", "/t/boom", NATIONAL_TOKEN)
    assert PIN not in body.decode() and "internal error" in json.loads(body)["error"]
    assert "ValueError" in caplog.text and PIN not in caplog.text and PIN not in site.audit.read_text()


def test_the_audit_log_keeps_no_secret(site):
    site.call("GET", f"/api/v1/status?level=ward&password=hunter2&region={PIN}&hospital=SE2321000016-H001",
              NATIONAL_TOKEN)
    e = last(site, "/api/v1/status")
    assert e["params"] == {"level": "ward", "region": "?", "hospital": "SE2321000016-H001"}
    assert e["route"] == "/api/v1/status"
    site.call("GET", f"/api/v1/{PIN}/x?token=abc", NATIONAL_TOKEN)
    text = site.audit.read_text()
    assert "hunter2" not in text and "password" not in text and PIN not in text and "19121212" not in text
    assert "?token" not in text and "abc" not in text


def test_metric_labels_are_routes_not_raw_paths(tmp_path):
    metrics = Metrics()
    policy = ViewPolicy(audit_log=tmp_path / "audit.log")
    s = Server(create_app(None, policy, metrics, ADMIN_TOKEN))
    try:
        for i in range(5):
            s.call("GET", f"/api/v1/unknown-{i}", ADMIN_TOKEN)
        s.call("GET", "/api/v1/reference", None)
    finally:
        s.stop()
    labels = {(m.labels["path"], m.labels["status"]) for fam in metrics.registry.collect()
              if fam.name == "bedflow_api_requests" for m in fam.samples if m.name.endswith("_total")}
    assert labels == {("other", "404"), ("/api/v1/reference", "401")}


def test_the_audit_file_rotates_and_is_kept_open(tmp_path, monkeypatch):
    monkeypatch.setattr(access, "AUDIT_MAX_BYTES", 2000)
    monkeypatch.setattr(access, "AUDIT_BACKUPS", 2)
    path = tmp_path / "logs" / "audit.log"
    log = AuditLog(path)
    assert AuditLog(path).file is log.file  # one open file per process, whatever the apps
    for i in range(200):
        log.write({"i": i, "pad": "x" * 40})
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["audit.log", "audit.log.1", "audit.log.2"]  # the oldest beyond two are dropped
    newest = [json.loads(line)["i"] for line in path.read_text().splitlines()]
    assert newest[-1] == 199 and all(b == a + 1 for a, b in zip(newest, newest[1:]))
    assert sum(p.stat().st_size for p in path.parent.iterdir()) <= 3 * 2000
    stream = log.file.stream
    log.write({"i": 200})
    assert log.file.stream is stream and not stream.closed  # not reopened per entry
    assert json.loads(path.read_text().splitlines()[-1]) == {"i": 200}  # written through at once


def test_the_audit_log_goes_to_stdout_as_json_lines(capsys):
    log = AuditLog(None)
    log.write({"who": "skr", "status": 200})
    log.write({"who": None, "status": 401})
    out = capsys.readouterr().out.splitlines()
    assert [json.loads(line) for line in out] == [{"who": "skr", "status": 200}, {"who": None, "status": 401}]


# ------------------------------------------------------------------ parameters: plain functions
def test_parameters_are_parsed_or_refused_with_a_clear_message():
    q = {"phase": "3", "big": "99999999999999999999", "neg": "-1", "region": "01", "bad": "zz",
         "day": "2026-11-21", "old": "0001-01-01", "month": "2026-11", "far": "9999-12", "at": "2026-11-21T07:00",
         "at0": "0001-01-01", "level": "ward"}
    assert access.param_int(q, "phase", 1, 5) == 3 and access.param_int(q, "none", 1, 5, 7) == 7
    assert access.param_region(q) == "01" and access.param_region({}) is None
    assert access.param_date(q, "day") == dt.date(2026, 11, 21)
    assert access.param_month(q) == dt.date(2026, 11, 1)
    assert access.param_instant(q, "at") == dt.datetime(2026, 11, 21, 7, tzinfo=dt.timezone.utc)
    assert access.param_choice(q, "level", ("nation", "ward")) == "ward"
    refused = [lambda: access.param_int(q, "big", 1, 5), lambda: access.param_int(q, "neg", 1, 5),
               lambda: access.param_int(q, "bad", 1, 5), lambda: access.param_region(q, "bad"),
               lambda: access.param_region({}, required=True), lambda: access.param_date(q, "old"),
               lambda: access.param_date(q, "bad"), lambda: access.param_month(q, "far"),
               lambda: access.param_month({}), lambda: access.param_instant(q, "at0"),
               lambda: access.param_instant(q, "bad"), lambda: access.param_choice(q, "bad", ("now", "24h"))]
    for call in refused:
        with pytest.raises(BadRequest, match=" / "):  # Swedish / English
            call()


# ------------------------------------------------------------------ the page's report link
def test_the_page_opens_the_morning_report_with_the_header_not_the_url(site):
    import shutil

    from playwright.sync_api import sync_playwright

    from web.pdf import CHROMIUM_ARGS

    exe = shutil.which("chromium")
    if not exe:
        pytest.fail("Debian's chromium is required for the page test (make test installs it)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context()
        page = context.new_page()
        requested: list[tuple[str, str | None]] = []
        context.on("request", lambda r: requested.append((r.url, r.headers.get("authorization"))))
        page.goto(f"http://127.0.0.1:{site.port}/")
        page.fill("#token-input", NATIONAL_TOKEN)
        page.click("#login-button")
        page.wait_for_selector("#app:not([hidden])")
        page.fill("#report-date", "2026-11-21")
        with context.expect_page() as opened:
            page.click("#report-button")
        report = opened.value
        report.wait_for_function("document.title.indexOf('Morgonrapport') >= 0")
        assert report.url.startswith("blob:")
        browser.close()
    asked = [(u, h) for u, h in requested if "/report/morning" in u]
    assert asked and all(h == f"Bearer {NATIONAL_TOKEN}" and "token" not in u for u, h in asked)
    e = last(site, "/report/morning")
    assert (e["status"], e["who"], e["params"]) == (200, "skr", {"date": "2026-11-21"})


def test_the_audit_setting(tmp_path):
    from bedflow.settings import Settings

    assert Settings(data_dir=tmp_path).resolved_audit_log() == tmp_path / "audit.log"
    assert Settings(audit_log="stdout").resolved_audit_log() is None
    assert Settings(audit_log=str(tmp_path / "a.log")).resolved_audit_log() == tmp_path / "a.log"


def test_the_audit_setting_reaches_the_app(tmp_path, capsys):
    """bedflow/views.py hands the setting to the policy; the app writes where it says: the file, or JSON
    lines on stdout (and then no file)."""
    from bedflow.config import Config
    from bedflow.settings import Settings
    from bedflow.views import view_policy

    data = tmp_path / "data"
    assert view_policy(Settings(data_dir=data), Config()).audit_log == data / "audit.log"
    assert view_policy(Settings(audit_log=str(tmp_path / "a.log")), Config()).audit_log == tmp_path / "a.log"
    policy = view_policy(Settings(data_dir=data, audit_log="stdout"), Config())
    assert policy.audit_log is None
    capsys.readouterr()
    s = Server(create_app(None, policy, Metrics(), ADMIN_TOKEN))
    try:
        assert s.call("GET", "/api/v1/reference", ADMIN_TOKEN)[0] == 200
        assert s.call("GET", "/api/v1/reference?token=x", None)[0] == 401
    finally:
        s.stop()
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["route"], e["status"], e["who"]) for e in out] == [("/api/v1/reference", 200, "admin"),
                                                                  ("/api/v1/reference", 401, None)]
    assert "x" not in out[1]["params"].values() and not data.exists()  # no file written
