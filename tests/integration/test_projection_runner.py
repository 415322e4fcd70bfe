"""The batching projection runner: a batch of events per transaction of the view, every
event applied exactly once or parked exactly once, also across a failure in the middle of a
batch, a poison event, the database going away and a restart."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing import persistence
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from deploy.local import pgbouncer
from shared.eventsourcing import parking, retry
from shared.eventsourcing._library import forget_tracking
from shared.eventsourcing.application import OutreachApplication
from shared.eventsourcing.applier import ViewMoved
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.runner import BatchingProjectionRunner
from shared.eventsourcing.views import TrackedView, build_view
from shared.runtime.supervision import ProjectionRunners
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE, eventually

pytestmark = pytest.mark.integration


class Item(Aggregate):
    @event("Touched")
    def touch(self) -> None:
        pass


class AppliedView(TrackedView):
    """One row per applied event (no key: an event applied twice shows as two rows)."""

    schema = (
        """CREATE TABLE IF NOT EXISTS projection_runner_applied (
            log text NOT NULL,
            notification_id bigint NOT NULL
        )""",
        # The order rows were written in (to tell the order events were applied in).
        "ALTER TABLE projection_runner_applied ADD COLUMN IF NOT EXISTS seq bigserial",
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

    def applied_in_order(self, log: str) -> list[int]:
        """In the order the rows were written."""
        rows = self.query(
            "SELECT notification_id FROM projection_runner_applied WHERE log = %s ORDER BY seq",
            (log,),
        )
        return [row["notification_id"] for row in rows]

    def tracking_records(self, log: str) -> int:
        rows = self.query(
            f"SELECT count(*) AS n FROM {self.tracking_table_name} WHERE application_name = %s",
            (log,),
        )
        return int(rows[0]["n"])

    def parked(self, log: str, *, include_resolved: bool = False) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as cursor:
            rows = parking.listing(
                cursor,
                projection=AppliedProjection.name,
                include_resolved=include_resolved,
                limit=10_000,
            )
        return [row for row in rows if row["application_name"] == log]


Failure = Callable[[int], BaseException]


class AppliedProjection(Projection[AppliedView]):
    name = "projection_runner_test"
    failures: dict[tuple[str, int], tuple[Failure, int]] = {}
    """Per (log, notification id): what its application raises, and how many times more."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        key = (tracking.application_name, tracking.notification_id)
        self.view.add(tracking)  # written before the failure: must be rolled back with it
        failure = self.failures.get(key)
        if failure is not None:
            make, times = failure
            if times <= 1:
                del self.failures[key]
            else:
                self.failures[key] = (make, times - 1)
            raise make(tracking.notification_id)


def fail(log: str, notification_id: int, make: Failure, times: int = 1_000_000) -> None:
    AppliedProjection.failures[(log, notification_id)] = (make, times)


def heal(log: str) -> None:
    for key in [k for k in AppliedProjection.failures if k[0] == log]:
        del AppliedProjection.failures[key]


def app_class() -> type[OutreachApplication]:
    """An application with a log of its own (the log's name is the application's)."""
    return type("RunnerTestApp", (OutreachApplication,), {"name": f"rt{uuid.uuid4().hex[:10]}"})


@pytest.fixture
def env(stack: ServiceSettings) -> dict[str, str]:
    return eventsourcing_env(stack, TEST_DATABASE)


@contextlib.contextmanager
def runner(
    app: type[OutreachApplication], env: dict[str, str], batch_size: int
) -> Iterator[BatchingProjectionRunner]:
    view = build_view(AppliedView, env, AppliedProjection.name)
    started = BatchingProjectionRunner(
        application_class=app, projection=AppliedProjection(view), env=env, batch_size=batch_size
    )
    with started:
        yield started


def store(app_type: type[OutreachApplication], env: dict[str, str], count: int) -> list[int]:
    """``count`` new events, saved one by one; the notification ids of the whole log."""
    app = app_type(env)
    try:
        for _ in range(count):
            app.save(Item())
        return log_of(app)
    finally:
        app.close()


