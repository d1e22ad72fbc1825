"""Random draws shared by the streams: identifiers that never read like a personal identity number,
weighted picks, Poisson counts, and whole-number allocation. All take the caller's random source, so
each stream keeps its own deterministic sequence."""
from __future__ import annotations

import bisect
import math
import random
import re

# A run of 10 digits, or YYMMDD-NNNN: never allowed in a generated string (reads like a personnummer)
_RISKY = re.compile(r"\d{10}|\d{6}[-+]\d{4}")


def make_event_id(getrandbits) -> str:
    """Same string as str(uuid.UUID(int=getrandbits(128), version=4)), redrawn when it would contain a
    run of digits that reads like a personal identity number."""
    while True:
        x = getrandbits(128)
        x = (x & ~(0xC000 << 48)) | (0x8000 << 48)
        x = (x & ~(0xF000 << 64)) | (4 << 76)
        h = "%032x" % x
        # risky only if `dddddd-dddd` across groups 1-2 or a 10-digit run inside group 5
        if h[2:12].isdigit() or (h[22:30].isdigit() and _RISKY.search(h[20:])):
            continue
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def make_patient_ref(getrandbits) -> str:
    """Opaque pseudonym `p_` + 16 hex chars, never with 10 consecutive digits."""
    while True:
        s = "p_%016x" % getrandbits(64)
        if not _RISKY.search(s):
            return s


def largest_remainder(weights: list[float], total: int, minimum: int = 0) -> list[int]:
    """Whole numbers proportional to `weights`, each >= `minimum`, summing exactly to `total`."""
    n = len(weights)
    out = [minimum] * n
    rest = total - minimum * n
    if rest <= 0:
        return out
    s = sum(weights) or 1.0
    raw = [w / s * rest for w in weights]
    floor = [int(x) for x in raw]
    out = [o + f for o, f in zip(out, floor)]
    left = rest - sum(floor)
    for i in sorted(range(n), key=lambda i: (raw[i] - floor[i], -i), reverse=True)[:left]:
        out[i] += 1
    return out


def pick(cum: list[float], u: float) -> int:
    """Index drawn from cumulative weights `cum` with a uniform u in [0, 1)."""
    i = bisect.bisect(cum, u * cum[-1])
    return i if i < len(cum) else len(cum) - 1


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson count with mean `lam` (normal approximation above 30)."""
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k
