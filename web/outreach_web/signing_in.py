"""Signing in and out through the identity provider (authorization code with PKCE): the
session lives on the server, the browser holds only its HttpOnly cookie."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from outreach_web import german
from outreach_web.core import (
    HOME_OF_ROLE,
    CurrentSession,
    TheWeb,
    check_state_change,
    log,
    safe_next,
)
from outreach_web.oidc import SignInError

router = APIRouter()


@router.get("/anmelden")
def sign_in(request: Request, web: TheWeb, weiter: str | None = None) -> Response:
    try:
        pending, url = web.oidc.begin(safe_next(weiter))
    except (SignInError, httpx.HTTPError):
        log.warning("the identity provider is not reachable", exc_info=True)
        return web.render(
            request, "error.html", 503, message=german.MESSAGES["identity_provider_unavailable"]
        )
    web.store.remember(pending)
    return RedirectResponse(url, status_code=303)


@router.get("/anmelden/zurueck")
def signed_in(
    request: Request,
    web: TheWeb,
    state: str = "",
    code: str | None = None,
    error: str | None = None,
) -> Response:
    pending = web.store.take(state)
    if pending is None or code is None:
        reason = "abgebrochen" if error else "abgelaufen"
        return web.render(
            request,
            "error.html",
            400,
            message=f"Die Anmeldung ist {reason}. Bitte melden Sie sich erneut an.",
            sign_in_again=True,
        )
    try:
        tokens, identity = web.oidc.exchange(code, pending)
    except (SignInError, httpx.HTTPError) as failure:
        log.warning("sign-in refused: %s", failure)
        return web.render(
            request,
            "error.html",
            403,
            message="Die Anmeldung wurde nicht angenommen. Ihr Konto braucht genau eine "
            "Rolle in Outreach; wenden Sie sich an die Administration.",
            sign_in_again=True,
        )
    session = web.store.create(identity, tokens)
    response = RedirectResponse(pending.next_path, status_code=303)
    response.set_cookie(
        web.cookie,
        session.id,
        httponly=True,
        secure=web.settings.secure_cookies,
        samesite="lax",
        path="/",
        max_age=int(session.expires - session.created),
    )
    return response


@router.post("/abmelden")
async def sign_out(request: Request, web: TheWeb) -> Response:
    web_session = web.store.get(request.cookies.get(web.cookie))
    form = await request.form()
    target = "/abgemeldet"
    if web_session is not None:
        check_state_change(request, web_session, str(form.get("csrf") or ""))
        web.store.drop(web_session.id)
        after = f"{web.settings.public_url}/abgemeldet"
        try:
            target = web.oidc.logout_url(web_session.tokens.id_token, after) or target
        except (SignInError, httpx.HTTPError):
            target = "/abgemeldet"
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(web.cookie, path="/", secure=web.settings.secure_cookies)
    # The browser forgets this site's stored data: the encrypted offline agenda and its key,
    # the service worker's cache.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


@router.get("/abgemeldet")
def signed_out(request: Request, web: TheWeb) -> Response:
    return web.render(request, "signed_out.html")


@router.get("/")
def home(session: CurrentSession) -> Response:
    return RedirectResponse(HOME_OF_ROLE.get(session.identity.role, "/"), status_code=303)
