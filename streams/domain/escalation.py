"""Escalation levels (OPEL-style 1–4) from a ward's or unit's occupancy and overcrowding. No I/O.

The one rule: the thresholds come from the config file's [escalation] table; the live views and the
morning report both ask `Escalation.level`.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Escalation:
    level2_occupancy_pct: float = 90.0
    level3_occupancy_pct: float = 100.0
    level4_occupancy_pct: float = 105.0
    level3_overcrowded_per_100: float = 2.0
    level4_overcrowded_per_100: float = 5.0

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
