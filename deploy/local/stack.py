#!/usr/bin/env python3
"""Local PostgreSQL, Kafka, Keycloak and Prometheus for development and the test suite,
started by the project itself.

No Docker needed: PostgreSQL runs from the server binaries of the machine (``postgres.py``),
Kafka as a single KRaft node from jars that Maven resolves (``kafka_broker.py``), Keycloak,
the identity provider, from its distribution (``keycloak.py``), Prometheus from Debian's
package, installed if missing (``prometheus.py``). Every port comes from
:class:`shared.settings.StackSettings` (environment prefix ``OUTREACH_``); nothing here
hard-codes one.

Usage (from anywhere; the repository root is put on ``sys.path`` below)::

    python deploy/local/stack.py up                 # PostgreSQL, Kafka, Keycloak, Prometheus
    python deploy/local/stack.py status             # exit code 0 only if all of them answer
    python deploy/local/stack.py create-topics      # the topics declared in shared.messaging.topics
    python deploy/local/stack.py down

    pg-up / pg-down / kafka-up / kafka-down         # one part of the stack
    prometheus-up / prometheus-down / prometheus-install
    pgbouncer-up / pgbouncer-down                   # the pooler (services.py --replicas starts it)
    pg-down --immediate                             # PostgreSQL stopped as in a crash
    up --pg-durability unsafe-for-benchmarks        # no fsync: benchmarks only (Durability)
    python deploy/local/stack.py env > .local/compose.env   # variables for deploy/compose.yaml

Every command is idempotent; ``up`` on a running stack returns after a quick health check.
State (data, logs, jars, pid files) lives in the git-ignored ``.local/`` at the repository
root, or in ``$OUTREACH_STACK_DIR`` if set (a second, independent stack then also needs other
ports). Importers can call :func:`ensure_stack` and :func:`stop_stack`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import psycopg  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from deploy.local import keycloak  # noqa: E402
from deploy.local.kafka_broker import (  # noqa: E402
    create_topics,
    ensure_kafka,
    kafka_listener,
    kafka_pid,
    kafka_topics,
    stop_kafka,
)
from deploy.local.launcher import StackError, stack_lock, tail  # noqa: E402
from deploy.local.pgbouncer import ensure_pgbouncer, stop_pgbouncer  # noqa: E402
from deploy.local.pgbouncer import print_status as print_pgbouncer_status  # noqa: E402
from deploy.local.postgres import (  # noqa: E402
    DATABASES,
    PG_DATA,
    Durability,
    ensure_postgres,
    pg_connect,
    pg_durability,
    pg_managed_running,
    stop_postgres,
)
from deploy.local.prometheus import (  # noqa: E402
    ensure_installed,
    ensure_prometheus,
    prometheus_url,
    stop_prometheus,
)
from deploy.local.prometheus import print_status as print_prometheus_status  # noqa: E402
from shared.settings import StackSettings  # noqa: E402

log = logging.getLogger("outreach.stack")


def ensure_stack(
    settings: StackSettings | None = None, durability: Durability = Durability.DURABLE
) -> None:
    """PostgreSQL with all databases, Kafka, Keycloak and Prometheus; returns quickly if all
    run."""
    settings = settings or StackSettings()
    with stack_lock():
        ensure_postgres(settings, durability)
        ensure_kafka(settings)
        keycloak.ensure_keycloak()
        ensure_prometheus(settings)


def stop_stack() -> None:
    with stack_lock():
        stop_pgbouncer()
        stop_prometheus()
        keycloak.stop_keycloak()
        stop_kafka()
        stop_postgres()


# --- status -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackStatus:
    pg_managed: bool
    pg_reachable: bool
    pg_databases: tuple[str, ...]
    pg_durability: Durability | None
    kafka_pid: int | None
    kafka_reachable: bool
    kafka_topics: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        missing = set(DATABASES) - set(self.pg_databases)
        return self.pg_reachable and not missing and self.kafka_reachable


def _postgres_status(settings: StackSettings) -> tuple[bool, tuple[str, ...], Durability | None]:
    """Whether PostgreSQL answers, its databases and its mode."""
    try:
        with pg_connect(settings, "postgres", timeout=2) as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")
            databases = tuple(sorted(row[0] for row in rows))
        return True, databases, pg_durability(settings)
    except psycopg.OperationalError:
        return False, (), None


def _kafka_status(settings: StackSettings) -> tuple[bool, tuple[str, ...]]:
    """Whether Kafka answers, and its topics."""
    try:
        return True, tuple(kafka_topics(settings, timeout_s=2))
    except Exception:
        return False, ()


def stack_status(settings: StackSettings | None = None) -> StackStatus:
    settings = settings or StackSettings()
    pg_reachable, databases, durability = _postgres_status(settings)
    kafka_reachable, topics = _kafka_status(settings)
    return StackStatus(
        pg_managed=pg_managed_running(),
        pg_reachable=pg_reachable,
        pg_databases=databases,
        pg_durability=durability,
        kafka_pid=kafka_pid(),
        kafka_reachable=kafka_reachable,
        kafka_topics=topics,
    )


def _print_postgres(status: StackStatus, settings: StackSettings) -> None:
    pg_where = f"{settings.pg_host}:{settings.pg_port}"
    if not status.pg_reachable:
        state = "running but unreachable" if status.pg_managed else "down"
        print(f"postgres  {state:<5} {pg_where}")
        return
    owner = f"ours, data {PG_DATA}" if status.pg_managed else "not started by this launcher"
    missing = [name for name in DATABASES if name not in status.pg_databases]
    print(f"postgres  up    {pg_where} ({owner}) user {settings.pg_user}")
    if status.pg_durability is Durability.DURABLE:
        print("          durable (fsync, synchronous_commit, full_page_writes on)")
    else:
        mode = status.pg_durability or "mixed fsync/synchronous_commit/full_page_writes"
        print(f"          NOT DURABLE: {mode} (`stack.py pg-up` makes it durable)")
    print(f"          databases: {', '.join(status.pg_databases)}")
    if missing:
        print(f"          missing:   {', '.join(missing)} (run `up`)")


def _print_kafka(status: StackStatus, settings: StackSettings) -> None:
    if not status.kafka_reachable:
        state = f"running (pid {status.kafka_pid}) but unreachable" if status.kafka_pid else "down"
        print(f"kafka     {state:<5} {settings.kafka_bootstrap}")
        return
    owner = f"ours, pid {status.kafka_pid}" if status.kafka_pid else "not ours"
    print(f"kafka     up    {settings.kafka_bootstrap} ({owner})")
    user_topics = [t for t in status.kafka_topics if not t.startswith("__")]
    print(f"          topics: {', '.join(user_topics) or '(none)'}")


def _print_status(settings: StackSettings) -> int:
    status = stack_status(settings)
    _print_postgres(status, settings)
    _print_kafka(status, settings)
    keycloak_ready = keycloak.print_status(settings)
    prometheus_ready = print_prometheus_status(settings)
    print_pgbouncer_status(settings)
    return 0 if status.healthy and keycloak_ready and prometheus_ready else 1


def compose_env(settings: StackSettings) -> str:
    """The settings as an env file for ``docker compose --env-file`` (deploy/compose.yaml).

    Compose cannot split ``host:port``, so the Kafka listener is also given as two
    OUTREACH_COMPOSE_* variables; those are read by compose.yaml only, never by the services.
    """
    host, port = kafka_listener(settings)
    values = {
        "OUTREACH_PG_HOST": settings.pg_host,
        "OUTREACH_PG_PORT": str(settings.pg_port),
        "OUTREACH_PG_USER": settings.pg_user,
        "OUTREACH_PG_PASSWORD": settings.pg_password.get_secret_value(),
        "OUTREACH_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "OUTREACH_KAFKA_CONTROLLER_PORT": str(settings.kafka_controller_port),
        "OUTREACH_KAFKA_PARTITIONS": str(settings.kafka_partitions),
        "OUTREACH_COMPOSE_KAFKA_HOST": host,
        "OUTREACH_COMPOSE_KAFKA_PORT": str(port),
        "OUTREACH_PROMETHEUS_PORT": str(settings.prometheus_port),
        **keycloak.compose_env(settings),
    }
    header = "# From shared.settings.StackSettings via `python deploy/local/stack.py env`.\n"
    return header + "".join(f"{key}={value}\n" for key, value in values.items())


# --- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stack.py",
        description="Local PostgreSQL + Kafka + Keycloak for Outreach (state in .local/, "
        "ports from OUTREACH_* settings).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    durability = argparse.ArgumentParser(add_help=False)
    durability.add_argument(
        "--pg-durability",
        type=Durability,
        choices=list(Durability),
        default=Durability.DURABLE,
        help="durable (the default; a running server is switched back to it), or "
        "unsafe-for-benchmarks: no fsync, acknowledged commits lost in a crash",
    )
    up_help = "start PostgreSQL, Kafka and Keycloak, create the databases"
    commands.add_parser("up", parents=[durability], help=up_help)
    commands.add_parser("down", help="stop PgBouncer, Prometheus, Keycloak, Kafka and PostgreSQL")
    commands.add_parser("status", help="show what runs; exit code 0 only if all is up")
    pg_up_help = "start PostgreSQL and create the databases"
    commands.add_parser("pg-up", parents=[durability], help=pg_up_help)
    pg_down = commands.add_parser("pg-down", help="stop PostgreSQL")
    pg_down.add_argument(
        "--immediate",
        action="store_true",
        help="as in a crash: no shutdown checkpoint, recovery from the WAL at the next start",
    )
    commands.add_parser("kafka-up", help="start Kafka")
    commands.add_parser("kafka-down", help="stop Kafka")
    commands.add_parser("prometheus-up", help="start Prometheus (installed if missing)")
    commands.add_parser("prometheus-down", help="stop Prometheus")
    commands.add_parser("prometheus-install", help="install Debian's prometheus if missing")
    commands.add_parser("pgbouncer-up", help="start PgBouncer (installed if missing)")
    commands.add_parser("pgbouncer-down", help="stop PgBouncer")
    commands.add_parser("env", help="print the settings as an env file for deploy/compose.yaml")
    topics = commands.add_parser(
        "create-topics",
        help="create the declared topics (shared.messaging.topics) or TOPICs (idempotent)",
    )
    topics.add_argument("topics", nargs="*", metavar="TOPIC")
    return parser


def _up(args: argparse.Namespace, settings: StackSettings) -> None:
    started = time.monotonic()
    ensure_stack(settings, args.pg_durability)
    log.info("up in %.1f s; Prometheus: %s", time.monotonic() - started, prometheus_url(settings))


def _write(text: str) -> None:
    sys.stdout.write(text)


def _create_topics(names: Sequence[str], settings: StackSettings) -> None:
    create_topics(names, settings)


Command = Callable[[argparse.Namespace, StackSettings], int | None]

COMMANDS: dict[str, Command] = {
    "up": _up,
    "down": lambda args, settings: stop_stack(),
    "status": lambda args, settings: _print_status(settings),
    "pg-up": lambda args, settings: ensure_postgres(settings, args.pg_durability),
    "pg-down": lambda args, settings: stop_postgres(immediate=args.immediate),
    "kafka-up": lambda args, settings: ensure_kafka(settings),
    "kafka-down": lambda args, settings: stop_kafka(),
    "prometheus-up": lambda args, settings: ensure_prometheus(settings),
    "prometheus-down": lambda args, settings: stop_prometheus(),
    "prometheus-install": lambda args, settings: ensure_installed(),
    "pgbouncer-up": lambda args, settings: bool(ensure_pgbouncer(settings)) and None,
    "pgbouncer-down": lambda args, settings: stop_pgbouncer(),
    "env": lambda args, settings: _write(compose_env(settings)),
    "create-topics": lambda args, settings: _create_topics(args.topics, settings),
}


def _command(args: argparse.Namespace, settings: StackSettings) -> int:
    """Carry out the command (argparse admits only those of :data:`COMMANDS`); its exit
    code."""
    return COMMANDS[args.command](args, settings) or 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="stack: %(message)s", stream=sys.stdout)
    try:
        return _command(args, StackSettings())
    except StackError as exc:
        sys.stdout.flush()
        print(f"stack: error: {exc}", file=sys.stderr)
        for log_file in exc.log_files:
            text = tail(log_file)
            if text:
                print(f"--- last lines of {log_file} ---\n{text}\n---", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print(f"stack: error: invalid OUTREACH_* settings:\n{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
