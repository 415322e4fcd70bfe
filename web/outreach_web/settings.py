"""The web app's settings, from the environment (prefix ``OUTREACH_``), checked at start-up."""

from __future__ import annotations

from pydantic import Field, model_validator

from shared.settings import SERVICE_PORTS, Mode, StackSettings

WEB_PORT = 8100
"""The web app's default port (the realm file's redirect URIs name it)."""


def _service_url(name: str) -> str:
    return f"http://127.0.0.1:{SERVICE_PORTS[name]}"


class WebSettings(StackSettings):
    mode: Mode = Mode.DEVELOPMENT
    web_host: str = "127.0.0.1"
    web_port: int = WEB_PORT
    web_public_url: str | None = Field(
        default=None,
        description="The address staff open (its origin is the redirect URI's); default "
        "http://127.0.0.1:<port>. Served over https, the session cookie is Secure.",
    )
    web_client_id: str = Field(default="outreach-web", description="The OpenID Connect client.")
    oidc_issuer: str | None = Field(
        default=None,
        description="The identity provider; in development the local stack's Keycloak realm.",
    )
    oidc_audience: str = "outreach"
    web_contacts_url: str = Field(default_factory=lambda: _service_url("contacts"))
    web_visits_url: str = Field(default_factory=lambda: _service_url("visits"))
    web_coaching_url: str = Field(default_factory=lambda: _service_url("coaching"))
    web_notifications_url: str = Field(default_factory=lambda: _service_url("notifications"))
    web_calendar_url: str | None = Field(
        default=None,
        description="Where phones reach the visits service's calendars (its public address, "
        "e.g. https://visits.example; the path /agenda/feeds/… is kept). Default: the address "
        "in the visits service's answer, which names the host the web app called it at.",
    )
    web_session_hours: float = Field(
        default=10, gt=0, description="A session ends this long after sign-in at the latest."
    )
    web_offline_hours: float = Field(
        default=12,
        gt=0,
        description="How long the phone keeps the encrypted agenda for use without a signal.",
    )
    web_service_timeout_seconds: float = Field(default=15, gt=0)

    @model_validator(mode="after")
    def _complete(self) -> WebSettings:
        development = self.mode is Mode.DEVELOPMENT
        if self.web_public_url is None:
            self.web_public_url = f"http://127.0.0.1:{self.web_port}"
        self.web_public_url = self.web_public_url.rstrip("/")
        if development:
            self.oidc_issuer = self.oidc_issuer or self.local_issuer
            return self
        if not self.oidc_issuer:
            raise ValueError("OUTREACH_OIDC_ISSUER must be set outside development")
        if not self.web_public_url.startswith("https://"):
            raise ValueError("OUTREACH_WEB_PUBLIC_URL must be https outside development")
        return self

    @property
    def public_url(self) -> str:
        assert self.web_public_url is not None
        return self.web_public_url

    @property
    def issuer(self) -> str:
        assert self.oidc_issuer is not None
        return self.oidc_issuer

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def service_urls(self) -> dict[str, str]:
        return {
            "contacts": self.web_contacts_url,
            "visits": self.web_visits_url,
            "coaching": self.web_coaching_url,
            "notifications": self.web_notifications_url,
        }
