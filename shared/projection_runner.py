"""A projection runner that applies events in batches: everything the event log's
subscription has delivered (up to ``batch_size``) in one transaction of the view.

The library's ``ProjectionRunner`` applies one event per transaction (``BEGIN``, the
statements, the tracking record, ``COMMIT``). This runner reads the log the same way (the
recorder's subscription, woken by ``NOTIFY``), decodes each event with the application's
mapper and calls the projection's own ``process_event`` unchanged, but inside the view's
:meth:`~shared.eventstore.TrackedView.batched` transaction: the rows of the whole batch and
its tracking record commit together, or nothing does. After a failure (the database went
away, a bug in a projection) the batch is rolled back, the runner stops with the error and
:func:`shared.runtime._supervise` starts a new one, which resumes after the last committed
tracking record. So every event is applied exactly once, as with the library's runner.

Only the library's public interface is used: the infrastructure factory builds the view,
``recorder.subscribe`` follows the log, ``mapper.to_domain_event`` decodes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from typing import Any, Generic, TypeVar

from eventsourcing.application import Application
from eventsourcing.persistence import InfrastructureFactory, Notification, Subscription, Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import Environment

from shared.eventstore import TrackedView

log = logging.getLogger(__name__)

TApplication = TypeVar("TApplication", bound=Application[Any])
TView = TypeVar("TView", bound=TrackedView)


class BatchingProjectionRunner(Generic[TApplication, TView]):
    """Runs ``projection_class`` over ``application_class``'s event log into a
    ``view_class`` view, a batch of events per transaction.

    Built like the library's ``ProjectionRunner`` (the view from an environment named after
    the projection, the application from ``env``) and used the same way: enter it to start,
    :meth:`stop` or exit it to stop; :attr:`is_interrupted` is set when it stopped, and
    :meth:`run_forever` re-raises what stopped it.
    """

    def __init__(
        self,
        *,
        application_class: type[TApplication],
        projection_class: type[Projection[TView]],
        view_class: type[TView],
        env: dict[str, str] | None = None,
        batch_size: int = 500,
    ) -> None:
        environment = Environment(projection_class.name, {**os.environ, **(env or {})})
        self.view: TView = (
            InfrastructureFactory[TView].construct(env=environment).tracking_recorder(view_class)
        )
        self.projection = projection_class(view=self.view)
        self.app: TApplication = application_class(env)
        self.app_name = self.app.name
        self.batch_size = batch_size
        self.applied = 0
        """Events applied (committed) since this runner started."""
        self._interrupted = threading.Event()
        self._stopped_by_caller = False
        self._error: BaseException | None = None
        self._handover: queue.Queue[Notification] = queue.Queue(maxsize=batch_size * 4)
        self._subscription: Subscription[Any] | None = None
        self._threads: list[threading.Thread] = []

    @property
    def is_interrupted(self) -> threading.Event:
        """Set once the runner stopped: asked to, or on an error (see :meth:`run_forever`)."""
        return self._interrupted

    def __enter__(self) -> BatchingProjectionRunner[TApplication, TView]:
        self._subscription = self.app.recorder.subscribe(
            gt=self.view.max_tracking_id(self.app_name), topics=self.projection.topics
        )
        name = self.projection.name
        self._threads = [
            threading.Thread(target=self._read, name=f"projection-reader-{name}", daemon=True),
            threading.Thread(target=self._apply, name=f"projection-{name}", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop, wait for the threads and close the application; re-raises the error that
        stopped the runner, if any (as the library's runner does)."""
        self.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self.app.close()
        self.run_forever(timeout=0)

    def stop(self) -> None:
        self._stopped_by_caller = True
        self._interrupted.set()
        if self._subscription is not None:
            self._subscription.stop()

    def run_forever(self, timeout: float | None = None) -> None:
        """Block until the runner stopped (or ``timeout``); re-raise the error that stopped
        it (once)."""
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
            log.error(
                "projection stopped",
                exc_info=error,
                extra={"projection": self.projection.name},
            )
        self._interrupted.set()
        if self._subscription is not None:
            self._subscription.stop()

    def _read(self) -> None:
        """Hand the subscription's notifications to the applying thread (the queue is
        bounded: reading waits while applying is behind)."""
        subscription = self._subscription
        assert subscription is not None
        try:
            with subscription:
                for notification in subscription:
                    while not self._interrupted.is_set():
                        with contextlib.suppress(queue.Full):
                            self._handover.put(notification, timeout=0.5)
                            break
                    if self._interrupted.is_set():
                        return
        except BaseException as error:
            self._fail(error)

    def _apply(self) -> None:
        try:
            while not self._interrupted.is_set():
                batch = self._next_batch()
                if batch:
                    self._apply_batch(batch)
        except BaseException as error:
            self._fail(error)

    def _next_batch(self) -> list[Notification]:
        """What has been delivered, up to ``batch_size`` (waiting at most half a second for
        the first notification)."""
        try:
            batch = [self._handover.get(timeout=0.5)]
        except queue.Empty:
            return []
        with contextlib.suppress(queue.Empty):
            while len(batch) < self.batch_size:
                batch.append(self._handover.get_nowait())
        return batch

    def _apply_batch(self, batch: list[Notification]) -> None:
        """One transaction: every event's rows, and the batch's last position as the
        tracking record (also when the last events changed nothing)."""
        mapper = self.app.mapper
        with self.view.batched():
            for notification in batch:
                tracking = Tracking(self.app_name, notification.id)
                self.projection.process_event(mapper.to_domain_event(notification), tracking)
            self.view.insert_tracking(Tracking(self.app_name, batch[-1].id))
        self.applied += len(batch)
