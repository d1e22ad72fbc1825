"""faust's raw consume rate on the same broker: an agent per topic that only counts (take_events, the
same batching the bedflow worker uses). Writes {"first": t, "last": t, "n": n, "cpu": s} when it has
seen N. `--eager` first: with the intake's eager delivery instead of faust as shipped.

    python -m bench.faust_raw [--eager] BOOTSTRAP GROUP N OUT_JSON TOPIC...
"""
from __future__ import annotations

import json
import os
import sys
import time

import faust

from streams.broker import faust_app, faust_broker_settings

args = sys.argv[1:]
eager = args[0] == "--eager"  # with the intake's eager delivery (streams/broker.py), not faust as shipped
bootstrap, group, target, out = args[eager], args[eager + 1], int(args[eager + 2]), args[eager + 3]
topics = args[eager + 4:]
app = faust_app(group, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False, autodiscover=False,
                stream_buffer_maxsize=8192, eager_delivery=eager, **faust_broker_settings(3000))
state = {"n": 0, "first": None, "cpu_first": None}


def make(name):
    topic = app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def count(stream):
        async for events in stream.take_events(2000, within=0.1):
            if state["first"] is None:
                state["first"] = time.monotonic()
                state["cpu_first"] = time.process_time()
            state["n"] += len(events)
            if state["n"] >= target:
                with open(out, "w") as f:
                    json.dump({"first": state["first"], "last": time.monotonic(), "n": state["n"],
                               "cpu": time.process_time() - state["cpu_first"]}, f)
                os._exit(0)

    count.__name__ = "count_" + name.replace(".", "_").replace("-", "_")
    app.agent(topic, name=count.__name__)(count)


for t in topics:
    make(t)
faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
