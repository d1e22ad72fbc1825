"""`bedflow up --simulate`: the one-command platform brings up all 21 regions; Ctrl-C stops it and every
process it started; starting again (with a new, empty embedded broker) comes back with the numbers it
had when it was stopped, and its rebuilt state carries on from them."""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

from bedflow.publish import BROKER_FILE, Publisher
from bedflow.settings import Settings
from schemas.model import CapacityChanged, PatientAdmitted
from streams.broker import free_port
from tests.harness import descendants, gone, store_query, wait_until

TOKEN = "up-test-token"
KEEP = ("staffed_beds", "occupied", "on_leave", "overcrowded", "outliers", "discharge_ready", "out_of_area_in")


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


def interrupt_and_check_all_gone(proc) -> dict[int, str]:
    """Ctrl-C (SIGINT to the process group, as a terminal does); exit code 0, and afterwards no process
    it started — the Tansu broker (in a session of its own), the intake child, the resource tracker —
    is left running. Returns the processes that were there."""
    ours = descendants(proc.pid)
    assert any("tansu" in cmd for cmd in ours.values()), ours
    assert any("multiprocessing" in cmd for cmd in ours.values()), ours  # the intake (spawned)
    os.killpg(proc.pid, signal.SIGINT)
    assert proc.wait(60) == 0
    wait_until(lambda: all(gone(p) for p in ours), 10, what=f"every process of ours to end: {ours}")
    return ours


def ward_rows(port) -> dict[str, tuple]:
    """KEEP of each ward as the store has it: a census-only ward's out-of-area count is shown apart
    (`out_of_area_in_census`) and stored in `out_of_area_in`."""
    def stored_form(w: dict) -> tuple:
        return tuple(w[k] + (w.get("out_of_area_in_census") or 0 if k == "out_of_area_in" else 0) for k in KEEP)

    return {w["id"]: stored_form(w) for w in api(port, "/api/v1/status?level=ward")["rows"]}


def test_up_simulate_then_ctrl_c_then_restart_with_the_numbers_of_before(tmp_path):
    port = free_port()
    store = tmp_path / "data" / "clickhouse"
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
        # the bed history is sent as fast as it goes, next to a long waiting-list backlog: wait until the
        # wards are caught up (the same numbers 3 s apart); after that only real-time events change them
        def settled():
            first = ward_rows(port)
            time.sleep(3)
            return ward_rows(port) == first

        wait_until(settled, 180, interval=0.1, what="the simulated bed history to be processed")
        # After the history only real-time events arrive, stamped with the wall clock when sent: a ward
        # whose last event is younger than 10 s before the read may have changed after it (an event in
        # flight, a batch being written, the API's half-second cache) and is left out below.
        read_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=10)
        before = ward_rows(port)
        interrupt_and_check_all_gone(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    console = (tmp_path / "up-1.log").read_text()
    assert "Traceback" not in console and "Traceback" not in (tmp_path / "data" / "logs" / "bedflow.log").read_text()
    # the console shows the platform's own lines; faust's start-up chatter stays in the log file
    assert "bedflow is up" in console and "[^Worker]" not in console
    assert "[^Worker]" in (tmp_path / "data" / "logs" / "bedflow.log").read_text()

    # What the store held when it stopped. The simulator runs in real time, so a ward may have changed
    # between the last read and Ctrl-C: such a ward has an event younger than `read_at` and is left out
    # of this one comparison; every other ward must be exactly as the page showed it.
    stored = {r["ward_id"]: r for r in store_query(store, "SELECT * FROM ward_current FINAL")}
    changed = {w for w, r in stored.items()
               if dt.datetime.fromisoformat(str(r["last_event_at"])).replace(tzinfo=dt.timezone.utc) > read_at}
    assert len(changed) <= max(5, len(stored) // 10), changed  # nearly every ward is compared
    stopped = {w: tuple(int(r[k]) for k in KEEP) for w, r in stored.items()}
    def unchanged(rows):
        return {w: v for w, v in rows.items() if w not in changed}

    assert unchanged(before) == unchanged(stopped)
    bed_events = store_query(store, "SELECT count() AS n FROM events FINAL WHERE entity_key NOT LIKE '%:%'")[0]["n"]
    counts = {t: store_query(store, f"SELECT count() AS n FROM {t} FINAL")[0]["n"] for t in ("events", "deadletters")}

    # a new life: a new, empty broker; ClickHouse keeps the history
    proc = start(tmp_path, port, n=2)
    try:
        wait_until(lambda: "events restored" in (tmp_path / "up-2.log").read_text(), 120, interval=1,
                   what="the restore")
        assert ward_rows(port) == stopped
        table_rows = api(port, "/api/v1/quality")["table_rows"]
        assert {t: table_rows[t] for t in counts} == counts
        restored = int(re.search(r"\((\d+) events restored\)", (tmp_path / "up-2.log").read_text()).group(1))
        assert restored == bed_events  # every accepted bed event rebuilt the state

        # The rebuilt state carries on from the stopped numbers: one admission more in three wards, and
        # six staffed beds more in one (numbers from the stopped store plus the scenario, not our code).
        adt = sorted(w for w, r in stored.items() if r["source"] == "adt" and r["region_code"] == "01"
                     and r["ward_kind"] == "general" and int(r["occupied"]) > 0)[:3]
        assert len(adt) == 3
        now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
        bootstrap = (tmp_path / "data" / BROKER_FILE).read_text().strip()
        pub = Publisher(Settings(), bootstrap)
        for i, w in enumerate(adt):
            r = stored[w]
            pub.send(PatientAdmitted(event_id=f"00000000-0000-4000-8000-{i:012d}", occurred_at=now,
                                     sender_id=r["sender_id"], region_code="01", ward_id=w, stay_id=f"up-test-{i}",
                                     patient_ref=f"p_{i:016d}", responsible_mvo_code=r["mvo_code"],
                                     home_municipality_code="0180"))
        pub.send(CapacityChanged(event_id="00000000-0000-4000-8000-000000000099", occurred_at=now,
                                 sender_id=stored[adt[0]]["sender_id"], region_code="01", ward_id=adt[0],
                                 staffed_beds=int(stored[adt[0]]["staffed_beds"]) + 6, reason="staffing"))
        assert pub.flush(30) == 0 and not pub.failed
        expected = dict(stopped)
        for w in adt:
            staffed, occupied, *rest = stopped[w]
            staffed += 6 if w == adt[0] else 0
            occupied += 1
            expected[w] = (staffed, occupied, rest[0], max(0, occupied - staffed), *rest[2:])
        wait_until(lambda: ward_rows(port) == expected, 60, interval=0.5,
                   what=f"the three wards to carry on from their stopped numbers: {[expected[w] for w in adt]}")
        interrupt_and_check_all_gone(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert "Traceback" not in (tmp_path / "up-2.log").read_text()
    assert "Traceback" not in (tmp_path / "data" / "logs" / "bedflow.log").read_text()
