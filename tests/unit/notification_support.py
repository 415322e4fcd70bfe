"""Builders shared by the notifications unit tests: a fixed "now", a letterhead, a queued
notification, an envelope of a contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import uuid4

from notifications.domain import Notification
from notifications.settings import Letterhead

from shared.contracts import Envelope, Payload
from shared.contracts.notifications import NotificationChannel, RecipientKind
from shared.eventsourcing.meta import SYSTEM, CommandContext, acting_as

P = TypeVar("P", bound=Payload)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KASSEL = Letterhead(
    jobcenter="Jobcenter Stadt Kassel",
    address=["Grüner Weg 2", "34117 Kassel"],
    phone="0561 1234-0",
    email="aufsuchend@jobcenter-kassel.example",
    data_protection_officer="datenschutz@jobcenter-kassel.example",
)


def system() -> CommandContext:
    """The service itself, about someone in Kassel (as a consumer or the outbox)."""
    return CommandContext(actor=SYSTEM, role=SYSTEM, trace={}, subject=uuid4(), district="kassel")


def queued(source: str | None = None) -> Notification:
    with acting_as(system()):
        return Notification.queue(
            source_key=source or str(uuid4()),
            source_event_type="ContactRestored",
            channel=NotificationChannel.EMAIL,
            template="contact_restored",
            template_version=1,
            recipient_kind=RecipientKind.CASE_MANAGER,
            recipient="cm-mueller",
            context={"case_id": str(uuid4())},
            queued_at=NOW,
        )


def envelope(payload: P) -> Envelope[P]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    built: Envelope[P] = contract(
        event_id=uuid4(),
        event_type=payload.event_type,
        schema_version=1,
        occurred_at=NOW,
        producer="test",
        district="kassel",
        subject=uuid4(),
        correlation_id=uuid4(),
        payload=payload,
    )
    return built
