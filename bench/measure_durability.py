"""What durability costs (``--only durability``): the full path and the bulk import, each
measured with PostgreSQL durable and in its unsafe benchmark mode, alternately in one run.

PostgreSQL is switched by a reload between the measurements (its sessions go on), the order
swaps every round, ``durability_rounds`` times. The cost of durability is the median of the
rounds' ratios durable / unsafe (1.0: free).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from typing import Any

from contacts.application import Contacts

from bench.harness import ROOT, Bench, say
from bench.measure_path import full_path
from bench.seed import import_app, run_import

DURABILITY_MODES = ("durable", "unsafe-for-benchmarks")
FIRST_PERSON = 10_000_000
"""Persons of their own, apart from the other measurements'."""
FIGURES = ("path_commands_per_s", "path_visible_p99_ms", "import_cases_per_s")


def switch_postgres(mode: str) -> None:
    """PostgreSQL of the local stack to ``mode`` (a reload; its sessions go on)."""
    subprocess.run(
        [sys.executable, str(ROOT / "deploy/local/stack.py"), "pg-up", "--pg-durability", mode],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _round(
    bench: Bench, urls: dict[str, str], app: Contacts, round_: int, mode: str, first: int
) -> tuple[dict[str, float], int]:
    """The path and the import once (PostgreSQL in ``mode``); the figures and the next
    unused person."""
    district = f"bench-{bench.run_id}-d{round_}{mode[0]}"
    path = asyncio.run(full_path(bench, urls, district, first=first))
    first += bench.scale["path_commands"] + bench.scale["path_clients"]
    started = time.perf_counter()
    imported = run_import(app, first, bench.scale["import_cases"], f"{bench.run_id}-d{round_}")
    elapsed = time.perf_counter() - started
    figures = {
        "path_commands_per_s": path["commands_per_s"],
        "path_visible_p99_ms": path["visible_p99_ms"],
        "import_cases_per_s": imported / elapsed,
    }
    return figures, first + bench.scale["import_cases"]


def _alternately(
    bench: Bench, urls: dict[str, str], app: Contacts
) -> dict[str, dict[str, list[float]]]:
    """Every round in both modes (the order swapping); the figures by mode."""
    measured: dict[str, dict[str, list[float]]] = {
        mode: {figure: [] for figure in FIGURES} for mode in DURABILITY_MODES
    }
    first = FIRST_PERSON
    for round_ in range(bench.scale["durability_rounds"]):
        for mode in DURABILITY_MODES[:: 1 if round_ % 2 == 0 else -1]:
            switch_postgres(mode)
            figures, first = _round(bench, urls, app, round_, mode, first)
            for figure, value in figures.items():
                measured[mode][figure].append(value)
            say(
                f"   round {round_ + 1} {mode}: path {figures['path_commands_per_s']:.0f} "
                f"commands/s (visible p99 {figures['path_visible_p99_ms']:.0f} ms), import "
                f"{figures['import_cases_per_s']:.0f} cases/s"
            )
    return measured


def measure_durability(bench: Bench, urls: dict[str, str]) -> dict[str, Any]:
    rounds = bench.scale["durability_rounds"]
    say(
        f"durability: {rounds} rounds of {bench.scale['path_commands']:,} path commands and "
        f"{bench.scale['import_cases']:,} imported cases, durable and unsafe alternately"
    )
    app = import_app(bench)
    try:
        measured = _alternately(bench, urls, app)
    finally:
        app.close()
        switch_postgres("durable")
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
