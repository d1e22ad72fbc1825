"""Who may see what: the one access module every endpoint and the morning report go through.

A request's token gives a viewer (`national`, `region:XX`, `admin`; no token or a wrong token: none).
The viewer's scope says which region's detail it may see and whether small counts are hidden:

- `admin` sees everything;
- `region:XX` sees its own region in detail (small counts too) and other regions only as region-level
  aggregates; asking for another region's detail is refused (403);
- `national` sees every region, with counts 1..threshold hidden below region level (a handful of
  patients can identify a person).

Every route is registered with a rule (`PUBLIC`, `VIEWER`, `ADMIN`); the middleware refuses a route that
has none, so a new endpoint cannot skip the check.

A token is taken from the `Authorization: Bearer` header only: a URL ends up in browser history, proxy
and access logs, so `?token=` is refused (401) and never written anywhere. Every request is written to
the audit log (refusals and errors too) without a secret in it: known parameters only, their values
checked and cleaned (`AuditLog`).
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import re
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import orjson
from aiohttp import web

from schemas import reference
from schemas.privacy import redact_text
from web.texts import paired

if TYPE_CHECKING:
    from web.policy import ViewPolicy

log = logging.getLogger("bedflow.api")

ROLES = ("national", "admin")  # and region:XX

# Route rules.
PUBLIC = "public"   # no token needed: the page shell and its static files (they hold no data)
VIEWER = "viewer"   # any known token; what the rows show depends on the viewer's scope
ADMIN = "admin"     # admin token only


def role_region(role: str) -> str | None:
    return role.split(":", 1)[1] if role.startswith("region:") else None


def check_role(role: str) -> str:
    """The role if valid; ValueError otherwise. `region:` needs one of the 21 region codes: an empty or
    unknown code must never fall through to a wider role."""
    if role in ROLES:
        return role
    if role.startswith("region:"):
        code = role_region(role)
        if code in reference.regions():
            return role
        raise ValueError(f"role {role!r}: region:XX needs one of the 21 region codes (01–25)")
    raise ValueError(f"unknown role {role!r} (national | region:XX | admin)")


@dataclass(frozen=True)
class Token:
    name: str
    token: str
    role: str  # national | region:XX | admin

    def __post_init__(self):
        try:
            check_role(self.role)
        except ValueError as e:
            raise ValueError(f"token {self.name!r}: {e}") from None

    @property
    def region(self) -> str | None:
        return role_region(self.role)


@dataclass(frozen=True)
class Viewer:
    role: str  # national | region:XX | admin
    name: str = ""

    @property
    def region(self) -> str | None:
        return role_region(self.role)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def sees_detail_of(self, region: str | None) -> bool:
        return self.is_admin or (self.region is not None and self.region == region)


NATIONAL = Viewer("national", "national")


class Said(Exception):
    """An error whose text is in the dictionary (web/texts.json): the message is its "svenska / English"
    pair, and the key and parameters go along so the answer can name them (`code`, `params`)."""

    def __init__(self, message: str, code: str | None = None, params: dict | None = None):
        super().__init__(message)
        self.code, self.params = code, params or {}

    @classmethod
    def text(cls, key: str, **params):
        return cls(paired(key, **params), key, params)


class Refused(Said):
    """A viewer asked for what its scope does not hold; the middleware answers 403 with the message."""


@dataclass(frozen=True)
class Scope:
    """What one viewer may see, with the small-count threshold of the policy."""
    viewer: Viewer
    threshold: int

    @property
    def region(self) -> str | None:
        """The one region whose detail this viewer is limited to (None: every region)."""
        return self.viewer.region

    @property
    def is_admin(self) -> bool:
        return self.viewer.is_admin

    def require_region(self, region: str | None) -> None:
        """Refuse another region's detail to a region viewer."""
        if self.region is not None and region is not None and region != self.region:
            raise Refused.text("api.region.own", region=self.region)

    def own(self, rows: Iterable[dict], field: str = "region_code") -> list[dict]:
        """Detail rows the viewer may see: a region viewer's own region only."""
        if self.region is None:
            return list(rows)
        return [r for r in rows if r.get(field) == self.region]


SCOPE = web.RequestKey("scope", Scope)


def scope_of(request: web.Request) -> Scope:
    """The scope the access middleware found for this request (every handler asks here)."""
    return request[SCOPE]


class BadRequest(Said):
    """A request parameter is missing or malformed; the middleware answers 400 with the message."""


# Request parameters, parsed or refused with a clear 400: a bad value must never reach a query (where it
# becomes a 500). Dates are bounded to what the store can hold and the platform can have seen.
EARLIEST, LATEST = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


def param_choice(query, name: str, choices: Iterable[str], default: str | None = None) -> str:
    choices = tuple(choices)
    value = query.get(name, default)
    if value not in choices:
        raise BadRequest.text("api.param.choice", name=name, choices=", ".join(choices))
    return value


