"""Three replicas of every service, each a process of role ``all`` with its pools through
PgBouncer, as ``deploy/local/services.py up --replicas 3`` runs them: under a steady load of
real commands, replicas are killed with ``kill -9`` one after another (the holders of the
relays' and the outbox's leases first), and later every replica is restarted one at a time.

What must hold (deploy/README.md, "Replicas"): every acknowledged command reaches every view
exactly once (the contacts projection, a consumer of the contacts topic, the visits board and
the notifications of the three visits and notifications replicas), no e-mail leaves twice, a
lease is taken over within :data:`TAKE_OVER_BOUND_S`, the load keeps being served, and a
rolling restart fails no request at all.

The test's services have databases and consumer groups of their own, the groups committed at
the current end of their topics before the services start: they never replay what earlier
tests left on the topics (a check after the start fails on any group not started so).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from contacts.reporting.view import REPORT_TOPICS, consumer_name
from kafka.admin import KafkaAdminClient

from deploy.local import pgbouncer
from shared.contracts import ERASURE_TOPIC, topic_of
from shared.settings import ServiceSettings
from tests.e2e.conftest import CONSUMER_GROUPS
from tests.support.e2e import ProbeView, event_id
from tests.support.helpers import eventually, scratch_database
from tests.support.notifications import MailSink
from tests.support.processes import ProbeProcess, ServiceProcess, start_group_at_end
from tests.support.replicas import Balancer, Office, lease_holder

pytestmark = pytest.mark.e2e

SERVICES = ("contacts", "visits", "coaching", "notifications")
REPLICAS = 3
OFFICES = 3
TAKE_OVER_BOUND_S = 20.0
"""A standby tries for a lease every 2 s and PostgreSQL releases the lock of a killed
process's connection at once; the bound leaves room for a busy machine."""
DRAIN_SECONDS = "3"
"""Longer than the balancer takes to see a replica's readiness fail (it looks every 0.2 s,
at most 0.5 s per replica): a connection it keeps idle to a replica that drains is not
chosen once the drain ends and the server closes it."""
PAUSE_S = 0.1
"""Between one case of an office and its next: a steady load, and not more cases than the
checks afterwards read in a few seconds."""

Replicated = dict[str, list[ServiceProcess]]


def consumer_groups(service: str, database: str) -> dict[str, str]:
    """Each consumer group of ``service`` deployed as ``database`` -> its topic."""
    groups = {f"{database}-{s}": t for s, t in CONSUMER_GROUPS.get(service, {}).items()}
    groups[f"{database}-erasures"] = ERASURE_TOPIC
    if service == "contacts":
        groups[f"{database}-coaching-notes"] = topic_of("coaching")
        groups[f"{database}-visit-steps"] = topic_of("visits")
        groups[f"{database}-letters"] = topic_of("notifications")
        groups[f"{database}-visit-outcomes"] = topic_of("visits")
        groups[f"{database}-erasure-confirmations"] = ERASURE_TOPIC
        groups[f"{database}-feeds-erasures"] = ERASURE_TOPIC
        groups |= {f"{database}-feeds-{p}": topic_of(p) for p in SERVICES}
        groups |= {consumer_name(database, topic): topic for topic in REPORT_TOPICS}
    return groups


def service_env(
    service: str, database: str, stack: ServiceSettings, mail: MailSink
) -> dict[str, str]:
    env = {
        "OUTREACH_SERVICE_NAME": database,
        "OUTREACH_DRAIN_SECONDS": DRAIN_SECONDS,
        **pgbouncer.pooler_env(stack),
    }
    if service == "notifications":
        env |= {"OUTREACH_SMTP_PORT": str(mail.port), "OUTREACH_OUTBOX_POLL_SECONDS": "0.2"}
    if service == "visits":
        env |= {"OUTREACH_DEFAULT_MIN_LEAD_DAYS": "0"}
    return env


