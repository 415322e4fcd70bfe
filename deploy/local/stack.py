#!/usr/bin/env python3
"""Local PostgreSQL and Kafka for development and the test suite, started by the project itself.

No Docker needed: PostgreSQL runs from the server binaries of the machine (``initdb``/``pg_ctl``),
Kafka runs as a single KRaft node (broker and controller in one JVM) from jars that Maven
resolves from ``deploy/local/pom.xml``. Every port comes from :class:`shared.settings.StackSettings`
(environment prefix ``OUTREACH_``); nothing here hard-codes one.

Keycloak, the identity provider, has a launcher of its own (``deploy/local/keycloak.py``),
which ``up``, ``down`` and ``status`` call.

Usage (from anywhere; the repository root is put on ``sys.path`` below)::

    python deploy/local/stack.py up                 # PostgreSQL + Kafka, databases created
    python deploy/local/stack.py status             # exit code 0 only if both answer
    python deploy/local/stack.py create-topics      # the topics declared in shared.messaging.topics
    python deploy/local/stack.py down

    pg-up / pg-down / kafka-up / kafka-down         # one half of the stack
    pg-down --immediate                             # PostgreSQL stopped as in a crash
    up --pg-durability unsafe-for-benchmarks        # no fsync: benchmarks only (Durability)
    python deploy/local/stack.py env > .local/compose.env   # variables for deploy/compose.yaml

Every command is idempotent; ``up`` on a running stack returns after a quick health check.
State (data, logs, jars, pid file) lives in the git-ignored ``.local/`` at the repository root,
or in ``$OUTREACH_STACK_DIR`` if set (a second, independent stack then also needs other ports).
Importers can call :func:`ensure_stack`, :func:`stop_stack` and :func:`create_topics`.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import keycloak  # noqa: E402  # deploy/local/keycloak.py: the identity provider's launcher
import psycopg  # noqa: E402
from kafka import KafkaAdminClient  # noqa: E402
from psycopg import sql  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from shared.settings import KEYRING_DATABASE, SERVICE_PORTS, StackSettings  # noqa: E402

if TYPE_CHECKING:
    from shared.messaging.kafka import TopicsEnsured

log = logging.getLogger("outreach.stack")

# --- where things are -------------------------------------------------------------------------

DEPLOY_DIR = Path(__file__).resolve().parent
POM_FILE = DEPLOY_DIR / "pom.xml"
LOG4J2_FILE = DEPLOY_DIR / "log4j2.xml"

LOCAL_DIR = Path(os.environ.get("OUTREACH_STACK_DIR") or REPO_ROOT / ".local").resolve()
LOCK_FILE = LOCAL_DIR / "stack.lock"

PG_ROOT = LOCAL_DIR / "pg"
PG_DATA = PG_ROOT / "data"
PG_RUN = PG_ROOT / "run"
PG_LOG = PG_ROOT / "postgres.log"
PG_CONF_NAME = "outreach.conf"
PG_FALLBACK_BINDIR = Path("/usr/lib/postgresql/15/bin")
PG_OS_USER = "postgres"

KAFKA_ROOT = LOCAL_DIR / "kafka"
KAFKA_DATA = KAFKA_ROOT / "data"
KAFKA_LOGS = KAFKA_ROOT / "logs"
KAFKA_LIB = KAFKA_ROOT / "lib"
KAFKA_SERVER_LOG = KAFKA_ROOT / "server.log"
KAFKA_STDOUT = KAFKA_LOGS / "stdout.log"
KAFKA_MAVEN_LOG = KAFKA_LOGS / "maven.log"
KAFKA_PID = KAFKA_ROOT / "kafka.pid"
KAFKA_PROPERTIES = KAFKA_ROOT / "server.properties"
KAFKA_CLUSTER_ID = KAFKA_ROOT / "cluster.id"
KAFKA_LIB_STAMP = ".pom.sha256"

KAFKA_MAIN_CLASS = "kafka.Kafka"
KAFKA_STORAGE_TOOL = "kafka.tools.StorageTool"  # in kafka_2.13; kafka-tools is not needed
KAFKA_HEAP = ("-Xms256m", "-Xmx512m")
KAFKA_NODE_ID = 1

DATABASES: tuple[str, ...] = (*SERVICE_PORTS, KEYRING_DATABASE)
"""One database per service plus the keyring's own."""

