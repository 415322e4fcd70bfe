"""The data protection officer: the access log and the reads of the outreach figures with
filters, a person's Art. 15 answer (download), legal holds, erasures with their
certificates, each service's chain status."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach_web.core import CurrentSession, check_state_change, require_role, web_of
from outreach_web.forms import Form
from outreach_web.german import LOCAL_TIME
from outreach_web.pages.common import back_to, notice_of, refusal
from outreach_web.pages.figures import month_label
from outreach_web.services import ServiceError
from outreach_web.sessions import Session
from shared.dpo_pdf import render_pdf

router = APIRouter()
OFFICER = ("data_protection_officer",)
SERVICES = ("contacts", "visits", "coaching", "notifications")
SHOWN = 500
"""The entries an officer's log page lists at most: the first of the chosen days."""


def _chain(web: Any, token: str) -> dict[str, Any]:
    status: dict[str, Any] = {}
    for service in SERVICES:
        try:
            status[service] = web.services.get(service, "/dpo/chain", token)
        except ServiceError as error:
            status[service] = {"error": error.status}
    return status


@router.get("/datenschutz")
def overview(request: Request, session: CurrentSession) -> Response:
    require_role(session, *OFFICER)
    web = web_of(request)
    return web.render(
        request,
        "privacy.html",
        session=session,
        chain=_chain(web, web.token(session)),
        notice=notice_of(request),
        values={},
    )


@router.get("/datenschutz/zugriffe")
def access_log(
    request: Request,
    session: CurrentSession,
    dienst: str = "contacts",
    person: str | None = None,
    benutzer: str | None = None,
    von: str | None = None,
    bis: str | None = None,
) -> Response:
    require_role(session, *OFFICER)
    web = web_of(request)
    service = dienst if dienst in SERVICES else "contacts"
    params = {"subject": person or None, **_who_and_when(benutzer, von, bis)}
    entries, error = _newest_first(web, session, service, "/dpo/access-log", params, "entries")
    return web.render(
        request,
        "access_log.html",
        session=session,
        service=service,
        services=SERVICES,
        filters={"person": person, "benutzer": benutzer, "von": von, "bis": bis},
        entries=entries,
        error=error,
    )


@router.get("/datenschutz/kennzahlen")
def figures_reads(
    request: Request,
    session: CurrentSession,
    benutzer: str | None = None,
    von: str | None = None,
    bis: str | None = None,
) -> Response:
    require_role(session, *OFFICER)
    web = web_of(request)
    params = _who_and_when(benutzer, von, bis)
    reads, error = _newest_first(web, session, "contacts", "/dpo/figures-reads", params, "reads")
    return web.render(
        request,
        "figures_reads.html",
        session=session,
        filters={"benutzer": benutzer, "von": von, "bis": bis},
        reads=reads,
        cut_off=len(reads) >= SHOWN,
        month=month_label,
        error=error,
    )


def _who_and_when(user: str | None, since: str | None, until: str | None) -> dict[str, Any]:
    """The filter every officer's log page has (user, first and last day) as a service's
    query."""
    return {
        "user": user or None,
        "since": _moment(since, dt.time.min),
        "until": _moment(until, dt.time.max),
        "limit": SHOWN,
    }


def _newest_first(
    web: Any, session: Session, service: str, path: str, params: dict[str, Any], key: str
) -> tuple[list[dict[str, Any]], str | None]:
    """What an officer's log page lists, newest first (the services answer oldest first), or
    the sentence why the service did not answer; an expired sign-in goes on to sign in."""
    try:
        found = web.services.get(service, path, web.token(session), params=params)[key]
    except ServiceError as refused:
        if refused.status == 401:
            raise
        return [], refusal(refused)["error"]
    return list(reversed(found)), None


def _moment(day: str | None, at: dt.time) -> str | None:
    """A day of the filter (German time) as the moment a log is asked with."""
    if not day:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(day), at, LOCAL_TIME).isoformat()
    except ValueError:
        return None