def log_of(app: OutreachApplication) -> list[int]:
    last = app.recorder.max_notification_id() or 0
    return [n.id for n in app.recorder.select_notifications(0, limit=10_000) if n.id <= last]


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


def test_an_event_failing_once_mid_batch_is_applied_alone_and_nothing_is_parked(
    env: dict[str, str],
) -> None:
    app = app_class()
    ids = store(app, env, 30)
    fail(app.name, ids[13], lambda n: RuntimeError(f"failing at {n}"), times=1)
    with runner(app, env, batch_size=10) as running:
        view = running.view
        eventually(lambda: view.applied(app.name) == ids, what="the log applied")
        assert not running.is_interrupted.is_set()
        assert running.applied == len(ids)
    # The failed batch was rolled back (its rows too) and applied again one by one.
    assert view.applied(app.name) == ids
    assert view.parked(app.name) == []


def test_a_poison_event_is_parked_and_every_other_event_is_applied_once(
    env: dict[str, str],
) -> None:
    app = app_class()
    ids = store(app, env, 30)
    poison = ids[13]
    fail(app.name, poison, lambda _: ZeroDivisionError("a value 4711 of the event"))
    try:
        with runner(app, env, batch_size=10) as running:
            view = running.view
            later = store(app, env, 5)  # and the log goes on
            eventually(
                lambda: view.applied(app.name) == [i for i in later if i != poison],
                what="every event but the poison applied",
            )
            running.wait(later[-1])
            assert not running.is_interrupted.is_set()
            assert running.status()["parked"] == 1
            assert running.status()["position"] == later[-1]
    finally:
        heal(app.name)
    [parked] = view.parked(app.name)
    assert parked["notification_id"] == poison
    assert parked["topic"].endswith("Item.Created")
    assert parked["error_class"] == "ZeroDivisionError"
    assert parked["held_behind"] is None
    assert (
        "ZeroDivisionError raised at tests/integration/test_projection_runner.py"
        in (parked["error"])
    )
    assert "4711" not in parked["error"]  # the error's text may quote the event's data


def test_later_events_of_a_parked_events_aggregate_wait_behind_it_and_a_retry_applies_them_in_order(
    env: dict[str, str],
) -> None:
    app_type = app_class()
    app = app_type(env)
    poisoned, other = Item(), Item()
    app.save(poisoned, other)
    first = log_of(app)
    fail(app_type.name, first[0], lambda _: ValueError("not yet"))
    try:
        with runner(app_type, env, batch_size=10) as running:
            view = running.view
            eventually(lambda: view.applied(app_type.name) == [first[1]], what="the other one")
            poisoned.touch()
            other.touch()
            app.save(poisoned)
            app.save(other)
            poisoned.touch()
            app.save(poisoned)
            everything = log_of(app)
            running.wait(everything[-1], timeout=20)
            # The other aggregate flows; the poisoned one's later events wait behind it.
            held = [everything[2], everything[4]]
            assert view.applied(app_type.name) == [first[1], everything[3]]
            parked = view.parked(app_type.name)
            assert [p["notification_id"] for p in parked] == [first[0], *held]
            assert [p["held_behind"] for p in parked] == [None, first[0], first[0]]
            assert [p["error_class"] for p in parked] == ["ValueError", None, None]

            # Retried while the failure persists: nothing is applied, nothing moves.
            again = retry.retry_parked(
                running.projection,
                app_type.name,
                lambda n: read_notification(app, n),
                app.mapper.to_domain_event,
            )
            assert again.applied == []
            assert again.still_parked == [first[0], *held]
            assert view.applied(app_type.name) == [first[1], everything[3]]

            heal(app_type.name)  # the fix
            result = retry.retry_parked(
                running.projection,
                app_type.name,
                lambda n: read_notification(app, n),
                app.mapper.to_domain_event,
                originator_ids=[poisoned.id],
            )
            assert result.applied == [first[0], *held]
            assert result.still_parked == []
            # In log order, each once, after what the view had applied meanwhile.
            assert view.applied_in_order(app_type.name) == [
                first[1],
                everything[3],
                first[0],
                *held,
            ]
            # The aggregate flows again: its next event is applied, not held.
            poisoned.touch()
            app.save(poisoned)
            last = log_of(app)[-1]
            eventually(lambda: last in view.applied(app_type.name), what="the next event")
            assert running.status()["parked"] == 0
            # A second retry finds nothing to do: nothing is applied twice.
            assert (
                retry.retry_parked(
                    running.projection,
                    app_type.name,
                    lambda n: read_notification(app, n),
                    app.mapper.to_domain_event,
                ).applied
                == []
            )
            assert sorted(view.applied(app_type.name)) == log_of(app)
    finally:
        heal(app_type.name)
        app.close()
    resolved = view.parked(app_type.name, include_resolved=True)
    assert {p["resolution"] for p in resolved} == {"applied"}


