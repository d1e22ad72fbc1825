"""Kafka authorization in deploy/, as far as this machine allows (no Kafka broker here): the real scripts
run under sh with stand-ins for Kafka's tools that record every call, and the recorded ACLs, topics and
broker properties are checked. Deny by default; each region's sender writes its own two input topics and
nothing else; only the platform reads the input; nobody but the admin reads the dead letters."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bedflow.settings import Settings
from schemas import reference

ROOT = Path(__file__).resolve().parents[1]
KAFKA = ROOT / "deploy" / "kafka"
SH = shutil.which("sh")
pytestmark = pytest.mark.skipif(SH is None, reason="no POSIX sh")

# A stand-in for each Kafka tool (sh, fast: the topic script calls them ~150 times): it appends its name and
# arguments to $STUB_LOG, one call a line, separated by \x1f; describing a topic answers with
# $BEDFLOW_PARTITIONS partitions; kafka-server-start.sh keeps a copy of its config.
STUB = r"""#!/bin/sh
{ printf '%s\037' "$(basename "$0")" "$@"; printf '\n'; } >> "$STUB_LOG"
case "$(basename "$0") $*" in
  "kafka-topics.sh "*--describe*) printf 'Topic: t\tPartitionCount: %s\tReplicationFactor: 3\n' "${BEDFLOW_PARTITIONS:-4}";;
  "kafka-server-start.sh "*) cp "$1" "$STUB_LOG.server.properties";;
