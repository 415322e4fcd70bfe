"""What a run measures, at which size (``--scale``), and the target each measurement is held to."""

from __future__ import annotations

from typing import Any

MEASUREMENTS = ("path", "import", "rebuild", "relay", "queries", "web")
"""The default run, in the order of the report."""
OPTIONAL_MEASUREMENTS = ("durability", "replicas")
"""Run only when named in ``--only``: ``durability`` switches the stack's PostgreSQL between
its modes during the run; ``replicas`` starts the services again for every replica count."""

SCALES: dict[str, dict[str, Any]] = {
    "smoke": {
        "path_commands": 40,
        "path_clients": 4,
        "durability_rounds": 1,
        "replica_rounds": 1,
        "baseline_saves": 200,
        "import_cases": 600,
        "rebuild_events": 1_500,
        "relay_events": 1_000,
        "query_sizes": (1_000, 5_000),
        "query_rate": 50,
        "query_seconds": 2.0,
        "web_loads": 1,
    },
    "small": {
        "path_commands": 1_000,
        "path_clients": 16,
        "durability_rounds": 3,
        "replica_rounds": 2,
        "baseline_saves": 1_000,
        "import_cases": 10_000,
        "rebuild_events": 25_000,
        "relay_events": 10_000,
        "query_sizes": (10_000, 100_000),
        "query_rate": 200,
        "query_seconds": 5.0,
        "web_loads": 3,
    },
    "full": {
        "path_commands": 5_000,
        "path_clients": 32,
        "durability_rounds": 3,
        "replica_rounds": 2,
        "baseline_saves": 3_000,
        "import_cases": 200_000,
        "rebuild_events": 500_000,
        "relay_events": 100_000,
        "query_sizes": (10_000, 1_000_000),
        "query_rate": 500,
        "query_seconds": 20.0,
        "web_loads": 5,
    },
}

TARGETS = {
    "path": "≥ 500 commands/s, p99 command-to-visible ≤ 250 ms",
    "import": "≥ 0.5 of raw executemany",
    "rebuild": "≥ 0.25 of the raw log read",
    "relay": "≥ 0.5 of raw aiokafka",
    "queries": "p99 ≤ 20 ms at 500 req/s, growing ≤ 2x from 10k to 1M cases",
    "web": "first view ≤ 2 s on Fast 3G with 4x CPU slowdown, < 100 kB of script per page",
}
TARGET_RATIOS = {"import": 0.5, "rebuild": 0.25, "relay": 0.5}
"""The measurements whose target is a same-run ratio to their raw baseline."""
