"""Every service process serves ``/metrics`` (the Prometheus text format) with what an
operator watches — the event log, the relay, the projections, the Kafka consumers, dead
letters, erasures, readiness, HTTP — never a person's data, a pseudonym, a district or an id
in it, with a number of series that a burst of new districts and persons does not grow; and
the stack's own Prometheus scrapes every process as up.

The four services of the session (``system`` in ``conftest.py``) run as processes."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy.local.prometheus import remove_targets, write_targets
from shared.contracts import ERASURE_TOPIC, topic_of
from shared.settings import ServiceSettings
from tests.support.e2e import report_body, with_purpose
from tests.support.helpers import eventually, person, scratch_database
from tests.support.metrics import query, scrape, series, value
from tests.support.processes import ServiceProcess, start_group_at_end

pytestmark = pytest.mark.e2e

SERVICE_FAMILIES = {
    "outreach_event_log_head",
    "outreach_events_stored",
    "outreach_relay_backlog_events",
    "outreach_relay_active",
    "outreach_relay_published_events",
    "outreach_projection_lag_events",
    "outreach_projection_position",
    "outreach_projection_parked_events",
    "outreach_consumer_lag_messages",
    "outreach_consumer_messages_processed",
    "outreach_consumer_messages_retried",
    "outreach_consumer_messages_parked",
    "outreach_dead_letters",
    "outreach_erasures_unconfirmed",
    "outreach_erasure_unconfirmed_oldest_age_seconds",
    "outreach_metrics_part_failed",
    "outreach_ready",
    "outreach_readiness_check",
    "http_requests",
    "http_request_duration_seconds",
    "faststream_received_messages",
    "faststream_received_processed_messages",
}


@pytest.fixture(scope="module")
def lead(mint: Callable[..., str]) -> Callable[[str], dict[str, str]]:
    def headers(district: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint('metrics-lead', 'team_lead', district)}"}

    return headers


def report_and_read(
    contacts: httpx.Client, headers: dict[str, str], district: str, who: dict[str, Any]
) -> str:
    """Report a person in ``district`` and read the case once projected; its id."""
    reported = contacts.post("/cases", json=report_body(district, who), headers=headers)
    assert reported.status_code == 201, reported.text
    case_id = str(reported.json()["case_id"])

    def projected() -> bool:
        detail = contacts.get(f"/cases/{case_id}", headers=with_purpose(headers, "case_work"))
        return detail.status_code == 200

    eventually(projected, timeout=30, what=f"case {case_id} in the detail view")
    return case_id


def caught_up(clients: dict[str, httpx.Client]) -> None:
    """Every relay, projection and consumer group of the four services has nothing waiting."""

    def idle() -> bool:
        for client in clients.values():
            text = scrape(client)
            waiting = (
                value(text, "outreach_relay_backlog_events")
                + value(text, "outreach_projection_lag_events")
                + value(text, "outreach_consumer_lag_messages")
            )
            if waiting:
                return False
        return True

    eventually(idle, timeout=60, what="every service to have caught up")


def test_every_service_serves_what_an_operator_watches(
    clients: dict[str, httpx.Client], lead: Callable[[str], dict[str, str]]
) -> None:
    district = f"metrics-{uuid.uuid4().hex[:8]}"
    report_and_read(clients["contacts"], lead(district), district, person())
    caught_up(clients)

    for name, client in clients.items():
        text = scrape(client)
        families = {family.name for family in text_string_to_metric_families(text)}
        assert families >= SERVICE_FAMILIES, f"{name} lacks {SERVICE_FAMILIES - families}"
        assert value(text, "outreach_ready") == 1, name
        assert value(text, "outreach_metrics_part_failed") == 0, name
        assert value(text, "outreach_relay_active", topic=topic_of(name)) == 1, name
    # Contacts' second relay, of the erasure tombstones, is watched as the first.
    eventually(
        lambda: value(scrape(clients["contacts"]), "outreach_relay_active", topic=ERASURE_TOPIC),
        timeout=30,
        what="the erasure relay active",
    )
    contacts = scrape(clients["contacts"])
    assert ("outreach_relay_backlog_events", (("topic", ERASURE_TOPIC),)) in series(contacts)
    assert value(contacts, "outreach_event_log_head") > 0
    # This month's outreach figures (the district's one small count is not exported).
    figures = {family.name for family in text_string_to_metric_families(contacts)}
    assert {"outreach_figure", "outreach_figure_reach_rate"} <= figures
    assert district not in contacts
    assert value(contacts, "outreach_events_stored_total", type="OutreachCase.ContactLost") >= 1
    assert value(contacts, "http_requests_total", route="/cases", method="POST", status="2xx") >= 1
    # The notifications service consumed the ContactLost event of contacts.
    notifications = scrape(clients["notifications"])
    assert value(notifications, "outreach_consumer_messages_processed_total") >= 1


def test_no_metric_names_the_person_their_pseudonym_district_or_case(
    clients: dict[str, httpx.Client], lead: Callable[[str], dict[str, str]]
) -> None:
    district = f"metrics-{uuid.uuid4().hex[:8]}"
    who = person()
    case_id = report_and_read(clients["contacts"], lead(district), district, who)
    detail = clients["contacts"].get(
        f"/cases/{case_id}", headers=with_purpose(lead(district), "case_work")
    )
    subject = str(detail.json().get("subject_id", case_id))
    caught_up(clients)

    secrets = [who["name"], who["customer_number"], who["address"], who["phone"]]
    secrets += [district, case_id, subject, case_id.replace("-", ""), subject.replace("-", "")]
    for name, client in clients.items():
        text = scrape(client)
        found = [secret for secret in secrets if secret in text]
        assert not found, f"{name}'s metrics name {found}"


def test_a_burst_of_new_districts_and_persons_adds_no_series(
    clients: dict[str, httpx.Client], lead: Callable[[str], dict[str, str]]
) -> None:
    def burst(size: int) -> dict[str, set[Any]]:
        for _ in range(size):
            district = f"burst-{uuid.uuid4().hex[:8]}"
            report_and_read(clients["contacts"], lead(district), district, person())
        caught_up(clients)
        return {name: series(scrape(client)) for name, client in clients.items()}

    before = burst(10)  # every route, event type, topic and partition seen once
    after = burst(20)

    for name in clients:
        grown = after[name] - before[name]
        assert not grown, f"{name} has {len(grown)} new series: {sorted(grown)[:10]}"


# --- the stack's Prometheus ------------------------------------------------------------------


@pytest.fixture
def scraped(system: dict[str, ServiceProcess]) -> Iterator[dict[str, ServiceProcess]]:
    """The session's service processes named to the stack's Prometheus (removed after)."""
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    write_targets(name, {s: [("all", process.port)] for s, process in system.items()})
    yield system
    remove_targets(name)


def test_the_stack_prometheus_scrapes_every_service_process_as_up(
    stack: ServiceSettings, scraped: dict[str, ServiceProcess]
) -> None:
    instances = {f"127.0.0.1:{process.port}": service for service, process in scraped.items()}

    def all_up() -> dict[str, str] | None:
        targets = query(stack, "/api/v1/targets", state="active")["activeTargets"]
        health = {
            t["labels"]["instance"]: t["health"]
            for t in targets
            if t["labels"]["instance"] in instances
        }
        return health if health == dict.fromkeys(instances, "up") else None

    eventually(all_up, timeout=60, what="Prometheus to scrape every service process as up")

    def relays() -> set[str] | None:
        result = query(stack, "/api/v1/query", query="outreach_relay_backlog_events")["result"]
        found = {r["metric"]["service"] for r in result if r["metric"]["instance"] in instances}
        return found if found == set(scraped) else None

    eventually(relays, timeout=30, what="the relays' backlog of every service in Prometheus")


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy/grafana/dashboards/outreach.json"


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [(p["title"], t["expr"]) for p in panels for t in p.get("targets", [])]


def test_every_dashboard_query_returns_a_result_on_the_local_stack(
    stack: ServiceSettings,
    scraped: dict[str, ServiceProcess],
    clients: dict[str, httpx.Client],
    lead: Callable[[str], dict[str, str]],
) -> None:
    district = f"dashboard-{uuid.uuid4().hex[:8]}"
    report_and_read(clients["contacts"], lead(district), district, person())
    for client in clients.values():  # every service answers HTTP requests
        assert client.get("/healthz").status_code == 200
    queries = dashboard_queries()
    services = {f'service="{name}"' for name in scraped}
    assert len(queries) >= 20
    assert all(any(s in expr for expr in (e for _, e in queries)) for s in services)

    def empty() -> list[str] | None:
        missing = [
            f"{title}: {expr}"
            for title, expr in queries
            if not query(stack, "/api/v1/query", query=expr)["result"]
        ]
        return missing or None

    def all_answer() -> bool:
        return empty() is None

    with contextlib.suppress(AssertionError):
        eventually(all_answer, timeout=90, interval=2, what="every dashboard query to answer")
    assert empty() is None


# --- the event chain --------------------------------------------------------------------------


@pytest.fixture
def verifying(
    stack: ServiceSettings, e2e_dir: Path, mint: Callable[..., str]
) -> Iterator[tuple[ServiceProcess, str]]:
    """A contacts service of its own (its own event store) that verifies its chain every
    second; and its database."""
    with scratch_database(stack, "contacts_chain") as database:
        for group, source in (("coaching-notes", "coaching"), ("visit-steps", "visits")):
            start_group_at_end(stack, f"{database}-{group}", topic_of(source))
        start_group_at_end(stack, f"{database}-letters", topic_of("notifications"))
        env = {
            "OUTREACH_SERVICE_NAME": database,
            "OUTREACH_CHAIN_ANCHOR_SECONDS": "1",
            "OUTREACH_CHAIN_VERIFY_SECONDS": "1",
        }
        service = ServiceProcess("contacts", e2e_dir, env, name=database)
        service.start()
        try:
            yield service, database
        finally:
            service.stop()


def test_a_stored_event_changed_behind_the_service_fails_the_chain_verification_metric(
    stack: ServiceSettings,
    verifying: tuple[ServiceProcess, str],
    lead: Callable[[str], dict[str, str]],
) -> None:
    service, database = verifying
    district = f"chain-{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=service.url, timeout=30) as contacts:
        report_and_read(contacts, lead(district), district, person())

        def verified(failed: int, events: int = 0) -> bool:
            text = scrape(contacts)
            return (
                "outreach_chain_verification_failed" in text  # else: not verified yet
                and value(text, "outreach_chain_verification_failed") == failed
                and value(text, "outreach_chain_verified_events") >= events
            )

        eventually(lambda: verified(0, events=1), timeout=60, what="a verified, intact chain")
        with psycopg.connect(stack.database_url(database), autocommit=True) as conn:
            conn.execute(
                "UPDATE contacts_events SET state = overlay(state placing 'X'::bytea from 20) "
                "WHERE notification_id = (SELECT min(notification_id) FROM contacts_events)"
            )

        eventually(lambda: verified(1), timeout=60, what="the chain verification to fail")
