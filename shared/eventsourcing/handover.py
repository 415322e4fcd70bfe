"""Following an event log from a thread: the library's subscription is a blocking iterator
(woken by ``NOTIFY``), so a reader thread hands its notifications over through a bounded
queue, and the consumer takes them a batch at a time — one hop between thread and consumer
per batch, not per event. Bounded: the reader waits while the consumer is behind.

Used by the projection runner (:mod:`shared.eventsourcing.runner`, a thread that applies) and
the relay (:mod:`shared.messaging.relay`, an asyncio loop that publishes).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

from eventsourcing.persistence import Notification, Subscription


class Handover:
    """A reader thread over ``subscription`` and the batches it hands over."""

    def __init__(
        self,
        subscription: Subscription[Any],
        *,
        batch_size: int,
        name: str,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.error: BaseException | None = None
        """What stopped the reader, if anything did (also given to ``on_error``)."""
        self._subscription = subscription
        self._on_error = on_error
        self._queue: queue.Queue[Notification] = queue.Queue(maxsize=batch_size * 4)
        self._reading = threading.Event()
        self._thread = threading.Thread(target=self._read, name=name, daemon=True)

    def start(self) -> None:
        self._reading.set()
        self._thread.start()

    def stop(self) -> None:
        """Stop reading (the thread ends within half a second, or at the next event)."""
        self._reading.clear()
        self._subscription.stop()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def next_batch(self, wait: float = 0.5) -> list[Notification]:
        """Up to ``batch_size`` notifications once the first one arrived (waiting at most
        ``wait`` seconds for it; blocks, so an asyncio caller runs it in a thread)."""
        try:
            first = self._queue.get(timeout=wait)
        except queue.Empty:
            return []
        return self.take([first])

    def take(self, batch: list[Notification]) -> list[Notification]:
        """``batch`` with what is waiting, up to ``batch_size`` (no waiting)."""
        with contextlib.suppress(queue.Empty):
            while len(batch) < self.batch_size:
                batch.append(self._queue.get_nowait())
        return batch

    def _read(self) -> None:
        try:
            with self._subscription:
                for notification in self._subscription:
                    while self._reading.is_set():
                        with contextlib.suppress(queue.Full):
                            self._queue.put(notification, timeout=0.5)
                            break
                    if not self._reading.is_set():
                        return
        except BaseException as error:  # surfaced to the consumer: on_error, or .error
            self.error = error
            if self._on_error is not None:
                self._on_error(error)
