"""5. Queries: p50/p99 of the case queue (``GET /cases``) and a worker's agenda
(``GET /agenda``) at a fixed, open-loop request rate, with two sizes of views (seeded by
``COPY``). Baseline: the same endpoint with the smaller size (growth of p99).

Open loop: request ``i`` is due at ``i / rate`` and its latency counts from then, so a
saturated server shows as growing latency instead of a lower rate.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
from contacts.projections import CaseQueueView
from visits.projections import VisitRecordView

from bench.harness import Bench, KeepAliveClient, percentile, say
from bench.scales import TARGETS
from bench.seed import SeededPerson, seed_people, seed_views
from shared.auth import Principal, Role
from shared.eventstore import build_view

Endpoint = tuple[str, dict[str, str], str]
"""URL, headers, and the URL of the database whose backends serve it."""


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


class OpenLoop:
    """Requests of one endpoint at ``rate`` per second, each started when it is due."""

    def __init__(self, url: str, headers: dict[str, str], rate: float) -> None:
        self.client = KeepAliveClient(url, headers)
        self.rate = rate
        self.latencies: list[float] = []
        self.failures = 0
        self.failed: list[str] = []

    async def run(self, count: int, record: bool) -> float:
        """``count`` requests (recorded or not); the seconds they took."""
        start = time.perf_counter()
        tasks = []
        for i in range(count):
            due = start + i / self.rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.one(due, record)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - start

    async def one(self, due: float, record: bool) -> None:
        try:
            status = await self.client.get()
        except (OSError, asyncio.IncompleteReadError) as error:
            status = 0
            if record:
                self.failed.append(repr(error))
        if not record:
            return
        if status != 200:
            self.failures += 1
            self.failed.append(str(status))
        self.latencies.append((time.perf_counter() - due) * 1000)


async def _load(
    endpoint: Endpoint, rate: float, seconds: float, warm_up_s: float
) -> dict[str, Any]:
    """``warm_up_s`` seconds of the load go first, not measured (connections, the key cache,
    the service's thread pool and the database's caches at the measured rate). The CPU the
    backends of the endpoint's database spent during the measured load is reported per
    request (backends that closed meanwhile are missed: a lower bound)."""
    url, headers, db_url = endpoint
    load, total = OpenLoop(url, headers, rate), int(rate * seconds)
    try:
        with psycopg.connect(db_url, autocommit=True) as db:  # before and after the load only
            await load.run(int(rate * warm_up_s), record=False)
            db_before = _backend_cpu_s(db, db.info.dbname)
            cpu = time.process_time()
            elapsed = await load.run(total, record=True)
            cpu = time.process_time() - cpu
            db_after = _backend_cpu_s(db, db.info.dbname)
    finally:
        load.client.close()
    db_cpu = sum(used - db_before.get(pid, 0.0) for pid, used in db_after.items())
    return {
        "requests": total,
        "warm_up_requests": int(rate * warm_up_s),
        "failures": load.failures,
        "first_failures": load.failed[:3],
        "achieved_rate": total / elapsed,
        "p50_ms": percentile(load.latencies, 50),
        "p99_ms": percentile(load.latencies, 99),
        "client_cpu_ms_per_request": cpu / total * 1000,
        "db_cpu_ms_per_request": db_cpu / total * 1000 if db_after else None,
    }


def _endpoints(bench: Bench, urls: dict[str, str]) -> dict[str, Endpoint]:
    """Reads of personal data state their purpose (and each writes its access-log entries):
    a team lead reads the district's queue, an outreach worker their own day (names,
    addresses, places: an entry per visit)."""
    worker = Principal(user="ow-bench-0", role=Role.OUTREACH_WORKER, districts=frozenset({"bq-00"}))
    day = (date.today() + timedelta(days=10)).isoformat()
    return {
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


def _at_size(
    bench: Bench, endpoints: dict[str, Endpoint], size: int, warm_up_s: float
) -> dict[str, dict[str, Any]]:
    """Every endpoint under the load, with ``size`` cases in the views."""
    rate, seconds = bench.scale["query_rate"], bench.scale["query_seconds"]
    figures = {}
    for name, endpoint in endpoints.items():
        r = figures[name] = asyncio.run(_load(endpoint, rate, seconds, warm_up_s))
        db_cpu = r["db_cpu_ms_per_request"]
        say(
            f"   {name} @ {size:,}: p50 {r['p50_ms']:.1f} ms p99 {r['p99_ms']:.1f} ms "
            f"({r['achieved_rate']:.0f} req/s, {r['failures']} failed, load generator "
            f"{r['client_cpu_ms_per_request']:.2f} ms CPU per request, database "
            f"{'?' if db_cpu is None else f'{db_cpu:.2f}'} ms CPU per request)"
        )
    return figures


def _seed(bench: Bench, seeded: int, size: int, people: list[SeededPerson]) -> dict[str, float]:
    say(f"   seeding views up to {size:,} cases")
    seconds = seed_views(bench, seeded, size, people, upcoming=bench.scale["query_sizes"][0])
    say("   seeded in " + ", ".join(f"{step} {s:.1f}" for step, s in seconds.items()))
    return seconds


def measure_queries(bench: Bench, urls: dict[str, str]) -> dict[str, Any]:
    sizes, rate = bench.scale["query_sizes"], bench.scale["query_rate"]
    seconds = bench.scale["query_seconds"]
    say(f"5. queries at {rate} req/s for {seconds:.0f} s, with {sizes[0]:,} and {sizes[1]:,} cases")
    people = seed_people(bench, 500)
    build_view(CaseQueueView, bench.env("contacts"), "case_queue")
    build_view(VisitRecordView, bench.env("visits"), "visit_record")
    endpoints, warm_up_s = _endpoints(bench, urls), min(2.0, seconds / 2)
    by_size: dict[str, dict[str, Any]] = {}
    seeding: dict[str, dict[str, float]] = {}
    for seeded, size in pairwise((0, *sizes)):
        seeding[str(size)] = _seed(bench, seeded, size, people)
        by_size[str(size)] = _at_size(bench, endpoints, size, warm_up_s)
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
