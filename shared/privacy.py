"""Per-person encryption of personal data (crypto-shredding).

Every person (subject) has random 256-bit data keys in the keyring database, one per data
category, stored wrapped (AES-GCM) with the keyring's key-encryption key. Personal fields are
sealed into tokens that can stand in an event log, a Kafka payload or a projection row:

- ``pii:v1:<subject hex>:<base64url(nonce || ciphertext)>`` — the category ``record`` (the
  person's case record: name, address, ...; every field that travels between services);
- ``pii:v2:<subject hex>:<category>:<base64url(nonce || ciphertext)>`` — a category that is
  erased on its own, earlier than the record (:class:`DataCategory`, e.g. ``visit_note``).

Destroying all of the subject's keys (:meth:`shared.keyring.Keyring.destroy` without a category: the
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
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Annotated, Final, Protocol, runtime_checkable
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import Field

from shared.errors import ConflictError

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


class SubjectErasedError(ConflictError):
    """Raised when new data is sealed for a subject whose key was destroyed."""

    code = "subject_erased"


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


@runtime_checkable
class PrefetchingKeyStore(KeyStore, Protocol):
    """A key store that can bring many keys into its cache with one query (the database
    keyring, :class:`shared.keyring.Keyring`)."""

    def prefetch(self, wanted: Iterable[tuple[UUID, str]]) -> None: ...


def key_context(subject_id: UUID, category: str) -> bytes:
    """The associated data that binds a wrapped key, and a token, to its subject and
    category (the ``record`` category: the subject alone, as before the categories)."""
    if category == DataCategory.RECORD:
        return subject_id.bytes
    return subject_id.bytes + b":" + category.encode()


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
        if isinstance(self._keyring, PrefetchingKeyStore):
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
