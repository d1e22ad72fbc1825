"""The bed event stream: patients flowing through the wards, and the wards' staffed beds changing.

What is simulated, and why
--------------------------
The platform has to show, per ward and up to the nation, how many staffed beds there are and how many
are occupied, and by whom (outliers, out-of-area patients, patients ready for discharge). So the
simulation follows individual *stays* through the wards of the topology:

- A **stay** is one patient's time in hospital, from admission to discharge. It is a route of one or more
  *segments*, one per ward; a transfer ends a segment and starts the next, always inside the same
  hospital (ICU / observation / short-stay unit -> general ward, an outlier moved to a ward of its own
  specialty, occasionally a move between psychiatric wards).
- **Admissions** follow the hospital day (`clock.ADMIT_RHYTHM`) and an **occupancy feedback**: a ward
  above its target occupancy (85-95 % per region for general wards, 80 % for the others) takes fewer
  patients, one below it more. This keeps occupancy realistic, with some overcrowding (more patients than
  staffed beds), as in real wards. Technically each ward has a Poisson stream of *candidate* arrivals at a
  constant rate, `CANDIDATE_FACTOR` times its mean admission rate (beds x target / mean length of stay);
  a candidate is admitted with probability `rhythm(local hour) x gain / CANDIDATE_FACTOR`, where
  gain = 1 + 6 x (target - occupancy), clipped to 0.03-3 ("thinning": the result is a Poisson process
  whose rate follows rhythm and occupancy).
- **Demand** (optional, `Demand`; none by default, and then the stream is unchanged): a **weekly rhythm**
  (a factor per local weekday: planned admissions come on weekdays), a **season** (a yearly wave, highest
  in mid-January: winter infections) multiplying the admission probability above, and **shocks** (an
  outbreak, a major accident: from an instant, for some days, in some regions, extra acute patients as a
  share of the usual rate) added to it — these come whatever the occupancy, so a full ward fills further.
- A stay's **length** is log-normal around the ward specialty's mean (capped below 23.5 h in observation
  and short-stay units). Its **responsible specialty** is the ward's, or with a region-dependent
  probability another specialty group's (an *outlier*: placed here because its own ward was full). The
  patient's **home municipality** is mostly in the region (4 % elsewhere; 11 % at university hospitals).
- **Discharges** from general wards are moved to the discharge rhythm of their day (late morning to
  afternoon); about a third of weekend discharges wait until Monday.
- Longer stays may have **leave** (psychiatry often, several times): the patient keeps the stay but not
  the bed. Some patients are **marked ready for discharge** some days before they leave (mostly medicine
  and geriatrics: waiting for municipal care).
- **Staffed beds** = base - weekend closure - summer closure - staffing dip + escalation beds. A daily
  tick at local midnight plans each ward's changes of the day: weekend closures (Friday afternoon to
  Monday morning), summer closures (day-of-year ranges from the topology), escalation beds when the ward
  is overcrowded (1-3 beds for 1-3 days), staffing dips (1-2 beds for 8-16 h) and rare permanent +-1
  changes. A `CapacityChanged` is sent only when the resulting number changes.
- **Census-only wards** (whose hospital does not send patient events) send a `WardCensus` with their
  counts every ~4 h instead.

The initial state is a bed census at `start`: each ward is filled to about its target with stays in
progress. A census sees long stays more often than admissions do, so each stay's total length is drawn
from the *size-biased* length-of-stay distribution and its elapsed part uniformly within it (capped at
`INITIAL_STAY_MAX_DAYS`); its admission is scheduled at `start - elapsed`, so the history before `start`
comes out of the same machinery as the live part.

How
---
A discrete-event simulation. The *agenda* is a heap of `(time, seq, action, a, b)`; popping an entry runs
the action's handler, which may schedule further actions and returns the event to send (or None). `seq`
breaks ties in scheduling order, and nothing at or after `end` is scheduled. All randomness comes from
one stream, `"{seed}:beds"`, drawn in a fixed order: the same arguments give the same events, and
changing the order of the draws changes every event after it (tests and benchmarks rely on the exact
stream). Events are yielded as `(t, 0, n, event)` so that they merge with the waiting-list stream (rank 1).
"""
from __future__ import annotations

import heapq
import itertools
import math
import random
from typing import TYPE_CHECKING, Iterator, NamedTuple

from schemas import reference

