"""What every measurement stands on: the run's environment (:class:`Bench`), its databases,
the contacts and visits services as processes, and the small HTTP/1.1 clients of the load.

Everything runs in databases of its own (``<prefix>_*``, recreated each run), its own
keyring database, its own consumer groups, districts and topics, so a running ``make up`` or
the tests are not disturbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from deploy.local import launcher, serving
from deploy.local.pgbouncer import ensure_pgbouncer, pooler_env
from shared.contracts import topic_of
from shared.eventsourcing.persistence import eventsourcing_env
from shared.http.auth import Principal, Role, TokenCodec
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings, StackSettings

ROOT = Path(__file__).resolve().parents[1]

DATABASES = ("contacts", "visits", "keyring", "import", "raw")
"""The run's databases, each named ``<prefix>_<name>`` (``--databases``, default ``bench``)."""
MEASURED_SERVICES = ("contacts", "visits")


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


# --- the services as processes -------------------------------------------------------------


@contextlib.contextmanager
def services_running(
    bench: Bench, logs: Path, api_workers: int = 1, extra_env: dict[str, str] | None = None
) -> Iterator[dict[str, str]]:
    """The contacts and visits services as processes, on the bench databases; their URLs.

    ``api_workers`` > 1: each service in the split layout of ``deploy/local/services.py``
    (N processes of role ``api`` on the measured port, one process of role ``worker``
    beside it); 1: one process of role ``all`` each. ``extra_env``: settings of both services
    that a measurement needs besides.
    """

    def start(name: str, env: dict[str, str], started: Started) -> list[str]:
        env |= extra_env or {}
        return [_start_service(name, env, logs, api_workers, started)]

    with _deployment_running(bench, start) as urls:
        yield {name: found[0] for name, found in urls.items()}


@contextlib.contextmanager
def replicas_running(bench: Bench, logs: Path, replicas: int) -> Iterator[dict[str, list[str]]]:
    """The contacts and visits services as ``replicas`` processes of role ``all`` each, as
    ``deploy/local/services.py up --replicas N`` runs them: every replica serves the whole
    API and competes for the work that runs once, their pools go through the stack's
    PgBouncer in transaction mode (started if it is not running; also for one replica, so
    the replica count is all that differs between runs of this). The URLs of each service's
    replicas."""
    stack = StackSettings()
    ensure_pgbouncer(stack)
    pooled = pooler_env(stack)

    def start(name: str, env: dict[str, str], started: Started) -> list[str]:
        urls = []
        for k in range(1, replicas + 1):
            port = launcher.free_port()
            log = logs / f"{name}-replica{k}.log"
            process = serving.start_service(name, port, log, env | pooled, app=_app(name))
            started.append((process, port))
            urls.append(f"http://127.0.0.1:{port}")
        return urls

    with _deployment_running(bench, start, ready_timeout_s=60.0 * replicas + 30) as urls:
        yield urls


Started = list[tuple[subprocess.Popen[bytes], int]]
"""The processes a run started, with the port each answers readiness on."""


@contextlib.contextmanager
def _deployment_running(
    bench: Bench,
    start: Callable[[str, dict[str, str], Started], list[str]],
    ready_timeout_s: float = 90.0,
) -> Iterator[dict[str, list[str]]]:
    """The measured services, each started by ``start`` (given its environment, adding what
    it starts to the list), waited for until ready, and stopped at the end; their URLs.

    Each run is a deployment of its own (``OUTREACH_SERVICE_NAME=bench_<service>_<run id>``)
    with the benchmark's settings (``shared.settings.BenchSettings``, through the factories
    of ``bench/apps.py``): the databases ``<prefix>_<service>`` and ``<prefix>_keyring``, and
    new consumer groups starting at the end of their topics (nothing of what the topics held
    before the run is replayed). The groups are named after the run, so a leftover process
    of an earlier run cannot take partitions of this one; the planning-board groups of the
    measured path get their start committed here, so no command sent right after start-up
    is skipped.
    """
    deployments = {name: f"bench_{name}_{bench.run_id}" for name in MEASURED_SERVICES}
    for suffix in ("board", "cancellations"):
        _start_group_at_the_end(bench, f"{deployments['visits']}-{suffix}", topic_of("contacts"))
    started: Started = []
    try:
        urls = {
            name: start(name, _service_env(bench, name, deployments[name]), started)
            for name in MEASURED_SERVICES
        }
        for process, port in started:
            serving.wait_ready(port, timeout_s=ready_timeout_s, process=process)
        yield urls
    finally:
        _stop_all(process for process, _ in started)
        _delete_groups(bench, tuple(f"{d}-" for d in deployments.values()))


