"""The outbox: the one place that sends. It takes due notifications (queued, or failed and
past their back-off), composes them and hands them to their channel.

Exactly once towards people, step by step:

1. A notification exists once per (event, template): a redelivered or replayed event finds
   it (see ``domain.notification_id_for``), and a rebuilt view sends nothing, because what
   is due is decided by the aggregate's own events, not by a view.
2. Only one outbox sends at a time (a PostgreSQL advisory lock, like the relay).
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
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import psycopg

from notifications.application import Notifications
from notifications.channels import (
    DeliveryError,
    Mailer,
    OutgoingEmail,
    PermanentDeliveryError,
    SmsGateway,
    TransientDeliveryError,
)
from notifications.domain import Notification, Status
from notifications.letters import Letter, privacy_notice
from notifications.policies import reminders_due
from notifications.projections import DirectoryView, NotificationsView
from notifications.rendering import (
    CHANNELS,
    OUTCOMES,
    PURPOSES,
    Templates,
    addressed,
    describe_schedule,
    german_date,
    join_names,
)
from notifications.settings import Letterhead, NotificationsSettings
from shared.contracts.notifications import GivenUpReason, NotificationChannel, RecipientKind
from shared.privacy import ERASED, PersonalDataCipher, SubjectErasedError

log = logging.getLogger(__name__)

BERLIN = ZoneInfo("Europe/Berlin")


class RecipientUnknownError(TransientDeliveryError):
    """Not learnt yet from the other services' events (they may still arrive)."""


class PersonErasedError(Exception):
    """The person's key was destroyed: nothing may be sent to them any more."""


class LetterNotComposableError(TransientDeliveryError):
    """Something a letter must say is not configured: the letter is not produced (retried
    with back-off, then given up; staff retry it once it is configured). The message starts
    with a code and names what is missing and where to set it."""


class LetterheadMissingError(LetterNotComposableError):
    """The district has no letterhead: no sender, phone line or data-protection contact to
    print (never an invented one)."""


class StaffNotInDirectoryError(LetterNotComposableError):
    """A member of staff the letter names is not in the staff directory: the person must be
    told who comes (by name), never a user id."""


@dataclass(frozen=True)
class Composed:
    letter: Letter | None = None
    email: OutgoingEmail | None = None


