"""The consumers of the contacts service (shared consumer pattern, ``shared.consumer``).

- ``contacts-visit-outcomes``: a visit that reached the person restores the case's contact
  (channel ``home_visit``), saved with its tracking record in one transaction.
- ``contacts-coaching-notes``: a coach assigned or a coaching ended becomes a
  ``CoachingNoted`` event of the case (its timeline), saved with its tracking record.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from contacts.application import Contacts
from contacts.policies import coaching_note_for, command_for
from shared.consumer import Consumer, Effect
from shared.contracts import Envelope, Payload, topic_of


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
    ]
