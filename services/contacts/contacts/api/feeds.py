"""The data protection officer's registry of the feeds (:mod:`contacts.feeds`): who
subscribes, for which purpose, to which event types and fields."""

# No "from __future__ import annotations": FastAPI resolves the route signatures.

from fastapi import APIRouter, status

from contacts.api import presenters
from contacts.api.deps import FeedsDep, Officer
from contacts.api.schemas import RegisterSubscriber, Registration

router = APIRouter(prefix="/dpo/feeds", tags=["data protection"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Registration)
def register_subscriber(
    body: RegisterSubscriber, principal: Officer, feeds: FeedsDep
) -> Registration:
    """Register a subscribing team for the districts on the officer's token (or change
    its purpose, allow-list and districts). 409 ``feed_of_other_districts`` when the
    name is registered for a district the officer does not hold."""
    feeds.register(
        name=body.name,
        purpose=body.purpose,
        allow=body.allow,
        by=principal.user,
        districts=principal.districts,
    )
    rows = [r for r in feeds.registrations(principal.districts) if r["name"] == body.name]
    return presenters.registration(rows[0])


@router.get("", response_model=list[Registration])
def subscribers(principal: Officer, feeds: FeedsDep) -> list[Registration]:
    """The subscribers of the officer's districts."""
    return [presenters.registration(row) for row in feeds.registrations(principal.districts)]
