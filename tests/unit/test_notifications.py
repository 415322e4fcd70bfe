"""The notification's rules, the event-to-notification handlers, the templates and the letter
PDF — no network."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar, cast
from uuid import uuid4

import pytest
from eventsourcing.persistence import Tracking
from eventsourcing.utils import get_topic, resolve_topic
from notifications.api.presenters import preview_letter, preview_variables
from notifications.application import Notifications, QueueRequest
from notifications.domain import (
    Notification,
    NotificationNotDueError,
    NotificationNotRetryableError,
    RetryPolicy,
    Status,
    idempotency_key,
    notification_id_for,
)
from notifications.letters import Letter, build_letter
from notifications.messaging import (
    cancellation_letter,
    consumers,
    contact_restored_email,
    handover_email,
)
from notifications.printing import batch_pdf, letter_pdf
from notifications.projections.directory import DirectoryView
from notifications.reminders import reminders_due
from notifications.rendering import (
    BERLIN,
    TEMPLATES,
    Rendered,
    Templates,
    describe_schedule,
    german_date,
)
from notifications.settings import TEMPLATES_DIR, Letterhead
from pypdf import PdfReader

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactRestored
from shared.contracts.notifications import GivenUpReason, NotificationChannel, RecipientKind
from shared.contracts.visits import (
    NextStep,
    VisitCancelled,
    VisitCancelledReason,
    VisitCompleted,
    VisitOutcome,
)

pytestmark = pytest.mark.unit

P = TypeVar("P", bound=Payload)

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
KASSEL = Letterhead(
    jobcenter="Jobcenter Stadt Kassel",
    address=["Grüner Weg 2", "34117 Kassel"],
    phone="0561 1234-0",
    email="aufsuchend@jobcenter-kassel.example",
    data_protection_officer="datenschutz@jobcenter-kassel.example",
)


def meta() -> dict[str, Any]:
    return {
        "actor": "system",
        "role": "system",
        "correlation_id": str(uuid4()),
        "causation_id": None,
        "trace": {},
        "subject": str(uuid4()),
        "district": "kassel",
    }


def queued(source: str | None = None) -> Notification:
    return Notification.queue(
        source_key=source or str(uuid4()),
        source_event_type="ContactRestored",
        channel=NotificationChannel.EMAIL,
        template="contact_restored",
        template_version=1,
        recipient_kind=RecipientKind.CASE_MANAGER,
        recipient="cm-mueller",
        context={"case_id": str(uuid4())},
        queued_at=NOW,
        meta=meta(),
    )


def envelope(payload: P) -> Envelope[P]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    built: Envelope[P] = contract(
        event_id=uuid4(),
        event_type=payload.event_type,
        schema_version=1,
        occurred_at=NOW,
        producer="test",
        district="kassel",
        subject=uuid4(),
        correlation_id=uuid4(),
        payload=payload,
    )
    return built


def test_the_same_event_and_template_always_give_the_same_notification() -> None:
    source = str(uuid4())
    assert queued(source).id == queued(source).id == notification_id_for(source, "contact_restored")
    assert queued(source).idempotency_key == f"{source}.contact_restored.v1"
    # A revised template does not make a replayed event a new notification.
    assert idempotency_key(source, "contact_restored", 2) != queued(source).idempotency_key


def test_failed_attempts_back_off_exponentially_and_are_given_up_at_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=30, max_seconds=3600)
    n = queued()
    now = NOW
    delays = []
    for _ in range(2):
        n.start_attempt(now=now, meta=meta())
        n.record_failure(error="down", permanent=False, now=now, policy=policy, meta=meta())
        assert n.status is Status.FAILED
        assert n.next_attempt_at is not None
        delays.append(n.next_attempt_at - now)
        with pytest.raises(NotificationNotDueError):
            n.start_attempt(now=now, meta=meta())
        now = n.next_attempt_at
    assert delays == [timedelta(seconds=30), timedelta(seconds=60)]
    n.start_attempt(now=now, meta=meta())
    n.record_failure(error="down", permanent=False, now=now, policy=policy, meta=meta())
    assert n.status is Status.GIVEN_UP
    assert n.given_up_reason is GivenUpReason.ATTEMPTS_EXHAUSTED


def test_a_permanent_failure_is_given_up_at_once() -> None:
    n = queued()
    n.start_attempt(now=NOW, meta=meta())
    n.record_failure(error="550", permanent=True, now=NOW, policy=RetryPolicy(), meta=meta())
    assert n.status is Status.GIVEN_UP
    assert n.given_up_reason is GivenUpReason.PERMANENT_FAILURE


def test_an_attempt_without_an_outcome_is_given_up_not_sent_again_and_staff_may_retry() -> None:
    n = queued()
    n.start_attempt(now=NOW, meta=meta())
    n.abandon_unconfirmed(meta=meta())
    assert n.status is Status.GIVEN_UP
    assert n.given_up_reason is GivenUpReason.DELIVERY_UNCONFIRMED
    assert not n.is_due(NOW + timedelta(days=1))
    n.retry(requested_by="tl-schmidt", now=NOW, meta=meta())
    assert n.status is Status.QUEUED
    n.start_attempt(now=NOW, meta=meta())
    n.record_sent(now=NOW, meta=meta())
    assert n.status is Status.SENT
    with pytest.raises(NotificationNotRetryableError):
        n.retry(requested_by="tl-schmidt", now=NOW, meta=meta())


def test_a_restored_contact_emails_the_case_manager_named_in_the_event() -> None:
    event = envelope(
        ContactRestored(
            case_id=uuid4(),
            channel="phone",
            restored_on=date(2026, 11, 20),
            case_manager="cm-mueller",
            recorded_by="cm-mueller",
        )
    )
    (request,) = contact_restored_email(event)
    assert request.template == "contact_restored"
    assert request.recipient == "cm-mueller"
    assert request.source_key == str(event.event_id)
    assert request.subject_id == event.subject


@pytest.mark.parametrize(
    ("next_step", "expected"),
    [(NextStep.HANDOVER_TO_CASE_MANAGER, ["handover_to_case_manager"]), (NextStep.REVISIT, [])],
)
def test_only_a_handover_after_a_visit_emails_the_case_manager(
    next_step: NextStep, expected: list[str]
) -> None:
    event = envelope(
        VisitCompleted(
            visit_id=uuid4(),
            case_id=uuid4(),
            outcome=VisitOutcome.MET_AND_TALKED,
            contact_made=True,
            completed_on=date(2026, 12, 2),
            attempt_number=1,
            coaching_referral_consent=False,
            next_step=next_step,
            recorded_by="ow-yilmaz",
        )
    )
    assert [r.template for r in handover_email(event)] == expected


def test_no_cancellation_letter_goes_to_the_old_address_of_someone_who_moved() -> None:
    def cancelled(reason: VisitCancelledReason) -> Envelope[VisitCancelled]:
        return envelope(
            VisitCancelled(
                visit_id=uuid4(),
                case_id=uuid4(),
                reason=reason,
                cancelled_on=date(2026, 11, 25),
                cancelled_by="system",
            )
        )

    assert cancellation_letter(cancelled(VisitCancelledReason.PERSON_MOVED)) == []
    assert [r.template for r in cancellation_letter(cancelled(VisitCancelledReason.OTHER))] == [
        "visit_cancelled"
    ]


class QueueRecorder:
    """Stands in for the application: records what the handlers queue."""

    def __init__(self) -> None:
        self.queued: list[QueueRequest] = []

    def queue(self, requests: list[QueueRequest], tracking: Tracking | None = None) -> bool:
        self.queued.extend(requests)
        return bool(requests)


def test_each_notifying_event_reaches_its_handler_in_the_consumer_groups_it_always_had() -> None:
    """The consumer groups' names are their Kafka offsets and the prefix of their tracking
    records: they and the events they take stay as they are."""
    app = QueueRecorder()
    found = {
        consumer.name: consumer
        for consumer in consumers(
            cast(Notifications, app), cast(DirectoryView, None), prefix="notifications"
        )
    }

    assert {name: set(c.event_types or ()) for name, c in found.items()} == {
        "notifications-directory-contacts": {"ContactLost", "ContactDetailsUpdated"},
        "notifications-contacts": {"ContactRestored"},
        "notifications-directory-visits": {"VisitAnnounced", "VisitRescheduled"},
        "notifications-visits": {
            "VisitAnnounced",
            "VisitRescheduled",
            "VisitCancelled",
            "VisitCompleted",
        },
        "notifications-directory-coaching": {"CoachAssigned", "CoachingExtended", "CoachingEnded"},
        "notifications-coaching": {"CoachAssigned"},
    }
    restored = envelope(
        ContactRestored(
            case_id=uuid4(),
            channel="phone",
            restored_on=date(2026, 11, 20),
            case_manager="cm-mueller",
            recorded_by="cm-mueller",
        )
    )
    tracking = Tracking(
        application_name=f"notifications-contacts/{restored.event_id}", notification_id=1
    )
    assert found["notifications-contacts"].effect(restored, tracking)
    assert [(r.template, r.recipient) for r in app.queued] == [("contact_restored", "cm-mueller")]


def test_the_events_keep_the_topics_they_were_stored_under() -> None:
    """The projection selects the stored log by these topics, and stored events resolve to
    their classes by them: moving a class into another module must not change them."""
    n = queued()
    n.start_attempt(now=NOW, meta=meta())
    n.record_failure(error="refused", permanent=True, now=NOW, policy=RetryPolicy(), meta=meta())
    n.retry(requested_by="tl-schmidt", now=NOW, meta=meta())
    n.start_attempt(now=NOW, meta=meta())
    n.record_failure(error="down", permanent=False, now=NOW, policy=RetryPolicy(), meta=meta())
    n.start_attempt(now=NOW + timedelta(hours=2), meta=meta())
    n.record_sent(now=NOW + timedelta(hours=2), meta=meta())

    stored = [get_topic(type(e)) for e in n.collect_events()]

    assert stored == [
        "notifications.domain:Notification.Queued",
        "notifications.domain:Notification.AttemptStarted",
        "notifications.domain:Notification.GivenUp",
        "notifications.domain:Notification.RetryRequested",
        "notifications.domain:Notification.AttemptStarted",
        "notifications.domain:Notification.Failed",
        "notifications.domain:Notification.AttemptStarted",
        "notifications.domain:Notification.Sent",
    ]
    assert resolve_topic("notifications.domain:Notification.Sent") is Notification.Sent
    assert resolve_topic("notifications.domain:Notification") is Notification


def test_a_coaching_ending_within_the_lead_reminds_once_per_end_date() -> None:
    coaching: dict[str, Any] = {
        "coaching_id": uuid4(),
        "case_id": uuid4(),
        "subject_id": uuid4(),
        "district": "kassel",
        "provider_name": "Träger",
        "coach": "pc-weber",
        "ends_on": date(2026, 12, 1),
        "ended": False,
    }
    today = date(2026, 11, 23)
    (first,) = reminders_due([coaching], today=today, lead_days=14)
    (again,) = reminders_due([coaching], today=today + timedelta(days=1), lead_days=14)
    assert first.notification_id == again.notification_id  # the same reminder
    extended = {**coaching, "ends_on": date(2026, 12, 5)}
    (after_extension,) = reminders_due([extended], today=today, lead_days=14)
    assert after_extension.notification_id != first.notification_id
    assert reminders_due([coaching], today=date(2026, 11, 1), lead_days=14) == []
    assert reminders_due([{**coaching, "ended": True}], today=today, lead_days=14) == []


def test_every_current_template_renders_its_example() -> None:
    templates = Templates(TEMPLATES_DIR)
    templates.check()
    head = KASSEL
    for spec in TEMPLATES.values():
        variables = {**spec.example, **head.model_dump(), "team": head.team}
        rendered = templates.render(spec.name, spec.version, variables)
        assert rendered.subject
        assert rendered.paragraphs


def test_the_announcement_says_voluntary_without_consequence_and_how_to_get_in_touch() -> None:
    templates = Templates(TEMPLATES_DIR)
    spec = TEMPLATES["visit_announcement"]
    head = KASSEL
    text = templates.render(spec.name, 1, {**spec.example, **head.model_dump()}).text
    assert "freiwillig" in text
    assert "keine Nachteile und keine Folgen" in text
    assert head.phone in text


def test_a_window_of_days_is_described_without_a_time() -> None:
    window = {"first_day": "2026-12-01", "last_day": "2026-12-03"}
    assert describe_schedule(window) == (
        "an einem Tag zwischen Dienstag, 1. Dezember 2026 und Donnerstag, 3. Dezember 2026 "
        "(ohne feste Uhrzeit)"
    )
    single = {
        "first_day": "2026-12-01",
        "last_day": "2026-12-01",
        "time_from": "10:00",
        "time_to": "12:30",
    }
    assert describe_schedule(single) == "am Dienstag, 1. Dezember 2026 ab 10 bis 12:30 Uhr"


def test_a_letter_is_signed_with_the_letterhead_and_dated_at_its_town() -> None:
    rendered = Rendered(subject="Ankündigung eines Besuchs", paragraphs=["Guten Tag."])

    letter = build_letter(
        KASSEL,
        rendered,
        district="kassel",
        recipient=["Erika Mustermann", "Musterweg 1", "12345 Musterstadt"],
        day=date(2026, 11, 23),
        reference="ref-1",
        template="visit_announcement",
        template_version=1,
    )

    assert letter.sender == [
        "Jobcenter Stadt Kassel",
        "Team Aufsuchende Beratung",
        "Grüner Weg 2",
        "34117 Kassel",
    ]
    assert letter.contact == [
        "Telefon: 0561 1234-0",
        "E-Mail: aufsuchend@jobcenter-kassel.example",
        "Mo-Fr 8-16 Uhr",
    ]
    assert letter.date == "Kassel, 23. November 2026"
    assert letter.privacy_notice.startswith("Datenschutz: Jobcenter Stadt Kassel verarbeitet")
    assert "datenschutz@jobcenter-kassel.example" in letter.privacy_notice
    assert (letter.subject, letter.paragraphs) == ("Ankündigung eines Besuchs", ["Guten Tag."])


def test_a_template_preview_prints_the_letter_as_the_outbox_builds_it() -> None:
    spec = TEMPLATES["visit_announcement"]
    variables = preview_variables(spec, KASSEL, {"salutation": "Guten Tag Max Muster"})
    rendered = Templates(TEMPLATES_DIR).render(spec.name, spec.version, variables)

    preview = preview_letter(KASSEL, rendered, spec, spec.version, "kassel")

    assert preview.date == f"Kassel, {german_date(datetime.now(BERLIN).date())}"
    assert preview.recipient == ["Erika Mustermann", "Musterweg 1", "12345 Musterstadt"]
    assert preview.reference == "VORSCHAU"
    assert "Guten Tag Max Muster" in preview.text
    assert "datenschutz@jobcenter-kassel.example" in preview.privacy_notice
    text = PdfReader(io.BytesIO(letter_pdf(preview))).pages[0].extract_text()
    assert "Jobcenter Stadt Kassel" in text


def test_a_letter_and_a_batch_are_pdfs_with_the_letters_text() -> None:
    letter = Letter(
        district="kassel",
        sender=["Jobcenter Kassel", "Team Aufsuchende Beratung", "Grüner Weg 2", "34117 Kassel"],
        contact=["Telefon: 0561 1"],
        recipient=["Jürgen Weiß", "Straße 1", "34117 Kassel"],
        date="Kassel, 23. November 2026",
        subject="Ankündigung eines Besuchs \u2013 bei Ihnen",
        paragraphs=["Der Besuch ist „freiwillig“."],
        privacy_notice="Datenschutz: §35 SGB I",
        reference=str(uuid4()),
    )
    text = PdfReader(io.BytesIO(letter_pdf(letter))).pages[0].extract_text()
    assert "Jürgen Weiß" in text
    assert "Grüner Weg 2" in text
    assert "Der Besuch ist „freiwillig“." in text  # typography printed as written
    reader = PdfReader(io.BytesIO(batch_pdf("Druckstapel", [letter, letter])))
    assert len(reader.pages) == 2


NAMES_IN_THEIR_SCRIPTS = {
    "Turkish": "Ayşe Yılmaz",
    "Polish": "Łódzka Straße 5, Żaneta Wiśniewska",
    "Romanian": "Ștefan Țurcanu, Strada Mărășești",
    "Cyrillic": "Жанна Иванова",
    "Greek": "Γιώργος Παπαδόπουλος",
}


@pytest.mark.parametrize("script", sorted(NAMES_IN_THEIR_SCRIPTS))
def test_a_letter_prints_names_in_their_own_script(script: str) -> None:
    name = NAMES_IN_THEIR_SCRIPTS[script]
    letter = Letter(
        district="kassel",
        sender=["Jobcenter Kassel", "Team Aufsuchende Beratung", "Grüner Weg 2", "34117 Kassel"],
        contact=["Telefon: 0561 1"],
        recipient=[name, "Łódzka Straße 5", "34117 Kassel"],
        date="Kassel, 23. November 2026",
        subject="Ankündigung eines Besuchs",
        paragraphs=[f"Guten Tag {name},", "Wer kommt: Frau Ayşe Yılmaz und Herr Jonas Becker."],
        privacy_notice="Datenschutz: §35 SGB I",
        reference=str(uuid4()),
    )

    for pdf in (letter_pdf(letter), batch_pdf("Druckstapel", [letter])):
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert name in text
        assert f"Guten Tag {name}," in text
        assert "Frau Ayşe Yılmaz und Herr Jonas Becker" in text
        assert "?" not in text


def test_a_letter_prints_an_arabic_name_joined_right_to_left() -> None:
    letter = Letter(
        district="kassel",
        sender=["Jobcenter Kassel", "Team", "Grüner Weg 2", "34117 Kassel"],
        contact=["Telefon: 0561 1"],
        recipient=["محمد الأحمد", "Straße 1", "34117 Kassel"],
        date="Kassel, 23. November 2026",
        subject="Ankündigung eines Besuchs",
        paragraphs=["Guten Tag."],
        privacy_notice="Datenschutz",
        reference=str(uuid4()),
    )

    text = PdfReader(io.BytesIO(letter_pdf(letter))).pages[0].extract_text()

    # Shaped and laid out right to left: both words, whole, in visual order.
    assert "الأحمد محمد" in text
    assert "?" not in text
