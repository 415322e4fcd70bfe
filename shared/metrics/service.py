"""What a service's worker knows, read at scrape time: the event log, the relay, the
projections, the Kafka consumers, dead letters and erasures awaiting confirmation.

Each part is one small, bounded query or a read of what the process holds in memory. A part
that fails (the database away) is left out of that scrape and flagged in
``outreach_metrics_part_failed``; the rest is still served.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from eventsourcing.postgres import PostgresApplicationRecorder
from prometheus_client import Metric
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from psycopg import sql

from shared.metrics.chain import ChainVerification

if TYPE_CHECKING:
    from shared.runtime.running import Running

log = logging.getLogger(__name__)

Part = Callable[["Running"], Iterable[Metric]]

COUNT_CHUNK = 100_000
"""The most stored events one scrape counts (the first scrapes of a long log catch up), and
how far past a projection's position its waiting events are counted."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def event_type(topic: str) -> str:
    """``contacts.domain:OutreachCase.Reported`` -> ``OutreachCase.Reported``."""
    return topic.rpartition(":")[2]


def dead_letter_reason(error: str) -> str:
    """A bounded reason: the error code or class a parked message's error starts with, or
    ``invalid_contract`` / ``unreadable``; never the error's text (it may name values)."""
    head = error.split(":", 1)[0].strip()
    if head.startswith("invalid contract"):
        return "invalid_contract"
    if head.startswith("unreadable"):
        return "unreadable"
    return head if _IDENTIFIER.fullmatch(head) else "other"


class EventCounts:
    """Events stored per type, counted as the log grows (each scrape reads only the events
    stored since the last one, at most :data:`COUNT_CHUNK`)."""

    def __init__(self) -> None:
        self.counted_up_to = 0
        self.by_type: dict[str, int] = {}
        self._lock = threading.Lock()

    def catch_up(self, runtime: Running, head: int) -> dict[str, int]:
        with self._lock:
            upper = min(head, self.counted_up_to + COUNT_CHUNK)
            if upper > self.counted_up_to:
                table = events_table(runtime)
                query = sql.SQL(
                    "SELECT topic, count(*) FROM {} WHERE notification_id > %s "
                    "AND notification_id <= %s GROUP BY topic"
                ).format(table)
                with runtime.infra.pool.connection() as conn:
                    rows = conn.execute(query, (self.counted_up_to, upper)).fetchall()
                for topic, count in rows:
                    kind = event_type(str(topic))
                    self.by_type[kind] = self.by_type.get(kind, 0) + int(count)
                self.counted_up_to = upper
            return dict(self.by_type)


def events_table(runtime: Running) -> sql.Identifier:
    recorder = runtime.service.app.recorder
    if not isinstance(recorder, PostgresApplicationRecorder):
        raise TypeError("the event store metrics read a PostgreSQL event store")
    return sql.Identifier(*recorder.events_table_name.split("."))


def log_head(runtime: Running) -> int:
    return int(runtime.service.app.recorder.max_notification_id() or 0)


def event_store(counts: EventCounts) -> Part:
    def part(runtime: Running) -> Iterator[Metric]:
        head = log_head(runtime)
        yield GaugeMetricFamily(
            "outreach_event_log_head", "Notification id of the newest stored event.", head
        )
        stored = CounterMetricFamily(
            "outreach_events_stored", "Events stored in the event log, by type.", labels=["type"]
        )
        for kind, count in sorted(counts.catch_up(runtime, head).items()):
            stored.add_metric([kind], count)
        yield stored

    return part


def relay(runtime: Running) -> Iterator[Metric]:
    """Each relay of the service (its own topic; contacts' erasure tombstones too): stored
    events it has not passed yet, published and acknowledged by Kafka or skipped as not its
    own (a relay records its position after every batch it read, whatever it published)."""
    backlog = GaugeMetricFamily(
        "outreach_relay_backlog_events",
        "Stored events the relay has not had acknowledged by Kafka yet.",
        labels=["topic"],
    )
    active = GaugeMetricFamily(
        "outreach_relay_active", "1 if this process holds the relay's lock.", labels=["topic"]
    )
    published = CounterMetricFamily(
        "outreach_relay_published_events",
        "Events this process's relay published (acknowledged by Kafka).",
        labels=["topic"],
    )
    at = GaugeMetricFamily(
        "outreach_relay_last_publish_timestamp_seconds",
        "When this process's relay last had a batch acknowledged (Unix time).",
        labels=["topic"],
    )
    head = log_head(runtime)
    for each in runtime.relays:
        topic = each.tracking_name.removeprefix("relay:")
        backlog.add_metric([topic], max(0, head - each.position))
        active.add_metric([topic], 1 if each.is_active else 0)
        published.add_metric([topic], each.published)
        if each.last_published_at is not None:
            at.add_metric([topic], each.last_published_at)
    yield from (backlog, active, published, at)


def waiting_for(runtime: Running, position: int, topics: Sequence[str]) -> int:
    """Stored events after ``position`` of the projection's ``topics`` (all if none): those
    within :data:`COUNT_CHUNK` notification ids, so the query stays an index range scan."""
    table = events_table(runtime)
    query = sql.SQL(
        "SELECT count(*) FROM {} WHERE notification_id > %s AND notification_id <= %s "
        "AND (cardinality(%s::text[]) = 0 OR topic = ANY(%s::text[]))"
    ).format(table)
    with runtime.infra.pool.connection() as conn:
        row = conn.execute(query, (position, position + COUNT_CHUNK, topics, topics)).fetchone()
    return int(row[0]) if row else 0


