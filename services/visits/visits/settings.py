"""Settings of the visits service (environment prefix ``OUTREACH_``).

The per-district rules are JSON mappings, e.g.
``OUTREACH_MIN_LEAD_DAYS='{"kassel": 7}'`` and ``OUTREACH_MAX_ATTEMPTS='{"kassel": 4}'``.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from shared.settings import ServiceSettings
from visits.domain import VisitRules


class VisitsSettings(ServiceSettings):
    service_name: str = "visits"
    min_lead_days: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict,
        description="Days the announcement letter must go out before the visit, by district.",
    )
    default_min_lead_days: int = Field(default=5, ge=0)
    max_attempts: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="Visits without reaching the person before the board flags the case for "
        "the team lead, by district.",
    )
    default_max_attempts: int = Field(default=3, ge=1)

    @property
    def rules(self) -> VisitRules:
        return VisitRules(
            min_lead_days=dict(self.min_lead_days),
            max_attempts=dict(self.max_attempts),
            default_min_lead_days=self.default_min_lead_days,
            default_max_attempts=self.default_max_attempts,
        )
