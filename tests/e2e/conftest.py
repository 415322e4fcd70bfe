"""Fixtures of the end-to-end tests: the contacts service and a consuming projection (the
probe) running as processes against the real PostgreSQL and Kafka.

One contacts service serves the whole session; each test module gets a probe consumer with
a consumer group of its own. Tests that crash a process restart the same one, so the next
test finds it running.

The service under test has an event store of its own (a database created for the session,
chosen through ``OUTREACH_SERVICE_NAME``): a contacts service started by ``make up`` on the
same stack would otherwise share its projections and take turns with it at the relay's
advisory lock, and the tests could not tell which process published an event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from shared.contracts import dead_letter_topic, topic_of
from shared.kafka import ensure_topics
from shared.settings import ServiceSettings
from tests.support.e2e import ContactsApi, ProbeView
from tests.support.helpers import eventually, scratch_database
from tests.support.processes import ProbeProcess, ServiceProcess, start_group_at_end


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Logs and trace files of every process started by the end-to-end tests."""
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def contacts_database(stack: ServiceSettings) -> Iterator[str]:
    """The event store and views of the contacts service under test."""
    with scratch_database(stack, "contacts_e2e") as name:
        yield name


@pytest.fixture(scope="session")
def contacts_service(
    stack: ServiceSettings, contacts_database: str, e2e_dir: Path, mint: Callable[..., str]
) -> Iterator[ServiceProcess]:
    env = {
        "OUTREACH_SERVICE_NAME": contacts_database,
        # Without a key cache, erasing a person's key takes effect on the very next read.
        "OUTREACH_KEY_CACHE_SECONDS": "0",
        # Anchor the event chain's head on Kafka every second instead of every minute.
        "OUTREACH_CHAIN_ANCHOR_SECONDS": "1",
        # Break-glass grants expire after a few seconds, so a test can watch one run out.
        "OUTREACH_BREAK_GLASS_SECONDS": "4",
    }
    # Its coaching consumer starts with what coaching publishes from now on (not the topic's
    # history, whose cases this fresh database does not know).
    start_group_at_end(stack, f"{contacts_database}-coaching-notes", topic_of("coaching"))
    service = ServiceProcess(
        "contacts", e2e_dir, env, started=lambda started: wait_until_relay_active(started, mint)
    )
    service.start()
    yield service
    service.stop()


def wait_until_relay_active(service: ServiceProcess, mint: Callable[..., str]) -> None:
    """The relay of this very process holds the lock and publishes (checked after every
    start, so a test that crashed the service continues with a publishing one)."""
    headers = {"Authorization": f"Bearer {mint('tl-ops', 'team_lead', 'ops')}"}

    def active() -> bool:
        response = httpx.get(f"{service.url}/ops/relay", headers=headers, timeout=10)
        return response.status_code == 200 and bool(response.json()["active"])

    eventually(active, timeout=30, what=f"the relay of {service.name} to be active")


@pytest.fixture(scope="module")
def visits_database(stack: ServiceSettings) -> Iterator[str]:
    with scratch_database(stack, "visits_e2e") as name:
        yield name


@pytest.fixture(scope="module")
def visits_service(
    stack: ServiceSettings, visits_database: str, e2e_dir: Path, mint: Callable[..., str]
) -> Iterator[ServiceProcess]:
    """A visits service of the module's own (its own database and consumer groups)."""
    # Its consumers start with what contacts publishes from now on (not the topic's history).
    for consumer in ("board", "cancellations"):
        start_group_at_end(stack, f"{visits_database}-{consumer}", topic_of("contacts"))
    start_group_at_end(stack, f"{visits_database}-outreach-contracts", topic_of("coaching"))
    headers = {"Authorization": f"Bearer {mint('tl-ops', 'team_lead', 'ops')}"}

    def relay_active(service: ServiceProcess) -> None:
        def active() -> bool:
            response = httpx.get(f"{service.url}/ops/relay", headers=headers, timeout=10)
            return response.status_code == 200 and bool(response.json()["active"])

        eventually(active, timeout=30, what="the visits relay to be active")

    service = ServiceProcess(
        "visits", e2e_dir, {"OUTREACH_SERVICE_NAME": visits_database}, started=relay_active
    )
    service.start()
    yield service
    service.stop()


@pytest.fixture(scope="module")
def visits_client(visits_service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=visits_service.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def probe(
    stack: ServiceSettings, e2e_dir: Path, request: pytest.FixtureRequest
) -> Iterator[ProbeProcess]:
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    group = f"e2e-{module}-{uuid.uuid4().hex[:8]}"
    topic = topic_of("contacts")
    ensure_topics(stack, [topic, dead_letter_topic(topic)])
    start_group_at_end(stack, group, topic)
    consumer = ProbeProcess(group, e2e_dir)
    consumer.start()
    yield consumer
    consumer.stop()


@pytest.fixture(scope="session")
def api(contacts_service: ServiceProcess, mint: Callable[..., str]) -> Iterator[ContactsApi]:
    with httpx.Client(base_url=contacts_service.url, timeout=30) as client:
        yield ContactsApi(client, mint)


@pytest.fixture(scope="session")
def probe_view(stack: ServiceSettings) -> ProbeView:
    return ProbeView(stack)
