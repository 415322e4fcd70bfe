"""Incoming integration events -> the notifications they call for (pure mapping).

| Event | Notification |
|---|---|
| ``VisitAnnounced`` | letter ``visit_announcement`` to the person |
| ``VisitRescheduled`` | letter ``visit_rescheduled`` to the person |
| ``VisitCancelled`` | letter ``visit_cancelled`` to the person (not when they moved away) |
| ``VisitCompleted``, next step ``handover_to_case_manager`` | e-mail to the case manager |
| ``ContactRestored`` | e-mail ``contact_restored`` to the responsible case manager |
| ``CoachAssigned`` | letter ``coach_introduction`` to the person, and e-mail |
| | ``provider_handover`` to the provider (the notice, not the hand-over packet) |
| a coaching ends within the reminder lead | e-mail ``coaching_ending_reminder`` to the team lead |

A context holds only what the event carried: ids, dates, codes and sealed tokens. Names and
addresses are opened when the notification is sent, never stored in plain text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from uuid import UUID, uuid5

from notifications.application import QueueRequest
from shared.contracts import Envelope, Payload
from shared.contracts.coaching import CoachAssigned
from shared.contracts.contacts import ContactRestored
from shared.contracts.notifications import RecipientKind
from shared.contracts.visits import (
    Announcement,
    NextStep,
    VisitAnnounced,
    VisitCancelled,
    VisitCancelledReason,
    VisitCompleted,
    VisitRescheduled,
)
from shared.eventsourcing.meta import CommandContext

REMINDER_NAMESPACE = UUID("c0a8e1f2-3b4c-4d5e-8f6a-7b8c9d0e1f2a")


def _ctx(envelope: Envelope[Payload]) -> CommandContext:
    return CommandContext(
        actor="system",
        role="system",
        correlation_id=envelope.correlation_id,
        causation_id=envelope.event_id,
    )


def _request(
    envelope: Envelope[Payload],
    template: str,
    recipient_kind: RecipientKind,
    recipient: str | None,
    context: dict[str, Any],
) -> QueueRequest:
    return QueueRequest(
        source_key=str(envelope.event_id),
        source_event_type=envelope.event_type,
        template=template,
        recipient_kind=recipient_kind,
        recipient=recipient,
        context=context,
        subject_id=envelope.subject,
        district=envelope.district,
        ctx=_ctx(envelope),
    )


def _announcement(payload: Announcement) -> dict[str, Any]:
    return {
        "visit_id": str(payload.visit_id),
        "case_id": str(payload.case_id),
        "schedule": payload.schedule.model_dump(mode="json"),
        "workers": list(payload.workers),
        "purpose": payload.purpose.value,
        "place": payload.place.value,
        "place_description": payload.place_description,
        "name": payload.name,
        "address": payload.address,
    }


def requests_for(envelope: Envelope[Payload]) -> list[QueueRequest]:
    """The notifications an integration event calls for (often none)."""
    payload = envelope.payload
    person = RecipientKind.PERSON
    if isinstance(payload, VisitAnnounced):
        return [_request(envelope, "visit_announcement", person, None, _announcement(payload))]
    if isinstance(payload, VisitRescheduled):
        return [_request(envelope, "visit_rescheduled", person, None, _announcement(payload))]
    if isinstance(payload, VisitCancelled):
        if payload.reason is VisitCancelledReason.PERSON_MOVED:
            return []  # a letter to the old address would reach someone else
        context = {
            "visit_id": str(payload.visit_id),
            "case_id": str(payload.case_id),
            "reason": payload.reason.value,
        }
        return [_request(envelope, "visit_cancelled", person, None, context)]
    if isinstance(payload, VisitCompleted):
        if payload.next_step is not NextStep.HANDOVER_TO_CASE_MANAGER:
            return []
        context = {
            "case_id": str(payload.case_id),
            "visit_id": str(payload.visit_id),
            "completed_on": payload.completed_on.isoformat(),
            "outcome": payload.outcome.value,
        }
        # The case manager is learnt from ContactLost (the directory) when sending.
        return [
            _request(
                envelope, "handover_to_case_manager", RecipientKind.CASE_MANAGER, None, context
            )
        ]
    if isinstance(payload, ContactRestored):
        context = {
            "case_id": str(payload.case_id),
            "restored_on": payload.restored_on.isoformat(),
            "channel": payload.channel.value,
        }
        return [
            _request(
                envelope,
                "contact_restored",
                RecipientKind.CASE_MANAGER,
                payload.case_manager,
                context,
            )
        ]
    if isinstance(payload, CoachAssigned):
        context = {
            "case_id": str(payload.case_id),
            "coaching_id": str(payload.coaching_id),
            "provider_id": str(payload.provider_id),
            "provider_name": payload.provider_name,
            "coach": payload.coach,
            "starts_on": payload.starts_on.isoformat(),
            "ends_on": payload.ends_on.isoformat(),
        }
        return [
            _request(envelope, "coach_introduction", person, None, context),
            _request(
                envelope,
                "provider_handover",
                RecipientKind.PROVIDER,
                str(payload.provider_id),
                context,
            ),
        ]
    return []


def reminder_source(coaching_id: UUID, ends_on: date) -> UUID:
    """One reminder per coaching and end date: an extension (a new end) reminds again."""
    return uuid5(REMINDER_NAMESPACE, f"{coaching_id}:{ends_on.isoformat()}")


def reminders_due(
    coachings: Iterable[dict[str, Any]], *, today: date, lead_days: int
) -> list[QueueRequest]:
    """Reminders to the team lead for the running coachings that end within ``lead_days``.

    ``coachings`` are rows of the directory (coaching_id, case_id, subject_id, district,
    provider_name, coach, ends_on, ended).
    """
    requests = []
    for row in coachings:
        ends_on: date = row["ends_on"]
        if row["ended"] or not today <= ends_on <= date.fromordinal(today.toordinal() + lead_days):
            continue
        source = reminder_source(row["coaching_id"], ends_on)
        requests.append(
            QueueRequest(
                source_key=str(source),
                source_event_type="CoachingEndingCheck",
                template="coaching_ending_reminder",
                recipient_kind=RecipientKind.TEAM_LEAD,
                recipient=None,
                context={
                    "coaching_id": str(row["coaching_id"]),
                    "case_id": str(row["case_id"]),
                    "provider_name": row["provider_name"],
                    "coach": row["coach"],
                    "ends_on": ends_on.isoformat(),
                },
                subject_id=row["subject_id"],
                district=row["district"],
                ctx=CommandContext(
                    actor="notifications-reminders", role="system", causation_id=source
                ),
            )
        )
    return requests
