"""An in-memory keyring for unit tests: the same contract as ``shared.privacy.Keyring``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from uuid import UUID, uuid4


class InMemoryKeyStore:
    """Implements ``shared.privacy.KeyStore`` with dictionaries.

    Like the PostgreSQL keyring, destroying a subject's key also forgets its lookup: a person
    reported again after erasure becomes a new subject with a new key.
    """

    def __init__(self) -> None:
        self.subjects: dict[bytes, UUID] = {}
        self.keys: dict[UUID, bytes] = {}
        self.erased: set[UUID] = set()

    def subject_for(self, lookup: bytes) -> UUID:
        subject_id = self.subjects.get(lookup)
        if subject_id is None:
            subject_id = uuid4()
            self.subjects[lookup] = subject_id
            self.keys[subject_id] = os.urandom(32)
        return subject_id

    def subjects_for(self, lookups: Sequence[bytes]) -> list[UUID]:
        return [self.subject_for(lookup) for lookup in lookups]

    def data_key(self, subject_id: UUID) -> bytes | None:
        return self.keys.get(subject_id)

    def destroy(self, subject_id: UUID) -> None:
        self.keys.pop(subject_id, None)
        self.erased.add(subject_id)
        self.subjects = {k: v for k, v in self.subjects.items() if v != subject_id}
