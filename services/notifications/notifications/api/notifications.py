"""The notifications of a district, for its staff; retrying one, for its team lead."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from psycopg.rows import DictRow

from notifications.api.deps import AppDep, Staff, StatusDep, TeamLead
from notifications.api.presenters import history, notification_out
from notifications.api.schemas import District, NotificationDetail, NotificationId, NotificationOut
from notifications.projections.status import NotificationsView
from shared.errors import NotFoundError
from shared.http.auth import Principal
from shared.http.inputs import Key, QueryInt

router = APIRouter(tags=["notifications"])


@router.get("/notifications", response_model=list[NotificationOut])
def list_notifications(
    view: StatusDep,
    principal: Staff,
    district: District,
    status: Literal["queued", "sending", "sent", "failed", "given_up"] | None = None,
    source_event_id: Key | None = None,
    limit: Annotated[int, QueryInt(1, 500)] = 100,
    offset: Annotated[int, QueryInt(0, 1_000_000)] = 0,
) -> list[dict[str, Any]]:
    principal.check_district(district, "district")
    rows = view.listing(
        district, status=status, source_event_id=source_event_id, limit=limit, offset=offset
    )
    return [notification_out(row) for row in rows]


@router.get("/notifications/{notification_id}", response_model=NotificationDetail)
def notification_detail(
    view: StatusDep, app: AppDep, notification_id: NotificationId, principal: Staff
) -> dict[str, Any]:
    row = row_in_scope(view, notification_id, principal)
    return {**notification_out(row), "history": history(app, notification_id)}


@router.post("/notifications/{notification_id}/retry", response_model=NotificationOut)
def retry(
    view: StatusDep, app: AppDep, notification_id: NotificationId, principal: TeamLead
) -> dict[str, Any]:
    """Send a failed or given-up notification again (team leads)."""
    row = row_in_scope(view, notification_id, principal)
    n = app.retry(notification_id)
    return {
        **notification_out(row),
        "status": n.status.value,
        "next_attempt_at": None,
        "given_up_reason": None,
    }


def row_in_scope(view: NotificationsView, notification_id: Any, principal: Principal) -> DictRow:
    """The notification's row, if it is of one of the principal's districts (else 404)."""
    row = view.get(notification_id)
    if row is None:
        raise NotFoundError(f"notification {notification_id} not found")
    principal.check_district(row["district"], "notification")
    return row
