"""Legal holds and erasures by person (``legal_holds``, ``erasures``,
``category_erasures``): what the retention job must respect."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import get_topic

from contacts.domain import CategoryErasure, Erasure, LegalHold
from shared.eventsourcing.views import TrackedView


class DataProtectionView(TrackedView):
    """Legal holds and erasures by person (pseudonym): what the retention job must respect
    (``category_erasures``: the data categories erased on their own, the last time each)."""

    schema = (
        """CREATE TABLE IF NOT EXISTS legal_holds (
            subject_id uuid PRIMARY KEY,
            active boolean NOT NULL,
            reason text NOT NULL,
            changed_at timestamptz NOT NULL,
            changed_by text NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS erasures (
            erasure_id uuid PRIMARY KEY,
            subject_id uuid NOT NULL UNIQUE,
            district text NOT NULL,
            ground text NOT NULL,
            requested_at timestamptz NOT NULL,
            requested_by text NOT NULL,
            key_destroyed_at timestamptz
        )""",
        """CREATE TABLE IF NOT EXISTS category_erasures (
            subject_id uuid NOT NULL,
            category text NOT NULL,
            erasure_id uuid NOT NULL,
            district text NOT NULL,
            ground text NOT NULL,
            requested_at timestamptz NOT NULL,
            requested_by text NOT NULL,
            key_destroyed_at timestamptz,
            PRIMARY KEY (subject_id, category)
        )""",
    )


class DataProtectionProjection(Projection[DataProtectionView]):
    name = "data_protection"
    topics = tuple(
        get_topic(event)
        for event in (
            LegalHold.Placed,
            LegalHold.PlacedAgain,
            LegalHold.Lifted,
            Erasure.Requested,
            Erasure.KeyDestroyed,
            CategoryErasure.Requested,
            CategoryErasure.RequestedAgain,
            CategoryErasure.KeyDestroyed,
        )
    )

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.insert_tracking(tracking)

    def _hold(self, e: Any, tracking: Tracking, active: bool, subject_id: Any) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO legal_holds VALUES (%(subject)s, %(active)s, %(reason)s, %(at)s, %(by)s) "
            "ON CONFLICT (subject_id) DO UPDATE SET active = EXCLUDED.active, "
            "reason = EXCLUDED.reason, changed_at = EXCLUDED.changed_at, "
            "changed_by = EXCLUDED.changed_by",
            {
                "subject": subject_id,
                "active": active,
                "reason": e.reason,
                "at": e.timestamp,
                "by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: LegalHold.Placed, tracking: Tracking) -> None:
        self._hold(e, tracking, True, e.subject_id)

    @process_event.register
    def _(self, e: LegalHold.PlacedAgain, tracking: Tracking) -> None:
        self._hold(e, tracking, True, e.meta["subject"])

    @process_event.register
    def _(self, e: LegalHold.Lifted, tracking: Tracking) -> None:
        self._hold(e, tracking, False, e.meta["subject"])

    @process_event.register
    def _(self, e: Erasure.Requested, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "INSERT INTO erasures VALUES (%(id)s, %(subject)s, %(district)s, %(ground)s, "
            "%(at)s, %(by)s, NULL) ON CONFLICT DO NOTHING",
            {
                "id": e.originator_id,
                "subject": e.subject_id,
                "district": e.district,
                "ground": e.ground,
                "at": e.timestamp,
                "by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: Erasure.KeyDestroyed, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE erasures SET key_destroyed_at = %(at)s WHERE erasure_id = %(id)s",
            {"id": e.originator_id, "at": e.destroyed_at},
        )

    def _category_requested(self, e: Any, tracking: Tracking, subject: Any, category: Any) -> None:
        # ``key_destroyed_at`` keeps the last erasure until this one's key is destroyed.
        self.view.execute(
            tracking,
            "INSERT INTO category_erasures VALUES (%(subject)s, %(category)s, %(id)s, "
            "%(district)s, %(ground)s, %(at)s, %(by)s, NULL) "
            "ON CONFLICT (subject_id, category) DO UPDATE SET district = EXCLUDED.district, "
            "ground = EXCLUDED.ground, requested_at = EXCLUDED.requested_at, "
            "requested_by = EXCLUDED.requested_by",
            {
                "subject": subject,
                "category": category,
                "id": e.originator_id,
                "district": e.district,
                "ground": e.ground,
                "at": e.timestamp,
                "by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: CategoryErasure.Requested, tracking: Tracking) -> None:
        self._category_requested(e, tracking, e.subject_id, e.category)

    @process_event.register
    def _(self, e: CategoryErasure.RequestedAgain, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE category_erasures SET district = %(district)s, ground = %(ground)s, "
            "requested_at = %(at)s, requested_by = %(by)s WHERE erasure_id = %(id)s",
            {
                "id": e.originator_id,
                "district": e.district,
                "ground": e.ground,
                "at": e.timestamp,
                "by": e.meta.get("actor", "system"),
            },
        )

    @process_event.register
    def _(self, e: CategoryErasure.KeyDestroyed, tracking: Tracking) -> None:
        self.view.execute(
            tracking,
            "UPDATE category_erasures SET key_destroyed_at = %(at)s WHERE erasure_id = %(id)s",
            {"id": e.originator_id, "at": e.destroyed_at},
        )
