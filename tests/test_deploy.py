"""Static checks of the production layout under deploy/ (no Docker engine or cluster needed).

`docker compose config` / `kubectl kustomize` are used only when the binaries work; otherwise skipped."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from bedflow.cli import parser as cli_parser  # noqa: E402
from bedflow.config import Config  # noqa: E402
from bedflow.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"
OPERATIONS = DEPLOY / "OPERATIONS.md"

BRIEF_COMMANDS = {"up", "worker", "serve", "publish", "simulate", "validate", "report"}
STORE_ONLY_COMMANDS = {"analyst-grants", "report"}  # talk to ClickHouse only, never to Kafka
POD_KINDS = {"Deployment", "StatefulSet", "Job", "DaemonSet", "ReplicaSet", "CronJob"}


def _subcommands() -> set[str]:
    ap = cli_parser()
    for action in ap._actions:  # argparse keeps subparsers as an action
        if hasattr(action, "choices") and isinstance(action.choices, dict):
            return set(action.choices)
    raise AssertionError("bedflow CLI has no subcommands")


SUBCOMMANDS = _subcommands()


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def _k8s_docs() -> list[dict]:
    docs = []
    for p in sorted(K8S.glob("*.yaml")):
        if p.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(p.read_text()) if d]
    return docs


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _pod_spec(doc: dict) -> dict | None:
    if doc.get("kind") not in POD_KINDS:
        return None
    spec = doc["spec"]
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return spec["template"]["spec"]


def _containers(pod: dict) -> list[dict]:
    return list(pod.get("initContainers", [])) + list(pod.get("containers", []))


def _k8s_containers():
    """(document, pod spec, container) for every container, init containers too, of every k8s pod."""
    for d in _k8s_docs():
        pod = _pod_spec(d)
        if pod is not None:
            for c in _containers(pod):
                yield d, pod, c


def _bedflow_image(image: str) -> bool:
    name = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return name == "bedflow"


def _k8s(kind: str, name: str) -> dict:
    for d in _k8s_docs():
        if d["kind"] == kind and d["metadata"]["name"] == name:
            return d
    raise AssertionError(f"no {kind} {name} in deploy/k8s")


# --- parsing ---------------------------------------------------------------------------------------

def test_layout_exists():
    for p in (DOCKERFILE, COMPOSE, OPERATIONS, K8S / "kustomization.yaml"):
        assert p.is_file(), p
    assert len(list(K8S.glob("*.yaml"))) >= 5


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path):
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path} is empty"
    for d in docs:
        assert isinstance(d, dict)


def test_k8s_documents_are_well_formed():
    seen = set()
    for d in _k8s_docs():
        assert d.get("apiVersion") and d.get("kind"), d
        meta = d["metadata"]
        key = (d["kind"], meta["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        if d["kind"] != "Namespace":
            assert meta.get("namespace") == "bedflow", key
    kinds = {k for k, _ in seen}
    for required in ("Namespace", "ConfigMap", "StatefulSet", "Deployment", "Service", "Ingress", "Job",
                     "PodDisruptionBudget"):
        assert required in kinds, required


def test_kustomization_lists_every_manifest():
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kust["resources"]) == files


def test_selectors_match_pod_labels():
    for d in _k8s_docs():
        pod = _pod_spec(d)
        if pod is None or d["kind"] in ("Job", "CronJob"):
            continue
        sel = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert sel.items() <= labels.items(), d["metadata"]["name"]


# --- settings and commands -------------------------------------------------------------------------

def _deploy_text_files() -> list[Path]:
    return [p for p in DEPLOY.rglob("*") if p.is_file()]


def test_every_bedflow_variable_is_a_settings_field():
    fields = {f"BEDFLOW_{name.upper()}" for name in Settings.model_fields}
    found: dict[str, set[str]] = {}
    for p in _deploy_text_files():
        for var in re.findall(r"\bBEDFLOW_[A-Z][A-Z0-9_]*\b", p.read_text(errors="replace")):
            found.setdefault(var, set()).add(str(p.relative_to(DEPLOY)))
    assert found, "no BEDFLOW_* variable found in deploy/"
    unknown = {v: sorted(f) for v, f in found.items() if v not in fields}
    assert not unknown, f"not fields of bedflow.settings.Settings: {unknown}"


def _env_of(container: dict, configmaps: dict[str, dict]) -> dict[str, str]:
    env = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            env.update(configmaps[src["configMapRef"]["name"]])
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = str(e["value"])
        else:
            env[e["name"]] = "x"  # from a Secret / field ref: a placeholder
    return env


def _configmaps() -> dict[str, dict]:
    return {d["metadata"]["name"]: d.get("data", {}) for d in _k8s_docs() if d["kind"] == "ConfigMap"}


def _validate_settings(env: dict[str, str], where: str, monkeypatch):
    for k in [k for k in os.environ if k.startswith("BEDFLOW_")]:
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        if k.startswith("BEDFLOW_"):
            monkeypatch.setenv(k, re.sub(r"\$\(\w+\)", "x", v))
    try:
        return Settings()
    except Exception as e:  # pydantic ValidationError
        pytest.fail(f"{where}: settings do not validate: {e}")


def test_k8s_settings_values_validate(monkeypatch):
    cms = _configmaps()
    for d in _k8s_docs():
        pod = _pod_spec(d)
        if pod is None:
            continue
        for c in pod.get("containers", []):
            if _bedflow_image(c["image"]):
                s = _validate_settings(_env_of(c, cms), f"{d['metadata']['name']}/{c['name']}", monkeypatch)
                assert s.bootstrap, "bedflow pods need BEDFLOW_BOOTSTRAP"
                assert s.clickhouse_dsn.startswith("http"), "bedflow pods read ClickHouse over HTTP"


def test_compose_settings_values_validate(monkeypatch):
    services = _compose()["services"]
    for name, svc in services.items():
        if "build" in svc or _bedflow_image(svc.get("image", "")):
            env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
            _validate_settings(env, f"compose {name}", monkeypatch)


def _k8s_bedflow_commands() -> list[tuple[str, list[str]]]:
    out = []
    for d, _, c in _k8s_containers():
        if _bedflow_image(c["image"]):
            assert "command" not in c, "keep the image entrypoint `bedflow`; pass the subcommand in args"
            out.append((f"{d['metadata']['name']}/{c['name']}", [str(a) for a in c.get("args", [])]))
    return out


def _compose_bedflow_commands() -> list[tuple[str, list[str]]]:
    out = []
    for name, svc in _compose()["services"].items():
        if "build" in svc or _bedflow_image(svc.get("image", "")):
            cmd = svc.get("command", [])
            cmd = shlex.split(cmd) if isinstance(cmd, str) else [str(a) for a in cmd]
            out.append((f"compose {name}", cmd))
    return out


def test_brief_subcommands_exist_in_cli():
    assert BRIEF_COMMANDS <= SUBCOMMANDS


def test_every_bedflow_command_is_a_cli_subcommand():
    commands = _k8s_bedflow_commands() + _compose_bedflow_commands()
    assert {c[0] for _, c in commands if c} >= {"worker", "serve"}
    for where, argv in commands:
        assert argv, f"{where}: no subcommand (the image default is not relied on)"
        assert argv[0] in BRIEF_COMMANDS | STORE_ONLY_COMMANDS, f"{where}: `bedflow {argv[0]}` is not a bedflow subcommand"
        try:
            cli_parser().parse_args(argv)
        except SystemExit:
            pytest.fail(f"{where}: bedflow rejects arguments {argv}")


def test_bedflow_commands_in_docs_and_scripts_are_subcommands():
    pattern = re.compile(r"(?:^|\n)\s*(?:\$\s*)?bedflow\s+([a-z][\w-]*)|--\s+bedflow\s+([a-z][\w-]*)")
    texts = [OPERATIONS.read_text()] + [p.read_text() for p in (DEPLOY / "kafka").glob("*.sh")]
    blocks = []
    for t in texts:
        blocks += re.findall(r"```.*?\n(.*?)```", t, flags=re.S) or [t]
    used = {a or b for blk in blocks for a, b in pattern.findall(blk)}
    assert used <= SUBCOMMANDS, used - SUBCOMMANDS


# --- partitions and workers -------------------------------------------------------------------------

def test_worker_replicas_equal_partition_count():
    worker = _k8s("Deployment", "bedflow-worker")
    c = next(c for c in worker["spec"]["template"]["spec"]["containers"] if _bedflow_image(c["image"]))
    assert c["args"][0] == "worker"
    env = _env_of(c, _configmaps())
    partitions = int(env["BEDFLOW_PARTITIONS"])
    assert worker["spec"]["replicas"] == partitions
    # the topic Job creates the topics with the same count (same ConfigMap)
    job = _k8s("Job", "bedflow-topics")
    job_env = _env_of(job["spec"]["template"]["spec"]["containers"][0], _configmaps())
    assert int(job_env["BEDFLOW_PARTITIONS"]) == partitions
    # no surge: an extra consumer would idle
    assert worker["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_compose_workers_do_not_exceed_partitions():
    svc = _compose()["services"]
    partitions = int(svc["worker"]["environment"]["BEDFLOW_PARTITIONS"])
    replicas = int(svc["worker"].get("deploy", {}).get("replicas", 1))
    assert 1 <= replicas <= partitions
    assert int(svc["topic-init"]["environment"]["BEDFLOW_PARTITIONS"]) == partitions


def test_kafka_statefulset_is_three_node_kraft():
    sts = _k8s("StatefulSet", "kafka")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    voters = _configmaps()["kafka-config"]["controller_quorum_voters"].split(",")
    assert [v.split("@")[0] for v in voters] == ["0", "1", "2"]
    headless = _k8s("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert all(f"kafka-{i}.{headless['metadata']['name']}." in v for i, v in enumerate(voters))
    script = (DEPLOY / "kafka" / "start-kafka.sh").read_text()
    assert "process.roles=broker,controller" in script
    assert "CLIENT:SASL_SSL" in script and "SCRAM-SHA-512" in script


# --- secrets ----------------------------------------------------------------------------------------

def _referenced_secrets() -> set[str]:
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k == "secretKeyRef" or (k == "secretRef" and isinstance(v, dict)):
                    names.add(v["name"])
                elif k == "secret" and isinstance(v, dict) and "secretName" in v:
                    names.add(v["secretName"])
                elif k == "tls" and isinstance(v, list):
                    names.update(t["secretName"] for t in v if "secretName" in t)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    for d in _k8s_docs():
        walk(d)
    return names


def test_every_secret_is_defined_or_documented():
    defined = {d["metadata"]["name"] for d in _k8s_docs() if d["kind"] == "Secret"}
    refs = _referenced_secrets()
    assert {"clickhouse-credentials", "kafka-tls", "kafka-admin", "kafka-bedflow"} <= refs
    ops = OPERATIONS.read_text()
    for name in refs - defined:
        assert re.search(rf"create secret \w+ {re.escape(name)}\b", ops), \
            f"Secret {name} is neither defined in deploy/k8s nor created in OPERATIONS.md"


def test_credentials_come_from_secrets():
    for _, _, c in _k8s_containers():
        for e in c.get("env", []):
            if re.search(r"PASSWORD|TOKEN", e["name"]) and not e["name"].endswith("_FILE"):
                assert "secretKeyRef" in e.get("valueFrom", {}), f"{c['name']}: {e['name']} is not a secret"
    for d in _k8s_docs():
        if d["kind"] == "ConfigMap":
            for key, text in d.get("data", {}).items():
                text = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
                # a literal value (not a $variable filled in from a Secret at run time)
                literal = re.search(r'(?i)(password|token)\s*[=:]\s*"?(?![$"])[A-Za-z0-9+/_.~-]{6,}', text)
                assert not literal, (d["metadata"]["name"], key, literal and literal.group(0))


def test_compose_secrets_are_files():
    doc = _compose()
    declared = doc["secrets"]
    for name, svc in doc["services"].items():
        for s in svc.get("secrets", []):
            assert (s if isinstance(s, str) else s["source"]) in declared, (name, s)
        for k, v in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|TOKEN", k):
                assert k.endswith("_FILE") and str(v).startswith("/run/secrets/"), (name, k)
    for s in declared.values():
        assert s["file"].startswith("./secrets/")


# --- ports ------------------------------------------------------------------------------------------

def test_service_target_ports_match_container_ports():
    docs = _k8s_docs()
    pods = [(d["spec"]["template"]["metadata"]["labels"], _pod_spec(d)) for d in docs
            if _pod_spec(d) is not None and d["kind"] not in ("Job", "CronJob")]
    for svc in (d for d in docs if d["kind"] == "Service"):
        selector = svc["spec"]["selector"]
        matching = [pod for labels, pod in pods if selector.items() <= labels.items()]
        assert matching, f"Service {svc['metadata']['name']} selects no pod"
        for pod in matching:
            ports = [p for c in pod["containers"] for p in c.get("ports", [])]
            by_name = {p["name"]: p["containerPort"] for p in ports if "name" in p}
            numbers = {p["containerPort"] for p in ports}
            for sp in svc["spec"]["ports"]:
                target = sp.get("targetPort", sp["port"])
                if isinstance(target, str):
                    assert target in by_name, f"{svc['metadata']['name']}: no container port named {target}"
                else:
                    assert target in numbers, f"{svc['metadata']['name']}: no container port {target}"


def test_probes_use_declared_ports():
    for d in _k8s_docs():
        pod = _pod_spec(d)
        if pod is None:
            continue
        for c in pod["containers"]:
            names = {p.get("name") for p in c.get("ports", [])}
            numbers = {p["containerPort"] for p in c.get("ports", [])}
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                for kind in ("httpGet", "tcpSocket"):
                    port = c.get(probe, {}).get(kind, {}).get("port")
                    if port is not None:
                        assert port in names or port in numbers, (d["metadata"]["name"], probe, port)


def test_ingress_points_at_web_service():
    ing = _k8s("Ingress", "bedflow-web")
    for rule in ing["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            svc = _k8s("Service", backend["name"])
            ports = svc["spec"]["ports"]
            port = backend["port"]
            assert any(p.get("name") == port.get("name") or p["port"] == port.get("number") for p in ports)


def test_web_listens_where_service_sends():
    web = _k8s("Deployment", "bedflow-web")
    c = web["spec"]["template"]["spec"]["containers"][0]
    env = _env_of(c, _configmaps())
    port = int(env["BEDFLOW_PORT"])
    assert env["BEDFLOW_HOST"] == "0.0.0.0"
    assert port in {p["containerPort"] for p in c["ports"]}
    svc = _k8s("Service", "bedflow-web")
    assert svc["spec"]["ports"][0]["targetPort"] in (port, "http")


def test_resources_on_every_long_running_container():
    for d in _k8s_docs():
        pod = _pod_spec(d)
        if pod is None:
            continue
        for c in pod["containers"]:
            r = c.get("resources", {})
            assert r.get("requests") and r.get("limits"), f"{d['metadata']['name']}/{c['name']}"
            assert "memory" in r["limits"], c["name"]


def test_pod_disruption_budgets_select_workloads():
    docs = _k8s_docs()
    pdbs = [d for d in docs if d["kind"] == "PodDisruptionBudget"]
    names = set()
    for pdb in pdbs:
        sel = pdb["spec"]["selector"]["matchLabels"]
        hit = [d for d in docs if _pod_spec(d) is not None and d["kind"] not in ("Job", "CronJob")
               and sel.items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert hit, pdb["metadata"]["name"]
        names.update(d["metadata"]["name"] for d in hit)
    assert {"kafka", "bedflow-worker", "bedflow-web"} <= names


# --- compose ----------------------------------------------------------------------------------------

def test_compose_services_and_images():
    svc = _compose()["services"]
    assert {"kafka", "clickhouse", "topic-init", "worker", "web"} <= set(svc)
    assert svc["kafka"]["image"].startswith("apache/kafka:")
    assert svc["topic-init"]["image"] == svc["kafka"]["image"], "topic-init uses the broker's tools"
    assert svc["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert svc["worker"]["image"] == svc["web"]["image"]
    for name in ("worker", "web"):
        assert svc[name]["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (DEPLOY / svc[name]["build"]["context"] / svc[name]["build"]["dockerfile"]).resolve() == DOCKERFILE
    # the web port is the one bedflow listens on
    web_port = int(svc["web"]["environment"]["BEDFLOW_PORT"])
    published = [str(p) for p in svc["web"]["ports"]]
    assert any(p.split(":")[-1] == str(web_port) for p in published)
    assert str(web_port) in " ".join(map(str, svc["web"]["healthcheck"]["test"]))


def test_compose_ports_match_listeners():
    svc = _compose()["services"]
    env = svc["kafka"]["environment"]
    assert any(str(p).endswith(":9094") for p in svc["kafka"]["ports"]), "SASL_SSL listener published"
    assert not any(str(p).split(":")[-1] in ("9092", "9093") for p in svc["kafka"]["ports"]), \
        "plaintext/controller listeners stay private"
    # no plaintext client listener: bedflow and the topic job use the SASL_SSL listener
    assert svc["worker"]["environment"]["BEDFLOW_BOOTSTRAP"] == "kafka:9094"
    assert svc["topic-init"]["environment"]["KAFKA_BOOTSTRAP"] == "kafka:9094"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"].startswith(f"{env['KAFKA_NODE_ID']}@")
    dsn_script = " ".join(svc["worker"]["entrypoint"])
    assert "clickhouse:8123" in dsn_script and "expose" in svc["clickhouse"]
    assert "8123" in [str(p) for p in svc["clickhouse"]["expose"]]


def test_compose_healthchecks_and_dependencies():
    svc = _compose()["services"]
    for name in ("kafka", "clickhouse", "web"):
        assert svc[name].get("healthcheck", {}).get("test"), name
    for name, s in svc.items():
        for dep, cond in (s.get("depends_on") or {}).items():
            assert dep in svc, (name, dep)
            c = cond["condition"]
            assert c in ("service_started", "service_healthy", "service_completed_successfully")
            if c == "service_healthy":
                assert "healthcheck" in svc[dep], (name, dep)
    assert svc["worker"]["depends_on"]["topic-init"]["condition"] == "service_completed_successfully"
    assert svc["worker"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert svc["worker"]["depends_on"]["clickhouse"]["condition"] == "service_healthy"


def test_compose_mounted_files_exist():
    for name, s in _compose()["services"].items():
        for v in s.get("volumes", []):
            src = str(v).split(":")[0]
            if src.startswith("./"):
                assert (DEPLOY / src).exists(), (name, src)


# --- copies stay identical -----------------------------------------------------------------------

def test_configmap_copies_match_files():
    cms = _configmaps()
    for name in ("start-kafka.sh", "create-topics.sh"):
        assert cms["kafka-scripts"][name] == (DEPLOY / "kafka" / name).read_text(), name
    assert cms["bedflow-config"]["bedflow.toml"] == (DEPLOY / "config" / "bedflow.toml").read_text()


def test_config_file_loads(tmp_path):
    cfg = Config.load(DEPLOY / "config" / "bedflow.toml")
    assert "/metrics" in cfg.public_paths, "probes and Prometheus read /metrics without a token"
    assert not cfg.tokens, "no credentials in the ConfigMap"


def test_shell_scripts_are_posix_sh():
    sh = shutil.which("sh")
    for p in (DEPLOY / "kafka").glob("*.sh"):
        assert p.read_text().startswith("#!/bin/sh\n")
        if sh:
            r = subprocess.run([sh, "-n", str(p)], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr


def test_topic_script_creates_every_settings_topic():
    script = (DEPLOY / "kafka" / "create-topics.sh").read_text()
    for field in ("topic_beds", "topic_waitlist", "topic_deadletter", "topic_ward_status",
                  "topic_out_of_area", "topic_waitlist_status"):
        assert f'${{BEDFLOW_{field.upper()}:-{Settings.model_fields[field].default}}}' in script
    assert "BEDFLOW_PARTITIONS" in script


# --- Dockerfile -------------------------------------------------------------------------------------

def test_dockerfile():
    text = DOCKERFILE.read_text()
    lines = [ln.strip() for ln in re.sub(r"\\\n", " ", text).splitlines() if ln.strip() and not ln.startswith("#")]
    froms = [ln for ln in lines if ln.upper().startswith("FROM ")]
    assert froms and all("python:3.11-slim" in f for f in froms)
    assert any(re.search(r"pip install (--\S+ )*\.(\s|$)", ln) for ln in lines), "installs the project"
    entry = [ln for ln in lines if ln.upper().startswith("ENTRYPOINT")]
    assert entry and yaml.safe_load(entry[-1].split(None, 1)[1]) == ["bedflow"]
    users = [ln.split(None, 1)[1] for ln in lines if ln.upper().startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "runs as non-root"
    cmd = [ln for ln in lines if ln.upper().startswith("CMD")]
    if cmd:
        assert yaml.safe_load(cmd[-1].split(None, 1)[1])[0] in SUBCOMMANDS
    # every package the project installs is copied into the build
    import tomllib
    pkgs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    for top in {p.split(".")[0] for p in pkgs}:
        assert re.search(rf"COPY {top} ", text), f"Dockerfile does not copy package {top}"
    # k8s runs the image's user
    for d in _k8s_docs():
        pod = _pod_spec(d)
        if pod and any(_bedflow_image(c["image"]) for c in pod["containers"]):
            assert pod["securityContext"]["runAsUser"] == 10001
    assert "USER 10001" in text


# --- optional tools ---------------------------------------------------------------------------------

def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_kubectl_kustomize_builds():
    if not shutil.which("kubectl") or not _works(["kubectl", "version", "--client"]):
        pytest.skip("kubectl not available")
    r = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "unknown command" in r.stderr:
        pytest.skip("kubectl without kustomize")
    assert r.returncode == 0, r.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(r.stdout) if d]
    assert kinds.count("StatefulSet") == 3  # Kafka, ClickHouse, ClickHouse Keeper


def test_kubeconform_validates():
    if not shutil.which("kubeconform"):
        pytest.skip("kubeconform not available")
    r = subprocess.run(["kubeconform", "-strict", "-summary", "-ignore-filename-pattern", "kustomization",
                        str(K8S)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0 and "could not find schema" in (r.stdout + r.stderr):
        pytest.skip("kubeconform has no schemas offline")
    assert r.returncode == 0, r.stdout + r.stderr


def test_docker_compose_config():
    if not shutil.which("docker") or not _works(["docker", "compose", "version"]):
        pytest.skip("docker compose not available")
    r = subprocess.run(["docker", "compose", "-f", str(COMPOSE), "config", "--quiet", "--no-interpolate"],
                       capture_output=True, text=True, timeout=60, cwd=DEPLOY)
    assert r.returncode == 0, r.stderr


# --- Kafka security: SASL_SSL/SCRAM everywhere, no plaintext client listener ------------------------

KAFKA_SECURITY_VARS = ("BEDFLOW_KAFKA_SECURITY_PROTOCOL", "BEDFLOW_KAFKA_SASL_MECHANISM",
                       "BEDFLOW_KAFKA_SASL_USERNAME", "BEDFLOW_KAFKA_SASL_PASSWORD", "BEDFLOW_KAFKA_SSL_CAFILE")


def _server_properties() -> dict[str, str]:
    script = (DEPLOY / "kafka" / "start-kafka.sh").read_text()
    body = script.split("server.properties\" <<PROPS\n", 1)[1].split("\nPROPS\n", 1)[0]
    return dict(ln.split("=", 1) for ln in body.splitlines() if "=" in ln)


def _port(hostport: str) -> int:
    return int(hostport.rsplit(":", 1)[1])


def _check_bedflow_kafka_env(env: dict[str, str], where: str, monkeypatch):
    for var in ("BEDFLOW_BOOTSTRAP",) + KAFKA_SECURITY_VARS:
        assert env.get(var), f"{where}: {var} not set"
    assert all(_port(b) == 9094 for b in env["BEDFLOW_BOOTSTRAP"].split(",")), \
        f"{where}: bootstrap {env['BEDFLOW_BOOTSTRAP']} is not the SASL_SSL listener"
    assert env["BEDFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", where
    assert env["BEDFLOW_KAFKA_SASL_MECHANISM"].startswith("SCRAM-SHA-"), where
    assert env["BEDFLOW_KAFKA_SASL_USERNAME"] not in ("admin", ""), f"{where}: use the dedicated bedflow user"
    s = _validate_settings(env, where, monkeypatch)
    conf = s.kafka_config()
    assert conf["security.protocol"] == "SASL_SSL" and conf["sasl.password"] and conf["ssl.ca.location"], where


def _kafka_env(name: str) -> dict:
    """Raw env entries (by name) of the Kafka broker container."""
    sts = _k8s("StatefulSet", "kafka")
    return {e["name"]: e for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}


def _secret_of_file(pod: dict, container: dict, path: str) -> tuple[str, str]:
    """(Secret name, key) of the file `path` mounted into `container`, or fail."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in container.get("volumeMounts", []):
        mount = m["mountPath"].rstrip("/") + "/"
        if path.startswith(mount):
            rel = path[len(mount):]
            vol = volumes[m["name"]]
            assert "secret" in vol, f"{container['name']}: {path} is not from a Secret"
            items = vol["secret"].get("items")
            if items is None:
                return vol["secret"]["secretName"], rel
            keys = [i["key"] for i in items if i["path"] == rel]
            assert keys, f"{container['name']}: {path} is not an item of Secret {vol['secret']['secretName']}"
            return vol["secret"]["secretName"], keys[0]
    raise AssertionError(f"{container['name']}: {path} is not mounted")


