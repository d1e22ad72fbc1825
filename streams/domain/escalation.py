"""Escalation levels (OPEL-style 1–4) from a ward's or unit's occupancy and overcrowding, the actions
each level carries, and the levels regions declare themselves. No I/O.

The one rule: the thresholds come from the config file's [escalation] table; the live views and the
morning report both ask `Escalation.level`. The actions of each level come from [escalation.actions]
(as NHS England's OPEL framework gives each level its actions); a level without configured actions has
none. A region may declare its level with a reason (issue 14): while a declaration is in force it is
the level in force, and the computed level is shown beside it, never replaced.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable, Mapping

LEVELS = (1, 2, 3, 4)


@dataclass(frozen=True)
class Escalation:
    level2_occupancy_pct: float = 90.0
    level3_occupancy_pct: float = 100.0
    level4_occupancy_pct: float = 105.0
    level3_overcrowded_per_100: float = 2.0
    level4_overcrowded_per_100: float = 5.0
    # the configured actions of levels 1–4, in order (index 0: level 1); empty: none configured
    actions: tuple[tuple[str, ...], ...] = ((), (), (), ())

    def level(self, occupancy_pct: float | None, overcrowded_per_100: float | None) -> tuple[int, str]:
        """(level 1–4, the rule that fired). The highest level any rule reaches wins."""
        occ, over = occupancy_pct or 0.0, overcrowded_per_100 or 0.0
        # The reason is formatted only for the rule that fired: the all-wards view asks this 2,000+ times.
        if occ >= self.level4_occupancy_pct:
            return 4, f"occupancy {occ:.1f} % ≥ {self.level4_occupancy_pct:g} %"
        if over >= self.level4_overcrowded_per_100:
            return 4, f"overcrowded {over:.1f}/100 beds ≥ {self.level4_overcrowded_per_100:g}"
        if occ >= self.level3_occupancy_pct:
            return 3, f"occupancy {occ:.1f} % ≥ {self.level3_occupancy_pct:g} %"
        if over >= self.level3_overcrowded_per_100:
            return 3, f"overcrowded {over:.1f}/100 beds ≥ {self.level3_overcrowded_per_100:g}"
        if occ >= self.level2_occupancy_pct:
            return 2, f"occupancy {occ:.1f} % ≥ {self.level2_occupancy_pct:g} %"
        return 1, f"occupancy {occ:.1f} % < {self.level2_occupancy_pct:g} %"

    def actions_for(self, level: int | None) -> list[str]:
        """The configured actions of a level (none for no level)."""
        return list(self.actions[level - 1]) if level in LEVELS else []


def actions_from_config(table: Mapping) -> tuple[tuple[str, ...], ...]:
    """[escalation.actions] as the config file gives it — `1 = ["…", …]` … `4 = [...]` — as Escalation's
    `actions`. ValueError for a key that is not a level 1–4 or a value that is not a list of texts."""
    out: list[tuple[str, ...]] = [(), (), (), ()]
    for key, value in table.items():
        if str(key) not in ("1", "2", "3", "4"):
            raise ValueError(f"escalation.actions: {key!r} is not a level 1–4")
        if not isinstance(value, list) or not all(isinstance(a, str) and a.strip() for a in value):
            raise ValueError(f"escalation.actions.{key}: a list of actions (texts) is needed")
        out[int(key) - 1] = tuple(a.strip() for a in value)
    return tuple(out)


@dataclass(frozen=True)
class Declaration:
    """A region's own declaration of its level: in force from `declared_at` until `until` (None: until
    the region declares again). `declared_by`: the declarer's role (region:XX | admin), never a token."""
    region_code: str
    level: int
    reason: str
    declared_by: str
    declared_at: dt.datetime
    until: dt.datetime | None = None
    declaration_id: str = ""

    def as_dict(self) -> dict:
        return {"level": self.level, "reason": self.reason, "declared_by": self.declared_by,
                "declared_at": self.declared_at, "until": self.until}


def declared_at(declarations: Iterable[Declaration], at: dt.datetime) -> Declaration | None:
    """The declaration in force at `at`: the region's newest one made at or before `at` (a new declaration
    ends the one before it), if its `until` has not passed (until is the first instant it no longer holds)."""
    newest = None
    for d in declarations:
        if d.declared_at <= at and (newest is None or (d.declared_at, d.declaration_id) >
                                    (newest.declared_at, newest.declaration_id)):
            newest = d
    if newest is None or (newest.until is not None and newest.until <= at):
        return None
    return newest


@dataclass(frozen=True)
class LevelInForce:
    level: int | None
    source: str  # "declared" | "computed" | "none"


def level_in_force(computed: int | None, declaration: Declaration | None) -> LevelInForce:
    """The region's level in force: a declaration in force decides (the region's judgement, higher or lower
    than the computed level); without one, the computed level."""
    if declaration is not None:
        return LevelInForce(declaration.level, "declared")
    if computed is not None:
        return LevelInForce(computed, "computed")
    return LevelInForce(None, "none")


def region_escalation(region_code: str, computed: int | None, computed_rule: str | None,
                      declarations: Iterable[Declaration], at: dt.datetime, escalation: Escalation) -> dict:
    """One region's escalation as the API shows it: the computed level and its rule, the declaration in
    force at `at` (or None), the level in force and its source, and that level's actions."""
    d = declared_at([x for x in declarations if x.region_code == region_code], at)
    force = level_in_force(computed, d)
    return {"region_code": region_code, "computed_level": computed, "computed_rule": computed_rule,
            "declared": d.as_dict() if d else None, "level": force.level, "source": force.source,
            "actions": escalation.actions_for(force.level)}
