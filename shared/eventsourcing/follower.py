"""Following an event log: a :class:`LogFollower` reads the log in the thread that consumes it
(a projection runner's, :mod:`shared.eventsourcing.runner`; the relay's, in a worker thread of
its loop, :mod:`shared.messaging.relay`), a batch at a time, woken by ``NOTIFY``.

One ``LISTEN`` per process and log (:class:`_Listener`), on a connection of its own to
PostgreSQL itself (:func:`~shared.database.direct_connection`: a pooler in transaction mode
would hand the pool's connection to other clients between statements), wakes every follower
of that log. The library's subscription has a listening thread and a reading thread of its
own for every follower, and a follower in a thread of its own needs one more to take the
reads over: four threads woken, in turn, for every follower at every save; here one thread is
woken per save and each follower's own thread reads (bench/README.md, *One listener per
process*).

A follower of some topics moves past the events of other topics as it reads (see
:meth:`LogFollower._read`); the library's subscription moves only to the last event of its
topics it was given, so a follower of rare events (the data protection view: erasures,
legal holds) would read the whole log again after its last such event at every save.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from eventsourcing.persistence import ApplicationRecorder, Notification
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

from shared.database import direct_address, direct_connection
from shared.eventsourcing._library import notify_channel

LISTEN_START_SECONDS = 30.0
"""How long :meth:`LogFollower.start` waits for the listener's connection (each attempt to
connect gives up sooner: ``shared.database.CONNECT_TIMEOUT_SECONDS``)."""


class LogFollower:
    """Reads ``recorder``'s log after ``gt`` (of ``topics``, or all), up to ``batch_size``
    notifications a read, in the thread that calls :meth:`next_batch`.

    :meth:`start` it before the first read (it then sees every save from there on); a
    follower whose listener failed raises that error from :meth:`next_batch` and is done
    (its consumer starts over from its recorded position with a new one)."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        *,
        gt: int | None = None,
        topics: Sequence[str] = (),
        batch_size: int = 500,
    ) -> None:
        if not isinstance(recorder, PostgresApplicationRecorder):
            raise TypeError(f"not a log on PostgreSQL: {type(recorder).__name__}")
        self.batch_size = batch_size
        self._recorder = recorder
        self._topics = list(topics)
        self._last = gt or 0
        self._woken = threading.Event()
        self._woken.set()  # the first read needs no notification
        self._stopped = False
        self._listener: _Listener | None = None
        self._past_its_topics = False
        """Whether the last read found none of the follower's events (the next one then asks
        where the log ends first, so that it can move there)."""

    def __enter__(self) -> LogFollower:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        """Join the process's listener of the log, once it listens (raises what keeps it
        from listening). A follower stopped meanwhile, from another thread (a runner stopped
        as its thread starts, a relay cancelled), leaves again at once."""
        listener = self._listener = _Listener.join(self._recorder, self)
        if self._stopped:
            listener.leave(self)
            return
        listener.wait_listening(self)

    def stop(self) -> None:
        """Leave the listener; a :meth:`next_batch` waiting returns at once (empty)."""
        self._stopped = True
        if self._listener is not None:
            self._listener.leave(self)
        self._woken.set()

    def wake(self) -> None:
        """New events may be in the log (the listener's call)."""
        self._woken.set()

    def next_batch(self, wait: float = 0.5) -> list[Notification]:
        """The next notifications (up to ``batch_size``), once the log has any: waits at most
        ``wait`` seconds for a save, else returns none. Blocks (an asyncio caller runs it in a
        thread)."""
        if self._stopped or not self._woken.wait(wait):
            return []
        if self._listener is not None and self._listener.error is not None:
            raise self._listener.error
        self._woken.clear()  # a save from here on wakes the next call
        batch = self._read()
        if len(batch) == self.batch_size:
            self._woken.set()  # a full page: there may be more
        return batch

    def _read(self) -> list[Notification]:
        """What was recorded after the last read. A follower of some topics whose last read
        found none of its events first asks where the log ends and reads up to there: every
        event up to it is committed (the library's writes take the table lock, so events
        commit in the order of their ids), so once fewer than a page of those are of its
        topics, it has read past all of them. (One more query, so only while its events are
        rare: one that keeps finding its events moves past the others with each one.)"""
        end = (
            self._recorder.max_notification_id() if self._topics and self._past_its_topics else None
        )
        if end is not None and end <= self._last:
            return []
        batch: list[Notification] = self._recorder.select_notifications(
            start=self._last,
            limit=self.batch_size,
            stop=end,
            topics=self._topics,
            inclusive_of_start=False,
        )
        self._past_its_topics = not batch
        if batch:
            self._last = batch[-1].id
        if end is not None and len(batch) < self.batch_size:
            self._last = end
        return batch


class _Listener:
    """One ``LISTEN`` of a log for every follower of it in the process: a thread that wakes
    them all at each notification. It ends when its last follower leaves, or on an error
    (its followers raise it; the next follower of the log starts a new listener)."""

    _listening_to: ClassVar[dict[tuple[str, str, str], _Listener]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, key: tuple[str, str, str], pool: ConnectionPool[Any], channel: str) -> None:
        self.error: BaseException | None = None
        self._key = key
        self._pool = pool
        self._channel = channel
        self._followers: set[LogFollower] = set()
        self._listening = threading.Event()
        self._ending = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=f"listen-{channel}", daemon=True)

    @classmethod
    def join(cls, recorder: PostgresApplicationRecorder, follower: LogFollower) -> _Listener:
        """The listener of ``recorder``'s log (started if there is none), with ``follower``."""
        pool = recorder.datastore.pool
        channel = notify_channel(recorder)
        conninfo, kwargs = direct_address(pool)
        key = (conninfo, repr(sorted(kwargs.items())), channel)
        with cls._lock:
            listener = cls._listening_to.get(key)
            if listener is None:
                listener = cls._listening_to[key] = _Listener(key, pool, channel)
                listener._thread.start()
            listener._followers.add(follower)
        return listener

    def wait_listening(self, follower: LogFollower) -> None:
        if not self._listening.wait(LISTEN_START_SECONDS):
            self.leave(follower)
            raise TimeoutError(f"no LISTEN of {self._channel} after {LISTEN_START_SECONDS} s")
        if self.error is not None:
            self.leave(follower)
            raise self.error

    def leave(self, follower: LogFollower) -> None:
        with self._lock:
            self._followers.discard(follower)
            if not self._followers:
                self._retire()

    def _retire(self) -> None:
        """No longer the listener new followers join (called holding the lock)."""
        if self._listening_to.get(self._key) is self:
            del self._listening_to[self._key]
        self._ending.set()

    def _wake_all(self) -> None:
        with self._lock:
            followers = list(self._followers)
        for follower in followers:
            follower.wake()

    def _listen(self) -> None:
        try:
            with direct_connection(self._pool) as conn:
                conn.execute(SQL("LISTEN {0}").format(Identifier(self._channel)))
                self._listening.set()
                while not self._ending.is_set():
                    for _ in conn.notifies(timeout=0.1, stop_after=1):
                        self._wake_all()
        except BaseException as error:  # raised by every follower's next read
            self.error = error
            with self._lock:
                self._retire()
            self._listening.set()
            self._wake_all()
