"""1. The full path: concurrent clients report cases (``POST /cases``) to the contacts service;
commands/s, and how long until each case is on the visits planning board (polled every 10 ms).

Baseline: the eventsourcing library saving one event per ``save()``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.harness import Bench, PostConnection, every, percentile, say
from bench.scales import TARGETS
from bench.seed import report_body

POLL_INTERVAL_S = 0.01
WARM_UP_WAIT_S = 120.0


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


async def _on_board(conn: psycopg.AsyncConnection[Any], case_ids: list[str]) -> list[str]:
    cursor = await conn.execute(
        "SELECT case_id::text FROM planning_board WHERE case_id = ANY(%s::uuid[])", (case_ids,)
    )
    return [case_id for (case_id,) in await cursor.fetchall()]


class FullPath:
    """One run of the full path: ``path_commands`` reports of the persons ``first`` … (each
    report needs a person without an open case) over ``path_clients`` connections, each case
    watched for on the planning board. The connections go to the contacts service's URLs in
    turn (several: one per replica)."""

    def __init__(self, bench: Bench, contacts: Sequence[str], district: str, first: int) -> None:
        self.bench, self.district, self.first = bench, district, first
        self.commands, self.clients = bench.scale["path_commands"], bench.scale["path_clients"]
        headers = {"Authorization": f"Bearer {bench.token(district)}"}
        self.connections = [
            PostConnection(f"{contacts[k % len(contacts)]}/cases", headers)
            for k in range(self.clients)
        ]
        self.sent: dict[str, float] = {}
        self.answered: dict[str, float] = {}
        self.seen: dict[str, float] = {}
        self.errors: list[str] = []
        self.next_n = iter(range(first, first + self.commands))
        self.done = asyncio.Event()
        self.progress = every(max(1, self.commands // 10), "commands", self.commands)

    async def run(self) -> dict[str, Any]:
        url = self.bench.url("visits")
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            try:
                await self.warm_up(conn)
                elapsed, cpu = await self.measure(conn)
            finally:
                for http in self.connections:
                    http.close()
        return self.result(elapsed, cpu)

    async def report(self, http: PostConnection, n: int, tag: str) -> str | None:
        """The case id of a report of person ``n`` (``None``, and an error noted, if refused)."""
        body = json.dumps(report_body(n, self.district, tag)).encode()
        try:
            status, answer = await http.post(body)
        except (OSError, asyncio.IncompleteReadError) as error:
            self.errors.append(f"{type(error).__name__}: {error}")
            return None
        if status != 201:
            self.errors.append(f"{status}: {answer[:200]!r}")
            return None
        return str(json.loads(answer)["case_id"])

    async def warm_up(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Not measured: one command per connection, until they are on the board
        (connections, key cache, prepared statements, the consumers' groups)."""
        after = self.first + self.commands
        warm = await asyncio.gather(
            *(
                self.report(http, after + i, f"{self.bench.run_id}-warm")
                for i, http in enumerate(self.connections)
            )
        )
        warm_ids = [case_id for case_id in warm if case_id is not None]
        deadline = time.monotonic() + WARM_UP_WAIT_S
        while len(await _on_board(conn, warm_ids)) < len(warm_ids):
            if time.monotonic() > deadline:
                self.errors.append("the warm-up commands never reached the planning board")
                return
            await asyncio.sleep(0.05)

    async def measure(self, conn: psycopg.AsyncConnection[Any]) -> tuple[float, float]:
        """Every client sends until the persons run out; wall-clock and CPU seconds."""
        watcher = asyncio.create_task(self.watch(conn))
        cpu = time.process_time()
        started = time.perf_counter()
        await asyncio.gather(*(self.client(http) for http in self.connections))
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        self.done.set()
        try:
            await asyncio.wait_for(watcher, timeout=120)
        except TimeoutError:
            self.errors.append(
                f"{len(self.sent) - len(self.seen)} cases never reached the planning board"
            )
        return elapsed, cpu

    async def client(self, http: PostConnection) -> None:
        for n in self.next_n:
            started = time.perf_counter()
            case_id = await self.report(http, n, self.bench.run_id)
            if case_id is not None:
                self.sent[case_id] = started
                self.answered[case_id] = time.perf_counter()
                self.progress(len(self.sent))

    async def watch(self, conn: psycopg.AsyncConnection[Any]) -> None:
        while not (self.done.is_set() and len(self.seen) >= len(self.sent)):
            pending = [k for k in self.sent if k not in self.seen]
            if pending:
                found = await _on_board(conn, pending)
                now = time.perf_counter()
                for case_id in found:
                    self.seen[case_id] = now
            await asyncio.sleep(POLL_INTERVAL_S)

    def result(self, elapsed: float, cpu: float) -> dict[str, Any]:
        sent, answered, seen = self.sent, self.answered, self.seen
        latencies = [(seen[k] - sent[k]) * 1000 for k in seen]
        responses = [(answered[k] - sent[k]) * 1000 for k in sent]
        after_response = [(seen[k] - answered[k]) * 1000 for k in seen]
        return {
            "commands": len(sent),
            "warm_up_commands": self.clients,
            "response_p50_ms": percentile(responses, 50),
            "response_p99_ms": percentile(responses, 99),
            "relay_to_board_p50_ms": percentile(after_response, 50),
            "relay_to_board_p99_ms": percentile(after_response, 99),
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "commands_per_s": len(sent) / elapsed,
            "visible_p50_ms": percentile(latencies, 50),
            "visible_p99_ms": percentile(latencies, 99),
            "poll_interval_ms": round(POLL_INTERVAL_S * 1000),
            "load_generator_cpu_s_per_command": cpu / max(1, len(sent)),
        }


async def full_path(
    bench: Bench, urls: dict[str, str], district: str, first: int = 0
) -> dict[str, Any]:
    """The figures of one run of :class:`FullPath`."""
    return await FullPath(bench, [urls["contacts"]], district, first).run()


def measure_path(bench: Bench, urls: dict[str, str]) -> dict[str, Any]:
    say(
        f"1. full path: {bench.scale['path_commands']:,} ContactLost commands, "
        f"{bench.scale['path_clients']} clients"
    )
    result = asyncio.run(full_path(bench, urls, f"bench-{bench.run_id}"))
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
