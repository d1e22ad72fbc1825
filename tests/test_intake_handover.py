"""Two intakes of one consumer group on the real broker, the second joining while the first is under
load (its stream buffers full, so deliveries wait: the path where the eager delivery hands back to faust
and a rebalance must interrupt it). Nothing is lost, both take records, and neither hangs."""
from __future__ import annotations

import threading
import time

from confluent_kafka import Producer

from streams.broker import create_topics
from streams.intake import Intake, IntakeOptions
from tests.harness import wait_until

RECORDS = 24_000


class SlowWorker:
    """The worker's side of an intake's pipe, slow on purpose (the intake's buffers fill up)."""

    def __init__(self, opts: IntakeOptions, pause: float):
        self.intake = Intake(opts)
        self.seen: set[tuple[str, int, int]] = set()
        self.pause = pause
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        for batch_id, records in self.intake.batches():
            time.sleep(self.pause)
            self.seen.update((r.topic, r.partition, r.offset) for r in records)
            if not self.intake.written(batch_id):
                return

    def stop(self):
        self.intake.stop()
        self.thread.join(10)


def test_a_second_intake_joining_under_load_takes_partitions_and_nothing_is_lost(broker, topic_names, unique_suffix):
    topic, = topic_names("beds")
    create_topics(broker.bootstrap, {topic: 4})
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 20})
    for i in range(RECORDS):
        producer.produce(topic, key=str(i % 97).encode(), value=b"x" * 40, partition=i % 4)
    assert producer.flush(60) == 0
    opts = IntakeOptions(bootstrap=broker.bootstrap, consumer_group=f"handover-{unique_suffix}", topics=(topic,),
                         partitions=4, batch_size=300, batch_seconds=0.05, session_timeout_ms=3000,
                         log_level="warning")
    first = SlowWorker(opts, pause=0.05)
    second = None
    try:
        wait_until(lambda: len(first.seen) >= 2_000, timeout=90, what="the first intake under way")
        second = SlowWorker(opts, pause=0.05)
        wait_until(lambda: len(first.seen | second.seen) >= RECORDS, timeout=180, interval=0.5,
                   what="every record taken by one of the two intakes")
        print(f"first took {len(first.seen):,}, second {len(second.seen):,}")
        assert second.seen, "the second intake never got a partition"
        assert first.intake.child.is_alive() and second.intake.child.is_alive()
        expected = {(topic, p, o) for p in range(4) for o in range(RECORDS // 4)}
        assert first.seen | second.seen == expected
    finally:
        first.stop()
        if second:
            second.stop()
