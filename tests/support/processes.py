"""Services and consumers run as real processes, for the end-to-end tests.

Every process gets its own free port, a log file and an ``OUTREACH_TRACE_FILE`` of its own,
runs in its own process group (so a test can SIGKILL exactly it), and is always terminated
by the fixture that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from deploy.local import launcher, serving
from shared.settings import StackSettings
from tests.support.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A free port outside the kernel's ephemeral range (the local launcher's)."""
    return launcher.free_port()


def _terminate(process: subprocess.Popen[bytes] | None, timeout: float = 20.0) -> None:
    """SIGTERM the process group, wait for it, SIGKILL it if it does not go."""
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        _kill(process)


def _kill(process: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL the process group: no shutdown code runs, as in a crash."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


class Process:
    """One process of the system under test, with its log and trace file."""

    def __init__(self, name: str, workdir: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.trace_path = workdir / f"{name}.trace.jsonl"
        self.env = {"OUTREACH_TRACE_FILE": str(self.trace_path), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        raise NotImplementedError

    def kill(self) -> None:
        _kill(self.process)

    def stop(self) -> None:
        _terminate(self.process)

    def restart_after_crash(self) -> None:
        """SIGKILL it, then start it again with the same settings (and port)."""
        self.kill()
        self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def spans(self) -> list[dict[str, Any]]:
        """Every span this process has finished (one JSON object a line)."""
        if not self.trace_path.exists():
            return []
        # Only complete lines: the process may be writing the last one right now.
        lines = self.trace_path.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines if line.strip()]


class ServiceProcess(Process):
    """A service started as the local launcher starts it (uvicorn), ready when ``/readyz``
    says so. ``app`` is its app factory (default: the service's own)."""

    def __init__(
        self,
        service: str,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        started: Callable[[ServiceProcess], None] | None = None,
        name: str | None = None,
        app: str | None = None,
        ready_timeout: float = 60,
    ) -> None:
        """``started`` waits for whatever else must hold after each start (it may fail);
        ``name`` names its log and trace file (default: the service's name); it must be ready
        within ``ready_timeout`` seconds of each start."""
        super().__init__(name or service, workdir, env)
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._started = started
        self._app = app
        self.ready_timeout = ready_timeout

    def start(self) -> None:
        self.starts += 1
        self.process = serving.start_service(
            self.service, self.port, self.log_path, self.env, app=self._app
        )
        try:
            serving.wait_ready(self.port, timeout_s=self.ready_timeout, process=self.process)
            if self._started is not None:
                self._started(self)
        except (AssertionError, RuntimeError, TimeoutError) as error:
            self.stop()
            raise AssertionError(f"{self.service} did not start: {error}\n{self.tail()}") from None

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


class ProbeProcess(Process):
    """``python -m tests.support.probe_consumer GROUP``: the consuming projection."""

    def __init__(self, group: str, workdir: Path, env: Mapping[str, str] | None = None) -> None:
        super().__init__(f"probe-{group}", workdir, env)
        self.group = group

    def start(self) -> None:
        self.starts += 1
        ready_before = self.log_text().count("probe consumer ready")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.support.probe_consumer", self.group],
                cwd=ROOT,
                env={**os.environ, **self.env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def ready() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"probe consumer exited:\n{self.log_text()[-3000:]}")
            return self.log_text().count("probe consumer ready") > ready_before

        eventually(ready, timeout=60, what=f"probe consumer {self.group} to start")


def start_group_at_end(settings: StackSettings, group: str, topic: str) -> None:
    """Commit the current end of ``topic`` as the position of a new consumer group.

    A new group then starts with what is published from now on, instead of replaying the
    whole history of the topic (which every test run makes longer).
    """
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"topic {topic} has no partitions"
        ends = consumer.end_offsets(partitions)
        consumer.assign(partitions)
        consumer.commit({tp: OffsetAndMetadata(ends[tp], "", -1) for tp in partitions})
    finally:
        consumer.close()


def read_topic(settings: StackSettings, topic: str) -> list[Any]:
    """Every record of ``topic`` from its beginning up to its current end (raw bytes)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        records: list[Any] = []
        remaining = {tp for tp in partitions if ends[tp] > 0}

        def drained() -> bool:
            for tp, batch in consumer.poll(timeout_ms=500).items():
                records.extend(batch)
                if batch[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            return not remaining

        eventually(drained, timeout=30, interval=0, what=f"reading {topic} to its end")
        return records
    finally:
        consumer.close()