PG_START_TIMEOUT_S = 60
KAFKA_START_TIMEOUT_S = 90
KAFKA_STOP_TIMEOUT_S = 60
LOG_TAIL_LINES = 40


class StackError(RuntimeError):
    """A step of the launcher failed; ``log_files`` are worth reading (their tails get printed)."""

    def __init__(self, message: str, *log_files: Path) -> None:
        super().__init__(message)
        self.log_files = log_files


# --- small helpers ----------------------------------------------------------------------------


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read()
    except OSError:
        return ""
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _log_errors(path: Path, since: int, limit: int = 8) -> str:
    """ERROR/FATAL lines and exception causes written to a log after byte offset ``since``."""
    try:
        with path.open("rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    found: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if (" ERROR " in line or " FATAL " in line or line.startswith("Caused by:")) and (
            line not in found
        ):
            found.append(line)
    return "\n".join(found[-limit:])


def _run(cmd: Sequence[str | Path], what: str, *log_files: Path, cwd: Path | None = None) -> str:
    """Run a command to completion; on failure raise StackError with its output."""
    args = [str(part) for part in cmd]
    try:
        done = subprocess.run(
            args, cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        raise StackError(f"{what}: cannot run {args[0]}: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise StackError(
            f"{what} failed (exit code {done.returncode}): {' '.join(args)}\n{output}", *log_files
        )
    return done.stdout


def _port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _is_root() -> bool:
    return os.geteuid() == 0


class _StackLock:
    """Process-reentrant exclusive lock on ``.local/stack.lock`` (serialises concurrent ``up``)."""

    def __init__(self) -> None:
        self._depth = 0
        self._fh: Any = None

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        if self._depth == 0:
            LOCAL_DIR.mkdir(parents=True, exist_ok=True)
            self._fh = LOCK_FILE.open("a")
            fcntl.flock(self._fh, fcntl.LOCK_EX)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                fcntl.flock(self._fh, fcntl.LOCK_UN)
                self._fh.close()
                self._fh = None


_locked = _StackLock()


@contextlib.contextmanager
def _quiet_kafka_client() -> Iterator[None]:
    """kafka-python logs every refused connection; a readiness poll expects those."""
    client_log = logging.getLogger("kafka")
    previous = client_log.level
    client_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        client_log.setLevel(previous)


# --- PostgreSQL -------------------------------------------------------------------------------


@functools.cache
def pg_bindir() -> Path:
    """Directory with initdb/pg_ctl: ``pg_config --bindir`` if it has them, else Debian's 15."""
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=False
            ).stdout.strip()
            if out and (Path(out) / "initdb").is_file():
                return Path(out)
    if (PG_FALLBACK_BINDIR / "initdb").is_file():
        return PG_FALLBACK_BINDIR
    raise StackError(
        "PostgreSQL server binaries not found (no initdb next to `pg_config --bindir`, "
        f"nor in {PG_FALLBACK_BINDIR}); install the postgresql-15 package"
    )


def _pg_cmd(program: str, *args: str | Path) -> list[str]:
    """initdb and postgres refuse to run as root: as root, run them as the postgres user."""
    cmd = [str(pg_bindir() / program), *(str(arg) for arg in args)]
    if _is_root():
        return ["runuser", "-u", PG_OS_USER, "--", *cmd]
    return cmd


def _pg_os_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_OS_USER)
    except KeyError:
        raise StackError(
            f"running as root, but there is no '{PG_OS_USER}' user to run PostgreSQL as"
        ) from None


