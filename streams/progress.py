"""How far each source partition is written: the exactly-once rule in one place.

Tansu refuses transactions and a faust changelog both lost and double-counted updates after a SIGKILL,
so exactly-once comes from the order of three steps, as in Quix Streams' `Checkpoint.commit`
(state first, then the offsets):

1. `skip(topic, partition, offset)`: a record at or below the written position was applied and
   written before a crash; it is skipped, not applied again.
2. `advance(...)` notes each record taken into the batch; `rows(...)` ends the batch with one
   progress row per partition, written to the store after every other row of the batch (so it never
   vouches for rows that are not there) — the store's progress table is the sink's per-partition state,
   like the ClickHouse Kafka Connect sink's.
3. `commit()` once the store has the batch: only then is the position "written", and only then may the
   intake ack the batch's offsets to Kafka. A batch that fails to write is never committed: the worker
   dies and the records are redelivered.

After a restart `restore(...)` takes the written positions back from the store. State transitions are
idempotent by (occurred_at, event_id) as well, so a record written but not yet covered by a progress
row (a crash between the two) changes nothing when it is applied again.
"""
from __future__ import annotations

import datetime as dt

from streams.rows import ProgressRow

TopicPartition = tuple[str, int]


class Progress:
    __slots__ = ("epoch", "written", "pending")

    def __init__(self, epoch: str):
        self.epoch = epoch  # one life of the topics' offsets (a restarted embedded broker starts at 0)
        self.written: dict[TopicPartition, int] = {}
        self.pending: dict[TopicPartition, int] = {}

    def restore(self, written: dict[TopicPartition, int]):
        self.written = dict(written)
        self.pending = {}

    def skip(self, topic: str, partition: int, offset: int) -> bool:
        return offset <= self.written.get((topic, partition), -1)

    def advance(self, topic: str, partition: int, offset: int):
        tp = (topic, partition)
        if offset > self.pending.get(tp, -1):
            self.pending[tp] = offset

    def rows(self, now: dt.datetime) -> list[ProgressRow]:
        return [ProgressRow(self.epoch, t, p, off, now) for (t, p), off in self.pending.items()]

    def commit(self):
        """The batch is in the store: its positions are written."""
        for tp, off in self.pending.items():
            if off > self.written.get(tp, -1):
                self.written[tp] = off
        self.pending = {}
