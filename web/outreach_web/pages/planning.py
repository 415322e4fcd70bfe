"""Team leads: the planning board, announcing, rescheduling and cancelling visits, the
extensions due, the providers' outreach contracts and the day's print batch."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach_web.core import CurrentSession, check_state_change, require_role, web_of
from outreach_web.forms import Form, Posted, today
from outreach_web.pages.common import back_to, district_of, notice_of, refusal, settled
from outreach_web.services import ServiceError

router = APIRouter()
PLANNERS = ("team_lead",)
VISIT_STAFF = ("team_lead", "outreach_worker", "provider_outreach")


@router.get("/planung")
def board(request: Request, session: CurrentSession, bezirk: str | None = None) -> Response:
    require_role(session, *PLANNERS)
    web = web_of(request)
    district = district_of(session, bezirk)
    found = web.services.get(
        "visits",
        "/board",
        web.token(session),
        purpose="visit_planning",
        params={"district": district},
    )
    return web.render(
        request,
        "board.html",
        session=session,
        district=district,
        board=found,
        notice=notice_of(request),
    )


def when_of(form: Posted) -> dict[str, Any]:
    """A date with an optional time slot, or a window of days (the form's choice)."""
    body: dict[str, Any] = {"announced_on": form.text("announced_on")}
    if form.text("kind") == "window":
        body["window"] = {"start": form.text("window_start"), "end": form.text("window_end")}
        return body
    body["date"] = form.text("date")
    if form.text("time_from") or form.text("time_to"):
        body["time_slot"] = {"start": form.text("time_from"), "end": form.text("time_to")}
    return body


def _board_entry(board: dict[str, Any], case_id: UUID) -> dict[str, Any] | None:
    for entries in board["sections"].values():
        for entry in entries:
            if entry["case_id"] == str(case_id):
                return dict(entry)
    return None


def _announce_page(
    request: Request,
    session: Any,
    case_id: UUID,
    values: dict[str, str],
    status: int = 200,
    **extra: Any,
) -> Response:
    web = web_of(request)
    district = district_of(session, values.get("district") or request.query_params.get("bezirk"))
    found = web.services.get(
        "visits",
        "/board",
        web.token(session),
        purpose="visit_planning",
        params={"district": district},
    )
    lead_days = int(found.get("min_lead_days", 0))
    letter_day = dt.date.fromisoformat(values.get("announced_on") or today().isoformat())
    return web.render(
        request,
        "announce.html",
        status,
        session=session,
        district=district,
        case_id=case_id,
        entry=_board_entry(found, case_id),
        lead_days=lead_days,
        earliest=letter_day + dt.timedelta(days=lead_days),
        today=today(),
        values=values,
        **extra,
    )


@router.get("/planung/ankuendigen/{case_id}")
def announce_form(request: Request, session: CurrentSession, case_id: UUID) -> Response:
    require_role(session, *PLANNERS)
    return _announce_page(request, session, case_id, {"worker_1": "", "kind": "date"})


@router.post("/planung/ankuendigen/{case_id}")
def announce(request: Request, session: CurrentSession, case_id: UUID, form: Form) -> Response:
    require_role(session, *PLANNERS)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    body = {
        "case_id": str(case_id),
        "workers": [w for w in (form.text("worker_1"), form.text("worker_2")) if w],
        "purpose": form.text("purpose") or "",
        "place": form.text("place") or "home",
        "place_description": form.text("place_description"),
        **when_of(form),
    }
    token = web.token(session)
    try:
        created = web.services.post("visits", "/visits", token, body)
    except ServiceError as error:
        if error.status >= 500 or error.status == 401:
            raise
        return _announce_page(request, session, case_id, form.values(), 422, **refusal(error))
    district = district_of(session, form.text("district"))
    settled(
        lambda: _board(web, token, district),
        lambda b: any(
            e["visit_id"] == created["visit_id"]
            for entries in b["sections"].values()
            for e in entries
        ),
    )
    return back_to(f"/planung?bezirk={district}", "angekuendigt")


def _board(web: Any, token: str, district: str) -> Any:
    return web.services.get(
        "visits", "/board", token, purpose="visit_planning", params={"district": district}
    )


def _visit_page(
    request: Request, session: Any, visit_id: UUID, status: int = 200, **extra: Any
) -> Response:
    web = web_of(request)
    token = web.token(session)
    found = web.services.get("visits", f"/visits/{visit_id}", token, purpose="visit_planning")
    lead_days = 0
    if found["status"] == "announced" and session.identity.role in PLANNERS:
        rules = web.services.get(
            "visits",
            "/board",
            token,
            purpose="visit_planning",
            params={"district": found["district"]},
        )
        lead_days = int(rules.get("min_lead_days", 0))
    return web.render(
        request,
        "visit.html",
        status,
        session=session,
        visit=found,
        today=today(),
        lead_days=lead_days,
        earliest=today() + dt.timedelta(days=lead_days),
        notice=notice_of(request),
        **{"values": {}, **extra},
    )


@router.get("/besuche/{visit_id}")
def visit(request: Request, session: CurrentSession, visit_id: UUID) -> Response:
    require_role(session, *VISIT_STAFF)
    return _visit_page(request, session, visit_id)


@router.post("/besuche/{visit_id}/verlegen")
def reschedule(request: Request, session: CurrentSession, visit_id: UUID, form: Form) -> Response:
    require_role(session, *PLANNERS)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    body = {**when_of(form), "expected_version": form.number("version", 1)}
    try:
        web.services.post("visits", f"/visits/{visit_id}/reschedule", web.token(session), body)
    except ServiceError as error:
        if error.status >= 500 or error.status == 401:
            raise
        return _visit_page(request, session, visit_id, 422, values=form.values(), **refusal(error))
    _visit_settled(
        web, web.token(session), visit_id, lambda v: v["version"] > body["expected_version"]
    )
    return back_to(f"/besuche/{visit_id}", "verlegt")


def _visit_settled(web: Any, token: str, visit_id: UUID, done: Any) -> None:
    settled(
        lambda: web.services.get("visits", f"/visits/{visit_id}", token, purpose="visit_planning"),
        done,
    )


@router.post("/besuche/{visit_id}/absagen")
def cancel(request: Request, session: CurrentSession, visit_id: UUID, form: Form) -> Response:
    require_role(session, *PLANNERS)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    body = {"reason": form.text("reason") or "", "expected_version": form.number("version", 1)}
    web.services.post("visits", f"/visits/{visit_id}/cancel", web.token(session), body)
    _visit_settled(web, web.token(session), visit_id, lambda v: v["status"] == "cancelled")
    return back_to(f"/besuche/{visit_id}", "abgesagt")


@router.get("/verlaengerungen")
def extensions_due(
    request: Request, session: CurrentSession, bezirk: str | None = None
) -> Response:
    require_role(session, *PLANNERS)
    web = web_of(request)
    district = district_of(session, bezirk)
    found = web.services.get(
        "coaching",
        "/coachings/extension-due",
        web.token(session),
        purpose="coaching",
        params={"district": district},
    )
    return web.render(
        request,
        "extensions.html",
        session=session,
        district=district,
        coachings=found["coachings"],
        notice=notice_of(request),
    )


@router.post("/verlaengerungen/{coaching_id}")
def decide_extension(
    request: Request, session: CurrentSession, coaching_id: UUID, form: Form
) -> Response:
    require_role(session, *PLANNERS)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    district = district_of(session, form.text("district"))
    if form.text("decision") == "end":
        body = {"reason": form.text("end_reason") or ""}
        web.services.post("coaching", f"/coachings/{coaching_id}/end", web.token(session), body)
        return back_to(f"/verlaengerungen?bezirk={district}", "beendet")
    body = {"reason": form.text("extension_reason") or ""}
    token = web.token(session)
    answer = web.services.post("coaching", f"/coachings/{coaching_id}/extend", token, body)
    settled(
        lambda: web.services.get(
            "coaching", f"/coachings/{coaching_id}", token, purpose="coaching"
        ),
        lambda c: c["ends_on"] == answer["ends_on"],
    )
    return back_to(f"/verlaengerungen?bezirk={district}", "verlaengert")


@router.get("/traeger")
def providers(request: Request, session: CurrentSession, bezirk: str | None = None) -> Response:
    require_role(session, *PLANNERS)
    web = web_of(request)
    district = district_of(session, bezirk)
    found = web.services.get(
        "coaching", "/providers", web.token(session), params={"district": district}
    )
    return web.render(
        request,
        "providers.html",
        session=session,
        district=district,
        providers=found,
        notice=notice_of(request),
    )


@router.post("/traeger/{provider_id}/aufsuchend")
def contract_outreach(
    request: Request, session: CurrentSession, provider_id: UUID, form: Form
) -> Response:
    require_role(session, *PLANNERS)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    district = district_of(session, form.text("district"))
    ending = form.text("action") == "end"
    token = web.token(session)
    web.services.call(
        "coaching",
        "DELETE" if ending else "PUT",
        f"/providers/{provider_id}/outreach/{district}",
        token,
    )
    settled(
        lambda: web.services.get("coaching", "/providers", token, params={"district": district}),
        lambda found: any(
            p["provider_id"] == str(provider_id) and (district in p["outreach_districts"]) != ending
            for p in found
        ),
    )
    return back_to(f"/traeger?bezirk={district}", "auftrag-beendet" if ending else "beauftragt")


@router.get("/druck")
def print_batches(request: Request, session: CurrentSession, bezirk: str | None = None) -> Response:
    require_role(session, *PLANNERS)
    web = web_of(request)
    district = district_of(session, bezirk)
    found = web.services.get(
        "notifications", "/print-batches", web.token(session), params={"district": district}
    )
    return web.render(
        request,
        "print.html",
        session=session,
        district=district,
        batches=found,
        today=today(),
    )


@router.get("/druck/{district}/{day}.pdf")
def print_batch(request: Request, session: CurrentSession, district: str, day: dt.date) -> Response:
    require_role(session, *PLANNERS)
    web = web_of(request)
    district = district_of(session, district)
    answer = web.services.call(
        "notifications",
        "GET",
        f"/print-batches/{district}/{day.isoformat()}.pdf",
        web.token(session),
        purpose="visit_planning",
        note="Druckstapel des Tages",
    )
    return Response(
        answer.content,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="briefe-{district}-{day}.pdf"'},
    )
