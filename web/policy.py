"""What the views need from the platform's settings and config file, and nothing more. The roof
(bedflow/views.py) builds it; web/ never reads the settings object."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from streams.domain.escalation import Escalation
from streams.domain.waitlist import Limits
from web.access import Token, Viewer


@dataclass(frozen=True)
class ViewPolicy:
    timezone: str = "Europe/Stockholm"
    stale_after_minutes: int = 60
    small_count_threshold: int = 4          # counts 1..N hidden below region level for outside viewers
    morning_hour: int = 7                   # the morning report's picture time (local)
    escalation: Escalation = field(default_factory=Escalation)
    limits: Limits = field(default_factory=Limits)
    exclude_deviations: bool = True         # waiting-list shares leave out contacts with a deviation
    tokens: tuple[Token, ...] = ()
    public_paths: tuple[str, ...] = ()      # served without a token
    audit_log: Path | None = Path(".bedflow/audit.log")  # None: JSON lines on stdout (the cluster's log system)
    leave_policy: str = "leave_not_occupied"  # which in-row identity links occupied, present and on leave
    detail_grants: frozenset[str] = frozenset()  # token names granted capacity detail of every region

    def sees_detail(self, viewer: Viewer) -> bool:
        """Capacity detail (hospital and ward rows: staffed and free beds per unit) may be secret (OSL 18 kap.
        13 §), so it is a grant, never a default: admin; a region:XX token for its own region (the role is
        the grant, given per token); a national token only when its config entry says `detail = true`
        (and then with small counts hidden)."""
        return viewer.is_admin or viewer.region is not None or viewer.name in self.detail_grants
