"""The waiting-list event stream: contacts decided, deviations, bookings, and contacts performed or removed.

What is simulated
-----------------
Each region has a planned-care queue of *contacts* (a first visit, an operation, an examination, a
follow-up, an acute contact: `ACTIVITIES`) whose size per 1,000 inhabitants is `BACKLOG_PER_1000`
(some regions are dominated by eye / ENT / hearing-aid queues: `ACTIVITY_SKEW`).

- **History**: the contacts open at `start` (the initial backlog). For every past weekday of the last
  `BACKLOG_DAYS` days, the expected number still open is the region's decision rate times the survival
  function of the wait distribution at that age (the stationary backlog of an M/G/inf queue); the counts
  are rounded so each region gets exactly its target. Each such contact's wait is drawn from its
  activity's log-normal *conditioned on being longer than its age*, so the old part of the queue is
  dominated by the long-wait activities.
- **Live part**: contacts are decided on weekdays in office hours (a Poisson number a day, at the rate
  that keeps the backlog stationary), each with a log-normal wait.
- **Lifecycle** of each contact: some get a deviation (patient's choice, medical, special) that may be
  cleared again (never in `NO_DEVIATION_REGIONS`); most are booked some days ahead and performed (by the
  region, a neighbour region, or a private provider), the rest are removed (referred elsewhere, no longer
  needed, duplicate, clean-up). Closings and bookings happen in office hours.

Like the bed stream: a discrete-event agenda with its own random stream `"{seed}:waitlist"`; events are
yielded as `(t, 1, n, event)`.
"""
from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Iterator

from schemas import reference

from .clock import (DAY_MS, HOUR_MS, MIN_MS, SATURDAY, fmt_date, fmt_ms, local_day_start, office_after, office_time_on,
                    weekday)
from .draws import largest_remainder, make_event_id, pick, poisson
from .topology import org_number, region_sender

if TYPE_CHECKING:
    from . import Simulator

BACKLOG_DAYS = 540
# waiting contacts per 1,000 inhabitants at start (scale 1.0); all within §7's 84-648
BACKLOG_PER_1000 = {"01": 160, "03": 210, "04": 240, "05": 130, "06": 95, "07": 180, "08": 420,
                    "09": 110, "10": 260, "12": 150, "13": 140, "14": 200, "17": 560, "18": 230,
                    "19": 270, "20": 610, "21": 480, "22": 300, "23": 390, "24": 250, "25": 520}
# regions where eye / ENT / hearing-aid queues dominate (multipliers on those activities' weights)
ACTIVITY_SKEW = {"17": {"hear": 5, "eye": 2, "ent": 2}, "20": {"hear": 5, "eye": 3, "ent": 2},
                 "25": {"hear": 4, "ent": 3}, "21": {"eye": 4, "hear": 3}, "08": {"eye": 3, "hear": 2.5},
                 "23": {"hear": 3.5, "ent": 2}, "22": {"ent": 2, "hear": 2.5}}
NO_DEVIATION_REGIONS = {"09", "10", "23"}   # never report deviations
PRIVATE_PROVIDER_ID = "SE5566778899-P001"   # a private provider that performs care in several regions

