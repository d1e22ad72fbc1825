"""The analysts' ClickHouse access (migration 007 and sinks/migrations/analyst_grants.sql) on the real
engine (chDB), filled by the real processor and sink: the v_analyst_* views hold no count of 1..4 below
region level and hide at least what the API hides; the grants give the analysts' role SELECT on exactly
those views, never a table. chDB has no users, so the grant statements are parsed by the engine here
and run by deploy/ on a real server."""
from __future__ import annotations

import datetime as dt
import re
from importlib import resources

import pytest

from schemas.codec import SchemaSet
from schemas.generate import published_schemas
from sinks.clickhouse import ClickHouse, _statements, migrations
from sinks.writer import Sink
from streams.processor import BEDS, WAITLIST, Processor
from tests.test_access import bed_events, records, waitlist_events
from web.policy import ViewPolicy
from web.snapshots import close_month
from web.suppression import small, suppress_wait_row

GRANTS = resources.files("sinks").joinpath("migrations/analyst_grants.sql").read_text(encoding="utf-8")
MONTH = dt.date(2026, 11, 1)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = ClickHouse(f"chdb://{tmp_path_factory.mktemp('analyst') / 'ch'}")
    db.migrate()
    codec = SchemaSet(published_schemas())
    batch, _ = Processor(codec, epoch="t").process(
        records(codec, BEDS, bed_events()) + records(codec, WAITLIST, waitlist_events()))
    Sink(db).write(batch.rows)
    close_month(db, MONTH, ViewPolicy())
    try:
        yield db
    finally:
        db.close()


def analyst_views(db) -> set[str]:
    _, rows = db.query("SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'v_analyst_%'")
    return {n for (n,) in rows}


def test_the_grants_give_select_on_the_analyst_views_only(db):
    statements = _statements(GRANTS)
    granted = set()
    for s in statements:
        db.query(f"EXPLAIN AST {s}")  # the engine's own parser: a typo fails here, not in production
        if s.startswith("GRANT SELECT"):
            m = re.fullmatch(r"GRANT SELECT ON (\w+) TO bedflow_analyst", s)
            assert m, s
            granted.add(m.group(1))
        elif s.startswith("GRANT "):
            assert s == "GRANT bedflow_analyst TO bedflow_analyst_reader", s
    assert granted == analyst_views(db) and len(granted) == 4
    assert "REVOKE ALL ON *.* FROM bedflow_analyst" in statements
    assert "readonly = 1" in GRANTS and "BY '${BEDFLOW_ANALYST_PASSWORD_SHA256}'" in GRANTS  # no password here
    assert "analyst_grants.sql" not in {name for _, name, _ in migrations()}  # never run by migrate()


def test_the_views_read_the_tables_with_their_definer_rights(db):
    for view in analyst_views(db):
        _, ((create,),) = db.query(f"SHOW CREATE TABLE {view}")
        assert "SQL SECURITY DEFINER" in create, view
    # no hospital or ward column in any analyst view: capacity detail is a grant, given through the API
    _, cols = db.query("SELECT table, name FROM system.columns WHERE database = currentDatabase() "
                       "AND table LIKE 'v_analyst_%'")
    assert not {n for _, n in cols} & {"ward_id", "hospital_id", "ward_name", "hospital_name", "patient_ref"}


def test_region_status_is_the_api_region_level(db):
    rows = {r["region_code"]: r for r in db.query_dicts("SELECT * FROM v_analyst_region_status")}
    assert {k: int(r["occupied"]) for k, r in rows.items()} == {"01": 26, "03": 1, "12": 2}
    assert (int(rows["01"]["staffed_beds"]), int(rows["01"]["free_beds"])) == (56, 30)
    margins = {r["region_code"]: (int(r["patients_treated_elsewhere"]), int(r["patients_from_elsewhere"]))
               for r in db.query_dicts("SELECT * FROM v_analyst_out_of_area_region")}
    assert margins == {"01": (1, 2), "03": (2, 0), "12": (0, 1)}


def test_waitlist_snapshots_hide_at_least_what_the_api_hides(db):
    raw = {(r["region_code"], r["mvo_group"], r["phase"]): r for r in db.query_dicts(
        "SELECT * EXCEPT (closed_at) FROM waitlist_snapshots FINAL WHERE month = {m:Date}", {"m": MONTH})}
    view = {(r["region_code"], r["mvo_group"], r["phase"]): r for r in db.query_dicts(
        "SELECT * EXCEPT (closed_at) FROM v_analyst_waitlist_snapshots WHERE month = {m:Date}", {"m": MONTH})}
    assert set(view) == set(raw) and len(raw) == 2
    counts = ("waiting", "le_30", "le_60", "le_90", "le_180", "gt_180")
    for key, r in view.items():
        for f in counts:
            assert not small(r[f], 4), (key, f)
        api = suppress_wait_row(raw[key], 4)
        for f in (*counts, "share_within_limit", "share_over_180"):
            if api[f] is None and raw[key][f] is not None:
                assert r[f] is None, (key, f)  # the view never shows what the API hides
    by_region = {key[0]: r for key, r in view.items()}
    assert by_region["12"]["waiting"] == 8 and by_region["12"]["le_60"] is None and by_region["12"]["le_30"] is None
    assert by_region["01"]["waiting"] is None


def test_analyst_grants_take_only_a_hash_and_refuse_the_embedded_engine(db, tmp_path):
    import hashlib
    import os
    import subprocess
    import sys

    from sinks.clickhouse import analyst_grant_statements

    digest = hashlib.sha256(b"ett hemligt l\xc3\xb6senord").hexdigest()
    statements = analyst_grant_statements(digest)
    assert len(statements) == len(_statements(GRANTS)) and not any("${" in s for s in statements)
    user = next(s for s in statements if s.startswith("CREATE USER"))
    assert f"BY '{digest}'" in user
    db.query(f"EXPLAIN AST {user}")  # still a statement the engine parses
    for bad in ("", "secret", digest[:-1] + "'", digest + "00"):  # a plain password or an injection: refused
        with pytest.raises(ValueError):
            analyst_grant_statements(bad)
    r = subprocess.run([sys.executable, "-m", "bedflow.cli", "analyst-grants", "--data-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "BEDFLOW_ANALYST_PASSWORD_SHA256": digest})
    assert r.returncode == 2 and "chDB" in r.stderr and "Traceback" not in r.stderr
