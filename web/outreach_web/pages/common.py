"""Helpers the pages share: the district a page shows, a refusal shown on its form."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse

from outreach_web import german
from outreach_web.core import Refused
from outreach_web.services import ServiceError
from outreach_web.sessions import Session


def district_of(session: Session, asked: str | None) -> str:
    """The district a page shows: the one asked for if it is the user's, else their first."""
    districts = session.identity.districts
    if not districts:
        raise Refused(403, "Ihrem Konto ist kein Bezirk zugeordnet.")
    return asked if asked in districts else districts[0]


def refusal(error: ServiceError) -> dict[str, Any]:
    """What a form shows after a service refused it: the sentence and the fields."""
    return {
        "error": german.problem_message(error.status, error.problem),
        "field_errors": german.field_errors(error.problem),
        "problem": error.problem,
    }


def settled(read: Callable[[], Any], done: Callable[[Any], bool], seconds: float = 3.0) -> None:
    """Wait (briefly) until the services' views show a change just made: the page that follows
    a command then shows it. The views follow the stored events within milliseconds; after
    ``seconds`` the page is shown as it is."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if done(read()):
                return
        except ServiceError:
            return
        time.sleep(0.05)


def back_to(path: str, notice: str | None = None) -> RedirectResponse:
    """After a change: to the page that shows it (post, redirect, get)."""
    target = f"{path}{'&' if '?' in path else '?'}hinweis={notice}" if notice else path
    return RedirectResponse(target, status_code=303)


NOTICES = {
    "gemeldet": "Der Kontaktverlust ist gemeldet.",
    "kontakt": "Der Kontakt ist als wiederhergestellt erfasst.",
    "abgeschlossen": "Der Fall ist abgeschlossen.",
    "angekuendigt": "Der Besuch ist angekündigt; der Brief wird vorbereitet.",
    "verlegt": "Der Besuch ist verlegt; ein neuer Brief wird vorbereitet.",
    "abgesagt": "Der Besuch ist abgesagt.",
    "verlaengert": "Das Coaching ist verlängert.",
    "beendet": "Das Coaching ist beendet.",
    "beauftragt": "Der Träger ist beauftragt.",
    "auftrag-beendet": "Der Auftrag des Trägers ist beendet.",
    "sitzung": "Die Sitzung ist erfasst.",
    "haushalt": "Die Person im Haushalt ist erfasst.",
    "vermittlung": "Die Vermittlung ist erfasst.",
    "sperre": "Die Aufbewahrungssperre ist gesetzt.",
    "sperre-aufgehoben": "Die Aufbewahrungssperre ist aufgehoben.",
    "kalender-neu": "Der Kalender-Link ist angelegt.",
    "kalender-widerrufen": "Der Kalender-Link ist widerrufen; er zeigt keine Besuche mehr.",
}


def notice_of(request: Request) -> str | None:
    return NOTICES.get(request.query_params.get("hinweis") or "")
