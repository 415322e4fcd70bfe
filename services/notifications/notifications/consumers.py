"""The consumers of the notifications service (shared consumer pattern,
``shared.messaging.consumer``).

- ``<prefix>-directory-<topic>``: who and where (sealed names and addresses, case managers,
  announced schedules, running coachings) into the directory view, with tracking in one
  transaction.
- ``<prefix>-<topic>``: the notifications an event calls for, queued as ``Notification``
  aggregates saved with the consumer's tracking record in one transaction. Their ids are
  derived from the event id and the template, so even a replay by a new consumer group
  queues nothing twice.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from notifications.application import Notifications
from notifications.policies import requests_for
from notifications.projections import DirectoryView
from shared.contracts import Envelope, Payload, topic_of
from shared.messaging.consumer import Consumer, Effect, view_effect

DIRECTORY_EVENTS = {
    "contacts": frozenset({"ContactLost", "ContactDetailsUpdated"}),
    "visits": frozenset({"VisitAnnounced", "VisitRescheduled"}),
    "coaching": frozenset({"CoachAssigned", "CoachingExtended", "CoachingEnded"}),
}
NOTIFYING_EVENTS = {
    "contacts": frozenset({"ContactRestored"}),
    "visits": frozenset({"VisitAnnounced", "VisitRescheduled", "VisitCancelled", "VisitCompleted"}),
    "coaching": frozenset({"CoachAssigned"}),
}


def queue_effect(app: Notifications) -> Effect:
    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        return app.queue(requests_for(envelope), tracking)

    return effect


def build_consumers(
    app: Notifications,
    directory: DirectoryView,
    *,
    prefix: str = "notifications",
    topics: dict[str, str] | None = None,
) -> list[Consumer]:
    """The consumers, named after the service's database (``prefix``). ``topics`` maps a
    producer to the topic to read (tests give topics of their own)."""
    topics = topics or {producer: topic_of(producer) for producer in DIRECTORY_EVENTS}
    consumers = []
    for producer, topic in topics.items():
        consumers.append(
            Consumer(
                name=f"{prefix}-directory-{producer}",
                topic=topic,
                effect=view_effect(directory, DirectoryView.apply),
                event_types=DIRECTORY_EVENTS[producer],
                description="Where letters go and who is responsible (sealed).",
            )
        )
        consumers.append(
            Consumer(
                name=f"{prefix}-{producer}",
                topic=topic,
                effect=queue_effect(app),
                event_types=NOTIFYING_EVENTS[producer],
                description="The letters and e-mails these events call for, queued once.",
            )
        )
    return consumers
