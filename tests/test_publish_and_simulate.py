"""What regional integrators and `bedflow simulate` do, end to end: the CLI against the real broker and a
real worker; fault knobs produce what they say."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.broker import free_port
from bedflow.simulator import Simulator
from tests.harness import Worker, committed_total, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "region-01.jsonl"


def bedflow(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "bedflow.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def worker(broker, tmp_path_factory):
    w = Worker(broker.bootstrap, tmp_path_factory.mktemp("pub"), f"pub{os.getpid()}",
               env={"BEDFLOW_STALE_AFTER_MINUTES": "120"}).start()
    yield w
    w.stop()


def test_publish_example_file_reaches_the_api(worker):
    r = bedflow("publish", "--bootstrap", worker.bootstrap, str(EXAMPLE), env=worker.env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sent 7 event(s)" in r.stdout
    wards = wait_until(lambda: {x["id"]: x for x in worker.api("/api/v1/status?level=ward&region=01")["rows"]}
                       if len(worker.api("/api/v1/status?level=ward&region=01")["rows"]) == 2 else None, 60,
                       what="the example's wards")
    wait_until(lambda: worker.api("/api/v1/status?level=ward&region=01")["rows"][0]["staffed_beds"] == 22, 30,
               what="the capacity change")
    wards = {x["id"]: x for x in worker.api("/api/v1/status?level=ward&region=01")["rows"]}
    medicine, ortho = wards["SE2321000016-A101"], wards["SE2321000016-A201"]
    assert (medicine["staffed_beds"], medicine["occupied"], medicine["outliers"], medicine["out_of_area_in"]) == (22, 1, 1, 1)
    assert (ortho["occupied"], ortho["on_leave"]) == (0, 1)
    # The waiting-list event travels on its own topic, in a batch of its own: visible with the wards or
    # a moment after them (under load, seconds).
    wl = wait_until(lambda: worker.api("/api/v1/waitlist?region=01&at=2026-11-20T12:00:00%2B00:00")["rows"] or None,
                    30, what="the example's waiting-list contact")
    assert [(r["mvo_group"], r["phase"], r["waiting"], r["le_30"]) for r in wl] == [("Ögonsjukvård", 1, 1, 1)]


def test_publish_refuses_bad_lines_with_rule_ids(worker, tmp_path):
    good = EXAMPLE.read_text().splitlines()[0]
    bad = json.loads(good) | {"event_id": "5b0c3f0e-8f3a-4c55-9d1e-0a8f6a2b9c99", "region_code": "02"}
    pin = json.loads(EXAMPLE.read_text().splitlines()[2]) | {"patient_ref": "19121212-1212"}
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join([good, json.dumps(bad), "{not json", json.dumps(pin)]) + "\n")
    r = bedflow("publish", "--bootstrap", worker.bootstrap, str(f), env=worker.env)
    assert r.returncode == 1
    assert "sent 1 event(s)" in r.stdout and "refused 3 record(s)" in r.stdout
    assert "mixed.jsonl:2: COD-001" in r.stdout and "mixed.jsonl:3: DEC-001" in r.stdout
    assert "mixed.jsonl:4: PRV-001" in r.stdout and "19121212" not in r.stdout + r.stderr


def test_publish_csv(worker, tmp_path):
    import csv

    rows = [json.loads(line) for line in EXAMPLE.read_text().splitlines()[:2]]
    f = tmp_path / "wards.csv"
    with f.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([{k: ("" if v is None else v) for k, v in r.items()} for r in rows])
    r = bedflow("publish", "--bootstrap", worker.bootstrap, str(f), env=worker.env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sent 2 event(s)" in r.stdout


def test_publish_swedish_excel_csv_and_avro_container_files(worker, tmp_path):
    """A `;` CSV in UTF-8 with a BOM (Swedish Excel) declares two wards, an Avro object container file admits
    patients to them: one publish, and the worker's API shows both files' events."""
    import uuid

    from tests.test_sender_files import _container, excel_csv

    lines = [json.loads(line) for line in EXAMPLE.read_text(encoding="utf-8").splitlines()]
    declared, admitted = lines[0], lines[2]
    tag = uuid.uuid4().hex[:6].upper()  # new wards: the module's worker already holds the example's
    wards = [declared | {"event_id": str(uuid.uuid4()), "ward_id": f"SE2321000016-X{tag}{i}",
                         "ward_name": f"Kärl och hjärta {i}", "staffed_beds": 10 + i} for i in (1, 2)]
    csv_file = tmp_path / "avdelningar.csv"
    csv_file.write_bytes(excel_csv(wards, "utf-8-sig"))
    assert csv_file.read_bytes().startswith(b"\xef\xbb\xbf") and b";" in csv_file.read_bytes().splitlines()[0]
    stays = [admitted | {"event_id": str(uuid.uuid4()), "ward_id": w["ward_id"], "stay_id": f"VT-{tag}-{k}",
                         "patient_ref": f"p_{uuid.uuid4().hex[:16]}"}
             for k, w in enumerate([wards[0], wards[1], wards[1]])]
    avro_file = _container(tmp_path / "inskrivningar.avro", "PatientAdmitted", stays)
    assert avro_file.read_bytes()[:4] == b"Obj\x01"
    r = bedflow("publish", "--bootstrap", worker.bootstrap, str(csv_file), str(avro_file), env=worker.env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "sent 5 event(s)" in r.stdout

    def ours():
        rows = worker.api("/api/v1/status?level=ward&region=01")["rows"]
        got = {x["id"]: x for x in rows if x["id"] in {w["ward_id"] for w in wards}}
        return got if len(got) == 2 and sum(x["occupied"] for x in got.values()) == 3 else None

    got = wait_until(ours, 60, what="the CSV's wards with the Avro file's admissions")
    w1, w2 = (got[w["ward_id"]] for w in wards)
    assert (w1["staffed_beds"], w1["occupied"]) == (11, 1)
    assert (w2["staffed_beds"], w2["occupied"]) == (12, 2)
    names = {x.get("name") or x.get("ward_name") for x in got.values()}
    assert names == {"Kärl och hjärta 1", "Kärl och hjärta 2"}  # UTF-8 read past the BOM


def test_publish_refuses_what_validate_rejects_for_undeclared_wards_and_early_starts(worker, tmp_path):
    """publish and validate share one validation context: COD-005 (ward not declared, known from the
    input's WardDeclared) and MNG-003 (started before the decision, known from the input's
    ContactDecided) refuse the same records in both, with the same note when no ward is declared."""
    lines = EXAMPLE.read_text().splitlines()
    declared, decided = json.loads(lines[0]), json.loads(lines[6])
    assert (declared["event_type"], decided["event_type"]) == ("WardDeclared", "ContactDecided")
    undeclared = json.loads(lines[2]) | {"event_id": "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e01",
                                          "ward_id": "SE2321000016-A999"}
    early = {"event_id": "6f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e02", "event_type": "ContactPerformed",
             "occurred_at": "2026-11-19T10:00:00+01:00", "sender_id": decided["sender_id"],
             "region_code": "01", "contact_id": decided["contact_id"],
             "started_at": "2026-11-17T10:00:00+01:00",  # the day before decided_at
             "performing_provider_id": decided["provider_id"], "performing_region_code": "01"}
    wards = tmp_path / "wards.jsonl"  # sends only the example's own declaration (a duplicate if already sent)
    wards.write_text("\n".join(json.dumps(r) for r in (declared, undeclared)) + "\n")
    contacts = tmp_path / "contacts.jsonl"  # no WardDeclared: COD-005 cannot be checked, MNG-003 can
    contacts.write_text("\n".join(json.dumps(r) for r in (decided, early)) + "\n")
    note = "no WardDeclared in the input, so 'ward not declared' (COD-005) was not checked"

    v = bedflow("validate", str(wards))
    assert v.returncode == 1 and "wards.jsonl:2\trejected" in v.stdout and "COD-005" in v.stdout, v.stdout
    assert note not in v.stdout
    v = bedflow("validate", str(contacts))
    assert v.returncode == 1 and "contacts.jsonl:2\trejected" in v.stdout and "MNG-003" in v.stdout, v.stdout
    assert note in v.stdout

    r = bedflow("publish", "--bootstrap", worker.bootstrap, str(wards), env=worker.env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "sent 1 event(s)" in r.stdout and "refused 1 record(s)" in r.stdout
    assert "wards.jsonl:2: COD-005" in r.stdout and note not in r.stdout
    r = bedflow("publish", "--bootstrap", worker.bootstrap, str(contacts), env=worker.env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "sent 1 event(s)" in r.stdout and "refused 1 record(s)" in r.stdout
    assert "contacts.jsonl:2: MNG-003" in r.stdout and note in r.stdout


def test_publish_without_a_broker_says_so_in_one_line():
    r = bedflow("publish", "--bootstrap", f"127.0.0.1:{free_port()}", str(EXAMPLE), timeout=60)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "cannot reach a Kafka broker" in lines[0]
    assert "Traceback" not in r.stderr


def test_validate_mixed_file_exit_status(tmp_path):
    good = EXAMPLE.read_text().splitlines()[0]
    f = tmp_path / "m.jsonl"
    f.write_text(good + "\n" + json.loads(json.dumps(good)).replace('"01"', '"77"', 1) + "\n")
    r = bedflow("validate", str(f))
    assert r.returncode == 1 and "m.jsonl:2\trejected" in r.stdout and "COD-001" in r.stdout
    assert bedflow("validate", str(EXAMPLE)).returncode == 0
    assert bedflow("validate", str(tmp_path / "missing.jsonl")).returncode == 2


def test_simulator_fault_knobs_end_to_end(broker, tmp_path):
    """Duplicates are absorbed, malformed records reach the dead letters, a silent region goes stale."""
    w = Worker(broker.bootstrap, tmp_path, f"sim{os.getpid()}", env={"BEDFLOW_STALE_AFTER_MINUTES": "90"}).start()
    try:
        start = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=0.3)).replace(microsecond=0)
        args = ["--seed", "5", "--scale", "0.1", "--days", "0.3", "--regions", "01,03,09", "--only", "beds",
                "--duplicates", "0.05", "--malformed", "0.03", "--silent-region", "09", "--start", start.isoformat()]
        r = bedflow("simulate", "--bootstrap", w.bootstrap, *args, env=w.env)
        assert r.returncode == 0, r.stderr[-2000:]
        # the same run, with its faults marked, to know what to expect
        marked = list(Simulator(seed=5, regions=["01", "03", "09"], start=start, scale=0.1).events(
            0.3, waitlist=False, duplicates=0.05, malformed=0.03, silent_regions={"09"}, mark_faults=True))
        bad = [e for e in marked if e.get("_fault") not in (None, "duplicate", "late")]
        dups = [e for e in marked if e.get("_fault") == "duplicate"]
        good_ids = {e["event_id"] for e in marked if e.get("_fault") in (None, "duplicate", "late")}
        assert bad and dups
        wait_until(lambda: committed_total(w.bootstrap, w.env["BEDFLOW_CONSUMER_GROUP"], w.topics["beds"]) >= len(marked),
                   120, what="the simulated run")
        rows = wait_until(lambda: w.api("/api/v1/quality")["table_rows"] if
                          w.api("/api/v1/quality")["table_rows"]["deadletters"] == len(bad) else None, 60,
                          what=f"{len(bad)} dead letters")
        assert rows["events"] == len(good_ids - {e["event_id"] for e in bad})  # each accepted event once
        assert w.metric("bedflow_duplicates_total") >= len(dups) * 0.9
        regions = {x["id"]: x for x in w.api("/api/v1/status?level=region")["rows"]}
        assert regions["09"]["stale"] and regions["09"]["coverage"] == 0
        assert not regions["01"]["stale"] and regions["01"]["coverage"] > 0.5
        assert regions["09"]["last_event_at"] < regions["01"]["last_event_at"]
    finally:
        w.stop()


def test_month_end_snapshot_is_closed_and_re_closable(worker):
    import urllib.request

    from tests.harness import TOKEN

    wait_until(lambda: worker.api("/api/v1/waitlist?region=01&at=2026-11-20T12:00:00%2B00:00")["rows"], 60,
               what="the example's contact")

    def close():
        req = urllib.request.Request(f"http://127.0.0.1:{worker.port}/api/v1/waitlist/snapshots/close?month=2026-11",
                                     method="POST", headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    assert close()["rows"] >= 1
    rows = worker.api("/api/v1/waitlist/snapshots?month=2026-11")["rows"]
    eye = [r for r in rows if r["region_code"] == "01" and r["mvo_group"] == "Ögonsjukvård" and r["phase"] == 1]
    assert len(eye) == 1 and eye[0]["waiting"] == 1 and eye[0]["le_30"] == 1  # decided 2026-11-18: 12 days at month end
    close()  # re-closing replaces, never adds
    assert len(worker.api("/api/v1/waitlist/snapshots?month=2026-11")["rows"]) == len(rows)
    assert worker.status_code("/api/v1/waitlist/snapshots?month=2026-13") == 400
