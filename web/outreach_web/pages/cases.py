"""Case managers (and team leads): the district's queue, reporting a lost contact, a case
with its whole timeline, contact restored, closing."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach_web.core import CurrentSession, check_state_change, require_role, web_of
from outreach_web.forms import Form, Posted, today
from outreach_web.pages.common import back_to, district_of, notice_of, refusal, settled
from outreach_web.services import ServiceError

router = APIRouter()
CASE_STAFF = ("case_manager", "team_lead")
READS_CASES = (*CASE_STAFF, "outreach_worker")


@router.get("/faelle")
def queue(
    request: Request,
    session: CurrentSession,
    bezirk: str | None = None,
    sortierung: str = "deadline",
    status: str | None = None,
) -> Response:
    require_role(session, *CASE_STAFF)
    web = web_of(request)
    district = district_of(session, bezirk)
    sort = sortierung if sortierung in ("deadline", "age") else "deadline"
    shown = status if status in ("contact_lost", "contact_restored") else None
    found = web.services.get(
        "contacts",
        "/cases",
        web.token(session),
        purpose="case_work",
        params={"district": district, "sort": sort, "status": shown, "limit": 200},
    )
    return web.render(
        request,
        "queue.html",
        session=session,
        district=district,
        sort=sort,
        shown_status=shown,
        queue=found,
        notice=notice_of(request),
    )


def report_body(form: Posted, district: str) -> dict[str, Any]:
    person: dict[str, Any] = {
        "customer_number": (form.text("customer_number") or "").upper(),
        "name": form.text("name") or "",
        "address": form.text("address") or "",
        "phone": form.text("phone"),
        "date_of_birth": form.text("date_of_birth"),
    }
    return {
        "district": district,
        "local_office": form.text("local_office") or "",
        "person": person,
        "reason": form.text("reason") or "",
        "evidence": {
            "unanswered_letters": form.number("unanswered_letters"),
            "missed_appointments": form.number("missed_appointments"),
            "last_contact_on": form.text("last_contact_on"),
        },
        "deadline": form.text("deadline"),
    }


@router.get("/faelle/neu")
def report_form(request: Request, session: CurrentSession, bezirk: str | None = None) -> Response:
    require_role(session, *CASE_STAFF)
    web = web_of(request)
    district = district_of(session, bezirk)
    return web.render(
        request, "report.html", session=session, district=district, values={}, today=today()
    )


@router.post("/faelle/neu")
def report(request: Request, session: CurrentSession, form: Form) -> Response:
    require_role(session, *CASE_STAFF)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    district = district_of(session, form.text("district"))
    try:
        created = web.services.post(
            "contacts", "/cases", web.token(session), report_body(form, district)
        )
    except ServiceError as error:
        if error.status >= 500 or error.status == 401:
            raise
        return web.render(
            request,
            "report.html",
            422 if error.status == 422 else error.status,
            session=session,
            district=district,
            values=form.values(),
            today=today(),
            **refusal(error),
        )
    return back_to(f"/faelle/{created['case_id']}", "gemeldet")


@router.get("/faelle/{case_id}")
def case(request: Request, session: CurrentSession, case_id: UUID) -> Response:
    require_role(session, *READS_CASES)
    web = web_of(request)
    token = web.token(session)
    detail = web.services.get("contacts", f"/cases/{case_id}", token, purpose="case_work")
    visits = _optional(
        lambda: web.services.get("visits", f"/cases/{case_id}/visits", token, purpose="case_work")
    )
    coachings = _optional(
        lambda: web.services.get(
            "coaching", f"/cases/{case_id}/coachings", token, purpose="case_work"
        )
    )
    return web.render(
        request,
        "case.html",
        session=session,
        case=detail,
        visits=(visits or {}).get("visits"),
        coachings=(coachings or {}).get("coachings"),
        notice=notice_of(request),
        today=today(),
    )


def _optional(read: Any) -> Any:
    """A part of the case page another service shows; the page stands without it."""
    try:
        return read()
    except ServiceError:
        return None


@router.post("/faelle/{case_id}/kontakt")
def contact_restored(
    request: Request, session: CurrentSession, case_id: UUID, form: Form
) -> Response:
    require_role(session, *READS_CASES)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    body = {
        "channel": form.text("channel") or "",
        "restored_on": form.text("restored_on") or today().isoformat(),
    }
    token = web.token(session)
    web.services.post("contacts", f"/cases/{case_id}/contact-restored", token, body)
    settled(lambda: _detail(web, token, case_id), lambda c: c["status"] != "contact_lost")
    return back_to(f"/faelle/{case_id}", "kontakt")


@router.post("/faelle/{case_id}/abschliessen")
def close(request: Request, session: CurrentSession, case_id: UUID, form: Form) -> Response:
    require_role(session, *CASE_STAFF)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    body = {"reason": form.text("reason") or ""}
    token = web.token(session)
    web.services.post("contacts", f"/cases/{case_id}/close", token, body)
    settled(lambda: _detail(web, token, case_id), lambda c: c["status"] == "closed")
    return back_to(f"/faelle/{case_id}", "abgeschlossen")


def _detail(web: Any, token: str, case_id: UUID) -> Any:
    return web.services.get("contacts", f"/cases/{case_id}", token, purpose="case_work")
