"""Settings of the notifications service (environment prefix ``OUTREACH_``).

Mappings are JSON, e.g. ``OUTREACH_LETTERHEADS='{"kassel": {"jobcenter": "Jobcenter
Stadt Kassel", "phone": "0561 1234-0", ...}}'``; a district without an entry gets a
letterhead built from its name.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from shared.settings import ServiceSettings

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"


class Letterhead(BaseModel):
    """The sender of a district's letters and how people reach the team."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    jobcenter: str = Field(examples=["Jobcenter Stadt Kassel"])
    team: str = Field(default="Team Aufsuchende Beratung")
    address: list[str] = Field(examples=[["Grüner Weg 2", "34117 Kassel"]])
    phone: str = Field(examples=["0561 1234-0"])
    email: str = Field(examples=["aufsuchend@jobcenter-kassel.example"])
    hours: str = Field(default="Mo-Fr 8-16 Uhr")
    data_protection_officer: str = Field(examples=["datenschutz@jobcenter-kassel.example"])


def default_letterhead(district: str) -> Letterhead:
    place = district.replace("-", " ").title()
    slug = district.lower()
    return Letterhead(
        jobcenter=f"Jobcenter {place}",
        address=["Geschäftsstelle Mitte", f"{place}"],
        phone="0800 4 5555 00",
        email=f"aufsuchend@jobcenter-{slug}.example",
        data_protection_officer=f"datenschutz@jobcenter-{slug}.example",
    )


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
    staff_names: dict[str, str] = Field(
        default_factory=dict,
        description="User id -> name in letters (default: the id without its role prefix).",
    )
    letterheads: dict[str, Letterhead] = Field(default_factory=dict)
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

    def letterhead(self, district: str) -> Letterhead:
        return self.letterheads.get(district) or default_letterhead(district)
