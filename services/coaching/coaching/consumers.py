"""The consumers of the coaching service (shared consumer pattern, ``shared.messaging.consumer``).

- ``<prefix>-case-directory``: the contacts events into the case directory (view rows and
  tracking in one transaction).
- ``<prefix>-visit-referrals``: a visit with a consented coaching referral requests a
  coaching (the event-sourced effect saved with its tracking record: idempotent).

The prefix is the service's database name (``service_name``): the consumer group and the
prefix of its tracking records belong with the database its effects are stored in.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from coaching.application import Coachings
from coaching.policies import command_for
from coaching.projections import CaseDirectoryView
from shared.contracts import Envelope, Payload, topic_of
from shared.messaging.consumer import Consumer, Effect, view_effect

DIRECTORY_EVENTS = frozenset({"ContactLost", "ContactDetailsUpdated", "OutreachCaseClosed"})


def referral_effect(app: Coachings) -> Effect:
    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        command = command_for(envelope)
        if command is None:
            return app.save_tracked(tracking)
        return app.request_coaching_after_referral(
            command.case, needs=command.needs, tracking=tracking, ctx=command.ctx
        )

    return effect


def build_consumers(
    app: Coachings,
    directory: CaseDirectoryView,
    *,
    prefix: str = "coaching",
    contacts_topic: str | None = None,
    visits_topic: str | None = None,
) -> list[Consumer]:
    return [
        Consumer(
            name=f"{prefix}-case-directory",
            topic=contacts_topic or topic_of("contacts"),
            effect=view_effect(directory, CaseDirectoryView.apply_contact_event),
            event_types=DIRECTORY_EVENTS,
            description="Who a case is: the sealed contact data for the hand-over packet.",
        ),
        Consumer(
            name=f"{prefix}-visit-referrals",
            topic=visits_topic or topic_of("visits"),
            effect=referral_effect(app),
            event_types=frozenset({"VisitCompleted"}),
            description="A visit with a consented coaching referral requests a coaching.",
        ),
    ]
