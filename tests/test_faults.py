"""Crash and outage: SIGKILL of the worker mid-run, replays, and ClickHouse unavailable for a while.
Afterwards every event is there exactly once and the numbers equal those of an uninterrupted run."""
from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.bulk import bulk_events, expected_state, expected_ward_numbers, ward_numbers
from tests.harness import (
    Worker, check_copies, children, committed_total, gone, hold_merges, publish, store_rows, wait_until,
    written_not_committed, written_positions,
)


def caught_up(worker: Worker, sent: int) -> bool:
    return committed_total(worker.bootstrap, worker.env["BEDFLOW_CONSUMER_GROUP"], worker.topics["beds"]) >= sent


def counts(worker: Worker) -> dict:
    return worker.api("/api/v1/quality")["table_rows"]


def wards(worker: Worker) -> dict:
    return ward_numbers(worker.api("/api/v1/status?level=ward")["rows"])


def test_sigkill_mid_run_equals_uninterrupted_run(broker, tmp_path):
    """Three SIGKILLs, each after that life took records and wrote some and before all were committed;
    afterwards every event is there once after deduplication, and as written (raw rows, merges held)
    an event has an extra copy only where a kill found its batch written but not its progress row."""
    events = bulk_events(12_000, seed=11)
    expected = expected_ward_numbers(expected_state(events))
    # small batches: a life's progress is written in steps, so a kill can land between two of them
    worker = Worker(broker.bootstrap, tmp_path, f"kill{random.randrange(10**6)}",
                    env={"BEDFLOW_SINK_BATCH_SIZE": "500"})
    hold_merges(worker.store_dir)
    publish(worker, events)
    kills, lives = [], []
    try:
        for taken in (300, 1500, 700):
            worker.start()
            lives.append(worker.kill_mid_run(len(events), taken))
            kills.append(written_positions(store_rows(worker.store_dir)))
        # every life got further than the one before: none was spent in start-up alone
        committed = [life["committed"] for life in lives]
        assert committed == sorted(committed) and all(life["written"] > 0 for life in lives), lives
        worker.start()
        wait_until(lambda: caught_up(worker, len(events)), 180, what="the worker to catch up")
        wait_until(lambda: counts(worker)["events"] == len(events), 60,
                   what=f"all events in ClickHouse (have {counts(worker)})")
        assert wards(worker) == expected
        assert counts(worker)["deadletters"] == 0
        # the last life skipped exactly what the last kill left written but not committed (the skip works)
        assert worker.metric("bedflow_redelivered_skipped_total") == \
            written_not_committed(kills[-1], lives[-1]["committed"]) > 0
    finally:
        worker.stop()
    rows = store_rows(worker.store_dir)
    assert rows["final"]["events"] == len(events)
    assert rows["raw"]["deadletters"] == 0
    check_copies(rows, kills)


def test_replayed_scenario_changes_nothing(broker, tmp_path):
    events = bulk_events(4_000, seed=12)
    worker = Worker(broker.bootstrap, tmp_path, f"replay{random.randrange(10**6)}")
    hold_merges(worker.store_dir)
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
    # As written, not only after deduplication: the first pass was wholly written before the replays,
    # and a replayed event is absorbed by its id (never written), killed or not. So one row per event.
    rows = store_rows(worker.store_dir)
    assert rows["raw"]["events"] == len(events), rows["raw"]
    assert rows["event_copies"] == [] and rows["ward_status_copies"] == []
    assert rows["raw"]["ward_status"] == rows["final"]["ward_status"]


def test_clickhouse_outage_loses_nothing(broker, tmp_path):
    events = bulk_events(5_000, seed=13)
    worker = Worker(broker.bootstrap, tmp_path, f"outage{random.randrange(10**6)}",
                    env={"BEDFLOW_FAULT_CLICKHOUSE_OUTAGE": "10:8"})
    hold_merges(worker.store_dir)
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
    # The sink retries a failed batch whole (sinks/writer.py) and one outage fails every write until it
    # ends, so only the batch in progress when it began can have tables written twice, each row once more.
    rows = store_rows(worker.store_dir)
    assert rows["final"]["events"] == len(events)
    assert all(copies == 2 for _, _, copies in rows["event_copies"]), rows["event_copies"][:5]
    assert rows["copied_batches"] <= 1 and rows["raw"]["events"] - len(events) == len(rows["event_copies"])


