"""The notifications service against the real Kafka, PostgreSQL and a real SMTP server:
letters and e-mails are produced once per event, whatever happens on the way."""

from __future__ import annotations

import asyncio
import contextlib
import io
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import Tracking
from fastapi.testclient import TestClient
from kafka import KafkaProducer
from notifications import messaging
from notifications.application import Notifications
from notifications.channels import OutgoingEmail
from notifications.domain import RetryPolicy, Status
from pypdf import PdfReader

from shared.contracts import Envelope, Payload
from shared.contracts.coaching import CoachAssigned
from shared.contracts.contacts import (
    ContactLost,
    ContactLostReason,
    ContactRestored,
    Evidence,
    SealedPerson,
)
from shared.contracts.notifications import GivenUpReason
from shared.contracts.visits import MeetingPlace, Schedule, VisitAnnounced, VisitPurpose
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.keyring import Keyring
from shared.messaging.handlers import ConsumerGroup
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import eventually, person
from tests.support.notifications import (
    MailSink,
    NotificationsHarness,
    RunningConsumers,
    letterhead,
    notifications_harness,
    publish,
)
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    mail = MailSink().start()
    yield mail
    mail.stop()


@pytest.fixture(scope="module")
def harness(
    stack: ServiceSettings, cipher: PersonalDataCipher, sink: MailSink
) -> Iterator[NotificationsHarness]:
    policy = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=600)
    with notifications_harness(stack, smtp_port=sink.port, policy=policy) as running:
        yield running


@pytest.fixture
def producer(stack: ServiceSettings) -> Iterator[Any]:
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    yield producer
    producer.close()


@pytest.fixture(scope="module")
def client(harness: NotificationsHarness) -> TestClient:
    return TestClient(harness.http)


@pytest.fixture
def district(harness: NotificationsHarness) -> str:
    """A district of this test alone, with its letterhead and the staff its letters name."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    harness.configure(name)
    return name


def envelope(payload: Payload, district: str, subject: uuid.UUID) -> Envelope[Payload]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    built: Envelope[Payload] = contract(
        event_id=uuid.uuid4(),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=datetime.now(UTC),
        producer="test",
        district=district,
        subject=subject,
        correlation_id=uuid.uuid4(),
        payload=payload,
    )
    return built


def visit_announced(
    cipher: PersonalDataCipher,
    district: str,
    who: dict[str, Any],
    workers: tuple[str, ...] = ("ow-yilmaz", "ow-becker"),
) -> Envelope[Payload]:
    subject = cipher.subject_for(who["customer_number"])
    first = date.today() + timedelta(days=7)
    return envelope(
        VisitAnnounced(
            visit_id=uuid.uuid4(),
            case_id=uuid.uuid4(),
            workers=list(workers),
            schedule=Schedule(first_day=first, last_day=first + timedelta(days=2)),
            purpose=VisitPurpose.FIRST_CONTACT,
            place=MeetingPlace.HOME,
            announced_on=date.today(),
            name=cipher.seal(subject, who["name"]),
            address=cipher.seal(subject, who["address"]),
            announced_by="ow-yilmaz",
        ),
        district,
        subject,
    )


def queue(
    harness: NotificationsHarness, group: ConsumerGroup[Notifications], event: Envelope[Payload]
) -> None:
    """What ``event`` calls for, queued by its ``on_<event>`` handler as its consumer does
    (without Kafka: in the context the consumer gives it)."""
    consumer = group.consumer(harness.app, prefix=harness.prefix)
    with acting_as(CommandContext.following(event.event_id, event.correlation_id)):
        consumer.effect(event, consumer.delivery_of(event))


def contact_restored(district: str, case_manager: str = "cm-mueller") -> Envelope[Payload]:
    return envelope(
        ContactRestored(
            case_id=uuid.uuid4(),
            channel="after_announcement_letter",
            restored_on=date.today(),
            case_manager=case_manager,
            recorded_by=case_manager,
        ),
        district,
        uuid.uuid4(),
    )


async def wait_for(probe: Callable[[], Any], what: str) -> Any:
    async with asyncio.timeout(30):
        while not (result := probe()):
            await asyncio.sleep(0.2)
    assert result, what
    return result


def status_of(harness: NotificationsHarness, notification_id: uuid.UUID) -> str | None:
    row = harness.view.get(notification_id)
    return None if row is None else str(row["status"])


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def staff(
    mint: Callable[..., str],
    district: str,
    role: str = "team_lead",
    purpose: str | None = "visit_planning: print run",
) -> dict[str, str]:
    """A staff user's headers, stating the purpose that letters and print batches require
    (``purpose=None``: without ``X-Purpose``)."""
    headers = {"Authorization": f"Bearer {mint('tl-test', role, district)}"}
    return headers if purpose is None else {**headers, "X-Purpose": purpose}


async def queued(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    event: Envelope[Payload],
    count: int = 1,
) -> list[Any]:
    async with RunningConsumers(stack, harness):
        return await wait_for(
            lambda: len(rows := harness.rows_for(event.event_id, event.district)) >= count and rows,
            "the notifications to be queued",
        )


async def letters_sent(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    district: str,
    *people: dict[str, Any],
) -> list[tuple[Envelope[Payload], Any]]:
    """A visit announced to each of ``people``, queued and its letter sent: for each, the
    event and the sent notification's row."""
    events = [visit_announced(harness.cipher, district, who) for who in people]
    publish(producer, harness.topics["visits"], *events)
    async with RunningConsumers(stack, harness):
        await wait_for(
            lambda: all(harness.rows_for(e.event_id, district) for e in events), "queued"
        )
    harness.outbox.deliver_due()
    sent = []
    for e in events:
        notification_id = harness.rows_for(e.event_id, district)[0]["notification_id"]
        sent.append((e, eventually_row(harness, notification_id, "sent")))
    return sent


