"""Helpers for the integration and end-to-end tests."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from psycopg import sql

from shared.settings import StackSettings

T = TypeVar("T")

TEST_DATABASE = "outreach_test"
"""The database of test-only tables (and of applications that must not meet a running service)."""


@contextmanager
def scratch_database(stack: StackSettings, prefix: str) -> Iterator[str]:
    """A new, empty database ``<prefix>_<random>`` for one test (or module), dropped after."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def eventually(
    probe: Callable[[], T | None], timeout: float = 20.0, interval: float = 0.2, what: str = ""
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or probe}; last={last!r}")


def person(customer_number: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An invented person with unique, greppable personal data."""
    tag = uuid.uuid4().hex[:8]
    number = customer_number or f"{uuid.uuid4().int % 1000:03d}X{uuid.uuid4().int % 10**6:06d}"
    return {
        "customer_number": number,
        "name": f"Testperson Zyx{tag}",
        "address": f"Probeweg {tag} 7, 34117 Kassel",
        "phone": f"0561 9{uuid.uuid4().int % 10**7:07d}",
        "date_of_birth": "1991-02-03",
        **overrides,
    }
