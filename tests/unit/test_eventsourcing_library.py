"""The eventsourcing library as ``shared.eventsourcing._library`` uses it: the installed version
is the one the adapter was checked against, and every private name, attribute and signature
the adapter relies on is still there. An upgrade of the library fails here first."""

from __future__ import annotations

import importlib.metadata
import inspect
import uuid
from typing import Any

import psycopg
import pytest
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresProcessRecorder,
    PostgresSubscription,
    PostgresTrackingRecorder,
)
from psycopg import pq
from psycopg.adapt import AdaptersMap, PyFormat, Transformer
from psycopg.types.composite import CompositeInfo, register_composite

from shared.eventsourcing import _library
from shared.eventsourcing.binary_events import STORED_EVENT_FIELDS, StoredEventsDumper

pytestmark = pytest.mark.unit


def parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


class OfflineDatastore(PostgresDatastore):
    """A datastore that never connects (the recorders build their statements without it)."""

    def __init__(self) -> None:
        super().__init__("db", "127.0.0.1", 9, "user", "password")

    def register_type_adapters(self) -> None:
        """(Would ask the database for its composite types.)"""


def test_the_installed_library_is_the_version_the_adapter_was_checked_against() -> None:
    assert importlib.metadata.version("eventsourcing") == _library.LIBRARY_VERSION, (
        "the eventsourcing library was upgraded: check every function of "
        "shared/eventsourcing/_library.py against it, then move LIBRARY_VERSION"
    )


def test_the_private_methods_the_adapter_calls_take_what_it_passes() -> None:
    assert parameters(Application._record) == ["self", "processing_event"]
    assert parameters(Application._take_snapshots) == ["self", "processing_event"]
    assert parameters(Application._notify) == ["self", "recordings"]
    assert parameters(PostgresTrackingRecorder._insert_tracking) == ["self", "curs", "tracking"]
    hooked = PostgresProcessRecorder._insert_events
    assert parameters(hooked) == ["self", "curs", "stored_events", "kwargs"]


def test_the_process_recorder_hook_is_where_the_library_records_tracking() -> None:
    """The hook runs in the library's insert transaction because the library's process
    recorder writes its own tracking record there, in ``_insert_events``."""
    source = inspect.getsource(PostgresProcessRecorder._insert_events)
    assert "self._insert_tracking(curs" in source
    assert "_insert_events(curs" in inspect.getsource(PostgresProcessRecorder.insert_events)


def test_the_channel_the_followers_listen_to_is_the_one_the_recorder_notifies() -> None:
    """``notify_channel`` is the attribute the library's recorder ``NOTIFY``s (and its own
    subscription ``LISTEN``s) to; the followers read with the public ``select_notifications``."""
    recorder = PostgresProcessRecorder(
        OfflineDatastore(), events_table_name="x_events", tracking_table_name="x_tracking"
    )
    assert _library.notify_channel(recorder) == "x_events"
    notify = inspect.getsource(PostgresApplicationRecorder._notify_channel)
    assert 'SQL("NOTIFY {0}").format(Identifier(self.channel_name))' in notify
    inserting = inspect.getsource(PostgresApplicationRecorder._insert_stored_events)
    assert "self._notify_channel(curs)" in inserting
    assert "self._recorder.channel_name" in inspect.getsource(PostgresSubscription._listen)
    assert parameters(PostgresProcessRecorder.select_notifications) == [
        "self",
        "start",
        "limit",
        "stop",
        "topics",
        "inclusive_of_start",
    ]


def test_the_retrying_recorder_methods_can_be_taken_without_their_retry() -> None:
    for method in (
        PostgresProcessRecorder.insert_events,
        PostgresProcessRecorder.select_notifications,
        PostgresTrackingRecorder.max_tracking_id,
        PostgresTrackingRecorder.has_tracking_id,
    ):
        unwrapped = _library.attempted_once(method)
        assert unwrapped is not method, f"{method.__qualname__} is no longer retried"
        assert parameters(unwrapped) == parameters(method)


def test_the_recorders_statements_the_adapter_reads_have_the_expected_shape() -> None:
    recorder = PostgresProcessRecorder(
        OfflineDatastore(), events_table_name="x_events", tracking_table_name="x_tracking"
    )
    position = _library.max_tracking_id_query(recorder).as_string()
    assert position == (
        'SELECT MAX(notification_id) FROM "public"."x_tracking" WHERE application_name=%s'
    )
    assert "unnest(%s::" in recorder.insert_events_statement.as_string()
    created = " ".join(statement.as_string() for statement in recorder.sql_create_statements)
    assert '"x_tracking" (application_name text, notification_id bigint' in created
    assert recorder.datastore.schema == "public"


def test_a_saves_stored_events_are_dumped_in_binary_and_every_other_list_as_before() -> None:
    class Context:
        adapters = AdaptersMap(psycopg.adapters)
        connection = None

    Context.adapters.register_dumper(list, StoredEventsDumper)
    info = CompositeInfo(
        "stored_event_uuid",
        90001,
        90002,
        field_names=list(STORED_EVENT_FIELDS),
        field_types=[2950, 20, 25, 17],  # uuid, bigint, text, bytea
    )
    register_composite(info, Context)
    assert info.python_type is not None
    events = [info.python_type(uuid.uuid4(), 1, "topic", b"\x00'\"{},")]
    ours, plain = Transformer(Context), Transformer()

    sent = ours.get_dumper(events, PyFormat.AUTO)
    binary = ours.get_dumper(events, PyFormat.BINARY)
    assert sent.format == pq.Format.BINARY
    assert sent.dump(events) == binary.dump(events)
    for other in (["a", "b"], [1, 2], [uuid.uuid4()], []):
        assert ours.get_dumper(other, PyFormat.AUTO).format == pq.Format.TEXT
        assert (
            ours.get_dumper(other, PyFormat.AUTO).oid == plain.get_dumper(other, PyFormat.AUTO).oid
        )


def test_the_collected_events_are_held_where_the_library_reads_them() -> None:
    processing = ProcessingEvent[object]()
    assert processing.events == []
    assert processing.aggregates == {}
    assert processing.saved_kwargs == {}
    assert processing.tracking is None
    assert parameters(ProcessingEvent.__init__) == ["self", "tracking"]
