"""Settings of the contacts service (environment prefix ``OUTREACH_``)."""

from __future__ import annotations

from shared.settings import ServiceSettings


class ContactsSettings(ServiceSettings):
    service_name: str = "contacts"