async def test_an_announced_visit_becomes_one_german_letter_in_the_days_print_batch(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    district: str,
    client: TestClient,
    mint: Callable[..., str],
) -> None:
    who = person()
    event = visit_announced(harness.cipher, district, who)
    # Delivered twice: the visits relay published it again after a crash.
    publish(producer, harness.topics["visits"], event, event)
    rows = await queued(stack, harness, event)
    harness.outbox.deliver_due()
    harness.outbox.deliver_due()  # a second round finds nothing more to do
    await wait_for(lambda: status_of(harness, rows[0]["notification_id"]) == "sent", "sent")

    rows = harness.rows_for(event.event_id, district)
    assert len(rows) == 1
    assert rows[0]["template"] == "visit_announcement"
    assert rows[0]["idempotency_key"] == f"{event.event_id}.visit_announcement.v1"
    assert who["name"] not in str(dict(rows[0]))  # the stored letter is sealed

    letter = client.get(
        f"/notifications/{rows[0]['notification_id']}/letter.pdf", headers=staff(mint, district)
    )
    assert letter.status_code == 200
    assert letter.headers["content-type"] == "application/pdf"
    text = " ".join(pdf_text(letter.content).split())
    first = event.payload.schedule.first_day  # type: ignore[attr-defined]
    assert who["name"] in text
    assert who["address"].split(",")[0] in text
    assert "Ankündigung eines Besuchs" in text
    assert f"{first.day}. " in text
    assert "ohne feste Uhrzeit" in text
    assert "Wer kommt: Frau Ayşe Yılmaz und Herr Jonas Becker" in text
    assert "ow-yilmaz" not in text
    assert "Der Besuch ist freiwillig" in text
    assert "keine Nachteile und keine Folgen für Ihre Leistungen" in text
    assert "einen anderen Termin" in text
    assert "Datenschutz" in text
    assert "Art. 15 DSGVO" in text
    assert f"Jobcenter Testkreis {district}" in text
    assert "0561 7070-0" in text  # the district's phone line

    today = rows[0]["print_day"]
    batches = client.get(
        "/print-batches", params={"district": district}, headers=staff(mint, district)
    )
    assert batches.json() == [
        {
            "print_day": today.isoformat(),
            "letters": 1,
            "pdf": f"/print-batches/{district}/{today}.pdf",
        }
    ]
    batch = client.get(f"/print-batches/{district}/{today}.pdf", headers=staff(mint, district))
    assert batch.status_code == 200
    assert batch.headers["x-letters"] == "1"
    assert who["name"] in pdf_text(batch.content)


