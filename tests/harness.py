"""Run the real worker (`bedflow worker`) as a child process against the test broker, with its own
topics, consumer group, chDB directory and HTTP port; talk to it through its API and /metrics."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from streams.broker import create_topics, free_port

TOKEN = "test-admin-token"


class WaitTimeout(AssertionError, TimeoutError):
    """A wait that ran out: a failed assertion in tests, a TimeoutError to benchmarks."""


def wait_until(predicate, timeout: float = 60, interval: float = 0.3, what: str = "condition", worker=None):
    """Poll `predicate` until truthy. With `worker`, stop early if it died and show its log tail."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 — keep polling; report the last error on timeout
            last = e
            if worker is not None and not worker.alive():
                break
        time.sleep(interval)
    tail = ""
    if worker is not None and worker.log_path.exists():
        tail = "\n--- worker log tail ---\n" + worker.log_path.read_text(errors="replace")[-3000:]
    raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what} (last error: {last!r}){tail}")


def http_call(port: int, method: str, path: str, token: str | None, timeout: float = 60) -> tuple[int, bytes]:
    """(status, body) of one request to a local server, with the token as a bearer header if given."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def children(pid: int, *, skip: bytes = b"") -> list[int]:
    """The live child processes of `pid` (from /proc), leaving out those whose command line holds `skip`.
    The worker's intake is one (streams/intake.py); multiprocessing's resource tracker is another."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (d / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid and fields[0] != "Z" and not (skip and skip in cmdline):
                out.append(int(d.name))
    return out


class Worker:
    def __init__(self, bootstrap: str, workdir: Path, suffix: str, *, partitions: int = 3, env: dict | None = None,
                 config_file: Path | None = None):
        self.bootstrap, self.workdir, self.suffix = bootstrap, workdir, suffix
        self.port = free_port()
        self.partitions = partitions
        self.topics = {name: f"t.{suffix}.{name}" for name in
                       ("beds", "waitlist", "deadletter", "ward-status", "out-of-area", "waitlist-status")}
        self.env = {
            **os.environ,
            "BEDFLOW_BOOTSTRAP": bootstrap,
            "BEDFLOW_DATA_DIR": str(workdir / "data"),
            "BEDFLOW_PORT": str(self.port),
            "BEDFLOW_ADMIN_TOKEN": TOKEN,
            "BEDFLOW_SESSION_TIMEOUT_MS": "3000",
            "BEDFLOW_SINK_BATCH_SECONDS": "0.1",
            "BEDFLOW_CONSUMER_GROUP": f"g-{suffix}",
            "BEDFLOW_LOG_EPOCH": f"test-{suffix}",
            "BEDFLOW_PARTITIONS": str(partitions),
            "BEDFLOW_TOPIC_BEDS": self.topics["beds"],
            "BEDFLOW_TOPIC_WAITLIST": self.topics["waitlist"],
            "BEDFLOW_TOPIC_DEADLETTER": self.topics["deadletter"],
            "BEDFLOW_TOPIC_WARD_STATUS": self.topics["ward-status"],
            "BEDFLOW_TOPIC_OUT_OF_AREA": self.topics["out-of-area"],
            "BEDFLOW_TOPIC_WAITLIST_STATUS": self.topics["waitlist-status"],
            **({"BEDFLOW_CONFIG_FILE": str(config_file)} if config_file else {}),
            **(env or {}),
        }
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        create_topics(bootstrap, {t: partitions for t in self.topics.values()})

    @property
    def log_path(self) -> Path:
        return self.workdir / f"worker-{self.starts}.log"

    def start(self, wait_ready: bool = True) -> "Worker":
        self.starts += 1
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([sys.executable, "-m", "bedflow.cli", "worker"], env=self.env,
                                     stdout=self.log_path.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if wait_ready:
            wait_until(lambda: self.api("/api/v1/status") is not None, 90, what="worker API")
        return self

    def kill(self):
        """SIGKILL: no clean shutdown, no final commit."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _get(self, path: str, token: str | None = TOKEN) -> tuple[int, bytes]:
        if not self.alive():
            raise AssertionError(f"worker died; log:\n{self.log_path.read_text()[-3000:]}")
        return http_call(self.port, "GET", path, token, timeout=10)

    def api(self, path: str, token: str | None = TOKEN) -> dict:
        status, body = self._get(path, token)
        if status != 200:
            raise AssertionError(f"{path}: HTTP {status} {body[:300]!r}")
        return json.loads(body)

    def status_code(self, path: str, token: str | None = TOKEN) -> int:
        return self._get(path, token)[0]

    def metric(self, name: str, labels: str = "") -> float:
        _, body = self._get("/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            if line.startswith(name) and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                if key.startswith(name + "{") or key == name or key == name + "_total":
                    if labels in key:
                        total += float(value)
        return total

    def processed(self) -> float:
        """Source records handled (accepted, rejected or absorbed as duplicates)."""
        return self.metric("bedflow_events_in_total")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def committed_total(bootstrap: str, group: str, topic: str) -> int:
    """Records of `topic` committed by `group`, summed over partitions. (Tansu's ListOffsets does not
    report high watermarks reliably, so tests compare this with the number of records they sent.)"""
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        committed = c.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return sum(max(0, tp.offset) for tp in committed)
    finally:
        c.close()
