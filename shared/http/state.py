"""What a service's routes reach on ``request.app.state``, typed: the token verifier and the
access log (set when the app is built), the service's own state and its running parts (set
at start-up). Each service's ``api/deps.py`` turns these into typed ``Depends``."""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request

T = TypeVar("T")


def app_state(request: Request, name: str, kind: type[T]) -> T:
    """``request.app.state.<name>``, which must be a ``kind``."""
    value = getattr(request.app.state, name, None)
    if not isinstance(value, kind):
        raise RuntimeError(f"app.state.{name} is not a {kind.__name__}: is the service started?")
    return value
