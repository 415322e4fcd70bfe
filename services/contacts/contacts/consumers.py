"""The consumers of the contacts service (shared consumer pattern, ``shared.messaging.consumer``).

- ``contacts-visit-outcomes``: a visit that reached the person restores the case's contact
  (channel ``home_visit``), saved with its tracking record in one transaction.
- ``contacts-coaching-notes``: a coach assigned or a coaching ended becomes a
  ``CoachingNoted`` event of the case (its timeline), saved with its tracking record.
- ``contacts-visit-steps``: a visit announced, rescheduled, cancelled (also automatically)
  or made becomes a ``VisitNoted`` event of the case (its timeline).
- ``contacts-letters``: the steps of a letter to the person (queued, in the print batch,
  held and why, given up, retried) become ``LetterNoted`` events of the person's case.
- ``contacts-erasure-confirmations``: each service's ``SubjectErasureConfirmed`` goes into
  the erasure's certificate (an ``Erasure.Confirmed`` event), saved with its tracking record.

(The ``SubjectErased`` consumer that forgets the person in this service's own views is the
one every service gets from ``shared.runtime.service``; see ``contacts.main``.)
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from eventsourcing.persistence import Tracking

from contacts.application import Contacts
from contacts.policies import coaching_note_for, command_for, letter_note_for, visit_note_for
from shared.contracts import ERASURE_TOPIC, Envelope, Payload, topic_of
from shared.contracts.erasures import SubjectErasureConfirmed
from shared.eventsourcing.meta import CommandContext
from shared.messaging.consumer import Consumer, Effect


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


def visit_step_effect(app: Contacts) -> Effect:
    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        noted = visit_note_for(envelope)
        if noted is None:
            return app.save_tracked(tracking)
        case_id, step = noted
        return app.note_visit(
            case_id, kind=step.kind, details=step.details, tracking=tracking, ctx=step.ctx
        )

    return effect


CaseOf = Callable[[UUID, str], UUID | None]
"""The case a letter to a person of a district is about (their open case there, else their
latest): the notifications' events name the person and the district, not the case."""


def letter_step_effect(app: Contacts, case_of: CaseOf) -> Effect:
    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        step = letter_note_for(envelope)
        if step is None:
            return app.save_tracked(tracking)
        return app.note_letter(
            case_of(envelope.subject, envelope.district),
            kind=step.kind,
            details=step.details,
            tracking=tracking,
            ctx=step.ctx,
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


def build_consumers(app: Contacts, *, case_of: CaseOf, prefix: str = "contacts") -> list[Consumer]:
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
            name=f"{prefix}-visit-steps",
            topic=topic_of("visits"),
            effect=visit_step_effect(app),
            event_types=frozenset(
                {"VisitAnnounced", "VisitRescheduled", "VisitCancelled", "VisitCompleted"}
            ),
            description="Every step of a visit, in the case's timeline.",
        ),
        Consumer(
            name=f"{prefix}-letters",
            topic=topic_of("notifications"),
            effect=letter_step_effect(app, case_of),
            event_types=frozenset(
                {
                    "NotificationQueued",
                    "NotificationSent",
                    "NotificationFailed",
                    "NotificationGivenUp",
                    "NotificationRetryRequested",
                }
            ),
            description="Every step of a letter to the person, in the case's timeline.",
        ),
        Consumer(
            name=f"{prefix}-erasure-confirmations",
            topic=ERASURE_TOPIC,
            effect=erasure_confirmation_effect(app),
            event_types=frozenset({SubjectErasureConfirmed.event_type}),
            description="Each service's confirmation, in the erasure certificate.",
        ),
    ]
