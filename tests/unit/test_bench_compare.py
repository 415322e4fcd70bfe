"""The table of ``bench.compare``: each measurement's figures of the runs before and after a
change, as medians with their range and after / before."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench.compare import table

pytestmark = pytest.mark.unit


def run(path: float, per_s: float, growth: float) -> dict[str, Any]:
    return {
        "measurements": {
            "path": {"ratio": path, "commands_per_s": per_s},
            "queries": {"ratio": growth, "p99_growth": {"queue": growth, "agenda": 9.0}},
            "web": {"pages": {}},
        }
    }


def write(out: Path, side: str, runs: list[dict[str, Any]]) -> None:
    for n, results in enumerate(runs, start=1):
        (out / f"{side}-{n}.json").write_text(json.dumps(results))


def rows(text: str) -> dict[str, list[str]]:
    lines = [line.strip("|").split("|") for line in text.splitlines()[2:]]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in lines}


def test_the_table_shows_medians_ranges_and_after_over_before(tmp_path: Path) -> None:
    write(tmp_path, "before", [run(0.10, 100, 1.2), run(0.12, 120, 1.0), run(0.11, 110, 1.4)])
    write(tmp_path, "after", [run(0.09, 90, 1.1), run(0.10, 95, 1.1), run(0.08, 80, 1.3)])

    found = rows(table(tmp_path))

    assert found["path (ratio)"] == ["0.11 (0.10–0.12)", "0.09 (0.08–0.10)", "0.82"]
    assert found["path: commands_per_s"] == ["110 (100–120)", "90 (80–95)", "0.82"]
    # Of the queries only the case queue's growth; a measurement without a ratio is left out.
    assert found["queries: queue p99 growth (ratio, lower is better)"] == [
        "1.20 (1.00–1.40)",
        "1.10 (1.10–1.30)",
        "0.92",
    ]
    assert set(found) == {
        "path (ratio)",
        "path: commands_per_s",
        "queries: queue p99 growth (ratio, lower is better)",
    }


def test_a_measurement_of_one_side_only_is_not_compared(tmp_path: Path) -> None:
    write(tmp_path, "before", [run(0.1, 100, 1.0)])
    after = run(0.1, 100, 1.0)
    after["measurements"]["relay"] = {"ratio": 0.5, "messages_per_s": 9000.0}
    write(tmp_path, "after", [after])

    assert not any(name.startswith("relay") for name in rows(table(tmp_path)))