def read_notification(app: OutreachApplication, notification_id: int) -> Any:
    found = app.recorder.select_notifications(notification_id, limit=1)
    return found[0] if found and found[0].id == notification_id else None


def test_while_the_database_is_away_nothing_is_parked_and_a_new_runner_resumes(
    env: dict[str, str],
) -> None:
    app = app_class()
    ids = store(app, env, 30)
    fail(app.name, ids[13], lambda _: psycopg.OperationalError("connection refused"), times=1)
    # (the library raises its own error for psycopg's)
    with pytest.raises(persistence.OperationalError), runner(app, env, batch_size=10) as r:
        r.run_forever(timeout=20)
    view = r.view
    position = view.max_tracking_id(app.name) or 0
    assert position < ids[13]
    # Nothing of the failed batch is in the view: only what its tracking record covers.
    assert view.applied(app.name) == [i for i in ids if i <= position]
    assert view.parked(app.name) == []

    with runner(app, env, batch_size=10) as again:  # as the supervisor does
        eventually(lambda: view.applied(app.name) == ids, what="the log applied after restart")
        assert again.applied == len([i for i in ids if i > position])
    assert view.applied(app.name) == ids  # each event exactly once
    assert view.parked(app.name) == []


def test_a_runner_waits_while_the_view_is_locked_and_restarts_when_its_record_moved_back(
    env: dict[str, str], stack: ServiceSettings
) -> None:
    """A rebuild holds the view's lock: the runner applies nothing meanwhile; afterwards its
    tracking record is behind where the runner left it and it stops, to be started again
    from there."""
    app = app_class()
    ids = store(app, env, 5)
    with runner(app, env, batch_size=10) as running:
        view = running.view
        eventually(lambda: view.applied(app.name) == ids, what="the log applied")
        with psycopg.connect(stack.database_url(TEST_DATABASE), autocommit=True) as lock:
            lock.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                (parking.lock_key(AppliedProjection.name),),
            )
            store(app, env, 3)
            eventually(lambda: running.status()["locked_out_since"], what="the runner waiting")
            time.sleep(0.5)
            assert view.applied(app.name) == ids
            with view.datastore.transaction(commit=True) as cursor:  # as a rebuild starting over
                forget_tracking(view, cursor, [app.name])
            view.insert_tracking(Tracking(app.name, ids[1]))
        with pytest.raises(ViewMoved):
            running.run_forever(timeout=10)
    assert running.is_interrupted.is_set()
    assert view.applied(app.name) == ids  # nothing applied over the moved record


