"""The alert conditions an operator is paged for, driven on a running service: a consumer
that stops while messages arrive (its lag grows) and messages it cannot read (parked in the
dead-letter topic). The service's metrics move, and the stack's Prometheus, which loads
``deploy/prometheus/alerts.yml``, raises the alerts.

A visits service of the module's own (``visits_service`` in ``conftest.py``: its own
database and consumer groups) is the service under test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from kafka import KafkaProducer

from deploy.local.prometheus import remove_targets, write_targets
from shared.contracts import topic_of
from shared.settings import ServiceSettings
from tests.support.helpers import eventually
from tests.support.metrics import query, scrape, value
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

UNREADABLE = 3
"""Messages published while the consumer is stuck (none of them JSON)."""


@pytest.fixture
def watched(visits_service: ServiceProcess) -> Iterator[ServiceProcess]:
    """The module's visits service, named to the stack's Prometheus (removed after)."""
    name = f"alerts-{uuid.uuid4().hex[:8]}"
    write_targets(name, {"visits": [("all", visits_service.port)]})
    yield visits_service
    remove_targets(name)


def alert_state(stack: ServiceSettings, alert: str, group: str) -> str | None:
    """``pending`` or ``firing`` if Prometheus has the alert active for the consumer group."""
    active = query(stack, "/api/v1/alerts")["alerts"]
    states = {
        a["state"]
        for a in active
        if a["labels"].get("alertname") == alert and a["labels"].get("group") == group
    }
    return "firing" if "firing" in states else next(iter(states), None)


def publish_unreadable(stack: ServiceSettings, topic: str) -> None:
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    try:
        for _ in range(UNREADABLE):
            marker = uuid.uuid4().bytes
            producer.send(topic, key=marker, value=b"\xff not an event " + marker).get(timeout=30)
    finally:
        producer.close()


def test_a_stuck_consumer_raises_its_lag_alert_and_its_parked_messages_the_dead_letter_alert(
    stack: ServiceSettings, watched: ServiceProcess, visits_database: str
) -> None:
    group = f"{visits_database}-board"
    with httpx.Client(base_url=watched.url, timeout=30) as visits:

        def figures() -> tuple[float, float, float]:
            text = scrape(visits)
            return (
                value(text, "outreach_consumer_lag_messages", group=group),
                value(text, "outreach_consumer_messages_parked_total", group=group),
                value(text, "outreach_dead_letters", group=group, reason="invalid_contract"),
            )

        def scraped_at_rest() -> bool:
            promql = f'outreach_consumer_lag_messages{{group="{group}"}}'
            lag = query(stack, "/api/v1/query", query=promql)
            return bool(lag["result"]) and figures() == (0, 0, 0)

        eventually(scraped_at_rest, timeout=60, what="Prometheus to scrape the group at rest")

        # The consumer stops: what it must record of each message waits for a lock.
        with psycopg.connect(stack.database_url(visits_database)) as holder:
            holder.execute("LOCK TABLE dead_letters IN SHARE MODE")
            publish_unreadable(stack, topic_of("contacts"))

            eventually(lambda: figures()[0] == UNREADABLE, timeout=30, what="the lag to grow")
            eventually(
                lambda: alert_state(stack, "OutreachConsumerLagGrowing", group),
                timeout=60,
                what="Prometheus to raise the consumer-lag alert",
            )
            assert figures()[1:] == (0, 0), "nothing is parked while the consumer is stuck"
            holder.rollback()

        # It goes on: the messages are parked, the lag is gone, the dead-letter alert fires.
        eventually(
            lambda: figures() == (0, UNREADABLE, UNREADABLE),
            timeout=60,
            what="the messages parked and the lag gone",
        )
        eventually(
            lambda: alert_state(stack, "OutreachDeadLetter", group) == "firing",
            timeout=60,
            what="Prometheus to fire the dead-letter alert",
        )
