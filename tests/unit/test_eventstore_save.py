"""``OutreachApplication.save`` repeats the library's ``save`` with a cheaper collection of
the events: these tests fail loudly when the library's code it repeats changes."""

from __future__ import annotations

import hashlib
import inspect
import textwrap

import pytest
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event

from shared.eventsourcing._library import Collected
from shared.eventsourcing.application import OutreachApplication

pytestmark = pytest.mark.unit

LIBRARY_CODE = {
    # The body that OutreachApplication.save repeats, and the collection it replaces.
    "Application.save": "90ffff529fa3",
    "ProcessingEvent.collect_events": "231f20663cad",
}


def fingerprint(function: object) -> str:
    source = textwrap.dedent(inspect.getsource(function))  # type: ignore[arg-type]
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def test_the_library_code_repeated_by_outreach_application_save_is_unchanged() -> None:
    found = {
        "Application.save": fingerprint(Application.save),
        "ProcessingEvent.collect_events": fingerprint(ProcessingEvent.collect_events),
    }
    assert found == LIBRARY_CODE, (
        "the eventsourcing library's save/collect_events changed: check that "
        "shared.eventsourcing.application.OutreachApplication.save and "
        "shared.eventsourcing._library.Collected still do what they do, "
        "then update LIBRARY_CODE"
    )


class Counter(Aggregate):
    @event("Counted")
    def count(self) -> None:
        pass


class CounterApp(OutreachApplication):
    name = "save_test"


def test_events_are_collected_as_the_library_collects_them() -> None:
    first, second = Counter(), Counter()
    second.count()
    ours, library = Collected(), ProcessingEvent[object]()
    ours.collect_events(first, None, second, extra=1)
    twin_first, twin_second = Counter(), Counter()
    twin_second.count()
    library.collect_events(twin_first, None, twin_second, extra=1)
    assert [type(e) for e in ours.events] == [type(e) for e in library.events]
    assert [e.originator_version for e in ours.events] == [1, 1, 2]
    assert list(ours.aggregates) == [first.id, second.id]
    assert ours.saved_kwargs == library.saved_kwargs == {"extra": 1}


def test_saved_aggregates_are_stored_and_read_back() -> None:
    app = CounterApp(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    counter = Counter()
    counter.count()
    recordings = app.save(counter)
    assert [r.notification.id for r in recordings] == [1, 2]
    assert app.repository.get(counter.id).version == 2
