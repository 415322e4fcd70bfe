"""2. Bulk import: existing cases through ``Contacts.import_cases`` (the method behind
``POST /cases/import``, 1000 rows per call as one request would), in events/s.

Baseline: psycopg ``executemany``, 500 rows per transaction, rows the size of the stored
events.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import psycopg
from contacts.application import Contacts
from psycopg import sql

from bench.harness import Bench, every, say
from bench.scales import TARGET_RATIOS, TARGETS
from bench.seed import import_app, run_import


def raw_executemany(bench: Bench, rows: int, size: int) -> float:
    """Baseline: psycopg ``executemany``, 500 rows of ``size`` bytes per transaction."""
    payload = os.urandom(size)
    with psycopg.connect(bench.url("raw")) as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw_events (id bigserial PRIMARY KEY, originator_id uuid, "
            "originator_version int, topic text, state bytea)"
        )
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for first in range(0, rows, 500):
                cursor.executemany(
                    "INSERT INTO raw_events (originator_id, originator_version, topic, state) "
                    "VALUES (%s, %s, %s, %s)",
                    [
                        (uuid.uuid4(), 1, "contacts.domain:OutreachCase.ContactLost", payload)
                        for _ in range(min(500, rows - first))
                    ],
                )
                conn.commit()
        return rows / (time.perf_counter() - started)


def stored_event_size(bench: Bench, app: Contacts) -> int:
    """The average size of a stored event's state (the baseline writes rows of this size)."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    with psycopg.connect(bench.url("import")) as conn:
        row = conn.execute(
            sql.SQL("SELECT avg(length(state))::int FROM {}").format(sql.Identifier(table))
        ).fetchone()
    assert row is not None
    return int(row[0] or 0)


def measure_import(bench: Bench) -> dict[str, Any]:
    cases = bench.scale["import_cases"]
    say(f"2. bulk import: {cases:,} cases through Contacts.import_cases (1000 per request)")
    app = import_app(bench)
    try:
        started, cpu = time.perf_counter(), time.process_time()
        progress = every(max(1000, cases // 10), "imported", cases)
        imported = run_import(app, 0, cases, bench.run_id, progress)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        events = app.recorder.max_notification_id() or 0
        size = stored_event_size(bench, app)
    finally:
        app.close()
    say(f"   baseline: raw executemany of {events:,} rows of {size} bytes")
    baseline = raw_executemany(bench, events, size)
    per_s = events / elapsed
    result: dict[str, Any] = {
        "cases": imported,
        "events": events,
        "cases_per_s": imported / elapsed,
        "events_per_s": per_s,
        "row_bytes": size,
        "baseline": "psycopg executemany, 500 rows per transaction (rows/s)",
        "baseline_per_s": baseline,
        "ratio": per_s / baseline,
        "cpu_us_per_case": cpu / max(imported, 1) * 1e6,  # this process, all threads
        "target": TARGETS["import"],
    }
    result["met"] = result["ratio"] >= TARGET_RATIOS["import"]
    say(
        f"   {imported / elapsed:.0f} cases/s = {per_s:.0f} events/s; baseline {baseline:.0f} "
        f"rows/s; ratio {result['ratio']:.2f}; CPU {result['cpu_us_per_case']:.0f} µs per case"
    )
    return result