def all_at_once(
    work: Callable[[ServiceProcess], None], processes: Sequence[ServiceProcess]
) -> None:
    """``work`` on each of ``processes``, at the same time; raises the first failure."""
    errors: list[BaseException] = []

    def run(process: ServiceProcess) -> None:
        try:
            work(process)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(p,)) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


@pytest.fixture(scope="module")
def mail_sink() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="module")
def databases(stack: ServiceSettings) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as created:
        yield {s: created.enter_context(scratch_database(stack, f"{s}_rep")) for s in SERVICES}


@pytest.fixture(scope="module")
def replicated(
    stack: ServiceSettings, databases: dict[str, str], mail_sink: MailSink, e2e_dir: Path
) -> Iterator[Replicated]:
    pgbouncer.ensure_pgbouncer(stack)
    started_at_end = set()
    for service, database in databases.items():
        for group, topic in consumer_groups(service, database).items():
            start_group_at_end(stack, group, topic)
            started_at_end.add(group)
    replicas = {
        s: [
            ServiceProcess(
                s,
                e2e_dir,
                service_env(s, databases[s], stack, mail_sink),
                name=f"{s}-replica{k}",
                ready_timeout=180,  # twelve processes start at once on a small machine
            )
            for k in range(1, REPLICAS + 1)
        ]
        for s in SERVICES
    }
    every = [p for processes in replicas.values() for p in processes]
    try:
        all_at_once(ServiceProcess.start, every)
        admin = KafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap)
        try:
            groups = {str(group["group_id"]) for group in admin.list_groups()}
        finally:
            admin.close()
        ours = {g for g in groups if any(g.startswith(f"{d}-") for d in databases.values())}
        assert ours <= started_at_end, (
            f"consumer groups that would replay their topics: {ours - started_at_end}; "
            "add them to consumer_groups()"
        )
        yield replicas
    finally:
        all_at_once(ServiceProcess.stop, every)


def lease_keys(databases: dict[str, str]) -> list[tuple[str, str]]:
    """(service, lease) of the work that runs once: each service's relay, the outbox."""
    relays = [(s, f"outreach-relay:{s}:{topic_of(s)}") for s in SERVICES]
    return [
        *relays,
        ("notifications", f"outreach-outbox:notifications:{databases['notifications']}"),
    ]


def acknowledged(offices: Sequence[Office]) -> int:
    return sum(len(office.restored) for office in offices)


@contextlib.contextmanager
def load(replicated: Replicated, mint: Callable[..., str]) -> Iterator[list[Office]]:
    """Offices (each a district of its own) sending commands to the contacts replicas."""

    def auth(user: str, role: str, district: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(user, role, district)}"}

    with Balancer(replicated["contacts"]) as contacts:
        offices = [
            Office(contacts, auth, f"test-{uuid.uuid4().hex[:10]}", pause=PAUSE_S)
            for _ in range(OFFICES)
        ]
        for office in offices:
            office.start()
        try:
            eventually(lambda: acknowledged(offices) >= 5, timeout=60, what="the load served")
            yield offices
        finally:
            for office in offices:
                office.stopping.set()
            for office in offices:
                office.finish()


