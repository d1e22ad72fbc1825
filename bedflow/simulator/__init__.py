"""Deterministic synthetic generator of regional events (EVENTS.md, version 1) as plain dicts.

Pure: seed + parameters -> events. No I/O; publishing is done elsewhere.

    sim = Simulator(seed=7, start=datetime(2026, 11, 16, 5, tzinfo=timezone.utc), scale=0.05)
    sim.topology()                      # WardDeclared events
    for ev in sim.events(days=2):       # everything, in occurred_at order (see below)
        ...

Stream layout of `events(days)` (strict `occurred_at` order unless faults are injected):

1. **Topology**: one `WardDeclared` per ward, at `declared_at` = local midnight ~541 days before
   `start` (so that it precedes all history below).
2. **History** (`occurred_at` < `start`):
   - the *initial waiting-list backlog*: for every past day of the last `BACKLOG_DAYS` (540) days, the
     contacts decided that day that are *still open at start*. The expected number per day is the
     region's decision rate times the survival function of the wait-time distribution at that age
     (the stationary backlog of an M/G/inf queue), rounded so that each region gets exactly
     `backlog_per_1000[region] * population * scale / 1000` open contacts. Each contact's wait is drawn
     from its activity's log-normal distribution *conditioned on being longer than its age*, so the
     wait-day buckets (<=30 ... >180 days) come out realistic and the long-wait activities (hearing
     aids, cataracts) dominate the old part of the queue. Deviations and bookings that happened before
     `start` are emitted too. See `initial_backlog()`.
   - the *initial bed census*: each ward is filled to about its target occupancy with stays in progress;
     each stay's admission is emitted at `start - elapsed` (elapsed from the size-biased length-of-stay
     distribution, capped at 120 days), together with any leave/transfer events before `start`.
3. **Live part** (`start` <= occurred_at < `start + days`): admissions with a daily rhythm and an
   occupancy feedback (keeps occupancy ~85-100 % with some overcrowding), discharges late
   morning/afternoon, transfers inside a hospital, leave, discharge-ready marks, capacity changes
   (weekend closures Fri afternoon -> Mon morning, summer closures June-August, escalation beds,
   staffing dips), `WardCensus` every 4 h for census-only wards (whose ADT is not sent), and the
   waiting-list flow (ContactDecided on weekdays, DeviationSet/Cleared, ContactBooked, ContactPerformed,
   ContactRemoved).

Faults (`duplicates`, `late`, `malformed`, `silent_regions`) apply to the live part only and are drawn
from their own random stream, so the fault-free stream is the same for the same seed.

Modules: `topology` (regions, hospitals, wards), `beds` (the bed event stream), `waitlists` (waiting-list
events), `faults` (the injected faults), `clock` (simulated time; rhythms by hour, day and season) and
`draws` (PIN-safe identifiers and other shared random draws). This module puts them together.
"""
from __future__ import annotations

import datetime as dt
import heapq
import random
from typing import Iterable, Iterator

from schemas import reference

from .beds import CENSUS_INTERVAL_MS, INITIAL_STAY_MAX_DAYS, Demand, Shock, bed_stream, region_bed_params
from .clock import (ADMIT_RHYTHM, DAY_MS, DEFAULT_START, DISCHARGE_CUM, HOUR_MS, MIN_MS, RHYTHM_MAX, UTC, fmt_date,
                    fmt_ms, from_ms, local_day, local_day_start, stockholm_offset_ms, to_ms)
from .draws import make_event_id, make_patient_ref
from .faults import with_faults
from .topology import (CENSUS_WARD_SHARE, MUNICIPALITIES, NATIONAL_HOSPITALS, NATIONAL_STAFFED_BEDS, PSYCH_SHARE,
                       UNIVERSITY_REGIONS, HomeMunicipalities, Hospital, Ward, build_topology, census_sender,
                       national_summary, org_number, region_sender)
from .waitlists import (ACTIVITIES, ACTIVITY_SKEW, BACKLOG_DAYS, BACKLOG_PER_1000, NO_DEVIATION_REGIONS,
                        PRIVATE_PROVIDER_ID, wait_stream, waitlist_params)

__all__ = [
    "Simulator", "national_summary", "make_event_id", "make_patient_ref", "Hospital", "Ward", "org_number",
    "region_sender", "census_sender", "stockholm_offset_ms", "local_day_start", "to_ms", "fmt_ms", "fmt_date",
    "UTC", "DAY_MS", "HOUR_MS", "MIN_MS", "DEFAULT_START", "NATIONAL_STAFFED_BEDS", "NATIONAL_HOSPITALS",
    "PSYCH_SHARE", "UNIVERSITY_REGIONS", "BACKLOG_DAYS", "INITIAL_STAY_MAX_DAYS", "CENSUS_INTERVAL_MS",
    "CENSUS_WARD_SHARE", "BACKLOG_PER_1000", "ACTIVITY_SKEW", "NO_DEVIATION_REGIONS", "PRIVATE_PROVIDER_ID",
    "MUNICIPALITIES", "ADMIT_RHYTHM", "RHYTHM_MAX", "DISCHARGE_CUM", "Demand", "Shock",
]


