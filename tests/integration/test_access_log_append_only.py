"""The access log and the break-glass grants are append-only in PostgreSQL itself: a
statement trigger rejects UPDATE, DELETE and TRUNCATE, whoever sends them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from shared.http.access_log import AccessEntry, AccessLog
from shared.http.auth import Principal, Role
from shared.http.purpose import Purpose
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE

pytestmark = pytest.mark.integration


@pytest.fixture
def access_log(stack: ServiceSettings) -> Iterator[AccessLog]:
    with ConnectionPool(stack.database_url(TEST_DATABASE), min_size=1, max_size=2) as pool:
        log = AccessLog(pool, "append-only-test")
        log.create_schema()
        log.create_schema()  # idempotent, as at every start of a service
        yield log


def entry(user: str) -> AccessEntry:
    return AccessEntry(
        user=user,
        role="case_manager",
        user_districts=("kassel",),
        subject=uuid4(),
        fields=("name",),
        purpose=Purpose.CASE_WORK,
        route="GET /cases/{case_id}",
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE access_log SET purpose = 'audit' WHERE user_id = %(user)s",
        "DELETE FROM access_log WHERE user_id = %(user)s",
        "TRUNCATE access_log",
        "UPDATE break_glass_grants SET expires_at = now() + interval '1 year' "
        "WHERE user_id = %(user)s",
        "DELETE FROM break_glass_grants WHERE user_id = %(user)s",
    ],
)
def test_an_entry_can_be_neither_changed_nor_removed(
    access_log: AccessLog, stack: ServiceSettings, statement: str
) -> None:
    user = f"cm-{uuid4().hex[:8]}"
    access_log.record([entry(user)])
    principal = Principal(user=user, role=Role.CASE_MANAGER, districts=frozenset({"kassel"}))
    access_log.grant(
        principal,
        subject=uuid4(),
        district="elsewhere",
        resource="case:x",
        reason="moved to Kassel",
        ttl=timedelta(minutes=1),
    )

    with (
        psycopg.connect(stack.database_url(TEST_DATABASE)) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"),
    ):
        conn.execute(statement, {"user": user})

    assert [e["user"] for e in access_log.entries(districts=None, user=user)] == [user]
    grants = access_log.grants(districts=None, user=user)
    assert [g["reason"] for g in grants] == ["moved to Kassel"]


def test_entries_are_found_by_person_and_by_user(access_log: AccessLog) -> None:
    first, second = entry(f"cm-{uuid4().hex[:8]}"), entry(f"cm-{uuid4().hex[:8]}")
    access_log.record([first, second])

    [by_subject] = access_log.entries(districts=None, subject=first.subject)
    [by_user] = access_log.entries(districts=None, user=second.user)

    assert (by_subject["user"], by_subject["fields"], by_subject["purpose"]) == (
        first.user,
        ["name"],
        "case_work",
    )
    assert by_user["subject"] == second.subject
    assert by_user["service"] == "append-only-test"


def test_a_grant_is_active_until_it_expires(access_log: AccessLog) -> None:
    user = f"cm-{uuid4().hex[:8]}"
    principal = Principal(user=user, role=Role.CASE_MANAGER, districts=frozenset({"kassel"}))
    for resource, ttl in (("case:open", timedelta(minutes=5)), ("case:over", timedelta(0))):
        access_log.grant(
            principal,
            subject=uuid4(),
            district="elsewhere",
            resource=resource,
            reason="moved",
            ttl=ttl,
        )

    assert access_log.active_grant(user, "case:open") is not None
    assert access_log.active_grant(user, "case:over") is None
    assert access_log.active_grant("someone-else", "case:open") is None
