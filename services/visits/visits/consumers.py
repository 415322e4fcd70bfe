"""The consumers of the visits service (shared consumer pattern, ``shared.messaging.consumer``).

- ``visits-board``: the contacts events into the planning board (view rows and tracking in
  one transaction).
- ``visits-cancellations``: cancels an announced visit when the person got in touch or the
  case closed (the event-sourced effect saved with its tracking record: idempotent).
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from shared.contracts import Envelope, Payload, topic_of
from shared.messaging.consumer import Consumer, Effect, view_effect
from visits.application import Visits
from visits.policies import command_for
from visits.projections import PlanningBoardView

BOARD_EVENTS = frozenset(
    {"ContactLost", "ContactDetailsUpdated", "ContactRestored", "OutreachCaseClosed"}
)
CANCELLING_EVENTS = frozenset({"ContactRestored", "OutreachCaseClosed"})


def cancellation_effect(app: Visits) -> Effect:
    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        command = command_for(envelope)
        if command is None:
            return app.save_tracked(tracking)
        return app.cancel_pending_visit(
            command.case_id, reason=command.reason, tracking=tracking, ctx=command.ctx
        )

    return effect


def build_consumers(
    app: Visits, board: PlanningBoardView, *, topic: str | None = None, prefix: str = "visits"
) -> list[Consumer]:
    """The consumers of ``topic`` (the contacts topic), named ``<prefix>-board`` and so on.

    The prefix is the service's database name (``service_name``): the consumer group and the
    prefix of its tracking records belong with the database its effects are stored in.
    """
    contacts = topic or topic_of("contacts")
    return [
        Consumer(
            name=f"{prefix}-board",
            topic=contacts,
            effect=view_effect(board, PlanningBoardView.apply_contact_event),
            event_types=BOARD_EVENTS,
            description="Who is to be visited: the district's planning board.",
        ),
        Consumer(
            name=f"{prefix}-cancellations",
            topic=contacts,
            effect=cancellation_effect(app),
            event_types=CANCELLING_EVENTS,
            description="Cancels an announced visit when the person got in touch.",
        ),
    ]