def _k8s_kafka_clients_as_bedflow() -> list[tuple[str, dict, dict]]:
    """Containers that connect to Kafka with the bedflow settings: the bedflow image and any container
    whose command uses BEDFLOW_BOOTSTRAP (the worker's wait-for-topics init container)."""
    out = []
    for d, pod, c in _k8s_containers():
        if c.get("args", [None])[0] in STORE_ONLY_COMMANDS:
            continue  # no Kafka credentials where Kafka is not used
        if _bedflow_image(c["image"]) or "BEDFLOW_BOOTSTRAP" in " ".join(map(str, c.get("command", []))):
            out.append((f"{d['metadata']['name']}/{c['name']}", pod, c))
    return out


def test_k8s_bedflow_containers_use_sasl_ssl_with_secret_password(monkeypatch):
    cms = _configmaps()
    clients = _k8s_kafka_clients_as_bedflow()
    assert {w for w, _, _ in clients} >= {"bedflow-worker/worker", "bedflow-worker/wait-for-topics",
                                           "bedflow-web/web"}
    # the broker creates the same user, from the same Secret
    kafka = _kafka_env("kafka")
    sts_pod = _k8s("StatefulSet", "kafka")["spec"]["template"]["spec"]
    broker_secret = _secret_of_file(sts_pod, sts_pod["containers"][0], kafka["KAFKA_BEDFLOW_PASSWORD_FILE"]["value"])
    broker_user = kafka["KAFKA_BEDFLOW_USER"]["value"]
    for where, pod, c in clients:
        env = _env_of(c, cms)
        _check_bedflow_kafka_env(env, where, monkeypatch)
        assert env["BEDFLOW_KAFKA_SASL_USERNAME"] == broker_user, where
        # the password: an env entry from a Secret, never a ConfigMap value
        for src in c.get("envFrom", []):
            if "configMapRef" in src:
                assert "BEDFLOW_KAFKA_SASL_PASSWORD" not in cms[src["configMapRef"]["name"]], where
        raw = [e for e in c.get("env", []) if e["name"] == "BEDFLOW_KAFKA_SASL_PASSWORD"]
        assert len(raw) == 1, f"{where}: BEDFLOW_KAFKA_SASL_PASSWORD not set once"
        ref = raw[0].get("valueFrom", {}).get("secretKeyRef")
        assert ref, f"{where}: BEDFLOW_KAFKA_SASL_PASSWORD is not a secretKeyRef"
        assert (ref["name"], ref["key"]) == broker_secret, f"{where}: not the password the broker was given"
        # the CA file is mounted from the TLS Secret (its CA, never the key)
        name, key = _secret_of_file(pod, c, env["BEDFLOW_KAFKA_SSL_CAFILE"])
        assert (name, key) == ("kafka-tls", "ca.crt"), where
        vol = next(m["name"] for m in c["volumeMounts"] if env["BEDFLOW_KAFKA_SSL_CAFILE"].startswith(m["mountPath"]))
        items = next(v for v in pod["volumes"] if v["name"] == vol)["secret"].get("items")
        assert items and {i["key"] for i in items} == {"ca.crt"}, f"{where}: mounts more of kafka-tls than the CA"


