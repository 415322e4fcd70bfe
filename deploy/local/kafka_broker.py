"""Kafka of the local stack: a single KRaft node (broker and controller in one JVM), run from
jars that Maven resolves from ``deploy/local/pom.xml``, with its data in ``.local/kafka``.
Topics are created as ``shared.topics`` declares them, by :func:`shared.kafka.ensure_topics`
(the one topic creator of the project).

(Not named ``kafka.py``: run as a script, this directory comes first on ``sys.path`` and a
module of that name would hide the Kafka client library from every script here.)
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from kafka import KafkaAdminClient

from deploy.local.launcher import (
    LOCAL_DIR,
    StackError,
    alive,
    cmdline,
    digest,
    log_errors,
    log_size,
    maven_copy,
    port_open,
    run_tool,
    stack_lock,
    terminate,
)
from shared.settings import StackSettings

if TYPE_CHECKING:
    from shared.kafka import TopicsEnsured

log = logging.getLogger("outreach.stack")

DEPLOY_DIR = Path(__file__).resolve().parent
POM_FILE = DEPLOY_DIR / "pom.xml"
LOG4J2_FILE = DEPLOY_DIR / "log4j2.xml"

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
KAFKA_START_TIMEOUT_S = 90
KAFKA_STOP_TIMEOUT_S = 60


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


def kafka_listener(settings: StackSettings) -> tuple[str, int]:
    """Host and port of the PLAINTEXT listener: the first entry of settings.kafka_bootstrap."""
    first = settings.kafka_bootstrap.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise StackError(f"OUTREACH_KAFKA_BOOTSTRAP must look like host:port, got {first!r}")
    return host, int(port)


# --- the broker's files -----------------------------------------------------------------------


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise StackError("java not found (Kafka needs a JDK/JRE 17+ on PATH or JAVA_HOME)")
    return java


def ensure_kafka_jars() -> None:
    """Resolve the broker's class path into .local/kafka/lib unless the POM is unchanged."""
    stamp = KAFKA_LIB / KAFKA_LIB_STAMP
    pom_digest = digest(POM_FILE)
    if stamp.is_file() and stamp.read_text().strip() == pom_digest:
        return
    log.info("kafka: resolving jars with Maven into %s (new or changed POM)", KAFKA_LIB)
    started = time.monotonic()
    partial = KAFKA_ROOT / "lib.partial"
    shutil.rmtree(partial, ignore_errors=True)
    maven_copy(POM_FILE, partial, KAFKA_MAVEN_LOG, "kafka_2.13-*.jar", "-DincludeScope=runtime")
    (partial / KAFKA_LIB_STAMP).write_text(pom_digest + "\n")
    shutil.rmtree(KAFKA_LIB, ignore_errors=True)
    partial.rename(KAFKA_LIB)
    log.info("kafka: jars resolved in %.1f s", time.monotonic() - started)


def _kafka_properties(settings: StackSettings) -> dict[str, str]:
    host, port = kafka_listener(settings)
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
        # Topics are created explicitly, as declared in shared.topics (create-topics, the
        # services' ensure_topics), never by a typo in a producer.
        "auto.create.topics.enable": "false",
        "group.initial.rebalance.delay.ms": "0",
    }


def _write_kafka_properties(settings: StackSettings) -> None:
    lines = ["# Written by deploy/local/kafka_broker.py before every start; edit OUTREACH_*."]
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
        cluster_id = run_tool(
            _java_cmd(KAFKA_STORAGE_TOOL, "random-uuid"), "generating a Kafka cluster id"
        ).strip()
        KAFKA_CLUSTER_ID.write_text(cluster_id + "\n")
    log.info("kafka: formatting %s (cluster id %s)", KAFKA_DATA, cluster_id)
    run_tool(
        _java_cmd(
            KAFKA_STORAGE_TOOL, "format", "--ignore-formatted",
            "-t", cluster_id, "-c", str(KAFKA_PROPERTIES),
        ),
        "formatting Kafka storage",
        KAFKA_SERVER_LOG,
    )  # fmt: skip


# --- the running broker -----------------------------------------------------------------------


def kafka_pid() -> int | None:
    """Pid of the broker started from this checkout, or None (a stale pid file is ignored)."""
    try:
        pid = int(KAFKA_PID.read_text().strip())
    except (OSError, ValueError):
        return None
    arguments = cmdline(pid).split(b"\0")
    ours = KAFKA_MAIN_CLASS.encode() in arguments and str(KAFKA_PROPERTIES).encode() in arguments
    return pid if ours and alive(pid) else None


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
        if pid is not None and not alive(pid):
            KAFKA_PID.unlink(missing_ok=True)
            errors = log_errors(KAFKA_SERVER_LOG, log_offset) if log_offset is not None else ""
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


def _use_foreign_broker(settings: StackSettings) -> None:
    """Something we did not start listens on the port: use it if it is a Kafka broker."""
    host, port = kafka_listener(settings)
    try:
        kafka_topics(settings, timeout_s=3)
    except Exception as exc:
        raise StackError(
            f"port {host}:{port} is taken by a process that is not a Kafka broker "
            f"({type(exc).__name__}: {exc})"
        ) from None
    log.info("kafka: using the broker already listening at %s (not ours)", host)


def _start(settings: StackSettings) -> None:
    """Start our broker (resolving jars, formatting storage first) and wait until it answers."""
    host, _ = kafka_listener(settings)
    if port_open(host, settings.kafka_controller_port):
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
    log_offset = log_size(KAFKA_SERVER_LOG)
    pid = _start_kafka_process()
    _wait_for_kafka(settings, KAFKA_START_TIMEOUT_S, pid, log_offset)
    elapsed = time.monotonic() - started
    log.info("kafka: started at %s (pid %d) in %.1f s", settings.kafka_bootstrap, pid, elapsed)


def ensure_kafka(settings: StackSettings | None = None) -> None:
    """Start the single-node KRaft broker (resolving jars, formatting storage first). Idempotent."""
    settings = settings or StackSettings()
    with stack_lock():
        pid = kafka_pid()
        if pid is not None:
            _wait_for_kafka(settings, KAFKA_START_TIMEOUT_S, pid)
            log.info("kafka: already running at %s (pid %d)", settings.kafka_bootstrap, pid)
        elif port_open(*kafka_listener(settings)):
            _use_foreign_broker(settings)
        else:
            _start(settings)


def stop_kafka() -> None:
    """SIGTERM our broker (controlled shutdown), SIGKILL if it is still there after a minute."""
    with stack_lock():
        pid = kafka_pid()
        if pid is None:
            KAFKA_PID.unlink(missing_ok=True)
            log.info("kafka: not running")
            return
        terminate(pid, KAFKA_STOP_TIMEOUT_S, "kafka")
        KAFKA_PID.unlink(missing_ok=True)
        log.info("kafka: stopped")


def create_topics(
    names: Sequence[str] = (), settings: StackSettings | None = None
) -> TopicsEnsured:
    """Create ``names`` (default: every topic declared in shared.topics) with their declared
    settings, and bring existing ones to their declared configuration
    (:func:`shared.kafka.ensure_topics`)."""
    # Imported here: it brings the services' Kafka stack, which the other commands do not need.
    from shared.kafka import TopicAdministrationError, ensure_topics

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
    _log_topics(outcome)
    return outcome


def _log_topics(outcome: TopicsEnsured) -> None:
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
