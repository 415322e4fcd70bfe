"""Before and after a change, in one sitting: the benchmark of two checkouts, interleaved.

    python -m bench.compare BEFORE [--rounds 3] [--scale small] [--only ...] [--out DIR]
    python -m bench.compare BEFORE --table-only --out DIR   # the table of runs made earlier

``BEFORE`` is a checkout of the code before the change (``git worktree add ../before <commit>``,
then ``make venv`` in it); this checkout is the code after it. Each round runs
``python -m bench`` in both, the order swapping every round so that neither always meets a
warmer or a busier machine; each on its own local stack, stopped after its run (both stacks
use the same ports, those of the environment). Every run's results stay in
``DIR/<before|after>-<round>.json`` with its log.

The table compares what every measurement reports as its same-run ratio (each to its own raw
baseline, so the two checkouts' ratios compare even though their runs met a different
machine): the median over the rounds and their range, and after / before of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.harness import ROOT, say

SIDES = ("before", "after")


def run_once(checkout: Path, arguments: list[str], results: Path, log: Path) -> None:
    """``python -m bench`` in ``checkout`` (with its own virtual environment), its stack
    stopped afterwards; its ``latest.json`` copied to ``results``."""
    python = checkout / ".venv/bin/python"
    out = checkout / "bench/results"
    with log.open("w") as output:
        for command in (
            [str(python), "-m", "bench", *arguments, "--out", str(out)],
            [str(python), "deploy/local/stack.py", "down"],
        ):
            subprocess.run(
                command, cwd=checkout, stdout=output, stderr=subprocess.STDOUT, check=True
            )
    results.write_text((out / "latest.json").read_text())


def interleaved(before: Path, rounds: int, arguments: list[str], out: Path) -> None:
    checkouts = {"before": before, "after": ROOT}
    for round_ in range(1, rounds + 1):
        for side in SIDES[:: 1 if round_ % 2 else -1]:
            say(f"round {round_}: {side} ({checkouts[side]})")
            run = out / f"{side}-{round_}"
            run_once(checkouts[side], arguments, run.with_suffix(".json"), run.with_suffix(".log"))


QUEUE_GROWTH = "queries: queue p99 growth (lower is better)"


def ratios(out: Path, side: str) -> dict[str, list[float]]:
    """Each measurement's same-run ratio in every run of ``side``. Of the queries only the
    case queue's: the agenda's figures before f8c7b30 were of 404 answers (its seeded visits
    had no version)."""
    found: dict[str, list[float]] = {}
    for path in sorted(out.glob(f"{side}-*.json")):
        for name, measured in json.loads(path.read_text())["measurements"].items():
            if name == "queries":
                found.setdefault(QUEUE_GROWTH, []).append(measured["p99_growth"]["queue"])
            elif isinstance(measured.get("ratio"), int | float):
                found.setdefault(name, []).append(float(measured["ratio"]))
    return found


def table(out: Path) -> str:
    before, after = ratios(out, "before"), ratios(out, "after")
    lines = [
        "| Measurement (same-run ratio) | Before: median (range) | After: median (range) "
        "| After / before |",
        "|---|---|---|---|",
    ]

    def cell(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"

    for name in [n for n in after if n in before]:
        change = statistics.median(after[name]) / statistics.median(before[name])
        lines.append(f"| {name} | {cell(before[name])} | {cell(after[name])} | {change:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="a checkout of the code before the change")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", default="small", choices=("smoke", "small", "full"))
    parser.add_argument(
        "--only",
        default="path,import,rebuild,relay,queries",
        help="the measurements (default: those with a same-run ratio)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/compare")
    parser.add_argument("--table-only", action="store_true", help="only the table of DIR's runs")
    args = parser.parse_args(argv)
    if not (args.before / ".venv/bin/python").exists():
        parser.error(f"{args.before}: no .venv (run `make venv` in it)")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        arguments = ["--scale", args.scale, "--only", args.only]
        interleaved(args.before.resolve(), args.rounds, arguments, args.out)
    text = table(args.out)
    (args.out / "compare.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
