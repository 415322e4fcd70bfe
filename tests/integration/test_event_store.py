"""The service's event store on PostgreSQL: what the relay and the consumers rely on."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
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
