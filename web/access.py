"""Who may see what: the one access module every endpoint and the morning report go through.

A request's token gives a viewer (`national`, `region:XX`, `admin`; no token or a wrong token: none).
The viewer's scope says which region's detail it may see and whether small counts are hidden:

- `admin` sees everything;
- `region:XX` sees its own region in detail (small counts too) and other regions only as region-level
  aggregates; asking for another region's detail is refused (403);
- `national` sees every region, with counts 1..threshold hidden below region level (a handful of
  patients can identify a person).

Every route is registered with a rule (`PUBLIC`, `VIEWER`, `ADMIN`); the middleware refuses a route that
has none, so a new endpoint cannot skip the check. Every API access is written to the audit log.
"""
from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import orjson
from aiohttp import web

from schemas import reference

if TYPE_CHECKING:
    from web.policy import ViewPolicy

log = logging.getLogger("bedflow.api")
audit_log = logging.getLogger("bedflow.audit")

ROLES = ("national", "admin")  # and region:XX

# Route rules.
PUBLIC = "public"   # no token needed: the page shell and its static files (they hold no data)
VIEWER = "viewer"   # any known token; what the rows show depends on the viewer's scope
ADMIN = "admin"     # admin token only

# Status fields that count patients (hidden when small); staffed beds are capacity and always shown.
STATUS_COUNTS = ("occupied", "present", "on_leave", "overcrowded", "outliers", "discharge_ready", "out_of_area_in",
                 "free_beds", "out_of_area_out")
WAIT_COUNTS = ("waiting", "le_30", "le_60", "le_90", "le_180", "gt_180", "with_deviation")
WAIT_SHARES = ("share_within_limit", "share_over_180")
DETAIL_LEVELS = ("hospital", "ward")  # below region level


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


class Refused(Exception):
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
            raise Refused(f"en region:{self.region}-token ser bara sin egen regions detaljer / "
                          f"a region:{self.region} token sees only its own region's detail")

    def own(self, rows: Iterable[dict], field: str = "region_code") -> list[dict]:
        """Detail rows the viewer may see: a region viewer's own region only."""
        if self.region is None:
            return list(rows)
        return [r for r in rows if r.get(field) == self.region]

    def status(self, rows: list[dict], level: str) -> list[dict]:
        """Status rows at `level`: detail levels limited to a region viewer's own region, and counts
        1..threshold hidden in rows outside the viewer's region."""
        if level not in DETAIL_LEVELS:
            return rows
        out = []
        for r in self.own(rows):
            if self.viewer.sees_detail_of(r.get("region_code")):
                out.append(r)
                continue
            r = _hide(r, STATUS_COUNTS, self.threshold)
            if r.get("occupied") is None:  # no back door through staffed − free
                r["occupancy_pct"] = r["free_beds"] = None
            out.append(r)
        return out

    def waitlist(self, rows: list[dict], region: str | None = None) -> list[dict]:
        """Waiting-list rows (MVO group × phase within a region: below region level), each of its
        `region_code` or else of `region`. A region viewer gets its own region's rows; outside the
        viewer's region counts 1..threshold are hidden, and the shares too when any count is (a share
        and the total would give the count back)."""
        out = []
        for r in rows:
            where = r.get("region_code", region)
            if self.region is not None and where != self.region:
                continue
            if self.viewer.sees_detail_of(where):
                out.append(r)
                continue
            hidden = _hide(r, WAIT_COUNTS, self.threshold)
            if any(hidden.get(c) is None and r.get(c) is not None for c in WAIT_COUNTS):
                for c in WAIT_SHARES:
                    if c in hidden:
                        hidden[c] = None
            out.append(hidden)
        return out


def _hide(row: dict, fields: Iterable[str], threshold: int) -> dict:
    row = dict(row)
    for c in fields:
        v = row.get(c)
        if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= threshold:
            row[c] = None
    return row


SCOPE = web.RequestKey("scope", Scope)


def scope_of(request: web.Request) -> Scope:
    """The scope the access middleware found for this request (every handler asks here)."""
    return request[SCOPE]


class Access:
    """Tokens → viewers, the route rules and the audit log of one app."""

    def __init__(self, policy: "ViewPolicy", admin_token: str, metrics=None):
        self.viewers = {t.token: Viewer(t.role, t.name) for t in policy.tokens}
        self.viewers[admin_token] = Viewer("admin", "admin")
        self.public_paths = frozenset(policy.public_paths)
        self.threshold = policy.small_count_threshold
        self.audit_path = Path(policy.audit_log)
        self.metrics = metrics
        self.rules: dict[str, str] = {}  # route resource → rule

    def viewer_for(self, request: web.Request) -> Viewer | None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else \
            request.query.get("token", "")
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
        viewer = self.viewer_for(request)
        rule = self.rule_for(request)
        if rule is None:
            log.error("route %s has no access rule: refused", request.path)
            resp = error_response("ingen åtkomstregel för denna väg / no access rule for this route", 403)
        elif rule != PUBLIC and viewer is None:
            resp = error_response("en giltig token krävs / a valid token is required (Authorization: Bearer <token>)", 401)
        elif rule == ADMIN and not viewer.is_admin:
            resp = error_response("kräver en admin-token / needs an admin token", 403)
        else:
            request[SCOPE] = Scope(viewer or NATIONAL, self.threshold)
            try:
                resp = await handler(request)
            except Refused as exc:
                resp = error_response(str(exc), 403)
            except web.HTTPException as exc:
                self._record(viewer, request, rule, exc.status)
                raise
        self._record(viewer, request, rule, resp.status)
        return resp

    def _record(self, viewer: Viewer | None, request: web.Request, rule: str | None, status: int) -> None:
        if rule == PUBLIC and not request.path.startswith(("/api/", "/report", "/metrics")):
            return  # the page shell and its files: no data, not audited
        self.audit(viewer, request, status)
        if self.metrics is not None:  # by route, not raw path: unknown paths must not grow the label set
            resource = request.match_info.route.resource
            self.metrics.api_requests.labels(resource.canonical if resource else "other", str(status)).inc()

    def audit(self, viewer: Viewer | None, request: web.Request, status: int) -> None:
        entry = json.dumps({"at": dt.datetime.now(dt.timezone.utc).isoformat(), "who": viewer.name if viewer else None,
                            "role": viewer.role if viewer else None, "method": request.method, "path": request.path,
                            "query": request.query_string, "status": status, "remote": request.remote})
        audit_log.info(entry)
        try:
            self.audit_path.parent.mkdir(parents=True, exist_ok=True)
            with self.audit_path.open("a", encoding="utf-8") as f:
                f.write(entry + "\n")
        except OSError:
            log.warning("could not write the audit log at %s", self.audit_path)


def error_response(message: str, status: int) -> web.Response:
    return web.Response(body=orjson.dumps({"error": message}), status=status, content_type="application/json")
