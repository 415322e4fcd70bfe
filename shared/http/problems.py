"""Every error of every service as ``application/problem+json`` (RFC 9457): the one
:class:`Problem` model and the exception handlers that give it — an error of the domain with
its own ``code``, invalid input naming each field, a method a path does not have (405 with
``Allow``), the database away (503 with ``Retry-After``), anything unexpected (500, its
details in the log only)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.database import DATABASE_UNAVAILABLE, RETRY_AFTER_SECONDS
from shared.errors import ApplicationError
from shared.http.purpose import PURPOSE_HEADER, purpose_required

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_PROBLEM_KEYS = frozenset({"type", "title", "status", "code", "detail"})
_UNPARSABLE_BODY = "There was an error parsing the body"
_NAMED_FIELDS = 5
"""How many invalid fields the ``detail`` of an ``invalid_input`` problem names."""


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


async def _application_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApplicationError)
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return problem(error.status, error.code, error.detail, headers, **error.extra)


async def _invalid_request(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    return _invalid_input(error)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and error.detail == _UNPARSABLE_BODY:
        # A body that is not even text (FastAPI's 400): the same answer as any body that is
        # not JSON, an invalid input.
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


def _route_of(request: Request) -> str:
    """The route's template (``/agenda/feeds/{secret}.ics``) for the log, not the path
    requested: a path may carry a secret (a calendar link) or an id that has no place there."""
    route = request.scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(template) if template else request.url.path


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # The exception goes to the log (with the trace); the caller learns nothing of it.
    log.error(
        "request failed",
        exc_info=error,
        extra={"route": f"{request.method} {_route_of(request)}"},
    )
    return problem(500, "internal_error", "the request failed; the error was logged")


async def _database_unavailable(request: Request, error: Exception) -> JSONResponse:
    # A passing condition: the client may send the same request again. The error's text
    # (hosts, ports, the library's wording) stays in the log.
    log.warning(
        "database unavailable",
        extra={"route": _route_of(request), "error": f"{type(error).__name__}: {error}"},
    )
    response = problem(
        503,
        "database_unavailable",
        "The database cannot be reached at the moment. Try again shortly.",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def answer_errors_as_problems(app: FastAPI) -> None:
    """Every error ``app`` answers, as a problem document."""
    app.add_exception_handler(ApplicationError, _application_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    for unavailable in DATABASE_UNAVAILABLE:
        app.add_exception_handler(unavailable, _database_unavailable)
