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


def _processes() -> dict[int, tuple[int, str, bytes]]:
    """Every live (not zombie) process: pid → (parent pid, state, command line), from /proc."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (d / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue
            if fields[0] != "Z":
                out[int(d.name)] = (int(fields[1]), fields[0], cmdline)
    return out


def children(pid: int, *, skip: bytes = b"") -> list[int]:
    """The live child processes of `pid` (from /proc), leaving out those whose command line holds `skip`.
    The worker's intake is one (streams/intake.py); multiprocessing's resource tracker is another."""
    return [p for p, (ppid, _, cmdline) in _processes().items() if ppid == pid and not (skip and skip in cmdline)]


def descendants(pid: int) -> dict[int, str]:
    """Every live process started by `pid`, at any depth (pid → command line), from /proc. A broker
    started in a session of its own is still a descendant."""
    procs = _processes()
    out, todo = {}, [pid]
    while todo:
        p = todo.pop()
        for child, (ppid, _, cmdline) in procs.items():
            if ppid == p and child not in out:
                out[child] = cmdline.replace(b"\0", b" ").decode(errors="replace")
                todo.append(child)
    return out


def gone(pid: int) -> bool:
    """True when the process has exited (a zombie counts as gone: it runs nothing)."""
    try:
        stat = (Path("/proc") / str(pid) / "stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


class Worker:
    def __init__(self, bootstrap: str, workdir: Path, suffix: str, *, partitions: int = 3, env: dict | None = None,
                 config_file: Path | None = None, args: tuple[str, ...] = ()):
        self.bootstrap, self.workdir, self.suffix = bootstrap, workdir, suffix
        self.args = args  # extra `bedflow worker` arguments
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
        self.proc = subprocess.Popen([sys.executable, "-m", "bedflow.cli", "worker", *self.args], env=self.env,
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

    @property
    def store_dir(self) -> Path:
        return self.workdir / "data" / "clickhouse"

    def committed(self) -> int:
        """Records of both source topics committed by this worker's consumer group."""
        group = self.env["BEDFLOW_CONSUMER_GROUP"]
        return sum(committed_total(self.bootstrap, group, self.topics[t]) for t in ("beds", "waitlist"))

    def kill_mid_run(self, total: int, taken: int = 1, kill=None) -> dict:
        """SIGKILL this life once it has taken at least `taken` records and written a batch of them, and
        assert that the kill landed before all `total` records were committed. (Waiting only for the
        API lets every kill land in the start-up, before a partition is assigned.) `kill` replaces the
        SIGKILL of the whole worker (e.g. one of its two processes); it returns once no process of the
        life can commit any more. Returns what this life had done: records taken, event rows written,
        records committed by the group after the kill."""
        def far_enough():
            return self.processed() >= taken and self.metric("bedflow_sink_rows_total", 'table="events"') > 0

        wait_until(far_enough, 120, interval=0.05, what=f"the worker to take {taken} records and write some",
                   worker=self)
        seen = {"taken": self.processed(), "written": self.metric("bedflow_sink_rows_total", 'table="events"')}
        (kill or self.kill)()
        seen["committed"] = self.committed()  # the group has no live member now: this is final for the life
        assert seen["taken"] >= taken and seen["written"] > 0, seen
        assert seen["committed"] < total, f"the kill landed after everything was committed: {seen}"
        return seen

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# -- the store as written (the worker must be stopped: one process may own a chDB directory) -------------

# Tables whose raw rows are counted (one row per write of a record's result, keyed as in migrations/).
RAW_TABLES = ("events", "deadletters", "ward_status", "out_of_area_admissions")
# State tables: one row per batch that changed the key, carrying the batch's version (a rewrite of the
# batch after a kill, or a rebuild, carries a new one). Table → key columns.
STATE_TABLES = {"ward_current": "ward_id", "out_of_area_current": "home_region, treating_region",
                "waitlist_contacts": "contact_key"}
COUNTED = RAW_TABLES + tuple(STATE_TABLES)

