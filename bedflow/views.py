"""The roof's door to web/: the one place that turns the settings and the config file into the view
policy, and builds the page and API (and the PDF morning report) from it."""
from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from bedflow.config import Config
from bedflow.settings import Settings
from web.access import NATIONAL, Scope
from web.api import create_app
from web.policy import ViewPolicy


def view_policy(settings: Settings, config: Config) -> ViewPolicy:
    return ViewPolicy(
        timezone=settings.timezone,
        stale_after_minutes=settings.stale_after_minutes,
        small_count_threshold=settings.small_count_threshold,
        morning_hour=settings.morning_hour,
        escalation=config.escalation,
        limits=config.limits,
        exclude_deviations=config.exclude_deviations,
        tokens=tuple(config.tokens),
        public_paths=tuple(config.public_paths),
        audit_log=settings.resolved_audit_log(),
        leave_policy=settings.leave_policy,
        detail_grants=config.detail_grants,
    )


def api_app(db, settings: Settings, config: Config, metrics, admin_token: str):
    # the processes that serve the API (worker, serve) also close each month's snapshot when due
    return create_app(db, view_policy(settings, config), metrics, admin_token, close_snapshots=True)


def report_pdf(settings: Settings, config: Config, day: dt.date, out_path: Path) -> Path:
    """The morning report as PDF, for the meeting's printout: a national viewer's report with hospitals
    (small counts hidden below region level), as a national reader granted detail gets it from the API.
    Whoever runs this command reads the store directly, so holds more than that grant already."""
    from sinks.clickhouse import ClickHouse
    from web.morning import build_morning_report
    from web.pdf import html_to_pdf
    from web.report_html import render_morning_report

    policy = view_policy(settings, config)
    policy = replace(policy, detail_grants=policy.detail_grants | {NATIONAL.name})
    db = ClickHouse(settings.resolved_clickhouse_dsn())
    try:
        db.migrate()
        report = build_morning_report(db, day, policy, Scope(NATIONAL, policy.small_count_threshold))
    finally:
        db.close()
    html_to_pdf(render_morning_report(report), out_path)
    return Path(out_path)
