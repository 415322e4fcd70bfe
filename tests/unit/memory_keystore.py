"""An in-memory keyring for unit tests: the same contract as ``shared.keyring.Keyring``."""

from __future__ import annotations

import os
from collections.abc import Sequence
from uuid import UUID, uuid4

from shared.privacy import RECORD


class InMemoryKeyStore:
    """Implements ``shared.privacy.KeyStore`` with dictionaries.

    Like the PostgreSQL keyring, destroying all of a subject's keys also forgets its lookup:
    a person reported again after erasure becomes a new subject with a new key. Destroying
    one category's key keeps the person; the next seal of that category makes a new key.
    """

    def __init__(self) -> None:
        self.subjects: dict[bytes, UUID] = {}
        self.keys: dict[tuple[UUID, str], bytes] = {}
        self.erased: set[UUID] = set()
        self.erased_categories: set[tuple[UUID, str]] = set()

    def subject_for(self, lookup: bytes) -> UUID:
        subject_id = self.subjects.get(lookup)
        if subject_id is None:
            subject_id = uuid4()
            self.subjects[lookup] = subject_id
            self.keys[(subject_id, RECORD)] = os.urandom(32)
        return subject_id

    def subjects_for(self, lookups: Sequence[bytes]) -> list[UUID]:
        return [self.subject_for(lookup) for lookup in lookups]

    def data_key(self, subject_id: UUID, category: str = RECORD) -> bytes | None:
        return self.keys.get((subject_id, str(category)))

    def sealing_key(self, subject_id: UUID, category: str = RECORD) -> bytes | None:
        category = str(category)
        key = self.keys.get((subject_id, category))
        if key is None and category != RECORD and (subject_id, RECORD) in self.keys:
            key = self.keys[(subject_id, category)] = os.urandom(32)
        return key

    def destroy(self, subject_id: UUID, category: str | None = None) -> None:
        if category is not None and category != RECORD:
            self.keys.pop((subject_id, str(category)), None)
            self.erased_categories.add((subject_id, str(category)))
            return
        self.keys = {k: v for k, v in self.keys.items() if k[0] != subject_id}
        self.erased.add(subject_id)
        self.subjects = {k: v for k, v in self.subjects.items() if v != subject_id}
