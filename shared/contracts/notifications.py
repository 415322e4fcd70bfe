"""Events published by the notifications service (topic ``outreach.notifications``).

The life of one notification (a letter, an e-mail or a text message that follows from an
event): queued, sent, failed (and retried with back-off), given up. They carry what an
operator or an auditor needs to follow it — the template and its version, the idempotency
key, the event it follows from, the recipient's role — and never its content, an address or
a name.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from shared.contracts.envelope import Payload

NOTIFICATION_ID = Field(
    description="The notification; derived from the event it follows from and the template, "
    "so a redelivered event finds the same notification.",
    examples=["4b3a2c1d-0e9f-5a8b-9c7d-6e5f4a3b2c1d"],
)
IDEMPOTENCY_KEY = Field(
    description="<source event id>.<template>.v<template version>: also the e-mail's "
    "Message-ID, so a recipient's mail system can recognise a copy.",
    examples=["0d8f0b1e-59a1-5d6c-9a4e-3f1a2b3c4d5e.visit_announcement.v1"],
)


class NotificationChannel(StrEnum):
    LETTER = "letter"
    EMAIL = "email"
    SMS = "sms"


class RecipientKind(StrEnum):
    PERSON = "person"
    """The person concerned (a letter to their postal address)."""
    CASE_MANAGER = "case_manager"
    TEAM_LEAD = "team_lead"
    PROVIDER = "provider"


class GivenUpReason(StrEnum):
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    PERMANENT_FAILURE = "permanent_failure"
    """E.g. no address is known, or the recipient was refused by the mail server."""
    SUBJECT_ERASED = "subject_erased"
    """The person's data was erased: nothing can (or may) be sent to them any more."""
    DELIVERY_UNCONFIRMED = "delivery_unconfirmed"
    """The service stopped while sending: it may have arrived; staff decide on a retry."""


class NotificationQueued(Payload):
    """A notification follows from an event; it will be sent by the outbox."""

    event_type = "NotificationQueued"

    notification_id: UUID = NOTIFICATION_ID
    idempotency_key: str = IDEMPOTENCY_KEY
    channel: NotificationChannel = Field(examples=["letter"])
    template: str = Field(description="Template name.", examples=["visit_announcement"])
    template_version: int = Field(ge=1, description="Template version.", examples=[1])
    recipient_kind: RecipientKind = Field(examples=["person"])
    recipient: str | None = Field(
        default=None,
        description="User id of a staff recipient, or the provider id; absent for the person.",
        examples=["cm-mueller"],
    )
    source_event_id: UUID = Field(
        description="The integration event this notification follows from.",
        examples=["0d8f0b1e-59a1-5d6c-9a4e-3f1a2b3c4d5e"],
    )
    source_event_type: str = Field(examples=["VisitAnnounced"])


class NotificationSent(Payload):
    """The notification went out: a letter is in its district's print batch of the day, an
    e-mail was accepted by the mail server."""

    event_type = "NotificationSent"

    notification_id: UUID = NOTIFICATION_ID
    idempotency_key: str = IDEMPOTENCY_KEY
    channel: NotificationChannel = Field(examples=["email"])
    attempt: int = Field(ge=1, description="The attempt that succeeded.", examples=[1])
    sent_at: datetime = Field(examples=["2026-11-23T09:15:02Z"])
    print_day: date | None = Field(
        default=None,
        description="For a letter: the day of the district's print batch it is in.",
        examples=["2026-11-23"],
    )


class NotificationFailed(Payload):
    """An attempt failed; the next one is due at ``next_attempt_at`` (exponential back-off)."""

    event_type = "NotificationFailed"

    notification_id: UUID = NOTIFICATION_ID
    attempt: int = Field(ge=1, examples=[1])
    error: str = Field(
        description="Technical reason (never content or an address).",
        examples=["ConnectionRefusedError: [Errno 111] Connection refused"],
    )
    next_attempt_at: datetime = Field(examples=["2026-11-23T09:15:32Z"])


class NotificationGivenUp(Payload):
    """No further attempt will be made by itself; staff may retry it."""

    event_type = "NotificationGivenUp"

    notification_id: UUID = NOTIFICATION_ID
    attempts: int = Field(ge=0, examples=[5])
    reason: GivenUpReason = Field(examples=["attempts_exhausted"])
    error: str = Field(examples=["ConnectionRefusedError: [Errno 111] Connection refused"])


class NotificationRetryRequested(Payload):
    """Staff asked for a failed or given-up notification to be sent again."""

    event_type = "NotificationRetryRequested"

    notification_id: UUID = NOTIFICATION_ID
    requested_by: str = Field(examples=["tl-schmidt"])


EVENTS: tuple[type[Payload], ...] = (
    NotificationQueued,
    NotificationSent,
    NotificationFailed,
    NotificationGivenUp,
    NotificationRetryRequested,
)
