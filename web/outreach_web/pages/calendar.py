"""The personal calendar link: a worker's own visits in the phone's calendar.

The visits service keeps the links (``/agenda/calendar-links``) and serves each link's
calendar at ``/agenda/feeds/{secret}.ics`` without a token (a calendar app sends none). Its
answer to a new link is the only one that ever holds the secret: the page shows it once,
right after the link was made — carried across the redirect in the session on the server,
never in a URL — and after that lists the links without it. Revoking asks first, on a page of
its own (no script needed).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach_web import german
from outreach_web.core import CurrentSession, Web, check_state_change, require_role, web_of
from outreach_web.forms import Form
from outreach_web.pages.common import back_to, notice_of, settled
from outreach_web.pages.field import FIELD_STAFF
from outreach_web.services import ServiceError
from outreach_web.sessions import Session

router = APIRouter()
LINK_HOLDERS = ("outreach_worker", "team_lead")
"""Who keeps calendar links (the visits service's rule: not a provider's outreach worker,
whose access ends with the contract while a link would outlive it)."""

NEW_LINK = "calendar_link"
"""The session's one-time slot of the link just made."""


def _links(web: Web, token: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = web.services.get("visits", "/agenda/calendar-links", token)[
        "links"
    ]
    return found


def subscription(url: str, public: str | None = None) -> dict[str, str]:
    """The calendar's address as a calendar app takes it: ``https://`` to paste into a
    calendar's "subscribe by URL", ``webcal://`` for a tap that opens the phone's calendar.
    ``public``: the visits service's address for phones, when the web app calls it at
    another (inside the cluster)."""
    parts = urlsplit(url)
    if public:
        base = urlsplit(public)
        parts = parts._replace(scheme=base.scheme, netloc=base.netloc)
    return {"https": urlunsplit(parts), "webcal": urlunsplit(parts._replace(scheme="webcal"))}


def _page(request: Request, session: Session, status_code: int = 200, **context: Any) -> Response:
    web = web_of(request)
    if session.identity.role not in LINK_HOLDERS:
        return web.render(request, "calendar.html", session=session, may_hold=False, **context)
    links = _links(web, web.token(session))
    new = session.shown_once.pop(NEW_LINK, None)
    return web.render(
        request,
        "calendar.html",
        status_code,
        session=session,
        may_hold=True,
        links=links,
        new=new,
        notice=notice_of(request),
        **context,
    )


def _refused(request: Request, session: Session, error: ServiceError) -> Response:
    """The page again, with the service's refusal in a sentence (a 401 signs in again)."""
    if error.status == 401:
        raise error
    status = error.status if error.status < 500 else 502
    message = german.problem_message(error.status, error.problem)
    return _page(request, session, status, error=message)


@router.get("/kalender")
def calendar(request: Request, session: CurrentSession) -> Response:
    require_role(session, *FIELD_STAFF)
    return _page(request, session)


@router.post("/kalender/links")
def create_link(request: Request, session: CurrentSession, form: Form) -> Response:
    require_role(session, *LINK_HOLDERS)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    token = web.token(session)
    try:
        made = web.services.post("visits", "/agenda/calendar-links", token)
    except ServiceError as error:
        return _refused(request, session, error)
    session.shown_once[NEW_LINK] = {
        "link_id": made["link_id"],
        "days": made["days"],
        **subscription(made["url"], web.settings.web_calendar_url),
    }
    settled(lambda: _links(web, token), lambda ls: any(x["link_id"] == made["link_id"] for x in ls))
    return back_to("/kalender", "kalender-neu")


def _listed(web: Web, session: Session, link_id: UUID) -> dict[str, Any] | None:
    return next((x for x in _links(web, web.token(session)) if x["link_id"] == str(link_id)), None)


@router.get("/kalender/links/{link_id}/widerrufen")
def confirm_revoke(request: Request, session: CurrentSession, link_id: UUID) -> Response:
    require_role(session, *LINK_HOLDERS)
    web = web_of(request)
    link = _listed(web, session, link_id)
    if link is None:
        message = german.MESSAGES["calendar_link_not_found"]
        return _page(request, session, 404, error=message)
    return web.render(request, "calendar_revoke.html", session=session, link=link)


@router.post("/kalender/links/{link_id}/widerrufen")
def revoke_link(request: Request, session: CurrentSession, link_id: UUID, form: Form) -> Response:
    require_role(session, *LINK_HOLDERS)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    token = web.token(session)
    try:
        web.services.call("visits", "DELETE", f"/agenda/calendar-links/{link_id}", token)
    except ServiceError as error:
        return _refused(request, session, error)
    settled(lambda: _links(web, token), lambda ls: all(x["link_id"] != str(link_id) for x in ls))
    return back_to("/kalender", "kalender-widerrufen")
