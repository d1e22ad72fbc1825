"""The one CLI: `bedflow <command>`. Each command is a thin edge over the domain and the services."""
from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections import Counter
from pathlib import Path

from bedflow.settings import Settings


def _settings(args) -> Settings:
    overrides = {}
    for name in ("bootstrap", "schema_registry_url", "clickhouse_dsn", "data_dir", "port", "host", "config_file",
                 "partitions", "log_epoch"):
        v = getattr(args, name, None)
        if v is not None:
            overrides[name] = v
    return Settings(**overrides)


def _config(settings: Settings):
    from bedflow.config import Config

    return Config.load(settings.config_file)


# -- validate -----------------------------------------------------------------------------------------
def cmd_validate(args) -> int:
    from schemas.generate import published_schemas
    from schemas.codec import SchemaSet
    from bedflow.files import COD005_NOT_CHECKED, UnusableInput, read_items, validation_context
    from schemas.rules import decoding_verdict, validate_record

    settings = _settings(args)
    config = _config(settings)
    codec = SchemaSet(published_schemas())
    try:
        items = [it for f in args.files for it in read_items(Path(f), codec)]
    except UnusableInput as e:
        print(f"bedflow validate: {e}", file=sys.stderr)
        return 2
    ctx = validation_context(items, config, settings.clock_skew_seconds)
    tally, rules = Counter(), Counter()
    for it in items:
        v = decoding_verdict(*it.error) if it.error else validate_record(it.record, ctx)
        tally[v.status] += 1
        rules.update(v.rule_ids)
        if v.status == "accepted" and not args.verbose:
            continue
        print(f"{it.where}\t{v.status}")
        for x in v.violations:
            print(f"    {x.rule_id} [{x.severity}] {x.message}")
    total = sum(tally.values())
    detail = ", ".join(f"{r}×{n}" for r, n in sorted(rules.items()))
    print(f"{total} records: {tally['accepted']} accepted, {tally['finding']} accepted with findings, "
          f"{tally['rejected']} rejected" + (f" ({detail})" if detail else ""))
    if ctx.known_wards is None:
        print(COD005_NOT_CHECKED)
    return 1 if tally["rejected"] else 0


# -- schemas ------------------------------------------------------------------------------------------
def cmd_schemas(args) -> int:
    from schemas import generate

    if args.write:
        for p in generate.write():
            print(p)
        return 0
    drift = [name for name, schema in generate.all_schemas().items()
             if not (generate.AVSC_DIR / f"{name}.avsc").exists()
             or (generate.AVSC_DIR / f"{name}.avsc").read_text(encoding="utf-8") != generate.render(schema)]
    for name in drift:
        print(f"out of date: {name}.avsc (run `bedflow schemas --write`)")
    return 1 if drift else 0


def cmd_rules(args) -> int:
    from schemas.rules import describe_rules

    for r in describe_rules():
        print(f"{r['id']}  {r['family']:<8} {r['severity']:<7} {r['title']}\n          {r['advice']}")
    return 0


# -- worker / serve / up ------------------------------------------------------------------------------
def _logging(level: str, log_file: str = "", log_format: str = "text"):
    """The log to stderr, or to `log_file` with only warnings and errors on stderr too; "text" or "json"
    lines (BEDFLOW_LOG_FORMAT), every one redacted (schemas.privacy.log_formatter)."""
    from schemas.privacy import log_formatter

    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers[0].setLevel(logging.WARNING)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    for handler in handlers:
        handler.setFormatter(log_formatter(log_format))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=handlers, force=True)


def _admin_token(settings: Settings) -> str:
    import secrets

    return settings.admin_token or secrets.token_urlsafe(24)


def cmd_worker(args) -> int:
    from bedflow import worker
    from streams.broker import wait_for_broker

    settings = _settings(args)
    _logging(settings.log_level, settings.log_file, settings.log_format)
    if not settings.bootstrap:
        print("bedflow worker: no broker given (--bootstrap or BEDFLOW_BOOTSTRAP); `bedflow up` starts one",
              file=sys.stderr)
        return 2
    if not wait_for_broker(settings.bootstrap, timeout=20, **settings.kafka_config()):
        print(f"bedflow worker: the Kafka broker at {settings.bootstrap} does not answer", file=sys.stderr)
        return 2
    token = _admin_token(settings)
    if not args.no_api and not settings.admin_token:
        print(f"admin token: {token}", flush=True)
    return worker.run(settings, _config(settings), admin_token=token, serve_api=not args.no_api)


def cmd_serve(args) -> int:

    from aiohttp import web

    from bedflow.metrics import Metrics
    from sinks.clickhouse import ClickHouse
    from bedflow.views import api_app

    settings = _settings(args)
    _logging(settings.log_level, settings.log_file, settings.log_format)
    db = ClickHouse(settings.resolved_clickhouse_dsn())
    db.migrate()
    token = _admin_token(settings)
    if not settings.admin_token:
        print(f"admin token: {token}", flush=True)
    app = api_app(db, settings, _config(settings), Metrics(), token)
    web.run_app(app, host=settings.host, port=settings.port, print=lambda *_: None,
                access_log=None)  # the access module audits every request, without secrets
    return 0


