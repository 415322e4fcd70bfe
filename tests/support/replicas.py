"""Replicas of a service as the end-to-end tests drive them: a client that sends each request
to a replica that is ready (:class:`Balancer`), offices that keep commands coming
(:class:`Office`), and which replica holds a lease (:func:`lease_holder`)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import psycopg

from shared.settings import StackSettings
from tests.support.e2e import report_body
from tests.support.helpers import person
from tests.support.processes import ServiceProcess


class AnswerLost(Exception):
    """The request may have arrived, its answer did not (the replica died meanwhile)."""


class Balancer:
    """Sends each request to a replica whose ``/readyz`` answered 200 at its last look (every
    ``interval`` seconds), as a load balancer does. A refused connection never arrived: the
    request goes to the next replica. Any other failure of the connection is
    :class:`AnswerLost`."""

    def __init__(self, replicas: Sequence[ServiceProcess], interval: float = 0.2) -> None:
        self.replicas = list(replicas)
        self.interval = interval
        self.ready: set[str] = {r.url for r in replicas}
        self._turn = itertools.count()
        self._stopping = threading.Event()
        self._looking = threading.Thread(target=self._look, name="readiness", daemon=True)
        self._local = threading.local()

    def __enter__(self) -> Balancer:
        self._looking.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._looking.join(5)

    def _look(self) -> None:
        # A replica whose readiness does not answer within half a second is not ready (as a
        # Kubernetes probe with its timeout): the look stays shorter than the drain.
        with httpx.Client(timeout=0.5) as client:
            while not self._stopping.is_set():
                ready = set()
                for replica in self.replicas:
                    try:
                        if client.get(f"{replica.url}/readyz").status_code == 200:
                            ready.add(replica.url)
                    except httpx.TransportError:
                        pass
                self.ready = ready
                self._stopping.wait(self.interval)

    def _client(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=30)
        return client

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + 60
        while True:
            urls = sorted(self.ready)
            if not urls:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no replica ready for {method} {path}")
                time.sleep(0.1)
                continue
            url = urls[next(self._turn) % len(urls)]
            try:
                return self._client().request(method, f"{url}{path}", **kwargs)
            except httpx.ConnectError:
                self.ready = self.ready - {url}  # refused: it never arrived, try another
            except httpx.TransportError as error:
                raise AnswerLost(f"{method} {path} at {url}: {error!r}") from error


class Office(threading.Thread):
    """Reports a case and restores its contact, again and again, through ``contacts`` (the
    contacts service's replicas). A command whose answer was lost is sent again unchanged
    (the second answer tells whether the first had been recorded); every other answer that
    is not the expected one is kept in :attr:`failures`."""

    def __init__(
        self,
        contacts: Balancer,
        auth: Callable[[str, str, str], dict[str, str]],
        district: str,
        pause: float = 0.0,
    ) -> None:
        """``pause``: seconds between one case's restore and the next report."""
        super().__init__(name=f"office-{district}", daemon=True)
        self.pause = pause
        self.contacts = contacts
        self.auth = auth
        self.district = district
        self.restored: list[str] = []
        """Case ids whose report and restore were both acknowledged."""
        self.lost: list[str] = []
        """Commands sent again after their answer was lost."""
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            manager = self.auth("cm-lange", "case_manager", self.district)
            worker = self.auth("ow-yilmaz", "outreach_worker", self.district)
            while not self.stopping.is_set():
                case_id = self._report(manager)
                if case_id is not None and self._restore(worker, case_id):
                    self.restored.append(case_id)
                self.stopping.wait(self.pause)
        except BaseException as error:
            self.error = error

    def _command(self, method: str, path: str, body: dict[str, Any], headers: Any) -> Any:
        """(response, whether an earlier attempt's answer was lost)."""
        lost = False
        for _ in range(20):
            try:
                return self.contacts.send(method, path, json=body, headers=headers), lost
            except AnswerLost as error:
                self.lost.append(str(error))
                lost = True
                time.sleep(0.2)
        raise AssertionError(f"{method} {path}: no answer after 20 attempts")

    def _report(self, headers: dict[str, str]) -> str | None:
        body = report_body(self.district, person())
        response, lost = self._command("POST", "/cases", body, headers)
        if response.status_code == 201:
            return str(response.json()["case_id"])
        if lost and response.status_code == 409 and response.json()["code"] == "open_case_exists":
            return str(response.json()["existing_case_id"])
        self.failures.append(f"report: {response.status_code} {response.text[:200]}")
        return None

    def _restore(self, headers: dict[str, str], case_id: str) -> bool:
        body = {"channel": "phone", "restored_on": time.strftime("%Y-%m-%d")}
        path = f"/cases/{case_id}/contact-restored"
        response, lost = self._command("POST", path, body, headers)
        if response.status_code == 200:
            return True
        conflict = response.status_code == 409 and response.json()["code"]
        if lost and conflict == "contact_already_restored":
            return True
        self.failures.append(f"restore: {response.status_code} {response.text[:200]}")
        return False

    def finish(self) -> None:
        self.stopping.set()
        self.join(90)
        assert not self.is_alive(), f"{self.name} did not finish"
        if self.error is not None:
            raise self.error


def lease_holder(
    settings: StackSettings, database: str, key: str, replicas: Sequence[ServiceProcess]
) -> ServiceProcess | None:
    """The replica whose connection holds the session advisory lock ``key`` in ``database``
    (``pg_locks``; the connection's client port found among the replicas' sockets)."""
    with psycopg.connect(settings.database_url(database), autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.client_port FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND a.datname = current_database() "
            "AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended(%s, 0)",
            (key,),
        ).fetchone()
    if row is None:
        return None
    inodes = _socket_inodes(int(row[0]))
    for replica in replicas:
        running = replica.process is not None and replica.process.poll() is None
        if running and inodes & _sockets_of(replica.pid):
            return replica
    return None


def _socket_inodes(local_port: int) -> set[str]:
    """The inodes of the TCP sockets whose local port is ``local_port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == local_port:
                found.add(fields[9])
    return found


def _sockets_of(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes
