"""A consuming projection run as its own process in the end-to-end tests.

It is built only from the shared consumer pattern (the way every service consumes): it
projects every event of ``outreach.contacts`` into ``probe_applied`` in the test database,
counting how often each event id was applied — exactly once is what the tests expect.

    python -m tests.support.probe_consumer GROUP
"""

from __future__ import annotations

import asyncio
import signal
import sys

from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg_pool import ConnectionPool

from shared.contracts import Envelope, Payload, topic_of
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import TrackedView, build_view
from shared.logging import configure_logging
from shared.messaging.consumer import Consumer, DeadLetters, view_effect
from shared.messaging.kafka import build_broker
from shared.messaging.subscription import register
from shared.settings import ServiceSettings
from shared.telemetry import configure_telemetry
from tests.support.helpers import TEST_DATABASE


class ProbeView(TrackedView):
    schema = (
        """CREATE TABLE IF NOT EXISTS probe_applied (
            consumer text NOT NULL,
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            district text NOT NULL,
            applied_count int NOT NULL,
            PRIMARY KEY (consumer, event_id)
        )""",
    )


def apply_factory(group: str):  # type: ignore[no-untyped-def]
    def apply(cursor: Cursor[DictRow], envelope: Envelope[Payload]) -> None:
        cursor.execute(
            b"INSERT INTO probe_applied VALUES (%s, %s, %s, %s, 1) "
            b"ON CONFLICT (consumer, event_id) "
            b"DO UPDATE SET applied_count = probe_applied.applied_count + 1",
            (group, envelope.event_id, envelope.event_type, envelope.district),
        )

    return apply


async def main(group: str) -> None:
    settings = ServiceSettings(service_name="probe")
    configure_logging("probe")
    configure_telemetry("probe")
    view = build_view(ProbeView, eventsourcing_env(settings, TEST_DATABASE), "probe")
    pool = ConnectionPool(settings.database_url(TEST_DATABASE), min_size=1, max_size=2)
    broker = build_broker(settings, "probe")
    dead_letters = DeadLetters(broker, pool)
    dead_letters.create_schema()
    consumer = Consumer(
        name=group, topic=topic_of("contacts"), effect=view_effect(view, apply_factory(group))
    )
    register(broker, consumer, dead_letters, retries=1, backoff_seconds=0.1)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    print("probe consumer ready", flush=True)
    await stop.wait()
    await broker.stop()
    pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