def _service_env(bench: Bench, name: str, deployment: str) -> dict[str, str]:
    """A measured service's environment: ``BenchSettings``' fields and the run's deployment."""
    return {
        "OUTREACH_SERVICE_NAME": deployment,
        "OUTREACH_BENCH_DATABASE": bench.db(name),
        "OUTREACH_BENCH_KEYRING_DATABASE": bench.db("keyring"),
        "OUTREACH_BENCH_OFFSET_RESET": "latest",
        "OUTREACH_LOG_LEVEL": "WARNING",
    }


def _app(name: str) -> str:
    """The factory of ``bench/apps.py`` that starts ``name`` with the benchmark's settings."""
    return f"bench.apps:{name}"


def _start_service(
    name: str, env: dict[str, str], logs: Path, api_workers: int, started: Started
) -> str:
    """Start ``name`` (adding its processes and ports to ``started``); its URL."""
    port = launcher.free_port()
    if api_workers > 1:
        worker_port = launcher.free_port()
        api, worker = serving.start_split(
            name, port, worker_port, logs, api_workers, env, app=_app(name)
        )
        started += [(api, port), (worker, worker_port)]
    else:
        started.append(
            (serving.start_service(name, port, logs / f"{name}.log", env, app=_app(name)), port)
        )
    return f"http://127.0.0.1:{port}"


def _stop_all(started: Iterator[subprocess.Popen[bytes]]) -> None:
    """Stop every process group at once (each may take seconds to shut down)."""
    stoppers = [
        threading.Thread(target=launcher.stop_process_group, args=(process.pid,))
        for process in started
    ]
    for stopper in stoppers:
        stopper.start()
    for stopper in stoppers:
        stopper.join()


def _start_group_at_the_end(bench: Bench, group: str, topic: str) -> None:
    """Commit the current end of ``topic`` as the position of the new consumer ``group``."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(
        bootstrap_servers=bench.settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        consumer.assign(parts)
        consumer.commit({tp: OffsetAndMetadata(ends[tp], "", -1) for tp in parts})
    finally:
        consumer.close()


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


# --- HTTP clients of the load ------------------------------------------------------------------
# The load runs on the same two cores as the services, the database and Kafka. httpx spent
# more CPU per request (about 10 ms of the bench process's time per command, and 2 ms per
# query, profiled) than the contacts service itself, so it, not the service, set the rate;
# these clients spend about 0.05 ms.


def _content_length(head: bytes) -> int:
    """The ``Content-Length`` of a response head (0 if it has none)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _request_head(method: str, url: str, headers: dict[str, str]) -> tuple[tuple[str, int], str]:
    """Where to connect, and the request line and headers (without the ending blank line)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return (parts.hostname, parts.port or 80), "\r\n".join(lines)


class PostConnection:
    """One keep-alive HTTP/1.1 connection that POSTs JSON: the load of the full path."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self._address, head = _request_head("POST", url, headers)
        self._head = (head + "\r\nContent-Type: application/json\r\nContent-Length: ").encode()
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        """Status and body of one POST (not retried: a command is sent once)."""
        if self._stream is None:
            self._stream = await asyncio.open_connection(*self._address)
        reader, writer = self._stream
        try:
            writer.write(self._head + str(len(body)).encode() + b"\r\n\r\n" + body)
            head = await reader.readuntil(b"\r\n\r\n")
            return int(head[9:12]), await reader.readexactly(_content_length(head))
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._stream is not None:
            self._stream[1].close()
            self._stream = None


class KeepAliveClient:
    """GETs of one URL over up to ``connections`` keep-alive connections: the query load."""

    def __init__(self, url: str, headers: dict[str, str], connections: int = 64) -> None:
        self._address, head = _request_head("GET", url, headers)
        self._request = (head + "\r\n\r\n").encode()
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
                await reader.readexactly(_content_length(head))
                self._idle.append((reader, writer))
                return int(head[9:12])
        raise AssertionError("unreachable")

    def close(self) -> None:
        for _, writer in self._idle:
            writer.close()
