"""Settings of the contacts service (environment prefix ``OUTREACH_``)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings


class ContactsSettings(ServiceSettings):
    service_name: str = "contacts"
    break_glass_seconds: float = Field(
        default=1800,
        gt=0,
        description="How long a break-glass grant opens another district's case (30 minutes).",
    )