def param_region(query, name: str = "region", required: bool = False) -> str | None:
    value = query.get(name)
    if value is None and not required:
        return None
    if value not in reference.regions():
        raise BadRequest.text("api.param.region", name=name)
    return value


def param_int(query, name: str, low: int, high: int, default: int | None = None) -> int | None:
    value = query.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and low <= int(value) <= high):
        raise BadRequest.text("api.param.int", name=name, low=low, high=high)
    return int(value)


def param_date(query, name: str, default: dt.date | None = None) -> dt.date | None:
    value = query.get(name)
    if value is None:
        return default
    try:
        day = dt.date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not EARLIEST <= day <= LATEST:
        raise BadRequest.text("api.param.date", name=name, first=f"{EARLIEST:%Y}", last=f"{LATEST:%Y}")
    return day


def param_month(query, name: str = "month") -> dt.date:
    """The first day of the month `YYYY-MM` (required)."""
    value = query.get(name, "")
    try:
        first = dt.date.fromisoformat(value + "-01") if len(value) == 7 else None
    except ValueError:
        first = None
    if first is None or not EARLIEST <= first <= LATEST:
        raise BadRequest.text("api.param.month", name=name, first=f"{EARLIEST:%Y}", last=f"{LATEST:%Y}")
    return first


def param_instant(query, name: str, default: dt.datetime | None = None) -> dt.datetime | None:
    """An ISO 8601 instant (UTC when it names no offset)."""
    value = query.get(name)
    if value is None:
        return default
    try:
        at = dt.datetime.fromisoformat(value)
    except ValueError:
        at = None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=dt.timezone.utc)
    if at is None or not EARLIEST <= at.astimezone(dt.timezone.utc).date() <= LATEST:
        raise BadRequest.text("api.param.instant", name=name, first=f"{EARLIEST:%Y}", last=f"{LATEST:%Y}")
    return at


# Query parameters the routes take; only these reach the audit log (a value of any other name may be a
# secret someone put in a URL).
AUDITED_PARAMS = ("level", "region", "hospital", "window", "phase", "at", "month", "limit", "date", "format", "table",
                   "id", "from", "to", "step", "hours", "until", "year", "by", "unit", "need", "mvo")
# (a declaration's reason is free text: never audited)
_SAFE_VALUE = re.compile(r"[A-Za-z0-9:+.\-_ ]{0,40}")
AUDIT_MAX_BYTES = 50 * 1024 * 1024  # rotated at 50 MB, ten old files kept: 550 MB at most
AUDIT_BACKUPS = 10


def audit_params(query) -> dict[str, str]:
    """The parameters of a query string as the audit log keeps them: known names only, each value kept
    only if short, of plain characters and free of identity numbers ("?" otherwise)."""
    out = {}
    for name in AUDITED_PARAMS:
        if name in query:
            value = query.get(name, "")
            out[name] = value if _SAFE_VALUE.fullmatch(value) and redact_text(value) == value else "?"
    return out


def audit_path(path: str) -> str:
    """A request path as the audit log keeps it: at most 200 characters, identity numbers replaced."""
    return redact_text(path[:200])


class _RotatingFile:
    """An append-only file kept open, line-buffered, renamed to .1 (… .backups) when it would pass
    `max_bytes`. Like logging's RotatingFileHandler without its per-line stat and seek, which made an
    entry cost 23 µs instead of 5 µs (measured) on every request, /metrics polls included."""

    def __init__(self, path: Path, max_bytes: int, backups: int):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def _open(self) -> None:
        self.stream = self.path.open("a", encoding="utf-8", buffering=1)
        self.size = self.stream.tell()

    def write(self, line: str) -> None:  # line: ASCII JSON (json.dumps escapes the rest), so len = bytes
        with self.lock:
            if self.size and self.size + len(line) > self.max_bytes:
                self._rotate()
            self.stream.write(line)
            self.size += len(line)

    def _rotate(self) -> None:
        self.stream.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.backups:
            self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink()
        self._open()


class AuditLog:
    """Where audit entries go, one JSON object a line: a rotating file kept open (`path`), or stdout for
    the cluster's log system (`path` None). Entries never pass through the general log, whose lines
    other tools read with less care."""

    _files: dict[Path, _RotatingFile] = {}  # one per file in a process: two would rotate each other's
    _lock = threading.Lock()

    def __init__(self, path: Path | None):
        self.path = path
        self.file = None
        if path is not None:
            key = Path(path).resolve()
            with self._lock:
                if key not in self._files:
                    self._files[key] = _RotatingFile(key, AUDIT_MAX_BYTES, AUDIT_BACKUPS)
                self.file = self._files[key]

    def write(self, entry: dict) -> None:
        line = json.dumps(entry) + "\n"
        if self.file is None:
            sys.stdout.write(line)
            sys.stdout.flush()
        else:
            self.file.write(line)