_STORE_SCRIPT = r"""
import json, sys
from sinks.clickhouse import ClickHouse
db = ClickHouse("chdb://" + sys.argv[1])
what = sys.argv[2]
if what == "hold_merges":
    db.migrate()
    for t in json.loads(sys.argv[3]):
        db.command(f"ALTER TABLE {t} MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1, "
                   "max_bytes_to_merge_at_min_space_in_pool = 1")
    out = {}
elif what == "query":
    cols, rows = db.query(sys.argv[3])
    out = [dict(zip(cols, r)) for r in rows]
else:
    q = lambda sql: db.query(sql)[1]
    out = {"raw": {t: q(f"SELECT count() FROM {t}")[0][0] for t in json.loads(sys.argv[3])},
           "final": {t: q(f"SELECT count() FROM {t} FINAL")[0][0] for t in json.loads(sys.argv[3])},
           "progress": [list(r) for r in q("SELECT epoch, source_topic, source_partition, max(offset) "
                                           "FROM progress GROUP BY epoch, source_topic, source_partition")],
           # every event row written more than once, with the one source position its copies share
           "event_copies": [list(r) for r in q(
               "SELECT event_id, groupUniqArray((epoch, source_topic, source_partition, source_offset)), "
               "count() FROM events GROUP BY event_id HAVING count() > 1")],
           # how many processed batches (one ingest instant each) the copied events come from
           "copied_batches": q("SELECT uniqExact(ingested_at) FROM events WHERE event_id IN "
                               "(SELECT event_id FROM events GROUP BY event_id HAVING count() > 1)")[0][0],
           "ward_status_copies": [list(r) for r in q(
               "SELECT event_id, count() FROM ward_status GROUP BY ward_id, at, event_id HAVING count() > 1")],
           "deadletter_copies": q("SELECT count() FROM (SELECT 1 FROM deadletters GROUP BY epoch, source_topic, "
                                  "source_partition, source_offset HAVING count() > 1)")[0][0],
           "admission_copies": [list(r) for r in q(
               "SELECT event_id, count() FROM out_of_area_admissions GROUP BY occurred_at, event_id "
               "HAVING count() > 1")],
           # state rows written twice with one version: the same batch's row written again
           "state_copies": {t: q(f"SELECT count() FROM (SELECT 1 FROM {t} GROUP BY {key}, version "
                                 "HAVING count() > 1)")[0][0] for t, key in json.loads(sys.argv[4]).items()}}
db.close()
print(json.dumps(out, default=str))
"""


def _store(store_dir: Path, what: str, arg: str):
    root = Path(__file__).resolve().parent.parent
    r = subprocess.run([sys.executable, "-c", _STORE_SCRIPT, str(store_dir), what, arg, json.dumps(STATE_TABLES)],
                       cwd=root, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"store {what} failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def hold_merges(store_dir: Path, tables=COUNTED):
    """Before the worker's first start: create the tables and keep ClickHouse from merging their parts.
    A ReplacingMergeTree merge drops the copies of a key within seconds, so without this a raw count
    would not show how often a row was written and a duplicate write could never fail a test."""
    _store(store_dir, "hold_merges", json.dumps(list(tables)))


def store_rows(store_dir: Path, tables=COUNTED) -> dict:
    """Row counts as written (`raw`, no FINAL) and after deduplication (`final`), the written position
    of every source partition (`progress`), and the keys written more than once (`*_copies`; for the
    state tables, `state_copies`: keys written twice with one version)."""
    return _store(store_dir, "rows", json.dumps(list(tables)))


def store_query(store_dir: Path, sql: str) -> list[dict]:
    """Rows of one query on a stopped worker's store (e.g. what it held when it stopped)."""
    return _store(store_dir, "query", sql)


def written_positions(rows: dict) -> dict[tuple[str, str, int], int]:
    return {(ep, t, int(p)): int(o) for ep, t, p, o in rows["progress"]}


def written_not_committed(written: dict[tuple[str, str, int], int], committed: int) -> int:
    """Records a restarted worker must find written and skip: those up to each partition's written
    position (`written`, read after a kill) that the group had not committed (`committed`)."""
    return sum(offset + 1 for offset in written.values()) - committed


def check_copies(rows: dict, kills: list[dict[tuple[str, str, int], int]]):
    """The design's promise about raw rows (streams/progress.py): a record at or below its partition's
    written position is skipped, so it is never written again; only a record beyond the written
    position at a SIGKILL (its batch written, the progress row not yet) is written once more in the
    next life. So an event's extra copies are at most the number of kills that found its position
    unwritten; `kills` holds the written positions read from the store after each kill."""
    for event_id, positions, copies in rows["event_copies"]:
        assert len(positions) == 1, f"event {event_id} written from several source positions: {positions}"
        ep, topic, part, offset = positions[0]
        unwritten_at = sum(1 for w in kills if int(offset) > w.get((ep, topic, int(part)), -1))
        assert copies <= 1 + unwritten_at, \
            f"event {event_id} at {topic}/{part}@{offset} written {copies} times; unwritten at {unwritten_at} kills"
    # a batch writes an event's row before the ward rows it caused, so a ward row is only written again
    # together with its event
    event_copies = {e: c for e, _, c in rows["event_copies"]}
    for name in ("ward_status_copies", "admission_copies"):
        for event_id, copies in rows[name]:
            assert copies <= event_copies.get(event_id, 1), \
                f"{name}: event {event_id} written {copies} times, the event {event_copies.get(event_id, 1)}"
    # a batch writes each current row once, and a batch written again (after a kill) has a new version
    assert not any(rows["state_copies"].values()), f"a state row written twice in one version: {rows['state_copies']}"


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


def publish(worker: "Worker", events: list[dict]):
    """Send events as a careless sender would (Publisher.send does not validate) and wait for delivery."""
    from bedflow.publish import Publisher
    from bedflow.settings import Settings
    from schemas.model import EVENT_TYPES

    pub = Publisher(Settings(topic_beds=worker.topics["beds"], topic_waitlist=worker.topics["waitlist"]),
                    worker.bootstrap)
    for e in events:
        pub.send(EVENT_TYPES[e["event_type"]].model_validate(e))
    assert pub.flush(60) == 0 and not pub.failed
