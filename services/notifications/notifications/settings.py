"""Settings of the notifications service (environment prefix ``OUTREACH_``).

Mappings are JSON, e.g. ``OUTREACH_LETTERHEADS='{"kassel": {"jobcenter": "Jobcenter
Stadt Kassel", "phone": "0561 1234-0", ...}}'``. A district's letterhead is set over HTTP
(``PUT /letterheads/{district}``, kept in the service's database) or here; a district with
neither gets no letters: they fail visibly (``letterhead_missing``) until it is configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import ConfigDict, Field

from shared.inputs import Line, StrictModel
from shared.settings import ServiceSettings

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


class Letterhead(StrictModel):
    """The sender of a district's letters and how people reach the team (set by the
    district's team lead, ``PUT /letterheads/{district}``, or ``OUTREACH_LETTERHEADS``)."""

    model_config = ConfigDict(frozen=True)

    jobcenter: Annotated[Line, Field(examples=["Jobcenter Stadt Kassel"])]
    team: Line = "Team Aufsuchende Beratung"
    address: Annotated[list[Line], Field(min_length=1, max_length=6)] = Field(
        examples=[["Grüner Weg 2", "34117 Kassel"]]
    )
    phone: Annotated[Line, Field(examples=["0561 1234-0"])]
    email: Annotated[Line, Field(examples=["aufsuchend@jobcenter-kassel.example"])]
    hours: Line = "Mo-Fr 8-16 Uhr"
    data_protection_officer: Annotated[
        Line, Field(examples=["datenschutz@jobcenter-kassel.example"])
    ]


class NotificationsSettings(ServiceSettings):
    service_name: str = "notifications"

    # Channels
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25025, description="The local mail sink in development.")
    smtp_timeout_seconds: float = 10.0
    smtp_sender: str = "outreach@jobcenter.example"
    message_id_domain: str = Field(
        default="notifications.outreach.example",
        description="Right-hand side of the Message-ID (<idempotency key>@domain).",
    )
    sms_gateway_url: str | None = Field(
        default=None, description="HTTP gateway for text messages; unset: SMS is off."
    )

    # Recipients
    user_email_pattern: str = Field(
        default="{user}@jobcenter.example", description="A staff user id -> e-mail address."
    )
    provider_emails: dict[str, str] = Field(
        default_factory=dict, description="Provider id -> address for hand-over notices."
    )
    provider_email_pattern: str = "traeger-{provider}@jobcenter.example"
    team_lead_emails: dict[str, str] = Field(
        default_factory=dict, description="District -> address of the team lead(s)."
    )
    team_lead_email_pattern: str = "teamleitung-{district}@jobcenter.example"
    letterheads: dict[str, Letterhead] = Field(
        default_factory=dict,
        description="District -> letterhead, for districts not configured over HTTP.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1", description="Where staff open cases (links in e-mails)."
    )

    # The outbox
    templates_dir: Path = TEMPLATES_DIR
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=30.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    outbox_poll_seconds: float = Field(default=0.5, gt=0)
    reminder_days: int = Field(default=14, ge=1, description="Coaching end reminder lead.")
    reminder_check_seconds: float = Field(default=3600.0, gt=0)
