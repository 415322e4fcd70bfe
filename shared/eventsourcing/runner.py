"""A projection runner that applies events in batches: what the event log has after the
view's position (up to ``batch_size``) in one transaction of the view.

The library's ``ProjectionRunner`` applies one event per transaction (``BEGIN``, the
statements, the tracking record, ``COMMIT``). This runner reads the log in its own thread
(a :class:`~shared.eventsourcing.follower.LogFollower`, woken by ``NOTIFY``), decodes each
event with the application's mapper and hands the batches to a
:class:`~shared.eventsourcing.applier.ViewApplier`, which calls the projection's own
``process_event`` unchanged inside the view's
:meth:`~shared.eventsourcing.views.TrackedView.batched` transaction: the rows of the whole
batch and its tracking record commit together, or nothing does; an event that cannot be
applied is parked (the applier's module says how, and what happens when the database is
away or a rebuild holds the view).

Several processes may run the same projection: each batch transaction takes the view's
advisory lock, so one applies at a time; a runner that finds its view advanced by another
(:class:`~shared.eventsourcing.applier.ViewAdvanced`) skips what was applied and goes on, and
one whose view moved back under it (a rebuild) stops with
:class:`~shared.eventsourcing.applier.ViewMoved` for the supervisor to start a new one.

Only the library's public interface is used: the recorder's ``select_notifications`` reads
the log, ``mapper.to_domain_event`` decodes; the view is the process's (opened once).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import Notification

from shared.eventsourcing.applier import ViewAdvanced, ViewApplier, ViewLocked, ViewMoved
from shared.eventsourcing.follower import LogFollower
from shared.eventsourcing.projections import ViewProjection

log = logging.getLogger(__name__)


class BatchingProjectionRunner:
    """Runs ``projection`` (writing into its view) over ``application_class``'s event log, a
    batch of events per transaction (:class:`ViewApplier`).

    Used like the library's ``ProjectionRunner`` (it builds its own application from ``env``
    to follow the log): enter it to start, :meth:`stop` or exit it to stop;
    :attr:`is_interrupted` is set when it stopped, and :meth:`run_forever` re-raises what
    stopped it. The view is the caller's (the process opens each view once); a runner that
    stopped is replaced by a new one over the same projection.
    """

    def __init__(
        self,
        *,
        application_class: type[Application[UUID]],
        projection: ViewProjection,
        env: dict[str, str] | None = None,
        batch_size: int = 500,
    ) -> None:
        self.projection = projection
        self.view = projection.view
        self.app = application_class(env)
        self.app_name = self.app.name
        self.batch_size = batch_size
        self.applier = ViewApplier(self.projection, self.app_name, self.app.mapper.to_domain_event)
        self.locked_out_since: float | None = None
        """Since when (epoch seconds) a rebuild or retry holds the view, if it does."""
        self._interrupted = threading.Event()
        self._stopped_by_caller = False
        self._error: BaseException | None = None
        self._follower: LogFollower | None = None
        self._applying: threading.Thread | None = None

    @property
    def applied(self) -> int:
        """Events applied (committed) since this runner started."""
        return self.applier.applied

    @property
    def is_interrupted(self) -> threading.Event:
        """Set once the runner stopped: asked to, or on an error (see :meth:`run_forever`)."""
        return self._interrupted

    def status(self) -> dict[str, Any]:
        """What ``/ops`` and readiness show of this runner (from memory, no query)."""

        def at(seconds: float | None) -> str | None:
            return None if seconds is None else datetime.fromtimestamp(seconds, UTC).isoformat()

        return {
            "running": not self._interrupted.is_set(),
            "position": self.applier.position,
            "parked": self.applier.open_parked,
            "applied_since_start": self.applier.applied,
            "parked_since_start": self.applier.parked,
            "last_progress_at": at(self.applier.last_progress),
            "locked_out_since": at(self.locked_out_since),
        }

    def __enter__(self) -> BatchingProjectionRunner:
        self.applier.load()
        self._follower = LogFollower(
            self.app.recorder,
            gt=self.applier.position,
            topics=self.projection.topics,
            batch_size=self.batch_size,
        )
        self._applying = threading.Thread(
            target=self._apply,
            args=(self._follower,),
            name=f"projection-{self.projection.name}",
            daemon=True,
        )
        self._applying.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop, wait for the threads and close the application; re-raises the error that
        stopped the runner, if any (as the library's runner does)."""
        self.stop()
        if self._applying is not None:
            self._applying.join(timeout=10)
        self.app.close()
        self.run_forever(timeout=0)

    def stop(self) -> None:
        self._stopped_by_caller = True
        self._interrupted.set()
        if self._follower is not None:
            self._follower.stop()

    def run_forever(self, timeout: float | None = None) -> None:
        """Block until the runner stopped (or ``timeout``); re-raise what stopped it (once)."""
        if self._interrupted.wait(timeout=timeout) and self._error is not None:
            error, self._error = self._error, None
            raise error

    def wait(self, notification_id: int | None, timeout: float = 1.0) -> None:
        """Block until the view has applied the log up to ``notification_id``."""
        self.view.wait(
            application_name=self.app_name,
            notification_id=notification_id,
            timeout=timeout,
            interrupt=self._interrupted,
        )

    def _fail(self, error: BaseException) -> None:
        if self._error is None and not self._stopped_by_caller:
            self._error = error
            extra = {"projection": self.projection.name}
            if isinstance(error, ViewMoved):
                log.info("projection restarts from its tracking record", extra=extra)
            else:
                log.error("projection stopped", exc_info=error, extra=extra)
        self._interrupted.set()
        if self._follower is not None:
            self._follower.stop()

    def _apply(self, follower: LogFollower) -> None:
        pending: list[Notification] = []
        try:
            follower.start()
            while not self._interrupted.is_set():
                # What a locked-out batch left (or the next), without what was committed
                # meanwhile, by this runner or another.
                position = self.applier.position
                batch = [n for n in pending or follower.next_batch() if n.id > position]
                pending = []
                if not batch:
                    continue
                try:
                    self.applier.apply(batch)
                    self.locked_out_since = None
                except ViewAdvanced:
                    pending = batch
                    self.locked_out_since = None
                except ViewLocked:
                    pending = batch
                    self.locked_out_since = self.locked_out_since or time.time()
                    self._interrupted.wait(0.2)
        except BaseException as error:
            self._fail(error)