def test_k8s_topic_job_and_broker_use_sasl_ssl():
    cms = _configmaps()
    job = _k8s("Job", "bedflow-topics")
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    env = _env_of(c, cms)
    assert _port(env["KAFKA_BOOTSTRAP"]) == 9094
    for var in ("KAFKA_ADMIN_PASSWORD_FILE", "KAFKA_BEDFLOW_PASSWORD_FILE", "KAFKA_TLS_CA_FILE"):
        _secret_of_file(pod, c, env[var])
    assert _secret_of_file(pod, c, env["KAFKA_BEDFLOW_PASSWORD_FILE"]) == ("kafka-bedflow", "password")
    assert env["KAFKA_BEDFLOW_USER"] == cms["bedflow-env"]["BEDFLOW_KAFKA_SASL_USERNAME"]
    sts_pod = _k8s("StatefulSet", "kafka")["spec"]["template"]["spec"]
    kafka = _env_of(sts_pod["containers"][0], cms)
    assert kafka["KAFKA_CONTROLLER_PROTOCOL"] == "SSL", "the k8s controller listener crosses the network"
    for var in ("KAFKA_ADMIN_PASSWORD_FILE", "KAFKA_BEDFLOW_PASSWORD_FILE"):
        _secret_of_file(sts_pod, sts_pod["containers"][0], kafka[var])


