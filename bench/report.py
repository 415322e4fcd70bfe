"""The results of a run: ``<stamp>-<scale>.json`` and ``latest.json`` (every number, the
scale knobs and the targets), ``results.md`` (one table row per measurement) and
``results.png`` (the same-run ratios against their targets)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.measure_durability import DURABILITY_MODES
from bench.scales import TARGET_RATIOS

Row = Callable[[dict[str, Any]], list[str]]


def _met(r: dict[str, Any]) -> str:
    return "yes" if r["met"] else "no"


def _path(r: dict[str, Any]) -> list[str]:
    return [
        f"| 1. Full path | {r['commands_per_s']:.0f} commands/s, visible p50 "
        f"{r['visible_p50_ms']:.0f} ms / p99 {r['visible_p99_ms']:.0f} ms | "
        f"{r['baseline_per_s']:.0f} events/s | {r['ratio']:.2f} | {r['target']} | {_met(r)} |"
    ]


def _import(r: dict[str, Any]) -> list[str]:
    return [
        f"| 2. Bulk import | {r['cases_per_s']:.0f} cases/s = {r['events_per_s']:.0f} events/s "
        f"| {r['baseline_per_s']:.0f} rows/s | {r['ratio']:.2f} | {r['target']} | {_met(r)} |"
    ]


def _rebuild(r: dict[str, Any]) -> list[str]:
    return [
        f"| 3. Rebuild ({r['log_events']:,} events) | {r['events_per_s']:.0f} events/s | "
        f"{r['baseline_per_s']:.0f} events/s | {r['ratio']:.2f} | {r['target']} | {_met(r)} |"
    ]


def _relay(r: dict[str, Any]) -> list[str]:
    return [
        f"| 4. Relay ({r['stored_events']:,} stored events) | {r['messages_per_s']:.0f} "
        f"messages/s | {r['baseline_per_s']:.0f} messages/s | {r['ratio']:.2f} | {r['target']} "
        f"| {_met(r)} |"
    ]


def _queries(r: dict[str, Any]) -> list[str]:
    small, large = (str(s) for s in r["sizes"])
    lines = []
    for name in ("queue", "agenda"):
        a, b = r["by_size"][small][name], r["by_size"][large][name]
        lines.append(
            f"| 5. Query `{name}` @ {r['rate']} req/s | p50/p99 "
            f"{b['p50_ms']:.1f}/{b['p99_ms']:.1f} ms with {int(large):,} cases | p50/p99 "
            f"{a['p50_ms']:.1f}/{a['p99_ms']:.1f} ms with {int(small):,} | "
            f"{r['p99_growth'][name]:.2f}x | {r['target']} | {_met(r)} |"
        )
    return lines


def _web(r: dict[str, Any]) -> list[str]:
    lines = []
    for path, p in r["pages"].items():
        lines.append(
            f"| 6. Web `{path}`, {r['profile']['name']}, CPU {r['profile']['cpu_slowdown']}x "
            f"| first view {p['first_view_ms']:.0f} ms (FCP {p['fcp_ms']:.0f}, load "
            f"{p['load_ms']:.0f}; repeat visit {p['repeat_first_view_ms']:.0f}); script "
            f"{p['script_bytes'] / 1000:.1f} kB sent ({p['script_decoded_bytes'] / 1000:.1f} kB), "
            f"page {p['page_bytes'] / 1000:.1f} kB in {p['page_requests']} requests | - | - "
            f"| {r['target']} | {_met(r)} |"
        )
    return lines


def _durability(r: dict[str, Any]) -> list[str]:
    durable, unsafe = (r["by_mode"][mode] for mode in DURABILITY_MODES)
    return [
        f"| Durability ({r['rounds']} rounds) | durable: path "
        f"{statistics.median(durable['path_commands_per_s']):.0f} commands/s, import "
        f"{statistics.median(durable['import_cases_per_s']):.0f} cases/s | unsafe: path "
        f"{statistics.median(unsafe['path_commands_per_s']):.0f} commands/s, import "
        f"{statistics.median(unsafe['import_cases_per_s']):.0f} cases/s | path "
        f"{r['path_ratio']:.2f}, import {r['import_ratio']:.2f} | {r['target']} | - |"
    ]


def _replicas(r: dict[str, Any]) -> list[str]:
    lines = []
    for n, figures in r["by_replicas"].items():
        lines.append(
            f"| 7. Replicas: {n} of each service ({r['rounds']} rounds) | "
            f"{statistics.median(figures['commands_per_s']):.0f} commands/s, visible p99 "
            f"{statistics.median(figures['visible_p99_ms']):.0f} ms, "
            f"{sum(figures['errors']):.0f} errors | one replica, same round | "
            f"{r['ratios'][n]:.2f} | {r['target']} | - |"
        )
    return lines


ROWS: dict[str, Row] = {
    "path": _path,
    "import": _import,
    "rebuild": _rebuild,
    "relay": _relay,
    "queries": _queries,
    "web": _web,
    "durability": _durability,
    "replicas": _replicas,
}
"""Each measurement's rows of the table, in the table's order."""


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Run {results['run_id']} at {results['started']}, scale `{results['scale']}`, "
        f"PostgreSQL {results.get('pg_durability', 'durable')} "
        f"(provisional: one noisy 2-core machine).",
        "",
        "| Measurement | Result | Raw baseline (same run) | Ratio | Target | Met |",
        "|---|---|---|---|---|---|",
    ]
    measured = results["measurements"]
    for name, row in ROWS.items():
        if name in measured:
            lines += row(measured[name])
    return "\n".join(lines) + "\n"


def _bars(m: dict[str, Any]) -> list[tuple[str, float, float]]:
    """Label, ratio and target of each bar of the chart."""
    bars = [
        (label, m[key]["ratio"], TARGET_RATIOS[key])
        for key, label in (
            ("import", "bulk import\n/ executemany"),
            ("rebuild", "rebuild\n/ raw log read"),
            ("relay", "relay\n/ raw aiokafka"),
        )
        if key in m
    ]
    if "path" in m:
        path = m["path"]
        bars.append(("full path\n/ 1 event per save", path["ratio"], 500 / path["baseline_per_s"]))
    if "queries" in m:
        for name in ("queue", "agenda"):
            growth = m["queries"]["p99_growth"][name]
            bars.append((f"{name} p99 growth\n(lower is better)", growth, 2.0))
    return bars


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bars = _bars(results["measurements"])
    names, ratios, targets = ([bar[i] for bar in bars] for i in range(3))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    drawn = ax.bar(names, ratios, color="#4c78a8")
    ax.scatter(names, targets, marker="_", s=900, color="#e45756", label="target", zorder=3)
    ax.bar_label(drawn, fmt="%.2f")
    ax.set_ylabel("same-run ratio")
    ax.set_title(f"Outreach benchmarks, scale {results['scale']} ({results['started'][:16]})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(results: dict[str, Any], started: datetime, out: Path) -> None:
    """Every file of the run's results into ``out``."""
    stamp = started.strftime("%Y%m%dT%H%M%S")
    text = json.dumps(results, indent=2, default=str)
    (out / f"{stamp}-{results['scale']}.json").write_text(text)
    (out / "latest.json").write_text(text)
    (out / "results.md").write_text(markdown(results))
    chart(results, out / "results.png")
