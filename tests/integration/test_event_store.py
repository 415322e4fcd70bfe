"""The service's event store on PostgreSQL: what the relay and the consumers rely on."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic
from psycopg.types.array import ListBinaryDumper

from shared.eventsourcing.application import OutreachApplication
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


def test_a_reader_following_the_log_sees_every_event_of_concurrent_saves(app: TallyApp) -> None:
    """Saves commit in the order of their notification ids, so a reader that continues after
    the last id it saw never passes over one that commits later (the relay is such a reader)."""
    start = app.recorder.max_notification_id() or 0
    seen: list[int] = []
    subscription = app.recorder.subscribe(gt=start)

    def read() -> None:
        with subscription:
            seen.extend(notification.id for notification in subscription)

    def save_many() -> None:
        for _ in range(30):
            app.save(Tally())

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=save_many) for _ in range(6)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    last = app.recorder.max_notification_id()
    eventually(lambda: last in seen, what="the last event read")
    subscription.stop()
    reader.join()

    stored = [n.id for n in app.recorder.select_notifications(start + 1, limit=1000)]
    assert len(stored) == 180
    assert seen == stored


def test_a_reader_of_some_topics_sees_every_event_of_them_among_concurrent_saves(
    app: TallyApp,
) -> None:
    """A projection reads only its events' topics, and reads past the others' as it goes:
    none of its events is passed over while other events commit around them."""
    start = app.recorder.max_notification_id() or 0
    seen: list[int] = []
    subscription = app.recorder.subscribe(gt=start, topics=[get_topic(Rarity.Created)])

    def read() -> None:
        with subscription:
            seen.extend(notification.id for notification in subscription)

    def save_many(aggregate: type[Aggregate]) -> None:
        for _ in range(30):
            app.save(aggregate())

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=save_many, args=(kind,)) for kind in (Tally, Rarity) * 3]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    stored = app.recorder.select_notifications(
        start + 1, limit=1000, topics=[get_topic(Rarity.Created)]
    )
    eventually(lambda: stored[-1].id in seen, what="the last event of the topic read")
    subscription.stop()
    reader.join()

    assert len(stored) == 90
    assert seen == [n.id for n in stored]


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
    subscription = app.recorder.subscribe(gt=gt, topics=[get_topic(Rarity.Created)])
    with subscription:
        for _ in range(20):
            app.save(Tally())
        last = app.recorder.max_notification_id() or 0

        def read_past_them() -> bool:
            app.save(Tally())  # a notification, read from where the reader got to
            return bool(starts) and starts[-1] >= last

        eventually(read_past_them, what="a read starting after the saves")
        subscription.stop()

    assert last > gt + 19


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
