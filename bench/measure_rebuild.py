"""3. Projection rebuild: the planning board from scratch (``shared/rebuild.py``: emptied,
then the contacts log replayed through the relay's mapper and the board consumer's
``apply_contact_event``, one transaction per 1000 events).

Baseline: ``select_notifications`` of the same log, 1000 per call, nothing decoded.
"""

from __future__ import annotations

import time
from typing import Any

from contacts.application import Contacts
from contacts.integration import to_integration_event
from visits.projections import PlanningBoardView

from bench.harness import Bench, every, say
from bench.scales import TARGET_RATIOS, TARGETS
from bench.seed import import_app, run_import
from shared.eventstore import build_view
from shared.rebuild import notification_batches, replay, reset_view

BOARD_TOPICS = (
    "contacts.domain:OutreachCase.ContactLost",
    "contacts.domain:OutreachCase.ContactDetailsUpdated",
    "contacts.domain:OutreachCase.ContactRestored",
    "contacts.domain:OutreachCase.Closed",
)
"""The stored events the board is made of (each case of the import stores two events)."""
TOP_UP_FIRST_PERSON = 10_000_000


def _top_up(bench: Bench, app: Contacts, wanted: int) -> None:
    """Import more cases until the log holds ``wanted`` events."""
    have = app.recorder.max_notification_id() or 0
    if have >= wanted:
        return
    extra = (wanted - have + 1) // 2
    say(f"3. rebuild: topping the log up with {extra:,} cases to {wanted:,} events")
    progress = every(max(1000, extra // 5), "topped up", extra)
    run_import(app, TOP_UP_FIRST_PERSON, extra, bench.run_id, progress)


def _rebuild(bench: Bench, app: Contacts, events: int) -> tuple[int, float, float]:
    """The board rebuilt from the log; events applied, wall-clock and CPU seconds."""
    board = build_view(PlanningBoardView, bench.env("visits"), "planning_board")
    started, cpu = time.perf_counter(), time.process_time()
    reset_view(board, ["planning_board"])

    def apply(cursor: Any, notification: Any) -> None:
        outgoing = to_integration_event(app.mapper.to_domain_event(notification))
        if outgoing is not None:
            PlanningBoardView.apply_contact_event(cursor, outgoing.envelope)

    batches = notification_batches(app.recorder, topics=BOARD_TOPICS)
    applied = replay(
        board, batches, apply, every(max(10_000, events // 10), "applied", events // 2)
    )
    return applied, time.perf_counter() - started, time.process_time() - cpu


def _raw_read(app: Contacts) -> tuple[int, float, float]:
    """The whole log read, one call after the other; events read, wall-clock and CPU seconds."""
    started, cpu = time.perf_counter(), time.process_time()
    read, position = 0, 0
    while batch := app.recorder.select_notifications(position, 1000, inclusive_of_start=False):
        read, position = read + len(batch), batch[-1].id
    return read, time.perf_counter() - started, time.process_time() - cpu


def measure_rebuild(bench: Bench) -> dict[str, Any]:
    app = import_app(bench)
    try:
        _top_up(bench, app, bench.scale["rebuild_events"])
        events = app.recorder.max_notification_id() or 0
        say(f"3. rebuild: the planning board from {events:,} events")
        applied, elapsed, cpu = _rebuild(bench, app, events)
        say("   baseline: raw notification log read")
        read, raw_elapsed, raw_cpu = _raw_read(app)
    finally:
        app.close()
    result: dict[str, Any] = {
        "log_events": events,
        "applied": applied,
        "seconds": elapsed,
        "events_per_s": events / elapsed,
        "baseline": "select_notifications, 1000 per call, no decoding (events/s)",
        "baseline_per_s": read / raw_elapsed,
        "ratio": raw_elapsed / elapsed,
        # CPU of this process (all threads): depends less on the machine's load
        "cpu_us_per_log_event": cpu / max(events, 1) * 1e6,
        "cpu_us_per_applied_event": cpu / max(applied, 1) * 1e6,
        "baseline_cpu_us_per_log_event": raw_cpu / max(read, 1) * 1e6,
        "target": TARGETS["rebuild"],
    }
    result["met"] = result["ratio"] >= TARGET_RATIOS["rebuild"]
    say(
        f"   rebuild {events / elapsed:.0f} log events/s; raw read {read / raw_elapsed:.0f}/s; "
        f"ratio {result['ratio']:.2f}; CPU {result['cpu_us_per_log_event']:.1f} vs "
        f"{result['baseline_cpu_us_per_log_event']:.1f} µs per log event"
    )
    return result