class Access:
    """Tokens → viewers, the route rules and the audit log of one app."""

    def __init__(self, policy: "ViewPolicy", admin_token: str, metrics=None):
        self.viewers = {t.token: Viewer(t.role, t.name) for t in policy.tokens}
        self.viewers[admin_token] = Viewer("admin", "admin")
        self.public_paths = frozenset(policy.public_paths)
        self.threshold = policy.small_count_threshold
        self.audit_log = AuditLog(policy.audit_log)
        self.metrics = metrics
        self.rules: dict[str, str] = {}  # route resource → rule

    def viewer_for(self, request: web.Request) -> Viewer | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
        if not token:
            return None
        found = None
        for known, viewer in self.viewers.items():  # compare against every token: no timing hint
            if hmac.compare_digest(known.encode(), token.encode()):
                found = viewer
        return found

    def add(self, app: web.Application, method: str, path: str, handler, rule: str) -> None:
        """Register a route with its rule; the middleware refuses routes registered any other way."""
        assert rule in (PUBLIC, VIEWER, ADMIN), rule
        route = app.router.add_route(method, path, handler)
        self.rules[route.resource.canonical] = rule

    def add_static(self, app: web.Application, prefix: str, directory: Path) -> None:
        resource = app.router.add_static(prefix, directory)
        self.rules[resource.canonical] = PUBLIC

    def rule_for(self, request: web.Request) -> str | None:
        if request.path in self.public_paths:
            return PUBLIC
        route = request.match_info.route
        resource = route.resource
        if resource is None:  # 404 / 405: no route, nothing to protect
            return PUBLIC
        return self.rules.get(resource.canonical)

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        started = time.perf_counter()
        viewer = self.viewer_for(request)
        rule = self.rule_for(request)
        if "token" in request.query or "access_token" in request.query:
            resp = error_text("api.token.url", 401)
        elif rule is None:
            log.error("route %s has no access rule: refused", audit_path(request.path))
            resp = error_text("api.route.norule", 403)
        elif rule != PUBLIC and viewer is None:
            resp = error_text("api.token.required", 401)
        elif rule == ADMIN and not viewer.is_admin:
            resp = error_text("api.token.admin", 403)
        else:
            request[SCOPE] = Scope(viewer or NATIONAL, self.threshold)
            try:
                resp = await handler(request)
            except Refused as exc:
                resp = error_response(str(exc), 403, exc.code, exc.params)
            except BadRequest as exc:
                resp = error_response(str(exc), 400, exc.code, exc.params)
            except web.HTTPException as exc:
                self._record(viewer, request, exc.status, started)
                raise
            except Exception as exc:  # audited like any answer; the message may quote data, so only its type is logged
                log.error("%s %s failed: %s\n%s", request.method, self._route(request), type(exc).__name__,
                          "".join(traceback.format_tb(exc.__traceback__)))
                resp = error_text("api.internal", 500)
        self._record(viewer, request, resp.status, started)
        return resp

    @staticmethod
    def _route(request: web.Request) -> str:
        """The route's pattern (not the raw path: unknown paths must not grow a metric's label set)."""
        resource = request.match_info.route.resource
        return resource.canonical if resource is not None else "other"

    def _record(self, viewer: Viewer | None, request: web.Request, status: int, started: float) -> None:
        route = self._route(request)
        seconds = time.perf_counter() - started
        self.audit(viewer, request, status, route, seconds)
        if self.metrics is not None:
            self.metrics.api_requests.labels(route, str(status)).inc()
            # duck-typed metrics (web never imports bedflow): a stand-in without the histogram still works
            if (histogram := getattr(self.metrics, "api_seconds", None)) is not None:
                histogram.labels(route).observe(seconds)

    def audit(self, viewer: Viewer | None, request: web.Request, status: int, route: str, seconds: float) -> None:
        """One audit entry: who (token name and role; none for a missing or wrong token), what (method,
        route, path, known parameters), when, the answer's status and the time it took."""
        self.audit_log.write({
            "at": dt.datetime.now(dt.timezone.utc).isoformat(), "who": viewer.name if viewer else None,
            "role": viewer.role if viewer else None, "method": request.method, "route": route,
            "path": audit_path(request.path), "params": audit_params(request.query), "status": status,
            "ms": round(seconds * 1000, 1), "remote": request.remote})


def error_response(message: str, status: int, code: str | None = None, params: dict | None = None) -> web.Response:
    """{"error": "svenska / English"}, with the dictionary key (`code`) and its `params` when it has one: a
    client can say the text in its own language (web/texts.json) instead of splitting the pair."""
    body = {"error": message}
    if code is not None:
        body.update(code=code, params={k: str(v) for k, v in (params or {}).items()})
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def error_text(key: str, status: int, **params) -> web.Response:
    return error_response(paired(key, **params), status, key, params)
