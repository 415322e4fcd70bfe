"""Typed handlers of a consumer group: one ``on_<event>`` function per contract, each calling
one application method, so the path of a message reads topic → handler → application →
aggregate.

    cancellations = ConsumerGroup[Visits]("cancellations", topic=topic_of("contacts"))

    @cancellations.on(ContactRestored)
    def on_contact_restored(
        visits: Visits, event: Envelope[ContactRestored], tracking: Tracking
    ) -> bool:
        return visits.cancel_pending_visit(event.payload.case_id, ..., tracking=tracking)

A handler gets the message typed by its contract and the tracking record its effect is
stored with (``False``: seen before, nothing changed). The events it records name the service
as their actor, caused by the message (the consumer sets the command context per message,
:mod:`shared.messaging.consumer`). :meth:`ConsumerGroup.consumer` binds the handlers to
what they act on, as a :class:`~shared.messaging.consumer.Consumer` of the shared pattern
(batches, de-duplication, dead letters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeGuard, TypeVar

from eventsourcing.persistence import Tracking

from shared.contracts import Envelope, Payload
from shared.messaging.consumer import Consumer

A = TypeVar("A")
P = TypeVar("P", bound=Payload)

Handler = Callable[[A, Envelope[P], Tracking], bool]


def carries(envelope: Envelope[Payload], contract: type[P]) -> TypeGuard[Envelope[P]]:
    """Whether ``envelope`` carries a ``contract`` (and is typed so from here on)."""
    return isinstance(envelope.payload, contract)


class ConsumerGroup(Generic[A]):
    """The handlers of one consumer group (named ``<prefix>-<name>``) on ``topic``, acting
    on an ``A`` (the service's application)."""

    def __init__(self, name: str, *, topic: str, description: str = "") -> None:
        self.name = name
        self.topic = topic
        self.description = description
        self._handlers: dict[str, Callable[[A, Envelope[Payload], Tracking], bool]] = {}

    def on(self, contract: type[P]) -> Callable[[Handler[A, P]], Handler[A, P]]:
        """Register the decorated function as the handler of ``contract``'s messages."""

        def register(handler: Handler[A, P]) -> Handler[A, P]:
            def dispatch(target: A, envelope: Envelope[Payload], tracking: Tracking) -> bool:
                if not carries(envelope, contract):
                    raise TypeError(f"{handler.__name__} takes {contract.__name__}")
                return handler(target, envelope, tracking)

            self._handlers[contract.event_type] = dispatch
            return handler

        return register

    def consumer(self, target: A, *, prefix: str, topic: str | None = None) -> Consumer:
        """The consumer of these handlers acting on ``target``; other event types on the
        topic are acknowledged and skipped. ``prefix``: the service's deployment name (its
        consumer groups and tracking records belong with its database)."""

        def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
            return self._handlers[envelope.event_type](target, envelope, tracking)

        return Consumer(
            name=f"{prefix}-{self.name}",
            topic=topic or self.topic,
            effect=effect,
            event_types=frozenset(self._handlers),
            description=self.description,
        )
