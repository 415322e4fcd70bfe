"""Who opened whose personal data, when, and why: the access log of every service.

Every response that reveals personal data (a decrypted field, or a record about one person)
writes one entry per person before it is sent: the user, their role and districts, the
district of the record, the person's pseudonym (subject), the names of the fields revealed,
the route and the stated purpose. A read that cannot be logged is not answered.

The purpose is the request's stated one (header ``X-Purpose``: :mod:`shared.http.purpose`).

The tables are append-only: a statement trigger rejects ``UPDATE``, ``DELETE`` and
``TRUNCATE`` on ``access_log`` and ``break_glass_grants``. Only the data protection officer
reads them (``GET /dpo/access-log``, ``GET /dpo/break-glass``), and only the entries and
grants of the districts on the officer's token: each entry names the district of the record
read.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from shared.http.auth import Principal
from shared.http.purpose import Purpose, StatedPurpose
from shared.metrics.counters import ACCESS_LOG_WRITE_FAILURES


@dataclass(frozen=True)
class AccessEntry:
    """One person's data revealed to one user in one response."""

    user: str
    role: str
    user_districts: tuple[str, ...]
    subject: UUID
    fields: tuple[str, ...]
    purpose: Purpose
    route: str
    note: str | None = None
    district: str | None = None
    resource: str | None = None


_APPEND_ONLY = """
CREATE OR REPLACE FUNCTION outreach_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
"""

SCHEMA_SQL = (
    _APPEND_ONLY
    + """
CREATE TABLE IF NOT EXISTS access_log (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    service text NOT NULL,
    user_id text NOT NULL,
    role text NOT NULL,
    user_districts text[] NOT NULL,
    district text,
    subject uuid NOT NULL,
    fields text[] NOT NULL,
    purpose text NOT NULL,
    note text,
    route text NOT NULL,
    resource text
);
CREATE INDEX IF NOT EXISTS access_log_subject ON access_log (subject, at);
CREATE INDEX IF NOT EXISTS access_log_user ON access_log (user_id, at);
CREATE INDEX IF NOT EXISTS access_log_district ON access_log (district, at);
CREATE TABLE IF NOT EXISTS break_glass_grants (
    grant_id bigserial PRIMARY KEY,
    granted_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    expires_at timestamptz NOT NULL,
    service text NOT NULL,
    user_id text NOT NULL,
    role text NOT NULL,
    user_districts text[] NOT NULL,
    district text NOT NULL,
    subject uuid NOT NULL,
    resource text NOT NULL,
    reason text NOT NULL
);
CREATE INDEX IF NOT EXISTS break_glass_lookup ON break_glass_grants (user_id, resource);
"""
)

_TRIGGERS = ("access_log", "break_glass_grants")

_INSERT_MANY = (
    "INSERT INTO access_log (service, user_id, role, user_districts, district, subject, fields, "
    "purpose, note, route, resource) "
    "SELECT %s, user_id, role, user_districts, district, subject, fields, purpose, note, route, "
    "resource FROM jsonb_to_recordset(%s) AS e(user_id text, role text, user_districts text[], "
    "district text, subject uuid, fields text[], purpose text, note text, route text, "
    "resource text)"
)


