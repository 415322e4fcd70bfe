"""The counters only the code path knows: data keys read from the process's cache or from
the keyring database, and access-log entries that could not be written."""

from __future__ import annotations

import base64
import uuid

import psycopg
import pytest
from prometheus_client import REGISTRY
from psycopg_pool import ConnectionPool

from shared.http.access_log import AccessEntry, AccessLog
from shared.http.purpose import Purpose
from shared.keyring import Keyring
from shared.settings import KEYRING_DATABASE, ServiceSettings
from tests.support.helpers import scratch_database

pytestmark = pytest.mark.integration


def lookups(result: str) -> float:
    return REGISTRY.get_sample_value("outreach_key_cache_lookups_total", {"result": result}) or 0


def write_failures() -> float:
    return REGISTRY.get_sample_value("outreach_access_log_write_failures_total") or 0


def test_a_data_key_read_again_within_the_cache_lifetime_counts_as_a_hit(
    stack: ServiceSettings,
) -> None:
    with ConnectionPool(stack.database_url(KEYRING_DATABASE), min_size=1) as pool:
        kek = base64.b64decode(stack.secret("keyring_kek"))
        subject = Keyring(pool, kek, cache_seconds=0).subject_for(uuid.uuid4().bytes)
        cached = Keyring(pool, kek, cache_seconds=60)
        hits, misses = lookups("hit"), lookups("miss")

        cached.data_key(subject)
        cached.data_key(subject)
        cached.data_key(subject)

    assert (lookups("hit") - hits, lookups("miss") - misses) == (2, 1)


def test_an_access_log_entry_that_cannot_be_written_is_counted(stack: ServiceSettings) -> None:
    entry = AccessEntry(
        user="metrics-cm",
        role="case_manager",
        user_districts=("kassel",),
        subject=uuid.uuid4(),
        fields=("name",),
        purpose=Purpose.CASE_WORK,
        route="GET /cases/{case_id}",
    )
    failures = write_failures()
    # A database without the access log's table: the write fails.
    with (
        scratch_database(stack, "access_log_missing") as database,
        ConnectionPool(stack.database_url(database), min_size=1) as pool,
        pytest.raises(psycopg.errors.UndefinedTable),
    ):
        AccessLog(pool, "metrics-test").record([entry])

    assert write_failures() == failures + 1
