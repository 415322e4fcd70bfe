"""What every service's HTTP API shares: problem+json errors, health routes, tracing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.database import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from shared.errors import ApplicationError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_PROBLEM_KEYS = frozenset({"type", "title", "status", "code", "detail"})

ReadinessCheck = Callable[[], Awaitable[bool]]

READINESS_CHECK_SECONDS = 0.8
"""The most one readiness check may take; longer counts as not ready. The checks run at the
same time, so ``/readyz`` answers within a second whatever is down."""


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

    async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
        # A passing condition: the client may send the same request again. The error's text
        # (hosts, ports, the library's wording) stays in the log.
        log.warning(
            "database unavailable",
            extra={"route": request.url.path, "error": f"{type(error).__name__}: {error}"},
        )
        response = problem(
            503,
            "database_unavailable",
            "The database cannot be reached at the moment. Try again shortly.",
        )
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)

    health = APIRouter(tags=["health"])

    @health.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    async def bounded(check: ReadinessCheck) -> bool:
        try:
            return await asyncio.wait_for(check(), READINESS_CHECK_SECONDS)
        except Exception:  # a check that fails or takes too long says: not ready
            return False

    @health.get("/readyz")
    async def readyz() -> JSONResponse:
        answers = await asyncio.gather(*(bounded(check) for check in readiness.values()))
        results = dict(zip(readiness, answers, strict=True))
        ready = all(results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    app.include_router(health)
    # A span per request and per query; not three more per request for the ASGI messages.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="healthz,readyz", exclude_spans=["receive", "send"]
    )
    return app