def test_compose_bedflow_services_use_sasl_ssl_with_secret_password(monkeypatch):
    doc = _compose()
    services = doc["services"]
    kafka_env = services["kafka"]["environment"]
    bedflow_pw_file = kafka_env["KAFKA_BEDFLOW_PASSWORD_FILE"]
    assert bedflow_pw_file.startswith("/run/secrets/")
    seen = []
    for name, svc in services.items():
        if not ("build" in svc or _bedflow_image(svc.get("image", ""))):
            continue
        seen.append(name)
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
        assert "BEDFLOW_KAFKA_SASL_PASSWORD" not in env, f"compose {name}: password as a plain value"
        secrets = {s if isinstance(s, str) else s["source"] for s in svc.get("secrets", [])}
        # the password: read from a secret file by the entrypoint, or from an env file under ./secrets/
        entry = " ".join(map(str, svc.get("entrypoint") or []))
        if str((svc.get("command") or [""])[0]) in STORE_ONLY_COMMANDS:  # ClickHouse only: no Kafka secret
            assert "BEDFLOW_KAFKA_SASL_PASSWORD" not in entry and bedflow_pw_file.rsplit("/", 1)[1] not in secrets, name
            continue
        m = re.search(r"export BEDFLOW_KAFKA_SASL_PASSWORD=\"\$\$\((?:cat|tr [^<]*<) */run/secrets/([\w.-]+)\)\"", entry)
        env_files = svc.get("env_file") or []
        env_files = [env_files] if isinstance(env_files, str) else env_files
        env_files = [f if isinstance(f, str) else f["path"] for f in env_files]
        if m:
            assert m.group(1) in secrets, f"compose {name}: secret {m.group(1)} not given to the service"
            assert f"/run/secrets/{m.group(1)}" == bedflow_pw_file, f"compose {name}: not the broker's bedflow password"
            env["BEDFLOW_KAFKA_SASL_PASSWORD"] = "x"
        else:
            assert any(f.startswith("./secrets/") for f in env_files), \
                f"compose {name}: BEDFLOW_KAFKA_SASL_PASSWORD comes from neither a secret file nor an env file"
            env["BEDFLOW_KAFKA_SASL_PASSWORD"] = "x"
        _check_bedflow_kafka_env(env, f"compose {name}", monkeypatch)
        ca = env["BEDFLOW_KAFKA_SSL_CAFILE"]
        assert ca.startswith("/run/secrets/") and ca.rsplit("/", 1)[1] in secrets, f"compose {name}: CA not a secret"
        assert ca == kafka_env["KAFKA_TLS_CA_FILE"], f"compose {name}: not the broker's CA"
        assert env["BEDFLOW_KAFKA_SASL_USERNAME"] == kafka_env["KAFKA_BEDFLOW_USER"]
    assert {"worker", "web"} <= set(seen)
    # the topic job connects over SASL_SSL as admin and manages the bedflow user
    ti = services["topic-init"]
    ti_secrets = {s if isinstance(s, str) else s["source"] for s in ti.get("secrets", [])}
    for var in ("KAFKA_ADMIN_PASSWORD_FILE", "KAFKA_TLS_CA_FILE", "KAFKA_BEDFLOW_PASSWORD_FILE"):
        path = ti["environment"][var]
        assert path.startswith("/run/secrets/") and path.rsplit("/", 1)[1] in ti_secrets, ("topic-init", var)
    assert ti["environment"]["KAFKA_BEDFLOW_PASSWORD_FILE"] == bedflow_pw_file
    # the broker's health check goes over SASL_SSL too
    check = " ".join(map(str, services["kafka"]["healthcheck"]["test"]))
    assert ":9094" in check and "--command-config" in check


