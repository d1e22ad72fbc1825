"""The simulated health-care system: regions, hospitals and wards (and where patients live).

`build_topology(seed, regions, scale)` sizes the national system of INFORMATION_MODEL §7 (about 22,000
staffed beds in 76 hospitals at scale 1.0, split over the regions by their 2015 bed numbers), gives
every region its hospitals (the university hospital first and largest), fills each hospital with wards
(general somatic wards by specialty, psychiatry in the larger hospitals, ICU, short-stay and
observation units), marks whole hospitals as census-only senders (~10 % of the wards: they send
`WardCensus` instead of patient events) and gives some wards capacity patterns (weekend closures,
summer closures). Deterministic in the seed: its own random stream `"{seed}:topology"`.

`HomeMunicipalities` draws a patient's home municipality (mostly the region's own, weighted towards the
main towns; sometimes a neighbour, a region of the same health-care region, or anywhere by population).
"""
from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any, Iterable

from schemas import reference

from .draws import largest_remainder, pick

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
CENSUS_WARD_SHARE = 0.10           # share of wards whose hospital sends WardCensus instead of ADT events

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
SOMATIC_WARDS = [
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
PSYCH_WARDS = [("901", "Allmänpsykiatri", 16.0, 10), ("928", "Geropsykiatri", 22.0, 2),
                ("931", "BUP", 14.0, 2), ("943", "Rättspsykiatri", 60.0, 1.5), ("945", "Beroende", 7.0, 1.5)]
_WARD_NAME = {m: n for m, n, *_ in SOMATIC_WARDS} | {m: n for m, n, *_ in PSYCH_WARDS} | {
    "411": "IVA", "041": "Observation", "046": "Akutvårdsavdelning"}
_MEAN_LOS = {m: los for m, _, los, *_ in SOMATIC_WARDS} | {m: los for m, _, los, _ in PSYCH_WARDS} | {
    "411": 2.2, "041": 0.55, "046": 0.6}


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
# Building the topology
# ---------------------------------------------------------------------------------------------------


def build_topology(seed: int, region_codes: list[str], scale: float) -> tuple[list[Hospital], list[Ward]]:
    """Hospitals and wards of `region_codes` (sorted) at `scale`; see the module docstring."""
    ref = reference.regions()
    specs = reference.specialties()
    rng = random.Random(f"{seed}:topology")
    hospitals: list[Hospital] = []
    wards: list[Ward] = []
    all_codes = sorted(ref)
    # the national numbers are split over all regions, so a region looks the same whichever are simulated
    total_2015 = sum(r.staffed_beds_2015 for r in ref.values())
    factor = NATIONAL_STAFFED_BEDS / total_2015
    n_hosp_all = dict(zip(all_codes, largest_remainder(
        [ref[c].staffed_beds_2015 for c in all_codes], NATIONAL_HOSPITALS - len(all_codes), 0)))
    for region in region_codes:
        beds = max(ref[region].staffed_beds_2015 * factor * scale, 24.0)
        hs = _region_hospitals(rng, region, beds, 1 + n_hosp_all[region], scale, hospitals)
        # psychiatry: in the hospitals of >= 150 beds (or the largest one)
        psych_total = beds * PSYCH_SHARE
        big = [h for h in hs if h.beds_target >= 150] or [max(hs, key=lambda h: h.beds_target)]
        bt = sum(h.beds_target for h in big)
        psych_of = {h.idx: psych_total * h.beds_target / bt for h in big}
        for h in hs:
            _hospital_wards(rng, h, round(h.beds_target), round(psych_of.get(h.idx, 0.0)), specs, wards)
    _choose_census_only_hospitals(rng, hospitals, wards)
    _capacity_patterns(rng, wards)
    return hospitals, wards


def _region_hospitals(rng, region: str, beds: float, n_national: int, scale: float,
                      hospitals: list[Hospital]) -> list[Hospital]:
    """The region's hospitals (appended to `hospitals`), sharing its `beds`; a university hospital is
    the first and gets the largest share."""
    org = org_number(region)
    nh = max(1, min(round(n_national * scale) if scale < 1 else n_national, int(beds // 40) or 1))
    uni = region in UNIVERSITY_REGIONS
    weights = [2.6 if (uni and i == 0) else rng.uniform(0.5, 1.5) for i in range(nh)]
    sw = sum(weights)
    towns = MUNICIPALITIES[region]
    out: list[Hospital] = []
    for i in range(nh):
        is_uni = uni and i == 0
        if is_uni:
            name = UNIVERSITY_REGIONS[region]
        else:
            town = towns[i % len(towns)][1]
            name = rng.choice(["Sjukhuset i {}", "{} lasarett", "Länssjukhuset {}", "{} sjukhus"]).format(town) \
                if i < len(towns) else f"{towns[0][1]} sjukhus {i + 1}"
        h = Hospital(len(hospitals), f"SE{org}-H{i + 1:03d}", name, region, is_uni,
                     beds_target=beds * weights[i] / sw)
        hospitals.append(h)
        out.append(h)
    return out


def _hospital_wards(rng, h: Hospital, total: int, psych: int, specs, wards: list[Ward]) -> None:
    """Fill hospital `h` with wards of `total` staffed beds, `psych` of them psychiatric."""
    counter: dict[str, int] = {}
    icu = max(4, round(total * 0.028)) if total >= 80 else 0
    short = max(6, round(total * 0.02)) if total >= 250 else 0
    obs = max(4, round(total * 0.012)) if (h.university or total >= 450) else 0
    somatic = max(total - psych - icu - short - obs, 8)
    table = [(m, (wu if h.university else wc)) for m, _, _, wc, wu in SOMATIC_WARDS]
    mvos = [m for m, w in table if w > 0]
    wts = [w for m, w in table if w > 0]
    for i, size in enumerate(_split_beds(rng, somatic, 10.0, 5, 24)):
        mvo = "101" if i == 0 else "301" if i == 1 else rng.choices(mvos, wts)[0]
        _add_ward(rng, h, mvo, "general", size, specs, counter, wards)
    if psych > 0:
        pm = [m for m, *_ in PSYCH_WARDS]
        pw = [x[3] for x in PSYCH_WARDS]
        for i, size in enumerate(_split_beds(rng, psych, 10.0, 5, 18)):
            _add_ward(rng, h, "901" if i == 0 else rng.choices(pm, pw)[0], "general", size, specs, counter, wards)
    if icu:
        for size in (_split_beds(rng, icu, 8.0, 4, 14) if icu > 14 else [icu]):
            _add_ward(rng, h, "411", "icu", size, specs, counter, wards)
    if short:
        _add_ward(rng, h, "046", "short_stay", short, specs, counter, wards)
    if obs:
        _add_ward(rng, h, "041", "observation", obs, specs, counter, wards)


def _add_ward(rng, h: Hospital, mvo: str, kind: str, staffed: int, specs, counter: dict,
              wards: list[Ward]) -> None:
    sp = specs[mvo]
    name = _WARD_NAME.get(mvo, sp.description or mvo)
    counter[name] = counter.get(name, 0) + 1
    no = len(h.wards) + 1
    budgeted = staffed + rng.randint(0, 4) if rng.random() < 0.7 else None
    # spread of the length of stay (log-normal sigma)
    sigma = {"icu": 0.8, "observation": 0.45, "short_stay": 0.5}.get(kind, 1.0 if sp.care_type == "psychiatric" else 0.8)
    hno = int(h.hospital_id[-3:])
    w = Ward(len(wards), f"SE{org_number(h.region)}-A{hno:02d}{no:03d}", f"{name} {counter[name]}",
             h.idx, h.region, region_sender(h.region), mvo, sp.aggregated_group, sp.care_type, kind,
             staffed, budgeted, _MEAN_LOS[mvo], sigma)
    wards.append(w)
    h.wards.append(w.idx)


def _split_beds(rng, total: int, mean: float, lo: int, hi: int) -> list[int]:
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


def _choose_census_only_hospitals(rng, hospitals: list[Hospital], wards: list[Ward]) -> None:
    """Census-only senders: whole non-university hospitals until ~10 % of the wards."""
    target = CENSUS_WARD_SHARE * len(wards)
    candidates = [h for h in hospitals if not h.university]
    rng.shuffle(candidates)
    n = 0
    for h in candidates:
        if n >= target * 0.8 or n + len(h.wards) > target * 1.5:
            continue
        h.census_only = True
        n += len(h.wards)
        for w in h.wards:
            wards[w].adt = False
            wards[w].sender_id = census_sender(h.region)


def _capacity_patterns(rng, wards: list[Ward]) -> None:
    """Weekend closures (mostly surgical wards) and summer closures (June-August) of general wards."""
    for w in wards:
        if w.kind == "general" and w.care_type == "somatic":
            if rng.random() < (0.25 if w.mvo in ("301", "311", "361", "431", "521", "351") else 0.04):
                w.weekend_cut = max(1, round(w.staffed * rng.uniform(0.2, 0.5)))
            if rng.random() < 0.45:
                start = rng.randint(172, 190)
                w.summer = (start, start + rng.randint(28, 56), max(1, round(w.staffed * rng.uniform(0.2, 0.5))))
        elif w.kind == "general" and rng.random() < 0.25:
            start = rng.randint(175, 195)
            w.summer = (start, start + rng.randint(21, 42), max(1, round(w.staffed * rng.uniform(0.1, 0.3))))


# ---------------------------------------------------------------------------------------------------
# Where patients live
# ---------------------------------------------------------------------------------------------------


class HomeMunicipalities:
    """Draws a patient's home municipality code (no randomness of its own: the caller's rng)."""

    def __init__(self) -> None:
        ref = reference.regions()
        all_codes = sorted(ref)
        # regions sharing a health-care region (university hospitals take their patients)
        self._hc_members = {r: [o for o in all_codes if o != r and
                                set(ref[o].healthcare_regions) & set(ref[r].healthcare_regions)] for r in all_codes}
        self._neighbours = {r: ref[r].neighbours for r in all_codes}
        self._muni_codes = {r: [c for c, _ in MUNICIPALITIES[r]] for r in all_codes}
        # the main towns (listed first) are weighted higher
        self._muni_cum = {r: list(itertools.accumulate(1.0 / (i + 1) ** 0.9 for i in range(len(MUNICIPALITIES[r]))))
                          for r in all_codes}
        self._all_codes = all_codes
        self._pop_cum = list(itertools.accumulate(ref[c].population for c in all_codes))

    def draw(self, rng: random.Random, region: str, university: bool, p_out: float) -> str:
        """A municipality in `region`, or with probability `p_out` elsewhere: for a university hospital
        mostly its health-care region, otherwise mostly a neighbouring region, else anywhere by
        population."""
        rnd = rng.random
        home = region
        if rnd() < p_out:
            x = rnd()
            if university and x < 0.7 and self._hc_members[region]:
                home = rng.choice(self._hc_members[region])
            elif x < 0.85 and self._neighbours[region]:
                home = rng.choice(self._neighbours[region])
            else:
                home = self._all_codes[pick(self._pop_cum, rnd())]
                if home == region:
                    home = rng.choice(self._all_codes)
        return self._muni_codes[home][pick(self._muni_cum[home], rnd())]


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
