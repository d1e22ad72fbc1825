"""The HTTP edge: JSON API (/api/v1/...), /metrics, the live page and the morning report.

Who may see what is decided in one place, web/access.py: every route is registered there with its rule,
and every handler takes the viewer's scope from it. Data reads go through sinks/queries.py. The answers the
handlers give are made by view in web/waitlist.py, snapshots.py, performed.py, history.py, beds.py,
escalation.py and quality.py; this module parses the requests and wires the routes.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import decimal
import functools
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from schemas import reference
from schemas.privacy import contains_pin
from sinks import outlook, queries
from sinks import results
from sinks import room as room_sql
from sinks.clickhouse import ClickHouse
from streams.domain import bedstats
from streams.domain import icu as icu_picture
from streams.domain import room
from streams.domain.waitlist import BREAKDOWNS
from web import exports, openapi, texts
from web import forecast as forecast_view
from web import room as room_view
from web.access import ADMIN, PUBLIC, VIEWER, Access, BadRequest, Refused, Scope, param_choice, scope_of
from web.beds import ICU_WARD_FIELDS, bedstats_detail, icu_answer
from web.escalation import declaration_row, escalation_history_answer, escalation_rows
from web.history import HISTORY_FIELDS, TREND_COLUMNS, history_series, history_times, region_timeline, ward_timeline
from web.openapi import Answer, documented
from web.performed import performed_answer
from web.policy import ViewPolicy
from web.quality import quality_answer, quality_counts, quality_from_plain, quality_plain
from web.snapshots import (close_month, close_on_schedule, month_end, snapshot_answer, snapshot_final_at,
                           snapshot_rollups)
from web.status import DETAIL_LEVELS, LEVELS, detail_rows, status_rows
from web.suppression import suppress_matrix, suppress_movement_kinds
from web.waitlist import breaches_answer, wait_rows, waitlist_breakdown, waitlist_measures

STATIC = Path(__file__).parent / "static"


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


# Query parameters: each handler parses with these, and the OpenAPI document is made from them (web/openapi.py).
LEVEL = openapi.choice("level", LEVELS, "nation", "nivå / level", example="ward")
REGION = openapi.region("bara denna region / only this region")
WAIT_REGION = openapi.region("regionen / the region", required=True)
HOSPITAL = openapi.text("hospital", "bara detta sjukhus (HSA-id; level=hospital|ward) / only this hospital",
                        "SE2321000016-H002")
WINDOW = openapi.choice("window", ("now", *queries.WINDOWS), "now", "nu eller inom fönstret / now or within the window")
PHASE = openapi.integer("phase", 1, 5, None, "bara denna fas / only this phase", example="1")
AT = openapi.instant("at", "tidpunkt (standard nu) / instant (default now)", "2026-11-30T12:00:00+01:00")
MONTH = openapi.month("month", "månaden / the month", "2026-11")
YEAR = openapi.integer("year", 2015, 2100, None, "året (krävs) / the year (required)", "2025")
YEAR_LEVEL = openapi.choice("level", ("nation", "healthcare_region", "region"), "nation", "nivå / level",
                            example="region")
LIMIT = openapi.integer("limit", 1, 1000, 50, "högst så många / at most this many")
DATE = openapi.date("date", "dagen (standard i dag) / the day (default today)", "2026-11-30")
# the trends (status/history): a unit's figures over time, at most HISTORY_MAX_POINTS points
UNIT = openapi.text("id", "bara denna enhet (id på nivån) / only this unit (an id at the level)", "01")
FROM = openapi.instant("from", "från (standard till − 24 h) / from (default to − 24 h)", "2026-11-29T12:00:00+01:00")
TO = openapi.instant("to", "till (standard nu) / to (default now)", "2026-11-30T12:00:00+01:00")
BY = openapi.Param("by", lambda q, d: None if q.get("by") is None else param_choice(q, "by", BREAKDOWNS),
                   {"type": "string", "enum": list(BREAKDOWNS)}, "sex",
                   "dela upp efter kön, åldersgrupp, sjukhus eller aktivitet / "
                   "split by sex, age band, hospital or activity")
STEP = openapi.integer("step", 5, 1440, None, "minuter mellan punkterna (standard: så få som ryms) / "
                       "minutes between points (default: the finest that fits)", example="60")
FORECAST_HOURS = openapi.integer("hours", 1, forecast_view.fc.MAX_HOURS, forecast_view.fc.MAX_HOURS,
                                 "timmar framåt / hours ahead", example="72")

STATUS_FIELDS = ("id", "name", "staffed_beds", "occupied", "present", "on_leave", "free_beds", "occupancy_pct",
                 "overcrowded", "outliers", "discharge_ready", "out_of_area_in", "out_of_area_out",
                 "escalation_level", "escalation_rule", "last_event_at", "stale", "coverage")
WAIT_FIELDS = ("mvo_group", "phase", "waiting", "le_30", "le_60", "le_90", "le_180", "gt_180", "with_deviation",
               "measured", "within_limit", "share_within_limit", "over_180", "share_over_180")
BEDSTATS_FIELDS = ("id", "name", "line", "wards", "staffed_beds", "bed_days", "occupancy_rate", "overcrowded",
                   "overcrowded_per_100", "outliers", "outliers_per_100", "discharge_ready", "discharge_ready_share",
                   "staffed_beds_per_1000", "discharge_ready_stays", "discharge_ready_mean_days")
BEDSTATS_YEAR_FIELDS = BEDSTATS_FIELDS[:3] + ("months",) + BEDSTATS_FIELDS[3:]
SNAPSHOT_KEYS = ("month", "closed", "final", "final_at", "rows", "healthcare_regions", "nation", "previous_year")
# the performed flow (waitlist/performed): region × MVO group × phase rows, region × phase comparison
PERFORMED_FIELDS = ("phase", "performed", "limit_days", "measured", "within_limit", "share_within_limit",
                    "median_wait_days", "target_measured", "past_target", "share_past_target")
PERFORMED_KEYS = ("month", "region", "by", "final", "final_at", "rows", "comparison", "regions", "nation")
# data quality per region and month (quality/monthly): streams/domain/quality.py
QUALITY_MONTHLY_KEYS = ("month", "region", "deadline", "final", "timezone", "waiting_at", "completeness",
                        "fill_rates", "waiting", "plausibility")
QUALITY_MONTHLY_ROWS = {
    "completeness": ("region_code", "name", "contract", "events", "on_time", "late", "rejected", "status",
                     "status_label"),
    "fill_rates": ("region_code", "event_type", "field", "applies_in_phases", "events", "reported", "not_reported",
                   "not_applicable", "fill_rate"),
    "waiting": ("region_code", "waiting", "guarantee", "share_guarantee", "with_deviation", "share_with_deviation"),
    "plausibility": ("region_code", "measure", "count", "previous_year", "ratio", "flag"),
}

# issue 14: the ICU picture, guarantee breaches ahead, escalation with actions (sinks/outlook.py reads them)
ICU_HOURS = openapi.integer("hours", 1, 168, 24, "timmar bakåt, en punkt i timmen / hours back, a point an hour",
                            example="24")
ICU_LEVEL = openapi.choice("level", ("region", "ward"), "region", "region: riket, sjukvårdsregionerna och regionerna; "
                           "ward: även IVA-avdelningarna (kräver detaljbehörighet) / ward: the ICU wards too "
                           "(needs the detail grant)")
ICU_FIELDS = ("level", "id", "name", "staffed_beds", "occupied", "free_beds", "overcrowded", "occupancy_pct", "wards")
BREACH_FIELDS = ("mvo_group", "phase", "limit_days", "waiting", "measured", "not_measured", "over_limit", "within_7",
                 "within_14", "within_30", "performed_recent", "performed_per_week", "expected_wait_days")
CLINIC_FIELDS = ("clinic_id", "phase", "waiting", "performed_recent", "performed_per_week", "expected_wait_days")
ESCALATION_FIELDS = ("region_code", "name", "computed_level", "computed_rule", "declared", "level", "source",
                     "actions")
DECLARATION_FIELDS = ("level", "reason", "declared_by", "declared_at", "until")  # Declaration.as_dict
REASON_MAX = 500


def _required(param: openapi.Param) -> openapi.Param:
    """`param`, required: missing or empty → 400 (and the document says required)."""
    def parse(q, d, inner=param.parser, name=param.name):
        if q.get(name) in (None, ""):
            raise BadRequest.text("api.param.required", name=name)
        return inner(q, d)
    return dataclasses.replace(param, parser=parse, required=True)


def _reason(q, d) -> str:
    """A declaration's reason: plain text, 1–REASON_MAX characters, never an identity number (it is shown
    to every viewer and stored)."""
    text = (q.get("reason") or "").strip()
    if not 1 <= len(text) <= REASON_MAX or any(ord(c) < 32 for c in text):
        raise BadRequest.text("api.reason.length", max=REASON_MAX)
    if contains_pin(text):
        raise BadRequest.text("api.reason.pin")
    return text


DECLARE_REGION = openapi.region("regionen som deklarerar / the declaring region", required=True, example="01")
DECLARE_LEVEL = _required(openapi.integer("level", 1, 4, None, "nivå 1–4 / level 1–4", example="3"))
DECLARE_REASON = _required(openapi.Param("reason", _reason, {"type": "string", "maxLength": REASON_MAX},
                                         "Hög beläggning på akuten", "skälet / the reason"))
DECLARE_UNTIL = openapi.instant("until", "gäller till (standard: till regionens nästa deklaration) / in force until "
                                "(default: the region's next declaration)", "2099-12-31T12:00:00+01:00")


# room nearby by need (issue 14): the asking unit, the kind of bed and the patients' specialty
ROOM_UNIT = _required(openapi.text("unit", "avdelningen eller sjukhuset (HSA-id) som behöver plats, eller en "
                                   "region (kod) / the ward or hospital (HSA id) that needs room, or a region (code)",
                                   "SE2321000016-H002"))
ROOM_NEED = openapi.Param("need", lambda q, d: None if q.get("need") is None else param_choice(q, "need", room.NEEDS),
                          {"type": "string", "enum": list(room.NEEDS)}, "somatic",
                          "vårdtyp (standard: enhetens egen) / kind of bed (default: the unit's own)")
ROOM_MVO = openapi.Param("mvo", lambda q, d: _mvo(q), {"type": "string", "pattern": "^[0-9]{3}$"}, "101",
                         "patienternas MVO-kod (standard: de avdelningen tar emot) / the patients' MVO code "
                         "(default: those the ward serves)")

def _mvo(q) -> str | None:
    code = q.get("mvo")
    if code is not None and code not in reference.specialties():
        raise BadRequest.text("api.mvo.unknown")
    return code


class Api:
    def __init__(self, db: ClickHouse, policy: ViewPolicy, metrics):
        # metrics: the process's Prometheus metrics (duck-typed: `render()` and `api_requests`)
        self.db, self.policy, self.metrics = db, policy, metrics
        self._cache: dict[str, tuple[float, object]] = {}
        self._openapi: bytes | None = None

    def exportable(self, handler, stem, shape=None):
        """`handler` with `?format=csv|xlsx` (web/exports.py): the export is made from the JSON answer this
        viewer gets (scope and suppression applied), a hidden count an empty cell. `stem(answer)`: the
        file's Swedish name before the date. `shape(answer)`: tables made of an answer that is no list of
        rows (series over time), added to it."""
        names = openapi.doc_of(handler).answer.exports

        @functools.wraps(handler)  # keeps the handler's OpenAPI declaration
        async def with_exports(request: web.Request):
            fmt = openapi.FORMAT.parse(request.query)
            only = openapi.TABLE.parse(request.query)
            if only is not None and only not in names:
                raise BadRequest.text("api.param.choice", name="table", choices=", ".join(names))
            resp = await handler(request)
            if fmt == "json" or resp.status != 200:
                return resp
            answer = orjson.loads(resp.body)
            if shape is not None:
                answer = {**answer, **shape(answer)}
            tz = self.policy.timezone
            body = await asyncio.to_thread(exports.export, answer, names, fmt, tz, only)
            name = stem(answer) + (f"-{only}" if only and only != names[0] else "")
            return web.Response(body=body, headers={
                "Content-Type": exports.CONTENT_TYPES[fmt],
                "Content-Disposition": exports.content_disposition(name, dt.datetime.now(ZoneInfo(tz)).date(), fmt)})
        return with_exports

    # -- cached reads (many viewers poll the same numbers; two reads a second are plenty) -------------
    async def _cached(self, key: str, fn, ttl: float = 0.5):
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < ttl:
            return hit[1]
        value = await asyncio.to_thread(fn)
        self._cache[key] = (time.monotonic(), value)
        return value

    # -- handlers ------------------------------------------------------------------------------------
    @documented("Beläggning per nivå / occupancy per level", LEVEL, REGION, HOSPITAL,
                answer=Answer(("level", "rows", "generated_at"), {"rows": STATUS_FIELDS}, exports=("rows",)))
    async def status(self, request: web.Request):
        scope = scope_of(request)
        level = LEVEL.parse(request.query)
        region, hospital = REGION.parse(request.query), HOSPITAL.parse(request.query)
        if hospital and level not in DETAIL_LEVELS:  # a region or nation row of one hospital is that hospital
            raise BadRequest.text("api.hospital.level")
        if level in DETAIL_LEVELS:
            require_detail(scope, self.policy)
            scope.require_region(region)
        wards = await self._cached("wards", lambda: queries.current_wards(self.db))
        matrix = await self._cached("matrix", lambda: queries.out_of_area_now(self.db))
        senders = await self._cached("senders", lambda: queries.senders_last_seen(self.db))
        now = dt.datetime.now(dt.timezone.utc)
        policy = self.policy
        stale_after = dt.timedelta(minutes=policy.stale_after_minutes)

        if level in DETAIL_LEVELS:
            # Every hospital and ward of the viewer's scope, suppressed as a whole (a complement depends on
            # the siblings), then the part asked for. The same for every viewer of a role: cached like the reads.
            detail = await self._cached(f"detail:{scope.viewer.role}", lambda: detail_rows(
                scope.own(wards), now, stale_after=stale_after, escalation=policy.escalation, senders=senders,
                threshold=policy.small_count_threshold, leave_policy=policy.leave_policy,
                open_region=scope.viewer.sees_detail_of))

        def build() -> bytes:  # a few thousand wards: off the event loop, so other requests are not held up
            if level in DETAIL_LEVELS:
                rows = [r for r in detail[level] if (not region or r["region_code"] == region)
                        and (not hospital or r["hospital_id"] == hospital)]
            else:  # region level and above: the aggregates every viewer sees
                ws = [w for w in wards if w["region_code"] == region] if region else wards
                rows = status_rows(ws, level, now, stale_after=stale_after, escalation=policy.escalation,
                                   matrix=matrix, senders=senders)
            return _encode({"level": level, "rows": rows, "generated_at": now})

        return _json_bytes(await asyncio.to_thread(build))

    @documented("Beläggning över tid per enhet / occupancy over time per unit", LEVEL, UNIT, REGION, HOSPITAL,
                FROM, TO, STEP, answer=Answer(("level", "from", "to", "step_minutes", "times", "series"),
                                              {"series": ("id", "name", *HISTORY_FIELDS)}, exports=("points",)))
    async def status_history(self, request: web.Request):
        # The same scope and suppression as status: every point is the status rows of the wards as they
        # were then (their newest history row at or before it), made by the same functions.
        scope = scope_of(request)
        q = request.query
        level, unit = LEVEL.parse(q), UNIT.parse(q)
        region, hospital = REGION.parse(q), HOSPITAL.parse(q)
        if hospital and level not in DETAIL_LEVELS:
            raise BadRequest.text("api.hospital.level")
        if level in DETAIL_LEVELS:
            require_detail(scope, self.policy)
            scope.require_region(region)
        to = TO.parse(q, dt.datetime.now(dt.timezone.utc))
        start = FROM.parse(q, to - dt.timedelta(hours=24))
        times = history_times(start, to, STEP.parse(q))
        step = times[1] - times[0] if len(times) > 1 else dt.timedelta(minutes=STEP.parse(q) or 60)
        # a region's detail is suppressed apart from the others' (web/suppression.py): one region read is exact
        only = region or scope.region if level in DETAIL_LEVELS else region or (unit if level == "region" else None)
        policy = self.policy
        stale_after = dt.timedelta(minutes=policy.stale_after_minutes)

        def read() -> bytes:
            base = queries.wards_at(self.db, times[0])
            if only:
                base = [w for w in base if w["region_code"] == only]
            steps = queries.ward_status_steps(self.db, times[0], step, len(times), only,
                                              queries.WARD_COLUMNS if level in DETAIL_LEVELS else TREND_COLUMNS)

            def rows_at(wards: list[dict], at: dt.datetime) -> list[dict]:
                if level in DETAIL_LEVELS:
                    rows = detail_rows(scope.own(wards), at, stale_after=stale_after, escalation=policy.escalation,
                                       senders=None, threshold=policy.small_count_threshold,
                                       leave_policy=policy.leave_policy, open_region=scope.viewer.sees_detail_of)[level]
                    return [r for r in rows if not hospital or r["hospital_id"] == hospital]
                return status_rows(wards, level, at, stale_after=stale_after, escalation=policy.escalation)

            # above hospital level the wards summed per region first: a week of 2,256 wards is then 21 rows a point
            frames = (ward_timeline if level in DETAIL_LEVELS else region_timeline)(base, steps, len(times))
            series = history_series(frames, times, rows_at, unit)
            return _encode({"level": level, "from": times[0], "to": times[-1],
                            "step_minutes": round(step.total_seconds() / 60), "times": times, "series": series})

        return _json_bytes(await asyncio.to_thread(read))  # not cached: every `to` (now) is another key

    @documented("Beläggningsprognos 24–72 timmar, med egen felmarginal / occupancy forecast for 24–72 hours, with "
                "its own error", LEVEL, UNIT, REGION, FORECAST_HOURS,
                answer=Answer(("level", "id", "origin", "hours", "timezone", "times", "model", "series"),
                              {"series": ("id", "name", "staffed_beds", "occupied_now", *forecast_view.SERIES,
                                          "staffed_beds_ahead", "backtest")}, exports=("points", "backtest")))
    async def forecast(self, request: web.Request):
        # The same scope and suppression as status: region rows and above for every viewer; hospital and
        # ward rows with the detail grant, a unit's forecast hidden outside the viewer's region where its
        # count now is hidden or a forecast hour is a small number (web/forecast.py).
        scope = scope_of(request)
        q = request.query
        level, unit, region = LEVEL.parse(q), UNIT.parse(q), REGION.parse(q)
        if level in DETAIL_LEVELS:
            require_detail(scope, self.policy)
            scope.require_region(region)
        hours = FORECAST_HOURS.parse(q)
        policy, now = self.policy, dt.datetime.now(dt.timezone.utc)
        history = await self._cached("forecast:history", lambda: forecast_view.read_history(
            self.db, now, policy.timezone), forecast_view.HISTORY_TTL)
        wards = await self._cached("wards", lambda: queries.current_wards(self.db))

        def build() -> bytes:
            ws = scope.own(wards) if level in DETAIL_LEVELS else wards
            hidden_now: set[tuple[str, str]] = set()
            if level in DETAIL_LEVELS:
                now_rows = detail_rows(ws, now, stale_after=dt.timedelta(minutes=policy.stale_after_minutes),
                                       escalation=policy.escalation, senders=None,
                                       threshold=policy.small_count_threshold, leave_policy=policy.leave_policy,
                                       open_region=scope.viewer.sees_detail_of)
                hidden_now = {(k, r["id"]) for k, lv in (("h", "hospital"), ("w", "ward"))
                              for r in now_rows[lv] if r["occupied"] is None}
            return _encode(forecast_view.forecast_answer(
                history, ws, level, unit, region, hours, now, policy.timezone, policy.small_count_threshold,
                scope.viewer.sees_detail_of, hidden_now))

        return _json_bytes(await asyncio.to_thread(build))

    @documented("Utomlänspatienter, hemregion × vårdande region / out-of-area patients", WINDOW,
                answer=Answer(("window", "rows", "generated_at"),
                              {"rows": ("home_region", "treating_region", "patients")}, exports=("rows",)))
    async def out_of_area(self, request: web.Request):
        # Region × region counts: every viewer gets the matrix, small cells hidden (with complements, the
        # regions' out-of-area sums being published) outside the treating region, which reports them.
        scope = scope_of(request)
        window = WINDOW.parse(request.query)
        now = dt.datetime.now(dt.timezone.utc)
        kinds: dict = {}
        if window == "now":
            m = await self._cached("matrix", lambda: queries.out_of_area_now(self.db))
        else:  # admissions (planned / acute / not stated) and inter-regional transfers, per cell
            kinds = await asyncio.to_thread(queries.out_of_area_window_kinds, self.db, window, now)
            m = {cell: sum(k.values()) for cell, k in kinds.items()}
        open_cell = lambda home, treating: scope.viewer.sees_detail_of(treating)  # noqa: E731
        shown = suppress_matrix(m, reference.regions(), self.policy.small_count_threshold, open_cell=open_cell)
        by_kind = suppress_movement_kinds(kinds, shown, self.policy.small_count_threshold, open_cell=open_cell) \
            if window != "now" else {}
        rows = [{"home_region": h, "treating_region": t, "patients": n, **by_kind.get((h, t), {})}
                for (h, t), n in shown.items()]
        return _json({"window": window, "rows": rows, "generated_at": now})

    @documented("Plats i närheten efter behov: enheter som kan ta enhetens patienter, rangordnade / room nearby by "
                "need: units that can take the unit's patients, ranked", ROOM_UNIT, ROOM_NEED, ROOM_MVO,
                answer=Answer(("unit", "need", "at", "forecast_at", "timezone", "regions", "wards", "rules"),
                              {"regions": room_view.REGION_FIELDS, "wards": room_view.WARD_FIELDS},
                              exports=("regions", "wards")))
    async def room_nearby(self, request: web.Request):
        # Region-level offers for every viewer (counts 1..threshold hidden outside the viewer's region); ward
        # offers and the asking ward's or hospital's own figures only with the detail grant, as status
        # shows them (web/room.py). A region viewer asks about its own region's units only.
        scope = scope_of(request)
        q = request.query
        unit, kind, mvo = ROOM_UNIT.parse(q), ROOM_NEED.parse(q), ROOM_MVO.parse(q)
        policy, now = self.policy, dt.datetime.now(dt.timezone.utc)
        wards = await self._cached("wards", lambda: queries.current_wards(self.db))
        scope.require_region(room_view.find_unit(wards, unit)[1][0]["region_code"] if unit not in reference.regions()
                             else unit)
        served = await self._cached("served", lambda: room_sql.served_codes(self.db), 30.0)
        senders = await self._cached("senders", lambda: queries.senders_last_seen(self.db))
        history = await self._cached("forecast:history", lambda: forecast_view.read_history(
            self.db, now, policy.timezone), forecast_view.HISTORY_TTL)
        stale_after = dt.timedelta(minutes=policy.stale_after_minutes)

        def build() -> bytes:
            return _encode(room_view.room_answer(
                wards, served, unit, kind, mvo, now, fresh=lambda w: room.is_fresh(w, now, stale_after, senders),
                detail=policy.sees_detail(scope.viewer), own=scope.own,
                detail_rows_of=lambda ws: detail_rows(
                    ws, now, stale_after=stale_after, escalation=policy.escalation, senders=senders,
                    threshold=policy.small_count_threshold, leave_policy=policy.leave_policy,
                    open_region=scope.viewer.sees_detail_of),
                history=history, tz=policy.timezone, morning_hour=policy.morning_hour,
                threshold=policy.small_count_threshold, open_region=scope.viewer.sees_detail_of))

        # the page asks every 5 s: the same answer for every viewer of a role and grant, kept that long
        key = f"room:{unit}:{kind}:{mvo}:{scope.viewer.role}:{policy.sees_detail(scope.viewer)}"
        return _json_bytes(await self._cached(key, build, 5.0))

    @documented("Väntelista per MVO-grupp och fas / waiting list per MVO group and phase", WAIT_REGION, PHASE, AT, BY,
                answer=Answer(("region", "at", "phase", "by", "rows", "care_elsewhere"), {"rows": WAIT_FIELDS},
                              exports=("rows", "care_elsewhere")))
    async def waitlist(self, request: web.Request):
        scope = scope_of(request)
        region = WAIT_REGION.parse(request.query)
        scope.require_region(region)
        phase = PHASE.parse(request.query)
        at = AT.parse(request.query, dt.datetime.now(dt.timezone.utc))
        by = BY.parse(request.query)
        if by:  # the breakdown's rows, small counts hidden against the unsplit rows this viewer gets
            rows = await asyncio.to_thread(waitlist_breakdown, self.db, region, at, self.policy, scope, phase, by)
        else:
            rows = wait_rows(scope, self.policy, await asyncio.to_thread(
                waitlist_measures, self.db, region, at, self.policy.limits, phase, self.policy.exclude_deviations,
                self.policy.timezone), region)
        elsewhere = await asyncio.to_thread(queries.care_elsewhere, self.db, region)
        return _json({"region": region, "at": at, "phase": phase, "by": by, "rows": rows,
                      "care_elsewhere": elsewhere})

    @documented("Väntelistans månadsbild / the waiting list's month-end snapshot", MONTH,
                answer=Answer(SNAPSHOT_KEYS, {"rows": ("region_code", *WAIT_FIELDS)},
                              exports=("rows", "healthcare_regions", "nation")))
    async def snapshots(self, request: web.Request):
        scope = scope_of(request)
        month = MONTH.parse(request.query)
        # Reading never closes a month (any viewer could freeze it before the regions have delivered): only
        # the admin's POST .../close or the schedule (close_due_month) does. An open month answers no rows.
        last_year = month.replace(year=month.year - 1)
        rows = await asyncio.to_thread(queries.snapshot_rows, self.db, month)
        before = await asyncio.to_thread(queries.snapshot_rows, self.db, last_year)
        answer = snapshot_answer(month, rows, self.policy.timezone, wait_rows(scope, self.policy, rows))
        answer.update(snapshot_rollups(scope, self.policy, rows))
        # the same month last year beside it (issue 12); null while that month is not closed
        answer["previous_year"] = None if not before else {
            **snapshot_answer(last_year, before, self.policy.timezone, wait_rows(scope, self.policy, before)),
            **snapshot_rollups(scope, self.policy, before)}
        return _json(answer)

    @documented("Stäng en månadsbild / close a month's snapshot", MONTH, answer=Answer(("month", "rows")))
    async def close_snapshot(self, request: web.Request):
        # admin only: the route's rule (create_app)
        month = MONTH.parse(request.query)
        n = await asyncio.to_thread(close_month, self.db, month, self.policy)
        return _json({"month": month.strftime("%Y-%m"), "rows": n})

    @documented("Genomförda kontakter per månad / contacts performed per month", MONTH, REGION, BY,
                answer=Answer(PERFORMED_KEYS, {"rows": ("region_code", "mvo_group", *PERFORMED_FIELDS),
                                               "comparison": ("region_code", *PERFORMED_FIELDS),
                                               "regions": ("region_code", "name", "performed", "caveats")},
                              exports=("comparison", "rows", "regions", "nation")))
    async def performed(self, request: web.Request):
        scope = scope_of(request)
        month, region = MONTH.parse(request.query), REGION.parse(request.query)
        scope.require_region(region)
        by = BY.parse(request.query)
        # the answer, per what decides it (the viewer's role decides scope and suppression), kept in memory as
        # the monthly bed statistics are: an ended month's counts come from ClickHouse's kept results, but
        # the measures over them take a few hundred ms nationally
        ended = month_end(month, self.policy.timezone) <= dt.datetime.now(dt.timezone.utc)
        answer = await self._cached(
            f"performed:{month}:{region}:{by}:{scope.viewer.role}",
            lambda: _encode(performed_answer(self.db, month, region, self.policy, scope,
                                             dt.datetime.now(dt.timezone.utc), by)),
            BEDSTATS_TTL_ENDED if ended else BEDSTATS_TTL_CURRENT)
        return _json_bytes(answer)

    # -- issue 14: the ICU picture, guarantee breaches ahead, escalation with actions ------------------
    @documented("IVA-läget per timme: disponibla, belagda och lediga IVA-platser / the ICU picture hourly",
                ICU_HOURS, ICU_LEVEL, REGION,
                answer=Answer(("hours", "generated_at", "from", "to", "step_minutes", "timezone", "now", "rows",
                               "wards"),
                              {"now": ICU_FIELDS, "rows": ("at", *ICU_FIELDS), "wards": ICU_WARD_FIELDS},
                              exports=("now", "rows", "wards")))
    async def icu(self, request: web.Request):
        # Region rows and above for every viewer (region-level figures, as status); ICU wards (level=ward)
        # only with the detail grant, suppressed as status suppresses them at that instant.
        scope = scope_of(request)
        q = request.query
        hours, level, region = ICU_HOURS.parse(q), ICU_LEVEL.parse(q), REGION.parse(q)
        if level == "ward":
            require_detail(scope, self.policy)
            scope.require_region(region)
        now = dt.datetime.now(dt.timezone.utc)
        to = now.replace(minute=0, second=0, microsecond=0)  # on the hour (Stockholm's hours are UTC's)
        times = history_times(to - dt.timedelta(hours=hours), to, 60)
        wards = await self._cached("wards", lambda: queries.current_wards(self.db))
        answer = await asyncio.to_thread(icu_answer, self.db, times, level, region, self.policy, scope)
        # `now`: the picture of the wards as they are (status's source), beside the hourly history
        answer["now"] = [r for r in icu_picture.picture(wards)
                         if not region or r["level"] != "region" or r["id"] == region]
        return _json({"hours": hours, "generated_at": now, **answer})

    @documented("Vårdgarantibrott framåt och förväntad väntetid per MVO-grupp, fas och klinik / "
                "care-guarantee breaches ahead and the expected wait per MVO group, phase and clinic", WAIT_REGION,
                answer=Answer(("region", "at", "timezone", "horizons", "recent_weeks", "not_counted", "rows", "clinics"),
                              {"rows": BREACH_FIELDS, "clinics": CLINIC_FIELDS}, exports=("rows", "clinics")))
    async def breaches(self, request: web.Request):
        # As the waiting list: a region viewer its own region in full, others refused; everyone else any
        # region, counts 1..threshold hidden outside the viewer's region (suppress_sibling_rows).
        scope = scope_of(request)
        region = WAIT_REGION.parse(request.query)
        scope.require_region(region)
        answer = await asyncio.to_thread(breaches_answer, self.db, region, dt.datetime.now(dt.timezone.utc),
                                         self.policy, scope)
        return _json(answer)

    @documented("Eskaleringsnivå per region: beräknad, deklarerad och åtgärderna / escalation level per region: "
                "computed, declared and the actions", REGION,
                answer=Answer(("at", "rows"), {"rows": ESCALATION_FIELDS}, exports=("rows",)))
    async def escalation(self, request: web.Request):
        # Region-level figures (as status's region rows) and the regions' own declarations: every viewer.
        scope_of(request)
        region = REGION.parse(request.query)
        now = dt.datetime.now(dt.timezone.utc)
        wards = await self._cached("wards", lambda: queries.current_wards(self.db))
        found = await asyncio.to_thread(outlook.declarations, self.db, region, now)
        return _json({"at": now, "rows": escalation_rows(wards, found, region, now, self.policy)})

    @documented("Deklarera regionens eskaleringsnivå (JSON-kropp eller parametrar) / declare a region's escalation "
                "level (JSON body or parameters)", DECLARE_REGION, DECLARE_LEVEL, DECLARE_REASON, DECLARE_UNTIL,
                answer=Answer(("region_code", "level", "reason", "declared_by", "declared_at", "until", "actions")))
    async def escalation_declare(self, request: web.Request):
        # A region viewer for its own region, the admin for any; audited by the access middleware as every
        # request (who, role, route, region and level: never the reason's text, which is not a parameter).
        scope = scope_of(request)
        values = dict(request.query)
        if request.body_exists:
            try:
                body = orjson.loads(await request.read())
            except orjson.JSONDecodeError:
                body = None
            if not isinstance(body, dict):
                raise BadRequest.text("api.body.object")
            values.update({k: str(v) for k, v in body.items() if v is not None and isinstance(v, (str, int))})
        region, level = DECLARE_REGION.parse(values), DECLARE_LEVEL.parse(values)
        reason, until = DECLARE_REASON.parse(values), DECLARE_UNTIL.parse(values)
        if not scope.is_admin and scope.region != region:
            raise Refused.text("api.declare.own")
        now = dt.datetime.now(dt.timezone.utc)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as stored (milliseconds)
        row = declaration_row(region, level, reason, until, scope.viewer.role, now)
        await asyncio.to_thread(outlook.declare, self.db, row)
        return _json({**{k: row[k] for k in ("region_code", "level", "reason", "declared_by", "declared_at", "until")},
                      "actions": self.policy.escalation.actions_for(level)})

    @documented("Eskaleringsnivåns historik: beräknad och deklarerad / escalation level history: computed and "
                "declared", WAIT_REGION, FROM, TO, STEP,
                answer=Answer(("region", "from", "to", "step_minutes", "times", "computed", "declared", "level",
                               "declarations"), {"declarations": ("level", "reason", "declared_by", "declared_at")},
                              exports=("points", "declarations")))
    async def escalation_history(self, request: web.Request):
        scope_of(request)
        q = request.query
        region = WAIT_REGION.parse(q)
        to = TO.parse(q, dt.datetime.now(dt.timezone.utc))
        times = history_times(FROM.parse(q, to - dt.timedelta(hours=24)), to, STEP.parse(q))
        answer = await asyncio.to_thread(escalation_history_answer, self.db, region, times, self.policy)
        return _json(answer)

    async def _month_wards(self, month: dt.date) -> tuple[list[dict], bool]:
        """The month's per-ward sums (streams/domain/bedstats.py SUMS) and whether the month has ended.
        ClickHouse integrates the month per ward (one row each): seconds over a national year's history. An
        ended month changes only with late data: its sums are kept in ClickHouse until they arrive
        (sinks/results.py), and in memory BEDSTATS_TTL_ENDED."""
        tz = self.policy.timezone
        start, end = bedstats.month_bounds(month, tz)
        ended = end <= dt.datetime.now(dt.timezone.utc)

        def integrate() -> list[dict]:
            wards = queries.ward_month(self.db, start, end, month, bedstats.SAMPLE_HOUR, tz)
            stays = {r["ward_id"]: r for r in queries.discharge_ready_stays(self.db, start, end)}
            for w in wards:
                w.update({k: int((stays.get(w["ward_id"]) or {}).get(k) or 0)
                          for k in ("discharge_ready_stays", "discharge_ready_ms")})
            return wards

        wards = await self._cached(
            f"bedmonth:{month}", (lambda: results.kept_or_computed(
                self.db, "beds_monthly_wards.2", month, f"{tz}:{bedstats.SAMPLE_HOUR}", integrate)) if ended else integrate,
            BEDSTATS_TTL_ENDED if ended else BEDSTATS_TTL_CURRENT)
        return wards, ended

    @documented("Vårdplatsstatistik per år: medelvärdet av årets avslutade månader / yearly bed statistics: the "
                "mean of the year's ended months", YEAR, YEAR_LEVEL,
                answer=Answer(("year", "level", "months", "complete", "timezone", "rows"),
                              {"rows": BEDSTATS_YEAR_FIELDS}, exports=("rows",)))
    async def beds_yearly(self, request: web.Request):
        # Region level and above, as the monthly rows every viewer sees; below it the months have their own
        # suppression (a mean of hidden cells would give them back), so the year is not published there.
        scope_of(request)
        year, level = YEAR.parse(request.query), YEAR_LEVEL.parse(request.query)
        if year is None:
            raise BadRequest.text("api.year.required")
        now = dt.datetime.now(dt.timezone.utc)
        months = [m for m in (dt.date(year, k, 1) for k in range(1, 13))
                  if bedstats.month_bounds(m, self.policy.timezone)[1] <= now]
        found = [(m, (await self._month_wards(m))[0]) for m in months]
        rows = bedstats.year_roll_up(found, level, self.policy.timezone) if found else []
        return _json({"year": year, "level": level, "months": [m.strftime("%Y-%m") for m in months],
                      "complete": len(months) == 12, "timezone": self.policy.timezone, "rows": rows})

    @documented("Vårdplatsstatistik per månad / monthly bed statistics", MONTH, LEVEL, REGION,
                answer=Answer(("month", "level", "days", "sample_time", "timezone", "rows"),
                              {"rows": BEDSTATS_FIELDS}, exports=("rows",)))
    async def beds_monthly(self, request: web.Request):
        # The same scope and suppression as status: region level and above for every viewer; hospital and
        # ward rows with the detail grant, small counts hidden outside the viewer's own region.
        scope = scope_of(request)
        month, level, region = MONTH.parse(request.query), LEVEL.parse(request.query), REGION.parse(request.query)
        if level in DETAIL_LEVELS:
            require_detail(scope, self.policy)
            scope.require_region(region)
        tz = self.policy.timezone
        wards, ended = await self._month_wards(month)

        def build() -> bytes:
            ws = scope.own(wards) if level in DETAIL_LEVELS else wards
            if region:  # suppression is per region: one region's wards are enough for its detail
                ws = [w for w in ws if w["region_code"] == region]
            if level in DETAIL_LEVELS:
                rows = bedstats_detail(ws, level, month, tz, self.policy.small_count_threshold,
                                       scope.viewer.sees_detail_of)
            else:
                rows = bedstats.roll_up(ws, level, month, tz)
            return _encode({"month": month.strftime("%Y-%m"), "level": level, "days": bedstats.days_in(month),
                            "sample_time": f"{bedstats.SAMPLE_HOUR:02d}:00", "timezone": tz, "rows": rows})

        # the answer too (the hospital and ward suppression is a few hundred ms nationally), per what decides it
        # (the role decides it: a viewer without the detail grant was refused above)
        key = f"bedmonth:{month}:{level}:{region}:{scope.viewer.role}"
        return _json_bytes(await self._cached(key, build, BEDSTATS_TTL_ENDED if ended else BEDSTATS_TTL_CURRENT))

    @documented("Senast avvisade händelser / latest rejections", LIMIT,
                answer=Answer(("rows",), {"rows": ("at", "region_code", "sender_id", "event_type", "rule_ids")},
                              exports=("rows",)))
    async def deadletters(self, request: web.Request):
        scope = scope_of(request)
        limit = LIMIT.parse(request.query)
        # The region filter is in the SQL (the limit applies to the viewer's own rows) and again here.
        rows = await asyncio.to_thread(queries.deadletters, self.db, limit, scope.region)
        return _json({"rows": scope.own(rows)})

    @documented("Datakvalitet per avsändare / data quality per sender",
                answer=Answer(("senders", "rejections_by_rule", "table_rows"),
                              {"senders": ("region_code", "sender_id", "accepted", "rejected", "last_event_at"),
                               "rejections_by_rule": ("region_code", "rule_id", "n")},
                              exports=("senders", "rejections_by_rule", "table_rows")))
    async def quality(self, request: web.Request):
        scope = scope_of(request)
        rows = await asyncio.to_thread(queries.data_quality, self.db)
        rules = await asyncio.to_thread(queries.rejections_by_rule, self.db)
        counts = await asyncio.to_thread(queries.table_counts, self.db) if scope.is_admin else None
        return _json({"senders": scope.own(rows), "rejections_by_rule": scope.own(rules), "table_rows": counts})

    @documented("Datakvalitet per region och månad (uppföljningens mått) / data quality per region and month "
                "(the national follow-up's measures)", MONTH, REGION,
                answer=Answer(QUALITY_MONTHLY_KEYS, QUALITY_MONTHLY_ROWS,
                              exports=("completeness", "fill_rates", "waiting", "plausibility")))
    async def quality_monthly(self, request: web.Request):
        # Every viewer gets every region's rows (they compare senders); counts of contacts and patients
        # 1..threshold in a breakdown are hidden outside the viewer's own region (suppress_fill_row,
        # suppress_waiting_row). A region viewer asking for another region by name is refused, as by the
        # other endpoints.
        scope = scope_of(request)
        month, region = MONTH.parse(request.query), REGION.parse(request.query)
        scope.require_region(region)
        tz = self.policy.timezone
        now = dt.datetime.now(dt.timezone.utc)
        # a month past its deadline changes only with late events: its counts are kept BEDSTATS_TTL_ENDED
        ttl = BEDSTATS_TTL_ENDED if snapshot_final_at(month, tz) <= now else BEDSTATS_TTL_CURRENT
        final = snapshot_final_at(month, tz) <= now

        def read() -> dict:  # a month past its deadline: its counts kept until late data arrive (sinks/results.py)
            if final:
                return quality_from_plain(results.kept_or_computed(
                    self.db, "quality_counts", month, tz, lambda: quality_plain(quality_counts(self.db, month, tz))))
            return quality_counts(self.db, month, tz)

        counts = await self._cached(f"qualitymonth:{month}", read, ttl)
        # the answer too, per what decides it (the role: scope and suppression), for as long as its counts
        answer = await self._cached(f"qualitymonth:{month}:{region}:{scope.viewer.role}", lambda: _encode(
            quality_answer(counts, month, region, self.policy, scope, now)), min(ttl, BEDSTATS_TTL_CURRENT))
        return _json_bytes(answer)

    @documented("Detta dokument (OpenAPI 3) / this document", answer=Answer(("openapi", "info", "paths")))
    async def openapi_document(self, request: web.Request):
        if self._openapi is None:  # the routes do not change while the app runs
            self._openapi = _encode(openapi.document(request.app))
        return _json_bytes(self._openapi)

    @documented("Referensdata och vem som tittar / reference data and the viewer",
                answer=Answer(("regions", "healthcare_regions", "escalation", "stale_after_minutes",
                               "small_count_threshold", "timezone", "viewer"),
                              {"regions": ("code", "name", "short_name", "healthcare_regions", "neighbours")}))
    async def reference(self, request: web.Request):
        return _json(reference_data(self.policy, scope_of(request)))

    @documented("Prometheus-mätvärden / Prometheus metrics", answer=Answer(media="text/plain"))
    async def metrics_view(self, request: web.Request):
        # Process counters and per-region freshness: no patient counts, every scope holds them.
        scope_of(request)
        return web.Response(body=self.metrics.render(), content_type="text/plain", charset="utf-8")

    @documented("Sidan / the live page", answer=Answer(media="text/html"))
    async def index(self, request: web.Request):
        return web.FileResponse(STATIC / "index.html")

    @documented("Sidans texter, svenska och engelska (web/texts.json) / the page's texts in Swedish and English",
                answer=Answer(media="text/javascript"))
    async def page_texts(self, request: web.Request):
        # public like the page's other scripts: the dictionary holds no data
        return web.Response(text=texts.script(), content_type="text/javascript", charset="utf-8")

    @documented("Morgonrapporten (HTML) / the morning report", DATE, answer=Answer(media="text/html"))
    async def report(self, request: web.Request):
        from web.morning import build_morning_report
        from web.report_html import render_morning_report

        scope = scope_of(request)
        day = DATE.parse(request.query, dt.datetime.now(ZoneInfo(self.policy.timezone)).date())
        hit = self._cache.get("forecast:history")  # the forecast's history, when the API has it fresh
        history = hit[1] if hit and time.monotonic() - hit[0] < forecast_view.HISTORY_TTL else None
        report = await asyncio.to_thread(build_morning_report, self.db, day, self.policy, scope, history)
        return web.Response(text=render_morning_report(report), content_type="text/html", charset="utf-8")


def require_detail(scope: Scope, policy: ViewPolicy) -> None:
    """Hospital and ward rows only for a viewer granted capacity detail (ViewPolicy.sees_detail)."""
    if not policy.sees_detail(scope.viewer):
        raise Refused.text("api.detail.grant")


BEDSTATS_TTL_ENDED = 300.0  # seconds; late events reach an ended month's figures within this
BEDSTATS_TTL_CURRENT = 60.0  # the month so far: a minute old at most


def reference_data(policy: ViewPolicy, scope) -> dict:
    """What the page needs to draw: the regions and healthcare regions (schemas/reference), the
    thresholds of the policy, and who is looking (a region viewer's page opens on its own region)."""
    return {
        "regions": [{"code": r.code, "name": r.name, "short_name": r.short_name,
                     "healthcare_regions": list(r.healthcare_regions), "neighbours": list(r.neighbours)}
                    for r in reference.regions().values()],
        "healthcare_regions": reference.healthcare_regions(),
        "escalation": {k: getattr(policy.escalation, k) for k in policy.escalation.__dataclass_fields__},
        "stale_after_minutes": policy.stale_after_minutes,
        "small_count_threshold": policy.small_count_threshold,
        "timezone": policy.timezone,
        "viewer": {"name": scope.viewer.name, "role": scope.viewer.role, "region": scope.region,
                   "detail": policy.sees_detail(scope.viewer)},  # hospital and ward levels granted
    }


def create_app(db: ClickHouse, policy: ViewPolicy, metrics, admin_token: str,
               close_snapshots: bool = False) -> web.Application:
    """The page and API. Every route is registered through the access module with its rule.
    `close_snapshots`: while the app runs, close each month's snapshot once it is due (close_due_month)."""
    api = Api(db, policy, metrics)
    access = Access(policy, admin_token, metrics)
    app = web.Application(middlewares=[access.middleware])
    app[openapi.ACCESS] = access
    if close_snapshots:
        async def schedule(app):
            task = asyncio.create_task(close_on_schedule(db, policy))
            yield
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        app.cleanup_ctx.append(schedule)
    access.add(app, "GET", "/", api.index, PUBLIC)
    access.add(app, "GET", "/texts.js", api.page_texts, PUBLIC)
    access.add_static(app, "/static/", STATIC)
    access.add(app, "GET", "/api/v1/reference", api.reference, VIEWER)
    access.add(app, "GET", "/api/v1/openapi.json", api.openapi_document, VIEWER)
    # the list endpoints also as CSV / XLSX (?format=), with Swedish file names
    access.add(app, "GET", "/api/v1/status", api.exportable(api.status, lambda a: f"beläggning-{a['level']}"), VIEWER)
    # series over time: one row per unit × point (web/exports.py)
    access.add(app, "GET", "/api/v1/status/history", api.exportable(
        api.status_history, lambda a: f"beläggning-över-tid-{a['level']}" + (  # one unit's: its id too
            f"-{a['series'][0]['id']}" if len(a["series"]) == 1 and a["level"] != "nation" else ""),
        lambda a: exports.history_tables(a, HISTORY_FIELDS)), VIEWER)
    access.add(app, "GET", "/api/v1/forecast", api.exportable(
        api.forecast, lambda a: f"beläggningsprognos-{a['level']}", lambda a: exports.forecast_tables(
            a, (*forecast_view.SERIES, "staffed_beds_ahead"))), VIEWER)
    access.add(app, "GET", "/api/v1/out-of-area",
               api.exportable(api.out_of_area, lambda a: f"utomlänspatienter-{a['window']}"), VIEWER)
    access.add(app, "GET", "/api/v1/room-nearby", api.exportable(api.room_nearby, lambda a: f"plats-i-närheten-{a['unit']}"), VIEWER)
    access.add(app, "GET", "/api/v1/waitlist", api.exportable(
        api.waitlist, lambda a: f"väntelista-{a['region']}" + (f"-{a['by']}" if a.get("by") else "")), VIEWER)
    access.add(app, "GET", "/api/v1/waitlist/snapshots",
               api.exportable(api.snapshots, lambda a: f"väntelista-månadsbild-{a['month']}"), VIEWER)
    access.add(app, "POST", "/api/v1/waitlist/snapshots/close", api.close_snapshot, ADMIN)
    access.add(app, "GET", "/api/v1/waitlist/performed",
               api.exportable(api.performed, lambda a: f"väntelista-genomförda-{a['month']}"
                              + (f"-{a['by']}" if a.get("by") else "")), VIEWER)
    access.add(app, "GET", "/api/v1/icu", api.exportable(api.icu, lambda a: f"iva-läget-{a['hours']}h"), VIEWER)
    access.add(app, "GET", "/api/v1/waitlist/breaches",
               api.exportable(api.breaches, lambda a: f"vårdgarantibrott-framåt-{a['region']}"), VIEWER)
    access.add(app, "GET", "/api/v1/escalation", api.exportable(
        api.escalation, lambda a: "eskalering", lambda a: exports.escalation_tables(a, DECLARATION_FIELDS)), VIEWER)
    access.add(app, "POST", "/api/v1/escalation/declare", api.escalation_declare, VIEWER)  # the handler: own region
    access.add(app, "GET", "/api/v1/escalation/history", api.exportable(
        api.escalation_history, lambda a: f"eskalering-över-tid-{a['region']}", exports.escalation_history_tables),
        VIEWER)
    access.add(app, "GET", "/api/v1/deadletters", api.exportable(api.deadletters, lambda a: "avvisade-händelser"),
               VIEWER)
    access.add(app, "GET", "/api/v1/quality", api.exportable(api.quality, lambda a: "datakvalitet"), VIEWER)
    access.add(app, "GET", "/api/v1/quality/monthly",
               api.exportable(api.quality_monthly, lambda a: f"datakvalitet-{a['month']}"), VIEWER)
    access.add(app, "GET", "/api/v1/beds/monthly",
               api.exportable(api.beds_monthly, lambda a: f"vårdplatsstatistik-{a['month']}-{a['level']}"), VIEWER)
    access.add(app, "GET", "/api/v1/beds/yearly",
               api.exportable(api.beds_yearly, lambda a: f"vårdplatsstatistik-{a['year']}-{a['level']}"), VIEWER)
    access.add(app, "GET", "/metrics", api.metrics_view, VIEWER)
    access.add(app, "GET", "/report/morning", api.report, VIEWER)
    return app


def metrics_app(metrics) -> web.Application:
    """/metrics alone, for a worker without the API (`bedflow worker --no-api`): process counters, lag and
    freshness, no patient counts; its port is for the cluster's probes and Prometheus only."""
    async def view(request: web.Request):
        return web.Response(body=metrics.render(), content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/metrics", view)
    return app


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
