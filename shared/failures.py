"""What went wrong, said safely: whether an error means the database is away (try again
later) rather than that one event or message cannot be handled, and a description of an
error that can be stored and shown without quoting the data it was raised over.

Used wherever one bad event is set aside so the rest flows on: the projection runners and
their parked events (:mod:`shared.eventsourcing.parking`), and the Kafka consumers' dead
letters (:mod:`shared.messaging.subscription`).
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

import psycopg
from eventsourcing import persistence

_AWAY_SQLSTATES = ("08", "53", "57P", "40001", "40P01", "55P03", "57014")
"""Connection exceptions, insufficient resources (disk, memory, connections), the server
shutting down or not yet accepting connections, and what passes by itself (serialisation
failures, deadlocks, lock and statement time-outs)."""

_QUOTED = re.compile(r"\"[^\"]*\"|'[^']*'|\([^()]*\)=\([^()]*\)")
_PROJECT_ROOT = Path(__file__).resolve().parents[1]


def database_away(error: BaseException) -> bool:
    """Whether ``error`` means the database is unreachable or busy (try again later) rather
    than that this event cannot be applied."""
    cause = database_error(error)
    if isinstance(cause, psycopg.InterfaceError):
        return True
    if isinstance(cause, psycopg.OperationalError):
        state = cause.sqlstate
        return state is None or state.startswith(_AWAY_SQLSTATES)
    if isinstance(cause, psycopg.Error):
        return cause.sqlstate is not None and cause.sqlstate.startswith(_AWAY_SQLSTATES)
    # The library's own (e.g. no connection of its pool in time), without a psycopg cause.
    return isinstance(error, persistence.OperationalError | persistence.InterfaceError)


def database_error(error: BaseException) -> BaseException:
    """psycopg's error behind the eventsourcing library's wrapper of it (or ``error``)."""
    if not isinstance(error, psycopg.Error) and isinstance(error.__cause__, psycopg.Error):
        return error.__cause__
    return error


def describe(error: BaseException) -> tuple[str, str]:
    """The error's class and a message safe to store and show: no value of the event.

    A database error keeps its SQLSTATE and first line with quoted values and key values
    cut out; any other error only says where in the code it was raised (its message could
    quote the event's data).
    """
    cause = database_error(error)
    name = f"{type(cause).__module__}.{type(cause).__qualname__}".removeprefix("builtins.")
    if isinstance(cause, psycopg.Error):
        first = (str(cause).strip().splitlines() or [""])[0]
        message = _QUOTED.sub("…", first)[:300]
        state = cause.sqlstate
        return name, f"{state}: {message}" if state else message
    return name, f"{type(cause).__name__} raised at {_where(cause)}"


def _own_code(path: Path) -> bool:
    """A file of this project (not of an installed library, wherever it is installed)."""
    return _PROJECT_ROOT in path.parents and "site-packages" not in path.parts


def _where(error: BaseException) -> str:
    """The innermost frame of the traceback in the project's own code (else the innermost)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return "an unknown place"
    own = [f for f in frames if _own_code(Path(f.filename).resolve())]
    frame = (own or frames)[-1]
    path = Path(frame.filename).resolve()
    shown = path.relative_to(_PROJECT_ROOT) if _PROJECT_ROOT in path.parents else path.name
    return f"{shown}:{frame.lineno} in {frame.name}"
