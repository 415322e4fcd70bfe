"""Who opened whose personal data, when, and why: the access log of every service.

Every response that reveals personal data (a decrypted field, or a record about one person)
writes one entry per person before it is sent: the user, their role and districts, the
district of the record, the person's pseudonym (subject), the names of the fields revealed,
the route and the stated purpose. A read that cannot be logged is not answered.

The purpose comes from the request header ``X-Purpose``: one of :class:`Purpose`,
optionally followed by a colon, an optional space and a free-text note of up to 200
characters, e.g. ``X-Purpose: case_work`` or ``X-Purpose: visit_planning: round of 3
December``. Header values are ASCII: other characters of the note are sent percent-encoded
(UTF-8); a control character is refused, encoded or not. A read without the header is
refused with **400** ``purpose_required``; anything else that is not :data:`PURPOSE_PATTERN`
(an unknown purpose, a longer note, a control character, broken UTF-8) with **400**
``invalid_purpose``. The pattern is published in the OpenAPI document and is the parser.
``break_glass`` cannot be claimed in the header: it is recorded by the service when a read
was allowed only by a break-glass grant (see :class:`BreakGlass`).

The tables are append-only: a statement trigger rejects ``UPDATE``, ``DELETE`` and
``TRUNCATE`` on ``access_log`` and ``break_glass_grants``. Only the data protection officer
reads them (``GET /dpo/access-log``, ``GET /dpo/break-glass``), and only the entries and
grants of the districts on the officer's token: each entry names the district of the record
read.
"""

# No "from __future__ import annotations": FastAPI resolves the dependency's signature.

import re
from collections.abc import AsyncIterator, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import unquote
from uuid import UUID

from fastapi import Depends, Header, Request
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool

from shared.auth import Authenticator, Principal
from shared.errors import ApplicationError
from shared.metrics.counters import ACCESS_LOG_WRITE_FAILURES

PURPOSE_HEADER = "X-Purpose"
NOTE_MAX = 200


class Purpose(StrEnum):
    """Why personal data is opened (§67c SGB X: data is processed only for its purpose)."""

    CASE_WORK = "case_work"
    """Working on the outreach case (case managers, team leads)."""
    VISIT_PLANNING = "visit_planning"
    """Planning, making or following up a home visit (outreach workers, team leads)."""
    COACHING = "coaching"
    """Requesting, assigning or running a coaching; a provider's coach with their people."""
    AUDIT = "audit"
    """Data-protection control: the officer, an Art. 15 export."""
    BREAK_GLASS = "break_glass"
    """Set by the service, never by the header: a read allowed only by a break-glass grant."""


CLAIMABLE = frozenset(Purpose) - {Purpose.BREAK_GLASS}


def _note_character() -> str:
    """One character of the note as sent: printable ASCII other than ``%``, or one
    percent-encoded UTF-8 character that is not a control character (no C0, DEL or C1, no
    overlong form, no surrogate)."""
    cont = "%[89ABab][0-9A-Fa-f]"
    return "|".join(
        (
            "[ -$&-~]",
            "%(?:[2-6][0-9A-Fa-f]|7[0-9A-Ea-e])",
            "%[Cc]2%[ABab][0-9A-Fa-f]",
            f"%(?:[Cc][3-9A-Fa-f]|[Dd][0-9A-Fa-f]){cont}",
            f"%[Ee]0%[ABab][0-9A-Fa-f]{cont}",
            f"%(?:[Ee][1-9A-Ca-cEeFf]){cont}{cont}",
            f"%[Ee][Dd]%[89][0-9A-Fa-f]{cont}",
            f"%[Ff]0%[9ABab][0-9A-Fa-f]{cont}{cont}",
            f"%[Ff][1-3]{cont}{cont}{cont}",
            f"%[Ff]4%8[0-9A-Fa-f]{cont}{cont}",
        )
    )


PURPOSE_PATTERN = (
    "^(" + "|".join(sorted(CLAIMABLE)) + f")(?::[ ]?(?:{_note_character()}){{0,{NOTE_MAX}}})?$"
)
"""What ``X-Purpose`` may be, exactly (the parser and the OpenAPI document use it)."""
_PURPOSE = re.compile(PURPOSE_PATTERN)


class PurposeRequiredError(ApplicationError):
    status = 400
    code = "purpose_required"


class InvalidPurposeError(ApplicationError):
    status = 400
    code = "invalid_purpose"


@dataclass(frozen=True)
class StatedPurpose:
    purpose: Purpose
    note: str | None = None

    @classmethod
    def parse(cls, header: str | None) -> "StatedPurpose":
        """``purpose`` or ``purpose: note`` (see the module's docstring)."""
        if header is None or not header.strip():
            raise purpose_required()
        if not _PURPOSE.fullmatch(header):
            raise InvalidPurposeError(
                f"{PURPOSE_HEADER} must be one of " + ", ".join(sorted(CLAIMABLE)) + ", "
                f"optionally followed by ':' and a note of up to {NOTE_MAX} characters "
                "without control characters (percent-encoded UTF-8 beyond ASCII)",
                header=PURPOSE_HEADER,
                allowed=sorted(CLAIMABLE),
            )
        name, _, note = header.partition(":")
        # The pattern admits only well-formed UTF-8 escapes: decoding cannot fail.
        return cls(Purpose(name), unquote(note, errors="strict").strip() or None)


def purpose_required() -> PurposeRequiredError:
    """The answer to a read of personal data without ``X-Purpose``."""
    return PurposeRequiredError(
        f"reading personal data needs the header {PURPOSE_HEADER}; one of "
        + ", ".join(sorted(CLAIMABLE)),
        header=PURPOSE_HEADER,
        allowed=sorted(CLAIMABLE),
    )


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


def personal_read(authenticate: Authenticator, log: AccessLog) -> Any:
    """The FastAPI dependency of routes that open personal data, for
    ``Reading = Annotated[PersonalRead, personal_read(authenticate, access_log)]``.

    It authenticates first (a missing token stays 401), then requires the stated purpose
    (400 ``purpose_required``), hands the route a :class:`PersonalRead`, and after the route
    returned writes what the route noted with :meth:`PersonalRead.opened`. If writing fails
    the request fails: nothing is revealed without its log entry.
    """

    async def dependency(
        request: Request,
        principal: Annotated[Principal, Depends(authenticate)],
        # Required: a request without it is answered 400 ``purpose_required`` (see
        # ``shared.api``), after the token was checked.
        x_purpose: Annotated[
            str,
            Header(
                alias=PURPOSE_HEADER,
                description="Why the data is read: case_work, visit_planning, coaching or "
                f"audit, optionally followed by ':' and a note of up to {NOTE_MAX} "
                "characters (percent-encoded UTF-8 beyond ASCII). Without it: 400 "
                "purpose_required; not of this form: 400 invalid_purpose.",
                json_schema_extra={"pattern": PURPOSE_PATTERN},
                examples=["case_work", "visit_planning: round of 3 December"],
            ),
        ],
    ) -> AsyncIterator[PersonalRead]:
        # On the event loop (no I/O before the route): no thread-pool hop of its own.
        stated = StatedPurpose.parse(x_purpose)
        route = request.scope.get("route")
        # The template as documented (``/cases/{case_id}``, not ``{case_id:uuid}``).
        path = getattr(route, "path_format", None) or getattr(route, "path", request.url.path)
        read = PersonalRead(principal, stated, f"{request.method} {path}", log)
        yield read
        if read.pending:  # not yet written by the route itself
            await run_in_threadpool(read.flush)

    # "function": the entries are written when the route returned, before the response goes.
    return Depends(dependency, scope="function")
