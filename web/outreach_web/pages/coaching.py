"""Providers' coaches: their caseload with free places, the hand-over packet (only what the
person consented to share), sessions, household members, partner referrals, the end."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach_web.core import CurrentSession, check_state_change, require_role, web_of
from outreach_web.forms import Form, Posted, today
from outreach_web.pages.common import back_to, notice_of, refusal, settled
from outreach_web.services import ServiceError

router = APIRouter()
COACH = ("provider_coach",)


@router.get("/coaching")
def caseload(request: Request, session: CurrentSession) -> Response:
    require_role(session, *COACH)
    web = web_of(request)
    found = web.services.get(
        "coaching", "/provider/caseload", web.token(session), purpose="coaching"
    )
    return web.render(
        request, "caseload.html", session=session, caseload=found, notice=notice_of(request)
    )


def _packet_page(
    request: Request, session: CurrentSession, coaching_id: UUID, status: int = 200, **extra: object
) -> Response:
    web = web_of(request)
    packet = web.services.get(
        "coaching", f"/provider/coachings/{coaching_id}", web.token(session), purpose="coaching"
    )
    return web.render(
        request,
        "packet.html",
        status,
        session=session,
        packet=packet,
        today=today(),
        notice=notice_of(request),
        **extra,
    )


@router.get("/coaching/{coaching_id}")
def packet(request: Request, session: CurrentSession, coaching_id: UUID) -> Response:
    require_role(session, *COACH)
    return _packet_page(request, session, coaching_id)


def _session(f: Posted) -> dict[str, str | None]:
    return {"held_on": f.text("held_on")}


def _household(f: Posted) -> dict[str, str | None]:
    return {"name": f.text("name") or "", "relation": f.text("relation") or ""}


def _referral(f: Posted) -> dict[str, str | None]:
    return {"partner": f.text("partner") or "", "referred_on": f.text("referred_on")}


def _end(f: Posted) -> dict[str, str | None]:
    return {"reason": f.text("reason") or "", "ended_on": f.text("ended_on")}


ACTIONS: dict[str, tuple[str, Callable[[Posted], dict[str, str | None]]]] = {
    "sitzung": ("sessions", _session),
    "haushalt": ("household-members", _household),
    "vermittlung": ("partner-referrals", _referral),
    "beendet": ("end", _end),
}


@router.post("/coaching/{coaching_id}/{action}")
def act(
    request: Request, session: CurrentSession, coaching_id: UUID, action: str, form: Form
) -> Response:
    require_role(session, *COACH)
    check_state_change(request, session, form.csrf)
    if action not in ACTIONS:
        return _packet_page(request, session, coaching_id, 404)
    path, body_of = ACTIONS[action]
    web = web_of(request)
    body = {k: v for k, v in body_of(form).items() if v is not None}
    token = web.token(session)
    try:
        state = web.services.post(
            "coaching", f"/provider/coachings/{coaching_id}/{path}", token, body
        )
    except ServiceError as error:
        if error.status >= 500 or error.status == 401:
            raise
        return _packet_page(request, session, coaching_id, 422, **refusal(error))
    counted = form.number("shown", 0)  # the count of household members or referrals on the page
    shown = counted if isinstance(counted, int) else 0
    done = {
        "sitzung": lambda p: p["sessions_held"] == state["sessions_held"],
        "haushalt": lambda p: len(p["household"]) > shown,
        "vermittlung": lambda p: len(p["partner_referrals"]) > shown,
        "beendet": lambda p: p["status"] == state["status"],
    }[action]
    settled(
        lambda: web.services.get(
            "coaching", f"/provider/coachings/{coaching_id}", token, purpose="coaching"
        ),
        done,
    )
    return back_to(f"/coaching/{coaching_id}", action)