async def test_reading_a_letter_or_a_print_batch_states_its_purpose_and_is_logged(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    district: str,
    client: TestClient,
    mint: Callable[..., str],
) -> None:
    who = person()
    sent = await letters_sent(stack, harness, producer, district, who, person())
    (event, row), (second, _) = sent
    notification_id = row["notification_id"]
    worker = "outreach_worker"

    # Without a stated purpose nothing is revealed (the token is checked first: 401).
    for path in (
        f"/notifications/{notification_id}/letter",
        f"/notifications/{notification_id}/letter.pdf",
        f"/print-batches/{district}/{row['print_day']}.pdf",
    ):
        refused = client.get(path, headers=staff(mint, district, worker, purpose=None))
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == "purpose_required"
        assert client.get(path, headers={"X-Purpose": "visit_planning"}).status_code == 401
    assert harness.access_log.entries(districts=None, subject=event.subject) == []

    letter = client.get(
        f"/notifications/{notification_id}/letter",
        headers=staff(mint, district, worker, purpose="visit_planning: Brief geprueft"),
    )
    assert letter.status_code == 200, letter.text
    (entry,) = harness.access_log.entries(districts=None, subject=event.subject)
    assert entry["user"] == "tl-test"
    assert entry["role"] == worker
    assert entry["district"] == district
    assert entry["fields"] == ["address", "letter", "name"]
    assert (entry["purpose"], entry["note"]) == ("visit_planning", "Brief geprueft")
    assert entry["route"] == "GET /notifications/{notification_id}/letter"
    assert entry["resource"] == f"notification:{notification_id}"

    batch = client.get(
        f"/print-batches/{district}/{row['print_day']}.pdf",
        headers=staff(mint, district, worker),
    )
    assert batch.status_code == 200, batch.text
    for subject in (event.subject, second.subject):
        logged = harness.access_log.entries(districts=None, subject=subject)
        (read,) = [e for e in logged if e["route"] == "GET /print-batches/{district}/{day}.pdf"]
        assert read["fields"] == ["address", "letter", "name"]
        assert read["resource"] == f"print-batch:{district}:{row['print_day'].isoformat()}"

    # The listing reveals no personal data of the person and needs no purpose.
    listing = client.get(
        "/notifications", params={"district": district}, headers=staff(mint, district, purpose=None)
    )
    assert listing.status_code == 200, listing.text
    assert who["name"] not in listing.text


async def test_the_print_batch_holds_every_letter_of_the_district_and_day(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    district: str,
    client: TestClient,
    mint: Callable[..., str],
) -> None:
    people = [person() for _ in range(3)]
    events = [visit_announced(harness.cipher, district, who) for who in people]
    publish(producer, harness.topics["visits"], *events)
    async with RunningConsumers(stack, harness):
        await wait_for(
            lambda: all(harness.rows_for(e.event_id, district) for e in events), "three queued"
        )
    harness.outbox.deliver_due()
    day = harness.outbox.today()
    eventually(lambda: len(harness.view.batch(district, day)) == 3, what="three letters")
    batch = client.get(f"/print-batches/{district}/{day}.pdf", headers=staff(mint, district))
    reader = PdfReader(io.BytesIO(batch.content))
    assert batch.headers["x-letters"] == "3"
    assert len(reader.pages) >= 3
    text = pdf_text(batch.content)
    assert all(who["name"] in text for who in people)
    other = client.get(f"/print-batches/{district}-other/{day}.pdf", headers=staff(mint, district))
    assert other.status_code == 404  # another district does not exist for this user


async def test_a_restored_contact_sends_one_email_even_when_delivered_twice_and_replayed(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    district: str,
    sink: MailSink,
) -> None:
    event = contact_restored(district, case_manager="cm-zyx")
    publish(producer, harness.topics["contacts"], event, event)
    rows = await queued(stack, harness, event)
    for _ in range(3):
        harness.outbox.deliver_due()
    key = rows[0]["idempotency_key"]
    message_id = f"<{key}@{harness.settings.message_id_domain}>"
    received = await wait_for(lambda: sink.received(message_id), "the e-mail")

    # A replay of the whole topic by a new consumer group (e.g. a reset) queues nothing new.
    async with RunningConsumers(stack, harness, prefix=f"{harness.prefix}-replay") as replay:
        await asyncio.sleep(3)
        assert not replay.dead_letters.counts()
    for _ in range(3):
        harness.outbox.deliver_due()

    assert len(sink.received(message_id)) == 1
    assert len(harness.rows_for(event.event_id, district)) == 1
    mail = received[0]
    assert mail["To"] == "cm-zyx@jobcenter.example"
    assert "Kontakt wiederhergestellt" in mail["Subject"]
    assert str(event.payload.case_id) in mail.get_content()  # type: ignore[attr-defined]


