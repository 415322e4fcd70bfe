"""The error pages: what a person sees when they must sign in, may not do something, or a
service refused or failed (JSON for the offline app's ``/api/`` calls)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from outreach_web import german
from outreach_web.core import Refused, SignInRequired, log, web_of
from outreach_web.services import ServiceError


def install_error_pages(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(ServiceError, service_error)


async def sign_in_required(request: Request, _: Exception) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"code": "unauthorized"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = "/"
    return RedirectResponse(f"/anmelden?weiter={quote(target)}", status_code=303)


async def refused(request: Request, error: Exception) -> Response:
    assert isinstance(error, Refused)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"message": error.message}, status_code=error.status)
    web = web_of(request)
    session = web.store.get(request.cookies.get(web.cookie))
    return web.render(request, "error.html", error.status, session=session, message=error.message)


async def service_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ServiceError)
    if error.status == 401:
        return await sign_in_required(request, SignInRequired())
    message = german.problem_message(error.status, error.problem)
    if error.status >= 500:
        log.warning("%s", error)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"message": message, "problem": error.problem}, error.status)
    web = web_of(request)
    session = web.store.get(request.cookies.get(web.cookie))
    status = error.status if error.status < 500 else 502
    return web.render(request, "error.html", status, session=session, message=message)
