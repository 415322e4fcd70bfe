"""Per-person encryption of personal data (crypto-shredding).

Every person (subject) has one random 256-bit data key in the keyring database, stored
wrapped (AES-GCM) with the keyring's key-encryption key. Personal fields are sealed into
tokens ``pii:v1:<subject hex>:<base64url(nonce || ciphertext)>`` that can stand in an event
log, a Kafka payload or a projection row. Destroying the subject's key makes every token of
that person unreadable everywhere; readers then get :data:`ERASED`, never an exception.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Annotated, Final, Protocol
from uuid import UUID, uuid4

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg_pool import ConnectionPool
from pydantic import Field

from shared.errors import ConflictError

ERASED: Final = "[erased]"
"""What a reader gets for a personal field whose subject has been erased."""

TOKEN_PREFIX: Final = "pii:v1:"  # noqa: S105 - a format marker, not a secret
TOKEN_PATTERN: Final = r"^pii:v1:[0-9a-f]{32}:[A-Za-z0-9_-]+={0,2}$"  # noqa: S105

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
CREATE TABLE IF NOT EXISTS subject_keys (
    subject_id uuid PRIMARY KEY,
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS subject_index (
    lookup bytea PRIMARY KEY,
    subject_id uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS erased_subjects (
    subject_id uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);
"""


class KeyStore(Protocol):
    """Where the data keys live (the keyring database; an in-memory one in unit tests)."""

    def subject_for(self, lookup: bytes) -> UUID: ...

    def subjects_for(self, lookups: Sequence[bytes]) -> list[UUID]: ...

    def data_key(self, subject_id: UUID) -> bytes | None: ...

    def destroy(self, subject_id: UUID) -> None: ...


