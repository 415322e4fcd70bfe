"""Forgetting an erased person in every service (GDPR Art. 17 by crypto-shredding).

The contacts service destroys the person's data key and publishes the ``SubjectErased``
tombstone on ``outreach.erasures`` (see services/contacts). From then on no sealed field of
the person can be decrypted anywhere: event stores, topics, letters, backups. What is left
to every service is its own house-keeping, wired by :mod:`shared.runtime.service` for each of them:

- **the erasure consumer** (``<service_name>-erasures``) evicts the person's key from this
  process's key cache, then calls the service's :data:`Forget` (drops or blanks its view
  rows of the person: tokens become :data:`shared.privacy.ERASED`) and records the erasure
  in the ``erasure_ledger`` — rows, ledger entry and tracking record in one transaction;
- **the confirmation outbox** publishes a ``SubjectErasureConfirmed`` for every ledger entry
  not yet confirmed, with an event id derived from the deployment and the erasure (so a
  repeat after a crash is de-duplicated downstream) and marks it. No dual write: the
  confirmation is recorded with the forgetting and published afterwards, at least once.

The events themselves stay: the audit trail of what happened when and by whom, under the
pseudonym, and the hash chain over them still verifies (it covers the stored bytes).

Blanking views is hygiene on top of the cryptography, not the guarantee: a view rebuilt from
an event log, or a row written by a consumer that was behind, holds tokens again — tokens
that no longer open.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.persistence import Tracking
from faststream.kafka import KafkaBroker
from psycopg import Cursor
from psycopg.rows import DictRow

from shared.contracts import ERASURE_TOPIC, Envelope, Payload
from shared.contracts.envelope import EVENT_ID_NAMESPACE
from shared.contracts.erasures import SubjectErased, SubjectErasureConfirmed
from shared.eventsourcing.views import TrackedView
from shared.keyring import Keyring
from shared.messaging.consumer import Consumer
from shared.privacy import ERASED
from shared.runtime.background import every

log = logging.getLogger(__name__)

Forget = Callable[[Cursor[DictRow], UUID], None]
"""Drops or blanks one service's view rows of the erased subject, with the given cursor
(inside the erasure consumer's transaction)."""


def forget_nothing(cursor: Cursor[DictRow], subject_id: UUID) -> None:
    """For a service whose views hold nothing personal (the key cache is still evicted)."""


def blank_tokens(table: str, *columns: str, where: str = "subject_id = %(subject)s") -> Forget:
    """A :data:`Forget` that sets the token ``columns`` of ``table`` (those not null) to
    :data:`ERASED` for the subject's rows. ``where`` may select them differently, with
    ``%(subject)s`` for the subject id."""
    assignments = ", ".join(
        f"{column} = CASE WHEN {column} IS NULL THEN NULL ELSE %(erased)s END" for column in columns
    )
    statement = f"UPDATE {table} SET {assignments} WHERE {where}".encode()

    def forget(cursor: Cursor[DictRow], subject_id: UUID) -> None:
        cursor.execute(statement, {"subject": subject_id, "erased": ERASED})

    return forget


def forget_all(*steps: Forget) -> Forget:
    """One :data:`Forget` that runs ``steps`` in order (in the same transaction)."""

    def forget(cursor: Cursor[DictRow], subject_id: UUID) -> None:
        for step in steps:
            step(cursor, subject_id)

    return forget


class ErasureLedgerView(TrackedView):
    """Which erasures this service has applied, and whether it has confirmed them."""

    schema = (
        """CREATE TABLE IF NOT EXISTS erasure_ledger (
            erasure_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL,
            district text NOT NULL,
            erased_event_id uuid NOT NULL,
            correlation_id uuid NOT NULL,
            forgotten_at timestamptz NOT NULL,
            confirmed_at timestamptz
        )""",
        "CREATE INDEX IF NOT EXISTS erasure_ledger_unconfirmed ON erasure_ledger (forgotten_at) "
        "WHERE confirmed_at IS NULL",
    )

    def unconfirmed(self, forgotten_before: datetime, limit: int = 100) -> list[DictRow]:
        """Erasures applied before ``forgotten_before`` and not confirmed yet, oldest first."""
        return self.query(
            "SELECT * FROM erasure_ledger WHERE confirmed_at IS NULL AND forgotten_at < %s "
            "ORDER BY forgotten_at LIMIT %s",
            (forgotten_before, limit),
        )

    def mark_confirmed(self, erasure_id: UUID, at: datetime) -> None:
        with self.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                b"UPDATE erasure_ledger SET confirmed_at = %s WHERE erasure_id = %s",
                (at, erasure_id),
            )

    def forgotten_since(self, since: datetime) -> list[UUID]:
        """The persons this service has forgotten since ``since``."""
        rows = self.query(
            "SELECT DISTINCT subject_id FROM erasure_ledger WHERE forgotten_at > %s", (since,)
        )
        return [row["subject_id"] for row in rows]

    def is_forgotten(self, subject_id: UUID) -> bool:
        return bool(self.query("SELECT 1 FROM erasure_ledger WHERE subject_id = %s", (subject_id,)))


