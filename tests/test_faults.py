"""Crash and outage: SIGKILL of the worker mid-run, replays, and ClickHouse unavailable for a while.
Afterwards every event is there exactly once and the numbers equal those of an uninterrupted run."""
from __future__ import annotations

import os
import random
import signal
import time

from bedflow.settings import Settings
from schemas.model import EVENT_TYPES
from bedflow.publish import Publisher
from tests.bulk import bulk_events, expected_state, expected_ward_numbers, ward_numbers
from tests.harness import Worker, children, committed_total, wait_until


def publish(worker: Worker, events: list[dict]):
    pub = Publisher(Settings(topic_beds=worker.topics["beds"], topic_waitlist=worker.topics["waitlist"]),
                    worker.bootstrap)
    for e in events:
        pub.send(EVENT_TYPES[e["event_type"]].model_validate(e))
    assert pub.flush(60) == 0 and not pub.failed


def caught_up(worker: Worker, sent: int) -> bool:
    return committed_total(worker.bootstrap, worker.env["BEDFLOW_CONSUMER_GROUP"], worker.topics["beds"]) >= sent


def counts(worker: Worker) -> dict:
    return worker.api("/api/v1/quality")["table_rows"]


def wards(worker: Worker) -> dict:
    return ward_numbers(worker.api("/api/v1/status?level=ward")["rows"])


def test_sigkill_mid_run_equals_uninterrupted_run(broker, tmp_path):
    events = bulk_events(12_000, seed=11)
    expected = expected_ward_numbers(expected_state(events))
    worker = Worker(broker.bootstrap, tmp_path, f"kill{random.randrange(10**6)}")
    publish(worker, events)
    rnd = random.Random(5)
    try:
        for trial in range(3):
            worker.start()
            # let it get somewhere, then kill it without warning
            time.sleep(rnd.uniform(0.5, 2.5))
            worker.kill()
        worker.start()
        wait_until(lambda: caught_up(worker, len(events)), 180, what="the worker to catch up")
        wait_until(lambda: counts(worker)["events"] == len(events), 60,
                   what=f"all events in ClickHouse (have {counts(worker)})")
        assert wards(worker) == expected
        assert counts(worker)["deadletters"] == 0
    finally:
        worker.stop()


def test_replayed_scenario_changes_nothing(broker, tmp_path):
    events = bulk_events(4_000, seed=12)
    worker = Worker(broker.bootstrap, tmp_path, f"replay{random.randrange(10**6)}")
    try:
        worker.start()
        publish(worker, events)
        wait_until(lambda: caught_up(worker, len(events)), 120, what="first pass")
        wait_until(lambda: counts(worker)["events"] == len(events), 60, what="first pass in ClickHouse")
        before_wards, before_counts = wards(worker), counts(worker)
        assert before_wards == expected_ward_numbers(expected_state(events))
        publish(worker, events)              # the same events again (same ids, new offsets)
        time.sleep(1.0)
        worker.kill()                        # ... with the worker killed mid-way
        worker.start()
        publish(worker, events[: len(events) // 2])
        wait_until(lambda: caught_up(worker, len(events) * 2 + len(events) // 2), 120, what="replays")
        assert wards(worker) == before_wards
        assert counts(worker) == before_counts
    finally:
        worker.stop()


def test_clickhouse_outage_loses_nothing(broker, tmp_path):
    events = bulk_events(5_000, seed=13)
    worker = Worker(broker.bootstrap, tmp_path, f"outage{random.randrange(10**6)}",
                    env={"BEDFLOW_FAULT_CLICKHOUSE_OUTAGE": "10:8"})
    try:
        started = time.monotonic()
        worker.start()
        half = len(events) // 2
        publish(worker, events[:half])
        wait_until(lambda: counts(worker)["events"] == half, 60, what="the first half")
        # the injected outage begins 10 s after the worker started; send the rest into it
        time.sleep(max(0.0, started + 11 - time.monotonic()))
        publish(worker, events[half:])
        wait_until(lambda: worker.metric("bedflow_sink_retries_total") > 0, 30, what="failed writes")
        assert worker.metric("bedflow_sink_up") == 0
        wait_until(lambda: worker.metric("bedflow_sink_up") == 1, 60, what="ClickHouse back")
        wait_until(lambda: caught_up(worker, len(events)), 120, what="the backlog")
        wait_until(lambda: counts(worker)["events"] == len(events), 60, what="every event once")
        assert wards(worker) == expected_ward_numbers(expected_state(events))
        log = worker.log_path.read_text()
        assert "ClickHouse write failed" in log and "reachable again" in log
    finally:
        worker.stop()


def _gone(pid: int) -> bool:
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def test_either_half_of_the_worker_dying_takes_the_other_and_loses_nothing(broker, tmp_path):
    """The worker is two processes (streams/intake.py). SIGKILL of the processing parent alone must end
    the intake child too (no orphan keeps consuming); SIGKILL of the intake alone must end the parent with
    exit code 70. After each, a restarted worker ends with every event exactly once."""
    events = bulk_events(8_000, seed=13)
    expected = expected_ward_numbers(expected_state(events))
    worker = Worker(broker.bootstrap, tmp_path, f"half{random.randrange(10**6)}")
    publish(worker, events)
    try:
        worker.start()
        wait_until(lambda: worker.processed() > 0, 60, what="the worker to take records")
        intake = children(worker.proc.pid, skip=b"resource_tracker")
        assert len(intake) == 1, intake
        os.kill(worker.proc.pid, signal.SIGKILL)  # the parent only
        worker.proc.wait(10)
        wait_until(lambda: _gone(intake[0]), 10, what="the orphaned intake to exit")

        worker.start()
        wait_until(lambda: worker.processed() > 0 or caught_up(worker, len(events)), 60, what="records again")
        (intake,) = children(worker.proc.pid, skip=b"resource_tracker")
        os.kill(intake, signal.SIGKILL)  # the child only
        assert worker.proc.wait(30) == 70

        worker.start()
        wait_until(lambda: caught_up(worker, len(events)), 180, what="the worker to catch up")
        wait_until(lambda: counts(worker)["events"] == len(events), 60,
                   what=f"all events in ClickHouse (have {counts(worker)})")
        assert wards(worker) == expected
    finally:
        worker.stop()
