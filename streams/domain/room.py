"""Room nearby, by need (plats i närheten efter behov): which units can take a unit's patients, ranked. Plain
functions over current ward rows (as queries.current_wards reads them), no I/O.

A **need** is the unit that needs room (a ward, a hospital, or a whole region for the morning report), the
kind of bed its patients need — somatic, psychiatric or ICU (IVA) — and their specialties (MVO codes: the
asking ward's own code and the codes it declares it serves, or one code asked for). The ranking, step by
step (each step a function below):

1. `fits_kind` — care type and ICU: an ICU need takes ICU wards only (ward kind `icu`, whatever their care
   type); a somatic or psychiatric need takes general wards of that care type only (never ICU, nor
   observation or short-stay wards, which hold patients for hours, not for a stay). A psychiatric patient
   is never offered a somatic bed, nor the other way round.
2. `has_room` — a ward with free beds now: `max(0, staffed − occupied) > 0` (free beds 0 is no offer), and
   fresh (a stale ward's numbers cannot be trusted). Free beds are never netted against overcrowding: a
   ward's offer shows its free beds and (zero, by definition) its overcrowding side by side; a region's
   offer its matching wards' free beds and their overcrowding side by side.
3. `not_the_asking_unit` — room elsewhere: never the asking hospital's own wards (a ward asking: its
   hospital); a whole region asking: never its own region.
4. `distance` — same region first (another hospital), then the neighbouring regions in travel order (the
   order of the region's `neighbours` in schemas/reference/regions.csv), then the rest of its healthcare
   region(s) (Halland belongs to two); nothing further away is offered.
5. `specialty_match` — a ward that serves one of the patients' MVO codes (its own code or a declared
   served code) before a ward whose specialties share only the aggregated MVO group, before a ward of the
   care type with neither (the patient would be an outlier there). ICU wards serve every specialty.
6. The order: distance tier, then specialty match, then travel order within the neighbours, then the most
   free beds, then the id (`rank_key`).

`rank_wards` gives the ward offers (unit detail), `rank_regions` the same wards summed per region (the
region-level offers every viewer may see).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from schemas import reference

NEEDS = ("somatic", "psychiatric", "icu")
TIERS = ("region", "neighbour", "healthcare_region")  # 0 same region, 1 neighbours, 2 the rest of the healthcare region
MATCHES = ("mvo_code", "mvo_group", "care_type")  # 0 serves the code, 1 the same group only, 2 neither
GENERAL = "general"
ICU = "icu"


@dataclass(frozen=True)
class Need:
    """What the asking unit needs: `kind` (somatic | psychiatric | icu) of bed, near `region_code`, for
    patients of `mvo_codes` (empty: any specialty of the kind). `hospital_id`: the asking hospital (its own
    wards are not room elsewhere); None: the whole region asks."""
    region_code: str
    kind: str
    mvo_codes: frozenset[str] = frozenset()
    hospital_id: str | None = None

    @property
    def mvo_groups(self) -> frozenset[str]:
        return groups_of(self.mvo_codes)


def groups_of(codes: Iterable[str]) -> frozenset[str]:
    """The aggregated MVO groups of codes (mvo.csv); unknown codes have none."""
    spec = reference.specialties()
    return frozenset(spec[c].aggregated_group for c in codes if c in spec)


def serves(ward: Mapping, served: Mapping[str, Iterable[str]]) -> frozenset[str]:
    """The MVO codes a ward serves: its own and those it declares (WardDeclared.served_mvo_codes)."""
    return frozenset({ward.get("mvo_code") or "", *served.get(ward["ward_id"], ())}) - {""}


def kind_of(ward: Mapping) -> str:
    """The need a ward's own patients have: icu for an ICU ward, else its care type."""
    return ICU if ward.get("ward_kind") == ICU else (ward.get("care_type") or "somatic")


