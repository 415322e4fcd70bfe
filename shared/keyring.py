"""The keyring: every person's data keys in a PostgreSQL database of their own, wrapped
(AES-GCM) with the key-encryption key, cached for a short while; the store behind
:class:`shared.privacy.PersonalDataCipher` (see there for the tokens and the categories)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID, uuid4

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import Connection
from psycopg_pool import ConnectionPool

from shared.metrics.counters import KEY_CACHE
from shared.privacy import RECORD, DataCategory, key_context


class KeyringError(Exception):
    """Raised when the keyring cannot serve a request."""


SCHEMA_SQL = """
SELECT pg_advisory_xact_lock(hashtext('outreach.keyring.schema'));
CREATE TABLE IF NOT EXISTS subject_keys (
    subject_id uuid NOT NULL,
    category text NOT NULL DEFAULT 'record',
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, category)
);
-- A keyring of before the data categories: one key per subject, which is its record key.
-- Checked first, so a current keyring is not locked at every start of a service.
DO $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'subject_keys'
            AND column_name = 'category'
    ) THEN
        ALTER TABLE subject_keys ADD COLUMN category text NOT NULL DEFAULT 'record';
        ALTER TABLE subject_keys DROP CONSTRAINT IF EXISTS subject_keys_pkey;
        ALTER TABLE subject_keys ADD PRIMARY KEY (subject_id, category);
    END IF;