esac
exit 0
"""
TOPIC_ENV = {"KAFKA_BOOTSTRAP": "kafka:9094", "BEDFLOW_PARTITIONS": "12", "KAFKA_BEDFLOW_USER": "bedflow",
             "BEDFLOW_REGION_TOPICS": "true"}
TOOLS = ("kafka-topics.sh", "kafka-configs.sh", "kafka-acls.sh", "kafka-storage.sh", "kafka-server-start.sh")


def _kafka_home(tmp_path: Path):
    home = tmp_path / "kafka"
    (home / "bin").mkdir(parents=True)
    for tool in TOOLS:
        p = home / "bin" / tool
        p.write_text(STUB)
        p.chmod(0o755)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    for name, text in (("admin", "adminpw1"), ("bedflow", "bedflowpw1"), ("tls.crt", "CERT"), ("tls.key", "KEY"),
                       ("ca.crt", "CA")):
        (secrets / name).write_text(text + "\n")
    return home, secrets, tmp_path / "calls.log"


@pytest.fixture
def kafka_home(tmp_path):
    return _kafka_home(tmp_path)


@pytest.fixture(scope="module")
def topic_job(tmp_path_factory):
    """The calls of one run of the topic script (as the k8s Job runs it)."""
    r, calls = run("create-topics.sh", _kafka_home(tmp_path_factory.mktemp("topics")), **TOPIC_ENV)
    assert r.returncode == 0, r.stderr
    return calls


def run(script: str, kafka_home, **env) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    home, secrets, log = kafka_home
    base = {"PATH": os.environ["PATH"], "KAFKA_HOME": str(home), "STUB_LOG": str(log),
            "KAFKA_ADMIN_PASSWORD_FILE": str(secrets / "admin"), "KAFKA_BEDFLOW_PASSWORD_FILE": str(secrets / "bedflow"),
            "KAFKA_TLS_CA_FILE": str(secrets / "ca.crt"), "KAFKA_TLS_CERT_FILE": str(secrets / "tls.crt"),
            "KAFKA_TLS_KEY_FILE": str(secrets / "tls.key"), "TMPDIR": str(log.parent)}
    r = subprocess.run([SH, str(KAFKA / script)], env=base | env, capture_output=True, text=True, timeout=60)
    calls = [line.split("\x1f")[:-1] for line in log.read_text().splitlines()] if log.exists() else []
    return r, calls


def option(args: list[str], name: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == name]


def acls(calls) -> list[dict]:
    """Each kafka-acls.sh call as {principal, operations, resource, name, pattern}."""
    out = []
    for c in calls:
        if c[0] != "kafka-acls.sh":
            continue
        args = c[1:]
        assert "--add" in args and "--remove" not in args and "--deny-principal" not in args, c
        kinds = [k for k in ("--topic", "--group", "--cluster", "--transactional-id") if k in args]
        assert len(kinds) == 1, c
        names = option(args, kinds[0]) if kinds[0] != "--cluster" else ["kafka-cluster"]
        for principal in option(args, "--allow-principal"):
            for name in names:
                out.append({"principal": principal, "operations": set(option(args, "--operation")),
                            "resource": kinds[0][2:], "name": name,
                            "pattern": (option(args, "--resource-pattern-type") or ["literal"])[0]})
    return out


def topics_created(calls) -> dict[str, dict]:
    out = {}
    for c in calls:
        if c[0] == "kafka-topics.sh" and "--create" in c:
            configs = dict(v.split("=", 1) for v in option(c, "--config"))
            out[option(c, "--topic")[0]] = {"partitions": int(option(c, "--partitions")[0]), **configs}
    return out




def test_the_script_knows_the_21_regions():
    script = (KAFKA / "create-topics.sh").read_text()
    listed = re.search(r'^REGIONS="([0-9 ]+)"$', script, re.M).group(1).split()
    assert listed == sorted(reference.regions()) and len(listed) == 21


def test_each_sender_writes_only_its_own_regions_input_topics(topic_job):
    calls = topic_job
    grants = acls(calls)
    settings = Settings(region_topics=True)
    inputs = settings.input_topics()
    for code in reference.regions():
        own = [g for g in grants if g["principal"] == f"User:sender-{code}"]
        assert {(g["resource"], g["name"], g["pattern"]) for g in own} == {
            ("topic", f"{settings.topic_beds}.{code}", "literal"),
            ("topic", f"{settings.topic_waitlist}.{code}", "literal")}, code
        assert all(g["operations"] == {"Write", "Describe"} for g in own), code
        assert f"{settings.topic_beds}.{code}" in inputs["beds"] and f"{settings.topic_waitlist}.{code}" in inputs["waitlist"]
    senders = {g["principal"] for g in grants if g["principal"].startswith("User:sender-")}
    assert senders == {f"User:sender-{c}" for c in reference.regions()}
    # no wildcard: no principal *, no topic *, no prefixed grant to anyone but nothing at all
    assert not [g for g in grants if g["principal"] in ("User:*", "*") or g["name"] == "*" or g["pattern"] != "literal"]
    # the only other principal is the platform
    assert {g["principal"] for g in grants} - senders == {"User:bedflow"}


def test_only_the_platform_reads_the_input_and_nobody_the_dead_letters(topic_job):
    calls = topic_job
    grants = acls(calls)
    s = Settings(region_topics=True)
    inputs = {t for ts in s.input_topics().values() for t in ts}
    readers = {(g["principal"], g["name"]) for g in grants if g["operations"] & {"Read", "All"} and g["resource"] == "topic"}
    assert readers == {("User:bedflow", t) for t in inputs}
    app = [g for g in grants if g["principal"] == "User:bedflow"]
    outputs = {s.topic_deadletter, s.topic_ward_status, s.topic_out_of_area, s.topic_waitlist_status}
    assert {g["name"] for g in app if "Write" in g["operations"]} == outputs  # never an input topic
    assert all(not g["operations"] & {"All", "Alter", "Delete", "Create", "AlterConfigs"} for g in grants)
    assert {(g["resource"], g["name"]) for g in app if g["resource"] != "topic"} == {("group", s.consumer_group)}
    # the dead letters are written by the platform and read by nobody (the admin is a super user)
    assert not [g for g in grants if g["name"] == s.topic_deadletter and "Read" in g["operations"]]


def test_the_topics_are_the_ones_the_workers_read(topic_job):
    calls = topic_job
    created = topics_created(calls)
    s = Settings(region_topics=True)
    inputs = [t for ts in s.input_topics().values() for t in ts]
    assert set(created) == set(inputs) | {s.topic_deadletter, s.topic_ward_status, s.topic_out_of_area,
                                          s.topic_waitlist_status}
    assert len(inputs) == 42 and all(created[t]["partitions"] == 12 for t in created)
    assert {created[t]["retention.ms"] for t in inputs} == {str(90 * 86_400_000)}
    # ACLs before topics; the workers wait for the last topic, which comes after every ACL
    creates = [i for i, c in enumerate(calls) if c[0] == "kafka-topics.sh" and "--create" in c]
    assert max(i for i, c in enumerate(calls) if c[0] == "kafka-acls.sh") < creates[0]
    assert option(calls[creates[-1]], "--topic") == [s.topic_waitlist_status]
    worker = (ROOT / "deploy" / "k8s" / "50-worker.yaml").read_text()
    assert '--describe --topic "$BEDFLOW_TOPIC_WAITLIST_STATUS"' in worker


def test_the_topic_script_refuses_shared_input_topics(kafka_home):
    r, calls = run("create-topics.sh", kafka_home, **(TOPIC_ENV | {"BEDFLOW_REGION_TOPICS": "false"}))
    assert r.returncode == 2 and "BEDFLOW_REGION_TOPICS" in r.stderr
    assert not [c for c in calls if c[0] in ("kafka-acls.sh", "kafka-topics.sh") and "--list" not in c]


def test_deployed_workers_read_per_region_topics():
    cms = {d["metadata"]["name"]: d.get("data", {}) for d in
           yaml.safe_load_all((ROOT / "deploy" / "k8s" / "10-config.yaml").read_text()) if d}
    assert cms["bedflow-env"]["BEDFLOW_REGION_TOPICS"] == "true"
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    for name in ("worker", "web", "topic-init"):
        assert str(compose["services"][name]["environment"]["BEDFLOW_REGION_TOPICS"]) == "true", name


def _broker(kafka_home, **env) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    home, _, log = kafka_home
    base = {"KAFKA_NODE_ID": "0", "KAFKA_CLUSTER_ID": "g3sEEbDyTDyW2eO-9DDq2Q", "KAFKA_ADVERTISED_HOST": "kafka-0",
            "KAFKA_CONTROLLER_QUORUM_VOTERS": "0@kafka-0:9093", "KAFKA_DATA_DIR": str(log.parent / "data"),
            "KAFKA_RUNTIME_CONF_DIR": str(log.parent / "conf")}
    r, _ = run("start-kafka.sh", kafka_home, **(base | env))
    props_file = Path(str(log) + ".server.properties")
    props = dict(ln.split("=", 1) for ln in props_file.read_text().splitlines() if "=" in ln) if props_file.exists() else {}
    return r, props


def test_brokers_deny_by_default_over_ssl_controllers(kafka_home):
    sts = next(d for d in yaml.safe_load_all((ROOT / "deploy" / "k8s" / "20-kafka.yaml").read_text())
               if d and d["kind"] == "StatefulSet")
    env = {e["name"]: e.get("value") for e in sts["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["KAFKA_CONTROLLER_PROTOCOL"] == "SSL"
    r, props = _broker(kafka_home, KAFKA_CONTROLLER_PROTOCOL="SSL", KAFKA_BROKER_CERT_CN=env["KAFKA_BROKER_CERT_CN"])
    assert r.returncode == 0, r.stderr
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"].split(";") == ["User:admin", f"User:{env['KAFKA_BROKER_CERT_CN']}"]
    # the controllers' principal is the broker certificate's CN, asked for on the controller listener
    assert props["listener.name.controller.ssl.client.auth"] == "required"
    assert props["ssl.principal.mapping.rules"] == "RULE:^CN=([^,]+).*$/$1/,DEFAULT"
    assert props["listener.security.protocol.map"] == "CONTROLLER:SSL,CLIENT:SASL_SSL"


def test_a_plaintext_controller_is_a_super_user_only_on_loopback(kafka_home):
    r, props = _broker(kafka_home, KAFKA_CONTROLLER_PROTOCOL="PLAINTEXT", KAFKA_CONTROLLER_HOST="localhost",
                       KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9093")
    assert r.returncode == 0, r.stderr
    assert props["super.users"].split(";") == ["User:admin", "User:ANONYMOUS"]
    assert props["allow.everyone.if.no.acl.found"] == "false"
    Path(str(kafka_home[2]) + ".server.properties").unlink()
    r, props = _broker(kafka_home, KAFKA_CONTROLLER_PROTOCOL="PLAINTEXT", KAFKA_CONTROLLER_HOST="0.0.0.0")
    assert r.returncode != 0 and "loopback" in r.stderr and not props
    # the one-node layout is the loopback kind
    env = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]["kafka"]["environment"]
    assert (env["KAFKA_CONTROLLER_PROTOCOL"], env["KAFKA_CONTROLLER_HOST"]) == ("PLAINTEXT", "localhost")


def test_the_access_model_is_written_down():
    ops = (ROOT / "deploy" / "OPERATIONS.md").read_text()
    page = ops.split("## Access model", 1)[1].split("\n## ", 1)[0]
    for term in ("`region:XX`", "`national`", "`admin`", "detail = true", "`sender-XX`", "allow.everyone.if.no.acl.found=false",
                 "`bedflow.beds.v1.XX`", "BEDFLOW_AUDIT_LOG", "Authorization: Bearer", "?token=", "v_analyst_"):
        assert term in page, term