def test_a_runner_whose_record_was_advanced_by_another_carries_on_after_it(
    env: dict[str, str], stack: ServiceSettings
) -> None:
    """Another runner (a replica's) applied events meanwhile: this one skips them and applies
    what comes after, without stopping."""
    app = app_class()
    ids = store(app, env, 3)
    with runner(app, env, batch_size=10) as running:
        view = running.view
        eventually(lambda: view.applied(app.name) == ids, what="the log applied")
        with psycopg.connect(stack.database_url(TEST_DATABASE), autocommit=True) as lock:
            lock.execute(
                "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                (parking.lock_key(AppliedProjection.name),),
            )
            more = store(app, env, 2)[len(ids) :]
            eventually(lambda: running.status()["locked_out_since"], what="the runner waiting")
            for notification_id in more:  # as another replica's runner would
                view.add(Tracking(app.name, notification_id))
        later = store(app, env, 2)[len(ids) + len(more) :]
        eventually(lambda: view.applied(app.name) == ids + more + later, what="the rest applied")
        assert not running.is_interrupted.is_set()
        assert running.applied == len(ids) + len(later)


def test_runners_of_several_replicas_through_the_pooler_apply_each_event_once(
    stack: ServiceSettings,
) -> None:
    """Three runners over one view, their pools through PgBouncer in transaction mode (their
    subscriptions listening on PostgreSQL itself): every event is applied exactly once, and
    none of them stops."""
    pooled = stack.model_copy(update=pgbouncer.pooler_settings(pgbouncer.ensure_pgbouncer(stack)))
    env = eventsourcing_env(pooled, TEST_DATABASE)
    app = app_class()
    with contextlib.ExitStack() as replicas:
        running = [replicas.enter_context(runner(app, env, batch_size=5)) for _ in range(3)]
        ids = store(app, env, 60)
        view = running[0].view
        eventually(lambda: view.applied(app.name) == ids, timeout=30, what="the log applied")
        time.sleep(0.5)  # the others catch up with the record, applying nothing
        assert view.applied(app.name) == ids
        assert not any(r.is_interrupted.is_set() for r in running)
        assert sum(r.applied for r in running) == len(ids)


def test_the_supervisor_restarts_a_failed_runner(env: dict[str, str]) -> None:
    app = app_class()
    ids = store(app, env, 12)
    fail(app.name, ids[6], lambda _: psycopg.OperationalError("server closed"), times=1)
    view = build_view(AppliedView, env, AppliedProjection.name)
    runners = ProjectionRunners(app, [AppliedProjection(view)], env)
    runners.start()
    first = runners.runners[0]

    async def supervise() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(runners.supervise(stopping))

        def applied_everything() -> bool:
            return view.applied(app.name) == ids

        await asyncio.to_thread(
            eventually, applied_everything, 30.0, 0.2, "the log applied after the restart"
        )
        stopping.set()
        await task

    try:
        asyncio.run(supervise())
        assert runners.runners[0] is not first  # restarted
        assert runners.runners[0].view is view  # over the view the process opened once
        assert view.applied(app.name) == ids
    finally:
        for running in runners.runners:
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


def test_a_retry_while_a_rebuild_holds_the_view_is_refused_and_changes_nothing(
    env: dict[str, str], stack: ServiceSettings
) -> None:
    app_type = app_class()
    app = app_type(env)
    ids = store(app_type, env, 3)
    fail(app_type.name, ids[1], lambda _: ValueError("not yet"))
    try:
        with runner(app_type, env, batch_size=10) as running:
            running.wait(ids[-1], timeout=20)
            heal(app_type.name)
            with psycopg.connect(stack.database_url(TEST_DATABASE), autocommit=True) as lock:
                lock.execute(
                    "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
                    (parking.lock_key(AppliedProjection.name),),
                )
                with pytest.raises(retry.ViewBusyError, match="held by a rebuild"):
                    retry.retry_parked(
                        running.projection,
                        app_type.name,
                        lambda n: read_notification(app, n),
                        app.mapper.to_domain_event,
                        lock_timeout_seconds=0.3,
                    )
            assert [p["notification_id"] for p in running.view.parked(app_type.name)] == [ids[1]]
            assert running.view.applied(app_type.name) == [ids[0], ids[2]]
    finally:
        heal(app_type.name)
        app.close()
