"""The benchmark suite at its tiny scale, through the same code path as ``make bench``: it
must produce numbers for every measurement. No timing is asserted (benchmarks are not tests)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.settings import ServiceSettings

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def numbers(value: object) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [float(value)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers(v)]
    return []


def run_bench(out: Path, *arguments: str) -> dict[str, Any]:
    """``python -m bench --scale smoke`` with ``arguments``; the run's results."""
    command = [sys.executable, "-m", "bench", "--scale", "smoke", "--out", str(out), *arguments]
    completed = subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    results: dict[str, Any] = json.loads((out / "latest.json").read_text())
    return results


def test_every_measurement_produces_numbers(stack: ServiceSettings, tmp_path: Path) -> None:
    # Its own databases: a `make bench` may be running.
    results = run_bench(tmp_path, "--databases", "bench_smoke")
    measured = results["measurements"]
    assert set(measured) == {"path", "import", "rebuild", "relay", "queries", "web"}
    for name, values in measured.items():
        if name == "web":  # against a budget in milliseconds, not a same-run ratio
            views = [page["first_view_ms"] for page in values["pages"].values()]
            assert views, name
            assert all(math.isfinite(v) and v > 0 for v in views), views
        else:
            assert math.isfinite(values["ratio"]), name
            assert values["ratio"] > 0, name
        assert numbers(values), name
        assert failed_requests(values) == 0, name  # figures of answered requests only
    assert (tmp_path / "results.md").read_text().count("|") > 10
    assert (tmp_path / "results.png").stat().st_size > 0


def failed_requests(values: object) -> int:
    """Every ``failures`` count in a measurement's results (the load's failed requests)."""
    if isinstance(values, dict):
        own = values.get("failures")
        nested = sum(failed_requests(v) for k, v in values.items() if k != "failures")
        return (own if isinstance(own, int) else 0) + nested
    if isinstance(values, list):
        return sum(failed_requests(v) for v in values)
    return 0


def test_the_replicas_measurement_compares_one_two_and_three_replicas(
    stack: ServiceSettings, tmp_path: Path
) -> None:
    results = run_bench(tmp_path, "--only", "replicas", "--databases", "bench_replicas")
    replicas = results["measurements"]["replicas"]
    assert set(replicas["by_replicas"]) == {"1", "2", "3"}
    for figures in replicas["by_replicas"].values():
        assert len(figures["commands_per_s"]) == replicas["rounds"]
        assert all(math.isfinite(v) and v > 0 for v in figures["commands_per_s"]), figures
    assert replicas["ratios"]["1"] == 1.0
    assert math.isfinite(replicas["ratio"])
    assert replicas["ratio"] > 0
    assert failed_requests(replicas) == 0
    assert (tmp_path / "results.md").read_text().count("| 7. Replicas") == 3