def test_a_mail_server_that_is_down_is_retried_with_back_off_until_it_accepts(
    stack: ServiceSettings, cipher: PersonalDataCipher, district: str
) -> None:
    port = free_port()  # nothing listens here yet
    policy = RetryPolicy(max_attempts=5, base_seconds=60, max_seconds=3600)
    with notifications_harness(stack, smtp_port=port, policy=policy) as harness:
        event = contact_restored(district)
        queue(harness, messaging.contacts, event)
        notification_id = harness.rows_for_id(event)

        harness.outbox.deliver(notification_id)
        first = harness.app.get_notification(notification_id)
        assert first.status is Status.FAILED
        assert first.attempts == 1
        assert first.next_attempt_at is not None
        assert first.next_attempt_at - harness.clock() == pytest.approx(
            timedelta(seconds=60), abs=timedelta(seconds=5)
        )
        assert harness.outbox.deliver(notification_id) is None  # not due before the back-off

        harness.clock.advance(seconds=61)
        harness.outbox.deliver(notification_id)
        second = harness.app.get_notification(notification_id)
        assert second.status is Status.FAILED
        assert second.next_attempt_at is not None
        assert second.next_attempt_at - harness.clock() == pytest.approx(
            timedelta(seconds=120), abs=timedelta(seconds=5)
        )

        sink = MailSink(port).start()  # the mail server is back
        try:
            harness.clock.advance(seconds=121)
            assert harness.outbox.deliver(notification_id) is Status.SENT
            assert harness.outbox.deliver(notification_id) is None
            third = harness.app.get_notification(notification_id)
            assert third.attempts == 3
            assert len(sink.received()) == 1
        finally:
            sink.stop()


def test_attempts_are_given_up_after_the_maximum_and_staff_can_retry(
    stack: ServiceSettings, cipher: PersonalDataCipher, district: str, mint: Callable[..., str]
) -> None:
    port = free_port()
    policy = RetryPolicy(max_attempts=2, base_seconds=1, max_seconds=1)
    with notifications_harness(stack, smtp_port=port, policy=policy) as harness:
        event = contact_restored(district)
        queue(harness, messaging.contacts, event)
        notification_id = harness.rows_for_id(event)
        harness.outbox.deliver(notification_id)
        harness.clock.advance(seconds=2)
        assert harness.outbox.deliver(notification_id) is Status.GIVEN_UP

        client = TestClient(harness.http)
        row = eventually_row(harness, notification_id, "given_up")
        assert row["given_up_reason"] == GivenUpReason.ATTEMPTS_EXHAUSTED.value
        worker = client.post(
            f"/notifications/{notification_id}/retry",
            headers=staff(mint, district, "outreach_worker"),
        )
        assert worker.status_code == 403
        retried = client.post(
            f"/notifications/{notification_id}/retry", headers=staff(mint, district)
        )
        assert retried.status_code == 200
        assert retried.json()["status"] == "queued"

        sink = MailSink(port).start()
        try:
            assert harness.outbox.deliver(notification_id) is Status.SENT
            assert len(sink.received()) == 1
        finally:
            sink.stop()
        detail = client.get(f"/notifications/{notification_id}", headers=staff(mint, district))
        events = [entry["event"] for entry in detail.json()["history"]]
        assert events == [
            "Queued",
            "AttemptStarted",
            "Failed",
            "AttemptStarted",
            "GivenUp",
            "RetryRequested",
            "AttemptStarted",
            "Sent",
        ]


class Killed(BaseException):
    """Stands for SIGKILL: no handler runs, nothing after it is recorded."""


class KilledAfterSending:
    def __init__(self, mailer: Any) -> None:
        self.mailer = mailer

    def send(self, email: OutgoingEmail) -> None:
        self.mailer.send(email)
        raise Killed