def test_replicas_killed_one_after_another_lose_no_command_and_send_no_e_mail_twice(
    replicated: Replicated,
    databases: dict[str, str],
    stack: ServiceSettings,
    mint: Callable[..., str],
    probe: ProbeProcess,
    probe_view: ProbeView,
    mail_sink: MailSink,
) -> None:
    take_overs: dict[str, float] = {}
    restarts: dict[str, list[threading.Thread]] = {s: [] for s in SERVICES}
    began = time.monotonic()
    with load(replicated, mint) as offices:
        for service, key in lease_keys(databases):
            replicas = replicated[service]
            for restart in restarts[service]:  # a replica of it killed before is back
                restart.join(180)
            holder = eventually(
                lambda: lease_holder(stack, databases[service], key, replicas),  # noqa: B023
                timeout=60,
                what=f"the holder of {key}",
            )
            served = acknowledged(offices)
            killed_at = time.monotonic()
            holder.kill()

            def taken_over() -> ServiceProcess | None:
                now = lease_holder(stack, databases[service], key, replicas)  # noqa: B023
                return now if now is not None and now is not holder else None  # noqa: B023

            eventually(
                taken_over, timeout=TAKE_OVER_BOUND_S, interval=0.05, what=f"{key} taken over"
            )
            take_overs[key] = time.monotonic() - killed_at
            # Brought back meanwhile, as ``services.py up`` would (the load goes on).
            restart = threading.Thread(target=all_at_once, args=(ServiceProcess.start, [holder]))
            restart.start()
            restarts[service].append(restart)
            eventually(
                lambda: acknowledged(offices) >= served + 3,  # noqa: B023
                timeout=60,
                what=f"the load served after the kill of a {service} replica",
            )
        for restart in [r for service in SERVICES for r in restarts[service]]:
            restart.join(180)
        eventually(
            lambda: all(replica_ready(r) for p in replicated.values() for r in p),
            timeout=120,
            what="every killed replica back",
        )
    print(f"\ntake-over after kill -9 (s): { {k: round(v, 2) for k, v in take_overs.items()} }")
    print(
        f"commands acknowledged: {2 * acknowledged(offices)}, answers lost and sent again: "
        f"{sum(len(o.lost) for o in offices)}, in {time.monotonic() - began:.0f} s"
    )
    assert len(take_overs) == len(lease_keys(databases))
    assert [f for office in offices for f in office.failures] == []
    every_view_has_every_case_once(replicated, offices, mint, probe, probe_view, mail_sink)


def test_a_rolling_restart_of_every_replica_under_load_fails_no_request(
    replicated: Replicated,
    mint: Callable[..., str],
    probe: ProbeProcess,
    probe_view: ProbeView,
    mail_sink: MailSink,
) -> None:
    began = time.monotonic()
    with load(replicated, mint) as offices:
        for k in range(REPLICAS):  # replica k of every service at once, the others serving
            served = acknowledged(offices)
            all_at_once(lambda p: (p.stop(), p.start()), [replicated[s][k] for s in SERVICES])
            eventually(
                lambda: acknowledged(offices) >= served + 3,  # noqa: B023
                timeout=60,
                what="the load served during the restart",
            )
    print(
        f"\nrolling restart: commands acknowledged: {2 * acknowledged(offices)}, "
        f"answers lost: {sum(len(o.lost) for o in offices)}, in {time.monotonic() - began:.0f} s"
    )
    assert [lost for office in offices for lost in office.lost] == []
    assert [f for office in offices for f in office.failures] == []
    every_view_has_every_case_once(replicated, offices, mint, probe, probe_view, mail_sink)


