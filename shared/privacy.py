"""Per-person encryption of personal data (crypto-shredding).

Every person (subject) has random 256-bit data keys in the keyring database, one per data
category, stored wrapped (AES-GCM) with the keyring's key-encryption key. Personal fields are
sealed into tokens that can stand in an event log, a Kafka payload or a projection row:

- ``pii:v1:<subject hex>:<base64url(nonce || ciphertext)>`` — the category ``record`` (the
  person's case record: name, address, ...; every field that travels between services);
- ``pii:v2:<subject hex>:<category>:<base64url(nonce || ciphertext)>`` — a category that is
  erased on its own, earlier than the record (:class:`DataCategory`, e.g. ``visit_note``).

Destroying all of the subject's keys (:meth:`Keyring.destroy` without a category: the
erasure of the person) makes every token of that person unreadable everywhere; destroying one
category's key (``destroy(subject, category)``: retention) only the tokens of that category.
Readers then get :data:`ERASED`, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Final, Protocol
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import ConnectionPool
from pydantic import Field

from shared.errors import ConflictError
from shared.metrics.counters import KEY_CACHE

ERASED: Final = "[erased]"
"""What a reader gets for a personal field whose subject has been erased."""

TOKEN_PREFIX: Final = "pii:"  # noqa: S105 - a format marker (of every version), not a secret
RECORD_TOKEN_PREFIX: Final = "pii:v1:"  # noqa: S105
CATEGORY_TOKEN_PREFIX: Final = "pii:v2:"  # noqa: S105
TOKEN_PATTERN: Final = r"^pii:v1:[0-9a-f]{32}:[A-Za-z0-9_-]+={0,2}$"  # noqa: S105
"""A token of the ``record`` category: what a contract (:data:`Sealed`) carries. Categories
erased on their own stay in the service that owns them."""


class DataCategory(StrEnum):
    """The data categories of a person, each sealed with a data key of its own."""

    RECORD = "record"
    """The case record (every personal field unless stated otherwise); its key goes only
    with the whole person."""
    VISIT_NOTE = "visit_note"
    """Free-text notes of home visits (visits service): erased by retention before the
    record."""


RECORD: Final[str] = DataCategory.RECORD.value
_CATEGORIES: Final = frozenset(c.value for c in DataCategory)
SEPARATELY_ERASABLE: Final = frozenset(DataCategory) - {DataCategory.RECORD}

Sealed = Annotated[
    str,
    Field(
        pattern=TOKEN_PATTERN,
        description="A personal field sealed with the subject's data key (AES-256-GCM).",
        examples=["pii:v1:5f0c7ad2a7a94c5e9c1f0e3d2b1a0f9e:q1w2e3r4t5y6u7i8o9p0"],
    ),
]
"""A personal field in a contract: never plaintext, only a token of :class:`PersonalDataCipher`."""


class KeyringError(Exception):
    """Raised when the keyring cannot serve a request."""


class SubjectErasedError(ConflictError):
    """Raised when new data is sealed for a subject whose key was destroyed."""

    code = "subject_erased"


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


class KeyStore(Protocol):
    """Where the data keys live (the keyring database; an in-memory one in unit tests).

    ``data_key`` reads a key (``None``: destroyed or never made); ``sealing_key`` also makes
    the key of a category other than ``record`` when the person has none (yet, or again
    after retention destroyed it), unless the person is erased (``None``). ``destroy``
    without a category erases the person; with one, only that category's key goes.
    """

    def subject_for(self, lookup: bytes) -> UUID: ...

    def subjects_for(self, lookups: Sequence[bytes]) -> list[UUID]: ...

    def data_key(self, subject_id: UUID, category: str = DataCategory.RECORD) -> bytes | None: ...

    def sealing_key(
        self, subject_id: UUID, category: str = DataCategory.RECORD
    ) -> bytes | None: ...

    def destroy(self, subject_id: UUID, category: str | None = None) -> None: ...


def key_context(subject_id: UUID, category: str) -> bytes:
    """The associated data that binds a wrapped key, and a token, to its subject and
    category (the ``record`` category: the subject alone, as before the categories)."""
    if category == DataCategory.RECORD:
        return subject_id.bytes
    return subject_id.bytes + b":" + category.encode()


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
        found: dict[bytes, UUID] = {}
        fresh: dict[UUID, bytes] = {}
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT i.lookup, i.subject_id, k.wrapped_key FROM subject_index i "
                "LEFT JOIN subject_keys k ON k.subject_id = i.subject_id "
                "AND k.category = 'record' WHERE i.lookup = ANY(%b)",
                (unique,),
            ).fetchall()
            known: dict[UUID, bytes | None] = {}
            for lookup, subject, wrapped in rows:
                subject_id = UUID(str(subject))
                found[bytes(lookup)] = subject_id
                known[subject_id] = (
                    None if wrapped is None else self._unwrap(subject_id, RECORD, wrapped)
                )
            missing = [lookup for lookup in unique if lookup not in found]
            if missing:
                new = {lookup: uuid4() for lookup in missing}
                keys = {s: AESGCM.generate_key(bit_length=256) for s in new.values()}
                # One statement for all the new keys, one for all the new lookups (arrays
                # sent in binary: no escaping of every byte string).
                conn.execute(
                    "INSERT INTO subject_keys (subject_id, category, wrapped_key) "
                    "SELECT s, 'record', k FROM unnest(%b::uuid[], %b::bytea[]) AS n(s, k) "
                    "ON CONFLICT DO NOTHING",
                    (list(keys), [self._wrap(s, RECORD, key) for s, key in keys.items()]),
                )
                # A lookup created meanwhile by another writer keeps its subject (the key
                # stored above for the unused id is never referenced).
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
                fresh = {s: key for s, key in keys.items() if s in used}
        now = time.monotonic()
        with self._lock:
            for subject_id, key in (*known.items(), *fresh.items()):
                self._cache[(subject_id, RECORD)] = (now, key)
        return [found[lookup] for lookup in lookups]

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


class PersonalDataCipher:
    """Seals and opens personal fields with the subject's own key."""

    def __init__(self, keyring: KeyStore, blind_index_key: bytes) -> None:
        self._keyring = keyring
        self._blind_index_key = blind_index_key

    def blind_index(self, *parts: str) -> bytes:
        """A keyed hash to find a record by a personal value without storing the value."""
        message = "\x1f".join(part.strip().casefold() for part in parts).encode()
        return hmac.new(self._blind_index_key, message, hashlib.sha256).digest()

    def subject_for(self, *identity: str) -> UUID:
        return self._keyring.subject_for(self.blind_index("subject", *identity))

    def subjects_for(self, identities: Sequence[Sequence[str]]) -> list[UUID]:
        """:meth:`subject_for` of many persons at once (in their order), for bulk imports."""
        return self._keyring.subjects_for(
            [self.blind_index("subject", *identity) for identity in identities]
        )

    def seal(self, subject_id: UUID, plaintext: str, category: str = DataCategory.RECORD) -> str:
        """A token of ``plaintext`` under the subject's key of ``category`` (``record``: a
        ``pii:v1`` token; another category: ``pii:v2``, its key made on first use)."""
        token = self.seal_all(subject_id, [plaintext], category)[0]
        assert token is not None
        return token

    def seal_all(
        self,
        subject_id: UUID,
        plaintexts: Sequence[str | None],
        category: str = DataCategory.RECORD,
    ) -> list[str | None]:
        """:meth:`seal` of several fields of one person (``None`` stays ``None``): the key is
        looked up once, every field still gets a nonce of its own."""
        category = str(category)
        if category not in _CATEGORIES:
            raise ValueError(f"unknown data category {category!r}")
        key = self._keyring.sealing_key(subject_id, category)
        if key is None:
            raise SubjectErasedError(f"subject {subject_id} has been erased")
        aead, context = AESGCM(key), key_context(subject_id, category)
        if category == RECORD:
            prefix = f"{RECORD_TOKEN_PREFIX}{subject_id.hex}:"
        else:
            prefix = f"{CATEGORY_TOKEN_PREFIX}{subject_id.hex}:{category}:"
        sealed: list[str | None] = []
        for plaintext in plaintexts:
            if plaintext is None:
                sealed.append(None)
                continue
            nonce = os.urandom(12)
            ciphertext = aead.encrypt(nonce, plaintext.encode(), context)
            sealed.append(prefix + base64.urlsafe_b64encode(nonce + ciphertext).decode())
        return sealed

    def seal_optional(
        self, subject_id: UUID, plaintext: str | None, category: str = DataCategory.RECORD
    ) -> str | None:
        return None if plaintext is None else self.seal(subject_id, plaintext, category)

    def open(self, token: str) -> str:
        """The plaintext of a token, or :data:`ERASED` if it can no longer be read (the
        subject's key is gone, or the token was damaged). A view row blanked after an
        erasure holds :data:`ERASED` itself, which reads as such."""
        if token == ERASED:
            return ERASED
        if not token.startswith(TOKEN_PREFIX):
            raise ValueError("not a sealed personal field")
        try:
            subject_id, category, blob = _parse(token)
        except ValueError:
            return ERASED
        key = self._keyring.data_key(subject_id, category)
        if key is None or len(blob) < 12 + 16:
            return ERASED
        try:
            # A token of a category whose key was destroyed and made anew (a later note)
            # fails the authentication tag: it reads as erased, as it should.
            return (
                AESGCM(key)
                .decrypt(blob[:12], blob[12:], key_context(subject_id, category))
                .decode()
            )
        except (InvalidTag, UnicodeDecodeError):
            return ERASED

    def open_optional(self, token: str | None) -> str | None:
        return None if token is None else self.open(token)

    def open_all(self, tokens: Iterable[str]) -> list[str]:
        """:meth:`open` of many tokens; the keys the database keyring has not cached are
        fetched with one query first."""
        tokens = list(tokens)
        if isinstance(self._keyring, Keyring):
            wanted = []
            for token in tokens:
                with contextlib.suppress(ValueError):  # not a token, or damaged: open says
                    subject_id, category, _ = _parse(token)
                    wanted.append((subject_id, category))
            self._keyring.prefetch(wanted)
        return [self.open(token) for token in tokens]

    def open_all_optional(self, tokens: Iterable[str | None]) -> list[str | None]:
        """:meth:`open_all` of tokens some of which are ``None`` (and stay ``None``)."""
        tokens = list(tokens)
        opened = iter(self.open_all(t for t in tokens if t is not None))
        return [None if token is None else next(opened) for token in tokens]


def _parse(token: str) -> tuple[UUID, str, bytes]:
    """Subject, category and blob of a token (``ValueError`` if it is not one, or damaged)."""
    if token.startswith(RECORD_TOKEN_PREFIX):
        category = RECORD
        subject_hex, _, body = token[len(RECORD_TOKEN_PREFIX) :].partition(":")
    elif token.startswith(CATEGORY_TOKEN_PREFIX):
        subject_hex, _, rest = token[len(CATEGORY_TOKEN_PREFIX) :].partition(":")
        category, _, body = rest.partition(":")
        if category not in _CATEGORIES or category == RECORD:
            raise ValueError(f"damaged token: unknown data category {category!r}")
    else:
        raise ValueError("not a sealed personal field")
    try:
        return UUID(hex=subject_hex), category, base64.urlsafe_b64decode(body)
    except binascii.Error as error:
        raise ValueError(f"damaged token: {error}") from None


def subject_of(token: str) -> UUID:
    return _parse(token)[0]


def category_of(token: str) -> str:
    """The data category of a token (``record`` for a ``pii:v1`` token)."""
    return _parse(token)[1]
