"""Settings of the notifications service (environment prefix ``OUTREACH_``).

Mappings are JSON, e.g. ``OUTREACH_LETTERHEADS='{"kassel": {"jobcenter": "Jobcenter
Stadt Kassel", "phone": "0561 1234-0", ...}}'``. A district's letterhead is set over HTTP
(``PUT /letterheads/{district}``, kept in the service's database) or here; a district with
neither gets no letters: they fail visibly (``letterhead_missing``) until it is configured.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import ConfigDict, Field, SecretStr, model_validator

from notifications.domain import RetryPolicy
from shared.http.bodies import StrictModel
from shared.http.inputs import Line
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

    # The staff directory from the identity provider (all four of URL, realm, client id and
    # secret set: synchronised; none: kept over PUT /staff only)
    directory_admin_url: str | None = Field(
        default=None,
        description="The identity provider's (Keycloak's) base URL; its admin API is at "
        "<url>/admin/realms/<realm>. Unset: no synchronisation.",
    )
    directory_realm: str | None = Field(default=None, description="The staff's realm.")
    directory_client_id: str | None = Field(
        default=None,
        description="A confidential client with client credentials whose service account has "
        "realm-management's view-users role (the realm file's outreach-directory).",
    )
    directory_client_secret: SecretStr | None = None
    directory_sync_seconds: float = Field(
        default=300.0, gt=0, description="How often the staff are read again."
    )
    directory_districts_attribute: str = Field(
        default="districts", description="The user attribute naming a user's districts."
    )
    directory_form_of_address_attribute: str = Field(
        default="form_of_address",
        description="The user attribute saying how letters name them (frau, herr, name_only; "
        "missing: the name alone).",
    )

    @model_validator(mode="after")
    def _directory_sync_whole(self) -> NotificationsSettings:
        parts = (
            self.directory_admin_url,
            self.directory_realm,
            self.directory_client_id,
            self.directory_client_secret,
        )
        if any(parts) and not all(parts):
            raise ValueError(
                "the staff directory's synchronisation needs all of OUTREACH_DIRECTORY_ADMIN_URL"
                ", _REALM, _CLIENT_ID and _CLIENT_SECRET (or none of them)"
            )
        return self

    @property
    def directory_sync(self) -> bool:
        """Whether the staff directory is read from the identity provider."""
        return self.directory_admin_url is not None

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.max_attempts,
            base_seconds=self.backoff_base_seconds,
            max_seconds=self.backoff_max_seconds,
        )