def _can_traverse(path: Path, user: pwd.struct_passwd) -> bool:
    st = path.stat()
    groups = {user.pw_gid, *(g for g in os.getgrouplist(user.pw_name, user.pw_gid))}
    if st.st_uid == user.pw_uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in groups:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def _prepare_pg_dirs() -> None:
    """Create .local/pg; as root hand it to the postgres user and check it can get there."""
    PG_RUN.mkdir(parents=True, exist_ok=True)
    if not _is_root():
        return
    user = _pg_os_user()
    # Only .local is ours to loosen; the directories above it must already be traversable.
    if not _can_traverse(LOCAL_DIR, user):
        LOCAL_DIR.chmod(LOCAL_DIR.stat().st_mode | stat.S_IXOTH)
    for top, dirs, files in os.walk(PG_ROOT):
        for name in (top, *(os.path.join(top, entry) for entry in dirs + files)):
            st = os.lstat(name)
            if st.st_uid != user.pw_uid or st.st_gid != user.pw_gid:
                os.chown(name, user.pw_uid, user.pw_gid, follow_symlinks=False)
    probe = subprocess.run(
        ["runuser", "-u", PG_OS_USER, "--", "test", "-w", str(PG_ROOT), "-a", "-x", str(PG_ROOT)],
        check=False,
        cwd=PG_ROOT,
    )
    if probe.returncode != 0:
        blocked = [p for p in reversed(PG_ROOT.parents) if not _can_traverse(p, user)]
        hint = f"; e.g. chmod o+x {blocked[0]}" if blocked else ""
        raise StackError(
            f"the '{PG_OS_USER}' user cannot reach {PG_ROOT}: every parent directory must be "
            f"traversable by it{hint}"
        )


def _initdb(settings: StackSettings) -> None:
    """Create the cluster with settings.pg_user as superuser (password via --pwfile)."""
    if PG_DATA.exists() and any(PG_DATA.iterdir()):
        raise StackError(
            f"{PG_DATA} exists but holds no initialised cluster (no PG_VERSION); "
            "remove it and run `up` again"
        )
    log.info("postgres: initialising %s", PG_DATA)
    pwfile = PG_ROOT / ".initdb-password"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(settings.pg_password.get_secret_value() + "\n")
    if _is_root():
        user = _pg_os_user()
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    try:
        _run(
            _pg_cmd(
                "initdb",
                "-D", PG_DATA,
                "-U", settings.pg_user,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            ),
            "initdb",
            cwd=PG_ROOT,
        )  # fmt: skip
    finally:
        pwfile.unlink(missing_ok=True)


class Durability(StrEnum):
    """How PostgreSQL stores a commit. Every start and every ``up``/``pg-up`` sets it, to
    ``durable`` unless the unsafe mode is asked for by name, so the unsafe mode never
    outlives the benchmark that asked for it."""

    DURABLE = "durable"
    """A commit is answered once its WAL is flushed to disk (PostgreSQL's own defaults):
    what was acknowledged survives a crash of PostgreSQL or of the machine."""
    UNSAFE_FOR_BENCHMARKS = "unsafe-for-benchmarks"
    """No flush at all: a commit is answered (and seen by the relay, which publishes it) before
    it is on disk. A crash of PostgreSQL loses acknowledged commits, which Kafka and the other
    services may already hold; a crash of the machine may corrupt the cluster. Only for
    benchmarks that measure the code, never for data anyone needs."""


PG_DURABILITY: dict[Durability, dict[str, str]] = {
    Durability.DURABLE: {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"},
    Durability.UNSAFE_FOR_BENCHMARKS: {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    },
}
"""The server settings of each mode (all three take effect on a reload, no restart)."""


def _write_pg_conf(settings: StackSettings, durability: Durability) -> None:
    """Our settings live in data/outreach.conf (rewritten on every start), included at the end."""
    storage = "\n".join(f"{key} = {value}" for key, value in PG_DURABILITY[durability].items())
    conf = f"""\
# Written by deploy/local/stack.py before every start; change ports via OUTREACH_* instead.
listen_addresses = '{settings.pg_host}'
port = {settings.pg_port}
unix_socket_directories = '{PG_RUN}'
max_connections = 600
# Durability: {durability} (stack.py up --pg-durability; see Durability in stack.py)
{storage}
"""
    target = PG_DATA / PG_CONF_NAME
    target.write_text(conf)
    main_conf = PG_DATA / "postgresql.conf"
    include = f"include_if_exists = '{PG_CONF_NAME}'"
    if include not in main_conf.read_text():
        with main_conf.open("a") as fh:
            fh.write(f"\n# Settings of the Outreach local stack\n{include}\n")
    if _is_root():
        user = _pg_os_user()
        os.chown(target, user.pw_uid, user.pw_gid)


def _pg_managed_running() -> bool:
    """Whether the cluster in .local/pg/data is running (``pg_ctl status``)."""
    if not (PG_DATA / "PG_VERSION").exists():
        return False
    done = subprocess.run(
        _pg_cmd("pg_ctl", "status", "-D", PG_DATA),
        capture_output=True,
        check=False,
        cwd=PG_ROOT,
    )
    return done.returncode == 0


def _pg_connect(settings: StackSettings, dbname: str, timeout: int = 3) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=settings.pg_host,
        port=settings.pg_port,
        user=settings.pg_user,
        password=settings.pg_password.get_secret_value(),
        dbname=dbname,
        connect_timeout=timeout,
        autocommit=True,
    )