END
$$;
CREATE TABLE IF NOT EXISTS subject_index (
    lookup bytea PRIMARY KEY,
    subject_id uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS erased_subjects (
    subject_id uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS erased_categories (
    subject_id uuid NOT NULL,
    category text NOT NULL,
    erased_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subject_id, category)
);
"""


class Keyring:
    """The data keys of all persons, kept in their own PostgreSQL database."""

    def __init__(self, pool: ConnectionPool, kek: bytes, cache_seconds: float = 30.0) -> None:
        if len(kek) != 32:
            raise KeyringError("the key-encryption key must be 32 bytes")
        self._pool = pool
        self._kek = AESGCM(kek)
        self._cache_seconds = cache_seconds
        self._cache: dict[tuple[UUID, str], tuple[float, bytes | None]] = {}
        self._lock = threading.Lock()

    def create_schema(self) -> None:
        with self._pool.connection() as conn:
            conn.execute(SCHEMA_SQL)

    def subject_for(self, lookup: bytes) -> UUID:
        """The stable subject id for a blind-index lookup value, created (with its key) if new.

        The subject's data key is cached on the way, so sealing its fields needs no query.
        """
        return self.subjects_for([lookup])[0]

    def subjects_for(self, lookups: Sequence[bytes]) -> list[UUID]:
        """:meth:`subject_for` of many lookup values (in their order), for bulk imports.

        One query finds the known subjects, one ``executemany`` stores the keys of the new
        ones and one their lookups. The data keys of all of them are cached, so sealing their
        fields right after needs no further query.
        """
        unique = list(dict.fromkeys(lookups))
        if not unique:
            return []
        with self._pool.connection() as conn:
            found, known = self._known(conn, unique)
            missing = [lookup for lookup in unique if lookup not in found]
            fresh = self._create(conn, missing, found) if missing else {}
        now = time.monotonic()
        with self._lock:
            for subject_id, key in (*known.items(), *fresh.items()):
                self._cache[(subject_id, RECORD)] = (now, key)
        return [found[lookup] for lookup in lookups]

    def _known(
        self, conn: Connection[Any], lookups: list[bytes]
    ) -> tuple[dict[bytes, UUID], dict[UUID, bytes | None]]:
        """The subjects of the lookups already known, and their record keys."""
        rows = conn.execute(
            "SELECT i.lookup, i.subject_id, k.wrapped_key FROM subject_index i "
            "LEFT JOIN subject_keys k ON k.subject_id = i.subject_id "
            "AND k.category = 'record' WHERE i.lookup = ANY(%b)",
            (lookups,),
        ).fetchall()
        found: dict[bytes, UUID] = {}
        known: dict[UUID, bytes | None] = {}
        for lookup, subject, wrapped in rows:
            subject_id = UUID(str(subject))
            found[bytes(lookup)] = subject_id
            known[subject_id] = (
                None if wrapped is None else self._unwrap(subject_id, RECORD, wrapped)
            )
        return found, known

    def _create(
        self, conn: Connection[Any], missing: list[bytes], found: dict[bytes, UUID]
    ) -> dict[UUID, bytes]:
        """New subjects (and record keys) for the ``missing`` lookups, added to ``found``;
        the keys of those that are used."""
        new = {lookup: uuid4() for lookup in missing}
        keys = {s: AESGCM.generate_key(bit_length=256) for s in new.values()}
        # One statement for all the new keys, one for all the new lookups (arrays sent in
        # binary: no escaping of every byte string).
        conn.execute(
            "INSERT INTO subject_keys (subject_id, category, wrapped_key) "
            "SELECT s, 'record', k FROM unnest(%b::uuid[], %b::bytea[]) AS n(s, k) "
            "ON CONFLICT DO NOTHING",
            (list(keys), [self._wrap(s, RECORD, key) for s, key in keys.items()]),
        )
        # A lookup created meanwhile by another writer keeps its subject (the key stored
        # above for the unused id is never referenced).
        rows = conn.execute(
            "INSERT INTO subject_index (lookup, subject_id) "
            "SELECT l, s FROM unnest(%b::bytea[], %b::uuid[]) AS n(l, s) "
            "ON CONFLICT (lookup) DO UPDATE SET lookup = EXCLUDED.lookup "
            "RETURNING lookup, subject_id",
            (list(new), list(new.values())),
        ).fetchall()
        for lookup, subject in rows:
            found[bytes(lookup)] = UUID(str(subject))
        used = set(found.values())
        return {s: key for s, key in keys.items() if s in used}

    def _wrap(self, subject_id: UUID, category: str, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._kek.encrypt(nonce, data_key, key_context(subject_id, category))

    def _unwrap(self, subject_id: UUID, category: str, wrapped: bytes) -> bytes:
        wrapped = bytes(wrapped)
        return self._kek.decrypt(wrapped[:12], wrapped[12:], key_context(subject_id, category))

    def data_key(self, subject_id: UUID, category: str = DataCategory.RECORD) -> bytes | None:
        """The subject's data key of ``category``, or ``None`` when it was destroyed (or
        never existed)."""
        category = str(category)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get((subject_id, category))
        if cached is not None and now - cached[0] < self._cache_seconds:
            KEY_CACHE.labels("hit").inc()
            return cached[1]
        KEY_CACHE.labels("miss").inc()
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT wrapped_key FROM subject_keys WHERE subject_id = %s AND category = %s",
                (subject_id, category),
            ).fetchone()
        key = None if row is None else self._unwrap(subject_id, category, row[0])
        with self._lock:
            self._cache[(subject_id, category)] = (now, key)
        return key

    def prefetch(self, wanted: Iterable[tuple[UUID, str]]) -> None:
        """Bring the keys of (subject, category) pairs that are not cached into the cache with
        one query (a page of a queue shows dozens of persons: not one query per person)."""
        now = time.monotonic()
        with self._lock:
            missing = []
            for subject_id, category in dict.fromkeys(wanted):
                cached = self._cache.get((subject_id, category))
                if cached is None or now - cached[0] >= self._cache_seconds:
                    missing.append((subject_id, str(category)))
        KEY_CACHE.labels("miss").inc(len(missing))  # the hits count when data_key reads them
        if not missing:
            return
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT k.subject_id, k.category, k.wrapped_key FROM subject_keys k "
                "JOIN unnest(%s::uuid[], %s::text[]) AS w(subject_id, category) "
                "USING (subject_id, category)",
                ([s for s, _ in missing], [c for _, c in missing]),
            ).fetchall()
        found = {
            (UUID(str(subject)), category): self._unwrap(UUID(str(subject)), category, wrapped)
            for subject, category, wrapped in rows
        }
        with self._lock:
            for pair in missing:
                self._cache[pair] = (now, found.get(pair))

    def sealing_key(self, subject_id: UUID, category: str = DataCategory.RECORD) -> bytes | None:
        """The key to seal new data of ``category`` with: :meth:`data_key`, and for a
        category other than ``record`` a new key if the person has none (the first note, or
        the first after retention destroyed the notes' key). ``None`` once the person is
        erased (their record key is gone)."""
        category = str(category)
        key = self.data_key(subject_id, category)
        if key is not None or category == RECORD:
            return key
        with self._pool.connection() as conn:
            # The record key row is share-locked: an erasure of the person (``destroy``)
            # waits for this insert and then deletes the new key too, or runs first and
            # nothing is inserted.
            alive = conn.execute(
                "SELECT 1 FROM subject_keys WHERE subject_id = %s AND category = 'record' "
                "FOR SHARE",
                (subject_id,),
            ).fetchone()
            if alive is None:
                return None
            conn.execute(
                "INSERT INTO subject_keys (subject_id, category, wrapped_key) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                (
                    subject_id,
                    category,
                    self._wrap(subject_id, category, AESGCM.generate_key(bit_length=256)),
                ),
            )
            row = conn.execute(
                "SELECT wrapped_key FROM subject_keys WHERE subject_id = %s AND category = %s",
                (subject_id, category),
            ).fetchone()
        key = None if row is None else self._unwrap(subject_id, category, row[0])
        with self._lock:
            self._cache[(subject_id, category)] = (time.monotonic(), key)
        return key

    def destroy(self, subject_id: UUID, category: str | None = None) -> None:
        """Hard-delete keys of the subject. Without a category (or with ``record``, whose
        key is the person): all of them — every token of this person becomes unreadable (the
        erasure). With another category: only its key — the tokens of that category read
        :data:`ERASED`, the rest of the person stays readable (retention)."""
        if category is not None and category != RECORD:
            with self._pool.connection() as conn:
                conn.execute(
                    "DELETE FROM subject_keys WHERE subject_id = %s AND category = %s",
                    (subject_id, str(category)),
                )
                conn.execute(
                    "INSERT INTO erased_categories (subject_id, category) VALUES (%s, %s) "
                    "ON CONFLICT (subject_id, category) DO UPDATE SET erased_at = now()",
                    (subject_id, str(category)),
                )
            self.evict(subject_id, category)
            return
        with self._pool.connection() as conn:
            # Locked first, so a category key being made meanwhile (``sealing_key``) is
            # committed before the delete below looks for the subject's keys.
            conn.execute(
                "SELECT 1 FROM subject_keys WHERE subject_id = %s AND category = 'record' "
                "FOR UPDATE",
                (subject_id,),
            )
            conn.execute("DELETE FROM subject_keys WHERE subject_id = %s", (subject_id,))
            # Forget the lookup too: a person who comes back later is a new subject.
            conn.execute("DELETE FROM subject_index WHERE subject_id = %s", (subject_id,))
            conn.execute(
                "INSERT INTO erased_subjects (subject_id) VALUES (%s) ON CONFLICT DO NOTHING",
                (subject_id,),
            )
        self.evict(subject_id)

    def evict(self, subject_id: UUID, category: str | None = None) -> None:
        """Forget cached keys of the subject (all of them, or one category's)."""
        with self._lock:
            if category is not None:
                self._cache.pop((subject_id, str(category)), None)
                return
            for cached in [k for k in self._cache if k[0] == subject_id]:
                del self._cache[cached]