class Simulator:
    """Synthetic national (or regional) topology, bed flow and waiting lists. Deterministic in `seed`."""

    def __init__(self, seed: int, regions: list[str] | None = None, start: dt.datetime | None = None,
                 scale: float = 1.0, demand: Demand | None = None):
        if scale <= 0:
            raise ValueError("scale must be > 0")
        ref = reference.regions()
        codes = sorted(ref) if regions is None else sorted(set(regions))
        unknown = [c for c in codes if c not in ref]
        if unknown:
            raise ValueError(f"unknown region codes: {unknown}")
        self.seed = seed
        self.demand = demand  # weekly rhythm, season and shocks of admissions (beds.Demand); None: none
        self.scale = scale
        self.region_codes = codes
        self.start = (start or DEFAULT_START)
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)
        self.start = self.start.astimezone(UTC)
        self.start_ms = to_ms(self.start)
        self.start_local_day = local_day(self.start_ms)
        self.declared_ms = local_day_start(self.start_local_day - BACKLOG_DAYS - 1)
        self.declared_at = from_ms(self.declared_ms)
        self.hospitals, self.wards = build_topology(seed, codes, scale)
        self.home_municipalities = HomeMunicipalities()
        self.occupancy_target, self.outlier_rate = region_bed_params(seed, codes)
        self.waitlist_params = waitlist_params(codes, scale)
        self.activities = ACTIVITIES
        self.backlog_target = self.waitlist_params.backlog_target

    # ------------------------------------------------------------------ public API
    @property
    def census_ward_ids(self) -> set[str]:
        return {w.ward_id for w in self.wards if not w.adt}

    def topology(self) -> list[dict]:
        """One WardDeclared per ward (occurred_at = `declared_at`, before all other events)."""
        rng = random.Random(f"{self.seed}:declare")
        t = fmt_ms(self.declared_ms)
        out = []
        for w in self.wards:
            h = self.hospitals[w.hospital]
            out.append({"event_id": make_event_id(rng.getrandbits), "event_type": "WardDeclared",
                        "occurred_at": t, "sender_id": w.sender_id, "region_code": w.region,
                        "ward_id": w.ward_id, "hospital_id": h.hospital_id, "ward_name": w.ward_name,
                        "hospital_name": h.name, "mvo_code": w.mvo, "care_type": w.care_type,
                        "ward_kind": w.kind, "staffed_beds": w.staffed, "budgeted_beds": w.budgeted})
        return out

    def initial_backlog(self) -> Iterator[dict]:
        """The waiting-list history before `start`: ContactDecided for every contact open at start
        (decided_at spread over the last BACKLOG_DAYS days, see the module docstring), plus the
        DeviationSet/Cleared and ContactBooked events of those contacts that happened before start."""
        for item in wait_stream(self, self.start_ms):
            yield item[3]

    def events(self, days: float, *, beds: bool = True, waitlist: bool = True, include_topology: bool = True,
               history: bool = True, duplicates: float = 0.0, late: float = 0.0, malformed: float = 0.0,
               silent_regions: Iterable[str] = (), mark_faults: bool = False) -> Iterator[dict]:
        """All events over [start, start + days) in occurred_at order, preceded by the topology and the
        history (initial backlog and initial bed census, occurred_at < start).

        Faults (live part only, deterministic in the seed): `duplicates` share re-emitted identically
        (same event_id) seconds to minutes later; `late` share emitted 1-12 h after their place;
        `malformed` share replaced by a broken record (missing field, bad region code, negative count,
        personal identity number, bad timestamp); `silent_regions` stop sending at start + days/4.
        With `mark_faults=True` such dicts carry `"_fault": kind` (duplicate / late / <malformed kind>).

        `history=False` leaves out the events before `start` (they are still simulated, so the live part is
        the same either way); `beds`/`waitlist` select the topics; `include_topology=False` leaves out the
        WardDeclared events (e.g. when they were published from `topology()` already)."""
        end = self.start_ms + int(days * DAY_MS)
        streams = []
        if beds:
            streams.append(bed_stream(self, end))
        if waitlist:
            streams.append(wait_stream(self, end))
        merged = heapq.merge(*streams) if len(streams) > 1 else (streams[0] if streams else iter(()))
        if include_topology:
            yield from self.topology()
        start = self.start_ms
        silent = set(silent_regions)
        if not (duplicates or late or malformed or silent):
            for item in merged:
                if history or item[0] >= start:
                    yield item[3]
            return
        yield from with_faults(merged, self.seed, start, end, history, duplicates, late, malformed, silent,
                               mark_faults)
