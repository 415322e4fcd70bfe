"""The library's new stored events sent to PostgreSQL in binary, through psycopg's own
adaptation (no statement of the library changed).

The library inserts a ``save``'s events as one list of a composite type
(``unnest(%s::stored_event_uuid[])``). psycopg dumps a list in text unless told otherwise,
escaping every field of every composite (the events' bytes too) with regular expressions in
Python: the costliest part of a bulk ``save`` (bench/README.md). :class:`StoredEventsDumper`
is psycopg's list dumper, registered for lists: a list of stored-event composites goes in
binary (the same rows stored), any other list exactly as psycopg dumps it.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.abc import DumperKey
from psycopg.adapt import PyFormat
from psycopg.types.array import ListBinaryDumper, ListDumper

STORED_EVENT_FIELDS = ("originator_id", "originator_version", "topic", "state")
"""The fields of the library's stored-event composite type (as psycopg names them)."""


def _stored_events(obj: list[Any]) -> bool:
    first = obj[0] if obj else None
    return isinstance(first, tuple) and getattr(first, "_fields", None) == STORED_EVENT_FIELDS


class StoredEventsDumper(ListDumper):
    """psycopg's list dumper; a list of stored-event composites in binary."""

    def get_key(self, obj: list[Any], format: PyFormat) -> DumperKey:
        if _stored_events(obj):
            return (ListBinaryDumper, type(obj[0]))
        return super().get_key(obj, format)

    def upgrade(self, obj: list[Any], format: PyFormat) -> Any:
        if _stored_events(obj):
            return ListBinaryDumper(self.cls, self._tx).upgrade(obj, PyFormat.BINARY)
        return super().upgrade(obj, format)


def send_stored_events_in_binary() -> None:
    """Register :class:`StoredEventsDumper` for the connections opened from now on (before
    the first pool of the process opens; a later call changes nothing)."""
    psycopg.adapters.register_dumper(list, StoredEventsDumper)
