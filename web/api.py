"""The HTTP edge: JSON API (/api/v1/...), /metrics, the live page and the morning report.

Tokens map to roles (config file, plus the admin token from BEDFLOW_ADMIN_TOKEN or generated at start);
every API access is written to the audit log (who, what, when). Data reads go through web/queries.py.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import hmac
import json
import logging
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from bedflow.config import Config
from bedflow.metrics import Metrics
from bedflow.settings import Settings
from sinks.clickhouse import ClickHouse
from web import queries
from web.status import LEVELS, Viewer, status_rows, suppress

log = logging.getLogger("bedflow.api")
audit_log = logging.getLogger("bedflow.audit")
STATIC = Path(__file__).parent / "static"
VIEWER = web.AppKey("viewer", Viewer)


def _encode(data) -> bytes:
    # orjson: the all-wards status is 1.3 MB of JSON; the stdlib encoder spent 17 ms on it, orjson ~2 ms.
    # ClickHouse hands back naive datetimes that are UTC.
    return orjson.dumps(data, default=_default, option=orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS)


def _json(data, status=200):
    return _json_bytes(_encode(data), status)


def _json_bytes(body: bytes, status=200):
    return web.Response(body=body, status=status, content_type="application/json")


def _default(o):
    if isinstance(o, decimal.Decimal):
        return float(o)
    raise TypeError(type(o).__name__)


def _bad(msg: str, status=400):
    return _json({"error": msg}, status)


class Api:
    def __init__(self, db: ClickHouse, settings: Settings, config: Config, metrics: Metrics, admin_token: str):
        self.db, self.settings, self.config, self.metrics = db, settings, config, metrics
        self.tokens = {t.token: Viewer(t.role, t.name) for t in config.tokens}
        self.tokens[admin_token] = Viewer("admin", "admin")
        self.audit_path = settings.data_dir / "audit.log"
        self._cache: dict[str, tuple[float, object]] = {}

    # -- access --------------------------------------------------------------------------------------
    def viewer_for(self, request: web.Request) -> Viewer | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else \
            request.query.get("token", "")
        for known, viewer in self.tokens.items():
            if token and hmac.compare_digest(known, token):
                return viewer
        return None

    def _audit(self, viewer: Viewer | None, request: web.Request, status: int):
        entry = {"at": dt.datetime.now(dt.timezone.utc).isoformat(), "who": viewer.name if viewer else None,
                 "role": viewer.role if viewer else None, "method": request.method, "path": request.path,
                 "query": request.query_string, "status": status, "remote": request.remote}
        audit_log.info(json.dumps(entry))
        try:
            self.audit_path.parent.mkdir(parents=True, exist_ok=True)
            with self.audit_path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
        except OSError:
            log.warning("could not write the audit log at %s", self.audit_path)

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        path = request.path
        public = path == "/" or path.startswith("/static/") or path in self.config.public_paths
        viewer = self.viewer_for(request)
        if not public and viewer is None:
            self._audit(None, request, 401)
            return _json({"error": "a valid token is required (Authorization: Bearer <token>)"}, 401)
        request[VIEWER] = viewer or Viewer("public")
        try:
            resp = await handler(request)
        except web.HTTPException as exc:
            resp = exc
        if path.startswith("/api/") or path.startswith("/report") or path == "/metrics":
            self._audit(viewer, request, resp.status)
            self.metrics.api_requests.labels(path, str(resp.status)).inc()
        return resp

    # -- cached reads (many viewers poll the same numbers; two reads a second are plenty) -------------
    async def _cached(self, key: str, fn, ttl: float = 0.5):
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = await asyncio.to_thread(fn)
        self._cache[key] = (time.monotonic(), value)
        return value

    # -- handlers ------------------------------------------------------------------------------------
    async def status(self, request: web.Request):
        viewer = request[VIEWER]
        level = request.query.get("level", "nation")
        if level not in LEVELS:
            return _bad(f"level must be one of {', '.join(LEVELS)}")
        region, hospital = request.query.get("region"), request.query.get("hospital")
        wards = await self._cached("wards", lambda: queries.current_wards(self.db))
        matrix = await self._cached("matrix", lambda: queries.out_of_area_now(self.db))
        senders = await self._cached("senders", lambda: queries.senders_last_seen(self.db))
        if level in ("hospital", "ward") and viewer.region and region and region != viewer.region:
            return _bad(f"a region:{viewer.region} token sees only its own region's wards", 403)
        if region:
            wards = [w for w in wards if w["region_code"] == region]
        if hospital:
            wards = [w for w in wards if w["hospital_id"] == hospital]
        if level in ("hospital", "ward") and viewer.region:
            wards = [w for w in wards if w["region_code"] == viewer.region]
        now = dt.datetime.now(dt.timezone.utc)

        def build() -> bytes:  # a few thousand wards: off the event loop, so other requests are not held up
            rows = status_rows(wards, level, now, stale_after=dt.timedelta(minutes=self.settings.stale_after_minutes),
                               escalation=self.config.escalation, matrix=matrix, senders=senders)
            return _encode({"level": level, "rows": suppress(rows, level, viewer, self.settings.small_count_threshold),
                            "generated_at": now})

        return _json_bytes(await asyncio.to_thread(build))

    async def out_of_area(self, request: web.Request):
        window = request.query.get("window", "now")
        now = dt.datetime.now(dt.timezone.utc)
        if window == "now":
            m = await self._cached("matrix", lambda: queries.out_of_area_now(self.db))
        elif window in queries.WINDOWS:
            m = await asyncio.to_thread(queries.out_of_area_window, self.db, window, now)
        else:
            return _bad("window must be now, 24h, 7d or 30d")
        rows = [{"home_region": h, "treating_region": t, "patients": n} for (h, t), n in sorted(m.items())]
        return _json({"window": window, "rows": rows, "generated_at": now})

    async def waitlist(self, request: web.Request):
        region = request.query.get("region")
        if not region:
            return _bad("region is required (2-digit county code)")
        try:
            phase = int(request.query["phase"]) if "phase" in request.query else None
            at = dt.datetime.fromisoformat(request.query["at"]) if "at" in request.query else \
                dt.datetime.now(dt.timezone.utc)
        except ValueError:
            return _bad("phase must be 1–5 and at an ISO 8601 instant")
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone.utc)
        rows = await asyncio.to_thread(queries.waitlist, self.db, region, at, self.config.limits, phase,
                                       self.config.exclude_deviations)
        elsewhere = await asyncio.to_thread(queries.care_elsewhere, self.db, region)
        return _json({"region": region, "at": at, "phase": phase, "rows": rows, "care_elsewhere": elsewhere})

    async def snapshots(self, request: web.Request):
        try:
            month = dt.date.fromisoformat(request.query.get("month", "") + "-01")
        except ValueError:
            return _bad("month must be YYYY-MM")
        rows = await asyncio.to_thread(queries.snapshot_rows, self.db, month)
        if not rows and month_end(month, self.settings.timezone) <= dt.datetime.now(dt.timezone.utc):
            await asyncio.to_thread(close_month, self.db, month, self.config, self.settings.timezone)
            rows = await asyncio.to_thread(queries.snapshot_rows, self.db, month)
        return _json({"month": month.strftime("%Y-%m"), "rows": rows})

    async def close_snapshot(self, request: web.Request):
        if request[VIEWER].role != "admin":
            return _bad("closing a month needs an admin token", 403)
        try:
            month = dt.date.fromisoformat(request.query.get("month", "") + "-01")
        except ValueError:
            return _bad("month must be YYYY-MM")
        n = await asyncio.to_thread(close_month, self.db, month, self.config, self.settings.timezone)
        return _json({"month": month.strftime("%Y-%m"), "rows": n})

    async def deadletters(self, request: web.Request):
        viewer = request[VIEWER]
        try:
            limit = max(1, min(1000, int(request.query.get("limit", "50"))))
        except ValueError:
            return _bad("limit must be a number")
        rows = await asyncio.to_thread(queries.deadletters, self.db, limit, viewer.region)
        return _json({"rows": rows})

    async def quality(self, request: web.Request):
        rows = await asyncio.to_thread(queries.data_quality, self.db)
        rules = await asyncio.to_thread(queries.rejections_by_rule, self.db)
        viewer = request[VIEWER]
        if viewer.region:
            rows = [r for r in rows if r["region_code"] == viewer.region]
            rules = [r for r in rules if r["region_code"] == viewer.region]
        counts = await asyncio.to_thread(queries.table_counts, self.db) if viewer.role == "admin" else None
        return _json({"senders": rows, "rejections_by_rule": rules, "table_rows": counts})

    async def metrics_view(self, request: web.Request):
        return web.Response(body=self.metrics.render(), content_type="text/plain", charset="utf-8")

    async def index(self, request: web.Request):
        return web.FileResponse(STATIC / "index.html")

    async def report(self, request: web.Request):
        from web.morning import build_morning_report
        from web.report import render_morning_report

        try:
            day = dt.date.fromisoformat(request.query.get("date", ""))
        except ValueError:
            day = dt.datetime.now(ZoneInfo(self.settings.timezone)).date()
        viewer = request[VIEWER]
        report = await asyncio.to_thread(build_morning_report, self.db, day, self.settings, self.config, viewer)
        return web.Response(text=render_morning_report(report), content_type="text/html", charset="utf-8")


def month_end(month: dt.date, tz: str) -> dt.datetime:
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return dt.datetime.combine(nxt, dt.time(0, 0), ZoneInfo(tz)).astimezone(dt.timezone.utc)


def close_month(db: ClickHouse, month: dt.date, config: Config, tz: str) -> int:
    """(Re-)close a month-end snapshot: the waiting list at the month's last instant, per region ×
    MVO group × phase, from the contacts as they are now (so late corrections are included)."""
    at = month_end(month, tz) - dt.timedelta(milliseconds=1)
    _, regions = db.query("SELECT DISTINCT region_code FROM waitlist_contacts FINAL")
    now = dt.datetime.now(dt.timezone.utc)
    rows = []
    for (region,) in regions:
        for m in queries.waitlist(db, region, at, config.limits, None, config.exclude_deviations):
            rows.append((month, region, m["mvo_group"], m["phase"], m["waiting"], m["le_30"], m["le_60"],
                         m["le_90"], m["le_180"], m["gt_180"], m["limit_days"], m["share_within_limit"],
                         m["share_over_180"], now))
    db.insert("waitlist_snapshots", rows, ["month", "region_code", "mvo_group", "phase", "waiting", "le_30", "le_60",
                                           "le_90", "le_180", "gt_180", "limit_days", "share_within_limit",
                                           "share_over_180", "closed_at"])
    return len(rows)


def create_app(db: ClickHouse, settings: Settings, config: Config, metrics: Metrics, admin_token: str) -> web.Application:
    api = Api(db, settings, config, metrics, admin_token)
    app = web.Application(middlewares=[api.middleware])
    app.router.add_get("/", api.index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/v1/status", api.status)
    app.router.add_get("/api/v1/out-of-area", api.out_of_area)
    app.router.add_get("/api/v1/waitlist", api.waitlist)
    app.router.add_get("/api/v1/waitlist/snapshots", api.snapshots)
    app.router.add_post("/api/v1/waitlist/snapshots/close", api.close_snapshot)
    app.router.add_get("/api/v1/deadletters", api.deadletters)
    app.router.add_get("/api/v1/quality", api.quality)
    app.router.add_get("/metrics", api.metrics_view)
    app.router.add_get("/report/morning", api.report)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
