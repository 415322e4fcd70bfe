"""When a service confirms an erasure: at once in one process; in the split layout only once
its api processes have read the ledger and evicted the person's key (``settle``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from shared.erasure import ConfirmationOutbox, ErasureLedgerView
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import build_view
from shared.settings import ServiceSettings
from tests.support.helpers import scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def ledger(stack: ServiceSettings) -> Iterator[ErasureLedgerView]:
    with scratch_database(stack, "erasure_confirmation") as name:
        yield build_view(ErasureLedgerView, eventsourcing_env(stack, name), "erasure_ledger")


def forgotten(ledger: ErasureLedgerView, ago: timedelta) -> uuid.UUID:
    """An erasure this service applied ``ago``."""
    erasure_id = uuid.uuid4()
    with ledger.datastore.transaction(commit=True) as cursor:
        cursor.execute(
            b"INSERT INTO erasure_ledger (erasure_id, subject_id, district, erased_event_id, "
            b"correlation_id, forgotten_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                erasure_id,
                uuid.uuid4(),
                "kassel",
                uuid.uuid4(),
                uuid.uuid4(),
                datetime.now(UTC) - ago,
            ),
        )
    return erasure_id


def confirmed_by(ledger: ErasureLedgerView, settle: timedelta) -> set[Any]:
    """The erasures one round of the outbox confirms (published on an in-memory broker)."""
    broker = KafkaBroker()
    outbox = ConfirmationOutbox(
        ledger, broker, service="contacts", deployment="contacts", settle=settle
    )

    async def one_round() -> None:
        async with TestKafkaBroker(broker):
            await outbox.publish_pending()

    asyncio.run(one_round())
    rows = ledger.query("SELECT erasure_id FROM erasure_ledger WHERE confirmed_at IS NOT NULL")
    return {row["erasure_id"] for row in rows}


def test_a_worker_confirms_an_erasure_only_after_its_api_processes_had_time_to_evict_the_key(
    ledger: ErasureLedgerView,
) -> None:
    just_now = forgotten(ledger, ago=timedelta(milliseconds=100))
    settled = forgotten(ledger, ago=timedelta(seconds=5))

    assert confirmed_by(ledger, settle=timedelta(seconds=2)) == {settled}
    assert just_now not in confirmed_by(ledger, settle=timedelta(seconds=2))


def test_a_single_process_confirms_an_erasure_at_once(ledger: ErasureLedgerView) -> None:
    just_now = forgotten(ledger, ago=timedelta(milliseconds=100))

    assert confirmed_by(ledger, settle=timedelta(0)) == {just_now}


def test_the_ledger_names_the_persons_forgotten_since_a_moment(
    ledger: ErasureLedgerView,
) -> None:
    recent = forgotten(ledger, ago=timedelta(seconds=5))
    forgotten(ledger, ago=timedelta(minutes=5))
    (row,) = ledger.query("SELECT subject_id FROM erasure_ledger WHERE erasure_id = %s", (recent,))

    since = datetime.now(UTC) - timedelta(seconds=40)

    assert ledger.forgotten_since(since) == [row["subject_id"]]