from .clock import (ADMIT_RHYTHM, DAY_MS, DISCHARGE_CUM, FRIDAY, HOUR_MS, MIN_MS, MONDAY, RHYTHM_MAX, SATURDAY,
                    SUNDAY, day_of_year, fmt_ms, local_day, local_day_start, local_hour, stockholm_offset_ms,
                    weekday)
from .draws import make_event_id, make_patient_ref
from .topology import PSYCH_WARDS, SOMATIC_WARDS, Ward

if TYPE_CHECKING:
    from . import Simulator

INITIAL_STAY_MAX_DAYS = 120
CENSUS_INTERVAL_MS = 4 * HOUR_MS
# candidate arrivals per expected admission: covers the busiest hour at the largest occupancy gain (3.0)
CANDIDATE_FACTOR = RHYTHM_MAX * 3.0
# probability that a stay's last segment gets a discharge-ready mark, by ward specialty (default 0.03)
_DRM_PROB = {"101": 0.14, "241": 0.22, "249": 0.2, "109": 0.15, "111": 0.1, "311": 0.1, "221": 0.1,
             "107": 0.06, "121": 0.06, "061": 0.05}
# capacity components (attributes of _WardFlow) and the reason a change of each is reported with
_CAPACITY_REASON = {"weekend_closed": "closure", "summer_closed": "closure", "escalation": "escalation",
                    "staffing_dip": "staffing", "base": "other"}
_SHORT_UNITS = ("observation", "short_stay")

# agenda actions: (time, seq, action, a, b)
ADMIT = 0            # a = ward, b = length of the first segment (ms), None to draw one
ARRIVAL = 1          # a = ward: a candidate arrival (admitted or dropped, see the module docstring)
SEGMENT_END = 2      # a = stay: on to the next segment's ward, or discharged
LEAVE_START = 3      # a = stay, b = ward
LEAVE_END = 4        # a = stay, b = ward
DISCHARGE_READY = 5  # a = stay, b = ward
CENSUS = 6           # a = census-only ward
DAY_TICK = 7         # a = local day: plan the day's capacity changes
CAPACITY = 8         # a = ward, b = (capacity component, beds)


def region_bed_params(seed: int, region_codes: list[str]) -> tuple[dict[str, float], dict[str, float]]:
    """Per region: the target occupancy of general wards, and the outlier propensity (probability that an
    admission to a general ward is of another specialty group: some regions well under 1 %, some
    several per 100 beds)."""
    rng = random.Random(f"{seed}:regions")
    occupancy_target = {r: rng.uniform(0.84, 0.95) for r in region_codes}
    outlier_rate = {r: 0.035 * rng.choice([0.2, 0.4, 0.7, 1.0, 1.0, 1.3, 1.7, 2.2]) for r in region_codes}
    return occupancy_target, outlier_rate


SEASON_PEAK_DAY = 15  # day of year: the season's wave is highest in mid-January


class Shock(NamedTuple):
    """Extra acute admissions: `extra` × the usual rate (by hour of day), from `start` (UTC ms) for `days`
    days, in `regions` (None: every region)."""
    start: int
    days: float
    extra: float
    regions: frozenset[str] | None = None


class Demand(NamedTuple):
    """What drives admissions beyond the hospital day: `weekly` factors Monday … Sunday, a `season` amplitude
    (admissions × 1 + season × cos(2π (day of year − SEASON_PEAK_DAY) / 365.25)) and `shocks`."""
    weekly: tuple[float, ...] = (1.0,) * 7
    season: float = 0.0
    shocks: tuple[Shock, ...] = ()

    def factors(self, t: int, lday: int, region: str) -> tuple[float, float]:
        """(the factor of the admission probability, the extra acute admissions' share) at instant t."""
        wave = 1.0 + self.season * math.cos(2 * math.pi * (day_of_year(lday) - SEASON_PEAK_DAY) / 365.25)
        extra = sum(s.extra for s in self.shocks if s.start <= t < s.start + s.days * DAY_MS
                    and (s.regions is None or region in s.regions))
        return self.weekly[weekday(lday)] * wave, extra

    @property
    def candidate_factor(self) -> float:
        """Candidates per expected admission that cover the busiest hour at the largest gain and demand."""
        return RHYTHM_MAX * (3.0 * max(self.weekly) * (1.0 + abs(self.season)) + sum(s.extra for s in self.shocks))


