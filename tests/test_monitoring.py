"""deploy/monitoring/ checked against the code: every metric (and label) the dashboard and the alert rules
name is one the worker exports, every alert links a runbook section that exists in OPERATIONS.md, the
ServiceMonitor finds the worker and web pods, and the files parse."""
from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.parser import text_string_to_metric_families

from bedflow.metrics import Metrics

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
MONITORING = DEPLOY / "monitoring"
K8S = DEPLOY / "k8s"
OPERATIONS = DEPLOY / "OPERATIONS.md"
# Labels Prometheus adds to every scraped series (ServiceMonitor target labels), not the code's.
TARGET_LABELS = {"job", "instance", "pod", "namespace", "service", "container", "endpoint"}
# Words in PromQL that look like names: functions, keywords.
PROMQL_WORDS = {"sum", "max", "min", "avg", "count", "by", "without", "rate", "increase", "delta", "deriv",
                "time", "histogram_quantile", "and", "or", "unless", "offset", "vector", "le", "on", "ignoring",
                "bool", "abs", "clamp_min", "topk", "bottomk"}


def exported() -> dict[str, set[str]]:
    """Every series name the worker's /metrics can show, with its labels: one child of every metric,
    rendered and parsed in the exposition format Prometheus reads."""
    m = Metrics()
    for c in vars(m).values():
        if isinstance(c, (Counter, Gauge, Histogram)):
            child = c.labels(*("x" for _ in c._labelnames)) if c._labelnames else c
            (child.observe(1) if isinstance(c, Histogram) else child.inc() if isinstance(c, Counter) else child.set(1))
    out: dict[str, set[str]] = {}
    for fam in text_string_to_metric_families(m.render().decode()):
        for s in fam.samples:
            out.setdefault(s.name, set()).update(set(s.labels) - {"le"})
    return out


def dashboard() -> dict:
    return json.loads((MONITORING / "bedflow-dashboard.json").read_text())


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", [])]


def alert_rules() -> list[dict]:
    doc = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return [r for g in doc["spec"]["groups"] for r in g["rules"]]


def all_exprs() -> list[tuple[str, str]]:
    return ([(f"dashboard: {e}", e) for e in dashboard_exprs()] +
            [(f"alert {r['alert']}", r["expr"]) for r in alert_rules()])


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bbedflow_[a-z0-9_]+\b", expr))


def heading_anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in markdown.splitlines():
        if m := re.match(r"#{1,6}\s+(.*)", line):
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-"))
    return out


# -- parse ---------------------------------------------------------------------------------------------

def test_files_parse_and_kustomize_lists_them():
    kust = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert kust["kind"] == "Component"
    listed = set(kust["resources"]) | {f for g in kust["configMapGenerator"] for f in g["files"]}
    assert listed == {p.name for p in MONITORING.iterdir()} - {"kustomization.yaml"}
    for name in kust["resources"]:
        for d in yaml.safe_load_all((MONITORING / name).read_text()):
            assert d["apiVersion"] and d["kind"] and d["metadata"]["namespace"] == "bedflow", name
    assert "../monitoring" in yaml.safe_load((K8S / "kustomization.yaml").read_text()).get("components", [])
    d = dashboard()
    assert d["uid"] and d["title"] and d["panels"]
    ids = [p["id"] for p in d["panels"]]
    assert len(ids) == len(set(ids))
    assert all(t["expr"].strip() for p in d["panels"] for t in p.get("targets", []))


def test_kustomize_builds_the_monitoring():
    if not shutil.which("kubectl"):
        pytest.skip("kubectl not available")
    r = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(r.stdout) if d}
    assert ("ServiceMonitor", "bedflow") in docs and ("PrometheusRule", "bedflow") in docs
    cm = docs[("ConfigMap", "bedflow-grafana-dashboard")]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["bedflow-dashboard.json"]) == dashboard()


# -- metrics named exist -------------------------------------------------------------------------------

def test_every_metric_named_is_exported():
    names = exported()
    used = set()
    for where, expr in all_exprs():
        for name in metric_names(expr):
            assert name in names, f"{where}: {name} is not on the worker's /metrics"
            used.add(name)
    # the metrics issue 13 asked for are on the dashboard
    for name in ("bedflow_consumer_lag", "bedflow_region_last_event_timestamp_seconds",
                 "bedflow_sender_last_event_timestamp_seconds", "bedflow_batch_duration_seconds_bucket",
                 "bedflow_api_request_duration_seconds_bucket"):
        assert name in used, name
    assert "bedflow_sink_lag_seconds" not in names


def test_labels_named_exist():
    names = exported()
    for where, expr in all_exprs():
        own = set().union(*(names[n] for n in metric_names(expr)))
        for name, matchers in re.findall(r"\b(bedflow_[a-z0-9_]+)\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*[=!~]", matchers):
                assert label in names[name] | TARGET_LABELS, f"{where}: {name} has no label {label}"
        for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            for label in (x.strip() for x in group.split(",")):
                assert label in own | TARGET_LABELS | {"le"}, f"{where}: no metric of it has label {label}"


def test_alert_templates_name_labels_the_result_has():
    names = exported()
    for r in alert_rules():
        expr = r["expr"]
        groups = re.findall(r"\bby\s*\(([^)]*)\)", expr)
        if groups:  # aggregated: only the outermost grouping's labels survive
            kept = {x.strip() for x in groups[0].split(",")} - {"le"}
        else:
            kept = set().union(*(names[n] for n in metric_names(expr))) | TARGET_LABELS
        for text in r["annotations"].values():
            for label in re.findall(r"\$labels\.(\w+)", text):
                assert label in kept, f"{r['alert']}: {{{{ $labels.{label} }}}} is not a label of its result"


# -- alerts and runbooks ---------------------------------------------------------------------------------

