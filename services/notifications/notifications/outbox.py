"""The outbox's round: it takes due notifications (queued, or failed and past their
back-off), composes them and hands them to their channel.

Exactly once towards people, step by step:

1. A notification exists once per (event, template): a redelivered or replayed event finds
   it (see ``domain.notification_id_for``), and a rebuilt view sends nothing, because what
   is due is decided by the aggregate's own events, not by a view.
2. Only one outbox sends at a time (a PostgreSQL advisory lock, like the relay:
   :func:`shared.runtime.background.as_leader`).
3. A letter is composed, sealed with the person's key and recorded as ``Sent`` (it is then
   in its district's print batch of the day) in one transaction with its ``AttemptStarted``:
   there is no window in which it can be produced twice.
4. An e-mail's ``AttemptStarted`` is recorded *before* the SMTP conversation, its ``Sent``
   or ``Failed`` right after. The Message-ID is the idempotency key. If the process dies in
   between, the next outbox finds the attempt without an outcome and does **not** send it
   again: it records ``GivenUp`` (``delivery_unconfirmed``) for staff, who can check and
   retry it. This is the at-most-once choice for the crash window (see the README): SMTP
   cannot tell us whether the message arrived, and a duplicate to a person is the failure
   we rule out; the rare unconfirmed one is visible and retryable instead of silent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import date
from uuid import UUID

from notifications.application import Notifications
from notifications.channels import DeliveryError, Mailer, OutgoingEmail, SmsGateway
from notifications.domain import Notification, Status
from notifications.letters import Composer, Letter, PersonErasedError
from notifications.projections.status import NotificationsView
from notifications.rendering import BERLIN
from shared.contracts.notifications import GivenUpReason
from shared.eventsourcing.meta import SYSTEM, CommandContext, acting_as
from shared.privacy import SubjectErasedError
from shared.runtime.background import as_leader, every

log = logging.getLogger(__name__)

OUTBOX_ACTOR = "notifications-outbox"


def outbox_context(notification: Notification) -> CommandContext:
    """What the outbox records about ``notification``, it records for the system, in the
    correlation of the event the notification follows from. Its rounds run in no request's
    trace: none is stored."""
    return CommandContext(
        actor=OUTBOX_ACTOR,
        role=SYSTEM,
        correlation_id=notification.correlation_id,
        trace={},
    )


class Outbox:
    """Sends due notifications, one at a time, while it holds the outbox lock."""

    def __init__(
        self,
        *,
        app: Notifications,
        view: NotificationsView,
        composer: Composer,
        mailer: Mailer,
        sms: SmsGateway,
        lock_dsn: str,
        poll_seconds: float = 0.5,
        forgotten: Callable[[UUID], bool] = lambda _subject: False,
    ) -> None:
        """``forgotten`` tells whether a person was erased (the service's erasure ledger):
        nothing about them is sent any more, not even an e-mail to staff."""
        self.app = app
        self.forgotten = forgotten
        self.view = view
        self.composer = composer
        self.mailer = mailer
        self.sms = sms
        self.lock_dsn = lock_dsn
        self.poll_seconds = poll_seconds
        self.is_active = False
        self.sent = 0
        self._lock_key = f"outreach-outbox:{app.name}:{lock_dsn.rsplit('/', 1)[-1]}"

    def today(self) -> date:
        return self.app.clock().astimezone(BERLIN).date()

    def recover(self) -> int:
        """Attempts on record without an outcome: the previous outbox died while sending.
        Called once the lock is held (no other outbox can be sending)."""
        count = 0
        for notification_id in self.view.in_status(Status.SENDING):
            count += self.deliver(notification_id) is Status.GIVEN_UP
        return count

    def deliver_due(self, limit: int = 50) -> int:
        """One round: unconfirmed attempts (also those the view shows only now, after a
        restart), then what is due. A row the view shows late is harmless: the aggregate
        decides."""
        done = self.recover()
        for notification_id in self.view.due(self.app.clock(), limit):
            done += self.deliver(notification_id) is not None
        return done

    def deliver(self, notification_id: UUID) -> Status | None:
        """Send one notification if it is due; the status it ends in (``None``: not due)."""
        n = self.app.get_notification(notification_id)
        with acting_as(outbox_context(n)):
            return self._deliver(n)

    def _deliver(self, n: Notification) -> Status | None:
        if n.status is Status.SENDING:
            # Not ours (we send one at a time and hold the lock): a previous outbox died
            # between starting the attempt and recording its outcome.
            self.app.abandon_unconfirmed(n)
            log.warning("unconfirmed attempt given up", extra={"notification": str(n.id)})
            return n.status
        if not n.is_due(self.app.clock()):
            return None
        if self.forgotten(n.subject_id):
            self.app.give_up(
                n, reason=GivenUpReason.SUBJECT_ERASED, error="the person's data was erased"
            )
            return n.status
        try:
            composed = self.composer.compose(n, self.today())
        except PersonErasedError as error:
            self.app.give_up(n, reason=GivenUpReason.SUBJECT_ERASED, error=str(error))
            return n.status
        except DeliveryError as error:
            self.app.record_failed_attempt(n, error=str(error), permanent=error.permanent)
            return n.status
        if composed.letter is not None:
            return self._store_letter(n, composed.letter)
        assert composed.email is not None
        return self._send_email(n, composed.email)

    def _store_letter(self, n: Notification, letter: Letter) -> Status:
        try:
            sealed = self.composer.cipher.seal(n.subject_id, letter.to_json())
        except SubjectErasedError as error:
            self.app.give_up(n, reason=GivenUpReason.SUBJECT_ERASED, error=error.detail)
            return n.status
        self.app.record_letter(n, letter=sealed, print_day=self.today())
        self.sent += 1
        return n.status

    def _send_email(self, n: Notification, email: OutgoingEmail) -> Status:
        self.app.start_attempt(n)  # on record before anything leaves the service
        try:
            self.mailer.send(email)
        except DeliveryError as error:
            self.app.record_failure(n, error=str(error), permanent=error.permanent)
            log.info(
                "e-mail attempt failed",
                extra={"notification": str(n.id), "attempt": n.attempts, "error": str(error)},
            )
            return n.status
        self.app.record_sent(n)
        self.sent += 1
        return n.status

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until ``stopping`` is set; standby while another replica holds the lock."""
        await as_leader(self.lock_dsn, self._lock_key, self._deliver_while_leading, name="outbox")(
            stopping
        )

    async def _deliver_while_leading(self, leading: asyncio.Event) -> None:
        self.is_active = True
        try:
            await every(self.poll_seconds, self._deliver_due_in_thread, name="outbox")(leading)
        finally:
            self.is_active = False

    async def _deliver_due_in_thread(self) -> int:
        return await asyncio.to_thread(self.deliver_due)