def _wait_for_pg(settings: StackSettings, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with _pg_connect(settings, "postgres") as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() >= deadline:
                raise StackError(
                    f"PostgreSQL at {settings.pg_host}:{settings.pg_port} does not accept "
                    f"connections after {timeout_s:.0f} s: {exc}",
                    PG_LOG,
                ) from exc
            time.sleep(0.2)


def ensure_databases(settings: StackSettings) -> list[str]:
    """Create the service databases and the keyring database if missing; return the new ones."""
    created: list[str] = []
    with _pg_connect(settings, "postgres") as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name in existing:
                continue
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                continue  # created concurrently by someone else
            created.append(name)
    if created:
        log.info("postgres: created databases %s", ", ".join(created))
    return created


def pg_durability(settings: StackSettings) -> Durability | None:
    """The mode the server runs in (``None``: neither mode's settings, e.g. mixed)."""
    with _pg_connect(settings, "postgres") as conn:
        rows = conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
            (list(PG_DURABILITY[Durability.DURABLE]),),
        ).fetchall()
    current = {str(name): str(value) for name, value in rows}
    return next((mode for mode, wanted in PG_DURABILITY.items() if wanted == current), None)


def _set_durability(settings: StackSettings, durability: Durability) -> None:
    """Switch our running server to ``durability`` (a reload: no restart, no lost sessions)."""
    if pg_durability(settings) is durability:
        return
    _write_pg_conf(settings, durability)
    _run(_pg_cmd("pg_ctl", "reload", "-D", PG_DATA), "reloading PostgreSQL", PG_LOG, cwd=PG_ROOT)
    deadline = time.monotonic() + 10
    while pg_durability(settings) is not durability:
        if time.monotonic() > deadline:
            raise StackError(f"PostgreSQL did not switch to {durability} after a reload", PG_LOG)
        time.sleep(0.1)
    if durability is Durability.DURABLE:
        # What was written while fsync was off may still be only in the kernel's page cache;
        # PostgreSQL's documentation asks for it to be flushed when fsync is turned back on.
        with _pg_connect(settings, "postgres") as conn:
            conn.execute("CHECKPOINT")
        os.sync()
    log.info("postgres: switched to %s", durability)


def ensure_postgres(
    settings: StackSettings | None = None, durability: Durability = Durability.DURABLE
) -> None:
    """Start PostgreSQL (initialising it on first use) in ``durability`` mode and create the
    databases; a running server of ours is switched to ``durability``. Idempotent."""
    settings = settings or StackSettings()
    where = f"{settings.pg_host}:{settings.pg_port}"
    with _locked():
        if _pg_managed_running():
            log.info("postgres: already running at %s", where)
            _set_durability(settings, durability)
        elif _port_open(settings.pg_host, settings.pg_port):
            try:
                with _pg_connect(settings, "postgres") as conn:
                    conn.execute("SELECT 1")
            except psycopg.OperationalError as exc:
                raise StackError(
                    f"port {where} is taken by a process that is not our PostgreSQL "
                    f"(or it rejects user {settings.pg_user!r}): {exc}"
                ) from None
            log.info("postgres: using the server already listening at %s (not ours)", where)
            running = pg_durability(settings)
            if running is not durability:
                log.warning(
                    "postgres: that server runs %s, not %s (not ours: left as it is)",
                    running or "with other fsync/synchronous_commit/full_page_writes",
                    durability,
                )
        else:
            started = time.monotonic()
            _prepare_pg_dirs()
            if not (PG_DATA / "PG_VERSION").exists():
                _initdb(settings)
            _write_pg_conf(settings, durability)
            _run(
                _pg_cmd(
                    "pg_ctl", "start", "-D", PG_DATA, "-l", PG_LOG,
                    "-w", "-t", str(PG_START_TIMEOUT_S),
                ),
                "starting PostgreSQL",
                PG_LOG,
                cwd=PG_ROOT,
            )  # fmt: skip
            _wait_for_pg(settings, timeout_s=PG_START_TIMEOUT_S)
            log.info(
                "postgres: started at %s (%s) in %.1f s",
                where,
                durability,
                time.monotonic() - started,
            )
        ensure_databases(settings)


