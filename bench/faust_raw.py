"""faust's raw consume rate on the same broker: an agent per topic that only counts (take_events, the
same batching the bedflow worker uses). Writes {"first": t, "last": t, "n": n} when it has seen N."""
from __future__ import annotations

import json
import os
import sys
import time

import faust

from streams.broker import faust_app, faust_broker_settings

bootstrap, group, target, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
topics = sys.argv[5:]
app = faust_app(group, broker=f"kafka://{bootstrap}", store="memory://", web_enabled=False, autodiscover=False,
                stream_buffer_maxsize=8192, **faust_broker_settings(3000))
state = {"n": 0, "first": None}


def make(name):
    topic = app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

    async def count(stream):
        async for events in stream.take_events(2000, within=0.1):
            if state["first"] is None:
                state["first"] = time.monotonic()
            state["n"] += len(events)
            if state["n"] >= target:
                with open(out, "w") as f:
                    json.dump({"first": state["first"], "last": time.monotonic(), "n": state["n"]}, f)
                os._exit(0)

    count.__name__ = "count_" + name.replace(".", "_").replace("-", "_")
    app.agent(topic, name=count.__name__)(count)


for t in topics:
    make(t)
faust.Worker(app, loglevel="warning", quiet=True).execute_from_commandline()
