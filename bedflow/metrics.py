"""Prometheus metrics of one process (GET /metrics)."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


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
        self.sink_lag_seconds = Gauge("bedflow_sink_lag_seconds",
                                      "Seconds from a batch's newest ingest to its ClickHouse write", registry=r)
        self.freshness_seconds = Gauge("bedflow_freshness_seconds",
                                       "Seconds since the newest event of each region", ["region"], registry=r)
        self.api_requests = Counter("bedflow_api_requests", "API requests", ["path", "status"], registry=r)
        self.sink_up.set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)