def stop_postgres(immediate: bool = False) -> None:
    """Stop our PostgreSQL: a fast shutdown (sessions ended, a checkpoint written), or with
    ``immediate`` as in a crash (every process ends at once; recovery from the WAL at the next
    start). A server we did not start is left alone."""
    with _locked():
        if not _pg_managed_running():
            log.info("postgres: not running")
            return
        mode = "immediate" if immediate else "fast"
        _run(
            _pg_cmd("pg_ctl", "stop", "-D", PG_DATA, "-m", mode, "-w", "-t", "60"),
            "stopping PostgreSQL",
            PG_LOG,
            cwd=PG_ROOT,
        )
        log.info("postgres: stopped (%s)", mode)


# --- Kafka ------------------------------------------------------------------------------------


def _kafka_listener(settings: StackSettings) -> tuple[str, int]:
    """Host and port of the PLAINTEXT listener: the first entry of settings.kafka_bootstrap."""
    first = settings.kafka_bootstrap.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise StackError(f"OUTREACH_KAFKA_BOOTSTRAP must look like host:port, got {first!r}")
    return host, int(port)


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise StackError("java not found (Kafka needs a JDK/JRE 17+ on PATH or JAVA_HOME)")
    return java


def _pom_digest() -> str:
    return hashlib.sha256(POM_FILE.read_bytes()).hexdigest()


def ensure_kafka_jars() -> None:
    """Resolve the broker's class path into .local/kafka/lib unless the POM is unchanged."""
    stamp = KAFKA_LIB / KAFKA_LIB_STAMP
    digest = _pom_digest()
    if stamp.is_file() and stamp.read_text().strip() == digest:
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("mvn not found: Maven resolves the Kafka jars from deploy/local/pom.xml")
    log.info("kafka: resolving jars with Maven into %s (new or changed POM)", KAFKA_LIB)
    started = time.monotonic()
    KAFKA_LOGS.mkdir(parents=True, exist_ok=True)
    partial = KAFKA_ROOT / "lib.partial"
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [
        mvn, "-q", "-B", "-f", str(POM_FILE), "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
    ]  # fmt: skip
    with KAFKA_MAVEN_LOG.open("w") as out:
        done = subprocess.run(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        )
    if done.returncode != 0 or not any(partial.glob("kafka_2.13-*.jar")):
        raise StackError(
            f"Maven could not resolve the Kafka jars (exit code {done.returncode}): "
            f"{' '.join(cmd)}",
            KAFKA_MAVEN_LOG,
        )
    (partial / KAFKA_LIB_STAMP).write_text(digest + "\n")
    shutil.rmtree(KAFKA_LIB, ignore_errors=True)
    partial.rename(KAFKA_LIB)
    log.info("kafka: jars resolved in %.1f s", time.monotonic() - started)


def _kafka_properties(settings: StackSettings) -> dict[str, str]:
    host, port = _kafka_listener(settings)
    controller = f"{host}:{settings.kafka_controller_port}"
    return {
        # One JVM is broker and KRaft controller; the quorum is this node alone.
        "process.roles": "broker,controller",
        "node.id": str(KAFKA_NODE_ID),
        "controller.quorum.voters": f"{KAFKA_NODE_ID}@{controller}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(KAFKA_DATA),
        "num.partitions": str(settings.kafka_partitions),
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        # Internal topics: one broker, so one replica; fewer offset partitions start faster.
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        # Topics are created explicitly, as declared in shared.messaging.topics (create-topics, the
        # services' ensure_topics), never by a typo in a producer.
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
    }


def _write_kafka_properties(settings: StackSettings) -> None:
    lines = ["# Written by deploy/local/stack.py before every start; edit OUTREACH_* instead."]
    lines += [f"{key}={value}" for key, value in _kafka_properties(settings).items()]
    KAFKA_PROPERTIES.write_text("\n".join(lines) + "\n")


