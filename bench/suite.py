"""Outreach benchmarks: every measurement runs its raw baseline in the same run and reports
the ratio (these machines are noisy; only same-run ratios compare).

    python -m bench [--scale smoke|small|full] [--only path,import,rebuild,relay,queries]

Everything runs in databases of its own (``bench_*``, or ``<prefix>_*`` with ``--databases``,
recreated each run), its own keyring database, its own consumer groups, districts and topics,
so a running ``make up`` or the tests are not disturbed. Results:
``bench/results/<stamp>.json`` (+ ``latest.json``), ``results.md`` and ``results.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from psycopg import sql
from psycopg_pool import ConnectionPool

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "services/contacts", ROOT / "services/visits"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from contacts.application import CaseImport, Contacts, PersonDetails  # noqa: E402
from contacts.integration import to_integration_event  # noqa: E402
from contacts.projections import CaseQueueView  # noqa: E402
from visits.projections import PlanningBoardView, VisitRecordView  # noqa: E402

from deploy.local import launcher, serving  # noqa: E402
from shared.auth import Principal, Role, TokenCodec  # noqa: E402
from shared.contracts import all_topics, topic_of  # noqa: E402
from shared.contracts import contacts as contacts_contracts  # noqa: E402
from shared.contracts.contacts import ContactLostReason  # noqa: E402
from shared.eventstore import CommandContext, build_view, eventsourcing_env  # noqa: E402
from shared.kafka import aiokafka_producer, build_broker, ensure_topics  # noqa: E402
from shared.privacy import Keyring, PersonalDataCipher  # noqa: E402
from shared.rebuild import notification_batches, replay, reset_view  # noqa: E402
from shared.relay import Relay  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402

MEASUREMENTS = ("path", "import", "rebuild", "relay", "queries")
OPTIONAL_MEASUREMENTS = ("durability",)
"""Run only when named in ``--only``: ``durability`` switches the stack's PostgreSQL between
its modes during the run."""

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "path_commands": 40,
        "path_clients": 4,
        "durability_rounds": 1,
        "baseline_saves": 200,
        "import_cases": 600,
        "rebuild_events": 1_500,
        "relay_events": 1_000,
        "query_sizes": (1_000, 5_000),
        "query_rate": 50,
        "query_seconds": 2.0,
    },
    "small": {
        "path_commands": 1_000,
        "path_clients": 16,
        "durability_rounds": 3,
        "baseline_saves": 1_000,
        "import_cases": 10_000,
        "rebuild_events": 25_000,
        "relay_events": 10_000,
        "query_sizes": (10_000, 100_000),
        "query_rate": 200,
        "query_seconds": 5.0,
    },
    "full": {
        "path_commands": 5_000,
        "path_clients": 32,
        "durability_rounds": 3,
        "baseline_saves": 3_000,
        "import_cases": 200_000,
        "rebuild_events": 500_000,
        "relay_events": 100_000,
        "query_sizes": (10_000, 1_000_000),
        "query_rate": 500,
        "query_seconds": 20.0,
    },
}

TARGETS = {
    "path": "≥ 500 commands/s, p99 command-to-visible ≤ 250 ms",
    "import": "≥ 0.5 of raw executemany",
    "rebuild": "≥ 0.25 of the raw log read",
    "relay": "≥ 0.5 of raw aiokafka",
    "queries": "p99 ≤ 20 ms at 500 req/s, growing ≤ 2x from 10k to 1M cases",
}
TARGET_RATIOS = {"import": 0.5, "rebuild": 0.25, "relay": 0.5}

DATABASES = ("contacts", "visits", "keyring", "import", "raw")
"""The run's databases, each named ``<prefix>_<name>`` (``--databases``, default ``bench``)."""
QUERY_DISTRICTS = 50
"""Seeded cases are spread over this many districts; the queries read the first one."""


