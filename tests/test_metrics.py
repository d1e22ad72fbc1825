"""The worker's /metrics tell the truth: consumer lag per partition (it grows while ClickHouse is down and
falls to 0 once the input is written), last-event timestamps per region and sender equal to the newest
event's time, one batch-histogram observation per batch and one API-histogram observation per request."""
from __future__ import annotations

import datetime as dt
import random
import time

from prometheus_client.parser import text_string_to_metric_families

from bedflow.metrics import Metrics, newer
from streams.intake import partition_lag
from streams.rows import SenderSeenRow
from tests.factory import SENDER, T0, admit, ward
from tests.harness import Worker, publish, wait_until


# -- plain functions --------------------------------------------------------------------------------

def test_partition_lag_takes_the_larger_end():
    assert partition_lag(None, None, 7) == 0  # nothing known about the end: no lag invented
    assert partition_lag(10, None, 7) == 3
    assert partition_lag(8, 12, 7) == 5  # Tansu's ListOffsets is short by a record batch; the fetch is exact
    assert partition_lag(12, 8, 7) == 5  # the fetch stands still while the buffer is full
    assert partition_lag(5, 6, 7) == 0  # never negative
    assert partition_lag(-1, None, 0) == 0


def test_last_event_time_never_moves_back():
    seen: dict = {}
    t = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)
    assert newer(seen, "01", t) == t.timestamp()
    assert newer(seen, "01", t - dt.timedelta(minutes=5)) is None  # a late event
    assert newer(seen, "01", t) is None
    assert newer(seen, "01", t + dt.timedelta(seconds=1)) == t.timestamp() + 1
    assert newer(seen, "02", t.replace(tzinfo=None)) == t.timestamp()  # naive is UTC


def _samples(text: str, name: str) -> dict[tuple, float]:
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name:
                out[tuple(sorted(s.labels.items()))] = s.value
    return out


def test_metrics_registry_lag_and_timestamps():
    m = Metrics()
    m.set_consumer_lag({("beds", 0): 5, ("beds", 1): 0})
    m.set_consumer_lag({("beds", 1): 2, ("waitlist", 0): 1})  # partition 0 went to another worker
    lag = _samples(m.render().decode(), "bedflow_consumer_lag")
    assert lag == {(("partition", "1"), ("topic", "beds")): 2, (("partition", "0"), ("topic", "waitlist")): 1}
    t = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)
    m.saw_senders([SenderSeenRow("SE2321000016-0001", "01", t),
                   SenderSeenRow("SE2321000016-0001", "01", t - dt.timedelta(hours=1))])
    m.saw_regions({"01": t})
    m.saw_regions({"01": t - dt.timedelta(hours=1)})
    text = m.render().decode()
    assert _samples(text, "bedflow_sender_last_event_timestamp_seconds") == {
        (("region", "01"), ("sender", "SE2321000016-0001")): t.timestamp()}
    assert _samples(text, "bedflow_region_last_event_timestamp_seconds") == {(("region", "01"),): t.timestamp()}
    assert "bedflow_sink_lag_seconds" not in text and "bedflow_freshness_seconds" not in text


def test_label_values_are_never_free_text():
    """Only region codes and HSA-ids become labels, even if a relaxed rule lets another value through."""
    m = Metrics()
    t = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.timezone.utc)
    m.saw_senders([SenderSeenRow("Avd 7 Kalle 19121212-1212", "Stockholm", t)])
    m.saw_regions({"Stockholm": t, "01": t})
    text = m.render().decode()
    assert _samples(text, "bedflow_sender_last_event_timestamp_seconds") == {
        (("region", "other"), ("sender", "other")): t.timestamp()}
    assert set(_samples(text, "bedflow_region_last_event_timestamp_seconds")) == {(("region", "01"),),
                                                                                  (("region", "other"),)}
    assert "Kalle" not in text and "19121212" not in text


# -- a real worker ------------------------------------------------------------------------------------

OUTAGE_AFTER, OUTAGE_FOR = 40, 15
W1, W3 = "SE2321000016-M101", "SE2321000018-M301"  # ward ids are HSA-ids