# Waiting-list activities: key, mvo, phase, activity code, weight, mean wait days, sigma,
# birth-year range, skew group
ACTIVITIES = [
    ("eye_first", "511", 1, None, 7.0, 75, 0.9, 1935, 2012, "eye"),
    ("cataract", "511", 2, "CJE20", 6.0, 110, 0.8, 1930, 1965, "eye"),
    ("eye_exam", "515", 3, "AAF22", 1.5, 45, 0.8, 1940, 2016, "eye"),
    ("eye_followup", "511", 4, None, 4.0, 160, 0.5, 1935, 2005, "eye"),
    ("ent_first", "521", 1, None, 5.0, 85, 0.9, 1940, 2020, "ent"),
    ("tonsillectomy", "521", 2, "EMB10", 1.5, 120, 0.8, 1990, 2020, "ent"),
    ("hearing_exam", "531", 3, "DH004", 2.5, 90, 0.9, 1930, 2016, "hear"),
    ("hearing_aid", "531", 2, "DH021", 6.0, 200, 0.8, 1928, 1975, "hear"),
    ("ortho_first", "311", 1, None, 6.0, 90, 0.9, 1940, 2010, None),
    ("hip_replacement", "311", 2, "NFB49", 1.5, 140, 0.7, 1935, 1970, None),
    ("knee_replacement", "311", 2, "NGB49", 1.5, 150, 0.7, 1935, 1975, None),
    ("ortho_followup", "311", 4, None, 2.5, 120, 0.5, 1940, 2010, None),
    ("surgery_first", "301", 1, None, 5.0, 65, 0.9, 1940, 2008, None),
    ("hernia", "301", 2, "JAB30", 1.5, 100, 0.8, 1940, 2000, None),
    ("gyn_first", "431", 1, None, 4.0, 55, 0.8, 1950, 2008, None),
    ("gyn_op", "431", 2, "LCD10", 1.0, 90, 0.8, 1950, 1995, None),
    ("urology_first", "361", 1, None, 3.0, 80, 0.9, 1940, 2000, None),
    ("cardiology_first", "107", 1, None, 3.5, 55, 0.8, 1935, 1995, None),
    ("echo", "107", 3, "AF063", 2.0, 45, 0.8, 1935, 1995, None),
    ("neuro_first", "221", 1, None, 3.0, 95, 0.9, 1940, 2005, None),
    ("derm_first", "211", 1, None, 4.0, 85, 0.9, 1940, 2010, None),
    ("medicine_first", "101", 1, None, 4.0, 50, 0.8, 1935, 2000, None),
    ("medicine_followup", "101", 4, None, 4.0, 120, 0.5, 1935, 2000, None),
    ("psych_first", "901", 1, None, 2.5, 60, 0.8, 1960, 2006, None),
    ("bup_first", "931", 1, None, 2.0, 65, 0.8, 2006, 2021, None),
    ("bup_treatment", "931", 2, "DU011", 1.0, 75, 0.8, 2006, 2021, None),
    ("radiology", "731", 3, "AF071", 2.5, 30, 0.9, 1935, 2016, None),
    ("plastic_op", "351", 2, "QBB00", 0.8, 220, 0.9, 1950, 2005, None),
    ("acute", "100", 5, None, 1.5, 1.5, 0.8, 1930, 2020, None),
]
_ND = NormalDist()

# agenda actions: (time, seq, action, a, b)
_BDAY, _WTICK, _DECIDE, _DEV_S, _DEV_C, _BOOK, _CLOSE = range(7)


@dataclass
class WaitlistParams:
    """Per activity the log-normal wait (mu, sigma, in days); per region the activity mix, the backlog
    at start and the decision rate that keeps it stationary (decisions per calendar day)."""
    act_mu: list[float]
    act_sigma: list[float]
    backlog_target: dict[str, int]
    act_weights: dict[str, list[float]]
    inflow: dict[str, float]


def waitlist_params(region_codes: list[str], scale: float) -> WaitlistParams:
    ref = reference.regions()
    K = len(ACTIVITIES)
    p = WaitlistParams(act_mu=[math.log(a[5]) - a[6] ** 2 / 2 for a in ACTIVITIES],
                       act_sigma=[a[6] for a in ACTIVITIES], backlog_target={}, act_weights={}, inflow={})
    for r in region_codes:
        skew = ACTIVITY_SKEW.get(r, {})
        w = [a[4] * skew.get(a[9], 1.0) for a in ACTIVITIES]
        sw = sum(w)
        w = [x / sw for x in w]
        p.act_weights[r] = w
        p.backlog_target[r] = round(BACKLOG_PER_1000[r] * ref[r].population * scale / 1000)
        mean_wait = sum(w[k] * ACTIVITIES[k][5] for k in range(K))
        p.inflow[r] = p.backlog_target[r] / mean_wait
    return p


