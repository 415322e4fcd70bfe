"""What a parked event records of its error, and which errors mean the database is away
(retry later, park nothing) rather than that the event cannot be applied."""

from __future__ import annotations

import psycopg
import pytest
from eventsourcing import persistence
from eventsourcing.utils import resolve_topic
from psycopg import errors

from shared.failures import database_away, describe

pytestmark = pytest.mark.unit


def wrapped(error: BaseException) -> BaseException:
    """As the library raises psycopg's errors: its own class, psycopg's as the cause."""
    try:
        try:
            raise error
        except psycopg.Error as cause:
            raise persistence.DataError(str(cause)) from cause
    except persistence.PersistenceError as caught:
        return caught


@pytest.mark.parametrize(
    "error",
    [
        psycopg.OperationalError("connection refused"),
        psycopg.InterfaceError("the connection is closed"),
        errors.AdminShutdown("terminating connection due to administrator command"),
        errors.CannotConnectNow("the database system is starting up"),
        errors.DiskFull("could not extend file"),
        errors.TooManyConnections("sorry, too many clients already"),
        errors.DeadlockDetected("deadlock detected"),
        errors.SerializationFailure("could not serialize access"),
        errors.LockNotAvailable("canceling statement due to lock timeout"),
        persistence.OperationalError("no connection of the pool in time"),
    ],
)
def test_errors_of_an_unreachable_or_busy_database_park_nothing(error: BaseException) -> None:
    assert database_away(error)


@pytest.mark.parametrize(
    "error",
    [
        psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
        errors.UniqueViolation('duplicate key value violates unique constraint "x"'),
        errors.ProgramLimitExceeded("index row size 3000 exceeds btree version 4 maximum"),
        errors.InvalidTextRepresentation('invalid input syntax for type uuid: "abc"'),
        KeyError("name"),
        ZeroDivisionError("division by zero"),
        RecursionError("maximum recursion depth exceeded"),
    ],
)
def test_errors_of_the_event_itself_are_not_the_database_being_away(
    error: BaseException,
) -> None:
    assert not database_away(error)
    if isinstance(error, psycopg.Error):
        assert not database_away(wrapped(error))


def test_a_database_error_keeps_its_state_and_text_without_quoted_values() -> None:
    error = wrapped(errors.InvalidTextRepresentation('invalid input syntax for type uuid: "Zyx"'))
    assert describe(error) == (
        "psycopg.errors.InvalidTextRepresentation",
        "22P02: invalid input syntax for type uuid: …",
    )
    unique = errors.UniqueViolation(
        'duplicate key value violates unique constraint "case_pkey"\n'
        "DETAIL:  Key (name)=(Zyx Mustermann) already exists."
    )
    assert describe(unique) == (
        "psycopg.errors.UniqueViolation",
        "23505: duplicate key value violates unique constraint …",
    )


def test_any_other_error_says_only_its_class_and_where_it_was_raised() -> None:
    def handler() -> None:
        raise ValueError("Zyx Mustermann, Probeweg 7")

    error = raised_from(handler)
    name, message = describe(error)
    assert name == "ValueError"
    assert message.startswith("ValueError raised at tests/unit/test_failures.py:")
    assert message.endswith("in handler")
    assert "Zyx" not in message


def raised_from(function: object) -> BaseException:
    try:
        function()  # type: ignore[operator]
    except BaseException as caught:
        return caught
    raise AssertionError("nothing raised")


def test_an_error_raised_in_a_library_is_placed_at_the_project_code_that_called_it() -> None:
    def handler() -> None:
        resolve_topic("no_such_module_zyx:Thing")  # raises in the installed library

    name, message = describe(raised_from(handler))
    assert name == "eventsourcing.utils.TopicError"
    assert message.startswith("TopicError raised at tests/unit/test_failures.py:")
    assert message.endswith("in handler")
