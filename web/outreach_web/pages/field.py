"""Outreach workers on the road: the agenda of today and tomorrow, also without a signal.

``/unterwegs`` is a page without personal data (the service worker keeps it for use
offline); its script asks ``/api/agenda`` for the two days' visits, keeps them in the
browser's storage encrypted under the session's offline key (``/api/session``), and sends
the outcomes recorded offline when the connection returns, each with the version of the
visit it was recorded against (``/api/visits/{id}/outcome``).
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from outreach_web import german
from outreach_web.core import CurrentSession, check_state_change, require_role, web_of
from outreach_web.forms import today
from outreach_web.services import ServiceError

router = APIRouter()
FIELD_STAFF = ("outreach_worker", "provider_outreach", "team_lead")
AGENDA_CALLS = 8
"""How many calls of one agenda go to the services at once."""


@router.get("/unterwegs")
def field_app(request: Request, session: CurrentSession) -> Response:
    require_role(session, *FIELD_STAFF)
    web = web_of(request)
    return web.render(request, "field.html", session=session)


@router.get("/unterwegs/start")
def field_shell(request: Request) -> Response:
    """The same page for the service worker's cache: it names nobody (not even the user) and
    works without a session; its script shows what the encrypted storage holds."""
    web = web_of(request)
    return web.render(request, "field.html", session=None)


@router.get("/api/session")
def session_facts(request: Request, session: CurrentSession) -> Response:
    """What the field app's script needs: the CSRF token of its commands, and the offline
    key (AES-256-GCM; imported by the page as a non-extractable key) with how long the
    encrypted data may be kept."""
    web = web_of(request)
    offline_seconds = web.settings.web_offline_hours * 3600
    return JSONResponse(
        {
            "user": session.identity.user,
            "name": session.identity.name,
            "role": session.identity.role,
            "csrf": session.csrf,
            "offline_key": {
                "id": session.offline_key_id,
                "key": base64.b64encode(session.offline_key).decode(),
                "expires_at": int((time.time() + offline_seconds) * 1000),
            },
        },
        headers={"Cache-Control": "no-store"},
    )


def _contact(web: Any, token: str, case_id: str) -> dict[str, Any]:
    """The person's phone number for the tap to call (the case, read for the visit)."""
    try:
        case = web.services.get("contacts", f"/cases/{case_id}", token, purpose="visit_planning")
    except ServiceError:
        return {}
    return {"phone": case["person"].get("phone")}


def _letter(visit: dict[str, Any], names: dict[str, str]) -> str:
    workers = " und ".join(names.get(w, w) for w in visit["workers"])
    place = (
        f" am vereinbarten Ort ({visit['place_description']})"
        if visit["place"] == "neutral_place"
        else " bei Ihnen zu Hause"
    )
    return (
        f"Besuch {german.schedule_de(visit['schedule'])}{place}; es kommen {workers}; "
        f"Anlass: {german.label('purpose', visit['purpose'])}. Freiwillig und ohne Folgen, "
        "wenn Sie nicht öffnen möchten."
    )


def _day(web: Any, token: str, day: dt.date) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = web.services.get(
        "visits",
        "/agenda",
        token,
        purpose="visit_planning",
        note="Tagesplan unterwegs",
        params={"day": day.isoformat()},
    )["visits"]
    return found


@router.get("/api/agenda")
def agenda(request: Request, session: CurrentSession) -> Response:
    """Today's and tomorrow's rounds. The services are asked at the same time (both days,
    then each visit's phone number), not one after another: the phone waits for the
    slowest answer, not for their sum."""
    require_role(session, *FIELD_STAFF)
    web = web_of(request)
    token = web.token(session)
    first = today()
    dates = (first, first + dt.timedelta(days=1))
    with ThreadPoolExecutor(max_workers=AGENDA_CALLS) as pool:
        rounds = list(pool.map(lambda day: _day(web, token, day), dates))
        cases = list({v["case_id"] for visits in rounds for v in visits})
        phones = pool.map(lambda case_id: _contact(web, token, case_id), cases)
        contacts = dict(zip(cases, phones, strict=True))
    names = {session.identity.user: session.identity.name}
    days = [
        {
            "day": day.isoformat(),
            "label": german.date_de(day, weekday=True),
            "visits": [
                {
                    **visit,
                    **contacts[visit["case_id"]],
                    "when": german.schedule_de(visit["schedule"]),
                    "purpose_label": german.label("purpose", visit["purpose"]),
                    "letter": _letter(visit, names),
                }
                for visit in visits
            ],
        }
        for day, visits in zip(dates, rounds, strict=True)
    ]
    return JSONResponse(
        {"fetched_at": int(time.time() * 1000), "user": session.identity.user, "days": days},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/api/visits/{visit_id}")
def visit_now(request: Request, session: CurrentSession, visit_id: UUID) -> Response:
    """The visit as it is now: the other side of a conflict."""
    require_role(session, *FIELD_STAFF)
    web = web_of(request)
    found = web.services.get(
        "visits", f"/visits/{visit_id}", web.token(session), purpose="visit_planning"
    )
    found["when"] = german.schedule_de(found["schedule"])
    found["status_label"] = german.label("visit_status", found["status"])
    found["outcome_label"] = german.label("outcome", found["outcome"]) if found["outcome"] else None
    found["cancelled_label"] = (
        german.label("cancelled_reason", found["cancelled_reason"])
        if found["cancelled_reason"]
        else None
    )
    return JSONResponse(found, headers={"Cache-Control": "no-store"})


class Outcome(BaseModel):
    """As recorded on the phone (maybe hours before it is sent)."""

    model_config = ConfigDict(extra="forbid")

    outcome: str
    needs: list[str] = Field(default_factory=list)
    note: str | None = None
    coaching_referral_consent: bool = False
    next_step: str = "none"
    completed_on: str | None = None
    expected_version: int | None = None


@router.post("/api/visits/{visit_id}/outcome")
def record_outcome(
    request: Request,
    session: CurrentSession,
    visit_id: UUID,
    body: Outcome,
    csrf: Annotated[str | None, Header(alias="X-CSRF-Token")] = None,
) -> Response:
    require_role(session, *FIELD_STAFF)
    check_state_change(request, session, csrf)
    web = web_of(request)
    payload = body.model_dump(exclude_none=True)
    if payload.get("note") is not None and not payload["note"].strip():
        payload.pop("note")
    try:
        answer = web.services.post(
            "visits", f"/visits/{visit_id}/outcome", web.token(session), payload
        )
    except ServiceError as error:
        if error.status == 401:
            raise
        problem = error.problem
        return JSONResponse(
            {
                "message": german.problem_message(error.status, problem),
                "code": error.code,
                "differing": [german.FIELDS.get(f, f) for f in problem.get("differing", [])],
                "current_version": problem.get("current_version"),
            },
            status_code=error.status,
        )
    return JSONResponse(answer)
