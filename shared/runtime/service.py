"""What a service runs, as its ``main.py`` declares it: the value its ``open_<service>``
function returns at start-up (:class:`Service`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypedDict, TypeVar
from uuid import UUID

from prometheus_client import Metric

from shared.contracts import Payload
from shared.erasure import Forget, forget_nothing
from shared.eventsourcing.application import OutreachApplication
from shared.eventsourcing.projections import EventLog
from shared.messaging.consumer import Consumer
from shared.messaging.relay import Mapper
from shared.runtime.background import Work

S = TypeVar("S", covariant=True)

Background = Work
"""Long-running work besides the relays (e.g. an outbox, usually made with
:func:`~shared.runtime.background.every` or :func:`~shared.runtime.background.as_leader`):
started with the process's work, it runs until the event it is given is set at shutdown."""


class ExportPart(TypedDict):
    """A service's own part of a person's Art. 15 export, of the officer's districts."""

    districts: list[str]
    """Those of them in which the service holds something about the person (none: 404)."""
    personal_data: Mapping[str, object]
    """What the service holds about the person, opened."""
    recipients: Sequence[object]
    """To whom the data went."""


SubjectExport = Callable[[UUID, frozenset[str]], ExportPart]
"""The service's part of a person's export; the events and the access log are added by
``GET /dpo/subjects/{subject}/export`` (:mod:`shared.http.dpo`)."""


def export_nothing(subject: UUID, districts: frozenset[str]) -> ExportPart:
    return {"districts": [], "personal_data": {}, "recipients": []}


@dataclass(frozen=True)
class RelayTo:
    """A relay of the service's event log to ``topic``: each domain event through ``mapper``
    to one of ``contracts`` (or kept internal)."""

    topic: str
    mapper: Mapper
    contracts: Sequence[type[Payload]]


@dataclass(frozen=True)
class Service(Generic[S]):
    """A service opened at start-up (under its schema lock): its application and what its
    process runs beside the routes."""

    app: OutreachApplication
    log: EventLog
    """Its event log and the projections its worker runs over it."""
    state: S
    """What its routes reach: ``request.app.state.service``, through the typed
    dependencies of its ``api/deps.py``."""
    relays: Sequence[RelayTo]
    """The relays of its event log; the first publishes to the service's own topic (its
    state is ``/ops/relay``)."""
    consumers: Sequence[Consumer] = ()
    background: Sequence[Background] = ()
    forget: Forget = forget_nothing
    """What it drops or blanks of an erased person (run by the erasure consumer every
    service has, :mod:`shared.erasure`)."""
    export: SubjectExport = export_nothing
    metrics: Mapping[str, Callable[[], Iterable[Metric]]] = field(default_factory=dict)
    """Figures of its own its worker serves at ``/metrics``, by part name (read at scrape
    time; a part that fails is flagged in ``outreach_metrics_part_failed``)."""
