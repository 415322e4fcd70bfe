"""What every service's HTTP API shares: problem+json errors, health routes, tracing, and an
OpenAPI document that declares every answer a route can give."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.access_log import PURPOSE_HEADER, purpose_required
from shared.database import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from shared.errors import ApplicationError

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_PROBLEM_KEYS = frozenset({"type", "title", "status", "code", "detail"})
_UNPARSABLE_BODY = "There was an error parsing the body"
_NAMED_FIELDS = 5
"""How many invalid fields the ``detail`` of an ``invalid_input`` problem names."""

ReadinessCheck = Callable[[], Awaitable[bool]]
ReadinessReport = Callable[[], Awaitable[Any]]
"""Shown by ``/readyz`` beside the checks, without deciding readiness (e.g. parked events)."""

READINESS_CHECK_SECONDS = 0.8
"""The most one readiness check may take; longer counts as not ready. The checks run at the
same time, so ``/readyz`` answers within a second whatever is down."""


class FieldProblem(BaseModel):
    """One invalid part of a request."""

    loc: list[str | int] = Field(
        description="Where: ``body``, ``query``, ``path`` or ``header``, then the field's path.",
        examples=[["body", "person", "name"]],
    )
    msg: str = Field(examples=["must be one line of text without control characters"])
    type: str = Field(examples=["control_character"])


class Problem(BaseModel):
    """Every error answer of every service (RFC 9457 problem details): ``code`` is stable
    and machine-readable, ``detail`` says what is wrong for a person. A problem may carry
    more members (e.g. ``errors`` of ``invalid_input``, ``field``, ``existing_case_id``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:outreach:problem:invalid_input"])
    title: str
    status: int = Field(examples=[422])
    code: str = Field(examples=["invalid_input"])
    detail: str = Field(examples=["body.local_office: must be one line of text without control"])
    errors: list[FieldProblem] | None = Field(
        default=None, description="Every invalid part of the request (``invalid_input``)."
    )


def problem(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, /, **extra: Any
) -> JSONResponse:
    """A problem+json answer; ``extra`` members never replace the five of every problem."""
    body: dict[str, Any] = {k: v for k, v in extra.items() if k not in _PROBLEM_KEYS}
    body.update(
        type=f"urn:outreach:problem:{code}", title=detail, status=status, code=code, detail=detail
    )
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _invalid_input(error: RequestValidationError) -> JSONResponse:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
        for e in error.errors()
    ]
    if any(e["loc"][:2] == ["header", PURPOSE_HEADER] for e in errors):
        # The purpose is checked right after the token, before anything else of the request.
        missing = purpose_required()
        return problem(missing.status, missing.code, missing.detail, **missing.extra)
    named = "; ".join(
        ".".join(str(part) for part in e["loc"]) + f": {e['msg']}" for e in errors[:_NAMED_FIELDS]
    )
    more = f" (and {len(errors) - _NAMED_FIELDS} more)" if len(errors) > _NAMED_FIELDS else ""
    return problem(422, "invalid_input", f"the request is not valid: {named}{more}", errors=errors)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (routes of one path are separate
    objects in the router, so the one that answered 405 does not know the others; an
    included router keeps its routes in ``original_router``)."""
    scope = {**request.scope, "method": "\x00"}  # no route has it: a path match is PARTIAL
    methods: set[str] = set()
    routes = list(request.app.router.routes)
    while routes:
        route = routes.pop()
        included = getattr(route, "original_router", None)
        if included is not None:
            routes.extend(included.routes)
        elif route.matches(scope)[0] is not Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


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
        headers = dict(error.headers)
        if error.status == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return problem(error.status, error.code, error.detail, headers, **error.extra)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, error: RequestValidationError) -> JSONResponse:
        return _invalid_input(error)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        if error.status_code == 400 and error.detail == _UNPARSABLE_BODY:
            # A body that is not even text (FastAPI's 400): the same answer as any body that
            # is not JSON, an invalid input.
            return problem(
                422,
                "invalid_input",
                "the request is not valid: body: not JSON in UTF-8",
                errors=[{"loc": ["body"], "msg": "not JSON in UTF-8", "type": "json_invalid"}],
            )
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem(error.status_code, f"http_{error.status_code}", str(error.detail), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        # The exception goes to the log (with the trace); the caller learns nothing of it.
        log.error(
            "request failed",
            exc_info=error,
            extra={"route": f"{request.method} {request.url.path}"},
        )
        return problem(500, "internal_error", "the request failed; the error was logged")

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

    @health.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readyz() -> JSONResponse:
        answers = await asyncio.gather(*(bounded(check) for check in readiness.values()))
        results = dict(zip(readiness, answers, strict=True))
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

    def openapi() -> dict[str, Any]:
        # Built once, after the lifespan included the service's routers.
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
                separate_input_output_schemas=app.separate_input_output_schemas,
            )
            app.openapi_schema = declare_problems(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class Readiness(BaseModel):
    status: str = Field(examples=["ready"], description="ready or not_ready")
    checks: dict[str, bool] = Field(examples=[{"database": True, "kafka": True}])


# --- the OpenAPI document ------------------------------------------------------------------

_WHY = {
    400: "The stated purpose (``X-Purpose``) is missing (``purpose_required``) or not one of "
    "the allowed ones (``invalid_purpose``).",
    401: "No valid bearer token (``unauthorized``).",
    403: "The user's role may not do this (``forbidden``).",
    404: "Not found, or of a district the user does not work for (``not_found`` and more "
    "specific codes).",
    409: "The change conflicts with the current state (a specific ``code`` says which).",
    410: "Gone for good (``subject_erased``: the person's data was erased).",
    422: "The request is not valid: ``invalid_input`` names every invalid field in "
    "``errors``; a rule of the domain names its own ``code`` (and often ``field``).",
    503: "The service cannot answer right now (e.g. its database is unavailable); retry "
    "after ``Retry-After`` seconds.",
}
_UNAUTHENTICATED = {"/healthz", "/readyz"}


def _problem_statuses(path: str, method: str, operation: dict[str, Any]) -> set[int]:
    """The error answers an operation can give, from what the operation takes."""
    if path in _UNAUTHENTICATED:
        return set()
    parameters = operation.get("parameters", [])
    statuses = {503}
    if operation.get("security"):
        statuses |= {401, 403}
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if (
        "requestBody" in operation
        or any(p["in"] == "path" for p in parameters)
        or any(p["in"] == "query" and p["name"] == "district" for p in parameters)
    ):
        statuses.add(404)
    if any(p["in"] == "header" and p["name"] == PURPOSE_HEADER for p in parameters):
        statuses.add(400)
    if method != "get" and operation.get("security"):
        statuses.add(409)
    return statuses


def declare_problems(document: dict[str, Any]) -> dict[str, Any]:
    """Declare the error answers of every operation as ``application/problem+json`` with the
    one :class:`Problem` schema (instead of FastAPI's ``HTTPValidationError``, which the
    services never send). A status a route declares itself keeps its description."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            declared = {int(s) for s in responses if s.isdigit() and int(s) >= 400}
            for status in sorted(_problem_statuses(path, method, operation) | declared):
                answer = responses.setdefault(str(status), {"description": _WHY.get(status, "")})
                if status == 503 and path == "/readyz":
                    continue  # its own body (which check failed)
                answer["content"] = content
                if not answer.get("description") or answer["description"] == "Validation Error":
                    answer["description"] = _WHY.get(status, "Error")
                if status == 401:
                    answer["headers"] = {
                        "WWW-Authenticate": {
                            "description": "``Bearer``",
                            "schema": {"type": "string"},
                        }
                    }
    return document