def test_worker_metrics_tell_the_truth(broker, tmp_path):
    w = Worker(broker.bootstrap, tmp_path, f"metrics{random.randrange(10**6)}",
               env={"BEDFLOW_FAULT_CLICKHOUSE_OUTAGE": f"{OUTAGE_AFTER}:{OUTAGE_FOR}"})
    started = time.monotonic()
    w.start()
    try:
        def text() -> str:
            return w._get("/metrics")[1].decode()

        def lags() -> dict[tuple, float]:
            return _samples(text(), "bedflow_consumer_lag")

        partitions = {(("partition", str(p)), ("topic", w.topics[t])) for t in ("beds", "waitlist") for p in range(3)}
        wait_until(lambda: set(lags()) == partitions, 60, what="a lag for every partition", worker=w)

        # One event at a time: each is a batch of its own.
        first = [ward(W1, 0, "01"), ward(W3, 5, "03", hospital="SE2321000018-H001"), admit(W1, "met-s1", 10, region="01")]
        for i, e in enumerate(first, 1):
            publish(w, [e])
            wait_until(lambda: _samples(text(), "bedflow_batch_duration_seconds_count").get((), 0) == i, 30,
                       what=f"batch {i} written", worker=w)
        for _ in range(4):
            w.api("/api/v1/reference")
        t = text()
        assert _samples(t, "bedflow_batch_duration_seconds_count") == {(): 3}
        assert _samples(t, "bedflow_events_in_total") == {(("topic", w.topics["beds"]),): 3}
        api = _samples(t, "bedflow_api_request_duration_seconds_count")
        assert api[(("route", "/api/v1/reference"),)] == 4
        assert _samples(t, "bedflow_api_requests_total")[(("path", "/api/v1/reference"), ("status", "200"))] == 4
        assert not _samples(t, "bedflow_rejections_total"), _samples(t, "bedflow_rejections_total")
        minutes = lambda m: (T0 + dt.timedelta(minutes=m)).timestamp()  # noqa: E731
        assert _samples(t, "bedflow_region_last_event_timestamp_seconds") == {
            (("region", "01"),): minutes(10), (("region", "03"),): minutes(5)}
        assert _samples(t, "bedflow_sender_last_event_timestamp_seconds") == {
            (("region", "01"), ("sender", SENDER["01"])): minutes(10),
            (("region", "03"), ("sender", SENDER["03"])): minutes(5)}
        assert "bedflow_sink_lag_seconds" not in t
        wait_until(lambda: set(lags().values()) == {0}, 30, what="no lag once written", worker=w)
        assert time.monotonic() < started + OUTAGE_AFTER - 2, "too slow: the injected outage began before the test"

        # ClickHouse down: nothing is written, so every record sent waits, and the lag says so.
        time.sleep(max(0.0, started + OUTAGE_AFTER + 1 - time.monotonic()))
        more = [admit(W1, f"met-s{i}", 20 + i, region="01") for i in range(2, 42)]
        publish(w, more)
        wait_until(lambda: sum(lags().values()) == len(more), OUTAGE_FOR - 3, interval=0.5,
                   what="the lag of the records sent into the outage", worker=w)
        assert _samples(text(), "bedflow_sink_up") == {(): 0}

        wait_until(lambda: sum(lags().values()) == 0, OUTAGE_FOR + 60, what="the lag back to 0", worker=w)
        t = text()
        assert _samples(t, "bedflow_sink_up") == {(): 1}
        assert _samples(t, "bedflow_events_in_total") == {(("topic", w.topics["beds"]),): 3 + len(more)}
        assert _samples(t, "bedflow_batch_duration_seconds_count")[()] > 3
        assert _samples(t, "bedflow_region_last_event_timestamp_seconds")[(("region", "01"),)] == minutes(20 + 41)

        # A restarted worker knows every region's last event before any new one arrives (restored from
        # ClickHouse), so "region silent" neither fires nor goes blind across a restart.
        w.stop()
        w.start()
        restored = {(("region", "01"),): minutes(20 + 41), (("region", "03"),): minutes(5)}
        wait_until(lambda: _samples(text(), "bedflow_region_last_event_timestamp_seconds") == restored, 30,
                   what="the restored last-event times", worker=w)  # the API answers before the restore ends
        assert _samples(text(), "bedflow_events_in_total") == {}  # nothing new was consumed
    finally:
        w.stop()


def test_a_worker_without_the_api_serves_metrics_alone(broker, tmp_path):
    """`bedflow worker --no-api` (the deployed workers): /metrics answers for the probes and Prometheus,
    and nothing else does — the page and the API are bedflow-web's."""
    import os
    import urllib.error
    import urllib.request

    w = Worker(broker.bootstrap, tmp_path, f"noapi{os.getpid()}", partitions=1, args=("--no-api",))

    def get(path: str) -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{w.port}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, ""
        except OSError:
            return 0, ""

    w.start(wait_ready=False)
    try:
        wait_until(lambda: get("/metrics")[0] == 200, 90, what="the worker's /metrics")
        publish(w, [ward("SE2321000016-A101", 0), admit("SE2321000016-A101", "s1", 5)])
        wait_until(lambda: "bedflow_batch_duration_seconds_count" in get("/metrics")[1] and
                   _samples(get("/metrics")[1], "bedflow_events_in_total") and
                   sum(_samples(get("/metrics")[1], "bedflow_events_in_total").values()) >= 2, 60,
                   what="two events counted")
        assert get("/api/v1/status")[0] == 404 and get("/")[0] == 404
    finally:
        w.stop()
