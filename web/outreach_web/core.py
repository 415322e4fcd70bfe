"""What every route of the web app reaches: the sessions, the identity provider, the
services, the templates, and the checks of a request (signed in, CSRF, role)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from outreach_web import german
from outreach_web.assets import Assets
from outreach_web.oidc import OidcClient, SignInError
from outreach_web.security import same_origin, tokens_match
from outreach_web.services import Services
from outreach_web.sessions import Session, SessionStore
from outreach_web.settings import WebSettings

log = logging.getLogger("outreach.web")

HERE = Path(__file__).resolve().parent
COOKIE = "outreach_session"
SECURE_COOKIE = "__Host-outreach_session"
REFRESH_MARGIN_SECONDS = 30.0

HOME_OF_ROLE = {
    "case_manager": "/faelle",
    "team_lead": "/planung",
    "outreach_worker": "/unterwegs",
    "provider_outreach": "/unterwegs",
    "provider_coach": "/coaching",
    "data_protection_officer": "/datenschutz",
    "management": "/kennzahlen",
}


class SignInRequired(Exception):
    """No (valid) session: pages go to the sign-in, the field app's JSON answers 401."""


class Refused(Exception):
    """A request this app refuses itself (CSRF, a role's page of another role)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Web:
    """What the routes reach through ``request.app.state.web``."""

    def __init__(self, settings: WebSettings, http: httpx.Client) -> None:
        self.settings = settings
        self.http = http
        self.store = SessionStore(settings.web_session_hours * 3600)
        self.oidc = OidcClient(
            settings.issuer,
            settings.web_client_id,
            settings.oidc_audience,
            f"{settings.public_url}/anmelden/zurueck",
            http,
        )
        self.services = Services(settings.service_urls, http)
        self.assets = Assets(HERE / "static")
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates.filters.update(
            date=german.date_de, moment=german.moment_de, schedule=german.schedule_de
        )
        self.templates.globals.update(
            label=german.label, options=german.options, static=self.assets.url
        )
        self.cookie = SECURE_COOKIE if settings.secure_cookies else COOKIE

    def render(
        self,
        request: Request,
        template: str,
        status_code: int = 200,
        session: Session | None = None,
        **context: Any,
    ) -> HTMLResponse:
        body = self.templates.get_template(template).render(
            request=request,
            session=session,
            role=session.identity.role if session else None,
            roles=german.ROLES,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(body, status_code=status_code)

    def token(self, session: Session) -> str:
        """The access token, refreshed when it is about to expire."""
        tokens = session.tokens
        if tokens.expires_at - REFRESH_MARGIN_SECONDS > time.time():
            return tokens.access_token
        if tokens.refresh_token is None:
            raise SignInRequired
        try:
            session.tokens = self.oidc.refresh(tokens.refresh_token)
        except (SignInError, httpx.HTTPError):
            self.store.drop(session.id)
            raise SignInRequired from None
        return session.tokens.access_token


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def current_session(request: Request) -> Session:
    web = web_of(request)
    session = web.store.get(request.cookies.get(web.cookie))
    if session is None:
        raise SignInRequired
    return session


CurrentSession = Annotated[Session, Depends(current_session)]
TheWeb = Annotated[Web, Depends(web_of)]


def check_state_change(request: Request, session: Session, given: str | None) -> None:
    """CSRF: a state change carries the session's token and comes from this origin."""
    web = web_of(request)
    if not same_origin(request, web.settings.public_url) or not tokens_match(given, session.csrf):
        raise Refused(
            403, "Die Anfrage kam nicht von dieser Anwendung. Bitte laden Sie die Seite neu."
        )


def require_role(session: Session, *roles: str) -> None:
    if session.identity.role not in roles:
        raise Refused(403, german.MESSAGES["forbidden"])


def safe_next(path: str | None) -> str:
    """Only a path of this app (never another site) to return to after signing in."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return "/"
    return path
