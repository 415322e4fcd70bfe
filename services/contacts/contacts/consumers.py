"""The consumers of the contacts service (shared consumer pattern, ``shared.consumer``).

- ``contacts-visit-outcomes``: a visit that reached the person restores the case's contact
  (channel ``home_visit``), saved with its tracking record in one transaction.
- ``contacts-coaching-notes``: a coach assigned or a coaching ended becomes a
  ``CoachingNoted`` event of the case (its timeline), saved with its tracking record.
- ``contacts-erasure-confirmations``: each service's ``SubjectErasureConfirmed`` goes into
  the erasure's certificate (an ``Erasure.Confirmed`` event), saved with its tracking record.

(The ``SubjectErased`` consumer that forgets the person in this service's own views is the
one every service gets from ``shared.runtime``; see ``contacts.main``.)
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from contacts.application import Contacts
from contacts.policies import coaching_note_for, command_for
from shared.consumer import Consumer, Effect
from shared.contracts import ERASURE_TOPIC, Envelope, Payload, topic_of
from shared.contracts.erasures import SubjectErasureConfirmed
from shared.eventstore import CommandContext


def visit_outcome_effect(app: Contacts) -> Effect:
    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        command = command_for(envelope)
        if command is None:
            return app.save_tracked(tracking)
        return app.restore_contact_after_visit(
            command.case_id,
            channel=command.channel,
            restored_on=command.restored_on,
            tracking=tracking,
            ctx=command.ctx,
        )

    return effect


def coaching_note_effect(app: Contacts) -> Effect:
    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        note = coaching_note_for(envelope)
        if note is None:
            return app.save_tracked(tracking)
        return app.note_coaching(
            note.case_id, kind=note.kind, details=note.details, tracking=tracking, ctx=note.ctx
        )

    return effect


def erasure_confirmation_effect(app: Contacts) -> Effect:
    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        payload = envelope.payload
        assert isinstance(payload, SubjectErasureConfirmed)
        return app.record_erasure_confirmation(
            payload.erasure_id,
            service=payload.service,
            deployment=payload.deployment,
            confirmed_at=payload.confirmed_at,
            tracking=tracking,
            ctx=CommandContext(
                actor=f"service:{payload.deployment}",
                role="system",
                correlation_id=envelope.correlation_id,
                causation_id=envelope.event_id,
            ),
        )

    return effect


def build_consumers(app: Contacts, *, prefix: str = "contacts") -> list[Consumer]:
    """The consumers, named ``<prefix>-visit-outcomes``: the consumer group and the prefix of
    its tracking records belong with the service's database (``service_name``), so a second
    deployment with a database of its own also reads every event itself."""
    return [
        Consumer(
            name=f"{prefix}-visit-outcomes",
            topic=topic_of("visits"),
            effect=visit_outcome_effect(app),
            event_types=frozenset({"VisitCompleted"}),
            description="A visit that reached the person restores the contact (home visit).",
        ),
        Consumer(
            name=f"{prefix}-coaching-notes",
            topic=topic_of("coaching"),
            effect=coaching_note_effect(app),
            event_types=frozenset({"CoachAssigned", "CoachingEnded"}),
            description="Coach assigned and coaching ended, in the case's timeline.",
        ),
        Consumer(
            name=f"{prefix}-erasure-confirmations",
            topic=ERASURE_TOPIC,
            effect=erasure_confirmation_effect(app),
            event_types=frozenset({SubjectErasureConfirmed.event_type}),
            description="Each service's confirmation, in the erasure certificate.",
        ),
    ]
