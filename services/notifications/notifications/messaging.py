"""What the notifications service does with the events of other services (the shared
consumer pattern, ``shared.messaging.consumer``: batches, de-duplication, dead letters).

Per producer (``outreach.contacts``, ``outreach.visits``, ``outreach.coaching``), two
consumer groups:

- ``<prefix>-directory-<producer>``: who and where (sealed names and addresses, case
  managers, announced schedules, running coachings) into the directory view, rows and
  tracking in one transaction (:meth:`DirectoryView.apply`);
- ``<prefix>-<producer>``: the notifications an event calls for, one typed ``on_<event>``
  handler each, queued by :meth:`Notifications.queue` as ``Notification`` aggregates saved
  with the consumer's tracking record in one transaction. Their ids are derived from the
  event id and the template, so even a replay by a new consumer group queues nothing twice.

| Event | Notification |
|---|---|
| ``VisitAnnounced`` | letter ``visit_announcement`` to the person |
| ``VisitRescheduled`` | letter ``visit_rescheduled`` to the person |
| ``VisitCancelled`` | letter ``visit_cancelled`` to the person (not when they moved away) |
| ``VisitCompleted``, next step ``handover_to_case_manager`` | e-mail to the case manager |
| ``ContactRestored`` | e-mail ``contact_restored`` to the responsible case manager |
| ``CoachAssigned`` | letter ``coach_introduction`` to the person, and e-mail |
| | ``provider_handover`` to the provider (the notice, not the hand-over packet) |

A notification's context holds only what the event carried: ids, dates, codes and sealed
tokens. Names and addresses are opened when the notification is sent, never stored in plain
text. (The reminder before a coaching ends is a scheduled check: :mod:`notifications.reminders`.)

``<prefix>`` is the service's deployment name: the consumer groups and the prefix of their
tracking records belong with the database their effects are stored in.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from notifications.application import Notifications, QueueRequest
from notifications.projections.directory import DirectoryView
from shared.contracts import Envelope, topic_of
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
from shared.messaging.consumer import Consumer, view_effect
from shared.messaging.handlers import ConsumerGroup

PRODUCERS = ("contacts", "visits", "coaching")
DIRECTORY_EVENTS = {
    "contacts": frozenset({"ContactLost", "ContactDetailsUpdated"}),
    "visits": frozenset({"VisitAnnounced", "VisitRescheduled"}),
    "coaching": frozenset({"CoachAssigned", "CoachingExtended", "CoachingEnded"}),
}
QUEUES = "The letters and e-mails these events call for, queued once."

contacts = ConsumerGroup[Notifications]("contacts", topic=topic_of("contacts"), description=QUEUES)
visits = ConsumerGroup[Notifications]("visits", topic=topic_of("visits"), description=QUEUES)
coaching = ConsumerGroup[Notifications]("coaching", topic=topic_of("coaching"), description=QUEUES)
GROUPS = {"contacts": contacts, "visits": visits, "coaching": coaching}


@visits.on(VisitAnnounced)
def on_visit_announced(
    app: Notifications, event: Envelope[VisitAnnounced], tracking: Tracking
) -> bool:
    return app.queue(announcement_letter(event), tracking)


@visits.on(VisitRescheduled)
def on_visit_rescheduled(
    app: Notifications, event: Envelope[VisitRescheduled], tracking: Tracking
) -> bool:
    return app.queue(rescheduled_letter(event), tracking)


@visits.on(VisitCancelled)
def on_visit_cancelled(
    app: Notifications, event: Envelope[VisitCancelled], tracking: Tracking
) -> bool:
    return app.queue(cancellation_letter(event), tracking)


@visits.on(VisitCompleted)
def on_visit_completed(
    app: Notifications, event: Envelope[VisitCompleted], tracking: Tracking
) -> bool:
    return app.queue(handover_email(event), tracking)


@contacts.on(ContactRestored)
def on_contact_restored(
    app: Notifications, event: Envelope[ContactRestored], tracking: Tracking
) -> bool:
    return app.queue(contact_restored_email(event), tracking)


@coaching.on(CoachAssigned)
def on_coach_assigned(
    app: Notifications, event: Envelope[CoachAssigned], tracking: Tracking
) -> bool:
    return app.queue(coach_assigned_notices(event), tracking)


# What each event calls for (pure; the tests check them without a broker).


def announcement_letter(event: Envelope[VisitAnnounced]) -> list[QueueRequest]:
    return [_request(event, "visit_announcement", RecipientKind.PERSON, None, _visit(event))]


def rescheduled_letter(event: Envelope[VisitRescheduled]) -> list[QueueRequest]:
    return [_request(event, "visit_rescheduled", RecipientKind.PERSON, None, _visit(event))]


def cancellation_letter(event: Envelope[VisitCancelled]) -> list[QueueRequest]:
    payload = event.payload
    if payload.reason is VisitCancelledReason.PERSON_MOVED:
        return []  # a letter to the old address would reach someone else
    context = {
        "visit_id": str(payload.visit_id),
        "case_id": str(payload.case_id),
        "reason": payload.reason.value,
    }
    return [_request(event, "visit_cancelled", RecipientKind.PERSON, None, context)]


def handover_email(event: Envelope[VisitCompleted]) -> list[QueueRequest]:
    payload = event.payload
    if payload.next_step is not NextStep.HANDOVER_TO_CASE_MANAGER:
        return []
    context = {
        "case_id": str(payload.case_id),
        "visit_id": str(payload.visit_id),
        "completed_on": payload.completed_on.isoformat(),
        "outcome": payload.outcome.value,
    }
    # The case manager is learnt from ContactLost (the directory) when sending.
    kind = RecipientKind.CASE_MANAGER
    return [_request(event, "handover_to_case_manager", kind, None, context)]


def contact_restored_email(event: Envelope[ContactRestored]) -> list[QueueRequest]:
    payload = event.payload
    context = {
        "case_id": str(payload.case_id),
        "restored_on": payload.restored_on.isoformat(),
        "channel": payload.channel.value,
    }
    kind = RecipientKind.CASE_MANAGER
    return [_request(event, "contact_restored", kind, payload.case_manager, context)]


def coach_assigned_notices(event: Envelope[CoachAssigned]) -> list[QueueRequest]:
    """The coach introduced to the person (letter), the hand-over notice to the provider."""
    payload = event.payload
    context = {
        "case_id": str(payload.case_id),
        "coaching_id": str(payload.coaching_id),
        "provider_id": str(payload.provider_id),
        "provider_name": payload.provider_name,
        "coach": payload.coach,
        "starts_on": payload.starts_on.isoformat(),
        "ends_on": payload.ends_on.isoformat(),
    }
    provider = str(payload.provider_id)
    return [
        _request(event, "coach_introduction", RecipientKind.PERSON, None, context),
        _request(event, "provider_handover", RecipientKind.PROVIDER, provider, context),
    ]


def _visit(event: Envelope[VisitAnnounced] | Envelope[VisitRescheduled]) -> dict[str, Any]:
    payload: Announcement = event.payload
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


def _request(
    event: Envelope[Any],
    template: str,
    recipient_kind: RecipientKind,
    recipient: str | None,
    context: dict[str, Any],
) -> QueueRequest:
    return QueueRequest(
        source_key=str(event.event_id),
        source_event_type=event.event_type,
        template=template,
        recipient_kind=recipient_kind,
        recipient=recipient,
        context=context,
        subject_id=event.subject,
        district=event.district,
    )


def consumers(
    app: Notifications,
    directory: DirectoryView,
    *,
    prefix: str,
    topics: dict[str, str] | None = None,
) -> list[Consumer]:
    """The consumers of the notifications service. ``topics`` maps a producer to the topic
    to read (those of the products, or a test's)."""
    topics = topics or {producer: topic_of(producer) for producer in PRODUCERS}
    found: list[Consumer] = []
    for producer, topic in topics.items():
        found.append(
            Consumer(
                name=f"{prefix}-directory-{producer}",
                topic=topic,
                effect=view_effect(directory, DirectoryView.apply),
                event_types=DIRECTORY_EVENTS[producer],
                description="Where letters go and who is responsible (sealed).",
            )
        )
        found.append(GROUPS[producer].consumer(app, prefix=prefix, topic=topic))
    return found