def say(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def every(step: int, what: str, total: int) -> Callable[[int], None]:
    """A progress callback that reports every ``step`` items."""
    reported = [0]

    def report(done: int) -> None:
        if done - reported[0] >= step or done >= total:
            reported[0] = done
            say(f"  {what}: {done:,}/{total:,}")

    return report


# --- the environment ---------------------------------------------------------------------


@dataclass
class Bench:
    settings: ServiceSettings
    scale: dict[str, Any]
    run_id: str
    cipher: PersonalDataCipher
    keyring_pool: ConnectionPool
    codec: TokenCodec
    prefix: str = "bench"
    """Names the run's databases (``<prefix>_contacts`` …): runs with different prefixes can
    run at the same time without recreating each other's databases."""

    def db(self, name: str) -> str:
        return database_name(self.prefix, name)

    def env(self, name: str) -> dict[str, str]:
        return eventsourcing_env(self.settings, self.db(name))

    def url(self, name: str) -> str:
        return self.settings.database_url(self.db(name))

    def token(self, *districts: str) -> str:
        principal = Principal(user="tl-bench", role=Role.TEAM_LEAD, districts=frozenset(districts))
        return self.codec.mint(principal)


def database_name(prefix: str, name: str) -> str:
    return f"{prefix}_{name}"


def recreate_databases(settings: ServiceSettings, prefix: str) -> None:
    with psycopg.connect(settings.database_url("postgres"), autocommit=True) as conn:
        for name in (database_name(prefix, n) for n in DATABASES):
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def person(n: int, tag: str) -> PersonDetails:
    return PersonDetails(
        customer_number=f"{n % 1000:03d}B{(n // 1000) % 1_000_000:06d}",
        name=f"Benchperson {tag} {n}",
        address=f"Messweg {n % 997} , 34{n % 1000:03d} Kassel",
        phone=f"0561 {n % 10_000_000:07d}",
        date_of_birth=date(1980 + n % 30, 1 + n % 12, 1 + n % 28),
    )


def report_body(n: int, district: str, tag: str) -> dict[str, Any]:
    p = person(n, tag)
    return {
        "district": district,
        "local_office": "mitte",
        "person": {
            "customer_number": p.customer_number,
            "name": p.name,
            "address": p.address,
            "phone": p.phone,
            "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None,
        },
        "reason": "unanswered_invitations",
        "evidence": {"unanswered_letters": 3, "missed_appointments": 1},
    }


@contextlib.contextmanager
def services_running(bench: Bench, logs: Path, api_workers: int = 1) -> Iterator[dict[str, str]]:
    """The contacts and visits services as processes, on the bench databases.

    ``api_workers`` > 1: each service in the split layout of ``deploy/local/services.py``
    (N processes of role ``api`` on the measured port, one process of role
    ``worker`` beside it); 1: one process of role ``all`` each.

    Each run is a deployment of its own (``OUTREACH_SERVICE_NAME=bench_<service>_<run id>``,
    on the databases ``bench_<service>``): its consumer groups are named after the run, so a
    leftover process of an earlier run cannot take partitions of this one. New groups start at
    the end of their topics (``OUTREACH_BENCH_OFFSET_RESET=latest``: nothing of what the
    topics held before the run is replayed); the planning-board groups of the measured path
    get their start committed here, so no command sent right after start-up is skipped.
    """
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    deployments = {name: f"bench_{name}_{bench.run_id}" for name in ("contacts", "visits")}
    contacts_topic = topic_of("contacts")
    for suffix in ("board", "cancellations"):  # start at the end
        consumer = KafkaConsumer(
            bootstrap_servers=bench.settings.kafka_bootstrap,
            group_id=f"{deployments['visits']}-{suffix}",
            enable_auto_commit=False,
        )
        try:
            parts = [
                TopicPartition(contacts_topic, p)
                for p in consumer.partitions_for_topic(contacts_topic) or ()
            ]
            ends = consumer.end_offsets(parts)
            consumer.assign(parts)
            consumer.commit({tp: OffsetAndMetadata(ends[tp], "", -1) for tp in parts})
        finally:
            consumer.close()
    processes: list[tuple[subprocess.Popen[bytes], int]] = []
    urls = {}
    common = {
        "OUTREACH_BENCH_KEYRING_DATABASE": bench.db("keyring"),
        "OUTREACH_LOG_LEVEL": "WARNING",
        "OUTREACH_BENCH_OFFSET_RESET": "latest",
    }
    try:
        for name in ("contacts", "visits"):
            port = launcher.free_port()
            env = {
                **common,
                "OUTREACH_SERVICE_NAME": deployments[name],
                "OUTREACH_BENCH_DATABASE": bench.db(name),
            }
            app = f"bench.apps:{name}"  # the service with the benchmark's settings
            if api_workers > 1:
                worker_port = launcher.free_port()
                api, worker = serving.start_split(
                    name, port, worker_port, logs, api_workers, env, app=app
                )
                processes += [(api, port), (worker, worker_port)]
            else:
                log = logs / f"{name}.log"
                processes.append((serving.start_service(name, port, log, env, app=app), port))
            urls[name] = f"http://127.0.0.1:{port}"
        for process, port in processes:
            serving.wait_ready(port, timeout_s=90, process=process)
        yield urls
    finally:
        stoppers = [
            threading.Thread(target=launcher.stop_process_group, args=(process.pid,))
            for process, _ in processes
        ]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        _delete_groups(bench, tuple(f"{d}-" for d in deployments.values()))


def _delete_groups(bench: Bench, prefixes: tuple[str, ...]) -> None:
    """Remove the run's consumer groups (named after the run, they are not used again)."""
    from kafka.admin import KafkaAdminClient

    try:
        admin = KafkaAdminClient(bootstrap_servers=bench.settings.kafka_bootstrap)
    except Exception as error:
        say(f"   consumer groups of the run not deleted: {error}")
        return
    try:
        groups = [g["group_id"] for g in admin.list_groups()]
        ours = [g for g in groups if g.startswith(prefixes)]
        if ours:
            admin.delete_groups(ours)
    except Exception as error:  # they expire on their own (offsets.retention.minutes)
        say(f"   consumer groups of the run not deleted: {error}")
    finally:
        admin.close()


# --- 1. full path --------------------------------------------------------------------------


class Counter(Aggregate):
    @event("Counted")
    def count(self) -> None:
        pass


class RawStore(Application[uuid.UUID]):
    name = "bench_raw"


def eventsourcing_one_event_per_save(bench: Bench, saves: int) -> float:
    """Baseline: the library, one event per ``save``."""
    app = RawStore(bench.env("raw"))
    try:
        counter = Counter()
        app.save(counter)
        started = time.perf_counter()
        for _ in range(saves):
            counter.count()
            app.save(counter)
        return saves / (time.perf_counter() - started)
    finally:
        app.close()


class _PostConnection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON: the load of the full path. The
    load runs on the same two cores as the services, the database and Kafka; httpx spent
    more CPU per request (about 10 ms of the bench process's time per command, profiled)
    than the contacts service itself, so the client, not the service, set the rate."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None
        self._address = (parts.hostname, parts.port or 80)
        lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += ["Content-Type: application/json", "Content-Length: "]
        self._head = "\r\n".join(lines).encode()
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """Status and body of one POST (not retried: a command is sent once)."""
        if self._stream is None:
            self._stream = await asyncio.open_connection(*self._address)
        reader, writer = self._stream
        try:
            writer.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            return int(head[9:12]), await reader.readexactly(length)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None


async def _full_path(
    bench: Bench, urls: dict[str, str], district: str, first: int = 0
) -> dict[str, Any]:
    """``path_commands`` reports of the persons ``first`` … (each report needs a person
    without an open case)."""
    commands, clients = bench.scale["path_commands"], bench.scale["path_clients"]
    headers = {"Authorization": f"Bearer {bench.token(district)}"}
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    seen: dict[str, float] = {}
    errors: list[str] = []
    next_n = iter(range(first, first + commands))
    done = asyncio.Event()
    progress = every(max(1, commands // 10), "commands", commands)
    connections = [_PostConnection(f"{urls['contacts']}/cases", headers) for _ in range(clients)]

    async def report(http: _PostConnection, n: int, tag: str) -> str | None:
        try:
            status, body = await http.post(json.dumps(report_body(n, district, tag)).encode())
        except (OSError, asyncio.IncompleteReadError) as error:
            errors.append(f"{type(error).__name__}: {error}")
            return None
        if status != 201:
            errors.append(f"{status}: {body[:200]!r}")
            return None
        return str(json.loads(body)["case_id"])

    async def client(http: _PostConnection) -> None:
        for n in next_n:
            started = time.perf_counter()
            case_id = await report(http, n, bench.run_id)
            if case_id is not None:
                sent[case_id] = started
                answered[case_id] = time.perf_counter()
                progress(len(sent))

    async def on_board(conn: psycopg.AsyncConnection[Any], case_ids: list[str]) -> list[str]:
        cursor = await conn.execute(
            "SELECT case_id::text FROM planning_board WHERE case_id = ANY(%s::uuid[])",
            (case_ids,),
        )
        return [case_id for (case_id,) in await cursor.fetchall()]

    async def watch(conn: psycopg.AsyncConnection[Any]) -> None:
        while not (done.is_set() and len(seen) >= len(sent)):
            pending = [k for k in sent if k not in seen]
            if pending:
                found = await on_board(conn, pending)
                now = time.perf_counter()
                for case_id in found:
                    seen[case_id] = now
            await asyncio.sleep(0.01)

    async with await psycopg.AsyncConnection.connect(bench.url("visits"), autocommit=True) as conn:
        try:
            # Warm-up, not measured: one command per connection, until they are on the
            # board (connections, key cache, prepared statements, the consumers' groups).
            warm = await asyncio.gather(
                *(
                    report(http, first + commands + i, f"{bench.run_id}-warm")
                    for i, http in enumerate(connections)
                )
            )
            warm_ids = [case_id for case_id in warm if case_id is not None]
            for _ in range(2400):  # at most two minutes
                if len(await on_board(conn, warm_ids)) == len(warm_ids):
                    break
                await asyncio.sleep(0.05)
            else:
                errors.append("the warm-up commands never reached the planning board")
            watcher = asyncio.create_task(watch(conn))
            cpu = time.process_time()
            started = time.perf_counter()
            await asyncio.gather(*(client(http) for http in connections))
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu
            done.set()
            try:
                await asyncio.wait_for(watcher, timeout=120)
            except TimeoutError:
                errors.append(f"{len(sent) - len(seen)} cases never reached the planning board")
        finally:
            for http in connections:
                http.close()
    latencies = [(seen[k] - sent[k]) * 1000 for k in seen]
    responses = [(answered[k] - sent[k]) * 1000 for k in sent]
    after_response = [(seen[k] - answered[k]) * 1000 for k in seen]
    return {
        "commands": len(sent),
        "warm_up_commands": clients,
        "response_p50_ms": percentile(responses, 50),
        "response_p99_ms": percentile(responses, 99),
        "relay_to_board_p50_ms": percentile(after_response, 50),
        "relay_to_board_p99_ms": percentile(after_response, 99),
        "errors": len(errors),
        "first_errors": errors[:3],
        "commands_per_s": len(sent) / elapsed,
        "visible_p50_ms": percentile(latencies, 50),
        "visible_p99_ms": percentile(latencies, 99),
        "poll_interval_ms": 10,
        "load_generator_cpu_s_per_command": cpu / max(1, len(sent)),
    }


def measure_path(bench: Bench, urls: dict[str, str]) -> dict[str, Any]:
    say(
        f"1. full path: {bench.scale['path_commands']:,} ContactLost commands, "
        f"{bench.scale['path_clients']} clients"
    )
    result = asyncio.run(_full_path(bench, urls, f"bench-{bench.run_id}"))
    say("   baseline: eventsourcing, one event per save")
    baseline = eventsourcing_one_event_per_save(bench, bench.scale["baseline_saves"])
    result |= {
        "baseline": "eventsourcing, one event per save() (events/s)",
        "baseline_per_s": baseline,
        "ratio": result["commands_per_s"] / baseline,
        "target": TARGETS["path"],
        "met": result["commands_per_s"] >= 500 and result["visible_p99_ms"] <= 250,
    }
    say(
        f"   {result['commands_per_s']:.0f} commands/s, visible p50 {result['visible_p50_ms']:.0f} "
        f"ms p99 {result['visible_p99_ms']:.0f} ms (response p50 {result['response_p50_ms']:.0f} "
        f"ms p99 {result['response_p99_ms']:.0f} ms); baseline {baseline:.0f}/s; errors "
        f"{result['first_errors']}"
    )
    return result


# --- what durability costs ---------------------------------------------------------------------


def _switch_postgres(mode: str) -> None:
    """PostgreSQL of the local stack to ``mode`` (a reload; its sessions go on)."""
    subprocess.run(
        [sys.executable, str(ROOT / "deploy/local/stack.py"), "pg-up", "--pg-durability", mode],
        check=True,
        stdout=subprocess.DEVNULL,
    )


DURABILITY_MODES = ("durable", "unsafe-for-benchmarks")


def measure_durability(bench: Bench, urls: dict[str, str]) -> dict[str, Any]:
    """The full path and the bulk import, each measured with PostgreSQL durable and in its
    unsafe benchmark mode, alternately in the same run (switched by a reload between the
    measurements; the order swaps every round), ``durability_rounds`` times. The cost of
    durability is the median of the rounds' ratios durable / unsafe (1.0: free)."""
    rounds = bench.scale["durability_rounds"]
    commands, cases = bench.scale["path_commands"], bench.scale["import_cases"]
    say(
        f"durability: {rounds} rounds of {commands:,} path commands and {cases:,} imported "
        "cases, durable and unsafe alternately"
    )
    measured: dict[str, dict[str, list[float]]] = {
        mode: {"path_commands_per_s": [], "path_visible_p99_ms": [], "import_cases_per_s": []}
        for mode in DURABILITY_MODES
    }
    app = import_app(bench)
    first = 10_000_000  # persons of their own, apart from the other measurements'
    try:
        for round_ in range(rounds):
            for mode in DURABILITY_MODES[:: 1 if round_ % 2 == 0 else -1]:
                _switch_postgres(mode)
                district = f"bench-{bench.run_id}-d{round_}{mode[0]}"
                path = asyncio.run(_full_path(bench, urls, district, first=first))
                first += commands + bench.scale["path_clients"]
                started = time.perf_counter()
                imported = run_import(app, first, cases, f"{bench.run_id}-d{round_}")
                elapsed = time.perf_counter() - started
                first += cases
                figures = measured[mode]
                figures["path_commands_per_s"].append(path["commands_per_s"])
                figures["path_visible_p99_ms"].append(path["visible_p99_ms"])
                figures["import_cases_per_s"].append(imported / elapsed)
                say(
                    f"   round {round_ + 1} {mode}: path {path['commands_per_s']:.0f} commands/s "
                    f"(visible p99 {path['visible_p99_ms']:.0f} ms), import "
                    f"{imported / elapsed:.0f} cases/s"
                )
    finally:
        app.close()
        _switch_postgres("durable")
    durable, unsafe = (measured[mode] for mode in DURABILITY_MODES)

    def median_ratio(key: str) -> float:
        return statistics.median(d / u for d, u in zip(durable[key], unsafe[key], strict=True))

    result: dict[str, Any] = {
        "rounds": rounds,
        "by_mode": measured,
        "path_ratio": median_ratio("path_commands_per_s"),
        "path_p99_ratio": median_ratio("path_visible_p99_ms"),
        "import_ratio": median_ratio("import_cases_per_s"),
        "target": "none: what durability costs (durable / unsafe, 1.0 = free)",
    }
    result["ratio"] = min(result["path_ratio"], result["import_ratio"])
    say(
        f"   durable / unsafe: path {result['path_ratio']:.2f} (visible p99 "
        f"{result['path_p99_ratio']:.2f}), import {result['import_ratio']:.2f}"
    )
    return result


# --- 5. queries ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeededPerson:
    subject: uuid.UUID
    name_token: str
    address_token: str


def seed_people(bench: Bench, count: int) -> list[SeededPerson]:
    """``count`` persons with their own subject (and key), name and address sealed."""
    subjects = bench.cipher.subjects_for([("bench-queries", str(i)) for i in range(count)])
    return [
        SeededPerson(
            subject,
            bench.cipher.seal(subject, f"Benchperson {i}"),
            bench.cipher.seal(subject, f"Messweg {i % 97 + 1}, 34{i % 1000:03d} Kassel"),
        )
        for i, subject in enumerate(subjects)
    ]


def seed_views(
    bench: Bench, first: int, last: int, people: list[SeededPerson], upcoming: int
) -> dict[str, float]:
    """Cases ``first..last-1`` straight into the queue and visit views (COPY): what the
    projections would hold after that many cases, spread over :data:`QUERY_DISTRICTS`.
    Returns the seconds each step took.

    Every case is open (in the queue); within a district every tenth contact is restored
    and the deadlines spread over 90 days (20 of them passed). The queue's ``COPY`` fires the
    view's own triggers, so ``case_queue_totals`` (the counts) is kept as the projection
    keeps it: one statement trigger adds up the copied rows per district, status, deadline.

    Case ``n`` has one visit: announced within the next 30 days for the first ``upcoming``
    cases (20 workers), made and completed in the past (up to three years back) for the
    later ones. A worker's day holds what a worker can visit, however many cases the views
    hold; the agenda query finds it among all visits.
    """
    today = date.today()
    seconds: dict[str, float] = {}
    started = time.perf_counter()

    def who(n: int) -> SeededPerson:  # persons vary within a district, too
        return people[(n // QUERY_DISTRICTS + n) % len(people)]

    with (
        psycopg.connect(bench.url("contacts")) as conn,
        conn.cursor() as cursor,
        cursor.copy("COPY case_queue FROM STDIN") as copy,
    ):
        for n in range(first, last):
            k = n // QUERY_DISTRICTS  # the case's number within its district
            copy.write_row(
                (
                    uuid.UUID(int=n + 1),
                    f"bq-{n % QUERY_DISTRICTS:02d}",
                    "mitte",
                    "contact_restored" if k % 10 == 9 else "contact_lost",
                    "unanswered_invitations",
                    today + timedelta(days=k % 90 - 20),  # 20 days passed … 69 days ahead
                    today - timedelta(days=n % 60),
                    None,
                    3,
                    1,
                    who(n).name_token,
                )
            )
    seconds["case_queue_copy_s"] = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(bench.url("visits")) as conn, conn.cursor() as cursor:
        now = datetime.now(UTC)
        with cursor.copy(
            "COPY visit_record (visit_id, case_id, subject_id, district, workers, first_day, "
            "last_day, purpose, place, announced_on, announced_at, name_token, address_token, "
            "status, outcome, completed_on) FROM STDIN"
        ) as copy:
            for n in range(first, last):
                person = who(n)
                if n < upcoming:
                    day = today + timedelta(days=n % 30)
                    status, outcome, completed_on = "announced", None, None
                else:
                    day = today - timedelta(days=1 + n % 1000)
                    status, outcome, completed_on = "completed", "met_and_talked", day
                copy.write_row(
                    (
                        uuid.UUID(int=n + 1),
                        uuid.UUID(int=n + 1),
                        person.subject,
                        f"bq-{n % QUERY_DISTRICTS:02d}",
                        [f"ow-bench-{n % 20}"],
                        day,
                        day + timedelta(days=n % 3),
                        "first_contact",
                        "home",
                        day - timedelta(days=14),
                        now,
                        person.name_token,
                        person.address_token,
                        status,
                        outcome,
                        completed_on,
                    )
                )
    seconds["visit_record_copy_s"] = time.perf_counter() - started
    started = time.perf_counter()
    # What autovacuum does after a bulk load (statistics, the visibility map), not left to
    # chance before measuring.
    tables = (("contacts", "case_queue"), ("contacts", "case_queue_totals"))
    for dbname, table in (*tables, ("visits", "visit_record")):
        with psycopg.connect(bench.url(dbname), autocommit=True) as conn:
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    seconds["vacuum_s"] = time.perf_counter() - started
    return seconds


class _KeepAliveClient:
    """A minimal HTTP/1.1 client for the query load: GET one URL over up to
    ``connections`` keep-alive connections. The load runs on the same two cores as the
    services and the database; httpx's client spends about 2 ms of CPU per request (this
    one about 0.05 ms), which at 200 req/s was 40 % of a core taken from what is measured."""

    def __init__(self, url: str, headers: dict[str, str], connections: int = 64) -> None:
        parts = urlsplit(url)
        assert parts.hostname is not None
        self._address = (parts.hostname, parts.port or 80)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._slots = asyncio.Semaphore(connections)

    async def get(self) -> int:
        """The status of one GET (the body is read and dropped)."""
        async with self._slots:
            for attempt in (1, 2):  # a kept-alive connection the server closed: a new one
                if self._idle and attempt == 1:
                    reader, writer = self._idle.pop()
                else:
                    reader, writer = await asyncio.open_connection(*self._address)
                try:
                    writer.write(self._request)
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    if attempt == 2:
                        raise
                    continue
                status = int(head[9:12])
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                self._idle.append((reader, writer))
                return status
        raise AssertionError("unreachable")

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()


def _backend_cpu_s(conn: psycopg.Connection[Any], dbname: str) -> dict[int, float]:
    """CPU seconds (user + system) so far of each PostgreSQL backend connected to
    ``dbname``, from ``/proc`` (the database runs on this machine); {} where unreadable."""
    rows = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (dbname,),
    ).fetchall()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = {}
    for (pid,) in rows:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return cpu


async def _load(
    url: str,
    headers: dict[str, str],
    rate: float,
    seconds: float,
    *,
    warm_up_s: float = 2.0,
    db_url: str | None = None,
) -> dict[str, Any]:
    """Open loop: request ``i`` is due at ``i / rate``; latency counts from when it was due.

    ``warm_up_s`` seconds of the same load go first, not measured (connections, the key
    cache, the service's thread pool and the database's caches at the measured rate). With
    ``db_url``, the CPU the database's backends of that database spent during the measured
    load is reported per request (backends that closed meanwhile are missed: a lower bound).
    """
    latencies: list[float] = []
    failures = 0
    failed: list[str] = []
    total = int(rate * seconds)
    client = _KeepAliveClient(url, headers)

    async def one(due: float, record: bool) -> None:
        nonlocal failures
        try:
            status = await client.get()
        except (OSError, asyncio.IncompleteReadError) as error:
            status = 0
            if record:
                failed.append(repr(error))
        if not record:
            return
        if status != 200:
            failures += 1
            failed.append(str(status))
        latencies.append((time.perf_counter() - due) * 1000)

    async def run(count: int, record: bool) -> float:
        start = time.perf_counter()
        tasks = []
        for i in range(count):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(due, record)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - start

    db: psycopg.Connection[Any] | None = None
    if db_url is not None:  # before and after the measured load only
        db = psycopg.connect(db_url, autocommit=True)
    try:
        await run(int(rate * warm_up_s), record=False)
        dbname = db.info.dbname if db is not None else ""
        db_before = _backend_cpu_s(db, dbname) if db is not None else {}
        cpu = time.process_time()
        elapsed = await run(total, record=True)
        cpu = time.process_time() - cpu
        db_after = _backend_cpu_s(db, dbname) if db is not None else {}
    finally:
        client.close()
        if db is not None:
            db.close()
    db_cpu = sum(used - db_before.get(pid, 0.0) for pid, used in db_after.items())
    return {
        "requests": total,
        "warm_up_requests": int(rate * warm_up_s),
        "failures": failures,
        "first_failures": failed[:3],
        "achieved_rate": total / elapsed,
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "client_cpu_ms_per_request": cpu / total * 1000,
        "db_cpu_ms_per_request": db_cpu / total * 1000 if db_after else None,
    }


def measure_queries(bench: Bench, urls: dict[str, str]) -> dict[str, Any]:
    sizes, rate, seconds = (
        bench.scale["query_sizes"],
        bench.scale["query_rate"],
        bench.scale["query_seconds"],
    )
    say(f"5. queries at {rate} req/s for {seconds:.0f} s, with {sizes[0]:,} and {sizes[1]:,} cases")
    people = seed_people(bench, 500)
    build_view(CaseQueueView, bench.env("contacts"), "case_queue")
    build_view(VisitRecordView, bench.env("visits"), "visit_record")
    # Reads of personal data state their purpose (and each writes its access-log entries):
    # a team lead reads the district's queue, an outreach worker their own day (names,
    # addresses, places: an entry per visit).
    worker = Principal(user="ow-bench-0", role=Role.OUTREACH_WORKER, districts=frozenset({"bq-00"}))
    day = (date.today() + timedelta(days=10)).isoformat()
    endpoints = {
        "queue": (
            f"{urls['contacts']}/cases?district=bq-00&sort=deadline",
            {"Authorization": f"Bearer {bench.token('bq-00')}", "X-Purpose": "case_work"},
            bench.url("contacts"),
        ),
        "agenda": (
            f"{urls['visits']}/agenda?day={day}",
            {"Authorization": f"Bearer {bench.codec.mint(worker)}", "X-Purpose": "visit_planning"},
            bench.url("visits"),
        ),
    }
    warm_up_s = min(2.0, seconds / 2)
    by_size: dict[str, dict[str, Any]] = {}
    seeding: dict[str, dict[str, float]] = {}
    seeded = 0
    for size in sizes:
        say(f"   seeding views up to {size:,} cases")
        seeding[str(size)] = seed_views(bench, seeded, size, people, upcoming=sizes[0])
        steps = seeding[str(size)].items()
        say("   seeded in " + ", ".join(f"{step} {s:.1f}" for step, s in steps))
        seeded = size
        by_size[str(size)] = {}
        for name, (url, headers, db_url) in endpoints.items():
            by_size[str(size)][name] = asyncio.run(
                _load(url, headers, rate, seconds, warm_up_s=warm_up_s, db_url=db_url)
            )
            r = by_size[str(size)][name]
            db_cpu = r["db_cpu_ms_per_request"]
            say(
                f"   {name} @ {size:,}: p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms "
                f"({r['achieved_rate']:.0f} req/s, {r['failures']} failed, load generator "
                f"{r['client_cpu_ms_per_request']:.2f} ms CPU per request, database "
                f"{'?' if db_cpu is None else f'{db_cpu:.2f}'} ms CPU per request)"
            )
    small, large = by_size[str(sizes[0])], by_size[str(sizes[1])]
    growth = {name: large[name]["p99_ms"] / small[name]["p99_ms"] for name in endpoints}
    worst_p99 = max(r["p99_ms"] for s in by_size.values() for r in s.values())
    return {
        "rate": rate,
        "seconds": seconds,
        "sizes": list(sizes),
        "warm_up_s": warm_up_s,
        "seeding_s": seeding,
        "by_size": by_size,
        "p99_growth": growth,
        "ratio": max(growth.values()),
        "baseline": f"the same endpoint with {sizes[0]:,} cases (growth of p99)",
        "target": TARGETS["queries"],
        "met": worst_p99 <= 20 and max(growth.values()) <= 2,
    }


# --- 2. bulk import --------------------------------------------------------------------------


def import_app(bench: Bench) -> Contacts:
    return Contacts(bench.env("import"), cipher=bench.cipher)


def import_rows(first: int, count: int, tag: str) -> list[CaseImport]:
    return [
        CaseImport(
            district=f"bi-{n % 20:02d}",
            local_office="mitte",
            person=person(n, tag),
            reason=ContactLostReason.UNANSWERED_INVITATIONS,
            unanswered_letters=3,
            missed_appointments=1,
            last_contact_on=None,
            deadline=None,
            case_manager="cm-bench",
        )
        for n in range(first, first + count)
    ]


def run_import(
    app: Contacts, first: int, count: int, tag: str, progress: Callable[[int], None] | None = None
) -> int:
    ctx = CommandContext(actor="tl-bench", role="team_lead")
    imported = 0
    for start in range(first, first + count, 1000):  # one request of the endpoint each
        results = app.import_cases(
            import_rows(start, min(1000, first + count - start), tag), ctx=ctx
        )
        imported += sum(1 for r in results if r.case_id is not None)
        if progress:
            progress(min(count, start + 1000 - first))
    return imported


def raw_executemany(bench: Bench, rows: int, size: int) -> float:
    """Baseline: psycopg ``executemany``, 500 rows of ``size`` bytes per transaction."""
    payload = os.urandom(size)
    with psycopg.connect(bench.url("raw")) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (id bigserial PRIMARY KEY, originator_id uuid, "
            "originator_version int, topic text, state bytea)"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for first in range(0, rows, 500):
                cursor.executemany(
                    "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
                    "VALUES (%s, %s, %s, %s)",
                    [
                        (uuid.uuid4(), 1, "contacts.domain:OutreachCase.ContactLost", payload)
                        for _ in range(min(500, rows - first))
                    ],
                )
                conn.commit()
        return rows / (time.perf_counter() - started)


def stored_event_size(bench: Bench, app: Contacts) -> int:
    """The average size of a stored event's state (the baseline writes rows of this size)."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    with psycopg.connect(bench.url("import")) as conn:
        row = conn.execute(
            sql.SQL("SELECT avg(length(state))::int FROM {}").format(sql.Identifier(table))
        ).fetchone()
    assert row is not None
    return int(row[0] or 0)


def measure_import(bench: Bench) -> dict[str, Any]:
    cases = bench.scale["import_cases"]
    say(f"2. bulk import: {cases:,} cases through Contacts.import_cases (1000 per request)")
    app = import_app(bench)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        imported = run_import(
            app, 0, cases, bench.run_id, every(max(1000, cases // 10), "imported", cases)
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        events = app.recorder.max_notification_id() or 0
        size = stored_event_size(bench, app)
    finally:
        app.close()
    say(f"   baseline: raw executemany of {events:,} rows of {size} bytes")
    baseline = raw_executemany(bench, events, size)
    per_s = events / elapsed
    result: dict[str, Any] = {
        "cases": imported,
        "events": events,
        "cases_per_s": imported / elapsed,
        "events_per_s": per_s,
        "row_bytes": size,
        "baseline": "psycopg executemany, 500 rows per transaction (rows/s)",
        "baseline_per_s": baseline,
        "ratio": per_s / baseline,
        "cpu_us_per_case": cpu / max(imported, 1) * 1e6,  # this process, all threads
        "target": TARGETS["import"],
    }
    result["met"] = result["ratio"] >= TARGET_RATIOS["import"]
    say(
        f"   {imported / elapsed:.0f} cases/s = {per_s:.0f} events/s; baseline {baseline:.0f} "
        f"rows/s; ratio {result['ratio']:.2f}; CPU {result['cpu_us_per_case']:.0f} µs per case"
    )
    return result


# --- 3. projection rebuild ------------------------------------------------------------------


def measure_rebuild(bench: Bench) -> dict[str, Any]:
    wanted = bench.scale["rebuild_events"]
    app = import_app(bench)
    try:
        have = app.recorder.max_notification_id() or 0
        if have < wanted:
            extra = (wanted - have + 1) // 2
            say(f"3. rebuild: topping the log up with {extra:,} cases to {wanted:,} events")
            run_import(
                app,
                10_000_000,
                extra,
                bench.run_id,
                every(max(1000, extra // 5), "topped up", extra),
            )
        events = app.recorder.max_notification_id() or 0
        say(f"3. rebuild: the planning board from {events:,} events")
        board = build_view(PlanningBoardView, bench.env("visits"), "planning_board")
        started, cpu = time.perf_counter(), time.process_time()
        topics = (
            "contacts.domain:OutreachCase.ContactLost",
            "contacts.domain:OutreachCase.ContactDetailsUpdated",
            "contacts.domain:OutreachCase.ContactRestored",
            "contacts.domain:OutreachCase.Closed",
        )
        reset_view(board, ["planning_board"])

        def apply(cursor: Any, notification: Any) -> None:
            outgoing = to_integration_event(app.mapper.to_domain_event(notification))
            if outgoing is not None:
                PlanningBoardView.apply_contact_event(cursor, outgoing.envelope)

        applied = replay(
            board,
            notification_batches(app.recorder, topics=topics),
            apply,
            every(max(10_000, events // 10), "applied", events // 2),
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        say("   baseline: raw notification log read")
        started, raw_cpu = time.perf_counter(), time.process_time()
        read, position = 0, 0
        while batch := app.recorder.select_notifications(  # one call after the other
            position, 1000, inclusive_of_start=False
        ):
            read, position = read + len(batch), batch[-1].id
        raw_elapsed, raw_cpu = time.perf_counter() - started, time.process_time() - raw_cpu
    finally:
        app.close()
    result: dict[str, Any] = {
        "log_events": events,
        "applied": applied,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "baseline": "select_notifications, 1000 per call, no decoding (events/s)",
        "baseline_per_s": read / raw_elapsed,
        "ratio": raw_elapsed / elapsed,
        # CPU of this process (all threads): depends less on the machine's load
        "cpu_us_per_log_event": cpu / max(events, 1) * 1e6,
        "cpu_us_per_applied_event": cpu / max(applied, 1) * 1e6,
        "baseline_cpu_us_per_log_event": raw_cpu / max(read, 1) * 1e6,
        "target": TARGETS["rebuild"],
    }
    result["met"] = result["ratio"] >= TARGET_RATIOS["rebuild"]
    say(
        f"   rebuild {events / elapsed:.0f} log events/s; raw read {read / raw_elapsed:.0f}/s; "
        f"ratio {result['ratio']:.2f}; CPU {result['cpu_us_per_log_event']:.1f} vs "
        f"{result['baseline_cpu_us_per_log_event']:.1f} µs per log event"
    )
    return result


# --- 4. relay ---------------------------------------------------------------------------------


async def _relay(bench: Bench, backlog: int) -> dict[str, Any]:
    app = import_app(bench)
    topic, raw_topic = f"bench.relay.{bench.run_id}", f"bench.raw.{bench.run_id}"
    ensure_topics(bench.settings, [topic, raw_topic])
    target = min(backlog, app.recorder.max_notification_id() or 0)
    payloads = []
    for batch in notification_batches(app.recorder):
        for n in batch:
            if n.id > target:
                break
            outgoing = to_integration_event(app.mapper.to_domain_event(n))
            if outgoing is not None:
                e = outgoing.envelope
                payloads.append(
                    (
                        json.dumps(e.model_dump(mode="json", serialize_as_any=True)).encode(),
                        e.subject.bytes,
                    )
                )
        if batch[-1].id >= target:
            break
    broker = build_broker(bench.settings, "bench-relay")
    relay = Relay(
        app=app,
        broker=broker,
        topic=topic,
        mapper=to_integration_event,
        contracts=contacts_contracts.EVENTS,
        lock_dsn=bench.url("import"),
    )
    await broker.start()
    # Both producers learn their new topic's partitions (and leaders) before the clock
    # starts, so neither measurement includes the topic's creation.
    await aiokafka_producer(broker).partitions_for(topic)
    stopping = asyncio.Event()
    progress = every(max(1000, target // 10), "relayed", target)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        task = asyncio.create_task(relay.run(stopping))
        while relay.recorded < target:  # in memory: no query on the relay's event loop
            await asyncio.sleep(0.05)
            progress(relay.recorded)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        published = relay.published
        stopping.set()
        await task
    finally:
        await broker.stop()
        app.close()
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bench.settings.kafka_bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
    )
    await producer.start()
    try:
        await producer.partitions_for(raw_topic)
        started, raw_cpu = time.perf_counter(), time.process_time()
        for first in range(0, len(payloads), 500):
            futures = [
                await producer.send(raw_topic, value=v, key=k)
                for v, k in payloads[first : first + 500]
            ]
            await asyncio.gather(*futures)
        raw_elapsed, raw_cpu = time.perf_counter() - started, time.process_time() - raw_cpu
    finally:
        await producer.stop()
    return {
        "stored_events": target,
        "published": published,
        "messages_per_s": published / elapsed,
        "stored_events_per_s": target / elapsed,
        "baseline_per_s": len(payloads) / raw_elapsed,
        "ratio": (published / elapsed) / (len(payloads) / raw_elapsed),
        # CPU of this process (all threads) per message: depends less on the machine's load
        "cpu_us_per_message": cpu / max(published, 1) * 1e6,
        "baseline_cpu_us_per_message": raw_cpu / max(len(payloads), 1) * 1e6,
    }


def measure_relay(bench: Bench) -> dict[str, Any]:
    backlog = bench.scale["relay_events"]
    say(f"4. relay: a backlog of {backlog:,} stored events to Kafka")
    result = asyncio.run(_relay(bench, backlog))
    result |= {
        "baseline": "aiokafka, acks=all, idempotent, same payloads (messages/s)",
        "target": TARGETS["relay"],
    }
    result["met"] = result["ratio"] >= TARGET_RATIOS["relay"]
    say(
        f"   relay {result['messages_per_s']:.0f} messages/s; raw aiokafka "
        f"{result['baseline_per_s']:.0f}/s; ratio {result['ratio']:.2f}; CPU "
        f"{result['cpu_us_per_message']:.0f} vs {result['baseline_cpu_us_per_message']:.0f} "
        "µs per message"
    )
    return result


# --- reports ----------------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Run {results['run_id']} at {results['started']}, scale `{results['scale']}`, "
        f"PostgreSQL {results.get('pg_durability', 'durable')} "
        f"(provisional: one noisy 2-core machine).",
        "",
        "| Measurement | Result | Raw baseline (same run) | Ratio | Target | Met |",
        "|---|---|---|---|---|---|",
    ]
    m = results["measurements"]
    if "path" in m:
        r = m["path"]
        lines.append(
            f"| 1. Full path | {r['commands_per_s']:.0f} commands/s, visible p50 "
            f"{r['visible_p50_ms']:.0f} ms / p99 {r['visible_p99_ms']:.0f} ms | "
            f"{r['baseline_per_s']:.0f} events/s | {r['ratio']:.2f} | {r['target']} | "
            f"{'yes' if r['met'] else 'no'} |"
        )
    if "import" in m:
        r = m["import"]
        lines.append(
            f"| 2. Bulk import | {r['cases_per_s']:.0f} cases/s = {r['events_per_s']:.0f} events/s "
            f"| {r['baseline_per_s']:.0f} rows/s | {r['ratio']:.2f} | {r['target']} | "
            f"{'yes' if r['met'] else 'no'} |"
        )
    if "rebuild" in m:
        r = m["rebuild"]
        lines.append(
            f"| 3. Rebuild ({r['log_events']:,} events) | {r['events_per_s']:.0f} events/s | "
            f"{r['baseline_per_s']:.0f} events/s | {r['ratio']:.2f} | {r['target']} | "
            f"{'yes' if r['met'] else 'no'} |"
        )
    if "relay" in m:
        r = m["relay"]
        lines.append(
            f"| 4. Relay ({r['stored_events']:,} stored events) | {r['messages_per_s']:.0f} "
            f"messages/s | {r['baseline_per_s']:.0f} messages/s | {r['ratio']:.2f} | {r['target']} "
            f"| {'yes' if r['met'] else 'no'} |"
        )
    if "queries" in m:
        r = m["queries"]
        small, large = (str(s) for s in r["sizes"])
        for name in ("queue", "agenda"):
            a, b = r["by_size"][small][name], r["by_size"][large][name]
            lines.append(
                f"| 5. Query `{name}` @ {r['rate']} req/s | p50/p99 "
                f"{b['p50_ms']:.1f}/{b['p99_ms']:.1f} ms with {int(large):,} cases | p50/p99 "
                f"{a['p50_ms']:.1f}/{a['p99_ms']:.1f} ms with {int(small):,} | "
                f"{r['p99_growth'][name]:.2f}x | {r['target']} | {'yes' if r['met'] else 'no'} |"
            )
    if "durability" in m:
        r = m["durability"]
        durable, unsafe = (r["by_mode"][mode] for mode in DURABILITY_MODES)
        lines.append(
            f"| Durability ({r['rounds']} rounds) | durable: path "
            f"{statistics.median(durable['path_commands_per_s']):.0f} commands/s, import "
            f"{statistics.median(durable['import_cases_per_s']):.0f} cases/s | unsafe: path "
            f"{statistics.median(unsafe['path_commands_per_s']):.0f} commands/s, import "
            f"{statistics.median(unsafe['import_cases_per_s']):.0f} cases/s | path "
            f"{r['path_ratio']:.2f}, import {r['import_ratio']:.2f} | {r['target']} | - |"
        )
    return "\n".join(lines) + "\n"


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = results["measurements"]
    names, ratios, targets = [], [], []
    for key, label in (
        ("import", "bulk import\n/ executemany"),
        ("rebuild", "rebuild\n/ raw log read"),
        ("relay", "relay\n/ raw aiokafka"),
    ):
        if key in m:
            names.append(label)
            ratios.append(m[key]["ratio"])
            targets.append(TARGET_RATIOS[key])
    if "path" in m:
        names.append("full path\n/ 1 event per save")
        ratios.append(m["path"]["ratio"])
        targets.append(500 / m["path"]["baseline_per_s"])
    if "queries" in m:
        for name in ("queue", "agenda"):
            names.append(f"{name} p99 growth\n(lower is better)")
            ratios.append(m["queries"]["p99_growth"][name])
            targets.append(2.0)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    bars = ax.bar(names, ratios, color="#4c78a8")
    ax.scatter(names, targets, marker="_", s=900, color="#e45756", label="target", zorder=3)
    ax.bar_label(bars, fmt="%.2f")
    ax.set_ylabel("same-run ratio")
    ax.set_title(f"Outreach benchmarks, scale {results['scale']} ({results['started'][:16]})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scale", choices=sorted(SCALES), default=os.environ.get("BENCH_SCALE", "full")
    )
    parser.add_argument("--only", default=os.environ.get("BENCH_ONLY", ",".join(MEASUREMENTS)))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results")
    parser.add_argument(
        "--databases",
        default=os.environ.get("BENCH_DATABASES", "bench"),
        help="prefix of the run's databases (recreated): two runs at once need two prefixes",
    )
    parser.add_argument(
        "--api-workers",
        type=int,
        default=int(os.environ.get("BENCH_API_WORKERS", "1")),
        help="processes serving each measured service's HTTP API (1: one process does "
        "everything; N > 1: N api processes plus a worker process, as `services.py --api-workers`)",
    )
    parser.add_argument(
        "--pg-durability",
        choices=["durable", "unsafe-for-benchmarks"],
        default=os.environ.get("BENCH_PG_DURABILITY", "durable"),
        help="PostgreSQL's mode for this run (deploy/local/stack.py --pg-durability): durable, "
        "as the product runs, or without fsync to measure what durability costs; an unsafe "
        "run switches the stack back to durable when it ends",
    )
    args = parser.parse_args(argv)
    if args.api_workers < 1:
        parser.error("--api-workers must be at least 1")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", args.databases):
        parser.error("--databases: lower-case letters, digits and _ (at most 31)")
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(only) - set(MEASUREMENTS) - set(OPTIONAL_MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurements: {sorted(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    settings = ServiceSettings()
    say(f"starting the local stack (idempotent), PostgreSQL {args.pg_durability}")
    stack = [sys.executable, str(ROOT / "deploy/local/stack.py")]
    subprocess.run([*stack, "up", "--pg-durability", args.pg_durability], check=True)
    try:
        return _run(args, only, settings)
    finally:
        if args.pg_durability != "durable":
            say("switching PostgreSQL back to durable")
            subprocess.run([*stack, "pg-up"], check=True)


def _run(args: argparse.Namespace, only: list[str], settings: ServiceSettings) -> int:
    ensure_topics(settings, all_topics())
    names = [database_name(args.databases, name) for name in DATABASES]
    say(f"recreating databases {', '.join(names)}")
    recreate_databases(settings, args.databases)
    keyring_pool = ConnectionPool(
        settings.database_url(database_name(args.databases, "keyring")), min_size=1, max_size=4
    )
    keyring = Keyring(
        keyring_pool, base64.b64decode(settings.secret("keyring_kek")), cache_seconds=3600
    )
    keyring.create_schema()
    bench = Bench(
        settings=settings,
        scale=SCALES[args.scale],
        run_id=uuid.uuid4().hex[:8],
        cipher=PersonalDataCipher(keyring, settings.secret("blind_index_key").encode()),
        keyring_pool=keyring_pool,
        codec=TokenCodec.from_settings(settings),
        prefix=args.databases,
    )
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "run_id": bench.run_id,
        "started": started.isoformat(),
        "scale": args.scale,
        "scale_knobs": {k: list(v) if isinstance(v, tuple) else v for k, v in bench.scale.items()},
        "api_workers": args.api_workers,
        "pg_durability": args.pg_durability,
        "targets": TARGETS,
        "measurements": {},
    }
    measured = results["measurements"]
    try:
        if {"path", "queries", "durability"} & set(only):
            with services_running(bench, args.out / "logs", args.api_workers) as urls:
                if "path" in only:
                    measured["path"] = measure_path(bench, urls)
                if "queries" in only:
                    measured["queries"] = measure_queries(bench, urls)
                if "durability" in only:
                    measured["durability"] = measure_durability(bench, urls)
        if {"import", "rebuild", "relay"} & set(only):
            if "import" in only:
                measured["import"] = measure_import(bench)
            else:
                run_import(import_app(bench), 0, bench.scale["import_cases"], bench.run_id)
            if "rebuild" in only:
                measured["rebuild"] = measure_rebuild(bench)
            if "relay" in only:
                measured["relay"] = measure_relay(bench)
    finally:
        keyring_pool.close()
    results["seconds"] = (datetime.now(UTC) - started).total_seconds()
    stamp = started.strftime("%Y%m%dT%H%M%S")
    text = json.dumps(results, indent=2, default=str)
    (args.out / f"{stamp}-{args.scale}.json").write_text(text)
    (args.out / "latest.json").write_text(text)
    (args.out / "results.md").write_text(markdown(results))
    chart(results, args.out / "results.png")
    say(f"done in {results['seconds']:.0f} s: {args.out}/results.md, results.png, latest.json")
    print(markdown(results))
    return 0