def every_view_has_every_case_once(
    replicated: Replicated,
    offices: Sequence[Office],
    mint: Callable[..., str],
    probe: ProbeProcess,
    probe_view: ProbeView,
    mail_sink: MailSink,
) -> None:
    """Every case whose report and restore were acknowledged, in every view exactly once."""
    for office in offices:
        district, cases = office.district, office.restored
        assert cases, f"no case of {district} acknowledged"
        headers = {"Authorization": f"Bearer {mint('tl-rep', 'team_lead', district)}"}
        # The contacts projections: each case once in the queue, restored, its count too;
        # the timelines of the first and the last cases show their two events once each.
        worker = {"Authorization": f"Bearer {mint('ow-yilmaz', 'outreach_worker', district)}"}
        with Balancer(replicated["contacts"]) as contacts:
            eventually(
                lambda: queue_restored(contacts, worker, district, cases),  # noqa: B023
                timeout=60,
                what=f"every case of {district} restored in the queue",
            )
            for case_id in [*cases[:3], *cases[-3:]]:
                detail = eventually(
                    lambda: restored_detail(contacts, headers, case_id),  # noqa: B023
                    timeout=60,
                    what=f"case {case_id} restored in the detail view",
                )
                assert [t["version"] for t in detail["timeline"]] == [1, 2]
        # A consumer of the contacts topic (the relays' output): each event applied once.
        events = {event_id(c, v) for c in cases for v in (1, 2)}
        applied = probe_view.wait_for(probe.group, district, events, timeout=60)
        assert {e: applied[e] for e in events} == {
            e: ("ContactLost" if e in {event_id(c, 1) for c in cases} else "ContactRestored", 1)
            for e in events
        }
        # The visits board (three replicas share the group): each case on it and off again.
        eventually(
            lambda: board_empty(replicated["visits"][0], worker, district),  # noqa: B023
            timeout=60,
            what=f"the board of {district} empty",
        )
        # The notifications (three replicas): one e-mail notification per case.
        by_source = eventually(
            lambda: notifications_of(replicated["notifications"][0], headers, district, cases),  # noqa: B023
            timeout=90,
            what=f"a settled notification for every case of {district}",
        )
        e_mails = {c: [m for m in mail_sink.received() if c in str(m["Subject"])] for c in cases}
        for case_id in cases:
            rows = by_source[event_id(case_id, 2)]
            assert len(rows) == 1, rows
            sent = rows[0]["status"] == "sent"
            # Given up unconfirmed: its outbox was killed in the SMTP conversation (sent at
            # most once, see the notifications outbox).
            assert sent or rows[0]["given_up_reason"] == "delivery_unconfirmed", rows[0]
            if sent:
                assert len(e_mails[case_id]) == 1, case_id
            else:
                assert len(e_mails[case_id]) <= 1, case_id


def queue_restored(
    contacts: Balancer, headers: dict[str, str], district: str, cases: Sequence[str]
) -> bool:
    """Whether the district's queue holds each of ``cases`` once, restored, and nothing else."""
    entries: list[dict[str, Any]] = []
    while True:
        response = contacts.send(
            "GET",
            "/cases",
            params={"district": district, "limit": 500, "offset": len(entries)},
            headers={**headers, "X-Purpose": "case_work"},
        )
        assert response.status_code == 200, response.text
        page = response.json()
        entries += page["cases"]
        if len(page["cases"]) < 500:
            break
    ids = [str(e["case_id"]) for e in entries]
    assert len(ids) == len(set(ids)), "a case twice in the queue"
    restored = all(e["status"] == "contact_restored" for e in entries)
    counted = page["counts"].get("contact_restored") == len(cases)
    return sorted(ids) == sorted(cases) and restored and counted


def restored_detail(contacts: Balancer, headers: dict[str, str], case_id: str) -> Any:
    response = contacts.send(
        "GET", f"/cases/{case_id}", headers={**headers, "X-Purpose": "case_work"}
    )
    detail = response.json() if response.status_code == 200 else None
    return detail if detail and detail["status"] == "contact_restored" else None


def board_empty(visits: ServiceProcess, headers: dict[str, str], district: str) -> bool:
    response = httpx.get(
        f"{visits.url}/board",
        params={"district": district},
        headers={**headers, "X-Purpose": "visit_planning"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    sections: dict[str, list[Any]] = response.json()["sections"]
    return not any(sections.values())


def notifications_of(
    service: ServiceProcess, headers: dict[str, str], district: str, cases: Sequence[str]
) -> dict[str, list[dict[str, Any]]] | None:
    """The district's notifications by source event, once each case's is sent or given up."""
    response = httpx.get(
        f"{service.url}/notifications",
        params={"district": district, "limit": 500},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    by_source: dict[str, list[dict[str, Any]]] = {}
    for row in response.json():
        by_source.setdefault(str(row["source_event_id"]), []).append(row)
    settled = all(
        rows[-1]["status"] in ("sent", "given_up")
        for rows in (by_source.get(event_id(c, 2), [{"status": "none"}]) for c in cases)
    )
    return by_source if settled else None


def replica_ready(replica: ServiceProcess) -> bool:
    try:
        return httpx.get(f"{replica.url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