class _HospitalFlow:
    """The wards of a hospital a patient can be transferred to."""
    __slots__ = ("university", "general", "psychiatric", "general_by_group")

    def __init__(self, university: bool):
        self.university = university
        self.general: list[_WardFlow] = []                    # general somatic wards
        self.psychiatric: list[_WardFlow] = []
        self.general_by_group: dict[str, list[_WardFlow]] = {}  # general somatic wards by specialty group


class _WardFlow:
    """A ward during the simulation: its parameters, its capacity components and its live counts."""
    __slots__ = (
        # parameters
        "ward_id", "region", "sender_id", "mvo", "group", "kind", "general", "short_unit", "psychiatric", "adt",
        "hospital", "los_mu", "los_sigma", "target", "arrival_rate", "outlier_probability", "drm_probability",
        "weekend_cut", "summer",  # the topology's closure patterns (beds closed at weekends; summer range)
        # capacity components (staffed = base - weekend_closed - summer_closed - staffing_dip + escalation)
        "base", "weekend_closed", "summer_closed", "staffing_dip", "escalation", "staffed",
        # live counts
        "stays", "on_leave", "outliers", "discharge_ready", "out_of_area")

    def __init__(self, w: Ward, hospital: _HospitalFlow, occupancy_target: float, outlier_rate: float):
        self.ward_id = w.ward_id
        self.region = w.region
        self.sender_id = w.sender_id
        self.mvo = w.mvo
        self.group = w.group
        self.kind = w.kind
        self.general = w.kind == "general"
        self.short_unit = w.kind in _SHORT_UNITS
        self.psychiatric = w.care_type == "psychiatric"
        self.adt = w.adt
        self.hospital = hospital
        self.los_mu = math.log(w.mean_los) - w.sigma ** 2 / 2   # log-normal with mean `mean_los` days
        self.los_sigma = w.sigma
        self.target = 0.8 if w.kind != "general" else occupancy_target
        self.arrival_rate = max(w.staffed, 1) * self.target / (w.mean_los * DAY_MS) * CANDIDATE_FACTOR  # per ms
        self.outlier_probability = outlier_rate * (0.4 if self.psychiatric else 1.0)
        self.drm_probability = _DRM_PROB.get(w.mvo, 0.03)
        self.weekend_cut = w.weekend_cut
        self.summer = w.summer
        self.base = w.staffed
        self.weekend_closed = self.summer_closed = self.staffing_dip = self.escalation = 0
        self.staffed = w.staffed
        self.stays = 0             # stays whose current segment is here (patients on leave included)
        self.on_leave = 0
        self.outliers = 0          # ... of another specialty group than the ward's
        self.discharge_ready = 0
        self.out_of_area = 0       # ... living outside the region

    @property
    def occupied(self) -> int:
        return self.stays - self.on_leave

    def capacity(self) -> int:
        return max(0, self.base - self.weekend_closed - self.summer_closed - self.staffing_dip + self.escalation)


class _Segment(NamedTuple):
    """A stay's time on one ward."""
    ward: _WardFlow
    duration: int                    # ms (the last segment's end may move to the discharge rhythm)
    responsible_mvo: str | None      # a new responsible specialty from this segment on, or None


class _Stay:
    """One patient's hospital stay, from admission to discharge: a route of segments."""
    __slots__ = ("stay_id", "ward", "responsible_mvo", "responsible_group", "out_of_area", "on_leave",
                 "discharge_ready", "route", "segment")

    def __init__(self, stay_id: str, ward: _WardFlow, responsible_mvo: str, responsible_group: str,
                 out_of_area: bool):
        self.stay_id = stay_id
        self.ward = ward                  # the current segment's ward
        self.responsible_mvo = responsible_mvo
        self.responsible_group = responsible_group
        self.out_of_area = out_of_area
        self.on_leave = False
        self.discharge_ready = False      # marked on the current ward
        self.route: list[_Segment] = []
        self.segment = 0                  # index of the current segment in `route`


def bed_stream(sim: Simulator, end: int) -> Iterator[tuple]:
    """The bed events of `sim` before `end` (history included) as (t, 0, n, event), in time order."""
    yield from BedFlow(sim, end).run()


