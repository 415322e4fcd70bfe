"""Fixtures shared by the integration and end-to-end tests.

The real PostgreSQL, Apache Kafka and Keycloak are started by the project's launcher
(``deploy/local/stack.py up``, idempotent). Tests isolate themselves by using their own
district names, topics and consumer groups, so they can run against a stack that also
serves ``make up``.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from shared.auth import Principal, Role, TokenCodec
from shared.contracts import all_topics
from shared.kafka import ensure_topics
from shared.privacy import Keyring, PersonalDataCipher
from shared.settings import KEYRING_DATABASE, ServiceSettings
from tests.support.helpers import TEST_DATABASE
from tests.support.keycloak import KeycloakUsers

ROOT = Path(__file__).resolve().parents[1]

pytest_plugins = ["pytester", "tests.support.tiers"]


@pytest.fixture(scope="session")
def settings() -> ServiceSettings:
    return ServiceSettings()


@pytest.fixture(scope="session")
def stack(settings: ServiceSettings) -> ServiceSettings:
    """PostgreSQL, Kafka and Keycloak, started by the project's own launcher."""
    subprocess.run([sys.executable, str(ROOT / "deploy/local/stack.py"), "up"], check=True)
    with psycopg.connect(settings.database_url("postgres"), autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (TEST_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{TEST_DATABASE}"')
    ensure_topics(settings, all_topics())
    return settings


@pytest.fixture(scope="session")
def keyring(stack: ServiceSettings) -> Iterator[Keyring]:
    pool = ConnectionPool(stack.database_url(KEYRING_DATABASE), min_size=1, max_size=4)
    ring = Keyring(pool, base64.b64decode(stack.secret("keyring_kek")), cache_seconds=0)
    ring.create_schema()
    yield ring
    pool.close()


@pytest.fixture(scope="session")
def cipher(stack: ServiceSettings, keyring: Keyring) -> PersonalDataCipher:
    return PersonalDataCipher(keyring, stack.secret("blind_index_key").encode())


@pytest.fixture
def district() -> str:
    """A district of this test alone, so counts and queues are not shared."""
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic(stack: ServiceSettings) -> str:
    """A fresh topic (and its dead-letter topic) of this test alone."""
    name = f"test.{uuid.uuid4().hex[:10]}"
    ensure_topics(stack, [name, name + ".dlq"])
    return name


@pytest.fixture(scope="session")
def mint(settings: ServiceSettings) -> Callable[..., str]:
    codec = TokenCodec.from_settings(settings)

    def _mint(user: str, role: Role | str, *districts: str) -> str:
        return codec.mint(Principal(user=user, role=Role(role), districts=frozenset(districts)))

    return _mint


@pytest.fixture(scope="session")
def keycloak_users(stack: ServiceSettings) -> Iterator[KeycloakUsers]:
    """Tokens of the local Keycloak for any user, role and districts (``keycloak_users.mint``
    has the signature of ``mint``)."""
    users = KeycloakUsers()
    yield users
    users.close()
