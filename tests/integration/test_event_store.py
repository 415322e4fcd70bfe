"""The service's event store on PostgreSQL: what the relay and the consumers rely on."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic
from psycopg.types.array import ListBinaryDumper

from shared.eventsourcing._library import notify_channel
from shared.eventsourcing.application import OutreachApplication
from shared.eventsourcing.follower import LogFollower
from shared.eventsourcing.persistence import eventsourcing_env
from shared.messaging.processed import delivery
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE, eventually

pytestmark = pytest.mark.integration


class Tally(Aggregate):
    @event("Counted")
    def count(self) -> None:
        pass


class Rarity(Aggregate):
    """An aggregate of another topic than :class:`Tally`'s."""


class TallyApp(OutreachApplication):
    name = "event_store_test"


@pytest.fixture(scope="module")
def app(stack: ServiceSettings) -> Any:
    application = TallyApp(eventsourcing_env(stack, TEST_DATABASE))
    yield application
    application.close()


def test_an_effect_saved_with_its_tracking_record_is_not_saved_again(app: TallyApp) -> None:
    tracking = Tracking(application_name=f"test-consumer/{uuid.uuid4()}", notification_id=1)
    tally = Tally()

    assert app.save_tracked(tracking, tally) is True
    assert app.recorder.has_tracking_id(tracking.application_name, 1)
    tally.count()  # the same event delivered again would change the aggregate again
    assert app.save_tracked(tracking, tally) is False
    assert len(app.recorder.select_events(tally.id)) == 1


def test_a_consumed_message_is_recorded_in_processed_messages_with_its_effect(
    app: TallyApp,
) -> None:
    message = delivery("test-consumer", uuid.uuid4(), topic="t", partition=2, offset=40)
    tally = Tally()

    assert app.save_tracked(message, tally) is True
    tally.count()  # the same message delivered again would change the aggregate again
    assert app.save_tracked(message, tally) is False

    assert len(app.recorder.select_events(tally.id)) == 1
    with app.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            b'SELECT topic, partition, "offset" FROM processed_messages '
            b"WHERE consumer = %s AND message_id = %s",
            (message.consumer, message.message_id),
        )
        assert cursor.fetchall() == [{"topic": "t", "partition": 2, "offset": 40}]
    assert app.recorder.max_tracking_id(message.application_name) is None  # not in tracking


class Reading:
    """A follower of ``app``'s log read in a thread of its own, as a projection runner does."""

    def __init__(self, app: TallyApp, topics: Sequence[str] = ()) -> None:
        self.follower = LogFollower(
            app.recorder, gt=app.recorder.max_notification_id(), topics=topics, batch_size=20
        )
        self.seen: list[int] = []
        self.error: BaseException | None = None
        self._reading = threading.Event()
        self._thread = threading.Thread(target=self._read)

    def __enter__(self) -> Reading:
        self.follower.start()
        self._reading.set()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._reading.clear()
        self.follower.stop()
        self._thread.join(timeout=10)

    def _read(self) -> None:
        try:
            while self._reading.is_set():
                self.seen.extend(n.id for n in self.follower.next_batch())
        except BaseException as error:
            self.error = error


def saving_concurrently(app: TallyApp, *kinds: type[Aggregate], each: int = 30) -> None:
    def save_many(kind: type[Aggregate]) -> None:
        for _ in range(each):
            app.save(kind())

    writers = [threading.Thread(target=save_many, args=(kind,)) for kind in kinds]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()


def test_a_reader_following_the_log_sees_every_event_of_concurrent_saves(app: TallyApp) -> None:
    """Saves commit in the order of their notification ids, so a reader that continues after
    the last id it saw never passes over one that commits later (the relay is such a reader)."""
    start = app.recorder.max_notification_id() or 0
    with Reading(app) as reading:
        saving_concurrently(app, *[Tally] * 6)
        last = app.recorder.max_notification_id()
        eventually(lambda: last in reading.seen, what="the last event read")

    stored = [n.id for n in app.recorder.select_notifications(start + 1, limit=1000)]
    assert len(stored) == 180
    assert reading.seen == stored


def test_a_reader_of_some_topics_sees_every_event_of_them_among_concurrent_saves(
    app: TallyApp,
) -> None:
    """A projection reads only its events' topics, and reads past the others' as it goes:
    none of its events is passed over while other events commit around them."""
    start = app.recorder.max_notification_id() or 0
    with Reading(app, topics=[get_topic(Rarity.Created)]) as reading:
        saving_concurrently(app, *(Tally, Rarity) * 3)
        stored = app.recorder.select_notifications(
            start + 1, limit=1000, topics=[get_topic(Rarity.Created)]
        )
        eventually(lambda: stored[-1].id in reading.seen, what="the last event of the topic read")

    assert len(stored) == 90
    assert reading.seen == [n.id for n in stored]


