"""The TOML configuration file (settings.config_file): rule severities, waiting-time limits, escalation
thresholds, access tokens. Everything here has a default so the platform runs without a file.

    [rules]                      # severity overrides: "reject" | "finding"
    MNG-008 = "reject"
    [rules.region_03]
    COD-002 = "finding"

    [[limits]]                   # dated limits with optional region / MVO-group overrides
    phase = 1
    days = 60
    effective_from = "2024-01-01"
    region = "01"

    [escalation]                 # OPEL-style levels 2–4: occupancy % or overcrowded per 100 staffed beds
    level2_occupancy_pct = 90
    ...

    [[tokens]]
    name = "skr-analyst"
    token = "…"
    role = "national"            # national | region:XX | admin

    [access]
    public = ["/metrics"]        # paths served without a token
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from streams.domain.waitlist import Limits
from schemas.rules import RuleConfig


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


@dataclass(frozen=True)
class Token:
    name: str
    token: str
    role: str  # national | region:XX | admin

    @property
    def region(self) -> str | None:
        return self.role.split(":", 1)[1] if self.role.startswith("region:") else None


@dataclass
class Config:
    rules: RuleConfig = field(default_factory=RuleConfig)
    limits: Limits = field(default_factory=Limits)
    escalation: Escalation = field(default_factory=Escalation)
    tokens: list[Token] = field(default_factory=list)
    public_paths: list[str] = field(default_factory=list)
    exclude_deviations: bool = True

    @classmethod
    def load(cls, path: Path | None) -> "Config":
        if path is None:
            return cls()
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SystemExit(f"config file not found: {path}")
        except tomllib.TOMLDecodeError as e:
            raise SystemExit(f"config file {path} is not valid TOML: {e}")
        tokens = []
        for t in data.get("tokens", []):
            role = t.get("role", "")
            if role not in ("national", "admin") and not role.startswith("region:"):
                raise SystemExit(f"config: token {t.get('name')!r} has unknown role {role!r}")
            tokens.append(Token(t["name"], t["token"], role))
        return cls(
            rules=RuleConfig.from_mapping(data.get("rules", {})),
            limits=Limits.from_config(data.get("limits", [])),
            escalation=Escalation(**data.get("escalation", {})),
            tokens=tokens,
            public_paths=list(data.get("access", {}).get("public", [])),
            exclude_deviations=bool(data.get("waitlist", {}).get("exclude_deviations", True)),
        )
