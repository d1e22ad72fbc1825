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
    [escalation.actions]         # each level's actions (as NHS England's OPEL framework); none by default
    3 = ["Öppna eskaleringsplatser / open escalation beds", "Kontakta grannregionerna / call the neighbours"]

    [[tokens]]
    name = "skr-analyst"
    token = "…"
    role = "national"            # national | region:XX | admin
    detail = true                # capacity detail (hospital and ward rows) of every region: a grant,
                                 # false by default (OSL 18 kap. 13 §); region:XX always sees its own

    [access]
    public = ["/metrics"]        # paths served without a token
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from streams.domain.escalation import Escalation, actions_from_config
from streams.domain.waitlist import Limits
from schemas.rules import RuleConfig
from web.access import Token


@dataclass
class Config:
    rules: RuleConfig = field(default_factory=RuleConfig)
    limits: Limits = field(default_factory=Limits)
    escalation: Escalation = field(default_factory=Escalation)
    tokens: list[Token] = field(default_factory=list)
    public_paths: list[str] = field(default_factory=list)
    exclude_deviations: bool = True
    detail_grants: frozenset[str] = frozenset()  # names of the tokens with `detail = true`

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
        tokens, grants = [], set()
        for t in data.get("tokens", []):
            role = t.get("role", "")
            if role not in ("national", "admin") and not role.startswith("region:"):
                raise SystemExit(f"config: token {t.get('name')!r} has unknown role {role!r}")
            try:
                tokens.append(Token(t["name"], t["token"], role))
            except ValueError as e:  # e.g. `region:` without a code: refused, never national
                raise SystemExit(f"config: {e}")
            detail = t.get("detail", False)
            if not isinstance(detail, bool):
                raise SystemExit(f"config: token {t.get('name')!r}: detail must be true or false")
            if detail:
                grants.add(t["name"])
        names = [t.name for t in tokens]
        if len(set(names)) != len(names):  # a grant is given by name: two tokens must not share one
            raise SystemExit(f"config: token names must be unique ({', '.join(sorted(names))})")
        escalation = dict(data.get("escalation", {}))
        try:
            escalation["actions"] = actions_from_config(escalation.pop("actions", {}))
        except ValueError as e:
            raise SystemExit(f"config: {e}")
        return cls(
            rules=RuleConfig.from_mapping(data.get("rules", {})),
            limits=Limits.from_config(data.get("limits", [])),
            escalation=Escalation(**escalation),
            tokens=tokens,
            public_paths=list(data.get("access", {}).get("public", [])),
            exclude_deviations=bool(data.get("waitlist", {}).get("exclude_deviations", True)),
            detail_grants=frozenset(grants),
        )
