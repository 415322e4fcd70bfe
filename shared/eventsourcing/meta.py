"""Who caused a change, which request or event it follows from, and whose data it concerns:
the ``meta`` of every domain event (the audit trail's "who", the trace context the relay and
the consumers continue, the person and district the relay keys the message by).

It is not passed through the command signatures: it is the *context* of the command, held in
a context variable (as the eventsourcing library's content-management example holds its
``user_id``) and read by each event's ``meta`` default (:func:`current_meta`):

- the HTTP API sets who asks once per request (``shared.http.auth.authenticate``);
- the consumers set it once per consumed message (:meth:`CommandContext.following`: the
  service itself, in the message's correlation, caused by it);
- the application says whose data a command concerns around the aggregate calls
  (:func:`concerning`), since only it knows the person and district of what it changes.

An event recorded with no context raises :class:`NoCommandContextError`: the audit trail
never records a change without its "who".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate

from shared.telemetry import current_trace_carrier

Meta = dict[str, Any]
"""What every event stores as its ``meta`` (see :meth:`CommandContext.as_meta`)."""

SYSTEM = "system"
"""The actor and role of what a service does by itself (a consumed event, background work)."""


@dataclass(frozen=True)
class CommandContext:
    """Who asked for a change, which request or event it follows from, whose data it concerns."""

    actor: str
    role: str
    correlation_id: UUID = field(default_factory=uuid4)
    causation_id: UUID | None = None
    trace: dict[str, str] = field(default_factory=current_trace_carrier)
    subject: UUID | None = None
    """The person whose data the change concerns (the relay's message key)."""
    district: str | None = None
    """The district of the record changed (the envelope's district, the officer's scope)."""

    @classmethod
    def following(
        cls, event_id: UUID, correlation_id: UUID, *, actor: str = SYSTEM
    ) -> CommandContext:
        """What the service does because of a consumed event: in its correlation, caused by
        it, in the current trace (the consumer's span)."""
        return cls(actor=actor, role=SYSTEM, correlation_id=correlation_id, causation_id=event_id)

    def meta_for(self, subject: UUID | None, district: str) -> Meta:
        """The ``meta`` of an event of this command about ``subject`` in ``district``."""
        return replace(self, subject=subject, district=district).as_meta()

    def as_meta(self) -> Meta:
        meta: Meta = {
            "actor": self.actor,
            "role": self.role,
            "correlation_id": str(self.correlation_id),
            "causation_id": str(self.causation_id) if self.causation_id else None,
            "trace": dict(self.trace),
        }
        if self.subject is not None:
            meta["subject"] = str(self.subject)
        if self.district is not None:
            meta["district"] = self.district
        return meta


class NoCommandContextError(RuntimeError):
    """An event was recorded outside any request, consumed message or :func:`acting_as`."""


_current: ContextVar[CommandContext | None] = ContextVar("outreach_command", default=None)


def command_context() -> CommandContext:
    """The context of the command running now."""
    context = _current.get()
    if context is None:
        raise NoCommandContextError(
            "no command context: an event records who caused it (set per request, per "
            "consumed message, or with acting_as)"
        )
    return context


def current_meta() -> Meta:
    """The ``meta`` of an event recorded now: the default of every event's ``meta`` field."""
    return command_context().as_meta()


def begin_command(context: CommandContext) -> None:
    """Make ``context`` current for the rest of the running task (an HTTP request is a task
    of its own; its sync route runs in a copy of the task's context)."""
    _current.set(context)


@contextmanager
def acting_as(context: CommandContext) -> Iterator[CommandContext]:
    """Make ``context`` current inside the block (a consumed message, a test, a job)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)


@contextmanager
def concerning(subject: UUID | None, district: str) -> Iterator[CommandContext]:
    """The events recorded inside concern ``subject``'s data in ``district``."""
    with acting_as(replace(command_context(), subject=subject, district=district)) as context:
        yield context


@contextmanager
def on_behalf_of(actor: str) -> Iterator[CommandContext]:
    """The events recorded inside are recorded by the service on behalf of ``actor`` (e.g.
    the outreach worker whose recorded visit restores the contact)."""
    with acting_as(replace(command_context(), actor=actor)) as context:
        yield context


class AuditedEvent(Aggregate.Event):
    """The base of an aggregate's events that record their command's context as ``meta``
    (an aggregate names it as its own base: ``class Event(AuditedEvent): pass``)."""

    meta: Meta = field(default_factory=current_meta, init=False)
