"""Settings of the coaching service (environment prefix ``OUTREACH_``)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class CoachingSettings(ServiceSettings):
    service_name: str = "coaching"
    extension_due_days: int = Field(
        default=14,
        ge=1,
        le=90,
        description="Coachings ending within this many days are listed for an extension decision.",
    )