def test_the_alerts_issue_13_asked_for():
    rules = {r["alert"]: r for r in alert_rules()}
    assert {"BedflowRegionSilent", "BedflowSinkDown", "BedflowConsumerLagGrowing",
            "BedflowDeadLettersRising"} <= set(rules)
    assert "bedflow_region_last_event_timestamp_seconds" in rules["BedflowRegionSilent"]["expr"]
    assert "time()" in rules["BedflowRegionSilent"]["expr"]  # a timestamp, so silence keeps growing
    assert "bedflow_sink_up" in rules["BedflowSinkDown"]["expr"]
    assert "bedflow_consumer_lag" in rules["BedflowConsumerLagGrowing"]["expr"]
    assert 'table="deadletters"' in rules["BedflowDeadLettersRising"]["expr"]
    for r in rules.values():
        assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        assert r["annotations"]["summary"] and r["annotations"]["description"], r["alert"]


def test_every_runbook_url_has_its_section():
    text = OPERATIONS.read_text()
    anchors = heading_anchors(text)
    assert "alerts-and-runbooks" in anchors
    section = text.split("## Alerts and runbooks", 1)[1]
    for r in alert_rules():
        url = r["annotations"]["runbook_url"]
        page, _, anchor = url.partition("#")
        assert page.endswith("/deploy/OPERATIONS.md"), url
        assert anchor == r["alert"].lower(), url  # one section per alert, named after it
        assert anchor in anchors, f"{r['alert']}: no heading for #{anchor} in OPERATIONS.md"
        assert f"### {r['alert']}" in section, f"{r['alert']}: its runbook is not in 'Alerts and runbooks'"


# -- scraping --------------------------------------------------------------------------------------------

def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _matches(selector: dict, labels: dict) -> bool:
    for e in selector.get("matchExpressions", []):
        assert e["operator"] == "In", e
        if labels.get(e["key"]) not in e["values"]:
            return False
    return selector.get("matchLabels", {}).items() <= labels.items()


def test_service_monitor_scrapes_worker_and_web():
    (sm,) = _docs(MONITORING / "servicemonitor.yaml")
    services = [d for d in _docs(MONITORING / "worker-metrics-service.yaml") + _docs(K8S / "60-web.yaml")
                if d["kind"] == "Service"]
    deployments = {d["metadata"]["name"]: d for p in (K8S / "50-worker.yaml", K8S / "60-web.yaml")
                   for d in _docs(p) if d["kind"] == "Deployment"}
    (endpoint,) = sm["spec"]["endpoints"]
    scraped = set()
    for svc in services:
        if not _matches(sm["spec"]["selector"], svc["metadata"]["labels"]):
            continue
        port = next(p for p in svc["spec"]["ports"] if p["name"] == endpoint["port"])
        pods = [d for d in deployments.values()
                if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(pods) == 1, svc["metadata"]["name"]
        (container,) = [c for c in pods[0]["spec"]["template"]["spec"]["containers"]]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        target = port["targetPort"]
        assert (ports.get(target) if isinstance(target, str) else target) == 8080
        scraped.add(pods[0]["metadata"]["name"])
    assert scraped == {"bedflow-worker", "bedflow-web"}
    assert sm["spec"]["jobLabel"] in deployments["bedflow-worker"]["metadata"]["labels"]
    # Prometheus has no token: /metrics must be public in the deployed configuration
    cm = next(d for d in _docs(K8S / "10-config.yaml") if d["metadata"]["name"] == "bedflow-config")
    assert endpoint["path"] in tomllib.loads(cm["data"]["bedflow.toml"])["access"]["public"]


# -- JSON logs -------------------------------------------------------------------------------------------

PIN = "19121212-1212"  # the Tax Agency's test person: a valid identity number


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers:
        h.close()
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_json_logs_one_redacted_object_a_line(tmp_path, monkeypatch, restore_logging, how):
    from bedflow.cli import _logging

    log_file = tmp_path / "bedflow.log"
    if how == "argument":
        _logging("info", str(log_file), "json")
    else:
        from bedflow.settings import Settings

        monkeypatch.setenv("BEDFLOW_LOG_FORMAT", "json")
        _logging("info", str(log_file), Settings().log_format)
    log = logging.getLogger("bedflow.test")
    log.info("record %s refused: personnummer %s, ward åäö \"quoted\"", 7, PIN)
    try:
        raise ValueError(f"bad value\n{PIN.replace('-', '')}")
    except ValueError:
        log.exception("batch failed")
    for h in logging.getLogger().handlers:
        h.flush()
    text = log_file.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert len(lines) == 2, text  # a traceback stays inside its line
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["logger"] == "bedflow.test"
    assert first["message"] == 'record 7 refused: personnummer [REDACTED-PIN], ward åäö "quoted"'
    assert first["time"].endswith("+00:00")
    assert second["message"] == "batch failed" and "ValueError" in second["exc"]
    assert PIN not in text and PIN.replace("-", "") not in text and "[REDACTED-PIN]" in second["exc"]


def test_text_logs_stay_the_default(tmp_path, monkeypatch, restore_logging):
    from bedflow.cli import _logging

    monkeypatch.delenv("BEDFLOW_LOG_FORMAT", raising=False)
    log_file = tmp_path / "bedflow.log"
    _logging("info", str(log_file))
    logging.getLogger("bedflow.test").info("personnummer %s", PIN)
    for h in logging.getLogger().handlers:
        h.flush()
    line = log_file.read_text()
    assert "INFO bedflow.test: personnummer [REDACTED-PIN]" in line and not line.startswith("{")
    from pydantic import ValidationError

    from bedflow.settings import Settings

    with pytest.raises(ValidationError, match="log_format"):
        Settings(log_format="xml")
