"""7. Replicas (``--only replicas``): the full path (1.) with one, two and three replicas of
each measured service, as ``deploy/local/services.py up --replicas N`` runs them — every
replica a process of role ``all`` serving the whole API, the work that runs once under a
lease, the pools through PgBouncer in transaction mode (also for one replica, so the number
of replicas is all that differs). The load's connections go to the contacts replicas in turn.

Each round measures every replica count once, the order reversed every other round (so
neither a warm cache nor a grown event store favours one count); the ratio of ``n`` replicas
is the median over the rounds of its commands/s over one replica's in the same round.
"""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path
from typing import Any

from bench.harness import Bench, replicas_running, say
from bench.measure_path import FullPath

REPLICAS = (1, 2, 3)
FIRST_PERSON = 20_000_000
"""Persons of their own, apart from the other measurements'."""
FIGURES = ("commands_per_s", "visible_p99_ms", "response_p99_ms", "errors")


def _once(bench: Bench, logs: Path, replicas: int, district: str, first: int) -> dict[str, Any]:
    """The full path against ``replicas`` replicas of each measured service."""
    with replicas_running(bench, logs, replicas) as urls:
        path = FullPath(bench, urls["contacts"], district, first)
        return asyncio.run(path.run())


def measure_replicas(bench: Bench, logs: Path) -> dict[str, Any]:
    rounds = bench.scale["replica_rounds"]
    say(
        f"7. replicas: {rounds} round(s) of {bench.scale['path_commands']:,} path commands "
        f"with {', '.join(map(str, REPLICAS))} replicas of each service"
    )
    measured: dict[int, dict[str, list[float]]] = {
        n: {figure: [] for figure in FIGURES} for n in REPLICAS
    }
    first = FIRST_PERSON
    for round_ in range(rounds):
        for n in REPLICAS[:: 1 if round_ % 2 == 0 else -1]:
            district = f"bench-{bench.run_id}-r{round_}x{n}"
            figures = _once(bench, logs, n, district, first)
            first += bench.scale["path_commands"] + bench.scale["path_clients"]
            for figure in FIGURES:
                measured[n][figure].append(figures[figure])
            say(
                f"   round {round_ + 1}, {n} replica(s): {figures['commands_per_s']:.0f} "
                f"commands/s, visible p99 {figures['visible_p99_ms']:.0f} ms, "
                f"{figures['errors']} errors"
            )
    one = measured[1]["commands_per_s"]
    ratios = {
        n: statistics.median(
            many / single for many, single in zip(measured[n]["commands_per_s"], one, strict=True)
        )
        for n in REPLICAS
    }
    say("   commands/s over one replica's: " + ", ".join(f"{n}: {ratios[n]:.2f}" for n in REPLICAS))
    return {
        "rounds": rounds,
        "by_replicas": {str(n): figures for n, figures in measured.items()},
        "ratios": {str(n): ratio for n, ratio in ratios.items()},
        "ratio": ratios[REPLICAS[-1]],
        "failures": sum(int(e) for figures in measured.values() for e in figures["errors"]),
        "target": "none: what replicas add on this machine (commands/s over one replica's)",
    }
