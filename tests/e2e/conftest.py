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

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from contacts.reporting.view import REPORT_TOPICS, consumer_name

from shared.contracts import ERASURE_TOPIC, dead_letter_topic, topic_of
from shared.messaging.kafka import ensure_topics
from shared.settings import ServiceSettings
from tests.support.e2e import ContactsApi, ProbeView
from tests.support.helpers import eventually, scratch_database
from tests.support.notifications import MailSink
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
    # Likewise its timeline consumers of the visits' and the letters' steps.
    start_group_at_end(stack, f"{contacts_database}-visit-steps", topic_of("visits"))
    start_group_at_end(stack, f"{contacts_database}-letters", topic_of("notifications"))
    # The outreach figures count what the tests publish, not the topics' history.
    for topic in REPORT_TOPICS:
        start_group_at_end(stack, consumer_name(contacts_database, topic), topic)
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
        "visits",
        e2e_dir,
        # No lead time in this deployment: a visit announced for today is made, and its
        # outcome recorded, today (an outcome needs the visit to have begun).
        {"OUTREACH_SERVICE_NAME": visits_database, "OUTREACH_DEFAULT_MIN_LEAD_DAYS": "0"},
        started=relay_active,
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


# --- the whole system: visits, coaching and notifications beside the session's contacts ---

SERVICES = ("contacts", "visits", "coaching", "notifications")
"""The whole system (``system``): the session's contacts service and the three started for it."""
STARTED_HERE = SERVICES[1:]

CONSUMER_GROUPS: dict[str, dict[str, str]] = {
    "visits": {
        "board": topic_of("contacts"),
        "cancellations": topic_of("contacts"),
        "outreach-contracts": topic_of("coaching"),
    },
    "coaching": {"case-directory": topic_of("contacts"), "visit-referrals": topic_of("visits")},
    "notifications": {
        **{f"directory-{p}": topic_of(p) for p in ("contacts", "visits", "coaching")},
        **{p: topic_of(p) for p in ("contacts", "visits", "coaching")},
    },
}
"""Each service's consumer groups (suffix after the database name -> topic), started at the
end of their topics: the fresh databases know nothing of the topics' history. Every service
also has its ``-erasures`` consumer (added below)."""


@pytest.fixture(scope="session")
def databases(stack: ServiceSettings, contacts_database: str) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as created:
        names = {
            s: created.enter_context(scratch_database(stack, f"{s}_e2e")) for s in STARTED_HERE
        }
        yield {"contacts": contacts_database, **names}


@pytest.fixture(scope="session")
def mail() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def system(
    stack: ServiceSettings,
    databases: dict[str, str],
    mail: MailSink,
    e2e_dir: Path,
    mint: Callable[..., str],
    contacts_service: ServiceProcess,
) -> Iterator[dict[str, ServiceProcess]]:
    """The four services, each publishing (its relay active); those started here are
    stopped at the end."""
    ops = {"Authorization": f"Bearer {mint('tl-ops', 'team_lead', 'ops')}"}

    def relay_active(started: ServiceProcess) -> None:
        def active() -> bool:
            response = httpx.get(f"{started.url}/ops/relay", headers=ops, timeout=10)
            return response.status_code == 200 and bool(response.json()["active"])

        eventually(active, timeout=30, what=f"the {started.service} relay to be active")

    running: dict[str, ServiceProcess] = {}
    try:
        for service in STARTED_HERE:
            database = databases[service]
            groups = {**CONSUMER_GROUPS[service], "erasures": ERASURE_TOPIC}
            for suffix, topic in groups.items():
                start_group_at_end(stack, f"{database}-{suffix}", topic)
            env = {
                "OUTREACH_SERVICE_NAME": database,
                # Anchor each event chain's head on Kafka every second.
                "OUTREACH_CHAIN_ANCHOR_SECONDS": "1",
            }
            if service == "notifications":
                env |= {"OUTREACH_SMTP_PORT": str(mail.port), "OUTREACH_OUTBOX_POLL_SECONDS": "0.2"}
            if service == "visits":  # a visit for today is made, and recorded, today
                env |= {"OUTREACH_DEFAULT_MIN_LEAD_DAYS": "0"}
            if service == "coaching":  # a coaching of one month is due for a decision
                env |= {"OUTREACH_EXTENSION_DUE_DAYS": "45"}
            # The default key cache (30 s) stays: the erasure consumer must evict the key.
            process = ServiceProcess(
                service, e2e_dir, env, started=relay_active, name=f"{service}-erasure"
            )
            running[service] = process
            process.start()
        yield {"contacts": contacts_service, **running}
    finally:
        for process in running.values():
            process.stop()


@pytest.fixture(scope="session")
def clients(system: dict[str, ServiceProcess]) -> Iterator[dict[str, httpx.Client]]:
    opened = {name: httpx.Client(base_url=p.url, timeout=30) for name, p in system.items()}
    yield opened
    for client in opened.values():
        client.close()