def test_a_service_killed_between_sending_and_recording_never_sends_it_again(
    harness: NotificationsHarness, sink: MailSink, district: str
) -> None:
    event = contact_restored(district)
    queue(harness, messaging.contacts, event)
    notification_id = harness.rows_for_id(event)
    dying = harness.new_outbox()
    dying.mailer = KilledAfterSending(harness.mailer)
    with pytest.raises(Killed):
        dying.deliver(notification_id)
    key = harness.app.get_notification(notification_id).idempotency_key
    message_id = f"<{key}@{harness.settings.message_id_domain}>"
    assert len(sink.received(message_id)) == 1
    assert harness.app.get_notification(notification_id).status is Status.SENDING

    restarted = harness.new_outbox()  # the service comes back

    def recovered() -> bool:
        restarted.deliver_due()
        return harness.app.get_notification(notification_id).status is Status.GIVEN_UP

    eventually(recovered, timeout=15, what="the unconfirmed attempt to be given up")
    restarted.deliver_due()
    after = harness.app.get_notification(notification_id)
    assert after.status is Status.GIVEN_UP
    assert after.given_up_reason is GivenUpReason.DELIVERY_UNCONFIRMED
    assert len(sink.received(message_id)) == 1  # at most once towards people


async def test_an_erased_persons_letters_answer_410_and_leave_the_print_batch(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    district: str,
    client: TestClient,
    mint: Callable[..., str],
    keyring: Keyring,
) -> None:
    who, other = person(), person()
    (event, row), _ = await letters_sent(stack, harness, producer, district, who, other)
    headers = staff(mint, district)
    assert (
        client.get(f"/notifications/{row['notification_id']}/letter", headers=headers).status_code
        == 200
    )

    keyring.destroy(event.subject)

    for path in ("letter", "letter.pdf"):
        gone = client.get(f"/notifications/{row['notification_id']}/{path}", headers=headers)
        assert gone.status_code == 410
        assert gone.json()["code"] == "subject_erased"
    batch = client.get(f"/print-batches/{district}/{row['print_day']}.pdf", headers=headers)
    assert batch.status_code == 200
    assert batch.headers["x-letters"] == "1"
    assert batch.headers["x-letters-omitted"] == "1"
    assert who["name"] not in pdf_text(batch.content)
    assert other["name"] in pdf_text(batch.content)

    # A letter still queued for the erased person is given up, never produced.
    late = visit_announced(harness.cipher, district, person())
    queue(harness, messaging.visits, late)
    keyring.destroy(late.subject)
    late_id = harness.rows_for_id(late)
    assert harness.outbox.deliver(late_id) is Status.GIVEN_UP
    assert harness.app.get_notification(late_id).given_up_reason is GivenUpReason.SUBJECT_ERASED


def test_nothing_queued_about_an_erased_person_is_sent_not_even_an_email_to_staff(
    harness: NotificationsHarness, district: str, sink: MailSink
) -> None:
    restored = envelope(
        ContactRestored(
            case_id=uuid.uuid4(),
            channel="phone",
            restored_on=date.today(),
            case_manager="cm-erased",
            recorded_by="cm-erased",
        ),
        district,
        uuid.uuid4(),
    )
    queue(harness, messaging.contacts, restored)
    notification_id = harness.rows_for_id(restored)
    # The erasure consumer has forgotten the person (its ledger entry) before the outbox ran.
    erasure = Tracking(f"test-erasure/{uuid.uuid4()}", 1)
    harness.ledger.apply_once(
        erasure,
        lambda cursor: cursor.execute(
            b"INSERT INTO erasure_ledger (erasure_id, subject_id, district, erased_event_id, "
            b"correlation_id, forgotten_at) VALUES (%s, %s, %s, %s, %s, now())",
            (uuid.uuid4(), restored.subject, district, uuid.uuid4(), uuid.uuid4()),
        ),
    )

    assert harness.new_outbox().deliver(notification_id) is Status.GIVEN_UP
    given_up = harness.app.get_notification(notification_id)
    assert given_up.given_up_reason is GivenUpReason.SUBJECT_ERASED
    assert given_up.attempts == 0
    assert not [m for m in sink.received() if str(restored.payload.case_id) in m["Subject"]]


