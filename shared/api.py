"""What every service's HTTP API shares: problem+json errors, health routes, tracing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.errors import ApplicationError

PROBLEM_JSON = "application/problem+json"
_PROBLEM_KEYS = frozenset({"type", "title", "status", "code", "detail"})

ReadinessCheck = Callable[[], Awaitable[bool]]
ReadinessReport = Callable[[], Awaitable[Any]]
"""Shown by ``/readyz`` beside the checks, without deciding readiness (e.g. parked events)."""


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {k: v for k, v in extra.items() if k not in _PROBLEM_KEYS}
    body.update(
        type=f"urn:outreach:problem:{code}", title=detail, status=status, code=code, detail=detail
    )
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def create_app(
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    readiness: dict[str, ReadinessCheck],
    reports: dict[str, ReadinessReport] | None = None,
) -> FastAPI:
    # Traced by the OpenTelemetry instrumentation below (one server span per request, the
    # trace context continued into events and Kafka); FastAPI's own telemetry would only
    # inspect every request to find that out.
    app = FastAPI(
        title=title,
        description=description,
        lifespan=lifespan,
        version="1",
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )

    @app.exception_handler(ApplicationError)
    async def _application_error(_: Request, error: ApplicationError) -> JSONResponse:
        return problem(error.status, error.code, error.detail, **error.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
            for e in error.errors()
        ]
        return problem(422, "invalid_input", "the request is not valid", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return problem(error.status_code, f"http_{error.status_code}", str(error.detail))

    health = APIRouter(tags=["health"])

    @health.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @health.get("/readyz")
    async def readyz() -> JSONResponse:
        results = {name: await check() for name, check in readiness.items()}
        ready = all(results.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": results}
        for name, report in (reports or {}).items():
            body[name] = await report()
        return JSONResponse(body, status_code=200 if ready else 503)

    app.include_router(health)
    # A span per request and per query; not three more per request for the ASGI messages.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz", exclude_spans=["receive", "send"]
    )
    return app