def test_either_half_of_the_worker_dying_takes_the_other_and_loses_nothing(broker, tmp_path):
    """The worker is two processes (streams/intake.py). SIGKILL of the processing parent alone must end
    the intake child too (no orphan keeps consuming); SIGKILL of the intake alone must end the parent with
    exit code 70. Each kill lands after that life took records and wrote some and before all were
    committed (asserted); after each, a restarted worker ends with every event exactly once."""
    events = bulk_events(8_000, seed=13)
    expected = expected_ward_numbers(expected_state(events))
    # small batches, as in the SIGKILL test above: a life commits in steps, so a kill lands between them
    worker = Worker(broker.bootstrap, tmp_path, f"half{random.randrange(10**6)}",
                    env={"BEDFLOW_SINK_BATCH_SIZE": "500"})
    hold_merges(worker.store_dir)
    publish(worker, events)
    kills, lives = [], []
    try:
        worker.start()

        def parent_only():
            (intake,) = children(worker.proc.pid, skip=b"resource_tracker")
            os.kill(worker.proc.pid, signal.SIGKILL)
            worker.proc.wait(10)
            wait_until(lambda: gone(intake), 10, what="the orphaned intake to exit")

        lives.append(worker.kill_mid_run(len(events), 300, kill=parent_only))
        kills.append(written_positions(store_rows(worker.store_dir)))

        worker.start()

        def intake_only():
            (intake,) = children(worker.proc.pid, skip=b"resource_tracker")
            os.kill(intake, signal.SIGKILL)
            assert worker.proc.wait(30) == 70

        lives.append(worker.kill_mid_run(len(events), 300, kill=intake_only))
        kills.append(written_positions(store_rows(worker.store_dir)))
        assert lives[0]["committed"] <= lives[1]["committed"], lives  # the second life went on from the first

        worker.start()
        wait_until(lambda: caught_up(worker, len(events)), 180, what="the worker to catch up")
        wait_until(lambda: counts(worker)["events"] == len(events), 60,
                   what=f"all events in ClickHouse (have {counts(worker)})")
        assert wards(worker) == expected
    finally:
        worker.stop()
    rows = store_rows(worker.store_dir)
    assert rows["final"]["events"] == len(events)
    check_copies(rows, kills)


def test_a_second_write_of_a_written_record_fails_the_copy_check(tmp_path):
    """The raw counts above can fail: with merges held a second write of an event stays a row of its own,
    and a copy of a record its partition's progress already covered breaks the promise."""
    from sinks.clickhouse import ClickHouse

    store = tmp_path / "ch"
    hold_merges(store)
    db = ClickHouse(f"chdb://{store}")
    cols = ["event_id", "event_type", "epoch", "source_topic", "source_partition", "source_offset"]
    for _ in range(2):  # the same record written twice, in two inserts (two parts)
        db.insert("events", [("e-1", "PatientAdmitted", "ep", "beds", 0, 5)], cols)
    db.insert("events", [("e-2", "PatientAdmitted", "ep", "beds", 0, 6)], cols)
    db.close()
    rows = store_rows(store)
    assert (rows["raw"]["events"], rows["final"]["events"]) == (3, 2)
    check_copies(rows, [{("ep", "beds", 0): 4}])  # the kill found offset 5 unwritten: one rewrite allowed
    with pytest.raises(AssertionError, match="written 2 times"):
        check_copies(rows, [{("ep", "beds", 0): 5}])  # offset 5 was written: it must have been skipped
    with pytest.raises(AssertionError):
        check_copies(rows, [])  # no kill at all: no copy is allowed
