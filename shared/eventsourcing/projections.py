"""An event log and the projections that follow it into tracked views, declared once per
service (``LOG`` in its ``main.py``): its worker runs each projection
(:mod:`shared.runtime.supervision`); ``/ops``, ``python -m shared.eventsourcing.rebuild`` and
``python -m shared.eventsourcing.parked`` find them by name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eventsourcing.persistence import Tracking

from shared.errors import NotFoundError
from shared.eventsourcing.application import OutreachApplication
from shared.eventsourcing.views import TrackedView


class ViewProjection(Protocol):
    """A projection writing into its tracked view: the library's ``Projection`` of any view,
    built over it (``BoardVisitsProjection(view)``)."""

    name: str
    topics: tuple[str, ...]

    def __init__(self, view: TrackedView) -> None: ...

    @property
    def view(self) -> TrackedView: ...

    def process_event(self, domain_event: object, tracking: Tracking) -> None: ...


@dataclass(frozen=True)
class Projected:
    """A projection class and the class of the view it writes (named after the projection:
    its tracking table is ``<projection name>_tracking``)."""

    projection: type[ViewProjection]
    view: type[TrackedView]

    @property
    def name(self) -> str:
        return self.projection.name

    def over(self, view: TrackedView) -> ViewProjection:
        """The projection writing into ``view`` (opened as :attr:`view` under :attr:`name`)."""
        if not isinstance(view, self.view):
            raise TypeError(f"{self.name} writes a {self.view.__name__}, not {view!r}")
        return self.projection(view)


class EventLog:
    """An application's event log and the projections that follow it."""

    def __init__(self, application: type[OutreachApplication], *projections: Projected) -> None:
        self.application = application
        self.projections = projections

    def named(self, name: str) -> Projected:
        for projected in self.projections:
            if projected.name == name:
                return projected
        raise NotFoundError(f"no projection {name!r} in this service")
