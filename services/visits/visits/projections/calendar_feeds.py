"""The calendar links of each worker (``calendar_feed``), from :class:`CalendarFeedProjection`:
what ``GET /agenda/feeds`` lists. Whether a link still answers is decided by the link in the
event store, never by this view (it may lag behind a revocation by a moment).

When a link was last fetched is no fact of the event log (a calendar app polls every few
minutes; an event each time would grow the link without end): the fetch writes it into
``calendar_feed_fetch``, a table of its own that a rebuild of the view leaves alone.
"""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic
from psycopg.rows import DictRow

from shared.eventsourcing.views import TrackedView
from visits.domain import CalendarFeed

CALENDAR_FEED_TOPICS = tuple(
    get_topic(event) for event in (CalendarFeed.Created, CalendarFeed.Revoked)
)


class CalendarFeedView(TrackedView):
    """Each worker's calendar links (never their secrets) and when each was last fetched."""

    schema = (
        """CREATE TABLE IF NOT EXISTS calendar_feed (
            feed_id uuid PRIMARY KEY,
            owner text NOT NULL,
            districts text[] NOT NULL,
            created_at timestamptz NOT NULL,
            revoked_at timestamptz
        )""",
        "CREATE INDEX IF NOT EXISTS calendar_feed_owner ON calendar_feed (owner, created_at)",
        """CREATE TABLE IF NOT EXISTS calendar_feed_fetch (
            feed_id uuid PRIMARY KEY,
            last_fetched_at timestamptz NOT NULL
        )""",
    )
    rebuild_tables = ("calendar_feed",)

    def of_owner(self, owner: str) -> list[DictRow]:
        """The owner's links that are not revoked, oldest first."""
        return self.query(
            "SELECT f.feed_id, f.districts, f.created_at, x.last_fetched_at "
            "FROM calendar_feed f LEFT JOIN calendar_feed_fetch x USING (feed_id) "
            "WHERE f.owner = %s AND f.revoked_at IS NULL ORDER BY f.created_at, f.feed_id",
            (owner,),
        )

    def fetched(self, feed_id: UUID, at: datetime) -> None:
        """Note a fetch of the link (the latest one wins): one statement, in autocommit."""
        with self.datastore.get_connection() as conn, conn.cursor() as cursor:
            cursor.execute(
                "INSERT INTO calendar_feed_fetch (feed_id, last_fetched_at) VALUES (%s, %s) "
                "ON CONFLICT (feed_id) DO UPDATE SET last_fetched_at = "
                "GREATEST(calendar_feed_fetch.last_fetched_at, EXCLUDED.last_fetched_at)",
                (feed_id, at),
            )


class CalendarFeedProjection(Projection[CalendarFeedView]):
    name = "calendar_feed"
    topics = CALENDAR_FEED_TOPICS

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    @process_event.register
    def _(self, e: CalendarFeed.Created, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO calendar_feed (feed_id, owner, districts, created_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (feed_id) DO NOTHING",
            (e.originator_id, e.owner, list(e.districts), e.timestamp),
        )

    @process_event.register
    def _(self, e: CalendarFeed.Revoked, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE calendar_feed SET revoked_at = %s WHERE feed_id = %s",
            (e.timestamp, e.originator_id),
        )
