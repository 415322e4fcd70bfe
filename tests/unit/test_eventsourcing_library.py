"""The eventsourcing library as ``shared.eventsourcing._library`` uses it: the installed version
is the one the adapter was checked against, and every private name, attribute and signature
the adapter relies on is still there. An upgrade of the library fails here first."""

from __future__ import annotations

import importlib.metadata
import inspect
from typing import Any

import pytest
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.postgres import (
    PostgresDatastore,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)

from shared.eventsourcing import _library

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


def test_events_go_in_binary_through_the_library_statement() -> None:
    recorder = PostgresProcessRecorder(OfflineDatastore(), events_table_name="x_events")
    before = recorder.insert_events_statement.as_string()
    _library.send_events_in_binary(recorder)
    assert recorder.insert_events_statement.as_string() == before.replace(
        "unnest(%s::", "unnest(%b::"
    )


def test_the_collected_events_are_held_where_the_library_reads_them() -> None:
    processing = ProcessingEvent[object]()
    assert processing.events == []
    assert processing.aggregates == {}
    assert processing.saved_kwargs == {}
    assert processing.tracking is None
    assert parameters(ProcessingEvent.__init__) == ["self", "tracking"]
