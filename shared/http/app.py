"""The HTTP app every service is built on (:func:`http_app`): problem+json answers for every
error (:mod:`shared.http.problems`), health and readiness, one trace span per request, and an
OpenAPI document that declares every error answer (:mod:`shared.http.openapi`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BaseModel, Field

from shared.http.openapi import problems_declared
from shared.http.problems import PROBLEM_JSON, answer_errors_as_problems

__all__ = ["PROBLEM_JSON", "ReadinessCheck", "ReadinessReport", "http_app"]

ReadinessCheck = Callable[[], Awaitable[bool]]
ReadinessReport = Callable[[], Awaitable[Any]]
"""Shown by ``/readyz`` beside the checks, without deciding readiness (e.g. parked events)."""

READINESS_CHECK_SECONDS = 0.8
"""The most one readiness check may take; longer counts as not ready. The checks run at the
same time, so ``/readyz`` answers within a second whatever is down."""


UNTRACED_URLS = r"healthz,readyz,/feeds/[^/]+\.ics"
"""Not traced: the probes, and the calendar links, whose path is their secret (a server span
records the URL requested)."""


def http_app(
    *,
    title: str,
    description: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    readiness: dict[str, ReadinessCheck] | None = None,
    reports: dict[str, ReadinessReport] | None = None,
) -> FastAPI:
    """An HTTP app as every service's: problem+json answers for every error, ``/healthz``
    and ``/readyz`` (``readiness`` decides it, ``reports`` are shown beside), one trace span
    per request, and an OpenAPI document that declares every error answer."""
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
    answer_errors_as_problems(app)
    app.include_router(health_router(readiness or {}, reports or {}))
    # A span per request and per query; not three more per request for the ASGI messages.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls=UNTRACED_URLS, exclude_spans=["receive", "send"]
    )
    app.openapi = problems_declared(app)  # type: ignore[method-assign]
    return app


def health_router(
    readiness: dict[str, ReadinessCheck], reports: dict[str, ReadinessReport]
) -> APIRouter:
    """``/healthz`` (the process answers) and ``/readyz`` (every check within
    :data:`READINESS_CHECK_SECONDS`, at the same time)."""
    health = APIRouter(tags=["health"])

    @health.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @health.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz(request: Request) -> JSONResponse:
        if getattr(getattr(request.app.state, "drain", None), "draining", False):
            # Stopping (shared.runtime.drain): send it nothing new, whatever the checks say.
            return JSONResponse({"status": "draining", "checks": {}}, status_code=503)
        answers = await asyncio.gather(*(_bounded(check) for check in readiness.values()))
        results = dict(zip(readiness, answers, strict=True))
        ready = all(results.values())
        body: dict[str, Any] = {"status": "ready" if ready else "not_ready", "checks": results}
        for name, report in reports.items():
            body[name] = await report()
        return JSONResponse(body, status_code=200 if ready else 503)

    return health


async def _bounded(check: ReadinessCheck) -> bool:
    try:
        return await asyncio.wait_for(check(), READINESS_CHECK_SECONDS)
    except Exception:  # a check that fails or takes too long says: not ready
        return False


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="ready, not_ready or draining (stopping)")
    checks: dict[str, bool] = Field(examples=[{"database": True, "kafka": True}])