def _java_cmd(main_class: str, *args: str) -> list[str]:
    return [
        _java(),
        f"-Dlog4j2.configurationFile={LOG4J2_FILE}",
        f"-Dkafka.logs.dir={KAFKA_ROOT}",
        "-cp",
        f"{KAFKA_LIB}/*",
        main_class,
        *args,
    ]


def _format_kafka_storage() -> None:
    """Format the KRaft log directory once (``meta.properties`` marks it as formatted)."""
    if (KAFKA_DATA / "meta.properties").is_file():
        return
    if KAFKA_CLUSTER_ID.is_file():
        cluster_id = KAFKA_CLUSTER_ID.read_text().strip()
    else:
        cluster_id = _run(
            _java_cmd(KAFKA_STORAGE_TOOL, "random-uuid"), "generating a Kafka cluster id"
        ).strip()
        KAFKA_CLUSTER_ID.write_text(cluster_id + "\n")
    log.info("kafka: formatting %s (cluster id %s)", KAFKA_DATA, cluster_id)
    _run(
        _java_cmd(
            KAFKA_STORAGE_TOOL, "format", "--ignore-formatted",
            "-t", cluster_id, "-c", str(KAFKA_PROPERTIES),
        ),
        "formatting Kafka storage",
        KAFKA_SERVER_LOG,
    )  # fmt: skip


def _pid_alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (reaping it if it is our own child)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def kafka_pid() -> int | None:
    """Pid of the broker started from this checkout, or None (a stale pid file is ignored)."""
    try:
        pid = int(KAFKA_PID.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    ours = KAFKA_MAIN_CLASS.encode() in cmdline and str(KAFKA_PROPERTIES).encode() in cmdline
    return pid if ours and _pid_alive(pid) else None


def _admin(settings: StackSettings, timeout_s: float) -> Any:
    """A connected KafkaAdminClient (raises if the broker does not answer within timeout_s)."""
    timeout_ms = max(int(timeout_s * 1000), 500)
    return KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="outreach-stack",
        bootstrap_timeout_ms=timeout_ms,
        request_timeout_ms=max(timeout_ms, 5000),
    )


def kafka_topics(settings: StackSettings, timeout_s: float = 5) -> list[str]:
    """Names of the topics on the broker (raises if it does not answer)."""
    with _quiet_kafka_client():
        admin = _admin(settings, timeout_s)
        try:
            return sorted(cast(list[str], admin.list_topics()))
        finally:
            admin.close()


