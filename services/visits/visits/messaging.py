"""What the visits service does with the events of other services (the shared consumer
pattern, ``shared.messaging.consumer``: batches, de-duplication, dead letters).

From ``outreach.contacts``:

- ``<prefix>-board``: ``ContactLost``, ``ContactDetailsUpdated``, ``ContactRestored`` and
  ``OutreachCaseClosed`` into the planning board (view rows and tracking in one transaction:
  :meth:`PlanningBoardView.apply_contact_event`);
- ``<prefix>-cancellations``: the person got in touch, or the case closed — an announced visit
  is cancelled (:func:`on_contact_restored`, :func:`on_outreach_case_closed`; the
  event-sourced effect is saved with its tracking record, so a redelivery cancels nothing
  twice).

From ``outreach.coaching``:

- ``<prefix>-outreach-contracts``: which provider runs the outreach in which district
  (:class:`OutreachContractsView`).

``<prefix>`` is the service's deployment name: the consumer groups and the prefix of their
tracking records belong with the database their effects are stored in.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from shared.contracts import Envelope, topic_of
from shared.contracts.contacts import CaseClosedReason, ContactRestored, OutreachCaseClosed
from shared.contracts.visits import VisitCancelledReason
from shared.messaging.consumer import Consumer, view_effect
from shared.messaging.handlers import ConsumerGroup
from visits.application import Visits
from visits.projections.board import PlanningBoardView
from visits.projections.outreach_contracts import OutreachContractsView

CONTACTS = topic_of("contacts")
COACHING = topic_of("coaching")

BOARD_EVENTS = frozenset(
    {"ContactLost", "ContactDetailsUpdated", "ContactRestored", "OutreachCaseClosed"}
)
CONTRACT_EVENTS = frozenset({"ProviderOutreachContracted", "ProviderOutreachContractEnded"})

cancellations = ConsumerGroup[Visits](
    "cancellations",
    topic=CONTACTS,
    description="Cancels an announced visit when the person got in touch.",
)


@cancellations.on(ContactRestored)
def on_contact_restored(
    visits: Visits, event: Envelope[ContactRestored], tracking: Tracking
) -> bool:
    """The person got in touch (often after the announcement letter): their announced visit
    is not needed any more."""
    return visits.cancel_pending_visit(
        event.payload.case_id,
        reason=VisitCancelledReason.CONTACT_RESTORED_BEFORE_VISIT,
        tracking=tracking,
    )


@cancellations.on(OutreachCaseClosed)
def on_outreach_case_closed(
    visits: Visits, event: Envelope[OutreachCaseClosed], tracking: Tracking
) -> bool:
    """A visit still announced for a closed case is cancelled: the person moved away, or
    the case closed for another reason."""
    moved = event.payload.reason is CaseClosedReason.MOVED_AWAY
    return visits.cancel_pending_visit(
        event.payload.case_id,
        reason=VisitCancelledReason.PERSON_MOVED if moved else VisitCancelledReason.OTHER,
        tracking=tracking,
    )


def consumers(
    visits: Visits,
    board: PlanningBoardView,
    contracts: OutreachContractsView,
    *,
    prefix: str,
    contacts_topic: str = CONTACTS,
    coaching_topic: str = COACHING,
) -> list[Consumer]:
    """The consumers of the visits service (the topics: those of the products, or a test's)."""
    return [
        Consumer(
            name=f"{prefix}-board",
            topic=contacts_topic,
            effect=view_effect(board, PlanningBoardView.apply_contact_event),
            event_types=BOARD_EVENTS,
            description="Who is to be visited: the district's planning board.",
        ),
        cancellations.consumer(visits, prefix=prefix, topic=contacts_topic),
        Consumer(
            name=f"{prefix}-outreach-contracts",
            topic=coaching_topic,
            effect=view_effect(contracts, OutreachContractsView.apply_coaching_event),
            event_types=CONTRACT_EVENTS,
            description="Which providers run the outreach themselves, in which districts.",
        ),
    ]