class Keyring:
    """The data keys of all persons, kept in their own PostgreSQL database."""

    def __init__(self, pool: ConnectionPool, kek: bytes, cache_seconds: float = 30.0) -> None:
        if len(kek) != 32:
            raise KeyringError("the key-encryption key must be 32 bytes")
        self._pool = pool
        self._kek = AESGCM(kek)
        self._cache_seconds = cache_seconds
        self._cache: dict[UUID, tuple[float, bytes | None]] = {}
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
                "LEFT JOIN subject_keys k USING (subject_id) WHERE i.lookup = ANY(%s)",
                (unique,),
            ).fetchall()
            known: dict[UUID, bytes | None] = {}
            for lookup, subject, wrapped in rows:
                subject_id = UUID(str(subject))
                found[bytes(lookup)] = subject_id
                known[subject_id] = None if wrapped is None else self._unwrap(subject_id, wrapped)
            missing = [lookup for lookup in unique if lookup not in found]
            if missing:
                new = {lookup: uuid4() for lookup in missing}
                keys = {s: AESGCM.generate_key(bit_length=256) for s in new.values()}
                with conn.cursor() as cursor:
                    cursor.executemany(
                        "INSERT INTO subject_keys (subject_id, wrapped_key) VALUES (%s, %s) "
                        "ON CONFLICT (subject_id) DO NOTHING",
                        [(s, self._wrap(s, key)) for s, key in keys.items()],
                    )
                    # A lookup created meanwhile by another writer keeps its subject (the key
                    # stored above for the unused id is never referenced).
                    cursor.executemany(
                        "INSERT INTO subject_index (lookup, subject_id) VALUES (%s, %s) "
                        "ON CONFLICT (lookup) DO UPDATE SET lookup = EXCLUDED.lookup "
                        "RETURNING lookup, subject_id",
                        list(new.items()),
                        returning=True,
                    )
                    while True:
                        for lookup, subject in cursor.fetchall():
                            found[bytes(lookup)] = UUID(str(subject))
                        if not cursor.nextset():
                            break
                used = set(found.values())
                fresh = {s: key for s, key in keys.items() if s in used}
        now = time.monotonic()
        with self._lock:
            for subject_id, key in (*known.items(), *fresh.items()):
                self._cache[subject_id] = (now, key)
        return [found[lookup] for lookup in lookups]

    def _wrap(self, subject_id: UUID, data_key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._kek.encrypt(nonce, data_key, subject_id.bytes)

    def _unwrap(self, subject_id: UUID, wrapped: bytes) -> bytes:
        wrapped = bytes(wrapped)
        return self._kek.decrypt(wrapped[:12], wrapped[12:], subject_id.bytes)

    def data_key(self, subject_id: UUID) -> bytes | None:
        """The subject's data key, or ``None`` when it was destroyed (or never existed)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(subject_id)
        if cached is not None and now - cached[0] < self._cache_seconds:
            return cached[1]
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT wrapped_key FROM subject_keys WHERE subject_id = %s", (subject_id,)
            ).fetchone()
        key = None if row is None else self._unwrap(subject_id, row[0])
        with self._lock:
            self._cache[subject_id] = (now, key)
        return key

    def destroy(self, subject_id: UUID) -> None:
        """Hard-delete the subject's key: every token of this person becomes unreadable."""
        with self._pool.connection() as conn:
            conn.execute("DELETE FROM subject_keys WHERE subject_id = %s", (subject_id,))
            # Forget the lookup too: a person who comes back later is a new subject.
            conn.execute("DELETE FROM subject_index WHERE subject_id = %s", (subject_id,))
            conn.execute(
                "INSERT INTO erased_subjects (subject_id) VALUES (%s) ON CONFLICT DO NOTHING",
                (subject_id,),
            )
        self.evict(subject_id)

    def evict(self, subject_id: UUID) -> None:
        with self._lock:
            self._cache.pop(subject_id, None)


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

    def seal(self, subject_id: UUID, plaintext: str) -> str:
        key = self._keyring.data_key(subject_id)
        if key is None:
            raise SubjectErasedError(f"subject {subject_id} has been erased")
        nonce = os.urandom(12)
        ciphertext = AESGCM(key).encrypt(nonce, plaintext.encode(), subject_id.bytes)
        body = base64.urlsafe_b64encode(nonce + ciphertext).decode()
        return f"{TOKEN_PREFIX}{subject_id.hex}:{body}"

    def seal_optional(self, subject_id: UUID, plaintext: str | None) -> str | None:
        return None if plaintext is None else self.seal(subject_id, plaintext)

    def open(self, token: str) -> str:
        """The plaintext of a token, or :data:`ERASED` if it can no longer be read (the
        subject's key is gone, or the token was damaged). A view row blanked after an
        erasure holds :data:`ERASED` itself, which reads as such."""
        if token == ERASED:
            return ERASED
        if not token.startswith(TOKEN_PREFIX):
            raise ValueError("not a sealed personal field")
        try:
            subject_id, blob = _parse(token)
        except ValueError:
            return ERASED
        key = self._keyring.data_key(subject_id)
        if key is None or len(blob) < 12 + 16:
            return ERASED
        try:
            return AESGCM(key).decrypt(blob[:12], blob[12:], subject_id.bytes).decode()
        except (InvalidTag, UnicodeDecodeError):
            return ERASED

    def open_optional(self, token: str | None) -> str | None:
        return None if token is None else self.open(token)

    def open_all(self, tokens: Iterable[str]) -> list[str]:
        return [self.open(token) for token in tokens]


def _parse(token: str) -> tuple[UUID, bytes]:
    if not token.startswith(TOKEN_PREFIX):
        raise ValueError("not a sealed personal field")
    subject_hex, _, body = token[len(TOKEN_PREFIX) :].partition(":")
    try:
        return UUID(hex=subject_hex), base64.urlsafe_b64decode(body)
    except binascii.Error as error:
        raise ValueError(f"damaged token: {error}") from None


def subject_of(token: str) -> UUID:
    return _parse(token)[0]
