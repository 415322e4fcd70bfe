"""The contacts views against a stored poison event and a rebuild under traffic: no event in
the log stops a projection, and a rebuild while the runner and writers run ends with the
view a rebuild from scratch gives.

The poison event (a local office with a NUL byte, which PostgreSQL's text cannot hold) is
written through the application: the HTTP API refuses such input at the boundary, but the
view must survive an event log that holds one anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from contacts.application import Contacts, PersonDetails
from contacts.projections import CASE_TOPICS
from contacts.projections.detail import CaseDetailProjection, CaseDetailView
from contacts.projections.queue import CaseQueueProjection, CaseQueueView
from eventsourcing import persistence
from eventsourcing.persistence import Tracking

from shared.contracts.contacts import CaseClosedReason, ContactChannel, ContactLostReason
from shared.eventsourcing import parking, retry
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.rebuild import RebuildRefusedError, rebuild_projection, tables_of
from shared.eventsourcing.runner import BatchingProjectionRunner
from shared.eventsourcing.views import build_view
from shared.privacy import PersonalDataCipher
from shared.runtime.supervision import ProjectionRunners
from shared.settings import ServiceSettings
from tests.support.helpers import eventually, scratch_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CTX = CommandContext(actor="cm-lange", role="case_manager")


@pytest.fixture
def database(stack: ServiceSettings) -> Iterator[str]:
    with scratch_database(stack, "contacts_read_side") as name:
        yield name


@pytest.fixture
def env(stack: ServiceSettings, database: str) -> dict[str, str]:
    return eventsourcing_env(stack, database)


@pytest.fixture
def app(env: dict[str, str], cipher: PersonalDataCipher) -> Iterator[Contacts]:
    contacts = Contacts(env, cipher=cipher)
    yield contacts
    contacts.close()


def report(app: Contacts, district: str, local_office: str = "mitte") -> UUID:
    number = f"{uuid.uuid4().int % 1000:03d}R{uuid.uuid4().int % 10**6:06d}"
    with acting_as(CTX):
        return app.report_contact_lost(
            district=district,
            local_office=local_office,
            person=PersonDetails(customer_number=number, name=f"Zyx {number}", address="Weg 1"),
            reason=ContactLostReason.UNANSWERED_INVITATIONS,
            unanswered_letters=2,
            missed_appointments=0,
            last_contact_on=None,
            deadline=None,
            case_manager="cm-lange",
        )


@contextlib.contextmanager
def running(
    app: Contacts, env: dict[str, str], projection: Any, view: Any
) -> Iterator[BatchingProjectionRunner]:
    runner = BatchingProjectionRunner(
        application_class=Contacts,
        projection=projection(build_view(view, env, projection.name)),
        env=env,
    )
    with runner:
        yield runner


def last_case_event(app: Contacts) -> int:
    """The notification id of the log's last case event (the queue's tracking record ends
    there: the open-case index's events are not the queue's)."""
    ids = [n.id for n in app.recorder.select_notifications(0, 100_000, topics=CASE_TOPICS)]
    return max(ids)


def queue_rows(view: CaseQueueView) -> list[dict[str, Any]]:
    return [dict(row) for row in view.query("SELECT * FROM case_queue ORDER BY case_id")]


def test_a_stored_poison_event_is_parked_and_the_contacts_views_keep_following_the_log(
    app: Contacts, env: dict[str, str], district: str, database: str
) -> None:
    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return run_module(database, *args)

    before = report(app, district)
    poisoned = report(app, district, local_office="mitte\u0000nord")
    with (
        running(app, env, CaseQueueProjection, CaseQueueView) as queue,
        running(app, env, CaseDetailProjection, CaseDetailView) as detail,
    ):
        after = [report(app, district) for _ in range(3)]
        # A later event of the poisoned case waits behind it; the others' are applied.
        with acting_as(CTX):
            app.restore_contact(poisoned, channel=ContactChannel.PHONE, restored_on=date.today())
            app.restore_contact(after[0], channel=ContactChannel.PHONE, restored_on=date.today())
        head = app.recorder.max_notification_id()
        queue.wait(head, timeout=20)
        detail.wait(head, timeout=20)

        shown = {row["case_id"]: row["status"] for row in queue_rows(queue.view)}
        assert shown == {
            before: "contact_lost",
            after[0]: "contact_restored",
            after[1]: "contact_lost",
            after[2]: "contact_lost",
        }
        assert detail.view.detail(after[2]) is not None
        assert detail.view.detail(poisoned) is None
        for runner in (queue, detail):
            assert not runner.is_interrupted.is_set()
            assert runner.status()["parked"] == 2
            assert runner.status()["position"] == head

        with queue.view.datastore.transaction(commit=False) as cursor:
            parked = parking.listing(cursor)
        assert {p["projection"] for p in parked} == {"case_queue", "case_detail"}
        for projection in ("case_queue", "case_detail"):
            lost, restored = [p for p in parked if p["projection"] == projection]
            assert lost["originator_id"] == restored["originator_id"] == poisoned
            assert lost["topic"] == "contacts.domain:OutreachCase.ContactLost"
            assert lost["error_class"] == "psycopg.DataError"
            assert "NUL" in lost["error"]
            assert restored["topic"] == "contacts.domain:OutreachCase.ContactRestored"
            assert restored["held_behind"] == lost["notification_id"]
            assert "nord" not in str(lost)

        # Retried without a fix: it fails again and stays parked, with the one behind it.
        result = retry.retry_parked(
            queue.projection,
            app.name,
            lambda n: app.recorder.select_notifications(n, 1)[0],
            app.mapper.to_domain_event,
        )
        assert result.applied == []
        assert result.still_parked == [lost["notification_id"], restored["notification_id"]]
        assert queue.status()["parked"] == 2
        assert poisoned not in {row["case_id"] for row in queue_rows(queue.view)}

        # The same from the command line.
        listed = command(
            "shared.eventsourcing.parked", "contacts", "list", "--projection", "case_queue"
        )
        assert listed.returncode == 0, listed.stderr
        assert [json.loads(line)["notification_id"] for line in listed.stdout.splitlines()] == [
            lost["notification_id"],
            restored["notification_id"],
        ]
        retried = command(
            "shared.eventsourcing.parked",
            "contacts",
            "retry",
            "case_queue",
            "--aggregate",
            str(poisoned),
        )
        assert retried.returncode == 1, retried.stderr  # still parked
        assert json.loads(retried.stdout)["still_parked"] == result.still_parked


def test_a_rebuild_under_traffic_ends_with_the_view_a_rebuild_from_scratch_gives(
    app: Contacts, env: dict[str, str], district: str, cipher: PersonalDataCipher
) -> None:
    seeded = [report(app, district) for _ in range(150)]
    served_view = build_view(CaseQueueView, env, CaseQueueProjection.name)
    runtime = ProjectionRunners(Contacts, [CaseQueueProjection(served_view)], env)
    runtime.start()
    runner = runtime.runners[0]
    runner.wait(last_case_event(app), timeout=30)

    stop_writing = threading.Event()
    written: list[UUID] = []

    def write() -> None:
        """Report, restore and close cases while the rebuild runs."""
        writer = Contacts(env, cipher=cipher)
        try:
            # The writer's commands (its thread starts with no command context).
            with acting_as(CTX):
                while not stop_writing.is_set():
                    case = report(writer, district)
                    written.append(case)
                    if len(written) % 3 == 0:
                        writer.close_case(case, reason=CaseClosedReason.MOVED_AWAY)
                    elif len(written) % 3 == 1 and len(written) < len(seeded):
                        writer.restore_contact(
                            seeded[len(written)],
                            channel=ContactChannel.PHONE,
                            restored_on=date.today(),
                        )
        finally:
            writer.close()

    async def rebuild_while_running() -> int:
        stopping = asyncio.Event()
        supervisor = asyncio.create_task(runtime.supervise(stopping))
        writer = threading.Thread(target=write)
        writer.start()
        try:
            await asyncio.to_thread(eventually, lambda: len(written) >= 20, 30.0, 0.05, "writes")
            view = build_view(CaseQueueView, env, CaseQueueProjection.name)
            progress: list[int] = []
            done = await asyncio.to_thread(
                rebuild_projection,
                CaseQueueProjection(view=view),
                app,
                tables=tables_of(CaseQueueView),
                batch_size=40,
                progress=progress.append,
            )
            assert len(progress) > 2  # in several transactions, while the writer wrote
            await asyncio.to_thread(eventually, lambda: len(written) >= 60, 30.0, 0.05, "writes")
        finally:
            stop_writing.set()
            await asyncio.to_thread(writer.join)
        head = last_case_event(app)

        def caught_up() -> bool:
            current = runtime.runners[0]
            return current.status()["running"] and current.applier.position == head

        await asyncio.to_thread(eventually, caught_up, 30.0, 0.1, "the runner caught up")
        stopping.set()
        await supervisor
        return done

    try:
        assert asyncio.run(rebuild_while_running()) > 0
        current = runtime.runners[0]
        # The rebuild ended ahead of the runner: the same runner carried on after the
        # rebuild's tracking record, skipping what the rebuild applied.
        assert current is runner
        assert current.applier.applied > 0
        served = queue_rows(current.view)
        totals = current.view.counts(district, date.today())
    finally:
        for each in runtime.runners:
            each.stop()
            with contextlib.suppress(Exception):
                each.__exit__(None, None, None)

    # What a rebuild from scratch, with nothing running, gives.
    view = build_view(CaseQueueView, env, CaseQueueProjection.name)
    rebuild_projection(
        CaseQueueProjection(view=view), app, tables=tables_of(CaseQueueView), batch_size=500
    )
    assert served == queue_rows(view)
    assert totals == view.counts(district, date.today())
    closed = {case for i, case in enumerate(written, start=1) if i % 3 == 0}
    assert {row["case_id"] for row in served} == (set(seeded) | set(written)) - closed
    assert view.max_tracking_id(app.name) == last_case_event(app)


def test_a_rebuild_that_stops_half_way_leaves_the_view_behind_and_never_marked_current(
    app: Contacts, env: dict[str, str], district: str
) -> None:
    cases = [report(app, district) for _ in range(30)]
    view = build_view(CaseQueueView, env, CaseQueueProjection.name)
    rebuild_projection(CaseQueueProjection(view=view), app, tables=tables_of(CaseQueueView))
    complete = queue_rows(view)
    assert len(complete) == 30

    class DatabaseGoesAway(CaseQueueProjection):
        applied = 0

        def process_event(self, domain_event: Any, tracking: Tracking) -> None:
            type(self).applied += 1
            if type(self).applied == 25:
                raise psycopg.OperationalError("terminating connection due to administrator")
            super().process_event(domain_event, tracking)

    with pytest.raises(persistence.OperationalError):  # the library's, for psycopg's
        rebuild_projection(
            DatabaseGoesAway(view=view), app, tables=tables_of(CaseQueueView), batch_size=10
        )
    position = view.max_tracking_id(app.name) or 0
    head = last_case_event(app)
    assert 0 < position < head
    # The rows are exactly those of the events up to the tracking record.
    upto = {n.originator_id for n in app.recorder.select_notifications(0, 1000, stop=position)}
    assert {row["case_id"] for row in queue_rows(view)} == upto & set(cases)
    # Going on from there (as the runner does) completes it.
    with running(app, env, CaseQueueProjection, CaseQueueView) as runner:
        runner.wait(head, timeout=20)
    assert queue_rows(view) == complete


def test_a_rebuild_is_refused_while_another_rebuild_holds_the_view(
    app: Contacts, env: dict[str, str], stack: ServiceSettings, database: str
) -> None:
    report(app, "test-refused")
    view = build_view(CaseQueueView, env, CaseQueueProjection.name)
    with psycopg.connect(stack.database_url(database), autocommit=True) as other:
        other.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (parking.lock_key("case_queue"),)
        )
        with pytest.raises(RebuildRefusedError, match="held by another rebuild"):
            rebuild_projection(
                CaseQueueProjection(view=view),
                app,
                tables=tables_of(CaseQueueView),
                wait_seconds=0.5,
            )
    assert view.max_tracking_id(app.name) is None  # nothing was reset or applied


def test_the_rebuild_command_rebuilds_a_projection_and_reports_its_progress(
    app: Contacts, env: dict[str, str], database: str, district: str
) -> None:
    cases = [report(app, district) for _ in range(12)]
    done = run_module(
        database, "shared.eventsourcing.rebuild", "contacts", "case_queue", "--batch-size", "5"
    )
    assert done.returncode == 0, done.stderr
    assert "case_queue: 10 events" in done.stdout  # progress after each batch
    assert "done, 12 events" in done.stdout
    view = build_view(CaseQueueView, env, CaseQueueProjection.name)
    assert {row["case_id"] for row in queue_rows(view)} == set(cases)

    refused = run_module(
        database, "shared.eventsourcing.rebuild", "visits", "planning_board_visits"
    )
    assert refused.returncode == 2
    assert "cannot be rebuilt on its own" in refused.stderr


def run_module(database: str, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m module args`` against the service database ``database``."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env={**os.environ, "OUTREACH_SERVICE_NAME": database},
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
