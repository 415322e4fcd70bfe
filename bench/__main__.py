"""Outreach benchmarks: every measurement runs its raw baseline in the same run and reports
the ratio (these machines are noisy; only same-run ratios compare).

    python -m bench [--scale smoke|small|full] [--only path,import,...]

Measurements: path, import, rebuild, relay, queries, web (the default run) and, named only,
durability and replicas.

Everything runs in databases of its own (``bench_*``, or ``<prefix>_*`` with ``--databases``,
recreated each run), its own keyring database, its own consumer groups, districts and topics,
so a running ``make up`` or the tests are not disturbed. Results:
``bench/results/<stamp>.json`` (+ ``latest.json``), ``results.md`` and ``results.png``.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg_pool import ConnectionPool

from bench.harness import (
    DATABASES,
    ROOT,
    Bench,
    database_name,
    recreate_databases,
    say,
    services_running,
)
from bench.measure_durability import measure_durability
from bench.measure_import import measure_import
from bench.measure_path import measure_path
from bench.measure_queries import measure_queries
from bench.measure_rebuild import measure_rebuild
from bench.measure_relay import measure_relay
from bench.measure_replicas import measure_replicas
from bench.measure_web import measure_web
from bench.report import markdown, write
from bench.scales import MEASUREMENTS, OPTIONAL_MEASUREMENTS, SCALES, TARGETS
from bench.seed import import_app, run_import
from shared.contracts import all_topics
from shared.http.auth import TokenCodec
from shared.keyring import Keyring
from shared.messaging.kafka import ensure_topics
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings

ON_THE_SERVICES: dict[str, Callable[[Bench, dict[str, str]], dict[str, Any]]] = {
    "path": measure_path,
    "queries": measure_queries,
    "durability": measure_durability,
}
"""The measurements that need the contacts and visits services running."""
ON_THE_IMPORT_LOG: dict[str, Callable[[Bench], dict[str, Any]]] = {
    "import": measure_import,
    "rebuild": measure_rebuild,
    "relay": measure_relay,
}
"""The measurements of the bulk import's event log (``rebuild`` and ``relay`` read what
``import`` wrote; without ``import`` the cases are imported unmeasured)."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    environ = os.environ.get
    parser.add_argument("--scale", choices=sorted(SCALES), default=environ("BENCH_SCALE", "full"))
    parser.add_argument("--only", default=environ("BENCH_ONLY", ",".join(MEASUREMENTS)))
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results")
    parser.add_argument(
        "--databases",
        default=environ("BENCH_DATABASES", "bench"),
        help="prefix of the run's databases (recreated): two runs at once need two prefixes",
    )
    parser.add_argument(
        "--api-workers",
        type=int,
        default=int(environ("BENCH_API_WORKERS", "1")),
        help="processes serving each measured service's HTTP API (1: one process does "
        "everything; N > 1: N api processes plus a worker process, as `services.py --api-workers`)",
    )
    parser.add_argument(
        "--pg-durability",
        choices=["durable", "unsafe-for-benchmarks"],
        default=environ("BENCH_PG_DURABILITY", "durable"),
        help="PostgreSQL's mode for this run (deploy/local/stack.py --pg-durability): durable, "
        "as the product runs, or without fsync to measure what durability costs; an unsafe "
        "run switches the stack back to durable when it ends",
    )
    return parser


def _arguments(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    """The parsed command line and the measurements it names (exits on a wrong one)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.api_workers < 1:
        parser.error("--api-workers must be at least 1")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,30}", args.databases):
        parser.error("--databases: lower-case letters, digits and _ (at most 31)")
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    unknown = set(only) - set(MEASUREMENTS) - set(OPTIONAL_MEASUREMENTS)
    if unknown:
        parser.error(f"unknown measurements: {sorted(unknown)}")
    return args, only


def main(argv: list[str] | None = None) -> int:
    args, only = _arguments(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    settings = ServiceSettings()
    say(f"starting the local stack (idempotent), PostgreSQL {args.pg_durability}")
    stack = [sys.executable, str(ROOT / "deploy/local/stack.py")]
    subprocess.run([*stack, "up", "--pg-durability", args.pg_durability], check=True)
    try:
        return _run(args, only, settings)
    finally:
        if args.pg_durability != "durable":
            say("switching PostgreSQL back to durable")
            subprocess.run([*stack, "pg-up"], check=True)


def _bench(args: argparse.Namespace, settings: ServiceSettings) -> Bench:
    """The run's environment, on freshly recreated databases and its own keyring."""
    names = [database_name(args.databases, name) for name in DATABASES]
    say(f"recreating databases {', '.join(names)}")
    recreate_databases(settings, args.databases)
    keyring_pool = ConnectionPool(
        settings.database_url(database_name(args.databases, "keyring")), min_size=1, max_size=4
    )
    keyring = Keyring(
        keyring_pool, base64.b64decode(settings.secret("keyring_kek")), cache_seconds=3600
    )
    keyring.create_schema()
    return Bench(
        settings=settings,
        scale=SCALES[args.scale],
        run_id=uuid.uuid4().hex[:8],
        cipher=PersonalDataCipher(keyring, settings.secret("blind_index_key").encode()),
        keyring_pool=keyring_pool,
        codec=TokenCodec.from_settings(settings),
        prefix=args.databases,
    )


def _measure(bench: Bench, args: argparse.Namespace, only: list[str]) -> dict[str, Any]:
    """Every measurement of ``only``, in the report's order where they share the setup."""
    measured: dict[str, Any] = {}
    if set(ON_THE_SERVICES) & set(only):
        with services_running(bench, args.out / "logs", args.api_workers) as urls:
            for name, measure in ON_THE_SERVICES.items():
                if name in only:
                    measured[name] = measure(bench, urls)
    if "web" in only:  # services of its own: visits of today need no lead time
        measured["web"] = measure_web(bench, args.out / "logs")
    if "replicas" in only:  # services of its own, started again for each replica count
        measured["replicas"] = measure_replicas(bench, args.out / "logs")
    if set(ON_THE_IMPORT_LOG) & set(only):
        if "import" not in only:
            _import_unmeasured(bench)
        for name, measure_log in ON_THE_IMPORT_LOG.items():
            if name in only:
                measured[name] = measure_log(bench)
    return measured


def _import_unmeasured(bench: Bench) -> None:
    app = import_app(bench)
    try:
        run_import(app, 0, bench.scale["import_cases"], bench.run_id)
    finally:
        app.close()


def _run(args: argparse.Namespace, only: list[str], settings: ServiceSettings) -> int:
    ensure_topics(settings, all_topics())
    bench = _bench(args, settings)
    started = datetime.now(UTC)
    results: dict[str, Any] = {
        "run_id": bench.run_id,
        "started": started.isoformat(),
        "scale": args.scale,
        "scale_knobs": {k: list(v) if isinstance(v, tuple) else v for k, v in bench.scale.items()},
        "api_workers": args.api_workers,
        "pg_durability": args.pg_durability,
        "targets": TARGETS,
        "measurements": {},
    }
    try:
        results["measurements"] = _measure(bench, args, only)
    finally:
        bench.keyring_pool.close()
    results["seconds"] = (datetime.now(UTC) - started).total_seconds()
    write(results, started, args.out)
    say(f"done in {results['seconds']:.0f} s: {args.out}/results.md, results.png, latest.json")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