class BedFlow:
    """One run of the bed simulation (see the module docstring)."""

    def __init__(self, sim: Simulator, end: int):
        self.end = end
        self.demand: Demand | None = sim.demand  # None: admissions follow the hospital day and occupancy only
        self._factors: dict[tuple[int, str], tuple[float, float]] = {}
        self.start = sim.start_ms
        self.start_local_day = sim.start_local_day
        self.home_municipality = sim.home_municipalities.draw
        rng = self.rng = random.Random(f"{sim.seed}:beds")
        self.rnd = rng.random
        self.uniform = rng.uniform
        self.lognorm = rng.lognormvariate
        self.expovariate = rng.expovariate
        self.getrandbits = rng.getrandbits
        self.agenda: list[tuple] = []
        self.seq = itertools.count()
        self.stay_numbers = itertools.count(100_001)
        self.groups = {m: s.aggregated_group for m, s in reference.specialties().items()}
        self.somatic_mvos = [m for m, *_ in SOMATIC_WARDS]
        self.somatic_weights = [x[3] + x[4] for x in SOMATIC_WARDS]
        self.psych_mvos = [m for m, *_ in PSYCH_WARDS]
        self.psych_weights = [x[3] for x in PSYCH_WARDS]
        hospitals = [_HospitalFlow(h.university) for h in sim.hospitals]
        self.wards = [_WardFlow(w, hospitals[w.hospital], sim.occupancy_target[w.region],
                                sim.outlier_rate[w.region]) for w in sim.wards]
        self.candidate_factor = CANDIDATE_FACTOR
        if self.demand is not None:  # more candidates, so that the busiest demand is still a probability
            self.candidate_factor = max(CANDIDATE_FACTOR, self.demand.candidate_factor)
            for ward in self.wards:
                ward.arrival_rate *= self.candidate_factor / CANDIDATE_FACTOR
        for h, hf in zip(sim.hospitals, hospitals):
            for wi in h.wards:
                ward = self.wards[wi]
                if ward.psychiatric:
                    hf.psychiatric.append(ward)
                elif ward.general:
                    hf.general.append(ward)
                    hf.general_by_group.setdefault(ward.group, []).append(ward)
        # the handler of each agenda action, indexed by action code: handler(t, a, b) -> event or None
        handlers = {ADMIT: self._admit, ARRIVAL: self._arrival, SEGMENT_END: self._end_segment,
                    LEAVE_START: self._leave_start, LEAVE_END: self._leave_end,
                    DISCHARGE_READY: self._mark_discharge_ready, CENSUS: self._census, DAY_TICK: self._day_tick,
                    CAPACITY: self._change_capacity}
        self.handlers = tuple(handlers[action] for action in range(len(handlers)))

    def run(self) -> Iterator[tuple]:
        self._initial_census()
        self._first_actions()
        agenda = self.agenda
        pop = heapq.heappop
        handlers = self.handlers
        out_seq = itertools.count()
        while agenda:
            t, _, action, a, b = pop(agenda)
            ev = handlers[action](t, a, b)
            if ev is not None:
                yield (t, 0, next(out_seq), ev)

    def schedule(self, t: int, action: int, a=None, b=None) -> None:
        if t < self.end:
            heapq.heappush(self.agenda, (t, next(self.seq), action, a, b))

    # ------------------------------------------------------------------ setting the scene
    def _initial_census(self) -> None:
        """The stays in progress at start: for each, an ADMIT at `start - elapsed` whose first segment is
        the whole (size-biased) length of the stay."""
        start = self.start
        rnd = self.rnd
        for ward in self.wards:
            fill = ward.target if ward.general else 0.7
            n = max(0, round(ward.base * fill * self.uniform(0.92, 1.05)))
            mu_biased = ward.los_mu + ward.los_sigma ** 2  # size-biased log-normal: a census sees long stays
            for _ in range(n):
                total = self.lognorm(mu_biased, ward.los_sigma) * DAY_MS
                if ward.short_unit:
                    total = min(total, 23.5 * HOUR_MS)
                total = max(int(total), 3 * HOUR_MS)
                elapsed = int(total * rnd())
                elapsed = min(elapsed, INITIAL_STAY_MAX_DAYS * DAY_MS - int(rnd() * DAY_MS))
                heapq.heappush(self.agenda, (start - elapsed - 1, next(self.seq), ADMIT, ward, total))

    def _first_actions(self) -> None:
        """Each ward's first candidate arrival and (census-only wards) first census, then the first day tick."""
        start = self.start
        for ward in self.wards:
            self.schedule(start + int(self.expovariate(1.0) / ward.arrival_rate), ARRIVAL, ward)
            if not ward.adt:
                t0 = start - start % CENSUS_INTERVAL_MS + int(self.rnd() * CENSUS_INTERVAL_MS)
                if t0 < start:
                    t0 += CENSUS_INTERVAL_MS
                self.schedule(t0, CENSUS, ward)
        self.schedule(start, DAY_TICK, self.start_local_day)

    # ------------------------------------------------------------------ draws
    def _length_of_stay(self, ward: _WardFlow) -> int:
        d = self.lognorm(ward.los_mu, ward.los_sigma) * DAY_MS
        if ward.short_unit:
            d = min(d, 23.5 * HOUR_MS)
        return max(int(d), 2 * HOUR_MS)

    def _responsible_mvo(self, ward: _WardFlow) -> str:
        """The responsible specialty at admission: the ward's, or (outlier) one of another group."""
        if ward.kind == "icu":
            return ward.mvo
        if not ward.general or self.rnd() >= ward.outlier_probability:
            return ward.mvo
        choices = self.rng.choices
        for _ in range(6):
            if ward.psychiatric:
                m = choices(self.psych_mvos, self.psych_weights)[0]
            else:
                m = choices(self.somatic_mvos, self.somatic_weights)[0]
            if self.groups[m] != ward.group:
                return m
        return ward.mvo

    def _route(self, ward: _WardFlow, first: int, responsible_group: str) -> list[_Segment]:
        """The segments of a stay admitted to `ward` whose first (or only) segment would last `first` ms."""
        rnd = self.rnd
        hospital = ward.hospital
        if not ward.general:
            # ICU / observation / short-stay unit: often on to a general ward
            general = hospital.general
            if general and rnd() < (0.65 if ward.kind == "icu" else 0.45):
                to = general[int(rnd() * len(general))]
                if to is not ward:
                    return [_Segment(ward, first, None),
                            _Segment(to, self._length_of_stay(to) * 3 // 4 + HOUR_MS, to.mvo)]
        elif ward.psychiatric:
            # rarely to another psychiatric ward
            psych = hospital.psychiatric
            if len(psych) > 1 and rnd() < 0.03:
                to = psych[int(rnd() * len(psych))]
                if to is not ward:
                    here = int(first * self.uniform(0.2, 0.5))
                    return [_Segment(ward, here, None), _Segment(to, max(first - here, 4 * HOUR_MS), None)]
        elif responsible_group != ward.group and responsible_group in hospital.general_by_group \
                and rnd() < 0.5:
            # an outlier moved to a ward of its own group
            to = self.rng.choice(hospital.general_by_group[responsible_group])
            here = int(first * self.uniform(0.15, 0.4))
            return [_Segment(ward, here, None), _Segment(to, max(first - here, 4 * HOUR_MS), None)]
        elif rnd() < 0.05 and len(hospital.general) > 1:
            # moved on to another general ward (and its specialty)
            to = self.rng.choice(hospital.general)
            if to is not ward:
                here = int(first * self.uniform(0.3, 0.6))
                return [_Segment(ward, here, None),
                        _Segment(to, int(self._length_of_stay(to) * 0.6) + 4 * HOUR_MS, to.mvo)]
        return [_Segment(ward, first, None)]

    def _discharge_time(self, t: int) -> int:
        """A discharge planned at t, moved to the discharge rhythm of its local day (an hour drawn from
        DISCHARGE_CUM); about a third of weekend discharges wait until Monday."""
        rnd = self.rnd
        off = stockholm_offset_ms(t // DAY_MS)
        lday = (t + off) // DAY_MS
        if weekday(lday) >= SATURDAY and rnd() < 0.35:
            lday += 7 - weekday(lday)
        x = rnd() * DISCHARGE_CUM[-1]
        hour = 0
        while DISCHARGE_CUM[hour] < x:
            hour += 1
        return lday * DAY_MS - off + hour * HOUR_MS + int(rnd() * HOUR_MS)

    # ------------------------------------------------------------------ a stay's segments
    def _start_segment(self, stay: _Stay, t0: int) -> None:
        """Schedule what happens during the current segment: its leaves, a discharge-ready mark, its end."""
        ward, duration, _ = stay.route[stay.segment]
        last = stay.segment == len(stay.route) - 1
        t_end = t0 + duration
        if last and ward.general and duration > 20 * HOUR_MS:
            t_end = self._discharge_time(t_end)
            if t_end < t0 + 4 * HOUR_MS:
                t_end += DAY_MS
        duration = t_end - t0
        if ward.general and duration > 2 * DAY_MS:
            self._schedule_leaves(stay, ward, t0, duration)
            if last and not ward.psychiatric and self.rnd() < ward.drm_probability:
                marked = t_end - int(self.uniform(0.3, min(4.0, duration / DAY_MS * 0.5)) * DAY_MS)
                self.schedule(max(marked, t0 + HOUR_MS), DISCHARGE_READY, stay, ward)
        self.schedule(t_end, SEGMENT_END, stay)

    def _schedule_leaves(self, stay: _Stay, ward: _WardFlow, t0: int, duration: int) -> None:
        """Leave during a segment of more than 2 days on a general ward: in psychiatry with probability 0.5,
        one per started 12 days (at most 3); otherwise with probability 0.06, once. Each lasts 6-48 h
        inside its share of the segment, ending at least 2 h before that share does (left out if that
        leaves it less than an hour)."""
        psych = ward.psychiatric
        if self.rnd() >= (0.5 if psych else 0.06):
            return
        n = min(3, 1 + duration // (12 * DAY_MS)) if psych else 1
        span = duration // n
        for j in range(n):
            starts = t0 + j * span + int(span * self.uniform(0.3, 0.6))
            ends = starts + min(int(self.uniform(6, 48) * HOUR_MS), t0 + (j + 1) * span - starts - 2 * HOUR_MS)
            if ends > starts + HOUR_MS:
                self.schedule(starts, LEAVE_START, stay, ward)
                self.schedule(ends, LEAVE_END, stay, ward)

    @staticmethod
    def _arrive(stay: _Stay, ward: _WardFlow) -> None:
        """Count the stay in the ward's live counts."""
        ward.stays += 1
        if stay.responsible_group != ward.group:
            ward.outliers += 1
        if stay.out_of_area:
            ward.out_of_area += 1

    @staticmethod
    def _depart(stay: _Stay, ward: _WardFlow) -> None:
        """Take the stay out of the ward's live counts (a patient on leave comes back first)."""
        if stay.on_leave:
            stay.on_leave = False
            ward.on_leave -= 1
        ward.stays -= 1
        if stay.responsible_group != ward.group:
            ward.outliers -= 1
        if stay.out_of_area:
            ward.out_of_area -= 1
        if stay.discharge_ready:
            ward.discharge_ready -= 1

    # ------------------------------------------------------------------ events
    def _header(self, t: int, event_type: str, ward: _WardFlow) -> dict:
        return {"event_id": make_event_id(self.getrandbits), "event_type": event_type, "occurred_at": fmt_ms(t),
                "sender_id": ward.sender_id, "region_code": ward.region}

    def _stay_event(self, t: int, event_type: str, ward: _WardFlow, stay: _Stay) -> dict:
        return {"event_id": make_event_id(self.getrandbits), "event_type": event_type, "occurred_at": fmt_ms(t),
                "sender_id": ward.sender_id, "region_code": ward.region, "ward_id": ward.ward_id,
                "stay_id": stay.stay_id}

    # ------------------------------------------------------------------ action handlers
    def _arrival(self, t: int, ward: _WardFlow, _) -> dict | None:
        """A candidate arrival: the next one is scheduled; this one is admitted with a probability that
        follows the hour of day and the ward's occupancy."""
        self.schedule(t + int(self.expovariate(1.0) / ward.arrival_rate) + 1, ARRIVAL, ward)
        staffed = ward.staffed
        occupancy = (ward.stays - ward.on_leave) / staffed if staffed > 0 else 3.0  # ward.occupied, inlined
        gain = 1.0 + 6.0 * (ward.target - occupancy)
        gain = 0.03 if gain < 0.03 else (3.0 if gain > 3.0 else gain)
        if self.demand is None:
            if self.rnd() * CANDIDATE_FACTOR >= ADMIT_RHYTHM[local_hour(t)] * gain:
                return None
        else:
            lday = local_day(t)
            key = (lday, ward.region) if not self.demand.shocks else (t // HOUR_MS, ward.region)
            f = self._factors.get(key)
            if f is None:
                f = self._factors[key] = self.demand.factors(t, lday, ward.region)
            if self.rnd() * self.candidate_factor >= ADMIT_RHYTHM[local_hour(t)] * (gain * f[0] + f[1]):
                return None
        return self._admit(t, ward, None)

    def _admit(self, t: int, ward: _WardFlow, first: int | None) -> dict | None:
        """A new stay on `ward` (`first`: the length of its first segment, for the initial census)."""
        responsible = self._responsible_mvo(ward)
        hospital = ward.hospital
        muni = self.home_municipality(self.rng, ward.region, hospital.university,
                                      0.11 if hospital.university else 0.04)
        stay = _Stay(f"VT-{next(self.stay_numbers)}", ward, responsible, self.groups[responsible],
                     muni[:2] != ward.region)
        stay.route = self._route(ward, first if first is not None else self._length_of_stay(ward),
                                 stay.responsible_group)
        self._arrive(stay, ward)
        self._start_segment(stay, t)
        if not ward.adt:
            return None
        ev = self._stay_event(t, "PatientAdmitted", ward, stay)
        ev["patient_ref"] = make_patient_ref(self.getrandbits)
        ev["responsible_mvo_code"] = responsible
        ev["home_municipality_code"] = muni
        return ev

    def _end_segment(self, t: int, stay: _Stay, _) -> dict | None:
        """The end of a segment: a transfer to the next segment's ward, or the discharge."""
        ward = stay.ward
        self._depart(stay, ward)
        i = stay.segment + 1
        if i == len(stay.route):
            return self._stay_event(t, "PatientDischarged", ward, stay) if ward.adt else None
        to, _, new_responsible = stay.route[i]
        stay.segment = i
        stay.ward = to
        if new_responsible is not None:
            stay.responsible_mvo = new_responsible
            stay.responsible_group = self.groups[new_responsible]
        stay.discharge_ready = False   # a new ward marks it anew
        self._arrive(stay, to)
        self._start_segment(stay, t)
        if not (ward.adt or to.adt):
            return None
        return {"event_id": make_event_id(self.getrandbits), "event_type": "PatientTransferred",
                "occurred_at": fmt_ms(t), "sender_id": to.sender_id, "region_code": to.region,
                "stay_id": stay.stay_id, "from_ward_id": ward.ward_id, "to_ward_id": to.ward_id,
                "responsible_mvo_code": new_responsible}

    def _leave_start(self, t: int, stay: _Stay, ward: _WardFlow) -> dict | None:
        return self._set_leave(t, stay, ward, True)

    def _leave_end(self, t: int, stay: _Stay, ward: _WardFlow) -> dict | None:
        return self._set_leave(t, stay, ward, False)

    def _set_leave(self, t: int, stay: _Stay, ward: _WardFlow, on_leave: bool) -> dict | None:
        if stay.ward is not ward or stay.on_leave == on_leave:
            return None  # planned for an earlier segment, or no change
        stay.on_leave = on_leave
        ward.on_leave += 1 if on_leave else -1
        if not ward.adt:
            return None
        return self._stay_event(t, "LeaveStarted" if on_leave else "LeaveEnded", ward, stay)

    def _mark_discharge_ready(self, t: int, stay: _Stay, ward: _WardFlow) -> dict | None:
        if stay.ward is not ward or stay.discharge_ready:
            return None
        stay.discharge_ready = True
        ward.discharge_ready += 1
        return self._stay_event(t, "DischargeReadyMarked", ward, stay) if ward.adt else None

    def _census(self, t: int, ward: _WardFlow, _) -> dict:
        """A census-only ward's counts, every ~4 h (+-5 min)."""
        self.schedule(t + CENSUS_INTERVAL_MS + int((self.rnd() - 0.5) * 10 * MIN_MS), CENSUS, ward)
        staffed = ward.staffed
        occupied = ward.occupied
        ev = self._header(t, "WardCensus", ward)
        ev.update(ward_id=ward.ward_id, staffed_beds=staffed, occupied=occupied, on_leave=ward.on_leave,
                  overcrowded=occupied - staffed if occupied > staffed else 0, outliers=ward.outliers,
                  discharge_ready=ward.discharge_ready, out_of_area=ward.out_of_area)
        return ev

    def _change_capacity(self, t: int, ward: _WardFlow, change: tuple[str, int]) -> dict | None:
        """Set one capacity component; a CapacityChanged if the staffed beds change."""
        component, beds = change
        setattr(ward, component, beds)
        staffed = ward.capacity()
        if staffed == ward.staffed:
            return None
        ward.staffed = staffed
        ev = self._header(t, "CapacityChanged", ward)
        ev["ward_id"] = ward.ward_id
        ev["staffed_beds"] = staffed
        ev["reason"] = _CAPACITY_REASON[component]
        return ev

    def _day_tick(self, t: int, lday: int, _) -> None:
        """Local midnight (or `start`, for the first day): plan every ward's capacity changes of the day."""
        day0 = local_day_start(lday)
        self.schedule(local_day_start(lday + 1), DAY_TICK, lday + 1)
        first = t == self.start and lday == self.start_local_day
        wd = weekday(lday)
        doy = day_of_year(lday)
        for ward in self.wards:
            if ward.weekend_cut:
                self._weekend_closure(t, day0, wd, first, ward)
            if ward.summer:
                self._summer_closure(t, day0, doy, first, ward)
            self._escalation(t, day0, ward)
            self._staffing_dip(t, day0, ward)
            if self.rnd() < 0.001:  # a permanent change of one bed
                self.schedule(max(t, day0 + 10 * HOUR_MS), CAPACITY, ward,
                              ("base", max(2, ward.base + self.rng.choice((-1, 1)))))

    def _weekend_closure(self, t: int, day0: int, wd: int, first: bool, ward: _WardFlow) -> None:
        """Closed Friday 15-17 h -> Monday 07-08 h (and from the start if it falls in a closed weekend)."""
        if wd == FRIDAY:
            self.schedule(max(t, day0 + 15 * HOUR_MS + int(self.rnd() * 2 * HOUR_MS)), CAPACITY, ward,
                          ("weekend_closed", ward.weekend_cut))
        elif wd == MONDAY:
            self.schedule(max(t, day0 + 7 * HOUR_MS + int(self.rnd() * HOUR_MS)), CAPACITY, ward, ("weekend_closed", 0))
        if first and (wd in (SATURDAY, SUNDAY) or (wd == MONDAY and t - day0 < 7 * HOUR_MS)):
            self.schedule(t, CAPACITY, ward, ("weekend_closed", ward.weekend_cut))

    def _summer_closure(self, t: int, day0: int, doy: int, first: bool, ward: _WardFlow) -> None:
        """Closed from 08 h on its first day of year to 08 h on its last (and from the start if within)."""
        s0, s1, cut = ward.summer
        if doy == s0:
            self.schedule(max(t, day0 + 8 * HOUR_MS), CAPACITY, ward, ("summer_closed", cut))
        elif doy == s1:
            self.schedule(max(t, day0 + 8 * HOUR_MS), CAPACITY, ward, ("summer_closed", 0))
        elif first and s0 < doy < s1:
            self.schedule(t, CAPACITY, ward, ("summer_closed", cut))

    def _escalation(self, t: int, day0: int, ward: _WardFlow) -> None:
        """An overcrowded general ward opens 1-3 extra beds for 1-3 days (12 % chance a day)."""
        if ward.escalation == 0 and ward.occupied > ward.staffed and ward.general \
                and self.rnd() < 0.12:
            t1 = max(t, day0 + int(self.uniform(8, 20) * HOUR_MS))
            self.schedule(t1, CAPACITY, ward, ("escalation", self.rng.randint(1, 3)))
            self.schedule(t1 + int(self.uniform(1, 3) * DAY_MS), CAPACITY, ward, ("escalation", 0))

    def _staffing_dip(self, t: int, day0: int, ward: _WardFlow) -> None:
        """Staff shortage: 1-2 beds closed for 8-16 h (2 % chance a day)."""
        if ward.staffing_dip == 0 and self.rnd() < 0.02:
            t1 = max(t, day0 + int(self.uniform(6, 18) * HOUR_MS))
            self.schedule(t1, CAPACITY, ward, ("staffing_dip", min(2, max(0, ward.base - 2), self.rng.randint(1, 2))))
            self.schedule(t1 + int(self.uniform(8, 16) * HOUR_MS), CAPACITY, ward, ("staffing_dip", 0))