def cmd_analyst_grants(args) -> int:
    """The analysts' read-only ClickHouse user (deploy/ runs this as a Job)."""
    from sinks.clickhouse import ClickHouse

    settings = _settings(args)
    _logging(settings.log_level, settings.log_file, settings.log_format)
    dsn = settings.resolved_clickhouse_dsn()
    if dsn.startswith("chdb:"):
        print("bedflow analyst-grants: the embedded engine (chDB) has no users; give a ClickHouse server "
              "(BEDFLOW_CLICKHOUSE_DSN=http(s)://…)", file=sys.stderr)
        return 2
    db = ClickHouse(dsn)
    try:
        db.migrate()  # the views the grants name
        n = db.grant_analysts(settings.analyst_password_sha256)
    except ValueError as e:
        print(f"bedflow analyst-grants: {e} (BEDFLOW_ANALYST_PASSWORD_SHA256)", file=sys.stderr)
        return 2
    finally:
        db.close()
    print(f"analysts' role and read-only user granted ({n} statements)")
    return 0


def cmd_up(args) -> int:
    from bedflow.up import up

    settings = _settings(args)
    if not settings.log_file:  # the console shows bedflow's own lines; everything is in the file
        settings = settings.model_copy(update={"log_file": str(settings.data_dir / "logs" / "bedflow.log")})
    _logging(settings.log_level, settings.log_file, settings.log_format)
    return up(settings, _config(settings), simulate=args.simulate, sim_seed=args.seed, sim_scale=args.scale,
              sim_days=args.days)


# -- publish / simulate / report ------------------------------------------------------------------------
def cmd_publish(args) -> int:
    from bedflow.publish import publish_files

    settings = _settings(args)
    return publish_files(settings, _config(settings), [Path(f) for f in args.files], progress=not args.quiet)


def cmd_simulate(args) -> int:
    from bedflow.publish import simulate_command

    settings = _settings(args)
    return simulate_command(settings, _config(settings), args)


def cmd_report(args) -> int:
    from bedflow.views import report_pdf

    settings = _settings(args)
    day = dt.date.fromisoformat(args.date) if args.date else dt.date.today()
    out = report_pdf(settings, _config(settings), day, Path(args.out))
    print(f"wrote {out}")
    return 0


def _common(p: argparse.ArgumentParser, broker=True, store=True, web=False):
    p.add_argument("--config", dest="config_file", type=Path, help="TOML config file (rules, limits, tokens)")
    if broker:
        p.add_argument("--bootstrap", help="Kafka bootstrap HOST:PORT (default: embedded broker)")
        p.add_argument("--schema-registry", dest="schema_registry_url", help="Confluent Schema Registry URL")
    if store:
        p.add_argument("--clickhouse", dest="clickhouse_dsn", help="ClickHouse DSN (default chdb://DATA_DIR/clickhouse)")
        p.add_argument("--data-dir", type=Path, help="data directory (default .bedflow)")
    if web:
        p.add_argument("--port", type=int, help="HTTP port (default 8080)")
        p.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="bedflow", description="Near-real-time bed capacity and waiting lists.")
    sub = ap.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="validate event files (JSON lines, CSV, Avro single-object)")
    p.add_argument("files", nargs="+")
    p.add_argument("-v", "--verbose", action="store_true", help="also list accepted records")
    p.add_argument("--config", dest="config_file", type=Path)
    p.set_defaults(fn=cmd_validate)

    p = sub.add_parser("schemas", help="check (or --write) the Avro schemas generated from the model")
    p.add_argument("--write", action="store_true")
    p.set_defaults(fn=cmd_schemas)

    p = sub.add_parser("rules", help="list the validation rules")
    p.set_defaults(fn=cmd_rules)

    p = sub.add_parser("up", help="run the whole platform: broker, processors, ClickHouse, page and API")
    _common(p, web=True)
    p.add_argument("--partitions", type=int)
    p.add_argument("--simulate", action="store_true", help="feed it with simulated regions")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=float, default=0.1, help="simulated size relative to Sweden (default 0.1)")
    p.add_argument("--days", type=float, default=1.0, help="simulated history to catch up on at start")
    p.set_defaults(fn=cmd_up)

    p = sub.add_parser("worker", help="run the stream processors and the ClickHouse sink (and the API)")
    _common(p, web=True)
    p.add_argument("--partitions", type=int)
    p.add_argument("--epoch", dest="log_epoch", help="log epoch of the topics (see README)")
    p.add_argument("--no-api", action="store_true")
    p.set_defaults(fn=cmd_worker)

    p = sub.add_parser("serve", help="serve the page and API from a ClickHouse server")
    _common(p, broker=False, web=True)
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("analyst-grants", help="create the analysts' read-only ClickHouse user (a server, not chDB)")
    _common(p, broker=False)
    p.set_defaults(fn=cmd_analyst_grants)

    p = sub.add_parser("publish", help="validate, encode and send event files to the platform")
    _common(p, store=False)
    p.add_argument("files", nargs="+")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(fn=cmd_publish)

    p = sub.add_parser("simulate", help="simulated regions: publish or write JSON lines")
    _common(p, store=False)
    p.add_argument("--regions", help="comma-separated region codes (default: all 21)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--scale", type=float, default=0.1)
    p.add_argument("--days", type=float, default=1.0)
    p.add_argument("--speed", type=float, default=0.0, help="simulated seconds per real second (0 = as fast as possible)")
    p.add_argument("--start", help="simulated start instant (ISO; default: now minus --days)")
    p.add_argument("--duplicates", type=float, default=0.0)
    p.add_argument("--late", type=float, default=0.0)
    p.add_argument("--malformed", type=float, default=0.0)
    p.add_argument("--silent-region", action="append", default=[])
    p.add_argument("--only", choices=("beds", "waitlist"), help="only bed events or only waiting-list events")
    p.add_argument("--out", help="write JSON lines to this file instead of publishing")
    p.set_defaults(fn=cmd_simulate)

    p = sub.add_parser("report", help="the morning report as PDF")
    _common(p, broker=False)
    p.add_argument("--date", help="YYYY-MM-DD (default today)")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_report)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
