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
"""
from __future__ import annotations

import datetime as dt
import bisect
import heapq
import itertools
import math
import random
import re
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Iterable, Iterator

from schemas import reference

UTC = dt.timezone.utc
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MIN_MS = 60_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_START = dt.datetime(2026, 11, 16, 5, 0, tzinfo=UTC)  # a Monday, 06:00 in Stockholm

# ---------------------------------------------------------------------------------------------------
# Sizing (INFORMATION_MODEL §7)
# ---------------------------------------------------------------------------------------------------
NATIONAL_STAFFED_BEDS = 22_000     # at scale 1.0; split over regions by regions.csv staffed_beds_2015
NATIONAL_HOSPITALS = 76
PSYCH_SHARE = 0.196                # ~4,300 psychiatric beds
UNIVERSITY_REGIONS = {"01": "Karolinska Universitetssjukhuset", "03": "Akademiska sjukhuset",
                      "05": "Universitetssjukhuset i Linköping", "12": "Skånes universitetssjukhus",
                      "14": "Sahlgrenska Universitetssjukhuset", "18": "Universitetssjukhuset Örebro",
                      "24": "Norrlands universitetssjukhus"}
BACKLOG_DAYS = 540
INITIAL_STAY_MAX_DAYS = 120
CENSUS_INTERVAL_MS = 4 * HOUR_MS
CENSUS_WARD_SHARE = 0.10

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

# SCB municipality codes with names (main town first); the first ones are weighted higher.
_MUNI_TEXT = {
    "01": "0180 Stockholm,0126 Huddinge,0182 Nacka,0127 Botkyrka,0181 Södertälje,0184 Solna,0160 Täby,"
          "0123 Järfälla,0136 Haninge,0163 Sollentuna,0188 Norrtälje,0183 Sundbyberg,0120 Värmdö,"
          "0191 Sigtuna,0138 Tyresö,0114 Upplands Väsby,0117 Österåker,0186 Lidingö,0162 Danderyd,"
          "0115 Vallentuna,0139 Upplands-Bro,0125 Ekerö,0192 Nynäshamn,0128 Salem,0140 Nykvarn,0187 Vaxholm",
    "03": "0380 Uppsala,0381 Enköping,0382 Östhammar,0360 Tierp,0305 Håbo,0330 Knivsta,0331 Heby,0319 Älvkarleby",
    "04": "0484 Eskilstuna,0480 Nyköping,0483 Katrineholm,0486 Strängnäs,0482 Flen,0481 Oxelösund,"
          "0488 Trosa,0461 Gnesta,0428 Vingåker",
    "05": "0580 Linköping,0581 Norrköping,0583 Motala,0586 Mjölby,0562 Finspång,0582 Söderköping,"
          "0561 Åtvidaberg,0584 Vadstena,0563 Valdemarsvik,0513 Kinda,0560 Boxholm,0509 Ödeshög,0512 Ydre",
    "06": "0680 Jönköping,0683 Värnamo,0682 Nässjö,0685 Vetlanda,0662 Gislaved,0686 Eksjö,0687 Tranås,"
          "0665 Vaggeryd,0643 Habo,0684 Sävsjö,0617 Gnosjö,0642 Mullsjö,0604 Aneby",
    "07": "0780 Växjö,0781 Ljungby,0764 Alvesta,0765 Älmhult,0763 Tingsryd,0767 Markaryd,0760 Uppvidinge,"
          "0761 Lessebo",
    "08": "0880 Kalmar,0883 Västervik,0882 Oskarshamn,0881 Nybro,0884 Vimmerby,0860 Hultsfred,"
          "0861 Mönsterås,0840 Mörbylånga,0862 Emmaboda,0885 Borgholm,0834 Torsås,0821 Högsby",
    "09": "0980 Gotland",
    "10": "1080 Karlskrona,1081 Ronneby,1082 Karlshamn,1083 Sölvesborg,1060 Olofström",
    "12": "1280 Malmö,1283 Helsingborg,1281 Lund,1290 Kristianstad,1282 Landskrona,1293 Hässleholm,"
          "1287 Trelleborg,1292 Ängelholm,1286 Ystad,1285 Eslöv,1233 Vellinge,1284 Höganäs,1261 Kävlinge,"
          "1262 Lomma,1263 Svedala,1230 Staffanstorp,1291 Simrishamn,1264 Skurup,1265 Sjöbo,1266 Hörby,"
          "1267 Höör,1276 Klippan,1277 Åstorp,1278 Båstad,1231 Burlöv,1214 Svalöv,1260 Bjuv,1270 Tomelilla,"
          "1272 Bromölla,1273 Osby,1275 Perstorp,1256 Östra Göinge,1257 Örkelljunga",
    "13": "1380 Halmstad,1384 Kungsbacka,1383 Varberg,1382 Falkenberg,1381 Laholm,1315 Hylte",
    "14": "1480 Göteborg,1490 Borås,1481 Mölndal,1488 Trollhättan,1485 Uddevalla,1496 Skövde,"
          "1494 Lidköping,1487 Vänersborg,1482 Kungälv,1489 Alingsås,1441 Lerum,1401 Härryda,1402 Partille,"
          "1499 Falköping,1463 Mark,1493 Mariestad,1491 Ulricehamn,1440 Ale,1415 Stenungsund,1495 Skara,"
          "1484 Lysekil,1486 Strömstad,1492 Åmål,1407 Öckerö,1419 Tjörn,1421 Orust,1427 Sotenäs,"
          "1430 Munkedal,1435 Tanum,1438 Dals-Ed,1439 Färgelanda,1442 Vårgårda,1443 Bollebygd,"
          "1444 Grästorp,1445 Essunga,1446 Karlsborg,1447 Gullspång,1452 Tranemo,1460 Bengtsfors,"
          "1461 Mellerud,1462 Lilla Edet,1465 Svenljunga,1466 Herrljunga,1470 Vara,1471 Götene,1472 Tibro,"
          "1473 Töreboda,1497 Hjo,1498 Tidaholm",
    "17": "1780 Karlstad,1784 Arvika,1781 Kristinehamn,1785 Säffle,1783 Hagfors,1761 Hammarö,1766 Sunne,"
          "1782 Filipstad,1737 Torsby,1763 Forshaga,1715 Kil,1764 Grums,1765 Årjäng,1730 Eda,"
          "1760 Storfors,1762 Munkfors",
    "18": "1880 Örebro,1883 Karlskoga,1885 Lindesberg,1881 Kumla,1861 Hallsberg,1882 Askersund,1884 Nora,"
          "1814 Lekeberg,1862 Degerfors,1863 Hällefors,1860 Laxå,1864 Ljusnarsberg",
    "19": "1980 Västerås,1983 Köping,1981 Sala,1982 Fagersta,1961 Hallstahammar,1984 Arboga,"
          "1907 Surahammar,1960 Kungsör,1962 Norberg,1904 Skinnskatteberg",
    "20": "2080 Falun,2081 Borlänge,2085 Ludvika,2062 Mora,2084 Avesta,2083 Hedemora,2029 Leksand,"
          "2031 Rättvik,2082 Säter,2061 Smedjebacken,2023 Malung-Sälen,2026 Gagnef,2034 Orsa,"
          "2039 Älvdalen,2021 Vansbro",
    "21": "2180 Gävle,2181 Sandviken,2184 Hudiksvall,2183 Bollnäs,2182 Söderhamn,2161 Ljusdal,"
          "2121 Ovanåker,2104 Hofors,2132 Nordanstig,2101 Ockelbo",
    "22": "2281 Sundsvall,2284 Örnsköldsvik,2280 Härnösand,2282 Kramfors,2283 Sollefteå,2262 Timrå,2260 Ånge",
    "23": "2380 Östersund,2309 Krokom,2361 Härjedalen,2321 Åre,2313 Strömsund,2305 Bräcke,2326 Berg,"
          "2303 Ragunda",
    "24": "2480 Umeå,2482 Skellefteå,2481 Lycksele,2460 Vännäs,2462 Vilhelmina,2401 Nordmaling,"
          "2409 Robertsfors,2421 Storuman,2404 Vindeln,2417 Norsjö,2418 Malå,2425 Dorotea,2422 Sorsele,"
          "2463 Åsele,2403 Bjurholm",
    "25": "2580 Luleå,2581 Piteå,2584 Kiruna,2582 Boden,2523 Gällivare,2514 Kalix,2560 Älvsbyn,"
          "2583 Haparanda,2505 Arvidsjaur,2510 Jokkmokk,2518 Övertorneå,2521 Pajala,2513 Överkalix,"
          "2506 Arjeplog",
}
MUNICIPALITIES: dict[str, list[tuple[str, str]]] = {
    r: [(s[:4], s[5:]) for s in text.split(",")] for r, text in _MUNI_TEXT.items()}

# Ward specialties: (mvo, ward name, mean LOS days, weight county hospital, weight university hospital)
_SOMATIC_WARDS = [
    ("101", "Medicin", 4.0, 18, 10), ("107", "Kardiologi", 3.5, 6, 5), ("109", "Strokeenhet", 6.0, 4, 3),
    ("111", "Lungmedicin", 4.5, 3, 3), ("121", "Infektion", 4.5, 3, 3), ("201", "Barn", 2.5, 4, 4),
    ("221", "Neurologi", 5.0, 3, 4), ("241", "Geriatrik", 7.0, 8, 5), ("249", "Geriatrisk rehab", 11.0, 2, 1),
    ("301", "Kirurgi", 3.5, 10, 8), ("311", "Ortopedi", 4.5, 9, 7), ("361", "Urologi", 3.0, 3, 3),
    ("431", "Gynekologi", 2.5, 3, 3), ("441", "BB", 2.2, 4, 3), ("741", "Onkologi", 5.5, 3, 4),
    ("521", "ÖNH", 2.5, 1, 2), ("108", "Hematologi", 7.0, 2, 3), ("151", "Njurmedicin", 5.0, 1, 2),
    ("061", "Palliativ", 10.0, 1, 1), ("331", "Neurokirurgi", 6.0, 0, 2), ("341", "Thoraxkirurgi", 6.0, 0, 2),
    ("371", "Transplantation", 9.0, 0, 1), ("306", "Brännskadeenhet", 12.0, 0, 0.5),
    ("206", "Neonatal", 10.0, 0, 2), ("401", "Barnkirurgi", 2.5, 0, 1), ("351", "Plastikkirurgi", 3.5, 0, 1),
    ("304", "Kärlkirurgi", 5.0, 0, 2),
]
_PSYCH_WARDS = [("901", "Allmänpsykiatri", 16.0, 10), ("928", "Geropsykiatri", 22.0, 2),
                ("931", "BUP", 14.0, 2), ("943", "Rättspsykiatri", 60.0, 1.5), ("945", "Beroende", 7.0, 1.5)]
_WARD_NAME = {m: n for m, n, *_ in _SOMATIC_WARDS} | {m: n for m, n, *_ in _PSYCH_WARDS} | {
    "411": "IVA", "041": "Observation", "046": "Akutvårdsavdelning"}
_MEAN_LOS = {m: los for m, _, los, *_ in _SOMATIC_WARDS} | {m: los for m, _, los, _ in _PSYCH_WARDS} | {
    "411": 2.2, "041": 0.55, "046": 0.6}
_DRM_PROB = {"101": 0.14, "241": 0.22, "249": 0.2, "109": 0.15, "111": 0.1, "311": 0.1, "221": 0.1,
             "107": 0.06, "121": 0.06, "061": 0.05}

# Waiting-list activities: key, mvo, phase, activity code, weight, mean wait days, sigma,
# birth-year range, skew group
_ACTIVITIES = [
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

# local-hour profiles (Europe/Stockholm)
_ADMIT_RHYTHM = [0.45, 0.35, 0.3, 0.3, 0.3, 0.35, 0.5, 0.8, 1.2, 1.45, 1.6, 1.6, 1.55, 1.5, 1.5, 1.5,
                 1.45, 1.35, 1.2, 1.1, 0.95, 0.8, 0.65, 0.55]
_m = sum(_ADMIT_RHYTHM) / 24
ADMIT_RHYTHM = [x / _m for x in _ADMIT_RHYTHM]
RHYTHM_MAX = max(ADMIT_RHYTHM)
_DISCHARGE_HOURS = [0.03, 0.02, 0.02, 0.02, 0.02, 0.03, 0.05, 0.1, 0.3, 0.6, 1.2, 1.8, 1.8, 1.7, 1.6,
                    1.4, 1.0, 0.6, 0.4, 0.3, 0.2, 0.1, 0.06, 0.04]
DISCHARGE_CUM = list(itertools.accumulate(_DISCHARGE_HOURS))

# A run of 10 digits, or YYMMDD-NNNN: never allowed in a generated string (reads like a personnummer)
_RISKY = re.compile(r"\d{10}|\d{6}[-+]\d{4}")
_PIN_SAMPLES = ("19121212-1212", "121212-1212", "201212121212", "19800101-0017")
_ND = NormalDist()

# ---------------------------------------------------------------------------------------------------
# Time helpers (pure; EU summer time rule for Europe/Stockholm, no tz database needed)
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


def to_ms(t: dt.datetime) -> int:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return (t - _EPOCH) // dt.timedelta(milliseconds=1)


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


def _largest_remainder(weights: list[float], total: int, minimum: int = 0) -> list[int]:
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


def _pick(cum: list[float], u: float) -> int:
    """Index drawn from cumulative weights `cum` with a uniform u in [0, 1)."""
    i = bisect.bisect(cum, u * cum[-1])
    return i if i < len(cum) else len(cum) - 1


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


# ---------------------------------------------------------------------------------------------------
# Topology
# ---------------------------------------------------------------------------------------------------


@dataclass
class Hospital:
    idx: int
    hospital_id: str
    name: str
    region: str
    university: bool
    census_only: bool = False
    beds_target: float = 0.0
    wards: list[int] = field(default_factory=list)


@dataclass
class Ward:
    idx: int
    ward_id: str
    ward_name: str
    hospital: int
    region: str
    sender_id: str
    mvo: str
    group: str
    care_type: str
    kind: str
    staffed: int
    budgeted: int | None
    mean_los: float
    sigma: float
    adt: bool = True
    weekend_cut: int = 0          # beds closed Fri afternoon -> Mon morning (0 = no weekend closure)
    summer: tuple[int, int, int] | None = None  # (start day-of-year, end day-of-year, beds closed)


def org_number(region: str) -> str:
    return "23210000" + region


def region_sender(region: str) -> str:
    return f"SE{org_number(region)}-0001"


def census_sender(region: str) -> str:
    return f"SE{org_number(region)}-0002"


# ---------------------------------------------------------------------------------------------------
# The simulator
# ---------------------------------------------------------------------------------------------------

# bed action codes
_ADMIT, _ARRIVE, _SEGEND, _LEAVE_S, _LEAVE_E, _DRM, _CENSUS, _TICK, _CAP = range(9)
# waitlist action codes
_BDAY, _WTICK, _DECIDE, _DEV_S, _DEV_C, _BOOK, _CLOSE = range(7)
# capacity components
_C_WEEKEND, _C_SUMMER, _C_ESC, _C_DIP, _C_BASE = range(5)
_C_REASON = ("closure", "closure", "escalation", "staffing", "other")


class Simulator:
    """Synthetic national (or regional) topology, bed flow and waiting lists. Deterministic in `seed`."""

    def __init__(self, seed: int, regions: list[str] | None = None, start: dt.datetime | None = None,
                 scale: float = 1.0):
        if scale <= 0:
            raise ValueError("scale must be > 0")
        ref = reference.regions()
        codes = sorted(ref) if regions is None else sorted(set(regions))
        unknown = [c for c in codes if c not in ref]
        if unknown:
            raise ValueError(f"unknown region codes: {unknown}")
        self.seed = seed
        self.scale = scale
        self.region_codes = codes
        self.start = (start or DEFAULT_START)
        if self.start.tzinfo is None:
            self.start = self.start.replace(tzinfo=UTC)
        self.start = self.start.astimezone(UTC)
        self.start_ms = to_ms(self.start)
        self.start_local_day = (self.start_ms + stockholm_offset_ms(self.start_ms // DAY_MS)) // DAY_MS
        self.declared_ms = local_day_start(self.start_local_day - BACKLOG_DAYS - 1)
        self.declared_at = _EPOCH + dt.timedelta(milliseconds=self.declared_ms)
        self.hospitals: list[Hospital] = []
        self.wards: list[Ward] = []
        self._build_topology()
        self._build_region_params()
        self._build_waitlist_params()

    # ------------------------------------------------------------------ topology
    def _build_topology(self) -> None:
        ref = reference.regions()
        specs = reference.specialties()
        rng = random.Random(f"{self.seed}:topology")
        all_codes = sorted(ref)
        total_2015 = sum(r.staffed_beds_2015 for r in ref.values())
        factor = NATIONAL_STAFFED_BEDS / total_2015
        n_hosp_all = dict(zip(all_codes, _largest_remainder(
            [ref[c].staffed_beds_2015 for c in all_codes], NATIONAL_HOSPITALS - len(all_codes), 0)))
        s = self.scale
        for region in self.region_codes:
            org = org_number(region)
            beds = max(ref[region].staffed_beds_2015 * factor * s, 24.0)
            nh = 1 + n_hosp_all[region]
            nh = max(1, min(round(nh * s) if s < 1 else nh, int(beds // 40) or 1))
            uni = region in UNIVERSITY_REGIONS
            weights = [2.6 if (uni and i == 0) else rng.uniform(0.5, 1.5) for i in range(nh)]
            sw = sum(weights)
            towns = MUNICIPALITIES[region]
            hs: list[Hospital] = []
            for i in range(nh):
                is_uni = uni and i == 0
                if is_uni:
                    name = UNIVERSITY_REGIONS[region]
                else:
                    town = towns[i % len(towns)][1]
                    name = rng.choice(["Sjukhuset i {}", "{} lasarett", "Länssjukhuset {}", "{} sjukhus"]).format(town) \
                        if i < len(towns) else f"{towns[0][1]} sjukhus {i + 1}"
                h = Hospital(len(self.hospitals), f"SE{org}-H{i + 1:03d}", name, region, is_uni,
                             beds_target=beds * weights[i] / sw)
                self.hospitals.append(h)
                hs.append(h)
            # psychiatry: in the hospitals of >= 150 beds (or the largest one)
            psych_total = beds * PSYCH_SHARE
            big = [h for h in hs if h.beds_target >= 150] or [max(hs, key=lambda h: h.beds_target)]
            bt = sum(h.beds_target for h in big)
            psych_of = {h.idx: psych_total * h.beds_target / bt for h in big}
            for h in hs:
                self._build_hospital_wards(rng, h, round(h.beds_target), round(psych_of.get(h.idx, 0.0)), specs)
        # census-only senders: whole non-university hospitals until ~10 % of the wards
        target = CENSUS_WARD_SHARE * len(self.wards)
        candidates = [h for h in self.hospitals if not h.university]
        rng.shuffle(candidates)
        n = 0
        for h in candidates:
            if n >= target * 0.8 or n + len(h.wards) > target * 1.5:
                continue
            h.census_only = True
            n += len(h.wards)
            for w in h.wards:
                self.wards[w].adt = False
                self.wards[w].sender_id = census_sender(h.region)
        # capacity patterns
        for w in self.wards:
            if w.kind == "general" and w.care_type == "somatic":
                if rng.random() < (0.25 if w.mvo in ("301", "311", "361", "431", "521", "351") else 0.04):
                    w.weekend_cut = max(1, round(w.staffed * rng.uniform(0.2, 0.5)))
                if rng.random() < 0.45:
                    start = rng.randint(172, 190)
                    w.summer = (start, start + rng.randint(28, 56), max(1, round(w.staffed * rng.uniform(0.2, 0.5))))
            elif w.kind == "general" and rng.random() < 0.25:
                start = rng.randint(175, 195)
                w.summer = (start, start + rng.randint(21, 42), max(1, round(w.staffed * rng.uniform(0.1, 0.3))))

    def _add_ward(self, rng, h: Hospital, mvo: str, kind: str, staffed: int, specs, counter: dict) -> None:
        sp = specs[mvo]
        name = _WARD_NAME.get(mvo, sp.description or mvo)
        counter[name] = counter.get(name, 0) + 1
        no = len(h.wards) + 1
        budgeted = staffed + rng.randint(0, 4) if rng.random() < 0.7 else None
        sigma = {"icu": 0.8, "observation": 0.45, "short_stay": 0.5}.get(kind, 1.0 if sp.care_type == "psychiatric" else 0.8)
        hno = int(h.hospital_id[-3:])
        w = Ward(len(self.wards), f"SE{org_number(h.region)}-A{hno:02d}{no:03d}", f"{name} {counter[name]}",
                 h.idx, h.region, region_sender(h.region), mvo, sp.aggregated_group, sp.care_type, kind,
                 staffed, budgeted, _MEAN_LOS[mvo], sigma)
        self.wards.append(w)
        h.wards.append(w.idx)

    def _build_hospital_wards(self, rng, h: Hospital, total: int, psych: int, specs) -> None:
        counter: dict[str, int] = {}
        icu = max(4, round(total * 0.028)) if total >= 80 else 0
        short = max(6, round(total * 0.02)) if total >= 250 else 0
        obs = max(4, round(total * 0.012)) if (h.university or total >= 450) else 0
        somatic = max(total - psych - icu - short - obs, 8)
        table = [(m, (wu if h.university else wc)) for m, _, _, wc, wu in _SOMATIC_WARDS]
        mvos = [m for m, w in table if w > 0]
        wts = [w for m, w in table if w > 0]
        sizes = self._split(rng, somatic, 10.0, 5, 24)
        for i, size in enumerate(sizes):
            mvo = "101" if i == 0 else "301" if i == 1 else rng.choices(mvos, wts)[0]
            self._add_ward(rng, h, mvo, "general", size, specs, counter)
        if psych > 0:
            pm = [m for m, *_ in _PSYCH_WARDS]
            pw = [x[3] for x in _PSYCH_WARDS]
            for i, size in enumerate(self._split(rng, psych, 10.0, 5, 18)):
                self._add_ward(rng, h, "901" if i == 0 else rng.choices(pm, pw)[0], "general", size, specs, counter)
        if icu:
            for size in (self._split(rng, icu, 8.0, 4, 14) if icu > 14 else [icu]):
                self._add_ward(rng, h, "411", "icu", size, specs, counter)
        if short:
            self._add_ward(rng, h, "046", "short_stay", short, specs, counter)
        if obs:
            self._add_ward(rng, h, "041", "observation", obs, specs, counter)

    @staticmethod
    def _split(rng, total: int, mean: float, lo: int, hi: int) -> list[int]:
        """Ward sizes (log-normal around `mean`, clipped) summing exactly to `total`."""
        if total <= hi:
            if total >= 2 * lo + 2:  # a hospital keeps at least two wards of a kind when it can
                a = total // 2
                return [a, total - a]
            return [max(total, 1)]
        out: list[int] = []
        left = total
        mu = math.log(mean) - 0.045
        while left > 0:
            s = min(hi, max(lo, round(rng.lognormvariate(mu, 0.3))))
            if left - s < lo:
                if s + left - s <= hi:
                    s = left
                else:
                    s = left - lo
            out.append(s)
            left -= s
        return out

    # ------------------------------------------------------------------ parameters
    def _build_region_params(self) -> None:
        ref = reference.regions()
        rng = random.Random(f"{self.seed}:regions")
        self.occupancy_target = {r: rng.uniform(0.84, 0.95) for r in self.region_codes}
        # outlier propensity: some regions well under 1, some several per 100 beds
        self.outlier_rate = {r: 0.035 * rng.choice([0.2, 0.4, 0.7, 1.0, 1.0, 1.3, 1.7, 2.2]) for r in self.region_codes}
        all_codes = sorted(ref)
        self._hc_members = {r: [o for o in all_codes if o != r and
                                set(ref[o].healthcare_regions) & set(ref[r].healthcare_regions)] for r in all_codes}
        self._muni_codes = {r: [c for c, _ in MUNICIPALITIES[r]] for r in all_codes}
        self._muni_cum = {r: list(itertools.accumulate(1.0 / (i + 1) ** 0.9 for i in range(len(MUNICIPALITIES[r]))))
                          for r in all_codes}
        self._all_codes = all_codes
        self._pop_cum = list(itertools.accumulate(ref[c].population for c in all_codes))

    def _home_muni(self, rng, region: str, university: bool, p_out: float) -> str:
        rnd = rng.random
        home = region
        if rnd() < p_out:
            ref = reference.regions()
            x = rnd()
            if university and x < 0.7 and self._hc_members[region]:
                home = rng.choice(self._hc_members[region])
            elif x < 0.85 and ref[region].neighbours:
                home = rng.choice(ref[region].neighbours)
            else:
                home = self._all_codes[_pick(self._pop_cum, rnd())]
                if home == region:
                    home = rng.choice(self._all_codes)
        cum = self._muni_cum[home]
        return self._muni_codes[home][_pick(cum, rnd())]

    def _build_waitlist_params(self) -> None:
        ref = reference.regions()
        self.activities = _ACTIVITIES
        K = len(_ACTIVITIES)
        self._act_mu = [math.log(a[5]) - a[6] ** 2 / 2 for a in _ACTIVITIES]
        self._act_sigma = [a[6] for a in _ACTIVITIES]
        self.backlog_target: dict[str, int] = {}
        self._act_weights: dict[str, list[float]] = {}
        self._inflow: dict[str, float] = {}
        for r in self.region_codes:
            skew = ACTIVITY_SKEW.get(r, {})
            w = [a[4] * skew.get(a[9], 1.0) for a in _ACTIVITIES]
            sw = sum(w)
            w = [x / sw for x in w]
            self._act_weights[r] = w
            self.backlog_target[r] = round(BACKLOG_PER_1000[r] * ref[r].population * self.scale / 1000)
            mean_wait = sum(w[k] * _ACTIVITIES[k][5] for k in range(K))
            self._inflow[r] = self.backlog_target[r] / mean_wait  # decisions per calendar day

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
        for item in self._wait_stream(self.start_ms):
            yield item[3]

    def waitlist_events(self, days: float, **kw) -> Iterator[dict]:
        """Waiting-list events only (backlog history first unless history=False)."""
        return self.events(days, beds=False, include_topology=False, **kw)

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
            streams.append(self._bed_stream(end))
        if waitlist:
            streams.append(self._wait_stream(end))
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
        yield from self._with_faults(merged, start, end, history, duplicates, late, malformed, silent, mark_faults)

    # ------------------------------------------------------------------ faults
    def _with_faults(self, merged, start, end, history, p_dup, p_late, p_bad, silent, mark):
        frng = random.Random(f"{self.seed}:faults")
        cutoff = start + (end - start) // 4
        pending: list = []  # (emit_t, seq, event)
        seq = itertools.count()
        for t, _, _, ev in merged:
            while pending and pending[0][0] <= t:
                et, _, pe = heapq.heappop(pending)
                if not (pe.get("region_code") in silent and et >= cutoff):
                    yield pe
            if t < start:
                if history:
                    yield ev
                continue
            if ev["region_code"] in silent and t >= cutoff:
                continue
            r = frng.random()
            if r < p_bad:
                yield self._malform(frng, ev, mark)
                continue
            if r < p_bad + p_late:
                if mark:
                    ev = {**ev, "_fault": "late"}
                heapq.heappush(pending, (t + frng.randint(HOUR_MS, 12 * HOUR_MS), next(seq), ev))
                continue
            yield ev
            if p_dup and frng.random() < p_dup:
                copy = dict(ev)
                if mark:
                    copy["_fault"] = "duplicate"
                heapq.heappush(pending, (t + frng.randint(1000, 15 * MIN_MS), next(seq), copy))
        while pending:
            et, _, pe = heapq.heappop(pending)
            if not (pe.get("region_code") in silent and et >= cutoff):
                yield pe

    _REQUIRED = {
        "CapacityChanged": ("ward_id", "staffed_beds", "reason"),
        "PatientAdmitted": ("ward_id", "stay_id", "patient_ref", "responsible_mvo_code", "home_municipality_code"),
        "PatientTransferred": ("stay_id", "from_ward_id", "to_ward_id"),
        "LeaveStarted": ("ward_id", "stay_id"), "LeaveEnded": ("ward_id", "stay_id"),
        "DischargeReadyMarked": ("ward_id", "stay_id"), "PatientDischarged": ("ward_id", "stay_id"),
        "WardCensus": ("ward_id", "staffed_beds", "occupied", "on_leave", "overcrowded"),
        "ContactDecided": ("contact_id", "provider_id", "phase", "mvo_code", "guarantee", "decided_at",
                           "birth_year", "sex", "home_municipality_code"),
        "DeviationSet": ("contact_id", "deviation"), "DeviationCleared": ("contact_id",),
        "ContactBooked": ("contact_id", "booked_for"),
        "ContactPerformed": ("contact_id", "started_at", "performing_provider_id", "performing_region_code"),
        "ContactRemoved": ("contact_id", "reason"),
    }

    def _malform(self, frng, ev: dict, mark: bool) -> dict:
        bad = dict(ev)
        et = ev["event_type"]
        kinds = ["missing_field", "bad_region", "pin", "bad_timestamp"]
        if et in ("CapacityChanged", "WardCensus"):
            kinds.append("negative_count")
            kinds.append("negative_count")
        kind = frng.choice(kinds)
        if kind == "missing_field":
            del bad[frng.choice(self._REQUIRED.get(et, ()) + ("occurred_at", "sender_id", "region_code"))]
        elif kind == "bad_region":
            bad["region_code"] = frng.choice(["02", "99", "00", "1", "AB"])
        elif kind == "pin":
            pin = frng.choice(_PIN_SAMPLES)
            for f in ("patient_ref", "stay_id", "contact_id", "ward_id"):
                if f in bad:
                    bad[f] = pin
                    break
        elif kind == "bad_timestamp":
            bad["occurred_at"] = frng.choice(["2026-13-45T99:00:00", "yesterday", "", "20261120"])
        elif kind == "negative_count":
            f = frng.choice(["staffed_beds"] + (["occupied", "on_leave"] if et == "WardCensus" else []))
            bad[f] = -frng.randint(1, 20)
        if mark:
            bad["_fault"] = kind
        return bad

    # ------------------------------------------------------------------ bed flow
    def _bed_stream(self, end: int) -> Iterator[tuple]:
        rng = random.Random(f"{self.seed}:beds")
        rnd = rng.random
        getrandbits = rng.getrandbits
        lognorm = rng.lognormvariate
        heap: list = []
        push = heapq.heappush
        pop = heapq.heappop
        seqc = itertools.count()
        out_seq = itertools.count()
        start = self.start_ms
        wards = self.wards
        hospitals = self.hospitals
        n = len(wards)
        W_id = [w.ward_id for w in wards]
        W_reg = [w.region for w in wards]
        W_snd = [w.sender_id for w in wards]
        W_mvo = [w.mvo for w in wards]
        W_grp = [w.group for w in wards]
        W_kind = [w.kind for w in wards]
        W_psy = [w.care_type == "psychiatric" for w in wards]
        W_adt = [w.adt for w in wards]
        W_hosp = [w.hospital for w in wards]
        W_mu = [math.log(w.mean_los) - w.sigma ** 2 / 2 for w in wards]
        W_sig = [w.sigma for w in wards]
        W_target = [(0.8 if w.kind != "general" else self.occupancy_target[w.region]) for w in wards]
        W_los_ms = [w.mean_los * DAY_MS for w in wards]
        # capacity components
        W_base = [w.staffed for w in wards]
        W_cap = [[0, 0, 0, 0, 0] for _ in wards]
        W_staffed = list(W_base)
        # live counts
        W_adm = [0] * n
        W_leave = [0] * n
        W_out = [0] * n
        W_drm = [0] * n
        W_ooa = [0] * n
        specs = reference.specialties()
        groups = {m: s.aggregated_group for m, s in specs.items()}
        # wards per hospital by role
        H_general = [[wi for wi in h.wards if W_kind[wi] == "general" and not W_psy[wi]] for h in hospitals]
        H_psych = [[wi for wi in h.wards if W_psy[wi]] for h in hospitals]
        H_uni = [h.university for h in hospitals]
        H_by_group: list[dict[str, list[int]]] = []
        for gl in H_general:
            d: dict[str, list[int]] = {}
            for wi in gl:
                d.setdefault(W_grp[wi], []).append(wi)
            H_by_group.append(d)
        som_m = [m for m, *_ in _SOMATIC_WARDS]
        som_w = [x[3] + x[4] for x in _SOMATIC_WARDS]
        psy_m = [m for m, *_ in _PSYCH_WARDS]
        psy_w = [x[3] for x in _PSYCH_WARDS]
        out_rate = self.outlier_rate
        fmt = fmt_ms
        disc_cum = DISCHARGE_CUM
        disc_tot = disc_cum[-1]
        rhythm = ADMIT_RHYTHM
        cand_factor = RHYTHM_MAX * 3.0
        # per-ward candidate arrival rate (per ms)
        W_lam = [max(W_base[i], 1) * W_target[i] / W_los_ms[i] * cand_factor for i in range(n)]
        stay_counter = itertools.count(100_001)

        def sched(t, code, a=None, b=None):
            if t < end:
                push(heap, (t, next(seqc), code, a, b))

        def ev_id():
            return make_event_id(getrandbits)

        def local_hour(t):
            return ((t + stockholm_offset_ms(t // DAY_MS)) // HOUR_MS) % 24

        def local_weekday(t):
            return ((t + stockholm_offset_ms(t // DAY_MS)) // DAY_MS + 3) % 7  # Monday = 0

        def sample_los(w):
            d = lognorm(W_mu[w], W_sig[w]) * DAY_MS
            k = W_kind[w]
            if k == "observation" or k == "short_stay":
                d = min(d, 23.5 * HOUR_MS)
            return max(int(d), 2 * HOUR_MS)

        def choose_resp(w):
            """responsible MVO at admission: the ward's, or an outlier from another group"""
            k = W_kind[w]
            if k == "icu":
                return W_mvo[w]
            p = out_rate[W_reg[w]] * (0.4 if W_psy[w] else 1.0)
            if k != "general" or rnd() >= p:
                return W_mvo[w]
            g = W_grp[w]
            for _ in range(6):
                m = rng.choices(psy_m, psy_w)[0] if W_psy[w] else rng.choices(som_m, som_w)[0]
                if groups[m] != g:
                    return m
            return W_mvo[w]

        def plan(w, first_dur, stay):
            """segments [(ward, duration_ms, resp change or None)] from admission on"""
            segs = [(w, first_dur, None)]
            k = W_kind[w]
            h = W_hosp[w]
            if k in ("icu", "observation", "short_stay"):
                p = 0.65 if k == "icu" else 0.45
                cands = H_general[h]
                if cands and rnd() < p:
                    to = cands[int(rnd() * len(cands))]
                    if to != w:
                        segs.append((to, sample_los(to) * 3 // 4 + HOUR_MS, W_mvo[to]))
            elif W_psy[w]:
                cands = H_psych[h]
                if len(cands) > 1 and rnd() < 0.03:
                    to = cands[int(rnd() * len(cands))]
                    if to != w:
                        d1 = int(first_dur * rng.uniform(0.2, 0.5))
                        segs = [(w, d1, None), (to, max(first_dur - d1, 4 * HOUR_MS), None)]
            else:
                rg = stay[3]
                if rg != W_grp[w] and rg in H_by_group[h] and rnd() < 0.5:
                    to = rng.choice(H_by_group[h][rg])
                    d1 = int(first_dur * rng.uniform(0.15, 0.4))
                    segs = [(w, d1, None), (to, max(first_dur - d1, 4 * HOUR_MS), None)]
                elif rnd() < 0.05 and len(H_general[h]) > 1:
                    to = rng.choice(H_general[h])
                    if to != w:
                        d1 = int(first_dur * rng.uniform(0.3, 0.6))
                        segs = [(w, d1, None), (to, int(sample_los(to) * 0.6) + 4 * HOUR_MS, W_mvo[to])]
            return segs

        def start_segment(stay, t0):
            """schedule the events of the current segment (leave, discharge-ready, its end)"""
            segs = stay[7]
            i = stay[8]
            w, dur, _ = segs[i]
            last = i == len(segs) - 1
            k = W_kind[w]
            t_end = t0 + dur
            if last and k == "general" and dur > 20 * HOUR_MS:
                # discharge late morning / afternoon, fewer at weekends
                off = stockholm_offset_ms(t_end // DAY_MS)
                lday = (t_end + off) // DAY_MS
                if (lday + 3) % 7 >= 5 and rnd() < 0.35:
                    lday += 7 - (lday + 3) % 7
                x = rnd() * disc_tot
                hr = 0
                while disc_cum[hr] < x:
                    hr += 1
                t_end = lday * DAY_MS - off + hr * HOUR_MS + int(rnd() * HOUR_MS)
                if t_end < t0 + 4 * HOUR_MS:
                    t_end += DAY_MS
            dur = t_end - t0
            if k == "general" and dur > 2 * DAY_MS:
                psy = W_psy[w]
                if rnd() < (0.5 if psy else 0.06):
                    nl = min(3, 1 + dur // (12 * DAY_MS)) if psy else 1
                    span = dur // nl
                    for j in range(nl):
                        ls = t0 + j * span + int(span * rng.uniform(0.3, 0.6))
                        le = ls + min(int(rng.uniform(6, 48) * HOUR_MS), t0 + (j + 1) * span - ls - 2 * HOUR_MS)
                        if le > ls + HOUR_MS:
                            sched(ls, _LEAVE_S, stay, w)
                            sched(le, _LEAVE_E, stay, w)
                if last and not psy:
                    p = _DRM_PROB.get(W_mvo[w], 0.03)
                    if rnd() < p:
                        md = t_end - int(rng.uniform(0.3, min(4.0, dur / DAY_MS * 0.5)) * DAY_MS)
                        sched(max(md, t0 + HOUR_MS), _DRM, stay, w)
            sched(t_end, _SEGEND, stay, w)

        def emit(t, ev):
            return (t, 0, next(out_seq), ev)

        def cap_event(t, w):
            c = W_cap[w]
            return max(0, W_base[w] - c[_C_WEEKEND] - c[_C_SUMMER] - c[_C_DIP] + c[_C_ESC])

        # ---- initial bed census: stays in progress at start
        for w in range(n):
            k = W_kind[w]
            tgt = W_target[w] if k == "general" else 0.7
            n0 = max(0, round(W_base[w] * tgt * rng.uniform(0.92, 1.05)))
            mu_b = W_mu[w] + W_sig[w] ** 2  # size-biased log-normal
            for _ in range(n0):
                total = lognorm(mu_b, W_sig[w]) * DAY_MS
                if k in ("observation", "short_stay"):
                    total = min(total, 23.5 * HOUR_MS)
                total = max(int(total), 3 * HOUR_MS)
                age = int(total * rnd())
                age = min(age, INITIAL_STAY_MAX_DAYS * DAY_MS - int(rnd() * DAY_MS))
                # keep the rest of the stay; first segment duration = age + remaining
                push(heap, (start - age - 1, next(seqc), _ADMIT, w, total))
        for w in range(n):
            sched(start + int(rng.expovariate(1.0) / W_lam[w]), _ARRIVE, w)
            if not W_adt[w]:
                t0 = start - start % CENSUS_INTERVAL_MS + int(rnd() * CENSUS_INTERVAL_MS)
                if t0 < start:
                    t0 += CENSUS_INTERVAL_MS
                sched(t0, _CENSUS, w)
        sched(start, _TICK, self.start_local_day)

        while heap:
            t, _, code, a, b = pop(heap)
            if code == _ARRIVE:
                w = a
                sched(t + int(rng.expovariate(1.0) / W_lam[w]) + 1, _ARRIVE, w)
                st = W_staffed[w]
                occ = (W_adm[w] - W_leave[w]) / st if st > 0 else 3.0
                g = 1.0 + 6.0 * (W_target[w] - occ)
                g = 0.03 if g < 0.03 else (3.0 if g > 3.0 else g)
                if rnd() * cand_factor >= rhythm[local_hour(t)] * g:
                    continue
                code = _ADMIT
                b = None
            if code == _ADMIT:
                w = a
                resp = choose_resp(w)
                h = W_hosp[w]
                muni = self._home_muni(rng, W_reg[w], H_uni[h], 0.11 if H_uni[h] else 0.04)
                ooa = muni[:2] != W_reg[w]
                sid = f"VT-{next(stay_counter)}"
                # stay: [id, ward, resp_mvo, resp_group, ooa, on_leave, drm, segments, seg_idx]
                stay = [sid, w, resp, groups[resp], ooa, False, False, None, 0]
                stay[7] = plan(w, b if b is not None else sample_los(w), stay)
                W_adm[w] += 1
                if stay[3] != W_grp[w]:
                    W_out[w] += 1
                if ooa:
                    W_ooa[w] += 1
                start_segment(stay, t)
                if W_adt[w]:
                    yield emit(t, {"event_id": ev_id(), "event_type": "PatientAdmitted", "occurred_at": fmt(t),
                                   "sender_id": W_snd[w], "region_code": W_reg[w], "ward_id": W_id[w],
                                   "stay_id": sid, "patient_ref": make_patient_ref(getrandbits),
                                   "responsible_mvo_code": resp, "home_municipality_code": muni})
            elif code == _SEGEND:
                stay = a
                w = stay[1]
                if stay[5]:
                    stay[5] = False
                    W_leave[w] -= 1
                W_adm[w] -= 1
                if stay[3] != W_grp[w]:
                    W_out[w] -= 1
                if stay[4]:
                    W_ooa[w] -= 1
                if stay[6]:
                    W_drm[w] -= 1
                i = stay[8] + 1
                if i < len(stay[7]):
                    to, _, newresp = stay[7][i]
                    stay[8] = i
                    stay[1] = to
                    if newresp is not None:
                        stay[2] = newresp
                        stay[3] = groups[newresp]
                    stay[6] = False
                    W_adm[to] += 1
                    if stay[3] != W_grp[to]:
                        W_out[to] += 1
                    if stay[4]:
                        W_ooa[to] += 1
                    start_segment(stay, t)
                    if W_adt[w] or W_adt[to]:
                        yield emit(t, {"event_id": ev_id(), "event_type": "PatientTransferred",
                                       "occurred_at": fmt(t), "sender_id": W_snd[to], "region_code": W_reg[to],
                                       "stay_id": stay[0], "from_ward_id": W_id[w], "to_ward_id": W_id[to],
                                       "responsible_mvo_code": newresp})
                else:
                    if W_adt[w]:
                        yield emit(t, {"event_id": ev_id(), "event_type": "PatientDischarged",
                                       "occurred_at": fmt(t), "sender_id": W_snd[w], "region_code": W_reg[w],
                                       "ward_id": W_id[w], "stay_id": stay[0]})
            elif code == _LEAVE_S or code == _LEAVE_E:
                stay = a
                w = b
                if stay[1] != w:
                    continue
                going = code == _LEAVE_S
                if stay[5] == going:
                    continue
                stay[5] = going
                W_leave[w] += 1 if going else -1
                if W_adt[w]:
                    yield emit(t, {"event_id": ev_id(), "event_type": "LeaveStarted" if going else "LeaveEnded",
                                   "occurred_at": fmt(t), "sender_id": W_snd[w], "region_code": W_reg[w],
                                   "ward_id": W_id[w], "stay_id": stay[0]})
            elif code == _DRM:
                stay = a
                w = b
                if stay[1] != w or stay[6]:
                    continue
                stay[6] = True
                W_drm[w] += 1
                if W_adt[w]:
                    yield emit(t, {"event_id": ev_id(), "event_type": "DischargeReadyMarked",
                                   "occurred_at": fmt(t), "sender_id": W_snd[w], "region_code": W_reg[w],
                                   "ward_id": W_id[w], "stay_id": stay[0]})
            elif code == _CENSUS:
                w = a
                sched(t + CENSUS_INTERVAL_MS + int((rnd() - 0.5) * 10 * MIN_MS), _CENSUS, w)
                st = W_staffed[w]
                occ = W_adm[w] - W_leave[w]
                yield emit(t, {"event_id": ev_id(), "event_type": "WardCensus", "occurred_at": fmt(t),
                               "sender_id": W_snd[w], "region_code": W_reg[w], "ward_id": W_id[w],
                               "staffed_beds": st, "occupied": occ, "on_leave": W_leave[w],
                               "overcrowded": occ - st if occ > st else 0, "outliers": W_out[w],
                               "discharge_ready": W_drm[w], "out_of_area": W_ooa[w]})
            elif code == _CAP:
                w = a
                comp, value = b
                W_cap[w][comp] = value
                if comp == _C_BASE:
                    W_base[w] = value
                new = cap_event(t, w)
                if new != W_staffed[w]:
                    W_staffed[w] = new
                    yield emit(t, {"event_id": ev_id(), "event_type": "CapacityChanged", "occurred_at": fmt(t),
                                   "sender_id": W_snd[w], "region_code": W_reg[w], "ward_id": W_id[w],
                                   "staffed_beds": new, "reason": _C_REASON[comp]})
            elif code == _TICK:
                lday = a
                day0 = local_day_start(lday)
                sched(local_day_start(lday + 1), _TICK, lday + 1)
                first = t == start and lday == self.start_local_day
                wd = (lday + 3) % 7
                date = dt.date(1970, 1, 1) + dt.timedelta(days=lday)
                doy = date.timetuple().tm_yday
                tod = t - day0
                for w in range(n):
                    wobj = wards[w]
                    c = W_cap[w]
                    if wobj.weekend_cut:
                        if wd == 4:
                            sched(max(t, day0 + 15 * HOUR_MS + int(rnd() * 2 * HOUR_MS)), _CAP, w,
                                  (_C_WEEKEND, wobj.weekend_cut))
                        elif wd == 0:
                            sched(max(t, day0 + 7 * HOUR_MS + int(rnd() * HOUR_MS)), _CAP, w, (_C_WEEKEND, 0))
                        if first and (wd in (5, 6) or (wd == 0 and tod < 7 * HOUR_MS)):
                            sched(t, _CAP, w, (_C_WEEKEND, wobj.weekend_cut))
                    if wobj.summer:
                        s0, s1, cut = wobj.summer
                        if doy == s0:
                            sched(max(t, day0 + 8 * HOUR_MS), _CAP, w, (_C_SUMMER, cut))
                        elif doy == s1:
                            sched(max(t, day0 + 8 * HOUR_MS), _CAP, w, (_C_SUMMER, 0))
                        elif first and s0 < doy < s1:
                            sched(t, _CAP, w, (_C_SUMMER, cut))
                    if c[_C_ESC] == 0 and W_adm[w] - W_leave[w] > W_staffed[w] and W_kind[w] == "general" \
                            and rnd() < 0.12:
                        t1 = max(t, day0 + int(rng.uniform(8, 20) * HOUR_MS))
                        sched(t1, _CAP, w, (_C_ESC, rng.randint(1, 3)))
                        sched(t1 + int(rng.uniform(1, 3) * DAY_MS), _CAP, w, (_C_ESC, 0))
                    if c[_C_DIP] == 0 and rnd() < 0.02:
                        t1 = max(t, day0 + int(rng.uniform(6, 18) * HOUR_MS))
                        sched(t1, _CAP, w, (_C_DIP, min(2, max(0, W_base[w] - 2), rng.randint(1, 2))))
                        sched(t1 + int(rng.uniform(8, 16) * HOUR_MS), _CAP, w, (_C_DIP, 0))
                    if rnd() < 0.001:
                        sched(max(t, day0 + 10 * HOUR_MS), _CAP, w,
                              (_C_BASE, max(2, W_base[w] + rng.choice((-1, 1)))))

    # ------------------------------------------------------------------ waiting lists
    def _wait_stream(self, end: int) -> Iterator[tuple]:
        rng = random.Random(f"{self.seed}:waitlist")
        rnd = rng.random
        getrandbits = rng.getrandbits
        heap: list = []
        push = heapq.heappush
        pop = heapq.heappop
        seqc = itertools.count()
        out_seq = itertools.count()
        start = self.start_ms
        ref = reference.regions()
        acts = _ACTIVITIES
        K = len(acts)
        mu = self._act_mu
        sg = self._act_sigma
        regions = self.region_codes
        R = len(regions)
        fmt = fmt_ms
        contact_counter = itertools.count(1_000_001)
        referral_counter = itertools.count(500_001)
        # hospitals per region weighted by size
        R_hosp = [[h for h in self.hospitals if h.region == r] for r in regions]
        R_hcum = [list(itertools.accumulate(max(h.beds_target, 1.0) for h in hs)) for hs in R_hosp]
        R_org = [org_number(r) for r in regions]
        R_sender = [region_sender(r) for r in regions]
        R_provider = [f"SE{o}-P001" for o in R_org]
        R_devs = [r not in NO_DEVIATION_REGIONS for r in regions]
        R_w = [self._act_weights[r] for r in regions]
        R_wcum = [list(itertools.accumulate(w)) for w in R_w]
        R_inflow = [self._inflow[r] for r in regions]
        R_neigh = [list(ref[r].neighbours) for r in regions]
        act_idx = list(range(K))
        clinic_ids: dict = {}
        inv_cdf = _ND.inv_cdf
        home_muni = self._home_muni

        def sched(t, code, a=None, b=None):
            if t < end:
                push(heap, (t, next(seqc), code, a, b))

        def office_after(t):
            """The first office time (weekday 08-16 local) at or after t. Evenings go to the next weekday;
            weekends are spread evenly over the following Monday-Friday (no Monday pile-up)."""
            off = stockholm_offset_ms(t // DAY_MS)
            lday = (t + off) // DAY_MS
            tod = t + off - lday * DAY_MS
            wd = (lday + 3) % 7
            if wd < 5:
                if 8 * HOUR_MS <= tod < 16 * HOUR_MS:
                    return t
                if tod >= 16 * HOUR_MS:
                    lday += 1
                    wd += 1
            if wd >= 5:
                lday += 7 - wd + int(rnd() * 5)
            return local_day_start(lday) + 8 * HOUR_MS + int(rnd() * 8 * HOUR_MS)

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
                h = hs[_pick(hc, rnd())]
            else:
                h = hs[0]
            clinic = clinic_ids.get((h.idx, mvo))
            if clinic is None:
                clinic = clinic_ids[(h.idx, mvo)] = f"SE{R_org[ri]}-K{int(h.hospital_id[-3:]):02d}{mvo}"
            t_close = office_after(t + int(wait_days * DAY_MS))
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
                    tb = office_after(tb if tb > t + 30 * MIN_MS else t + 30 * MIN_MS)
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
        days = list(range(self.start_local_day - BACKLOG_DAYS, self.start_local_day))
        day_surv = []
        for d in days:
            age = (start - (local_day_start(d) + 12 * HOUR_MS)) / DAY_MS
            day_surv.append([survival(k, age) for k in range(K)] if (d + 3) % 7 < 5 else None)
        counts = []
        for ri in range(R):
            w = R_w[ri]
            exp_ = [sum(w[k] * s[k] for k in range(K)) if s is not None else 0.0 for s in day_surv]
            counts.append(_largest_remainder(exp_, self.backlog_target[regions[ri]]))
        for j, d in enumerate(days):
            if day_surv[j] is not None:
                push(heap, (local_day_start(d), next(seqc), _BDAY, j, d))
        sched(start, _WTICK, self.start_local_day)

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
                day0 = local_day_start(d)
                surv = day_surv[j]
                for ri in range(R):
                    cnt = counts[ri][j]
                    if not cnt:
                        continue
                    w = R_w[ri]
                    ks = rng.choices(act_idx, weights=[w[k] * surv[k] for k in range(K)], k=cnt)
                    for k in ks:
                        td = day0 + 8 * HOUR_MS + int(rnd() * 8 * HOUR_MS)
                        wait = wait_given_older(k, 1.0 - surv[k], (start - td) / DAY_MS)
                        push(heap, (td, next(seqc), _DECIDE, ri, (k, wait)))
            elif code == _WTICK:
                lday = a
                sched(local_day_start(lday + 1), _WTICK, lday + 1)
                if (lday + 3) % 7 >= 5:
                    continue
                day0 = local_day_start(lday)
                for ri in range(R):
                    nd = _poisson(rng, R_inflow[ri] * 7 / 5)
                    cum = R_wcum[ri]
                    for _ in range(nd):
                        td = day0 + 8 * HOUR_MS + int(rnd() * 8 * HOUR_MS)
                        k = _pick(cum, rnd())
                        wait = rng.lognormvariate(mu[k], sg[k])
                        if td >= start:
                            sched(td, _DECIDE, ri, (k, wait))


# ---------------------------------------------------------------------------------------------------
# Summaries (pure)
# ---------------------------------------------------------------------------------------------------


def national_summary(events: Iterable[dict]) -> dict[str, Any]:
    """Sizing from the WardDeclared events of a stream (the latest declaration per ward wins):
    staffed beds (all, and excluding ICU), wards, hospitals, somatic/psychiatric split, per region."""
    wards: dict[str, dict] = {}
    for ev in events:
        if ev.get("event_type") == "WardDeclared":
            wards[ev["ward_id"]] = ev
    total = sum(w["staffed_beds"] for w in wards.values())
    icu = sum(w["staffed_beds"] for w in wards.values() if w["ward_kind"] == "icu")
    psych = sum(w["staffed_beds"] for w in wards.values() if w["care_type"] == "psychiatric")
    somatic = total - psych
    kinds: dict[str, int] = {}
    per_region: dict[str, dict[str, int]] = {}
    for w in wards.values():
        kinds[w["ward_kind"]] = kinds.get(w["ward_kind"], 0) + 1
        pr = per_region.setdefault(w["region_code"], {"staffed_beds": 0, "wards": 0})
        pr["staffed_beds"] += w["staffed_beds"]
        pr["wards"] += 1
    return {
        "staffed_beds": total,
        "staffed_beds_excl_icu": total - icu,
        "icu_beds": icu,
        "somatic_beds": somatic,
        "psychiatric_beds": psych,
        "somatic_share": somatic / total if total else 0.0,
        "psychiatric_wards": sum(1 for w in wards.values() if w["care_type"] == "psychiatric"),
        "wards": len(wards),
        "wards_by_kind": kinds,
        "hospitals": len({w["hospital_id"] for w in wards.values()}),
        "regions": len(per_region),
        "per_region": per_region,
    }
