"""The web app: sign-in and sign-out, error pages, and the routers of the roles' pages.

``uvicorn outreach_web.app:create_app --factory`` (``deploy/local/services.py`` starts it on
port 8100 with ``make up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from outreach_web import german, pages
from outreach_web.core import (
    HERE,
    HOME_OF_ROLE,
    CurrentSession,
    Refused,
    SignInRequired,
    Web,
    check_state_change,
    log,
    safe_next,
)
from outreach_web.oidc import SignInError
from outreach_web.security import SecurityHeaders, content_security_policy
from outreach_web.services import ServiceError
from outreach_web.settings import WebSettings


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    http = httpx.Client(timeout=settings.web_service_timeout_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(http.close)

    app = FastAPI(
        title="Outreach", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    web = Web(settings, http)
    app.state.web = web
    app.add_middleware(SecurityHeaders, csp=content_security_policy(settings.issuer))
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @app.exception_handler(SignInRequired)
    async def sign_in_required(request: Request, _: SignInRequired) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"code": "unauthorized"}, status_code=401)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            target = "/"
        return RedirectResponse(f"/anmelden?weiter={quote(target)}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"message": error.message}, status_code=error.status)
        session = web.store.get(request.cookies.get(web.cookie))
        return web.render(
            request, "error.html", error.status, session=session, message=error.message
        )

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, error: ServiceError) -> Response:
        if error.status == 401:
            return await sign_in_required(request, SignInRequired())
        message = german.problem_message(error.status, error.problem)
        if error.status >= 500:
            log.warning("%s", error)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"message": message, "problem": error.problem}, error.status)
        session = web.store.get(request.cookies.get(web.cookie))
        status = error.status if error.status < 500 else 502
        return web.render(request, "error.html", status, session=session, message=message)

    @app.get("/healthz", include_in_schema=False)
    @app.get("/readyz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> Response:
        """The service worker from the site's root, so its scope is the whole app."""
        body = (HERE / "static" / "sw.js").read_bytes()
        return Response(
            body,
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
        )

    @app.get("/manifest.webmanifest", include_in_schema=False)
    def manifest() -> Response:
        body = (HERE / "static" / "manifest.webmanifest").read_bytes()
        return Response(body, media_type="application/manifest+json")

    # --- signing in and out -------------------------------------------------------------

    @app.get("/anmelden")
    def sign_in(request: Request, weiter: str | None = None) -> Response:
        try:
            pending, url = web.oidc.begin(safe_next(weiter))
        except (SignInError, httpx.HTTPError):
            log.warning("the identity provider is not reachable", exc_info=True)
            return web.render(
                request, "error.html", 503, message=german.MESSAGES["identity_provider_unavailable"]
            )
        web.store.remember(pending)
        return RedirectResponse(url, status_code=303)

    @app.get("/anmelden/zurueck")
    def signed_in(
        request: Request, state: str = "", code: str | None = None, error: str | None = None
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
            secure=settings.secure_cookies,
            samesite="lax",
            path="/",
            max_age=int(session.expires - session.created),
        )
        return response

    @app.post("/abmelden")
    async def sign_out(request: Request) -> Response:
        web_session = web.store.get(request.cookies.get(web.cookie))
        form = await request.form()
        after = f"{settings.public_url}/abgemeldet"
        target = "/abgemeldet"
        if web_session is not None:
            check_state_change(request, web_session, str(form.get("csrf") or ""))
            web.store.drop(web_session.id)
            try:
                target = web.oidc.logout_url(web_session.tokens.id_token, after) or target
            except (SignInError, httpx.HTTPError):
                target = "/abgemeldet"
        response = RedirectResponse(target, status_code=303)
        response.delete_cookie(web.cookie, path="/", secure=settings.secure_cookies)
        # The browser forgets this site's stored data: the encrypted offline agenda and its
        # key, the service worker's cache.
        response.headers["Clear-Site-Data"] = '"cache", "storage"'
        return response

    @app.get("/abgemeldet")
    def signed_out(request: Request) -> Response:
        return web.render(request, "signed_out.html")

    @app.get("/")
    def home(session: CurrentSession) -> Response:
        return RedirectResponse(HOME_OF_ROLE.get(session.identity.role, "/"), status_code=303)

    for router in pages.routers():
        app.include_router(router)

    return app