def test_no_plaintext_kafka_listener():
    props = _server_properties()
    protocols = dict(e.split(":", 1) for e in props["listener.security.protocol.map"].split(","))
    listeners = [l.split("://", 1)[0] for l in props["listeners"].split(",")]
    advertised = [l.split("://", 1)[0] for l in props["advertised.listeners"].split(",")]
    assert set(listeners) == set(protocols), "every listener has a protocol"
    assert set(advertised) <= set(listeners) and "CONTROLLER" not in advertised
    for name, proto in protocols.items():
        if name == props["controller.listener.names"]:
            continue  # $CONTROLLER_PROTOCOL, checked per layout below
        assert proto in ("SASL_SSL", "SSL"), f"listener {name} is {proto}"
    assert protocols["CLIENT"] == "SASL_SSL"
    assert props["listener.name.client.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["inter.broker.listener.name"] == "CLIENT"
    assert not any(":9092" in l for l in props["listeners"].split(","))
    script = (DEPLOY / "kafka" / "start-kafka.sh").read_text()
    assert "CONTROLLER_PROTOCOL=${KAFKA_CONTROLLER_PROTOCOL:-SSL}" in script
    # compose: a PLAINTEXT controller only when it is bound to and reached over loopback
    env = _compose()["services"]["kafka"]["environment"]
    if env.get("KAFKA_CONTROLLER_PROTOCOL", "SSL") != "SSL":
        assert env["KAFKA_CONTROLLER_PROTOCOL"] == "PLAINTEXT"
        assert env["KAFKA_CONTROLLER_HOST"] in ("localhost", "127.0.0.1")
        assert all(v.split("@", 1)[1].split(":")[0] in ("localhost", "127.0.0.1")
                   for v in env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(","))
    # the topic script has no plaintext fallback
    assert "PLAINTEXT" not in (DEPLOY / "kafka" / "create-topics.sh").read_text()


def test_no_port_or_policy_for_a_plaintext_listener():
    for d in _k8s_docs():
        text = yaml.safe_dump(d)
        assert not re.search(r"\b9092\b", text), f"{d['kind']} {d['metadata']['name']} still mentions 9092"
    for p in (DEPLOY / "kafka").glob("*.sh"):
        assert "9092" not in p.read_text(), p.name
    assert "9092" not in COMPOSE.read_text()
    policy = _k8s("NetworkPolicy", "kafka")
    ports = [p["port"] for rule in policy["spec"]["ingress"] for p in rule.get("ports", [])]
    assert 9094 in ports and 9092 not in ports


def test_kafka_scripts_create_the_bedflow_user():
    start = (DEPLOY / "kafka" / "start-kafka.sh").read_text()
    assert '--add-scram "SCRAM-SHA-512=[name=$ADMIN_USER,' in start
    assert '--add-scram "SCRAM-SHA-512=[name=$APP_USER,password=$APP_PASSWORD]"' in start
    assert "APP_USER=${KAFKA_BEDFLOW_USER:-bedflow}" in start
    topics = (DEPLOY / "kafka" / "create-topics.sh").read_text()
    assert "--entity-type users" in topics and "KAFKA_BEDFLOW_PASSWORD_FILE" in topics
    ops = OPERATIONS.read_text()
    assert re.search(r"create secret generic kafka-bedflow\b", ops)
    assert "BEDFLOW_KAFKA_SASL_PASSWORD" in ops and "bedflow_password" in ops


# --- ClickHouse cluster: Keeper, replication, release line, backups --------------------------------

import xml.etree.ElementTree as ET  # noqa: E402


def _configmap_xml(name: str, key: str) -> ET.Element:
    return ET.fromstring(_configmaps()[name][key])


def _engine_version() -> tuple[int, int]:
    """(major, minor) of the embedded engine the tests run (chDB)."""
    import tempfile

    from sinks.clickhouse import ClickHouse

    with tempfile.TemporaryDirectory() as d:
        db = ClickHouse(f"chdb://{d}/ch")
        try:
            version = db.command("SELECT version()")
        finally:
            db.close()
    major, minor = str(version).split(".")[:2]
    return int(major), int(minor)


def _tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def _server_images() -> dict[str, str]:
    """Every clickhouse-server / clickhouse-keeper image in k8s and compose, by where it is used."""
    images = {f"{d['metadata']['name']}/{c['name']}": c["image"] for d, _, c in _k8s_containers()
              if c["image"].startswith(("clickhouse/clickhouse-server:", "clickhouse/clickhouse-keeper:"))}
    images["compose clickhouse"] = _compose()["services"]["clickhouse"]["image"]
    return images


def test_clickhouse_release_is_an_lts_on_the_engines_line():
    major, minor = _engine_version()
    images = _server_images()
    assert {"clickhouse/clickhouse", "clickhouse-keeper/keeper", "clickhouse-backup/backup",
            "compose clickhouse"} <= set(images)
    tags = {_tag(i) for i in images.values()}
    assert len(tags) == 1, f"servers, Keeper, backup client and compose on one release: {images}"
    tag = tags.pop()
    m = re.fullmatch(r"(\d+)\.(\d+)(?:\.\d+\.\d+)?", tag)
    assert m, f"pin a release line or version, not {tag!r}"
    t_major, t_minor = int(m.group(1)), int(m.group(2))
    assert t_major == major, f"server {tag} is not on the engine's line {major}.x"
    assert t_minor in (3, 8), f"{tag} is not an LTS (ClickHouse's LTS releases are YY.3 and YY.8)"
    assert t_minor <= minor, f"server {tag} is newer than the engine the tests run ({major}.{minor})"


def test_keeper_is_three_raft_nodes_and_clickhouse_uses_them():
    sts = _k8s("StatefulSet", "clickhouse-keeper")
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    headless = _k8s("Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None" and headless["spec"]["publishNotReadyAddresses"]
    pod = sts["spec"]["template"]["spec"]
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    keeper = _configmap_xml("clickhouse-keeper-config", "keeper_config.xml").find("keeper_server")
    servers = keeper.findall("raft_configuration/server")
    assert [s.findtext("id") for s in servers] == ["1", "2", "3"]
    hosts = [s.findtext("hostname") for s in servers]
    assert hosts == [f"clickhouse-keeper-{i}.{headless['metadata']['name']}.bedflow.svc.cluster.local"
                     for i in range(3)]
    raft_port = {s.findtext("port") for s in servers}
    client_port = keeper.findtext("tcp_port")
    ports = {p["name"]: str(p["containerPort"]) for p in pod["containers"][0]["ports"]}
    assert raft_port == {ports["raft"]} and client_port == ports["client"]
    # the server id comes from the ordinal: 1..3 as in raft_configuration
    assert keeper.find("server_id").get("from_env") == "KEEPER_SERVER_ID"
    assert "KEEPER_SERVER_ID=$(( ${HOSTNAME##*-} + 1 ))" in " ".join(pod["containers"][0]["command"])
    # the ClickHouse servers know all three
    zk = _configmap_xml("clickhouse-config", "replication.xml").find("zookeeper")
    assert [(n.findtext("host"), n.findtext("port")) for n in zk.findall("node")] == \
        [(h, client_port) for h in hosts]
    pdb = _k8s("PodDisruptionBudget", "clickhouse-keeper")
    assert pdb["spec"]["maxUnavailable"] == 1, "two of three keep the quorum"


def test_clickhouse_database_is_replicated_and_survives_a_lost_replica():
    sts = _k8s("StatefulSet", "clickhouse")
    assert sts["spec"]["replicas"] >= 2, "a replica can be lost only if there are two"
    assert _k8s("Service", sts["spec"]["serviceName"])["spec"]["clusterIP"] == "None"
    c = sts["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in c["env"]}
    # the entrypoint would create CLICKHOUSE_DB as a plain Atomic database
    assert "CLICKHOUSE_DB" not in env
    assert env["CLICKHOUSE_ALWAYS_RUN_INITDB_SCRIPTS"]["value"] == "true"
    mounts = {m["mountPath"]: m.get("subPath") for m in c["volumeMounts"]}
    init = [p for p in mounts if p.startswith("/docker-entrypoint-initdb.d/") and p.endswith(".sql")]
    assert len(init) == 1
    sql = _configmaps()["clickhouse-config"][mounts[init[0]]]
    assert re.fullmatch(r"CREATE DATABASE IF NOT EXISTS bedflow ENGINE = Replicated\('/clickhouse/databases/bedflow', "
                        r"'\{shard\}', '\{replica\}'\);\s*", sql), sql
    repl = _configmap_xml("clickhouse-config", "replication.xml")
    assert repl.findtext("macros/shard") and repl.find("macros/replica").get("from_env") in env
    host_var = repl.find("interserver_http_host").get("from_env")
    assert env[host_var]["value"] == f"$(POD_NAME).{sts['spec']['serviceName']}.bedflow.svc.cluster.local"
    assert env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    # the analysts' SQL-made user and role reach every replica
    dirs = repl.find("user_directories")
    assert dirs.get("replace") == "replace" and dirs.findtext("replicated/zookeeper_path")
    assert dirs.find("local_directory") is None
    pw_var = repl.find("interserver_http_credentials/password").get("from_env")
    assert env[pw_var]["valueFrom"]["secretKeyRef"]["name"] == "clickhouse-interserver"
    # the replicas reach each other's interserver port; the policy selects the servers only
    pol = _k8s("NetworkPolicy", "clickhouse-interserver")
    assert pol["spec"]["podSelector"]["matchLabels"] == sts["spec"]["selector"]["matchLabels"]
    assert [p["port"] for r in pol["spec"]["ingress"] for p in r["ports"]] == [int(repl.findtext("interserver_http_port"))]
    # every bedflow pod uses that database
    cms = _configmaps()
    for d, _, bc in _k8s_containers():
        if _bedflow_image(bc["image"]):
            dsn = _env_of(bc, cms).get("BEDFLOW_CLICKHOUSE_DSN", "")
            assert dsn.endswith(":8123/bedflow"), (d["metadata"]["name"], dsn)


def test_clickhouse_profile_async_inserts_and_replicated_engines_only():
    profile = _configmap_xml("clickhouse-config", "bedflow-profile.xml").find("profiles/default")
    assert profile.findtext("async_insert") == "1"
    assert profile.findtext("wait_for_async_insert") == "1", "a worker must know its rows are stored"
    assert profile.findtext("database_replicated_allow_only_replicated_engine") == "1"
    c = _k8s("StatefulSet", "clickhouse")["spec"]["template"]["spec"]["containers"][0]
    assert any(m["mountPath"].startswith("/etc/clickhouse-server/users.d/") and m.get("subPath") == "bedflow-profile.xml"
               for m in c["volumeMounts"])
    # compose: the same async-insert settings (one server, no Replicated database there)
    compose = _compose()
    ch = compose["services"]["clickhouse"]
    target = next(x["target"] for x in ch["configs"] if x["source"] == "clickhouse_profile")
    assert target.startswith("/etc/clickhouse-server/users.d/")
    cp = ET.fromstring(compose["configs"]["clickhouse_profile"]["content"]).find("profiles/default")
    for key in ("async_insert", "wait_for_async_insert"):
        assert cp.findtext(key) == profile.findtext(key), key


def test_backup_cronjob():
    cj = _k8s("CronJob", "clickhouse-backup")
    assert cj["spec"]["timeZone"] == "Europe/Stockholm"
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    assert len(cj["spec"]["schedule"].split()) == 5
    c = _pod_spec(cj)["containers"][0]
    script = "\n".join(c["command"])
    assert "BACKUP DATABASE bedflow TO S3(" in script and "system.backups" in script
    # it asks every replica of the StatefulSet, by its stable name
    sts = _k8s("StatefulSet", "clickhouse")
    for i in range(sts["spec"]["replicas"]):
        assert f"clickhouse-{i}" in script
    assert f".{sts['spec']['serviceName']}.bedflow.svc.cluster.local" in script
    refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in c["env"] if "valueFrom" in e}
    assert refs == {"clickhouse-credentials", "clickhouse-backup-s3"}
    ops = OPERATIONS.read_text()
    assert "RESTORE DATABASE bedflow" in ops and "restore drill" in ops.lower()


# --- the morning report as PDF ----------------------------------------------------------------------

def test_report_cronjob_runs_at_seven_in_stockholm_and_files_the_pdf(monkeypatch):
    cj = _k8s("CronJob", "bedflow-morning-report")
    assert cj["spec"]["schedule"] == "0 7 * * *"
    assert cj["spec"]["timeZone"] == "Europe/Stockholm"
    assert cj["spec"]["concurrencyPolicy"] == "Forbid"
    pod = _pod_spec(cj)
    report = next(c for c in _containers(pod) if _bedflow_image(c["image"]))
    args = cli_parser().parse_args([str(a) for a in report["args"]])
    assert args.fn.__name__ == "cmd_report"
    # the settings validate and it talks to ClickHouse only: no Kafka password
    s = _validate_settings(_env_of(report, _configmaps()), "bedflow-morning-report/report", monkeypatch)
    assert s.clickhouse_dsn.startswith("http")
    assert not any(e["name"] == "BEDFLOW_KAFKA_SASL_PASSWORD" for e in report.get("env", []))
    assert pod["securityContext"]["runAsUser"] == 10001
    # chromium needs a writable HOME and /tmp on a read-only root, and more than 64 MiB of /dev/shm
    mounts = {m["mountPath"] for m in report["volumeMounts"]}
    assert {"/tmp", "/dev/shm", "/var/lib/bedflow"} <= mounts
    # the filer writes what the report wrote, onto the PVC
    out_dir = str(args.out).rsplit("/", 1)[0]
    filer = pod["containers"][0]
    volumes = {v["name"]: v for v in pod["volumes"]}
    shared = [m["name"] for m in report["volumeMounts"] if m["mountPath"] == out_dir]
    assert shared and any(m["name"] == shared[0] and m["mountPath"] == out_dir for m in filer["volumeMounts"])
    claim = next(volumes[m["name"]]["persistentVolumeClaim"]["claimName"] for m in filer["volumeMounts"]
                 if "persistentVolumeClaim" in volumes[m["name"]])
    assert _k8s("PersistentVolumeClaim", claim)
    script = "\n".join(filer["command"])
    assert str(args.out) in script and "%PDF-" in script


def test_image_can_render_the_report_pdf():
    text = DOCKERFILE.read_text()
    final = re.split(r"(?m)^FROM ", text)[-1]
    assert re.search(r"apt-get install [^\n]*\bchromium\b", final), "the runtime image needs Debian's chromium"
    assert re.search(r"apt-get install [^\n]*\bfonts-dejavu", final), "the report's font"
    assert "rm -rf /var/lib/apt/lists" in final
    build = re.split(r"(?m)^FROM ", text)[-2]
    assert re.search(r"pip install \. \"playwright[^\"]*\"", build), "web/pdf.py drives chromium with Playwright"
    pdf = (ROOT / "web" / "pdf.py").read_text()
    assert '"chromium"' in pdf, "web/pdf.py no longer looks for Debian's chromium"


# --- workers without the API, durable audit log, analysts' grants (issues 11, 13) ----------------------

def _compose_command(svc: dict) -> list[str]:
    cmd = svc.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]


def test_every_worker_container_runs_worker_without_the_api():
    k8s_workers = [(d["metadata"]["name"], [str(a) for a in c.get("args", [])]) for d, _, c in _k8s_containers()
                   if _bedflow_image(c["image"]) and str((c.get("args") or [""])[0]) == "worker"]
    compose_workers = [(name, _compose_command(s)) for name, s in _compose()["services"].items()
                       if _compose_command(s)[:1] == ["worker"]]
    assert "bedflow-worker" in {n for n, _ in k8s_workers} and "worker" in {n for n, _ in compose_workers}
    for name, args in k8s_workers + compose_workers:
        assert args == ["worker", "--no-api"], (name, args)
        assert cli_parser().parse_args(args).no_api
    ops = OPERATIONS.read_text()
    assert "still runs `bedflow worker` with the API" not in ops
    assert "runner does not do that yet" not in ops and "have no partition key" not in ops


def _durable_k8s_paths(d: dict, pod: dict, c: dict) -> list[str]:
    claims = {v["name"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v}
    claims |= {t["metadata"]["name"] for t in d["spec"].get("volumeClaimTemplates", [])}
    return [m["mountPath"] for m in c.get("volumeMounts", []) if m["name"] in claims]


def _durable_compose_paths(doc: dict, svc: dict) -> list[str]:
    named = set(doc.get("volumes") or {})
    out = []
    for v in svc.get("volumes", []):
        parts = str(v).split(":")
        if len(parts) >= 2 and (parts[0] in named or parts[0].startswith("./")):
            out.append(parts[1])
    return out


def _audit_is_kept(settings: Settings, durable: list[str]) -> bool:
    path = settings.resolved_audit_log()
    if path is None:  # JSON lines on stdout: the container log, collected by the platform
        return True
    return any(Path(path).is_relative_to(p) for p in durable)


def test_the_audit_log_is_on_stdout_or_on_a_durable_volume(monkeypatch):
    """Every container that serves the API writes its audit log where it outlives the container."""
    cms, serving = _configmaps(), []
    for d, pod, c in _k8s_containers():
        args = [str(a) for a in c.get("args", [])]
        if _bedflow_image(c["image"]) and args[:1] in (["serve"], ["worker"]):
            s = _validate_settings(_env_of(c, cms), d["metadata"]["name"], monkeypatch)
            assert _audit_is_kept(s, _durable_k8s_paths(d, pod, c)), (d["metadata"]["name"], s.resolved_audit_log())
            serving.append(("k8s", args[0]))
    assert cms["bedflow-env"]["BEDFLOW_AUDIT_LOG"] == "stdout"  # k8s: the cluster's log system
    doc = _compose()
    for name, svc in doc["services"].items():
        args = _compose_command(svc)
        if args[:1] in (["serve"], ["worker"]):
            env = {k: str(v) for k, v in (svc.get("environment") or {}).items()}
            s = _validate_settings(env, f"compose {name}", monkeypatch)
            assert _audit_is_kept(s, _durable_compose_paths(doc, svc)), (name, s.resolved_audit_log())
            serving.append(("compose", args[0]))
    assert {("k8s", "serve"), ("compose", "serve")} <= set(serving)
    # compose's web keeps its file on the named volume web-data
    web = doc["services"]["web"]
    assert "BEDFLOW_AUDIT_LOG" not in web.get("environment", {})
    assert any(str(v).startswith("web-data:/var/lib/bedflow") for v in web["volumes"])


def test_analysts_grants_run_once_in_both_layouts(monkeypatch):
    job = _k8s("Job", "bedflow-analyst-grants")
    c = next(c for c in _containers(_pod_spec(job)) if _bedflow_image(c["image"]))
    assert cli_parser().parse_args([str(a) for a in c["args"]]).fn.__name__ == "cmd_analyst_grants"
    env = {e["name"]: e for e in c["env"]}
    assert env["BEDFLOW_ANALYST_PASSWORD_SHA256"]["valueFrom"]["secretKeyRef"]["name"] == "clickhouse-analyst"
    doc = _compose()
    svc = doc["services"]["analyst-grants"]
    assert cli_parser().parse_args(_compose_command(svc)).fn.__name__ == "cmd_analyst_grants"
    assert svc["restart"] == "no" and svc["depends_on"]["clickhouse"]["condition"] == "service_healthy"
    # the hash comes from a secret file, the DSN from the ClickHouse password file, nothing from Kafka
    entry = " ".join(map(str, svc["entrypoint"]))
    m = re.search(r"export BEDFLOW_ANALYST_PASSWORD_SHA256=\"\$\$\(tr [^<]*< */run/secrets/([\w.-]+)\)\"", entry)
    assert m and m.group(1) in svc["secrets"] and doc["secrets"][m.group(1)]["file"].startswith("./secrets/")
    assert "clickhouse_password" in svc["secrets"] and "clickhouse:8123/bedflow" in entry
    env = {k: str(v) for k, v in (svc.get("environment") or {}).items()} | {
        "BEDFLOW_CLICKHOUSE_DSN": "http://bedflow:x@clickhouse:8123/bedflow", "BEDFLOW_ANALYST_PASSWORD_SHA256": "0" * 64}
    assert _validate_settings(env, "compose analyst-grants", monkeypatch).analyst_password_sha256
    # it is the first migrator: the workers start after it has succeeded
    assert doc["services"]["worker"]["depends_on"]["analyst-grants"]["condition"] == "service_completed_successfully"
    assert "clickhouse_analyst_password_sha256" in OPERATIONS.read_text()
