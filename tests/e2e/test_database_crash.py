"""PostgreSQL crashes (``pg_ctl stop -m immediate``) while cases are reported: nothing that
was acknowledged is lost, nothing is published twice, and the system converges by itself.

The stack runs PostgreSQL durably, so a command answered 201 is on disk before the answer
(and before the relay can see it). While the database is away the API answers 503 with a
problem document and ``Retry-After``, and the reporters send their reports again. Nothing but
PostgreSQL is restarted: the contacts service (relay, projections, consumers), the visits
service (its planning-board consumer) and the probe consumer reconnect on their own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from shared.api import PROBLEM_JSON
from shared.contracts import topic_of
from shared.settings import ServiceSettings
from tests.support.e2e import ContactsApi, ProbeView, event_id, with_purpose
from tests.support.helpers import eventually
from tests.support.load import Reporter
from tests.support.processes import ProbeProcess, ServiceProcess, read_topic

pytestmark = pytest.mark.e2e

STACK = Path(__file__).resolve().parents[2] / "deploy/local/stack.py"


def stack_command(*args: str) -> None:
    subprocess.run([sys.executable, str(STACK), *args], check=True)


def is_problem_503(response: httpx.Response) -> bool:
    return (
        response.status_code == 503
        and response.headers.get("content-type") == PROBLEM_JSON
        and int(response.headers.get("retry-after", "0")) > 0
        and response.json()["code"] == "database_unavailable"
    )


def stored_case_ids(settings: ServiceSettings, database: str, case_ids: list[str]) -> set[str]:
    """Which of ``case_ids`` have their ContactLost (the case's first event) in the store."""
    with psycopg.connect(settings.database_url(database)) as conn:
        rows = conn.execute(
            "SELECT originator_id FROM contacts_events "
            "WHERE originator_version = 1 AND originator_id = ANY(%s::uuid[])",
            (case_ids,),
        ).fetchall()
    return {str(row[0]) for row in rows}


def published_event_ids(settings: ServiceSettings, district: str) -> Counter[str]:
    """How often each event of ``district`` is on the contacts topic."""
    found: Counter[str] = Counter()
    for record in read_topic(settings, topic_of("contacts")):
        try:
            message = json.loads(record.value)
        except ValueError:
            continue  # a poison message of another test
        if isinstance(message, dict) and message.get("district") == district:
            found[str(message["event_id"])] += 1
    return found


def test_a_crash_of_postgresql_under_load_loses_nothing_acknowledged_and_the_system_recovers(
    stack: ServiceSettings,
    api: ContactsApi,
    contacts_service: ServiceProcess,
    contacts_database: str,
    visits_service: ServiceProcess,
    visits_client: httpx.Client,
    probe: ProbeProcess,
    probe_view: ProbeView,
    mint: Callable[..., str],
    district: str,
) -> None:
    starts = {service.name: service.starts for service in (contacts_service, visits_service)}
    reporters = [
        Reporter(contacts_service.url, mint, district, count=40, pause=0.1) for _ in range(2)
    ]
    for reporter in reporters:
        reporter.start()
    eventually(
        lambda: sum(len(r.accepted) for r in reporters) >= 10 or any(r.error for r in reporters),
        timeout=60,
        what="10 accepted reports",
    )

    stack_command("pg-down", "--immediate")  # as in a crash: no checkpoint, every session ends
    manager = api.auth("cm-lange", "case_manager", district)
    try:
        eventually(
            lambda: all(r.refusals for r in reporters) or any(r.error for r in reporters),
            timeout=60,
            what="every reporter answered 503 while the database is away",
        )
        read = api.queue(manager, district)
        readiness = httpx.get(f"{contacts_service.url}/readyz", timeout=10)
    finally:
        stack_command("pg-up")  # whatever happened, the next tests find PostgreSQL running
    case_ids = [case for reporter in reporters for case in reporter.finish()]

    # While the database was away, every command and read was answered 503 (no bare 500).
    assert is_problem_503(read), read.text
    assert readiness.status_code == 503
    assert readiness.json()["checks"]["database"] is False
    refusals = [response for reporter in reporters for response in reporter.refusals]
    assert refusals
    assert all(is_problem_503(response) for response in refusals), [
        (r.status_code, r.text) for r in refusals if not is_problem_503(r)
    ]

    # Every acknowledged report is in the event store ...
    assert len(case_ids) == len(set(case_ids)) == 80
    assert stored_case_ids(stack, contacts_database, case_ids) == set(case_ids)
    # ... in every view: the contacts queue and case detail, the probe consumer (once each),
    # the visits planning board ...
    expected_events = {event_id(case_id, 1) for case_id in case_ids}
    applied = probe_view.wait_for(probe.group, district, expected_events, timeout=120)
    assert applied == {event: ("ContactLost", 1) for event in expected_events}
    eventually(
        lambda: api.queue(manager, district).json().get("counts", {}).get("open") == 80,
        timeout=60,
        what="all 80 cases in the contacts queue",
    )
    for case_id in case_ids:
        assert api.detail_when_projected(manager, case_id)["case_id"] == case_id
    worker = with_purpose(api.auth("ow-berg", "outreach_worker", district), "visit_planning")

    def on_the_board() -> bool:
        board = visits_client.get("/board", params={"district": district}, headers=worker)
        planned = {entry["case_id"] for entry in board.json()["sections"]["to_plan"]}
        return planned == set(case_ids)

    eventually(on_the_board, timeout=120, what="all 80 cases on the visits planning board")
    # ... and on Kafka exactly once: the relays published nothing twice across the outage.
    published = published_event_ids(stack, district)
    assert published == Counter(dict.fromkeys(expected_events, 1))

    # Everything is ready again, without a restart of anything but PostgreSQL.
    for service in (contacts_service, visits_service):
        eventually(
            lambda service=service: (
                httpx.get(f"{service.url}/readyz", timeout=10).status_code == 200
            ),
            timeout=60,
            what=f"{service.name} ready again",
        )
    assert {service.name: service.starts for service in (contacts_service, visits_service)} == (
        starts
    )
