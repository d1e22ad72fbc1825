"""Prometheus metrics of one process (GET /metrics).

Label values are never free text: topic names, partition numbers, rule ids, region codes, sender
HSA-ids, table names and route patterns (not raw paths) only, so no series can carry an input's text.
Times are timestamps (seconds since the epoch), not "seconds ago" gauges: a gauge computed from the
last batch freezes when input stops, while `time() - timestamp` keeps growing in Prometheus.
"""
from __future__ import annotations

import datetime as dt
import threading
from typing import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from schemas import reference

# A batch is decode + rules + state + ClickHouse writes: milliseconds when idle, seconds in a catch-up.
BATCH_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# The API: status views in tens of ms, the morning report in seconds.
API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def epoch_seconds(t: dt.datetime) -> float:
    """A datetime as seconds since the epoch (a naive one is UTC, as the events' times are)."""
    return (t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)).timestamp()


def region_label(code: str) -> str:
    """A region code as a label value; anything else (a rule relaxed to a finding lets it through) is
    "other", so that no input text becomes a series."""
    return code if code in reference.regions() else "other"


def sender_label(sender_id: str) -> str:
    return sender_id if reference.is_hsa_id(sender_id) else "other"


def newer(seen: dict, key, t: dt.datetime) -> float | None:
    """Remember the newest time per key; the new timestamp if `t` is newer than what was seen, else None
    (a late event or a rebuilt processor never moves a last-event time back)."""
    ts = epoch_seconds(t)
    if key in seen and seen[key] >= ts:
        return None
    seen[key] = ts
    return ts


class Metrics:
    def __init__(self):
        self.registry = r = CollectorRegistry()
        self.events_in = Counter("bedflow_events_in", "Records consumed from source topics", ["topic"], registry=r)
        self.events_accepted = Counter("bedflow_events_accepted", "Records accepted", ["topic", "status"], registry=r)
        self.duplicates = Counter("bedflow_duplicates", "Accepted events already seen (same event_id)", registry=r)
        self.redelivered = Counter("bedflow_redelivered_skipped",
                                   "Records skipped because their batch was already written", registry=r)
        self.rejections = Counter("bedflow_rejections", "Rejected records by rule", ["rule_id"], registry=r)
        self.findings = Counter("bedflow_findings", "Quality findings by rule", ["rule_id"], registry=r)
        self.events_out = Counter("bedflow_events_out", "Change messages produced", ["topic"], registry=r)
        self.sink_rows = Counter("bedflow_sink_rows", "Rows written to ClickHouse", ["table"], registry=r)
        self.sink_retries = Counter("bedflow_sink_retries", "Failed ClickHouse writes retried", registry=r)
        self.sink_up = Gauge("bedflow_sink_up", "1 when the last ClickHouse write succeeded", registry=r)
        self.consumer_lag = Gauge(
            "bedflow_consumer_lag",
            "Records of a source partition this worker holds that are not yet written (end offset minus the "
            "next offset to write), measured every few seconds", ["topic", "partition"], registry=r)
        self.region_last_event = Gauge(
            "bedflow_region_last_event_timestamp_seconds",
            "occurred_at of the newest accepted event of each region, seconds since the epoch", ["region"],
            registry=r)
        self.sender_last_event = Gauge(
            "bedflow_sender_last_event_timestamp_seconds",
            "occurred_at of the newest accepted event of each sender (HSA-id), seconds since the epoch",
            ["region", "sender"], registry=r)
        self.batch_seconds = Histogram(
            "bedflow_batch_duration_seconds", "Seconds to process and write one batch (state, ClickHouse, progress)",
            buckets=BATCH_BUCKETS, registry=r)
        self.api_requests = Counter("bedflow_api_requests", "API requests", ["path", "status"], registry=r)
        self.api_seconds = Histogram(
            "bedflow_api_request_duration_seconds", "Seconds to answer an HTTP request, by route pattern",
            ["route"], buckets=API_BUCKETS, registry=r)
        self.sink_up.set(1)
        self._lag_keys: set[tuple[str, str]] = set()
        self._lag_lock = threading.Lock()
        self._regions: dict[str, float] = {}
        self._senders: dict[tuple[str, str], float] = {}

    def set_consumer_lag(self, lags: Mapping[tuple[str, int], int]):
        """The lag of every partition this worker holds now; partitions it no longer holds (a rebalance
        moved them) are dropped, so that only their new owner reports them."""
        keys = {(topic, str(partition)) for topic, partition in lags}
        with self._lag_lock:
            for key in self._lag_keys - keys:
                self.consumer_lag.remove(*key)
            for (topic, partition), lag in lags.items():
                self.consumer_lag.labels(topic, str(partition)).set(lag)
            self._lag_keys = keys

    def saw_regions(self, newest: Mapping[str, dt.datetime]):
        for region, t in newest.items():
            if (ts := newer(self._regions, region_label(region), t)) is not None:
                self.region_last_event.labels(region_label(region)).set(ts)

    def saw_senders(self, rows: Iterable):
        """From a batch's sender_last_seen rows (sender_id, region_code, last_event_at)."""
        for row in rows:
            key = (region_label(row.region_code), sender_label(row.sender_id))
            if (ts := newer(self._senders, key, row.last_event_at)) is not None:
                self.sender_last_event.labels(*key).set(ts)

    def render(self) -> bytes:
        return generate_latest(self.registry)
