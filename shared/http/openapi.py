"""The OpenAPI document of every service: each operation declares every error answer it can
give, as ``application/problem+json`` with the one :class:`~shared.http.problems.Problem`
schema."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from shared.http.problems import PROBLEM_JSON, Problem
from shared.http.purpose import PURPOSE_HEADER

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


def problems_declared(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """``app``'s OpenAPI document with the error answers declared (:func:`declare_problems`),
    built once, at the first request for it (every router is included by then)."""

    def openapi() -> dict[str, Any]:
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

    return openapi
