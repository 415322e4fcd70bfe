"""What the coaching service does with the events of other services (the shared consumer
pattern, ``shared.messaging.consumer``: batches, de-duplication, dead letters).

- ``<prefix>-case-directory`` (``outreach.contacts``): ``ContactLost``,
  ``ContactDetailsUpdated`` and ``OutreachCaseClosed`` into the case directory — who a case
  is, with the sealed contact data (view rows and tracking in one transaction:
  :meth:`CaseDirectoryView.apply_contact_event`);
- ``<prefix>-visit-referrals`` (``outreach.visits``): a ``VisitCompleted`` with a consented
  coaching referral requests a coaching (:func:`on_visit_completed`; the event-sourced
  effect is saved with its tracking record, so a redelivery requests nothing twice).

``<prefix>`` is the service's deployment name: the consumer groups and the prefix of their
tracking records belong with the database their effects are stored in.
"""

from __future__ import annotations

from eventsourcing.persistence import Tracking

from coaching.application import Coachings
from coaching.domain import KnownCase
from coaching.projections.case_directory import CaseDirectoryView
from shared.contracts import Envelope, topic_of
from shared.contracts.visits import NextStep, VisitCompleted
from shared.eventsourcing.meta import on_behalf_of
from shared.messaging.consumer import Consumer, view_effect
from shared.messaging.handlers import ConsumerGroup

CONTACTS = topic_of("contacts")
VISITS = topic_of("visits")

DIRECTORY_EVENTS = frozenset({"ContactLost", "ContactDetailsUpdated", "OutreachCaseClosed"})

referrals = ConsumerGroup[Coachings](
    "visit-referrals",
    topic=VISITS,
    description="A visit with a consented coaching referral requests a coaching.",
)


@referrals.on(VisitCompleted)
def on_visit_completed(
    coachings: Coachings, event: Envelope[VisitCompleted], tracking: Tracking
) -> bool:
    """A visit whose next step is a coaching referral, to which the person consented,
    requests a coaching with the needs identified (they travel only with the consent). Any
    other outcome requests nothing, and declining a referral has no consequence here."""
    payload = event.payload
    referred = payload.next_step is NextStep.COACHING_REFERRAL and payload.coaching_referral_consent
    case = KnownCase(case_id=payload.case_id, subject_id=event.subject, district=event.district)
    # Recorded by the service on behalf of the outreach worker who made the visit.
    with on_behalf_of(payload.recorded_by):
        return coachings.request_coaching_after_referral(
            case, referred=referred, needs=payload.needs or [], tracking=tracking
        )


def consumers(
    coachings: Coachings,
    directory: CaseDirectoryView,
    *,
    prefix: str,
    contacts_topic: str = CONTACTS,
    visits_topic: str = VISITS,
) -> list[Consumer]:
    """The consumers of the coaching service (the topics: those of the products, or a test's)."""
    return [
        Consumer(
            name=f"{prefix}-case-directory",
            topic=contacts_topic,
            effect=view_effect(directory, CaseDirectoryView.apply_contact_event),
            event_types=DIRECTORY_EVENTS,
            description="Who a case is: the sealed contact data for the hand-over packet.",
        ),
        referrals.consumer(coachings, prefix=prefix, topic=visits_topic),
    ]
