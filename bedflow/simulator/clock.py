"""Simulated time: epoch milliseconds in UTC, Europe/Stockholm local days and hours, and the rhythms of
the hospital day, week and year.

All simulated instants are integers (ms since 1970-01-01 UTC); calendar questions ("what local hour is
it", "is it a weekday") are answered with the EU summer-time rule, so no tz database is needed and the
result does not depend on the machine. Pure: no randomness of its own (`office_after` takes the caller's
uniform draw function so that the caller's random stream is used).
"""
from __future__ import annotations

import datetime as dt
import itertools

UTC = dt.timezone.utc
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_MS = 60_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_START = dt.datetime(2026, 11, 16, 5, 0, tzinfo=UTC)  # a Monday, 06:00 in Stockholm

# weekday numbers as `weekday()` returns them (datetime.date.weekday convention)
MONDAY, FRIDAY, SATURDAY, SUNDAY = 0, 4, 5, 6

# ---------------------------------------------------------------------------------------------------
# Rhythms (local hour profiles, Europe/Stockholm)
# ---------------------------------------------------------------------------------------------------

# Admissions by local hour (relative; normalised below to mean 1.0): low at night, a plateau from the
# late morning to the afternoon when the emergency department sends patients up.
_ADMIT_RHYTHM = [0.45, 0.35, 0.3, 0.3, 0.3, 0.35, 0.5, 0.8, 1.2, 1.45, 1.6, 1.6, 1.55, 1.5, 1.5, 1.5,
                 1.45, 1.35, 1.2, 1.1, 0.95, 0.8, 0.65, 0.55]
_m = sum(_ADMIT_RHYTHM) / 24
ADMIT_RHYTHM = [x / _m for x in _ADMIT_RHYTHM]
RHYTHM_MAX = max(ADMIT_RHYTHM)
# Discharges by local hour (weights): after the morning round, late morning to afternoon.
_DISCHARGE_HOURS = [0.03, 0.02, 0.02, 0.02, 0.02, 0.03, 0.05, 0.1, 0.3, 0.6, 1.2, 1.8, 1.8, 1.7, 1.6,
                    1.4, 1.0, 0.6, 0.4, 0.3, 0.2, 0.1, 0.06, 0.04]
DISCHARGE_CUM = list(itertools.accumulate(_DISCHARGE_HOURS))

# Office hours (waiting-list administration): weekdays 08-16 local time.
OFFICE_OPENS_MS = 8 * HOUR_MS
OFFICE_CLOSES_MS = 16 * HOUR_MS

# ---------------------------------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------------------------------


def _last_sunday(year: int, month: int) -> dt.date:
    d = dt.date(year, month + 1, 1) - dt.timedelta(days=1) if month < 12 else dt.date(year, 12, 31)
    return d - dt.timedelta(days=(d.weekday() - 6) % 7)


_OFFSET_CACHE: dict[int, int] = {}


def stockholm_offset_ms(epoch_day: int) -> int:
    """UTC offset of Europe/Stockholm (ms) on a UTC day (evaluated at noon)."""
    off = _OFFSET_CACHE.get(epoch_day)
    if off is None:
        d = dt.date(1970, 1, 1) + dt.timedelta(days=epoch_day)
        summer = _last_sunday(d.year, 3) <= d < _last_sunday(d.year, 10)
        off = _OFFSET_CACHE[epoch_day] = (2 if summer else 1) * HOUR_MS
    return off


def local_day_start(local_day: int) -> int:
    """UTC ms of local midnight of a local epoch day."""
    return local_day * DAY_MS - stockholm_offset_ms(local_day)


def local_day(t: int) -> int:
    """The local (Stockholm) epoch day of instant t."""
    return (t + stockholm_offset_ms(t // DAY_MS)) // DAY_MS


def local_hour(t: int) -> int:
    """The local (Stockholm) hour 0-23 of instant t."""
    return ((t + stockholm_offset_ms(t // DAY_MS)) // HOUR_MS) % 24


def weekday(local_day: int) -> int:
    """Monday = 0 ... Sunday = 6 of a local epoch day (1970-01-01 was a Thursday)."""
    return (local_day + 3) % 7


def day_of_year(local_day: int) -> int:
    """1-366 (the season: summer closures are given as day-of-year ranges)."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days=local_day)).timetuple().tm_yday


def office_after(t: int, rnd) -> int:
    """The first office time (weekday 08-16 local) at or after t. Evenings go to the next weekday;
    weekends are spread evenly over the following Monday-Friday (no Monday pile-up). `rnd` is the
    caller's uniform [0, 1) draw (its random stream advances; not at all when t is an office time)."""
    off = stockholm_offset_ms(t // DAY_MS)
    lday = (t + off) // DAY_MS
    tod = t + off - lday * DAY_MS
    wd = weekday(lday)
    if wd < SATURDAY:
        if OFFICE_OPENS_MS <= tod < OFFICE_CLOSES_MS:
            return t
        if tod >= OFFICE_CLOSES_MS:
            lday += 1
            wd += 1
    if wd >= SATURDAY:
        lday += 7 - wd + int(rnd() * 5)
    return office_time_on(lday, rnd)


def office_time_on(local_day: int, rnd) -> int:
    """A uniformly drawn instant inside the office hours of a local day."""
    return local_day_start(local_day) + OFFICE_OPENS_MS + int(rnd() * (OFFICE_CLOSES_MS - OFFICE_OPENS_MS))


# ---------------------------------------------------------------------------------------------------
# Conversions and formatting
# ---------------------------------------------------------------------------------------------------


def to_ms(t: dt.datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH) // dt.timedelta(milliseconds=1)


def from_ms(t: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(milliseconds=t)


_MINUTE_PREFIX: dict[int, str] = {}
_SECOND_SUFFIX = [f"{s:02d}.{ms:03d}+00:00" for s in range(60) for ms in range(1000)]


def fmt_ms(t: int) -> str:
    """ISO 8601 UTC instant with millisecond precision: 2026-11-20T06:12:31.123+00:00."""
    m, r = divmod(t, MIN_MS)
    p = _MINUTE_PREFIX.get(m)
    if p is None:
        if len(_MINUTE_PREFIX) > 400_000:
            _MINUTE_PREFIX.clear()
        d, mm = divmod(m, 1440)
        h, mi = divmod(mm, 60)
        p = _MINUTE_PREFIX[m] = f"{(dt.date(1970, 1, 1) + dt.timedelta(days=d)).isoformat()}T{h:02d}:{mi:02d}:"
    return p + _SECOND_SUFFIX[r]


def fmt_date(t: int) -> str:
    return (dt.date(1970, 1, 1) + dt.timedelta(days=t // DAY_MS)).isoformat()