class Composer:
    """Turns a notification into what is sent: the letter or the e-mail, in German."""

    def __init__(
        self,
        settings: NotificationsSettings,
        templates: Templates,
        cipher: PersonalDataCipher,
        directory: DirectoryView,
    ) -> None:
        self.settings = settings
        self.templates = templates
        self.cipher = cipher
        self.directory = directory

    def compose(self, n: Notification, today: date) -> Composed:
        if n.channel is NotificationChannel.LETTER:
            return Composed(letter=self.letter(n, today))
        if n.channel is NotificationChannel.EMAIL:
            return Composed(email=self.email(n))
        raise PermanentDeliveryError(f"channel {n.channel.value} has no composer")

    # Letters to the person

    def _open(self, token: str | None) -> str:
        if token is None:
            raise RecipientUnknownError("no postal address known yet")
        value = self.cipher.open(token)
        if value == ERASED:
            raise PersonErasedError("the person's data was erased")
        return value

    def _person(self, n: Notification) -> tuple[str, str]:
        name, address = n.context.get("name"), n.context.get("address")
        if name is None or address is None:
            row = self.directory.case(n.context["case_id"])
            if row is None:
                raise RecipientUnknownError("the case is not known yet")
            name, address = row["name_token"], row["address_token"]
        return self._open(name), self._open(address)

    def letterhead(self, district: str) -> Letterhead:
        """The district's letterhead: configured over HTTP, else in the settings."""
        configured = self.directory.letterhead(district)
        if configured is not None:
            return Letterhead.model_validate(configured)
        if district in self.settings.letterheads:
            return self.settings.letterheads[district]
        raise LetterheadMissingError(
            f"letterhead_missing: no letterhead is configured for district {district} "
            f"(PUT /letterheads/{district}); its letters are held until it is"
        )

    def staff_names(self, users: list[str]) -> str:
        """``Frau Ayşe Yılmaz und Herr Jonas Becker``, from the staff directory."""
        found = self.directory.staff(users)
        missing = [user for user in users if user not in found]
        if missing:
            raise StaffNotInDirectoryError(
                f"staff_unknown: {', '.join(missing)} not in the staff directory "
                "(PUT /staff/{user_id}); the letter must say by name who comes"
            )
        return join_names(
            [addressed(found[u]["display_name"], found[u]["form_of_address"]) for u in users]
        )

    def signature(self, district: str) -> tuple[str, str]:
        """Team and Jobcenter that sign an e-mail to staff (internal: a district without a
        letterhead signs with its name)."""
        try:
            head = self.letterhead(district)
        except LetterheadMissingError:
            return "Team Aufsuchende Beratung", f"Jobcenter ({district})"
        return head.team, head.jobcenter

    def letter_variables(self, n: Notification) -> dict[str, Any]:
        head = self.letterhead(n.district)
        c = n.context
        variables: dict[str, Any] = {
            "team": head.team,
            "jobcenter": head.jobcenter,
            "phone": head.phone,
            "email": head.email,
            "hours": head.hours,
            "place": c.get("place", "home"),
            "place_description": None,
            "reason": c.get("reason"),
        }
        if "schedule" in c:
            variables["when"] = describe_schedule(c["schedule"])
        elif "visit_id" in c:
            visit = self.directory.visit(c["visit_id"])
            variables["when"] = describe_schedule(visit["schedule"]) if visit else None
        if "workers" in c:
            variables["workers"] = self.staff_names(list(c["workers"]))
        if "purpose" in c:
            variables["purpose"] = PURPOSES.get(c["purpose"], c["purpose"])
        if c.get("place_description"):
            variables["place_description"] = self._open(c["place_description"])
        if "coach" in c:
            variables.update(
                coach=self.staff_names([c["coach"]]),
                provider_name=c["provider_name"],
                starts_on=german_date(date.fromisoformat(c["starts_on"])),
                ends_on=german_date(date.fromisoformat(c["ends_on"])),
            )
        return variables

    def letter(self, n: Notification, today: date) -> Letter:
        head = self.letterhead(n.district)
        variables = self.letter_variables(n)
        name, address = self._person(n)
        variables["salutation"] = f"Guten Tag {name}"
        rendered = self.templates.render(n.template, n.template_version, variables)
        city = head.address[-1].split(" ", 1)[-1] if head.address else ""
        return Letter(
            district=n.district,
            sender=[head.jobcenter, head.team, *head.address],
            contact=[f"Telefon: {head.phone}", f"E-Mail: {head.email}", head.hours],
            recipient=[name, *[part.strip() for part in address.split(",")]],
            date=f"{city}, {german_date(today)}" if city else german_date(today),
            subject=rendered.subject,
            paragraphs=rendered.paragraphs,
            privacy_notice=privacy_notice(head.data_protection_officer, head.jobcenter),
            reference=str(n.id),
            template=n.template,
            template_version=n.template_version,
        )

    # E-mails to staff and providers (never with the person's personal data)

    def recipient_address(self, n: Notification) -> str:
        s = self.settings
        if n.recipient_kind is RecipientKind.CASE_MANAGER:
            user = n.recipient
            if user is None:
                row = self.directory.case(n.context["case_id"])
                user = row["case_manager"] if row else None
            if not user:
                raise RecipientUnknownError("the case manager is not known yet")
            return s.user_email_pattern.format(user=user)
        if n.recipient_kind is RecipientKind.PROVIDER:
            provider = n.recipient or ""
            return s.provider_emails.get(provider) or s.provider_email_pattern.format(
                provider=provider
            )
        if n.recipient_kind is RecipientKind.TEAM_LEAD:
            return s.team_lead_emails.get(n.district) or s.team_lead_email_pattern.format(
                district=n.district
            )
        raise PermanentDeliveryError("no e-mail address for the person")

    def email_variables(self, n: Notification, today: date) -> dict[str, Any]:
        team, jobcenter = self.signature(n.district)
        base = self.settings.public_base_url.rstrip("/")
        c = n.context
        variables: dict[str, Any] = {**c, "team": team, "jobcenter": jobcenter}
        if "case_id" in c:
            variables["case_url"] = f"{base}:8101/cases/{c['case_id']}"
        for key in ("restored_on", "completed_on", "starts_on", "ends_on"):
            if key in c:
                variables[key] = german_date(date.fromisoformat(c[key]))
        if "channel" in c:
            variables["channel"] = CHANNELS.get(c["channel"], c["channel"])
        if "outcome" in c:
            variables["outcome"] = OUTCOMES.get(c["outcome"], c["outcome"])
        if "coaching_id" in c:
            variables["coaching_url"] = f"{base}:8103/coachings/{c['coaching_id']}"
            variables["provider_url"] = f"{base}:8103/provider/coachings/{c['coaching_id']}"
        if "ends_on" in c:
            variables["days_left"] = (date.fromisoformat(c["ends_on"]) - today).days
        return variables

    def email(self, n: Notification, today: date | None = None) -> OutgoingEmail:
        to = self.recipient_address(n)
        day = today or datetime.now(BERLIN).date()
        rendered = self.templates.render(
            n.template, n.template_version, self.email_variables(n, day)
        )
        return OutgoingEmail(
            to=to,
            subject=rendered.subject,
            body=rendered.text,
            message_id=f"<{n.idempotency_key}@{self.settings.message_id_domain}>",
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
        while not stopping.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.lock_dsn, autocommit=True
                ) as conn:
                    cursor = await conn.execute(
                        "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (self._lock_key,)
                    )
                    row = await cursor.fetchone()
                    if row and row[0]:
                        self.is_active = True
                        try:
                            while not stopping.is_set():
                                await asyncio.to_thread(self.deliver_due)
                                await conn.execute("SELECT 1")  # the lock is still ours
                                with contextlib.suppress(TimeoutError):
                                    await asyncio.wait_for(stopping.wait(), self.poll_seconds)
                        finally:
                            self.is_active = False
            except Exception:
                log.exception("outbox interrupted; resuming")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), 2.0)


class ReminderCheck:
    """Queues a reminder to the team lead for each running coaching that ends within the
    lead (once per coaching and end date). ``today`` is injectable for tests."""

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
            queued += self.app.queue([request])
        return queued

    async def run(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            try:
                await asyncio.to_thread(self.check)
            except Exception:
                log.exception("coaching reminder check failed; trying again later")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.interval_seconds)