def erasure_consumer(
    *, prefix: str, ledger: ErasureLedgerView, keyring: Keyring, forget: Forget
) -> Consumer:
    """The ``SubjectErased`` consumer of one service (``<prefix>-erasures``)."""

    def apply(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        payload = envelope.payload
        assert isinstance(payload, SubjectErased)
        forget(cursor, envelope.subject)
        cursor.execute(
            b"INSERT INTO erasure_ledger (erasure_id, subject_id, district, erased_event_id, "
            b"correlation_id, forgotten_at) VALUES (%s, %s, %s, %s, %s, %s) "
            b"ON CONFLICT (erasure_id) DO NOTHING",
            (
                payload.erasure_id,
                envelope.subject,
                envelope.district,
                envelope.event_id,
                envelope.correlation_id,
                datetime.now(UTC),
            ),
        )

    def effect(envelope: Envelope[Payload], tracking: Tracking) -> bool:
        # The key is gone from the keyring already; this process may still hold it in its
        # cache (OUTREACH_KEY_CACHE_SECONDS). Evicted first, so nothing opens from here on.
        keyring.evict(envelope.subject)
        return ledger.apply_once(tracking, lambda cursor: apply(cursor, envelope))

    return Consumer(
        name=f"{prefix}-erasures",
        topic=ERASURE_TOPIC,
        effect=effect,
        event_types=frozenset({SubjectErased.event_type}),
        description="Forgets an erased person: key cache evicted, view rows dropped or blanked.",
    )


ERASED_KEYS_POLL_SECONDS = 1.0
"""How often an ``api`` process evicts the keys of persons erased meanwhile from its cache."""


async def evict_erased_keys(
    ledger: ErasureLedgerView, keyring: Keyring, seconds: float, stopping: asyncio.Event
) -> None:
    """Evict the keys of persons erased recently from this process's key cache.

    In the split layout the erasure consumer runs in the worker process and evicts the key
    there only; an ``api`` process reads the persons the worker has forgotten from the
    erasure ledger every second. Only erasures of the last ``seconds`` (the key cache's
    lifetime, plus a margin) can still be cached, so only those are read.
    """

    async def evict() -> None:
        since = datetime.now(UTC) - timedelta(seconds=seconds + 10)
        for subject_id in await asyncio.to_thread(ledger.forgotten_since, since):
            keyring.evict(subject_id)

    await every(ERASED_KEYS_POLL_SECONDS, evict, name="evicting the keys of erased persons")(
        stopping
    )


def confirmation_event_id(deployment: str, erasure_id: UUID) -> UUID:
    return uuid5(EVENT_ID_NAMESPACE, f"{deployment}:erasure-confirmed:{erasure_id}")


class ConfirmationOutbox:
    """Publishes ``SubjectErasureConfirmed`` for the ledger's unconfirmed erasures.

    ``settle``: how long an erasure stays in the ledger before it is confirmed. A worker
    process (``OUTREACH_PROCESS_ROLE=worker``) waits until its api processes, which read the
    ledger to evict the person's key from their own caches, have done so; a process that does
    everything itself confirms at once.
    """

    def __init__(
        self,
        ledger: ErasureLedgerView,
        broker: KafkaBroker,
        *,
        service: str,
        deployment: str,
        interval: float = 0.5,
        settle: timedelta = timedelta(0),
    ) -> None:
        self._ledger = ledger
        self._settle = settle
        self._service = service
        self._deployment = deployment
        self._interval = interval
        self.publisher = broker.publisher(
            ERASURE_TOPIC,
            title=f"{ERASURE_TOPIC}:confirm:{service}",
            description=f"The {service} service has forgotten an erased person.",
            schema=Envelope[SubjectErasureConfirmed],
        )

    def envelope(self, row: dict[str, Any]) -> Envelope[SubjectErasureConfirmed]:
        return Envelope[SubjectErasureConfirmed](
            event_id=confirmation_event_id(self._deployment, row["erasure_id"]),
            event_type=SubjectErasureConfirmed.event_type,
            schema_version=SubjectErasureConfirmed.schema_version,
            occurred_at=row["forgotten_at"],
            producer=self._service,
            district=row["district"],
            subject=row["subject_id"],
            correlation_id=row["correlation_id"],
            causation_id=row["erased_event_id"],
            payload=SubjectErasureConfirmed(
                erasure_id=row["erasure_id"],
                service=self._service,
                deployment=self._deployment,
                confirmed_at=row["forgotten_at"],
            ),
        )

    async def publish_pending(self) -> int:
        rows = await asyncio.to_thread(self._ledger.unconfirmed, datetime.now(UTC) - self._settle)
        for row in rows:
            envelope = self.envelope(row)
            await self.publisher.publish(
                envelope.model_dump(mode="json"),
                key=envelope.subject.bytes,
                correlation_id=str(envelope.correlation_id),
                headers={"event-type": envelope.event_type},
            )
            await asyncio.to_thread(
                self._ledger.mark_confirmed, row["erasure_id"], datetime.now(UTC)
            )
        return len(rows)

    async def run(self, stopping: asyncio.Event) -> None:
        await every(self._interval, self.publish_pending, name="erasure confirmations")(stopping)