async def test_a_coach_assigned_introduces_the_coach_by_letter_and_notifies_the_provider(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    district: str,
    sink: MailSink,
    client: TestClient,
    mint: Callable[..., str],
) -> None:
    who = person()
    subject = harness.cipher.subject_for(who["customer_number"])
    case_id = uuid.uuid4()
    lost = envelope(
        ContactLost(
            case_id=case_id,
            local_office="mitte",
            person=SealedPerson(
                customer_number=harness.cipher.seal(subject, who["customer_number"]),
                name=harness.cipher.seal(subject, who["name"]),
                address=harness.cipher.seal(subject, who["address"]),
            ),
            reason=ContactLostReason.MISSED_APPOINTMENTS,
            evidence=Evidence(unanswered_letters=2, missed_appointments=2),
            case_manager="cm-zyx",
            reported_by="cm-zyx",
        ),
        district,
        subject,
    )
    provider = uuid.uuid4()
    assigned = envelope(
        CoachAssigned(
            coaching_id=uuid.uuid4(),
            case_id=case_id,
            provider_id=provider,
            provider_name="Beispiel-Träger gGmbH",
            coach="pc-weber",
            starts_on=date.today() + timedelta(days=3),
            ends_on=date.today() + timedelta(days=10),
            assigned_by="tl-test",
        ),
        district,
        subject,
    )
    publish(producer, harness.topics["contacts"], lost)
    publish(producer, harness.topics["coaching"], assigned)
    async with RunningConsumers(stack, harness):
        rows = await wait_for(
            lambda: len(r := harness.rows_for(assigned.event_id, district)) == 2 and r, "queued"
        )
        await wait_for(lambda: harness.directory.case(case_id), "the directory")
        await wait_for(lambda: harness.directory.running_coachings(), "the coaching")
    harness.outbox.deliver_due()
    by_template = {row["template"]: row["notification_id"] for row in rows}
    letter_id = by_template["coach_introduction"]
    eventually_row(harness, letter_id, "sent")
    letter = client.get(f"/notifications/{letter_id}/letter", headers=staff(mint, district))
    text = letter.json()["text"]
    assert who["name"] in text
    assert "Beispiel-Träger gGmbH" in text
    assert "Frau Jana Weber" in text
    assert "pc-weber" not in text
    assert "freiwillig" in text

    mails = [m for m in sink.received() if m["To"] == f"traeger-{provider}@jobcenter.example"]
    assert len(mails) == 1
    body = mails[0].get_content()
    assert who["name"] not in body  # the notice, not the packet: no personal data
    assert "Übergabe" in mails[0]["Subject"]

    # The coaching ends within 14 days: one reminder to the team lead, however often checked.
    check = harness.reminders(today=date.today())
    assert check.check() == 1
    assert check.check() == 0

    def reminders_sent() -> list[Any]:
        harness.outbox.deliver_due()  # as the outbox worker does, once the view has the reminder
        return [
            m for m in sink.received() if m["To"] == f"teamleitung-{district}@jobcenter.example"
        ]

    reminders = eventually(reminders_sent, timeout=15, what="the reminder to the team lead")
    harness.outbox.deliver_due()
    assert len(reminders_sent()) == 1
    assert "endet am" in reminders[0]["Subject"]
    # Checked on a day long before the end, nothing is due.
    assert harness.reminders(today=date.today() - timedelta(days=30)).check() == 0


def eventually_row(harness: NotificationsHarness, notification_id: uuid.UUID, status: str) -> Any:
    return eventually(
        lambda: (
            (row := harness.view.get(notification_id)) is not None
            and row["status"] == status
            and row
        ),
        timeout=15,
        what=f"notification {notification_id} {status}",
    )


async def held_letter(
    stack: ServiceSettings, harness: NotificationsHarness, producer: Any, event: Envelope[Payload]
) -> Any:
    """The letter of ``event`` after the outbox tried to produce it and could not."""
    publish(producer, harness.topics["visits"], event)
    async with RunningConsumers(stack, harness):
        (row,) = await wait_for(lambda: harness.rows_for(event.event_id, event.district), "queued")
        await wait_for(
            lambda: harness.directory.case(event.payload.case_id),  # type: ignore[attr-defined]
            "the directory",
        )
    harness.outbox.deliver_due()
    return eventually_row(harness, row["notification_id"], "failed")