def ward_need(ward: Mapping, served: Mapping[str, Iterable[str]], kind: str | None = None,
              mvo: str | None = None) -> Need:
    """A ward's need: its own kind and the specialties it serves, unless a kind or one MVO code is asked for."""
    return Need(ward["region_code"], kind or kind_of(ward), frozenset({mvo}) if mvo else serves(ward, served),
                ward["hospital_id"])


def hospital_need(wards: list[Mapping], kind: str | None = None, mvo: str | None = None) -> Need:
    """A hospital's need: by default the kind most of its staffed beds are (ICU apart), any specialty."""
    if kind is None:
        beds: dict[str, int] = {}
        for w in wards:
            if w.get("ward_kind") != ICU:
                beds[kind_of(w)] = beds.get(kind_of(w), 0) + int(w.get("staffed_beds") or 0)
        kind = max(sorted(beds), key=lambda k: beds[k]) if beds else "somatic"
    return Need(wards[0]["region_code"], kind, frozenset({mvo}) if mvo else frozenset(), wards[0]["hospital_id"])


def free_beds(ward: Mapping) -> int:
    return max(0, int(ward.get("staffed_beds") or 0) - int(ward.get("occupied") or 0))


def overcrowded(ward: Mapping) -> int:
    return max(0, int(ward.get("occupied") or 0) - int(ward.get("staffed_beds") or 0))


# ---------------------------------------------------------------------- the steps
def fits_kind(need: Need, ward: Mapping) -> bool:
    """Step 1: ICU for an ICU need only; a general ward of the same care type for the others."""
    if need.kind == ICU:
        return ward.get("ward_kind") == ICU
    return ward.get("ward_kind") == GENERAL and ward.get("care_type") == need.kind


def has_room(ward: Mapping, fresh: Callable[[Mapping], bool]) -> bool:
    """Step 2: free beds now (free beds 0 is no offer), and numbers that are fresh."""
    return free_beds(ward) > 0 and fresh(ward)


def not_the_asking_unit(need: Need, ward: Mapping) -> bool:
    """Step 3: room elsewhere — not the asking hospital; for a whole region, not that region."""
    if need.hospital_id is None:
        return ward["region_code"] != need.region_code
    return ward["hospital_id"] != need.hospital_id


def distance(need: Need, region_code: str) -> tuple[int, int] | None:
    """Step 4: (tier, travel order) of a region seen from the need's region: (0, 0) the same region, (1, i)
    its i-th neighbour (regions.csv order), (2, 0) the rest of its healthcare region(s); None further away."""
    ref = reference.regions()
    home = ref.get(need.region_code)
    if region_code == need.region_code:
        return 0, 0
    if home is None:
        return None
    if region_code in home.neighbours:
        return 1, home.neighbours.index(region_code)
    other = ref.get(region_code)
    if other is not None and set(home.healthcare_regions) & set(other.healthcare_regions):
        return 2, 0
    return None


def specialty_match(need: Need, ward: Mapping, served: Mapping[str, Iterable[str]]) -> int:
    """Step 5: 0 the ward serves one of the patients' MVO codes (ICU wards serve every specialty; a need of
    any specialty is served by every ward), 1 it shares only the aggregated group, 2 neither."""
    if need.kind == ICU or not need.mvo_codes:
        return 0
    codes = serves(ward, served)
    if codes & need.mvo_codes:
        return 0
    if groups_of(codes) & need.mvo_groups:
        return 1
    return 2


def rank_key(tier: int, match: int, travel: int, free: int, unit_id: str) -> tuple:
    """Step 6: the order of the offers."""
    return tier, match, travel, -free, unit_id


def _always_fresh(ward: Mapping) -> bool:
    return True


def _candidates(need: Need, wards: Iterable[Mapping], served: Mapping[str, Iterable[str]],
                fresh: Callable[[Mapping], bool]):
    for w in wards:
        if not (fits_kind(need, w) and has_room(w, fresh) and not_the_asking_unit(need, w)):
            continue
        d = distance(need, w["region_code"])
        if d is None:
            continue
        yield w, d, specialty_match(need, w, served)


