"""Real tests against the real local Tansu broker (no mocks)."""
from __future__ import annotations

import time
from collections import defaultdict

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from streams.broker import (BrokerError, LocalBroker, create_topics, faust_broker_settings,
                            free_port, kafka_client_defaults, wait_for_broker)

SESSION_MS = 6000


def _producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                     "linger.ms": 5})


def _consumer(bootstrap: str, group: str, **extra) -> Consumer:
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            **kafka_client_defaults(SESSION_MS), **extra}
    return Consumer(conf)


def _produce(p: Producer, topic: str, items: list[tuple[str, str]]) -> list:
    errors = []

    def cb(err, _msg):
        if err is not None:
            errors.append(err)

    for k, v in items:
        p.produce(topic, key=k.encode(), value=v.encode(), on_delivery=cb)
        p.poll(0)
    assert p.flush(30) == 0
    assert not errors, errors
    return errors


def _consume(c: Consumer, n: int, timeout: float = 30.0) -> list:
    out, deadline = [], time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for m in c.consume(num_messages=1000, timeout=0.5):
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise AssertionError(m.error())
            out.append(m)
    return out


def test_free_port_and_unreachable():
    p = free_port()
    assert 1024 < p < 65536
    t0 = time.monotonic()
    assert wait_for_broker(f"127.0.0.1:{p}", timeout=1.0) is False
    assert time.monotonic() - t0 < 5


def test_broker_alive_and_answers(broker):
    assert broker.alive
    assert wait_for_broker(broker.bootstrap, 5)


def test_create_topics_partitions_and_configs(broker, topic_names):
    a, b = topic_names("a", "b")
    create_topics(broker.bootstrap, {a: 4, b: 2})
    create_topics(broker.bootstrap, {a: 4, b: 2})  # idempotent
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    md = admin.list_topics(timeout=10)
    assert len(md.topics[a].partitions) == 4
    assert len(md.topics[b].partitions) == 2
    res = admin.describe_configs([ConfigResource("topic", a)])
    cfg = {k: v.value for k, v in next(iter(res.values())).result(10).items()}
    assert cfg.get("cleanup.policy") == "delete"
    assert cfg.get("retention.ms") == "-1"
    with pytest.raises(BrokerError):
        create_topics(broker.bootstrap, {a: 8}, timeout=3)


def test_keys_same_partition_and_order(broker, topic_names, unique_suffix):
    (t,) = topic_names("events")
    create_topics(broker.bootstrap, {t: 4})
    keys = [f"ward-{i}" for i in range(12)]
    items = [(k, f"{k}:{seq}") for seq in range(50) for k in keys]
    _produce(_producer(broker.bootstrap), t, items)

    c = _consumer(broker.bootstrap, f"g-{unique_suffix}")
    c.subscribe([t])
    try:
        msgs = _consume(c, len(items))
    finally:
        c.close()
    assert len(msgs) == len(items)
    parts_by_key, seqs_by_key, last_off = defaultdict(set), defaultdict(list), {}
    for m in msgs:
        k = m.key().decode()
        parts_by_key[k].add(m.partition())
        seqs_by_key[k].append(int(m.value().decode().split(":")[1]))
        assert m.offset() > last_off.get(m.partition(), -1)  # offsets increase within a partition
        last_off[m.partition()] = m.offset()
    assert all(len(p) == 1 for p in parts_by_key.values())
    assert all(s == list(range(50)) for s in seqs_by_key.values())
    assert len({p for ps in parts_by_key.values() for p in ps}) > 1  # 12 keys spread over partitions


def test_committed_offsets_resume(broker, topic_names, unique_suffix):
    (t,) = topic_names("resume")
    create_topics(broker.bootstrap, {t: 3})
    p = _producer(broker.bootstrap)
    first = [(f"k{i % 7}", f"a{i}") for i in range(300)]
    _produce(p, t, first)
    group = f"g-{unique_suffix}"

    c1 = _consumer(broker.bootstrap, group)
    c1.subscribe([t])
    got1 = _consume(c1, len(first))
    assert len(got1) == len(first)
    c1.commit(asynchronous=False)
    committed = c1.committed([TopicPartition(t, i) for i in range(3)], timeout=10)
    assert sum(tp.offset for tp in committed) == len(first)
    c1.close()

    second = [(f"k{i % 7}", f"b{i}") for i in range(120)]
    _produce(p, t, second)
    c2 = _consumer(broker.bootstrap, group)
    c2.subscribe([t])
    try:
        got2 = _consume(c2, len(second))
        more = _consume(c2, 1, timeout=2.0)  # nothing else should arrive
    finally:
        c2.close()
    assert sorted(m.value().decode() for m in got2) == sorted(v for _, v in second)
    assert more == []


def test_explicit_offset_commit_partial(broker, topic_names, unique_suffix):
    """Committing an explicit offset (after our own durable write) is what a new member resumes from."""
    (t,) = topic_names("partial")
    create_topics(broker.bootstrap, {t: 1})
    _produce(_producer(broker.bootstrap), t, [("k", f"v{i}") for i in range(100)])
    group = f"g-{unique_suffix}"
    c1 = _consumer(broker.bootstrap, group)
    c1.subscribe([t])
    got = _consume(c1, 100)
    assert len(got) == 100
    c1.commit(offsets=[TopicPartition(t, 0, got[39].offset() + 1)], asynchronous=False)
    c1.close()
    c2 = _consumer(broker.bootstrap, group)
    c2.subscribe([t])
    try:
        rest = _consume(c2, 60)
    finally:
        c2.close()
    assert [m.value().decode() for m in rest] == [f"v{i}" for i in range(40, 100)]


def test_settings_dicts():
    k = kafka_client_defaults(6000)
    assert k["session.timeout.ms"] == 6000 and k["heartbeat.interval.ms"] < 6000
    f = faust_broker_settings(6000)
    assert f["broker_session_timeout"] == 6.0
    assert f["consumer_auto_offset_reset"] == "earliest"


def test_local_broker_lifecycle(tmp_path):
    port = free_port()
    with LocalBroker(port, log_dir=tmp_path) as b:
        assert b.bootstrap == f"127.0.0.1:{port}" and b.alive
        pid = b.proc.pid
        create_topics(b.bootstrap, {"x": 2})
    assert not b.alive
    import os
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert wait_for_broker(f"127.0.0.1:{port}", timeout=1.0) is False
    assert any(tmp_path.iterdir())  # log file written


def test_local_broker_bad_binary(tmp_path):
    with pytest.raises(BrokerError):
        LocalBroker(bin_path=str(tmp_path / "nope")).start()
    bad = tmp_path / "false.sh"
    bad.write_text("#!/bin/sh\necho boom\nexit 3\n")
    bad.chmod(0o755)
    with pytest.raises(BrokerError, match="exited during startup"):
        LocalBroker(bin_path=str(bad), log_dir=tmp_path, startup_timeout=5).start()


def test_faust_app_short_fetch_wait(broker):
    """The worker's consumer waits `fetch_max_wait_ms`, not faust's built-in 1.5 s (Tansu holds a
    waiting fetch until it expires, so that wait is what an idle worker adds to freshness)."""
    import asyncio

    from streams.broker import faust_app

    async def build():
        app = faust_app("t-fetch-wait", broker=f"kafka://{broker.bootstrap}", fetch_max_wait_ms=77,
                        store="memory://", web_enabled=False, autodiscover=False, **faust_broker_settings(3000))
        thread = app.consumer._new_consumer_thread()
        return thread._create_worker_consumer(app.transport)

    consumer = asyncio.run(build())
    assert consumer._fetch_max_wait_ms == 77
