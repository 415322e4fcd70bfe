"""The reminder before a coaching ends: a scheduled check (not an event) that queues an
e-mail ``coaching_ending_reminder`` to the district's team lead for each running coaching
that ends within the lead, once per coaching and end date (an extension reminds again
before the new end). The coachings are the directory's, learnt from ``CoachAssigned``,
``CoachingExtended`` and ``CoachingEnded``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any
from uuid import UUID, uuid5

from notifications.application import Notifications, QueueRequest
from notifications.projections.directory import DirectoryView
from shared.contracts.notifications import RecipientKind
from shared.eventsourcing.meta import SYSTEM, CommandContext, acting_as
from shared.runtime.background import every

log = logging.getLogger(__name__)

REMINDER_NAMESPACE = UUID("c0a8e1f2-3b4c-4d5e-8f6a-7b8c9d0e1f2a")
REMINDERS_ACTOR = "notifications-reminders"


def reminder_source(coaching_id: UUID, ends_on: date) -> UUID:
    """One reminder per coaching and end date: an extension (a new end) reminds again."""
    return uuid5(REMINDER_NAMESPACE, f"{coaching_id}:{ends_on.isoformat()}")


def reminders_due(
    coachings: Iterable[dict[str, Any]], *, today: date, lead_days: int
) -> list[QueueRequest]:
    """Reminders to the team lead for the running coachings that end within ``lead_days``.

    ``coachings`` are rows of the directory (coaching_id, case_id, subject_id, district,
    provider_name, coach, ends_on, ended).
    """
    last_day = date.fromordinal(today.toordinal() + lead_days)
    return [
        _reminder(row)
        for row in coachings
        if not row["ended"] and today <= row["ends_on"] <= last_day
    ]


def _reminder(row: dict[str, Any]) -> QueueRequest:
    ends_on: date = row["ends_on"]
    source = reminder_source(row["coaching_id"], ends_on)
    return QueueRequest(
        source_key=str(source),
        source_event_type="CoachingEndingCheck",
        template="coaching_ending_reminder",
        recipient_kind=RecipientKind.TEAM_LEAD,
        recipient=None,
        context={
            "coaching_id": str(row["coaching_id"]),
            "case_id": str(row["case_id"]),
            "provider_name": row["provider_name"],
            "coach": row["coach"],
            "ends_on": ends_on.isoformat(),
        },
        subject_id=row["subject_id"],
        district=row["district"],
    )


def reminder_context(request: QueueRequest) -> CommandContext:
    """What the check records, it records for the system, caused by the coaching's end date
    (the reminder's source)."""
    return CommandContext(actor=REMINDERS_ACTOR, role=SYSTEM, causation_id=UUID(request.source_key))


class ReminderCheck:
    """Queues the reminders due (:func:`reminders_due`). ``today`` is injectable for tests."""

    def __init__(
        self,
        app: Notifications,
        directory: DirectoryView,
        *,
        lead_days: int,
        today: Callable[[], date],
        interval_seconds: float = 3600.0,
    ) -> None:
        self.app = app
        self.directory = directory
        self.lead_days = lead_days
        self.today = today
        self.interval_seconds = interval_seconds

    def check(self) -> int:
        queued = 0
        for request in reminders_due(
            self.directory.running_coachings(), today=self.today(), lead_days=self.lead_days
        ):
            with acting_as(reminder_context(request)):
                queued += self.app.queue([request])
        return queued

    async def run(self, stopping: asyncio.Event) -> None:
        """Check every ``interval_seconds`` until ``stopping`` is set (a failed check is
        logged and tried again at the next interval). Every replica checks: a reminder's
        notification id follows from the coaching and its end (:func:`reminder_source`), so
        a reminder queued twice is one notification."""
        await every(self.interval_seconds, self._check_in_thread, name="coaching reminders")(
            stopping
        )

    async def _check_in_thread(self) -> int:
        return await asyncio.to_thread(self.check)
