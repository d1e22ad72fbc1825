"""Reads for the views, in one place: SQL over the sink's tables, shaped for web/status.py and the
waiting-list measures (which web applies: this module knows no domain logic). Tables are
ReplacingMergeTree, so every read of current state uses FINAL."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sinks.clickhouse import ClickHouse

WARD_COLUMNS = ("ward_id", "hospital_id", "hospital_name", "ward_name", "region_code", "mvo_code", "mvo_group",
                "care_type", "ward_kind", "source", "staffed_beds", "admitted", "present", "on_leave", "occupied",
                "overcrowded", "outliers", "discharge_ready", "out_of_area_in", "last_event_at", "sender_id",
                "home_unknown")
WINDOWS = {"24h": dt.timedelta(hours=24), "7d": dt.timedelta(days=7), "30d": dt.timedelta(days=30)}


def current_wards(db: ClickHouse) -> list[dict]:
    return db.query_dicts(f"SELECT {', '.join(WARD_COLUMNS)} FROM ward_current FINAL")


def wards_at(db: ClickHouse, at: dt.datetime, lookback: dt.timedelta = dt.timedelta(days=2)) -> list[dict]:
    """Every ward's status as of `at` (event time): its newest history row at or before `at`.

    A year of history is millions of rows, and almost every ward reports daily: the newest rows are
    looked for in the last `lookback` first, and only the wards with none there (quiet ones) are looked
    up in their whole history, by ward_id (the table's key), so the report does not scan the year."""
    cols = ", ".join(f"argMax({c}, (at, version)) AS {c}" for c in WARD_COLUMNS if c != "ward_id")
    utc = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    recent = db.query_dicts(
        f"SELECT ward_id, {cols} FROM ward_status WHERE at <= {{at:DateTime64(3)}} AND at > {{since:DateTime64(3)}} "
        "GROUP BY ward_id", {"at": utc, "since": utc - lookback})
    found = {w["ward_id"] for w in recent}
    _, known = db.query("SELECT DISTINCT ward_id FROM ward_current")
    quiet = sorted({w for (w,) in known} - found)
    if not quiet:
        return recent
    return recent + db.query_dicts(
        f"SELECT ward_id, {cols} FROM ward_status WHERE ward_id IN {{quiet:Array(String)}} "
        "AND at <= {at:DateTime64(3)} GROUP BY ward_id", {"at": utc, "quiet": quiet})


def senders_last_seen(db: ClickHouse, at: dt.datetime | None = None,
                      within: dt.timedelta | None = None) -> dict[str, dt.datetime]:
    """The newest event of each sender (by event time); as of `at` (for a past picture) from the events,
    looking back only `within` when given (enough to tell fresh from stale, and no scan of the year)."""
    if at is None:
        _, rows = db.query("SELECT sender_id, max(last_event_at) FROM sender_last_seen GROUP BY sender_id")
    else:
        utc = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
        since = utc - within if within is not None else dt.datetime(1970, 1, 1)
        _, rows = db.query("SELECT sender_id, max(occurred_at) FROM events WHERE occurred_at <= {at:DateTime64(3)} "
                           "AND occurred_at > {since:DateTime64(3)} GROUP BY sender_id", {"at": utc, "since": since})
    return {s: t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t for s, t in rows}


def out_of_area_now(db: ClickHouse) -> dict[tuple[str, str], int]:
    _, rows = db.query("SELECT home_region, treating_region, patients FROM out_of_area_current FINAL "
                       "WHERE patients > 0")
    return {(h, t): int(n) for h, t, n in rows}


def out_of_area_window(db: ClickHouse, window: str, now: dt.datetime) -> dict[tuple[str, str], int]:
    """Patients who came into care outside their home region in the window (by event time): admissions
    and inter-regional transfers (streams.domain.beds.BedState.movement)."""
    return {(h, t): sum(n.values()) for (h, t), n in out_of_area_window_kinds(db, window, now).items()}


def out_of_area_window_kinds(db: ClickHouse, window: str, now: dt.datetime) -> dict[tuple[str, str], dict[str, int]]:
    """The same per home × treating region, by kind: `admissions_planned`, `admissions_acute`,
    `admissions_unknown` (kind not sent) and `transfers`; only the kinds that occur."""
    since = (now - WINDOWS[window]).astimezone(dt.timezone.utc).replace(tzinfo=None)
    _, rows = db.query(
        "SELECT home_region, treating_region, movement, admission_kind, uniqExact(event_id) "
        "FROM out_of_area_admissions WHERE occurred_at >= {since:DateTime64(3)} "
        "GROUP BY home_region, treating_region, movement, admission_kind", {"since": since})
    out: dict[tuple[str, str], dict[str, int]] = {}
    for h, t, movement, kind, n in rows:
        key = "transfers" if movement == "transfer" else f"admissions_{kind or 'unknown'}"
        cell = out.setdefault((h, t), {})
        cell[key] = cell.get(key, 0) + int(n)
    return out


# The waiting-list measures' reading of a contact at an instant {at} (its local date {today} in {tz}), one
# text for waitlist_counts and waitlist_counts_by_region (the data-quality shares): waiting = phases 1–4,
# decided at or before {at}, not closed by then; the deviation active at {at6} = the kind of the last
# deviation event at or before it (Contact.deviation_on).
_WAITING_COLUMNS = (
    "mvo_group, phase, dateDiff('day', toDate(decided_at, {tz:String}), {today:Date}) AS days, "
    # most contacts have no deviation: notEmpty first spares them the lambda (short-circuit evaluation)
    "guarantee, notEmpty(deviation_ids) AND "
    "arrayLast((k, t) -> t <= {at6:DateTime64(6, 'UTC')}, deviation_kinds, deviation_ats) != '' AS dev, count(), "
    "if(medical_target_date IS NULL, NULL, medical_target_date < {today:Date}) AS past")
_WAITING_AT = ("phase BETWEEN 1 AND 4 AND decided_at IS NOT NULL AND decided_at <= {at:DateTime64(3)} "
               "AND (closed_at IS NULL OR closed_at > {at:DateTime64(3)})")


# The stored field each breakdown reads (streams.domain.waitlist.breakdown_of makes the groups of it).
BREAKDOWN_COLUMNS = {"sex": "sex", "age_band": "birth_year", "hospital": "hospital_id", "activity": "activity_code"}


def _split_column(by: str | None, year: str) -> str:
    """The breakdown's column. For age bands, each birth year is replaced by the latest birth year of its
    band in `year` (the year less the band's lowest age; {lows}: the domain's bands' lowest ages): one
    group per band instead of one per birth year, which the domain reads as it reads any birth year."""
    if not by:
        return ""
    if by != "age_band":
        return f", {BREAKDOWN_COLUMNS[by]} AS split"
    age = f"greatest(0, {year} - toInt32(assumeNotNull(birth_year)))"
    return (f", if(birth_year IS NULL, NULL, {year} - arrayElement({{lows:Array(Int32)}}, "
            f"arrayLastIndex(x -> x <= {age}, {{lows:Array(Int32)}}))) AS split")


def waitlist_counts(db: ClickHouse, region: str, at: dt.datetime, phase: int | None = None,
                    tz: str = "Europe/Stockholm", by: str | None = None, age_lows: tuple[int, ...] = ()
                    ) -> list[tuple[str, int, int, bool, bool, int, bool | None]]:
    """A region's open contacts at an instant, pre-aggregated for the waiting-list measures: weighted rows
    `(mvo_group, phase, wait_days, guarantee, deviation, count, past_target)`, in the order of the domain's
    WaitRow. wait_days are calendar days in `tz`; deviation: one is active at `at` (the last deviation
    event at or before `at` sets one, as Contact.deviation_on); past_target: the medical target date is
    before `at`'s date in `tz` (NULL without one). mvo_group is as stored ('' when unknown). With `by`
    (BREAKDOWN_COLUMNS), each row has an eighth field: the breakdown's stored value (NULL or '' when not
    reported; for age bands a birth year standing for its band in `at`'s year, see _split_column), grouped
    by like the others."""
    at_utc = at.astimezone(dt.timezone.utc).replace(tzinfo=None)
    today = at.astimezone(ZoneInfo(tz)).date()
    phase_filter = "AND phase = {phase:UInt8}" if phase else ""
    split = _split_column(by, "{year:Int32}")
    _, rows = db.query(
        f"SELECT {_WAITING_COLUMNS}{split} FROM waitlist_contacts FINAL "
        f"WHERE region_code = {{region:String}} AND {_WAITING_AT} {phase_filter} "
        f"GROUP BY mvo_group, phase, days, guarantee, dev, past{', split' if by else ''}",
        {"region": region, "at": at_utc, "at6": at_utc, "phase": phase or 0, "tz": tz, "today": today,
         "year": today.year, "lows": list(age_lows)})
    return [(g, int(p), int(d), bool(gu), bool(dv), int(n), None if past is None else bool(past), *raw)
            for g, p, d, gu, dv, n, past, *raw in rows]


def care_elsewhere(db: ClickHouse, region: str) -> dict:
    _, rows = db.query(
        "SELECT countIf(status = 'performed' AND performing_region != '' AND performing_region != region_code), "
        "countIf(home_region != '' AND home_region != region_code), "
        "countIf(status = 'removed' AND removal_reason = 'referred_elsewhere') "
        "FROM waitlist_contacts FINAL WHERE region_code = {region:String}", {"region": region})
    a, b, c = rows[0] if rows else (0, 0, 0)
    return {"performed_in_other_region": int(a), "patients_from_other_regions": int(b),
            "referred_elsewhere": int(c)}


def deadletters(db: ClickHouse, limit: int, region: str | None = None) -> list[dict]:
    where = "WHERE region_code = {region:String}" if region else ""
    return db.query_dicts(
        "SELECT at, source_topic, source_partition, source_offset, region_code, sender_id, event_type, event_id, "
        f"rule_ids, messages FROM deadletters FINAL {where} ORDER BY at DESC, source_offset DESC "
        "LIMIT {limit:UInt32}", {"limit": limit, "region": region or ""})


def snapshot_rows(db: ClickHouse, month: dt.date) -> list[dict]:
    return db.query_dicts(
        "SELECT month, region_code, mvo_group, phase, waiting, le_30, le_60, le_90, le_180, gt_180, limit_days, "
        "with_deviation, measured, within_limit, over_180, share_within_limit, share_over_180, target_measured, "
        "past_target, share_past_target, closed_at FROM waitlist_snapshots FINAL "
        "WHERE month = {month:Date} ORDER BY region_code, mvo_group, phase", {"month": month})


def data_quality(db: ClickHouse) -> list[dict]:
    return db.query_dicts(
        "SELECT region_code, sender_id, sum(accepted) AS accepted, sum(rejected) AS rejected, "
        "max(last_at) AS last_event_at, sum(census_disagreements) AS census_disagreements FROM ("
        " SELECT region_code, sender_id, count() AS accepted, 0 AS rejected, max(occurred_at) AS last_at, "
        "  countIf(has(findings, 'MNG-010')) AS census_disagreements FROM events FINAL GROUP BY region_code, sender_id"
        " UNION ALL SELECT region_code, sender_id, 0, count(), max(at), 0 FROM deadletters FINAL "
        "  GROUP BY region_code, sender_id) GROUP BY region_code, sender_id ORDER BY region_code, sender_id")


def rejections_by_rule(db: ClickHouse) -> list[dict]:
    return db.query_dicts("SELECT region_code, arrayJoin(rule_ids) AS rule_id, count() AS n FROM deadletters FINAL "
                          "GROUP BY region_code, rule_id ORDER BY region_code, rule_id")


def table_counts(db: ClickHouse) -> dict[str, int]:
    """Rows per table as the views read them (FINAL: after deduplication)."""
    out = {}
    for table in ("events", "deadletters", "ward_status", "ward_current", "waitlist_contacts"):
        _, rows = db.query(f"SELECT count() FROM {table} FINAL")
        out[table] = int(rows[0][0])
    return out


def ward_status_steps(db: ClickHouse, first: dt.datetime, step: dt.timedelta, points: int,
                      region: str | None = None, columns: tuple[str, ...] = WARD_COLUMNS) -> list[tuple[int, dict]]:
    """The history between a trend's points (issue 13, trends): for each ward and each point k of `first + k ×
    step` (k = 1 … points − 1), the ward's newest row in (point k − 1, point k], as `(k, row)`; a ward with
    no row there keeps its earlier state (the caller carries it on from `wards_at(first)`). One row per ward
    and point at most, so a week of a national history stays small. `region`: only that region's wards;
    `columns`: only these (a national week is ~370,000 rows: each column left out is time saved)."""
    cols = ", ".join(f"argMax({c}, (at, version)) AS {c}" for c in columns if c != "ward_id")
    utc = first.astimezone(dt.timezone.utc).replace(tzinfo=None)
    step_ms = int(step.total_seconds() * 1000)
    where = "AND s.region_code = {region:String}" if region else ""  # s.: the column, not the argMax alias
    rows = db.query_dicts(
        # k = ceil((at − first) / step): the first point at or after the row
        f"SELECT ward_id, intDiv(toUnixTimestamp64Milli(at) - {{first_ms:Int64}} + {{step:Int64}} - 1, {{step:Int64}}) "
        f"AS k, {cols} FROM ward_status AS s WHERE at > {{first:DateTime64(3)}} AND at <= {{last:DateTime64(3)}} {where} "
        "GROUP BY ward_id, k ORDER BY k", {
            "first": utc, "last": utc + step * (points - 1), "step": step_ms, "region": region or "",
            "first_ms": int(first.timestamp() * 1000)})
    return [(int(r.pop("k")), r) for r in rows]


MONTH_WARD_COLUMNS = ("hospital_id", "hospital_name", "ward_name", "region_code", "care_type", "ward_kind")


def ward_month(db: ClickHouse, start: dt.datetime, end: dt.datetime, first: dt.date, sample_hour: int,
               tz: str = "Europe/Stockholm", lookback: dt.timedelta = dt.timedelta(days=2)) -> list[dict]:
    """Per ward, the sums behind the monthly bed statistics (streams.domain.bedstats) over [start, end), the
    calendar days from `first` in `tz`: staffed and occupied beds integrated over time (bed-milliseconds),
    and overcrowded, outliers and discharge-ready summed over the daily instants (`sample_hour`:00 local on
    each day). Each history row holds from its `at` until the ward's next row; the state at `start` is the
    newest row at or before it (found in the last `lookback`, or for quiet wards by ward_id, the table's
    key, as wards_at does). Names, care type and kind are the newest of the month. ClickHouse aggregates:
    one row per ward comes back."""
    utc = lambda t: t.astimezone(dt.timezone.utc).replace(tzinfo=None)  # noqa: E731
    p = {"start": utc(start), "end": utc(end), "since": utc(start - lookback), "first": first, "tz": tz,
         "hour_ms": sample_hour * 3_600_000}
    _, seen = db.query("SELECT DISTINCT ward_id FROM ward_status WHERE at >= {since:DateTime64(3)} "
                       "AND at <= {start:DateTime64(3)}", p)
    _, known = db.query("SELECT DISTINCT ward_id FROM ward_current")
    p["quiet"] = sorted({w for (w,) in known} - {w for (w,) in seen})
    cols = ("staffed_beds", "occupied", "overcrowded", "outliers", "discharge_ready", *MONTH_WARD_COLUMNS)
    plain = ", ".join(cols)
    meta = ", ".join(f"argMax({c}, (at, version)) AS {c}" for c in MONTH_WARD_COLUMNS)

    def before(x: str) -> str:
        # daily instants strictly before x: the whole days since `first`, and today's if x is past the hour
        # by the local clock (the hour is never in a DST gap or overlap: those are 02:00–03:00)
        return (f"(dateDiff('day', {{first:Date}}, toDate({x}, {{tz:String}})) + (toHour({x}, {{tz:String}}) * 3600000 "
                f"+ toMinute({x}, {{tz:String}}) * 60000 + toSecond({x}, {{tz:String}}) * 1000 "
                f"+ toUnixTimestamp64Milli({x}) % 1000 > {{hour_ms:Int64}}))")
    return db.query_dicts(
        f"SELECT ward_id, {meta}, "
        "toInt64(sum(staffed_beds * dur)) AS staffed_ms, toInt64(sum(occupied * dur)) AS occupied_ms, "
        "toInt64(sum(overcrowded * n)) AS overcrowded_days, toInt64(sum(outliers * n)) AS outliers_days, "
        "toInt64(sum(discharge_ready * n)) AS discharge_ready_days FROM ("
        f" SELECT *, greatest(toInt64(0), dateDiff('millisecond', s, e)) AS dur, greatest(0, {before('e')} - {before('s')}) AS n"
        "  FROM (SELECT *, greatest(at, {start:DateTime64(3)}) AS s,"
        "   least(leadInFrame(at, 1, toDateTime64({end:DateTime64(3)}, 3, 'UTC')) OVER w, {end:DateTime64(3)}) AS e"
        f"  FROM (SELECT ward_id, at, version, {plain} FROM ward_status"
        "   WHERE at >= {since:DateTime64(3)} AND at < {end:DateTime64(3)}"
        f"   UNION ALL SELECT ward_id, at, version, {plain} FROM ward_status"
        "   WHERE ward_id IN {quiet:Array(String)} AND at < {since:DateTime64(3)}"
        "   ORDER BY ward_id, at DESC, version DESC LIMIT 1 BY ward_id)"
        "  WINDOW w AS (PARTITION BY ward_id ORDER BY at, version ROWS BETWEEN CURRENT ROW AND 1 FOLLOWING)))"
        " GROUP BY ward_id ORDER BY ward_id", p)


def discharge_ready_stays(db: ClickHouse, start: dt.datetime, end: dt.datetime,
                          lookback: dt.timedelta = dt.timedelta(days=365)) -> list[dict]:
    """Per ward of discharge, the stays discharged in [start, end) that had been marked discharge-ready (at
    most `lookback` before the month): how many, and their time as discharge-ready summed (ms) — from the
    first DischargeReadyMarked of the stay to its PatientDischarged. A stay is per sender (stay ids are
    unique per sender); each event once, whatever copies the table holds."""
    utc = lambda t: t.astimezone(dt.timezone.utc).replace(tzinfo=None)  # noqa: E731
    return db.query_dicts(
        "SELECT ward_id, toInt64(count()) AS discharge_ready_stays, toInt64(sum(ms)) AS discharge_ready_ms FROM ("
        " SELECT argMaxIf(entity_key, occurred_at, event_type = 'PatientDischarged') AS ward_id,"
        "  maxIf(occurred_at, event_type = 'PatientDischarged') AS out,"
        "  minIf(occurred_at, event_type = 'DischargeReadyMarked') AS ready,"
        "  greatest(toInt64(0), dateDiff('millisecond', ready, out)) AS ms"
        " FROM events WHERE event_type IN ('DischargeReadyMarked', 'PatientDischarged')"
        "  AND occurred_at >= {since:DateTime64(3)} AND occurred_at < {end:DateTime64(3)}"
        " GROUP BY sender_id, JSONExtractString(payload, 'stay_id')"
        " HAVING countIf(event_type = 'PatientDischarged') > 0 AND countIf(event_type = 'DischargeReadyMarked') > 0"
        "  AND out >= {start:DateTime64(3)})"
        " GROUP BY ward_id ORDER BY ward_id",
        {"since": utc(start - lookback), "start": utc(start), "end": utc(end)})


def performed_counts(db: ClickHouse, start: dt.datetime, end: dt.datetime, segments: list[dt.date],
                     region: str | None = None, tz: str = "Europe/Stockholm", by: str | None = None,
                     age_lows: tuple[int, ...] = ()
                     ) -> list[tuple[str, str, int, int, int, int, int, dt.date, int | None]]:
    """Contacts performed (start of activity) in [start, end), phases 1–4, pre-aggregated for the flow
    measures (streams.domain.flow.PerformedRow's order): `(region, mvo_group, phase, wait_days, guarantee,
    deviation, count, segment, past_target)`. wait_days: calendar days in `tz` from the decision to the
    start; segment: the latest of `segments` (the days the limits may change) at or before the local day
    performed, so a month is a few groups per wait, not one per day. deviation: one is active at the start
    of activity (as Contact.deviation_on). past_target: performed on a local day after the medical target
    date (NULL without one). With `by` (BREAKDOWN_COLUMNS), a tenth field: the breakdown's stored value (for
    age bands a birth year standing for its band in the local year of the start of activity), grouped by
    like the others."""
    where = "AND region_code = {region:String}" if region else ""
    split = _split_column(by, "toYear(assumeNotNull(closed_at), {tz:String})")
    # one segment (most months): a constant, not an array search per contact
    seg = ("{first:Date}" if len(segments) == 1 else
           "arrayMax(arrayFilter(s -> s <= toDate(assumeNotNull(closed_at), {tz:String}), {segments:Array(Date)}))")
    _, rows = db.query(
        "SELECT region_code, mvo_group, phase, "
        "dateDiff('day', toDate(assumeNotNull(decided_at), {tz:String}), toDate(assumeNotNull(closed_at), {tz:String})) AS days, "
        # the deviation active at the start of activity: the last deviation event at or before it sets one
        # (notEmpty first: most contacts have none, and AND spares them the lambda)
        "guarantee, notEmpty(deviation_ids) AND "
        "arrayLast((k, t) -> t <= assumeNotNull(closed_at), deviation_kinds, deviation_ats) != '' AS dev, "
        f"count(), {seg} AS seg, "
        "if(medical_target_date IS NULL, NULL, toDate(assumeNotNull(closed_at), {tz:String}) > medical_target_date) "
        f"AS past{split} FROM waitlist_contacts FINAL "
        "WHERE status = 'performed' AND phase BETWEEN 1 AND 4 AND decided_at IS NOT NULL AND closed_at IS NOT NULL "
        f"AND closed_at >= {{start:DateTime64(3)}} AND closed_at < {{end:DateTime64(3)}} {where} "
        f"GROUP BY region_code, mvo_group, phase, days, guarantee, dev, seg, past{', split' if by else ''}",
        {"start": start.astimezone(dt.timezone.utc).replace(tzinfo=None),
         "end": end.astimezone(dt.timezone.utc).replace(tzinfo=None), "segments": segments, "first": segments[0], "tz": tz,
         "region": region or "", "lows": list(age_lows)})
    return rows  # as ClickHouse gives them: ints, 0/1 for the flags (NULL past: None)


def regions_with_deviations(db: ClickHouse, before: dt.datetime) -> set[str]:
    """Regions that have sent at least one DeviationSet (occurred before `before`). Existence only, so
    no FINAL: a resent event is the same region."""
    _, rows = db.query("SELECT DISTINCT region_code FROM events WHERE event_type = 'DeviationSet' "
                       "AND occurred_at < {before:DateTime64(3)}",
                       {"before": before.astimezone(dt.timezone.utc).replace(tzinfo=None)})
    return {r for (r,) in rows}


# -- data quality per region and month (streams/domain/quality.py applies the definitions) ----------------
def _naive_utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


def completeness_counts(db: ClickHouse, start: dt.datetime, end: dt.datetime, deadline: dt.datetime,
                        lookback_start: dt.datetime, waitlist_types: list[str],
                        event_types: list[str]) -> dict[tuple[str, str], dict]:
    """Per (region, contract) — contract `waitlist` for the event types in `waitlist_types`, else `beds` —
    the accepted events with occurred_at in [start, end) (`events`), of those first received at or after
    `deadline` (`late`), the rows with occurred_at in [lookback_start, start) (`before`: only whether there
    are any matters), and the dead letters of [start, end) (`rejected`). An event is counted once (by
    event_id) and received when its stored copy was written (ingested_at; the table keeps the newest copy,
    so an event written again later — a resend the worker no longer remembered — counts as received then). A dead letter's instant is the occurred_at
    its stored payload holds, or when unreadable its reception (`at`); its contract is its event type's,
    or when that is not one of `event_types` the topic's (`waitlist` in its name). A dead letter without a
    region code is in no region."""
    p = {"start": _naive_utc(start), "end": _naive_utc(end), "deadline": _naive_utc(deadline),
         "before": _naive_utc(lookback_start), "wl": list(waitlist_types)}
    _, rows = db.query(
        # the copies of an event are one event (uniqExact of the id); it is late when a copy was written at
        # or after the deadline: FINAL's reading (the table keeps the newest copy), without reading the whole
        # table's history as FINAL does, and the same before and after ClickHouse merges the copies
        "SELECT region_code, if(event_type IN {wl:Array(String)}, 'waitlist', 'beds') AS contract, "
        "uniqExactIf(event_id, occurred_at >= {start:DateTime64(3)}) AS n, "
        "uniqExactIf(event_id, occurred_at >= {start:DateTime64(3)} AND ingested_at >= {deadline:DateTime64(3)}) "
        "AS n_late, countIf(occurred_at < {start:DateTime64(3)}) AS n_before FROM events "
        "WHERE occurred_at >= {before:DateTime64(3)} AND occurred_at < {end:DateTime64(3)} "
        "GROUP BY region_code, contract", p)
    out: dict[tuple[str, str], dict] = {}
    for region, contract, events, late, before in rows:
        out[(region, contract)] = {"events": int(events), "late": int(late), "before": int(before), "rejected": 0}
    p["known"] = list(event_types)
    _, dead = db.query(
        "SELECT region_code, multiIf(event_type IN {wl:Array(String)}, 'waitlist', event_type IN {known:Array(String)}, "
        "'beds', position(source_topic, 'waitlist') > 0, 'waitlist', 'beds') AS contract, count() FROM ("
        " SELECT region_code, event_type, source_topic, ifNull(parseDateTime64BestEffortOrNull("
        "  JSONExtractString(payload, 'occurred_at'), 3, 'UTC'), at) AS t FROM deadletters FINAL WHERE region_code != '')"
        " WHERE t >= {start:DateTime64(3)} AND t < {end:DateTime64(3)} GROUP BY region_code, contract", p)
    for region, contract, n in dead:
        out.setdefault((region, contract), {"events": 0, "late": 0, "before": 0, "rejected": 0})["rejected"] = int(n)
    return out


def fill_counts(db: ClickHouse, start: dt.datetime, end: dt.datetime,
                fields: dict[str, tuple[str, ...]]) -> list[dict]:
    """Per region × event type × phase (0 for a type without one), the accepted events of the types in
    `fields` with occurred_at in [start, end) (`events`) and, per field of its type, how many carry a value
    (`present[field]`: the field in the stored EVENTS.md JSON is neither null nor absent). Each event once:
    one row per event_id (the table's key; its copies are the same event), which unlike FINAL does not
    read the whole table's history."""
    names = sorted({f for fs in fields.values() for f in fs})
    p = {"start": _naive_utc(start), "end": _naive_utc(end), "types": sorted(fields),
         **{f"f{i}": f for i, f in enumerate(names)}}
    present = ", ".join(f"countIf(JSONExtractRaw(payload, {{f{i}:String}}) NOT IN ('', 'null')) AS f{i}"
                        for i in range(len(names)))
    rows = db.query_dicts(
        f"SELECT region_code, event_type, toUInt8(JSONExtractUInt(payload, 'phase')) AS phase, count() AS events, "
        f"{present} FROM (SELECT region_code, event_type, payload FROM events WHERE event_type IN {{types:Array(String)}} "
        "AND occurred_at >= {start:DateTime64(3)} AND occurred_at < {end:DateTime64(3)} LIMIT 1 BY event_id) "
        "GROUP BY region_code, event_type, phase ORDER BY region_code, event_type, phase", p)
    return [{"region_code": r["region_code"], "event_type": r["event_type"], "phase": int(r["phase"]) or None,
             "events": int(r["events"]),
             "present": {f: int(r[f"f{i}"]) for i, f in enumerate(names) if f in fields[r["event_type"]]}}
            for r in rows]


def waitlist_counts_by_region(db: ClickHouse, at: dt.datetime, tz: str = "Europe/Stockholm"
                              ) -> dict[str, list[tuple[str, int, int, bool, bool, int, bool | None]]]:
    """waitlist_counts for every region at once (one scan): region → its rows, the same reading of
    "waiting at `at`" and "deviation active at `at`" (the shared SQL text above)."""
    at_utc = _naive_utc(at)
    today = at.astimezone(ZoneInfo(tz)).date()
    _, rows = db.query(
        f"SELECT region_code, {_WAITING_COLUMNS} FROM waitlist_contacts FINAL WHERE {_WAITING_AT} "
        "GROUP BY region_code, mvo_group, phase, days, guarantee, dev, past",
        {"at": at_utc, "at6": at_utc, "tz": tz, "today": today})
    out: dict[str, list] = {}
    for region, g, p, d, gu, dv, n, past in rows:
        out.setdefault(region, []).append((g, int(p), int(d), bool(gu), bool(dv), int(n),
                                           None if past is None else bool(past)))
    return out


def plausibility_counts(db: ClickHouse, months: list[tuple[dt.datetime, dt.datetime]]
                        ) -> dict[tuple[str, str], list[int]]:
    """Per (region, measure) one count per span of `months` ([start, end) each): `contacts_decided`
    (contacts of phases 1–4 whose decision lies in the span), `contacts_performed` (closed as performed,
    phases 1–4, start of activity in the span: the performed flow's population) and `admissions`
    (accepted PatientAdmitted events occurring in the span, each once: uniqExact of the event_id, as
    out_of_area_window_kinds counts them)."""
    p = {f"{k}{i}": _naive_utc(t) for i, (s, e) in enumerate(months) for k, t in (("s", s), ("e", e))}
    span = lambda col, i: f"{col} >= {{s{i}:DateTime64(3)}} AND {col} < {{e{i}:DateTime64(3)}}"  # noqa: E731
    decided = ", ".join(f"countIf({span('decided_at', i)})" for i in range(len(months)))
    performed = ", ".join(f"countIf(status = 'performed' AND decided_at IS NOT NULL AND {span('closed_at', i)})"
                          for i in range(len(months)))
    admitted = ", ".join(f"uniqExactIf(event_id, {span('occurred_at', i)})" for i in range(len(months)))
    any_span = " OR ".join(f"({span('occurred_at', i)})" for i in range(len(months)))
    out: dict[tuple[str, str], list[int]] = {}
    _, rows = db.query(f"SELECT region_code, {decided}, {performed} FROM waitlist_contacts FINAL "
                       "WHERE phase BETWEEN 1 AND 4 GROUP BY region_code", p)
    n = len(months)
    for region, *counts in rows:
        out[(region, "contacts_decided")] = [int(c) for c in counts[:n]]
        out[(region, "contacts_performed")] = [int(c) for c in counts[n:]]
    _, rows = db.query(f"SELECT region_code, {admitted} FROM events WHERE event_type = 'PatientAdmitted' "
                       f"AND ({any_span}) GROUP BY region_code", p)
    for region, *counts in rows:
        out[(region, "admissions")] = [int(c) for c in counts]
    return out