class AccessLog:
    """The service's access log and break-glass grants, in the service's own database."""

    def __init__(self, pool: ConnectionPool, service: str) -> None:
        self._pool = pool
        self.service = service

    def create_schema(self) -> None:
        with self._pool.connection() as conn:
            # One service at a time creates the shared function (CREATE OR REPLACE races).
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('outreach_append_only'))")
            conn.execute(SCHEMA_SQL)
            for table in _TRIGGERS:
                conn.execute(
                    f"CREATE OR REPLACE TRIGGER {table}_append_only "
                    f"BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION outreach_append_only()"
                )

    def record(self, entries: Sequence[AccessEntry]) -> None:
        """Append ``entries`` with one statement (one round trip, one commit, however many
        persons a response shows): a multi-row insert from a JSON array of the rows."""
        if not entries:
            return
        rows = [
            {
                "user_id": e.user,
                "role": e.role,
                "user_districts": list(e.user_districts),
                "district": e.district,
                "subject": str(e.subject),
                "fields": list(e.fields),
                "purpose": e.purpose.value,
                "note": e.note,
                "route": e.route,
                "resource": e.resource,
            }
            for e in entries
        ]
        try:
            with self._pool.connection() as conn, conn.pipeline():
                # BEGIN, the insert and COMMIT go out together: one round trip.
                conn.execute(_INSERT_MANY, (self.service, Jsonb(rows)))
                conn.commit()
        except Exception:
            ACCESS_LOG_WRITE_FAILURES.inc()
            raise

    def entries(
        self,
        *,
        districts: Collection[str] | None,
        subject: UUID | None = None,
        user: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Entries in time order, filtered by person, user and time, of ``districts`` only
        (``None``: of every district, for the service's own checks, never for a reader).

        An entry belongs to the district of the record read (``district``). An entry that
        names none (written before every read named it) belongs to the districts of the
        reader who made it (``user_districts``).
        """
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "SELECT id, at, service, user_id AS user, role, user_districts, district, "
                "subject, fields, purpose, note, route, resource FROM access_log "
                "WHERE (%(subject)s::uuid IS NULL OR subject = %(subject)s) "
                "AND (%(user)s::text IS NULL OR user_id = %(user)s) "
                "AND (%(since)s::timestamptz IS NULL OR at >= %(since)s) "
                "AND (%(until)s::timestamptz IS NULL OR at < %(until)s) "
                "AND (%(districts)s::text[] IS NULL OR district = ANY(%(districts)s) "
                "OR (district IS NULL AND user_districts && %(districts)s)) "
                "ORDER BY at, id LIMIT %(limit)s",
                {
                    "subject": subject,
                    "user": user,
                    "since": since,
                    "until": until,
                    "limit": limit,
                    "districts": None if districts is None else sorted(districts),
                },
            )
            return cursor.fetchall()

    # break-glass grants

    def grant(
        self,
        principal: Principal,
        *,
        subject: UUID,
        district: str,
        resource: str,
        reason: str,
        ttl: timedelta,
    ) -> dict[str, Any]:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "INSERT INTO break_glass_grants (expires_at, service, user_id, role, "
                "user_districts, district, subject, resource, reason) "
                "VALUES (clock_timestamp() + %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "RETURNING grant_id, granted_at, expires_at, user_id AS user, district, "
                "subject, resource, reason",
                (
                    ttl,
                    self.service,
                    principal.user,
                    principal.role.value,
                    sorted(principal.districts),
                    district,
                    subject,
                    resource,
                    reason,
                ),
            )
            row = cursor.fetchone()
        assert row is not None
        return row

    def active_grant(self, user: str, resource: str) -> dict[str, Any] | None:
        """The user's latest unexpired grant for ``resource`` (e.g. ``case:<id>``)."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "SELECT grant_id, expires_at, reason FROM break_glass_grants "
                "WHERE user_id = %s AND resource = %s AND expires_at > clock_timestamp() "
                "ORDER BY expires_at DESC LIMIT 1",
                (user, resource),
            )
            return cursor.fetchone()

    def grants(
        self,
        *,
        districts: Collection[str] | None,
        subject: UUID | None = None,
        user: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        """Grants in time order, of records of ``districts`` only (``None``: every one)."""
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(
                "SELECT grant_id, granted_at, expires_at, service, user_id AS user, role, "
                "user_districts, district, subject, resource, reason FROM break_glass_grants "
                "WHERE (%(subject)s::uuid IS NULL OR subject = %(subject)s) "
                "AND (%(user)s::text IS NULL OR user_id = %(user)s) "
                "AND (%(districts)s::text[] IS NULL OR district = ANY(%(districts)s)) "
                "ORDER BY granted_at, grant_id LIMIT %(limit)s",
                {
                    "subject": subject,
                    "user": user,
                    "limit": limit,
                    "districts": None if districts is None else sorted(districts),
                },
            )
            return cursor.fetchall()


@dataclass
class PersonalRead:
    """The reading of one request: what a route calls when it opens a person's data.

    ``opened`` only collects; :meth:`flush` writes the entries (the dependency calls it
    after the route returned its data, before the response is sent).
    """

    principal: Principal
    stated: StatedPurpose
    route: str
    log: AccessLog
    pending: list[AccessEntry] = field(default_factory=list)
    _positions: dict[tuple[UUID, str | None, Purpose], int] = field(
        default_factory=dict, init=False, repr=False
    )
    """Where the entry of (subject, resource, purpose) is in ``pending`` (a response of
    hundreds of persons merges in constant time, not by scanning)."""

    def opened(
        self,
        subject: UUID,
        fields: Iterable[str],
        *,
        district: str | None = None,
        resource: str | None = None,
        purpose: Purpose | None = None,
        note: str | None = None,
    ) -> None:
        """Note that ``fields`` of ``subject`` are in this response (logged once per person
        and resource; the fields of repeated calls are merged)."""
        names = tuple(sorted(set(fields)))
        if not names:
            return
        stated = purpose or self.stated.purpose
        key = (subject, resource, stated)
        index = self._positions.get(key)
        if index is not None:
            entry = self.pending[index]
            merged = tuple(sorted({*entry.fields, *names}))
            self.pending[index] = replace(entry, fields=merged)
            return
        self._positions[key] = len(self.pending)
        self.pending.append(
            AccessEntry(
                user=self.principal.user,
                role=self.principal.role.value,
                user_districts=tuple(sorted(self.principal.districts)),
                subject=subject,
                fields=names,
                purpose=stated,
                note=note if note is not None else self.stated.note,
                route=self.route,
                district=district,
                resource=resource,
            )
        )

    def flush(self) -> None:
        """Write the entries noted so far (a route may call it itself, in its own thread,
        before it returns; the dependency then has nothing left to write)."""
        entries, self.pending = self.pending, []
        self._positions.clear()
        self.log.record(entries)


def record_access(
    log: AccessLog,
    principal: Principal,
    subject: UUID,
    fields: Iterable[str],
    purpose: StatedPurpose,
    *,
    route: str,
    district: str | None = None,
    resource: str | None = None,
) -> None:
    """Log one disclosure right away (for code outside a request's :class:`PersonalRead`)."""
    read = PersonalRead(principal, purpose, route, log)
    read.opened(subject, fields, district=district, resource=resource)
    read.flush()
