"""Reads for the occupancy forecast (streams/domain/forecast.py): the wards' history on a grid of whole
hours, from the ward-status history (`ward_status`, by event time). ClickHouse groups the rows per ward and
hour; the domain stitches the hours together (build_hours)."""
from __future__ import annotations

import datetime as dt

from sinks.clickhouse import ClickHouse

HOUR_MS = 3_600_000
LOOKBACK = dt.timedelta(days=2)  # the state at the grid's start is looked for here first (as wards_at)


def _naive(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.timezone.utc).replace(tzinfo=None)


def ward_hours(db: ClickHouse, start: dt.datetime, hours: int) -> tuple[dict, dict]:
    """The history of every ward over the `hours` whole hours from `start` (UTC, on the hour):

    - `base`: ward → (occupied, discharge_ready, staffed_beds) of its newest row at or before `start`;
    - `changes`: ward → [(hour, first_occupied, last_occupied, rises, falls, last_ready, last_staffed)] for
      each hour with rows, in order: the hour of a row at `at` is the one it ends (a row exactly on the
      hour belongs to the hour before, so a state "at" an instant is its newest row at or before it); a
      row's copies (same ward, instant and event) count once, the newest version.
    """
    end = start + dt.timedelta(hours=hours)
    p = {"start": _naive(start), "end": _naive(end), "since": _naive(start - LOOKBACK),
         "start_ms": int(start.timestamp() * 1000)}
    state = ("argMax(occupied, (at, version)) AS occupied, argMax(discharge_ready, (at, version)) AS ready, "
             "argMax(staffed_beds, (at, version)) AS staffed")
    _, recent = db.query(f"SELECT ward_id, {state} FROM ward_status WHERE at <= {{start:DateTime64(3)}} "
                         "AND at > {since:DateTime64(3)} GROUP BY ward_id", p)
    _, known = db.query("SELECT DISTINCT ward_id FROM ward_current")
    p["quiet"] = sorted({w for (w,) in known} - {w for w, *_ in recent})
    _, quiet = db.query(f"SELECT ward_id, {state} FROM ward_status WHERE ward_id IN {{quiet:Array(String)}} "
                        "AND at <= {start:DateTime64(3)} GROUP BY ward_id", p) if p["quiet"] else (None, [])
    base = {w: (int(o), int(r), int(s)) for w, o, r, s in (*recent, *quiet)}
    _, rows = db.query(
        "SELECT ward_id, h, seq[1] AS first, seq[-1] AS last, "
        " arraySum(arrayMap(d -> greatest(d, 0), arrayDifference(seq))) AS rises, "
        " arraySum(arrayMap(d -> greatest(-d, 0), arrayDifference(seq))) AS falls, ready, staffed FROM ("
        " SELECT ward_id, intDiv(toUnixTimestamp64Milli(at) - {start_ms:Int64} - 1, 3600000) AS h,"
        "  arrayMap(x -> x.3, arraySort(x -> (x.1, x.2), groupArray((at, version, toInt64(occupied))))) AS seq,"
        "  argMax(discharge_ready, (at, version)) AS ready, argMax(staffed_beds, (at, version)) AS staffed"
        " FROM (SELECT ward_id, at, version, occupied, discharge_ready, staffed_beds FROM ward_status"
        "  WHERE at > {start:DateTime64(3)} AND at <= {end:DateTime64(3)}"
        "  ORDER BY ward_id, at, event_id, version DESC LIMIT 1 BY ward_id, at, event_id)"
        " GROUP BY ward_id, h) ORDER BY ward_id, h", p)
    changes: dict[str, list] = {}
    for w, h, first, last, rises, falls, ready, staffed in rows:
        changes.setdefault(w, []).append((int(h), int(first), int(last), int(rises), int(falls), int(ready),
                                          int(staffed)))
    return base, changes