def projections(runtime: Running) -> Iterator[Metric]:
    """Each projection runner: the events of its topics it has yet to apply (after its
    position; the log's head may be an event of another topic, which it never applies), its
    position, its open parked events, whether it runs."""
    lag = GaugeMetricFamily(
        "outreach_projection_lag_events",
        "Stored events of a projection's topics it has not applied yet.",
        labels=["projection"],
    )
    position = GaugeMetricFamily(
        "outreach_projection_position",
        "Notification id of the last stored event a projection has seen.",
        labels=["projection"],
    )
    parked = GaugeMetricFamily(
        "outreach_projection_parked_events",
        "Stored events a projection could not apply and parked (open).",
        labels=["projection"],
    )
    running = GaugeMetricFamily(
        "outreach_projection_running", "1 if the projection runner runs.", labels=["projection"]
    )
    for runner in list(runtime.runners.runners if runtime.runners else []):
        status = runner.status()
        name = runner.projection.name
        at = int(status["position"] or 0)
        lag.add_metric([name], waiting_for(runtime, at, list(runner.projection.topics)))
        position.add_metric([name], at)
        parked.add_metric([name], int(status["parked"]))
        running.add_metric([name], 1 if status["running"] else 0)
    yield from (lag, position, parked, running)


def consumers(lags: Mapping[str, Mapping[int, int]]) -> Part:
    """Kafka consumer groups: ``lags`` is read just before the scrape (it asks the client)."""

    def part(runtime: Running) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "outreach_consumer_lag_messages",
            "Messages waiting for a consumer group, per partition.",
            labels=["group", "partition"],
        )
        counted = {
            field: CounterMetricFamily(
                f"outreach_consumer_messages_{field}",
                f"Messages a consumer group {field} in this process.",
                labels=["group", "topic"],
            )
            for field in ("processed", "retried", "parked")
        }
        for progress in list(runtime.consumers):
            for partition, waiting in sorted(lags.get(progress.name, {}).items()):
                lag.add_metric([progress.name, str(partition)], waiting)
            for field, family in counted.items():
                family.add_metric([progress.name, progress.topic], getattr(progress, field))
        yield lag
        yield from counted.values()

    return part


def dead_letters(runtime: Running) -> Iterator[Metric]:
    family = GaugeMetricFamily(
        "outreach_dead_letters",
        "Messages parked in a dead-letter topic, by consumer group, topic and reason.",
        labels=["group", "topic", "reason"],
    )
    with runtime.infra.pool.connection() as conn:
        rows = conn.execute(
            "SELECT consumer, topic, split_part(error, ':', 1), count(*) FROM dead_letters "
            "GROUP BY 1, 2, 3"
        ).fetchall()
    totals: dict[tuple[str, str, str], int] = {}
    for group, topic, head, count in rows:
        key = (str(group), str(topic), dead_letter_reason(str(head)))
        totals[key] = totals.get(key, 0) + int(count)
    for key, count in sorted(totals.items()):
        family.add_metric(list(key), count)
    yield family


def erasures(runtime: Running) -> Iterator[Metric]:
    """This service's erasures applied but not yet confirmed to contacts, and the oldest's
    age (0 with none)."""
    with runtime.infra.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*), coalesce(extract(epoch FROM now() - min(forgotten_at)), 0) "
            "FROM erasure_ledger WHERE confirmed_at IS NULL"
        ).fetchone()
    pending, age = (int(row[0]), float(row[1])) if row else (0, 0.0)
    yield GaugeMetricFamily(
        "outreach_erasures_unconfirmed",
        "Erasures this service applied and has not confirmed yet.",
        pending,
    )
    yield GaugeMetricFamily(
        "outreach_erasure_unconfirmed_oldest_age_seconds",
        "Age of the oldest erasure this service has not confirmed yet (0 with none).",
        age,
    )


def _own(part: Callable[[], Iterable[Metric]]) -> Part:
    """A service's own part (it needs nothing of the running process)."""
    return lambda _: part()


class ServiceCollector(Collector):
    """The scrape-time figures of what the process runs (none before it started)."""

    def __init__(self, running: Callable[[], Running | None]) -> None:
        self._running = running
        self._counts = EventCounts()
        self._chain = ChainVerification()
        self.consumer_lags: Mapping[str, Mapping[int, int]] = {}
        """Set by the route before each scrape (reading it needs the event loop)."""

    def parts(self) -> dict[str, Part]:
        return {
            "event_store": event_store(self._counts),
            "relay": relay,
            "projections": projections,
            "consumers": consumers(self.consumer_lags),
            "dead_letters": dead_letters,
            "erasures": erasures,
            "chain": self._chain.part,
        }

    def collect(self) -> Iterator[Metric]:
        runtime = self._running()
        if runtime is None:
            return
        failed = GaugeMetricFamily(
            "outreach_metrics_part_failed",
            "1 if a part of this scrape could not be read (e.g. the database is away).",
            labels=["part"],
        )
        parts = {
            **self.parts(),
            **{name: _own(part) for name, part in runtime.service.metrics.items()},
        }
        for name, part in parts.items():
            try:
                metrics = list(part(runtime))
            except Exception as error:
                log.warning(
                    "metrics part not read", extra={"part": name, "error": type(error).__name__}
                )
                failed.add_metric([name], 1)
                continue
            failed.add_metric([name], 0)
            yield from metrics
        yield failed
