"""Reference data of the national information model (copied into the project from shared/domain):
the 21 regions and the MVO specialty codes. Loaded once; plain data, no I/O after import."""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    short_name: str
    healthcare_regions: tuple[str, ...]  # Halland belongs to two sjukvårdsregioner
    population: int
    staffed_beds_2015: int
    primary_care_reporting_model: str
    neighbours: tuple[str, ...]

    @property
    def healthcare_region(self) -> str:
        """The first (primary) healthcare region, used where one must be chosen."""
        return self.healthcare_regions[0]


@dataclass(frozen=True)
class Specialty:
    mvo_code: str
    description: str
    aggregated_group: str
    care_type: str  # somatic | psychiatric


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("schemas").joinpath("reference", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def regions() -> dict[str, Region]:
    out = {}
    for r in _rows("regions.csv"):
        out[r["region_code"]] = Region(
            code=r["region_code"],
            name=r["name"],
            short_name=r["short_name"],
            healthcare_regions=tuple(r["healthcare_region"].split("|")),
            population=int(r["population_approx"]),
            staffed_beds_2015=int(r["staffed_beds_2015"]),
            primary_care_reporting_model=r["primary_care_reporting_model"],
            neighbours=tuple(n for n in r["neighbours"].split(";") if n),
        )
    return out


@lru_cache(maxsize=1)
def specialties() -> dict[str, Specialty]:
    return {
        r["mvo_code"]: Specialty(r["mvo_code"], r["description"], r["aggregated_group"], r["care_type"])
        for r in _rows("mvo.csv")
    }


def healthcare_regions() -> list[str]:
    seen: dict[str, None] = {}
    for r in regions().values():
        for h in r.healthcare_regions:
            seen.setdefault(h, None)
    return list(seen)


MUNICIPALITY_RE = re.compile(r"^\d{4}$")
HSA_ID_RE = re.compile(r"^SE\d{10}-[0-9A-Za-z]{1,31}$")


def municipality_region(code: str) -> str | None:
    """Home region from an SCB municipality code (first two digits), or None when the code is not of
    the right form or its prefix is not one of the 21 regions."""
    return _municipality_region(code) if isinstance(code, str) else None


def is_hsa_id(value: str) -> bool:
    return isinstance(value, str) and _hsa_form(value)


# Cached: every event carries a few of these, and a nation has a few thousand distinct ones.
@lru_cache(maxsize=1 << 16)
def _municipality_region(code: str) -> str | None:
    if not MUNICIPALITY_RE.match(code):
        return None
    prefix = code[:2]
    return prefix if prefix in regions() else None


@lru_cache(maxsize=1 << 16)
def _hsa_form(value: str) -> bool:
    return bool(HSA_ID_RE.match(value))


@lru_cache(maxsize=None)  # a few hundred codes; asked twice per waiting-list change
def mvo_group(code: str) -> str | None:
    s = specialties().get(code)
    return s.aggregated_group if s else None