def _export(web: Any, token: str, subject: UUID, note: str | None) -> dict[str, Any]:
    """Every service's part of the person's Art. 15 answer (as ``shared.dpo`` gathers it)."""
    parts: dict[str, Any] = {}
    nothing: list[str] = []
    for service in SERVICES:
        try:
            parts[service] = web.services.get(
                service,
                f"/dpo/subjects/{subject}/export",
                token,
                purpose="audit",
                note=note or "Auskunft nach Art. 15 DSGVO",
            )
        except ServiceError as error:
            if error.status != 404:
                raise
            nothing.append(service)
    return {
        "subject": str(subject),
        "legal_basis": "Art. 15 GDPR (right of access), §83 SGB X",
        "services": parts,
        "nothing_held": nothing,
        "unavailable": {},
    }


@router.post("/datenschutz/auskunft")
def export(request: Request, session: CurrentSession, form: Form) -> Response:
    require_role(session, *OFFICER)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    token = web.token(session)
    try:
        subject = UUID(form.text("subject") or "")
    except ValueError:
        return _overview_with(request, session, "Bitte das Pseudonym der Person angeben.", form)
    answer = _export(web, token, subject, form.text("note"))
    if not answer["services"]:
        message = "Zu dieser Person ist in Ihren Bezirken nichts gespeichert."
        return _overview_with(request, session, message, form)
    if form.text("format") == "json":
        body = json.dumps(answer, ensure_ascii=False, indent=2, default=str).encode()
        kind, name = "application/json", f"auskunft-{subject}.json"
    else:
        body, kind, name = render_pdf(answer), "application/pdf", f"auskunft-{subject}.pdf"
    return Response(
        body, media_type=kind, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def _overview_with(
    request: Request, session: CurrentSession, message: str, form: Any, status: int = 422
) -> Response:
    web = web_of(request)
    return web.render(
        request,
        "privacy.html",
        status,
        session=session,
        chain=_chain(web, web.token(session)),
        error=message,
        values=form.values(),
    )


@router.post("/datenschutz/sperren")
def legal_hold(request: Request, session: CurrentSession, form: Form) -> Response:
    require_role(session, *OFFICER)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    subject, reason = form.text("subject") or "", form.text("reason") or ""
    try:
        if form.text("action") == "lift":
            web.services.post(
                "contacts",
                f"/dpo/legal-holds/{subject}/lift",
                web.token(session),
                {"reason": reason},
            )
            return back_to("/datenschutz", "sperre-aufgehoben")
        body = {"subject": subject, "reason": reason}
        web.services.post("contacts", "/dpo/legal-holds", web.token(session), body)
    except ServiceError as error:
        if error.status >= 500 or error.status == 401:
            raise
        return _overview_with(request, session, refusal(error)["error"], form, error.status)
    return back_to("/datenschutz", "sperre")


@router.post("/datenschutz/loeschungen")
def erasure(request: Request, session: CurrentSession, form: Form) -> Response:
    require_role(session, *OFFICER)
    check_state_change(request, session, form.csrf)
    web = web_of(request)
    body = {
        "subject": form.text("subject") or "",
        "ground": form.text("ground") or "requested_by_person",
        "reason": form.text("reason") or "",
    }
    try:
        certificate = web.services.post("contacts", "/dpo/erasures", web.token(session), body)
    except ServiceError as error:
        if error.status >= 500 or error.status == 401:
            raise
        return _overview_with(request, session, refusal(error)["error"], form, error.status)
    return back_to(f"/datenschutz/loeschungen/{certificate['erasure_id']}")


@router.get("/datenschutz/loeschungen/{erasure_id}")
def certificate(request: Request, session: CurrentSession, erasure_id: UUID) -> Response:
    require_role(session, *OFFICER)
    web = web_of(request)
    found = web.services.get("contacts", f"/dpo/erasures/{erasure_id}", web.token(session))
    return web.render(request, "certificate.html", session=session, certificate=found)