def rank_wards(need: Need, wards: Iterable[Mapping], served: Mapping[str, Iterable[str]] | None = None,
               fresh: Callable[[Mapping], bool] = _always_fresh) -> list[dict]:
    """The ward offers for `need`, best first: every ward that passes steps 1–4, ordered by step 6. Each
    offer: its place (`rank` from 1, `tier`, `relation`, `travel_order`, `match`), its ward, hospital and
    region, and its free beds and overcrowding now, side by side."""
    served = served or {}
    found = []
    for w, (tier, travel), match in _candidates(need, wards, served, fresh):
        found.append((rank_key(tier, match, travel, free_beds(w), w["ward_id"]), {
            "tier": tier, "relation": TIERS[tier], "travel_order": travel, "match": MATCHES[match],
            "region_code": w["region_code"], "hospital_id": w["hospital_id"], "hospital_name": w.get("hospital_name"),
            "ward_id": w["ward_id"], "ward_name": w.get("ward_name"), "ward_kind": w.get("ward_kind"),
            "care_type": w.get("care_type"), "mvo_code": w.get("mvo_code"),
            "staffed_beds": int(w.get("staffed_beds") or 0), "occupied": int(w.get("occupied") or 0),
            "free_beds": free_beds(w), "overcrowded": overcrowded(w)}))
    found.sort(key=lambda x: x[0])
    return [{"rank": i + 1, **o} for i, (_, o) in enumerate(found)]


def rank_regions(need: Need, wards: Iterable[Mapping], served: Mapping[str, Iterable[str]] | None = None,
                 fresh: Callable[[Mapping], bool] = _always_fresh) -> list[dict]:
    """The region-level offers for `need`, best first: per region within reach (step 4), its wards of the
    need's kind (step 1, not the asking unit: step 3, fresh) summed — `free_beds` and `overcrowded` side by
    side (each ward's, summed, never netted), `free_beds_specialty` in wards serving the code or its group
    (step 5) and `wards_with_room`; a region with no free bed of the kind is no offer. Ordered by tier,
    travel order, the most free beds, the code."""
    served = served or {}
    regions: dict[str, dict] = {}
    for w in wards:
        if not (fits_kind(need, w) and fresh(w) and not_the_asking_unit(need, w)):
            continue
        d = distance(need, w["region_code"])
        if d is None:
            continue
        r = regions.setdefault(w["region_code"], {"tier": d[0], "relation": TIERS[d[0]], "travel_order": d[1],
                                                  "region_code": w["region_code"], "free_beds": 0, "overcrowded": 0,
                                                  "free_beds_specialty": 0, "wards_with_room": 0})
        r["free_beds"] += free_beds(w)
        r["overcrowded"] += overcrowded(w)
        if free_beds(w):
            r["wards_with_room"] += 1
            if specialty_match(need, w, served) < 2:
                r["free_beds_specialty"] += free_beds(w)
    ref = reference.regions()
    out = [{**r, "name": ref[code].name if code in ref else code} for code, r in regions.items() if r["free_beds"] > 0]
    out.sort(key=lambda r: (r["tier"], r["travel_order"], -r["free_beds"], r["region_code"]))
    return [{"rank": i + 1, **r} for i, r in enumerate(out)]


def is_fresh(ward: Mapping, now: dt.datetime, stale_after: dt.timedelta,
             senders: Mapping[str, dt.datetime] | None = None) -> bool:
    """As status reads freshness: the ward's own last event, or its sender's (the link is alive), within
    `stale_after` of `now`."""
    def utc(t):
        return t.replace(tzinfo=dt.timezone.utc) if t is not None and t.tzinfo is None else t
    heard = [t for t in (utc(ward.get("last_event_at")), (senders or {}).get(ward.get("sender_id") or "")) if t]
    return bool(heard) and now - max(heard) <= stale_after