def _wait_for_kafka(
    settings: StackSettings, timeout_s: float, pid: int | None, log_offset: int | None = None
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if pid is not None and not _pid_alive(pid):
            KAFKA_PID.unlink(missing_ok=True)
            errors = _log_errors(KAFKA_SERVER_LOG, log_offset) if log_offset is not None else ""
            raise StackError(
                "Kafka exited during start-up" + (f"; its errors:\n{errors}" if errors else ""),
                KAFKA_SERVER_LOG,
                KAFKA_STDOUT,
            )
        try:
            kafka_topics(settings, timeout_s=2)
            return
        except Exception as exc:
            if time.monotonic() >= deadline:
                raise StackError(
                    f"Kafka at {settings.kafka_bootstrap} did not answer within {timeout_s:.0f} s "
                    f"({type(exc).__name__}: {exc})",
                    KAFKA_SERVER_LOG,
                    KAFKA_STDOUT,
                ) from exc
        time.sleep(0.5)


def _start_kafka_process() -> int:
    KAFKA_LOGS.mkdir(parents=True, exist_ok=True)
    cmd = _java_cmd(KAFKA_MAIN_CLASS, str(KAFKA_PROPERTIES))
    cmd[1:1] = [
        *KAFKA_HEAP,
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:+ExitOnOutOfMemoryError",
        f"-XX:ErrorFile={KAFKA_LOGS}/hs_err_pid%p.log",
        "-Djava.awt.headless=true",
    ]
    with KAFKA_STDOUT.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting Kafka\n".encode())
        out.flush()
        # A session of its own: the broker outlives this command and ignores its terminal.
        proc = subprocess.Popen(
            cmd,
            cwd=KAFKA_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    KAFKA_PID.write_text(f"{proc.pid}\n")
    return proc.pid


def ensure_kafka(settings: StackSettings | None = None) -> None:
    """Start the single-node KRaft broker (resolving jars, formatting storage first). Idempotent."""
    settings = settings or StackSettings()
    host, port = _kafka_listener(settings)
    with _locked():
        pid = kafka_pid()
        if pid is not None:
            _wait_for_kafka(settings, KAFKA_START_TIMEOUT_S, pid)
            log.info("kafka: already running at %s (pid %d)", settings.kafka_bootstrap, pid)
            return
        if _port_open(host, port):
            try:
                kafka_topics(settings, timeout_s=3)
            except Exception as exc:
                raise StackError(
                    f"port {host}:{port} is taken by a process that is not a Kafka broker "
                    f"({type(exc).__name__}: {exc})"
                ) from None
            log.info("kafka: using the broker already listening at %s (not ours)", host)
            return
        if _port_open(host, settings.kafka_controller_port):
            raise StackError(
                f"the controller port {host}:{settings.kafka_controller_port} is taken "
                "by another process"
            )
        started = time.monotonic()
        for directory in (KAFKA_DATA, KAFKA_LOGS):
            directory.mkdir(parents=True, exist_ok=True)
        ensure_kafka_jars()
        _write_kafka_properties(settings)
        _format_kafka_storage()
        log_offset = _log_size(KAFKA_SERVER_LOG)
        pid = _start_kafka_process()
        _wait_for_kafka(settings, KAFKA_START_TIMEOUT_S, pid, log_offset)
        log.info(
            "kafka: started at %s (pid %d) in %.1f s",
            settings.kafka_bootstrap,
            pid,
            time.monotonic() - started,
        )


def stop_kafka() -> None:
    """SIGTERM our broker (controlled shutdown), SIGKILL if it is still there after a minute."""
    with _locked():
        pid = kafka_pid()
        if pid is None:
            KAFKA_PID.unlink(missing_ok=True)
            log.info("kafka: not running")
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + KAFKA_STOP_TIMEOUT_S
        while _pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _pid_alive(pid):
            log.warning("kafka: no exit %d s after SIGTERM, sending SIGKILL", KAFKA_STOP_TIMEOUT_S)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            while _pid_alive(pid):
                time.sleep(0.1)
        KAFKA_PID.unlink(missing_ok=True)
        log.info("kafka: stopped")


def create_topics(
    names: Sequence[str] = (), settings: StackSettings | None = None
) -> TopicsEnsured:
    """Create ``names`` (default: every topic declared in shared.messaging.topics) with their
    declared settings, and bring existing ones to their declared configuration
    (:func:`shared.messaging.kafka.ensure_topics`)."""
    # Imported here: it brings the services' Kafka stack, which the other commands do not need.
    from shared.messaging.kafka import TopicAdministrationError, ensure_topics

    settings = settings or StackSettings()
    with _quiet_kafka_client():
        try:
            outcome = ensure_topics(settings, list(names) or None)
        except TopicAdministrationError as exc:
            raise StackError(str(exc)) from exc
        except Exception as exc:
            raise StackError(
                f"Kafka at {settings.kafka_bootstrap} does not answer ({type(exc).__name__}: "
                f"{exc}); run `stack.py kafka-up` first"
            ) from exc
    if outcome.unchanged:
        log.info("kafka: %d topics as declared", len(outcome.unchanged))
    for name in outcome.created:
        log.info("kafka: topic %s created", name)
    for name, changes in outcome.updated.items():
        log.info("kafka: topic %s set %s", name, changes)
    for name, differences in outcome.drift.items():
        log.warning(
            "kafka: topic %s differs from its declaration: %s", name, "; ".join(differences)
        )
    return outcome


# --- the whole stack --------------------------------------------------------------------------


def ensure_stack(
    settings: StackSettings | None = None, durability: Durability = Durability.DURABLE
) -> None:
    """PostgreSQL with all databases, and Kafka; returns quickly if both already run."""
    settings = settings or StackSettings()
    with _locked():
        ensure_postgres(settings, durability)
        ensure_kafka(settings)
        keycloak.ensure_keycloak()


def stop_stack() -> None:
    with _locked():
        keycloak.stop_keycloak()
        stop_kafka()
        stop_postgres()


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


def stack_status(settings: StackSettings | None = None) -> StackStatus:
    settings = settings or StackSettings()
    databases: tuple[str, ...] = ()
    durability: Durability | None = None
    try:
        with _pg_connect(settings, "postgres", timeout=2) as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")
            databases = tuple(sorted(row[0] for row in rows))
        durability = pg_durability(settings)
        pg_reachable = True
    except psycopg.OperationalError:
        pg_reachable = False
    topics: tuple[str, ...] = ()
    try:
        topics = tuple(kafka_topics(settings, timeout_s=2))
        kafka_reachable = True
    except Exception:
        kafka_reachable = False
    return StackStatus(
        pg_managed=_pg_managed_running(),
        pg_reachable=pg_reachable,
        pg_databases=databases,
        pg_durability=durability,
        kafka_pid=kafka_pid(),
        kafka_reachable=kafka_reachable,
        kafka_topics=topics,
    )


def _print_status(settings: StackSettings) -> int:
    status = stack_status(settings)
    pg_where = f"{settings.pg_host}:{settings.pg_port}"
    if status.pg_reachable:
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
    else:
        state = "running but unreachable" if status.pg_managed else "down"
        print(f"postgres  {state:<5} {pg_where}")
    if status.kafka_reachable:
        owner = f"ours, pid {status.kafka_pid}" if status.kafka_pid else "not ours"
        print(f"kafka     up    {settings.kafka_bootstrap} ({owner})")
        user_topics = [t for t in status.kafka_topics if not t.startswith("__")]
        print(f"          topics: {', '.join(user_topics) or '(none)'}")
    else:
        state = f"running (pid {status.kafka_pid}) but unreachable" if status.kafka_pid else "down"
        print(f"kafka     {state:<5} {settings.kafka_bootstrap}")
    keycloak_ready = keycloak.print_status(settings)
    return 0 if status.healthy and keycloak_ready else 1


def compose_env(settings: StackSettings) -> str:
    """The settings as an env file for ``docker compose --env-file`` (deploy/compose.yaml).

    Compose cannot split ``host:port``, so the Kafka listener is also given as two
    OUTREACH_COMPOSE_* variables; those are read by compose.yaml only, never by the services.
    """
    host, port = _kafka_listener(settings)
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
        **keycloak.compose_env(settings),
    }
    header = "# From shared.settings.StackSettings via `python deploy/local/stack.py env`.\n"
    return header + "".join(f"{key}={value}\n" for key, value in values.items())


# --- command line -----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stack.py",
        description="Local PostgreSQL + Kafka for Outreach (state in .local/, "
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
    commands.add_parser(
        "up",
        parents=[durability],
        help="start PostgreSQL, Kafka and Keycloak, create the databases",
    )
    commands.add_parser("down", help="stop Keycloak, Kafka and PostgreSQL")
    commands.add_parser("status", help="show what runs; exit code 0 only if all is up")
    commands.add_parser(
        "pg-up", parents=[durability], help="start PostgreSQL and create the databases"
    )
    pg_down = commands.add_parser("pg-down", help="stop PostgreSQL")
    pg_down.add_argument(
        "--immediate",
        action="store_true",
        help="as in a crash: no shutdown checkpoint, recovery from the WAL at the next start",
    )
    commands.add_parser("kafka-up", help="start Kafka")
    commands.add_parser("kafka-down", help="stop Kafka")
    commands.add_parser("env", help="print the settings as an env file for deploy/compose.yaml")
    topics = commands.add_parser(
        "create-topics",
        help="create the declared topics (shared.messaging.topics) or TOPICs (idempotent)",
    )
    topics.add_argument("topics", nargs="*", metavar="TOPIC")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="stack: %(message)s", stream=sys.stdout)
    started = time.monotonic()
    try:
        settings = StackSettings()
        match args.command:
            case "up":
                ensure_stack(settings, args.pg_durability)
                log.info("up in %.1f s", time.monotonic() - started)
            case "down":
                stop_stack()
            case "status":
                return _print_status(settings)
            case "pg-up":
                ensure_postgres(settings, args.pg_durability)
            case "pg-down":
                stop_postgres(immediate=args.immediate)
            case "kafka-up":
                ensure_kafka(settings)
            case "kafka-down":
                stop_kafka()
            case "env":
                sys.stdout.write(compose_env(settings))
            case "create-topics":
                create_topics(args.topics, settings)
            case _:  # pragma: no cover - argparse rejects unknown commands
                raise AssertionError(args.command)
    except (StackError, keycloak.KeycloakError) as exc:
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