def wait_stream(sim: Simulator, end: int) -> Iterator[tuple]:
    """The waiting-list events of `sim` before `end` (backlog history included) as (t, 1, n, event)."""
    params = sim.waitlist_params
    rng = random.Random(f"{sim.seed}:waitlist")
    rnd = rng.random
    getrandbits = rng.getrandbits
    heap: list = []
    push = heapq.heappush
    pop = heapq.heappop
    seqc = itertools.count()
    out_seq = itertools.count()
    start = sim.start_ms
    ref = reference.regions()
    acts = ACTIVITIES
    K = len(acts)
    mu = params.act_mu
    sg = params.act_sigma
    regions = sim.region_codes
    R = len(regions)
    fmt = fmt_ms
    contact_counter = itertools.count(1_000_001)
    referral_counter = itertools.count(500_001)
    # hospitals per region weighted by size
    R_hosp = [[h for h in sim.hospitals if h.region == r] for r in regions]
    R_hcum = [list(itertools.accumulate(max(h.beds_target, 1.0) for h in hs)) for hs in R_hosp]
    R_org = [org_number(r) for r in regions]
    R_sender = [region_sender(r) for r in regions]
    R_provider = [f"SE{o}-P001" for o in R_org]
    R_devs = [r not in NO_DEVIATION_REGIONS for r in regions]
    R_w = [params.act_weights[r] for r in regions]
    R_wcum = [list(itertools.accumulate(w)) for w in R_w]
    R_inflow = [params.inflow[r] for r in regions]
    R_neigh = [list(ref[r].neighbours) for r in regions]
    act_idx = list(range(K))
    clinic_ids: dict = {}
    inv_cdf = _ND.inv_cdf
    home_muni = sim.home_municipalities.draw

    def sched(t, code, a=None, b=None):
        if t < end:
            push(heap, (t, next(seqc), code, a, b))

    def survival(k, age_days):
        if age_days <= 0:
            return 1.0
        return 1.0 - _ND.cdf((math.log(age_days) - mu[k]) / sg[k])

    def wait_given_older(k, lo, age_days):
        """a wait drawn from activity k's log-normal conditioned on exceeding the age; `lo` is the
        distribution function at (about) that age, precomputed per backlog day"""
        if lo > 1 - 1e-9:
            return age_days + rng.expovariate(1 / 7)
        u = lo + (1 - lo) * rnd()
        if u < 1e-12:
            u = 1e-12
        elif u > 1 - 1e-12:
            u = 1 - 1e-12
        w = math.exp(mu[k] + sg[k] * inv_cdf(u))
        return w if w > age_days + 0.01 else age_days + 0.01

    def decide(t, ri, k, wait_days):
        region = regions[ri]
        a = acts[k]
        _, mvo, phase, code, _, _, _, by0, by1, _ = a
        cid = f"VK-{next(contact_counter)}"
        hs = R_hosp[ri]
        if len(hs) > 1:
            hc = R_hcum[ri]
            h = hs[pick(hc, rnd())]
        else:
            h = hs[0]
        clinic = clinic_ids.get((h.idx, mvo))
        if clinic is None:
            clinic = clinic_ids[(h.idx, mvo)] = f"SE{R_org[ri]}-K{int(h.hospital_id[-3:]):02d}{mvo}"
        t_close = office_after(t + int(wait_days * DAY_MS), rnd)
        target = None
        if phase == 4:
            target = fmt_date(t + int(wait_days * (0.85 + 0.3 * rnd()) * DAY_MS))
        ref_id = ref_sent = ref_arr = None
        if phase == 1 and rnd() < 0.75:
            ref_id = f"REM-{next(referral_counter)}"
            sent = t - int((2 + 23 * rnd()) * DAY_MS)
            ref_sent = fmt(sent)
            arr = sent + int((0.1 + 3.9 * rnd()) * DAY_MS)
            ref_arr = fmt(arr if arr < t else t)
        x = rnd()
        sex = 1 if x < 0.48 else (2 if x < 0.99 else 3)
        ts = fmt(t)
        ev = {"event_id": make_event_id(getrandbits), "event_type": "ContactDecided", "occurred_at": ts,
              "sender_id": R_sender[ri], "region_code": region, "contact_id": cid,
              "provider_id": R_provider[ri], "hospital_id": h.hospital_id,
              "clinic_id": clinic, "phase": phase, "mvo_code": mvo,
              "activity_code": code, "guarantee": phase in (1, 2), "decided_at": ts,
              "medical_target_date": target, "referral_id": ref_id, "referral_sent_at": ref_sent,
              "referral_arrived_at": ref_arr, "birth_year": by0 + int(rnd() * (by1 - by0 + 1)), "sex": sex,
              "home_municipality_code": home_muni(rng, region, h.university, 0.035)}
        # lifecycle
        c = (cid, ri)
        span = t_close - t
        if R_devs[ri] and phase != 5 and rnd() < 0.10:
            ts = t + int(span * (0.05 + 0.55 * rnd()))
            x = rnd()
            kind = "patient_chosen" if x < 0.6 else ("medical" if x < 0.9 else "special")
            sched(ts, _DEV_S, c, kind)
            if rnd() < 0.6:
                sched(ts + int((t_close - ts) * (0.2 + 0.6 * rnd())), _DEV_C, c)
        x = rnd()
        if phase == 5 or x < 0.86:
            if phase != 5 and rnd() < 0.75:
                tb = t_close - int((3 + 42 * rnd()) * DAY_MS)
                tb = office_after(tb if tb > t + 30 * MIN_MS else t + 30 * MIN_MS, rnd)
                if tb < t_close:
                    sched(tb, _BOOK, c, t_close)
            y = rnd()
            if y < 0.03 and R_neigh[ri]:
                perf = (f"SE{org_number(rng.choice(R_neigh[ri]))}-P001", None)
            elif y < 0.13:
                perf = (PRIVATE_PROVIDER_ID, region)
            else:
                perf = (R_provider[ri], region)
            if perf[1] is None:
                perf = (perf[0], perf[0][10:12])
            sched(t_close, _CLOSE, c, ("performed",) + perf)
        else:
            y = rnd()
            if y < 0.35:
                to = rng.choice(R_neigh[ri]) if (R_neigh[ri] and rnd() < 0.7) else region
                sched(t_close, _CLOSE, c, ("referred_elsewhere", to))
            else:
                reason = "no_longer_needed" if y < 0.75 else ("duplicate" if y < 0.85 else "cleanup")
                sched(t_close, _CLOSE, c, (reason, None))
        return ev

    # ---- backlog: exact per-region counts, allocated over the past days
    days = list(range(sim.start_local_day - BACKLOG_DAYS, sim.start_local_day))
    day_surv = []
    for d in days:
        age = (start - (local_day_start(d) + 12 * HOUR_MS)) / DAY_MS
        day_surv.append([survival(k, age) for k in range(K)] if weekday(d) < SATURDAY else None)
    counts = []
    for ri in range(R):
        w = R_w[ri]
        exp_ = [sum(w[k] * s[k] for k in range(K)) if s is not None else 0.0 for s in day_surv]
        counts.append(largest_remainder(exp_, params.backlog_target[regions[ri]]))
    for j, d in enumerate(days):
        if day_surv[j] is not None:
            push(heap, (local_day_start(d), next(seqc), _BDAY, j, d))
    sched(start, _WTICK, sim.start_local_day)

    while heap:
        t, _, code, a, b = pop(heap)
        if code == _DECIDE:
            yield (t, 1, next(out_seq), decide(t, a, b[0], b[1]))
        elif code == _CLOSE:
            cid, ri = a
            if b[0] == "performed":
                ev = {"event_id": make_event_id(getrandbits), "event_type": "ContactPerformed",
                      "occurred_at": fmt(t), "sender_id": R_sender[ri], "region_code": regions[ri],
                      "contact_id": cid, "started_at": fmt(t), "performing_provider_id": b[1],
                      "performing_region_code": b[2]}
            else:
                ev = {"event_id": make_event_id(getrandbits), "event_type": "ContactRemoved",
                      "occurred_at": fmt(t), "sender_id": R_sender[ri], "region_code": regions[ri],
                      "contact_id": cid, "reason": b[0], "referred_to_region_code": b[1]}
            yield (t, 1, next(out_seq), ev)
        elif code == _BOOK:
            cid, ri = a
            yield (t, 1, next(out_seq), {
                "event_id": make_event_id(getrandbits), "event_type": "ContactBooked", "occurred_at": fmt(t),
                "sender_id": R_sender[ri], "region_code": regions[ri], "contact_id": cid,
                "booked_for": fmt(b)})
        elif code == _DEV_S:
            cid, ri = a
            yield (t, 1, next(out_seq), {
                "event_id": make_event_id(getrandbits), "event_type": "DeviationSet", "occurred_at": fmt(t),
                "sender_id": R_sender[ri], "region_code": regions[ri], "contact_id": cid, "deviation": b})
        elif code == _DEV_C:
            cid, ri = a
            yield (t, 1, next(out_seq), {
                "event_id": make_event_id(getrandbits), "event_type": "DeviationCleared",
                "occurred_at": fmt(t), "sender_id": R_sender[ri], "region_code": regions[ri],
                "contact_id": cid})
        elif code == _BDAY:
            j, d = a, b
            surv = day_surv[j]
            for ri in range(R):
                cnt = counts[ri][j]
                if not cnt:
                    continue
                w = R_w[ri]
                ks = rng.choices(act_idx, weights=[w[k] * surv[k] for k in range(K)], k=cnt)
                for k in ks:
                    td = office_time_on(d, rnd)
                    wait = wait_given_older(k, 1.0 - surv[k], (start - td) / DAY_MS)
                    push(heap, (td, next(seqc), _DECIDE, ri, (k, wait)))
        elif code == _WTICK:
            lday = a
            sched(local_day_start(lday + 1), _WTICK, lday + 1)
            if weekday(lday) >= SATURDAY:
                continue
            for ri in range(R):
                nd = poisson(rng, R_inflow[ri] * 7 / 5)
                cum = R_wcum[ri]
                for _ in range(nd):
                    td = office_time_on(lday, rnd)
                    k = pick(cum, rnd())
                    wait = rng.lognormvariate(mu[k], sg[k])
                    if td >= start:
                        sched(td, _DECIDE, ri, (k, wait))
