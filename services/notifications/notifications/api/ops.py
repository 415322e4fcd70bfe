"""The outbox's state for the team leads and the data protection officer: whether it sends,
and what keeps letters from going out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from notifications.api import presenters
from notifications.api.deps import Operator, State

router = APIRouter(tags=["notifications"])


@router.get("/ops/outbox", tags=["ops"])
def outbox_status(state: State, principal: Operator) -> dict[str, Any]:
    """The outbox, and what keeps letters from going out: districts whose persons are
    known but which have no letterhead, and the letters held (failed or given up, with
    the reason)."""
    return presenters.outbox_status(state, principal)
