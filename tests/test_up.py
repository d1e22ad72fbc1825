"""`bedflow up --simulate`: the one-command platform brings up all 21 regions; Ctrl-C stops it cleanly;
starting again (with a new, empty embedded broker) comes back with the same live numbers."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request

from streams.broker import free_port
from tests.harness import wait_until

TOKEN = "up-test-token"


def api(port: int, path: str) -> dict:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def start(tmp_path, port, *extra, n=1):
    log = (tmp_path / f"up-{n}.log").open("w")
    env = {**os.environ, "BEDFLOW_ADMIN_TOKEN": TOKEN, "BEDFLOW_SESSION_TIMEOUT_MS": "3000"}
    return subprocess.Popen([sys.executable, "-m", "bedflow.cli", "up", "--port", str(port), "--data-dir",
                             str(tmp_path / "data"), *extra], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def interrupt(proc):
    """Ctrl-C: SIGINT to the process group, as a terminal does."""
    os.killpg(proc.pid, signal.SIGINT)
    return proc.wait(60)


def nation_and_wards(port):
    nation = api(port, "/api/v1/status?level=nation")["rows"][0]
    wards = api(port, "/api/v1/status?level=ward")["rows"]
    keep = ("staffed_beds", "occupied", "on_leave", "overcrowded", "outliers", "discharge_ready", "out_of_area_in")
    return ({k: nation[k] for k in keep}, {w["id"]: tuple(w[k] for k in keep) for w in wards},
            api(port, "/api/v1/quality")["table_rows"])


def test_up_simulate_populates_all_regions_then_restarts_with_the_same_numbers(tmp_path):
    port = free_port()
    proc = start(tmp_path, port, "--simulate", "--scale", "0.05", "--days", "0.2")
    try:
        def populated():
            rows = api(port, "/api/v1/status?level=region")["rows"]
            return len(rows) == 21 and all(r["staffed_beds"] > 0 and r["occupied"] > 0 for r in rows)

        wait_until(populated, 240, interval=1, what="all 21 regions with simulated patients")
        wait_until(lambda: api(port, "/api/v1/status?level=nation")["rows"][0]["coverage"] > 0, 120, interval=1,
                   what="fresh wards")
        out = (tmp_path / "up-1.log").read_text()
        assert f"http://127.0.0.1:{port}/" in out and TOKEN in out and "embedded Tansu broker" in out
        assert interrupt(proc) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Traceback" not in (tmp_path / "up-1.log").read_text()

    # a new life of the platform: a new, empty broker; ClickHouse keeps the history
    numbers = []
    for n in (2, 3):
        proc = start(tmp_path, port, n=n)
        try:
            wait_until(lambda: api(port, "/api/v1/status?level=nation")["rows"], 120, interval=1, what="the API")
            numbers.append(nation_and_wards(port))
            assert interrupt(proc) == 0
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert numbers[0] == numbers[1]
    nation, wards, rows = numbers[0]
    assert nation["occupied"] > 0 and len(wards) > 100 and rows["events"] > 1000
