"""Before and after a change, in one sitting: the benchmark of two checkouts, interleaved.

    python -m bench.compare BEFORE [--after AFTER] [--rounds 3] [--scale small] [--only ...]
                               [--out DIR]
    python -m bench.compare BEFORE --table-only --out DIR   # the table of runs made earlier

``BEFORE`` is a checkout of the code before the change (``git worktree add ../before <commit>``,
then ``make venv`` in it); ``AFTER`` the code after it (default: this checkout). Each round runs
``python -m bench`` in both, the order swapping every round so that neither always meets a
warmer or a busier machine; each on its own local stack, stopped after its run (both stacks
use the same ports, those of the environment). Every run's results stay in
``DIR/<before|after>-<round>.json`` with its log.

The table compares what every measurement reports as its same-run ratio (each to its own raw
baseline) and, beside it, its absolute figure (the runs alternate in one sitting, so those
compare too, and they tell faster code from a baseline that happened to run faster): the
median over the rounds and their range, and after / before of the medians.
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


def interleaved(before: Path, after: Path, rounds: int, arguments: list[str], out: Path) -> None:
    checkouts = {"before": before, "after": after}
    for round_ in range(1, rounds + 1):
        for side in SIDES[:: 1 if round_ % 2 else -1]:
            say(f"round {round_}: {side} ({checkouts[side]})")
            run = out / f"{side}-{round_}"
            run_once(checkouts[side], arguments, run.with_suffix(".json"), run.with_suffix(".log"))


QUEUE_GROWTH = "queries: queue p99 growth (ratio, lower is better)"
ABSOLUTE = {
    "path": "commands_per_s",
    "import": "cases_per_s",
    "rebuild": "events_per_s",
    "relay": "messages_per_s",
}
"""The absolute figure shown beside a measurement's ratio: the runs alternate in one sitting,
so these compare too (and they tell a faster code from a baseline that ran faster)."""


def figures(out: Path, side: str) -> dict[str, list[float]]:
    """Each measurement's same-run ratio, and its absolute figure, in every run of ``side``.
    Of the queries only the case queue's: the agenda's figures of a benchmark whose seeded
    visits had no version were of 404 answers."""
    found: dict[str, list[float]] = {}
    for path in sorted(out.glob(f"{side}-*.json")):
        for name, measured in json.loads(path.read_text())["measurements"].items():
            if name == "queries":
                found.setdefault(QUEUE_GROWTH, []).append(measured["p99_growth"]["queue"])
                continue
            if isinstance(measured.get("ratio"), int | float):
                found.setdefault(f"{name} (ratio)", []).append(float(measured["ratio"]))
            if name in ABSOLUTE:
                key = ABSOLUTE[name]
                found.setdefault(f"{name}: {key}", []).append(float(measured[key]))
    return found


def table(out: Path) -> str:
    before, after = figures(out, "before"), figures(out, "after")
    lines = [
        "| Measurement | Before: median (range) | After: median (range) | After / before |",
        "|---|---|---|---|",
    ]

    def number(value: float) -> str:
        return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"

    def cell(values: list[float]) -> str:
        return f"{number(statistics.median(values))} ({number(min(values))}–{number(max(values))})"

    for name in [n for n in after if n in before]:
        change = statistics.median(after[name]) / statistics.median(before[name])
        lines.append(f"| {name} | {cell(before[name])} | {cell(after[name])} | {change:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="a checkout of the code before the change")
    parser.add_argument(
        "--after", type=Path, default=ROOT, help="the checkout after it (default: this one)"
    )
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
    for checkout in (args.before, args.after):
        if not (checkout / ".venv/bin/python").exists():
            parser.error(f"{checkout}: no .venv (run `make venv` in it)")
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.table_only:
        arguments = ["--scale", args.scale, "--only", args.only]
        interleaved(args.before.resolve(), args.after.resolve(), args.rounds, arguments, args.out)
    text = table(args.out)
    (args.out / "compare.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