async def test_a_district_without_a_letterhead_gets_no_invented_one_its_letters_wait_visibly(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    client: TestClient,
    mint: Callable[..., str],
) -> None:
    unconfigured = f"test-{uuid.uuid4().hex[:10]}"
    harness.configure(unconfigured)  # the staff; the letterhead is taken away below
    with psycopg_connection(harness) as conn:
        conn.execute("DELETE FROM district_letterheads WHERE district = %s", (unconfigured,))
    lead = staff(mint, unconfigured, purpose=None)
    who = person()

    row = await held_letter(
        stack, harness, producer, visit_announced(harness.cipher, unconfigured, who)
    )

    assert row["last_error"].startswith("letterhead_missing: ")
    assert unconfigured in row["last_error"]
    ops = client.get("/ops/outbox", headers=lead).json()
    assert unconfigured in ops["districts_without_letterhead"]
    assert str(row["notification_id"]) in {h["notification_id"] for h in ops["letters_held"]}
    shown = client.get(f"/letterheads/{unconfigured}", headers=lead)
    assert (shown.status_code, shown.json()["code"]) == (409, "letterhead_missing")

    configured = client.put(
        f"/letterheads/{unconfigured}", json=letterhead_of(unconfigured), headers=lead
    )
    assert configured.status_code == 200, configured.text
    retried = client.post(f"/notifications/{row['notification_id']}/retry", headers=lead)
    assert retried.status_code == 200, retried.text
    delivered(harness, row["notification_id"])
    letter = client.get(
        f"/notifications/{row['notification_id']}/letter", headers=staff(mint, unconfigured)
    )
    assert "0561 4711-0" in letter.json()["text"]
    assert "0800" not in letter.json()["text"]  # never an invented number
    assert (
        unconfigured
        not in client.get("/ops/outbox", headers=lead).json()["districts_without_letterhead"]
    )


async def test_a_letter_naming_staff_not_in_the_directory_waits_until_they_are_entered(
    stack: ServiceSettings,
    harness: NotificationsHarness,
    producer: Any,
    district: str,
    client: TestClient,
    mint: Callable[..., str],
) -> None:
    newcomer = f"ow-neu-{uuid.uuid4().hex[:6]}"
    lead = staff(mint, district, purpose=None)
    event = visit_announced(harness.cipher, district, person(), workers=(newcomer, "ow-becker"))

    row = await held_letter(stack, harness, producer, event)

    assert row["last_error"].startswith(f"staff_unknown: {newcomer} ")
    entered = client.put(
        f"/staff/{newcomer}",
        json={"display_name": "Łucja Nowak", "form_of_address": "frau", "district": district},
        headers=lead,
    )
    assert entered.status_code == 200, entered.text
    assert entered.json()["in_letters"] == "Frau Łucja Nowak"
    elsewhere = client.put(
        f"/staff/{newcomer}",
        json={"display_name": "X", "form_of_address": "herr", "district": "elsewhere"},
        headers=lead,
    )
    assert elsewhere.status_code == 404  # another district's staff is not the lead's to set
    assert (
        client.post(f"/notifications/{row['notification_id']}/retry", headers=lead).status_code
        == 200
    )
    delivered(harness, row["notification_id"])
    text = client.get(
        f"/notifications/{row['notification_id']}/letter", headers=staff(mint, district)
    ).json()["text"]
    assert "Wer kommt: Frau Łucja Nowak und Herr Jonas Becker" in text
    assert newcomer not in text
    listed = client.get("/staff", params={"district": district}, headers=lead).json()
    assert newcomer in {entry["user_id"] for entry in listed}


def letterhead_of(district: str) -> dict[str, Any]:
    return {**letterhead(district), "phone": "0561 4711-0"}


@contextlib.contextmanager
def psycopg_connection(harness: NotificationsHarness) -> Iterator[Any]:
    with psycopg.connect(harness.settings.database_url(harness.database), autocommit=True) as conn:
        yield conn


def delivered(harness: NotificationsHarness, notification_id: uuid.UUID) -> Any:
    """Run the outbox (as its worker does) until the notification is sent."""

    def sent() -> Any:
        harness.outbox.deliver_due()
        return status_of(harness, notification_id) == "sent"

    return eventually(sent, timeout=15, what=f"notification {notification_id} sent")


def test_without_an_identity_provider_the_staff_directory_is_kept_over_its_api_alone(
    harness: NotificationsHarness, client: TestClient, mint: Callable[..., str], district: str
) -> None:
    answer = client.post("/ops/staff-sync", headers=staff(mint, district, purpose=None))

    assert answer.status_code == 409
    assert answer.json()["code"] == "directory_sync_off"
    assert harness.settings.directory_sync is False
