"""An api process does not run the erasure consumer (its worker does): it evicts the keys of
persons the worker has forgotten from its own key cache, as read from the erasure ledger."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from shared.erasure import evict_erased_keys

pytestmark = pytest.mark.unit


class Ledger:
    def __init__(self, subjects: list[UUID]) -> None:
        self.subjects = subjects
        self.since: list[datetime] = []

    def forgotten_since(self, since: datetime) -> list[UUID]:
        self.since.append(since)
        return self.subjects


class Keyring:
    def __init__(self) -> None:
        self.evicted: list[UUID] = []

    def evict(self, subject_id: UUID, category: str | None = None) -> None:
        self.evicted.append(subject_id)


def test_an_api_process_evicts_the_keys_of_persons_erased_within_the_key_cache_lifetime() -> None:
    erased = [uuid4(), uuid4()]
    ledger, keyring = Ledger(erased), Keyring()

    async def run_once() -> None:
        stopping = asyncio.Event()
        task = asyncio.create_task(
            evict_erased_keys(ledger, keyring, 30.0, stopping)  # type: ignore[arg-type]
        )
        while not ledger.since:
            await asyncio.sleep(0.01)
        stopping.set()
        await task

    asyncio.run(run_once())

    assert keyring.evicted[:2] == erased
    # Only erasures whose keys may still be cached: those of the cache's lifetime (+ margin).
    age = datetime.now(UTC) - ledger.since[0]
    assert timedelta(seconds=30) < age < timedelta(seconds=60)
