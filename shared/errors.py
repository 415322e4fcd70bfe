"""Errors that cross the HTTP boundary, each with a stable machine-readable code.

Domain errors of a service subclass :class:`ApplicationError`; the API turns them into
``application/problem+json`` bodies: ``{"type", "title", "status", "code", "detail", ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class ApplicationError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    headers: ClassVar[Mapping[str, str]] = {}
    """Response headers that go with the problem (e.g. ``Retry-After``)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInputError(ApplicationError):
    status = 422
    code = "invalid_input"


class UnauthorizedError(ApplicationError):
    status = 401
    code = "unauthorized"


class ForbiddenError(ApplicationError):
    status = 403
    code = "forbidden"


class NotFoundError(ApplicationError):
    status = 404
    code = "not_found"


class ConflictError(ApplicationError):
    status = 409
    code = "conflict"


class ServiceUnavailableError(ApplicationError):
    status = 503
    code = "service_unavailable"
    headers = {"Retry-After": "1"}