def test_a_reader_of_a_rare_topic_does_not_read_the_log_again_at_every_save(
    app: TallyApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each notification reads only what was recorded since the one before, also when none
    of it is of the reader's topic (else a projection of rare events, the data protection
    view, would scan the whole log after its last event at every save)."""
    starts: list[int] = []
    select = app.recorder.select_notifications

    def selecting(start: int, *args: Any, **kwargs: Any) -> Any:
        starts.append(start)
        return select(start, *args, **kwargs)

    monkeypatch.setattr(app.recorder, "select_notifications", selecting)
    gt = app.recorder.max_notification_id() or 0
    with Reading(app, topics=[get_topic(Rarity.Created)]) as reading:
        for _ in range(20):
            app.save(Tally())
        last = app.recorder.max_notification_id() or 0

        def read_past_them() -> bool:
            app.save(Tally())  # a notification, read from where the reader got to
            return bool(starts) and starts[-1] >= last

        eventually(read_past_them, what="a read starting after the saves")

    assert last > gt + 19
    assert reading.seen == []
    assert reading.error is None


def test_the_followers_of_a_log_in_one_process_share_one_listen(app: TallyApp) -> None:
    """Every follower of the log is woken by one ``LISTEN`` of the process (one connection,
    one thread), however many follow it; a save wakes them all."""
    with Reading(app) as first, Reading(app) as second, Reading(app, ["t"]) as third:
        app.save(Tally())
        last = app.recorder.max_notification_id()
        eventually(
            lambda: last in first.seen and last in second.seen, what="both followers read it"
        )
        assert first.follower._listener is second.follower._listener is third.follower._listener
        assert listening_to(app) == 1
    eventually(lambda: listening_to(app) == 0, what="the LISTEN ended with its last follower")


def test_a_follower_whose_listen_was_cut_raises_it_and_a_new_one_listens_again(
    app: TallyApp,
) -> None:
    """A lost ``LISTEN`` connection stops its followers with the error (each consumer
    starts over from its recorded position); the next follower listens on a new one."""
    with Reading(app) as cut:
        with app.recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query = %s AND datname = current_database()",
                (listen_statement(app),),
            )
        app.save(Tally())
        eventually(lambda: cut.error is not None, what="the follower's error")
    with Reading(app) as again:
        app.save(Tally())
        last = app.recorder.max_notification_id()
        eventually(lambda: last in again.seen, what="the new follower read the save")


def test_a_stopped_follower_returns_at_once_from_its_wait(app: TallyApp) -> None:
    follower = LogFollower(app.recorder, gt=app.recorder.max_notification_id())
    with follower:
        assert follower.next_batch(wait=0.1) == []  # nothing new: waited for a save
        threading.Timer(0.2, follower.stop).start()
        assert follower.next_batch(wait=30) == []  # stopped: no longer waits


def test_a_follower_stopped_before_it_started_keeps_no_listen(app: TallyApp) -> None:
    """A runner stopped while its thread starts (or a relay cancelled) stops its follower
    before that follower joins the listener: the listener is not kept for it."""
    follower = LogFollower(app.recorder, gt=app.recorder.max_notification_id())
    follower.stop()
    follower.start()
    assert follower.next_batch(wait=0.1) == []
    eventually(lambda: listening_to(app) == 0, what="no LISTEN kept for a stopped follower")


def listen_statement(app: TallyApp) -> str:
    return f'LISTEN "{notify_channel(app.recorder)}"'


def listening_to(app: TallyApp) -> int:
    """Connections of this database whose last statement is the ``LISTEN`` of ``app``'s log."""
    with app.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            "SELECT count(*) AS n FROM pg_stat_activity"
            " WHERE query = %s AND datname = current_database()",
            (listen_statement(app),),
        )
        row = cursor.fetchone()
    return int(row["n"]) if row else 0


def test_a_save_sends_its_events_to_postgresql_in_binary_and_reads_them_back(
    app: TallyApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    dumped: list[int] = []
    binary_dump = ListBinaryDumper.dump

    def spy(self: ListBinaryDumper, obj: list[Any]) -> Any:
        dumped.append(len(obj))
        return binary_dump(self, obj)

    monkeypatch.setattr(ListBinaryDumper, "dump", spy)
    tallies = [Tally() for _ in range(3)]
    for tally in tallies:
        tally.count()

    app.save(*tallies)

    assert dumped == [6]  # one array of the six new events, in binary
    for tally in tallies:
        assert [e.originator_version for e in app.recorder.select_events(tally.id)] == [1, 2]
