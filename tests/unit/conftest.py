"""Fixtures of the unit tests: an in-memory keyring and a personal-data cipher over it."""

from __future__ import annotations

import pytest

from shared.privacy import PersonalDataCipher

from .memory_keystore import InMemoryKeyStore

BLIND_INDEX_KEY = b"unit-test-blind-index-key"


@pytest.fixture
def keystore() -> InMemoryKeyStore:
    return InMemoryKeyStore()


@pytest.fixture
def cipher(keystore: InMemoryKeyStore) -> PersonalDataCipher:
    return PersonalDataCipher(keystore, BLIND_INDEX_KEY)
