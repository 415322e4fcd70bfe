"""The batching projection runner: a batch of events per transaction of the view, every
event applied exactly once, also across a failure in the middle of a batch and a restart."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from shared.eventstore import OutreachApplication, TrackedView, build_view, eventsourcing_env
from shared.projection_runner import BatchingProjectionRunner
from shared.runtime import Runtime, ServiceSpec, _start_runner, _supervise
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE, eventually

pytestmark = pytest.mark.integration


class Item(Aggregate):
    pass


class AppliedView(TrackedView):
    """One row per applied event (no key: an event applied twice shows as two rows)."""

    schema = (
        """CREATE TABLE IF NOT EXISTS projection_runner_applied (
            log text NOT NULL,
            notification_id bigint NOT NULL
        )""",
    )

    def add(self, tracking: Tracking) -> None:
        with self.tracked(tracking) as cursor:
            cursor.execute(
                "INSERT INTO projection_runner_applied (log, notification_id) VALUES (%s, %s)",
                (tracking.application_name, tracking.notification_id),
            )

    def applied(self, log: str) -> list[int]:
        rows = self.query(
            "SELECT notification_id FROM projection_runner_applied WHERE log = %s "
            "ORDER BY notification_id",
            (log,),
        )
        return [row["notification_id"] for row in rows]

    def tracking_records(self, log: str) -> int:
        rows = self.query(
            f"SELECT count(*) AS n FROM {self.tracking_table_name} WHERE application_name = %s",
            (log,),
        )
        return int(rows[0]["n"])


class AppliedProjection(Projection[AppliedView]):
    name = "projection_runner_test"
    fail_once_at: dict[str, int] = {}
    """Per log: the notification id whose first application fails."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        failing = self.fail_once_at.get(tracking.application_name)
        self.view.add(tracking)  # written before the failure: must be rolled back with it
        if failing == tracking.notification_id:
            del self.fail_once_at[tracking.application_name]
            raise RuntimeError(f"failing at {failing}")


def app_class() -> type[OutreachApplication]:
    """An application with a log of its own (the log's name is the application's)."""
    return type("RunnerTestApp", (OutreachApplication,), {"name": f"rt{uuid.uuid4().hex[:10]}"})


@pytest.fixture
def env(stack: ServiceSettings) -> dict[str, str]:
    return eventsourcing_env(stack, TEST_DATABASE)


@contextlib.contextmanager
def runner(
    app: type[OutreachApplication], env: dict[str, str], batch_size: int
) -> Iterator[BatchingProjectionRunner[Any, AppliedView]]:
    started: BatchingProjectionRunner[Any, AppliedView] = BatchingProjectionRunner(
        application_class=app,
        projection_class=AppliedProjection,
        view_class=AppliedView,
        env=env,
        batch_size=batch_size,
    )
    with started:
        yield started


def store(app_type: type[OutreachApplication], env: dict[str, str], count: int) -> list[int]:
    """``count`` new events, saved one by one; their notification ids."""
    app = app_type(env)
    try:
        for _ in range(count):
            app.save(Item())
        last = app.recorder.max_notification_id() or 0
        return [n.id for n in app.recorder.select_notifications(0, limit=10_000) if n.id <= last]
    finally:
        app.close()


def test_every_event_is_applied_once_across_batch_boundaries(env: dict[str, str]) -> None:
    app = app_class()
    before = store(app, env, 23)  # a backlog: several batches of 5 at once
    with runner(app, env, batch_size=5) as running:
        view = running.view
        eventually(lambda: view.applied(app.name) == before, what="the backlog applied")
        everything = store(app, env, 12)  # and new events while it runs
        eventually(lambda: view.applied(app.name) == everything, what="the new events applied")
        running.wait(everything[-1])
        assert running.applied == len(everything)
        # A batch per transaction: only the last position of each batch is recorded.
        assert view.tracking_records(app.name) < len(everything)
        assert view.max_tracking_id(app.name) == everything[-1]


def test_a_failure_mid_batch_rolls_the_batch_back_and_a_new_runner_resumes(
    env: dict[str, str],
) -> None:
    app = app_class()
    ids = store(app, env, 30)
    AppliedProjection.fail_once_at[app.name] = ids[13]
    with pytest.raises(RuntimeError, match="failing at"), runner(app, env, batch_size=10) as r:
        r.run_forever(timeout=20)
    view = r.view
    position = view.max_tracking_id(app.name) or 0
    assert position < ids[13]
    # Nothing of the failed batch is in the view: only what its tracking record covers.
    assert view.applied(app.name) == [i for i in ids if i <= position]

    with runner(app, env, batch_size=10) as again:  # as the supervisor does
        eventually(lambda: view.applied(app.name) == ids, what="the log applied after restart")
        assert again.applied == len([i for i in ids if i > position])
    assert view.applied(app.name) == ids  # each event exactly once


def test_the_supervisor_restarts_a_failed_runner(env: dict[str, str]) -> None:
    app = app_class()
    ids = store(app, env, 12)
    AppliedProjection.fail_once_at[app.name] = ids[6]
    spec = ServiceSpec(
        name="runner-test",
        title="runner test",
        description="",
        application=lambda e, _cipher: app(e),
        application_class=app,
        mapper=lambda _event: None,
        publishes=(),
        projections=[(AppliedProjection, AppliedView)],
    )
    first = _start_runner(spec, AppliedProjection, AppliedView, env)
    runtime = Runtime(*([None] * 9))  # type: ignore[arg-type]
    runtime.runners.append(first)
    view = first.view

    async def supervise() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(_supervise(runtime, spec, env, stopping))

        def applied_everything() -> bool:
            return view.applied(app.name) == ids

        await asyncio.to_thread(
            eventually, applied_everything, 30.0, 0.2, "the log applied after the restart"
        )
        stopping.set()
        await task

    try:
        asyncio.run(supervise())
        assert runtime.runners[0] is not first  # restarted
        assert view.applied(app.name) == ids
    finally:
        for running in runtime.runners:
            running.stop()
            with contextlib.suppress(Exception):
                running.__exit__(None, None, None)


def test_the_batch_records_its_position_while_results_of_its_statements_arrive(
    env: dict[str, str],
) -> None:
    """In a batch the statements are pipelined; the results of earlier ones arrive while
    later ones are sent. Recording the position reads the result of its own statement, not
    one of those (which failed with "the last operation didn't produce records")."""
    log = f"rt{uuid.uuid4().hex[:10]}"
    view = build_view(AppliedView, env, AppliedProjection.name)
    for batch in range(1, 4):
        with view.batched():
            for n in range(2000):  # enough results for the server to send some meanwhile
                view.add(Tracking(log, batch * 10_000 + n))
            time.sleep(0.2)  # they arrive before the position is recorded
    assert view.max_tracking_id(log) == 3 * 10_000 + 1999
    assert len(view.applied(log)) == 3 * 2000
