"""What the audit trail stores with an event (its ``meta``), and the shape of the stored events,
for a few representative commands: a case reported and closed through the contacts API, a
consumed ``VisitCompleted`` that restores the contact on behalf of the outreach worker, a
consumed ``ContactRestored`` that queues an e-mail, the outbox's attempt and its outcome, and
the reminder check's reminder.

The events are read back as the event store holds them (the stored state, decoded), so what
an audit, a relay and the officer's export read of them is pinned here: who (actor, role),
which request or event (correlation, causation, trace), whose data (subject, district).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar, cast
from uuid import UUID, uuid4

import pytest
from contacts import api
from contacts import messaging as contacts_messaging
from contacts.api.deps import ContactsState
from contacts.application import Contacts
from fastapi.testclient import TestClient
from faststream.kafka import KafkaBroker, TestKafkaBroker
from notifications import messaging as notifications_messaging
from notifications.application import Notifications
from notifications.channels import OutgoingEmail
from notifications.domain import Notification, Status, notification_id_for
from notifications.outbox import Outbox
from notifications.projections.directory import DirectoryView
from notifications.projections.status import NotificationsView
from notifications.reminders import ReminderCheck, reminder_source
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactChannel, ContactRestored
from shared.contracts.visits import NextStep, VisitCompleted, VisitOutcome
from shared.http.access_log import AccessLog
from shared.http.app import http_app
from shared.http.auth import Principal, Role, TokenCodec
from shared.messaging.consumer import DeadLetters
from shared.messaging.subscription import register
from shared.privacy import PersonalDataCipher

pytestmark = pytest.mark.unit

P = TypeVar("P", bound=Payload)

CODEC = TokenCodec("unit-test-secret-unit-test-secret", "HS256", "outreach-test")
CASE_MANAGER = Principal(user="cm-mueller", role=Role.CASE_MANAGER, districts=frozenset({"kassel"}))
TEAM_LEAD = Principal(user="tl-schmidt", role=Role.TEAM_LEAD, districts=frozenset({"kassel"}))
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
MEMORY = {"PERSISTENCE_MODULE": "eventsourcing.popo"}
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

COMMON = {"timestamp", "meta"}
"""(The id and version of an event are columns of its row, not part of its state.)"""
CASE_FIELDS = {
    "ContactLost": COMMON
    | {
        "originator_topic",
        "index_id",
        "subject_id",
        "district",
        "local_office",
        "person",
        "reason",
        "evidence",
        "deadline",
        "case_manager",
        "reported_on",
    },
    "ContactRestored": COMMON | {"channel", "restored_on", "case_manager"},
    "Closed": COMMON | {"reason"},
}
NOTIFICATION_FIELDS = {
    "Queued": COMMON
    | {
        "originator_topic",
        "idempotency_key",
        "channel",
        "template",
        "template_version",
        "recipient_kind",
        "recipient",
        "source_event_id",
        "source_event_type",
        "context",
        "queued_at",
    },
    "AttemptStarted": COMMON | {"attempt", "started_at"},
    "Sent": COMMON | {"idempotency_key", "channel", "attempt", "sent_at", "print_day", "letter"},
}


def stored(app: Contacts | Notifications, originator_id: UUID) -> list[tuple[str, dict[str, Any]]]:
    """The aggregate's events as stored: (the event's name, its stored state decoded)."""
    return [
        (record.topic.rsplit(".", 1)[-1], app.mapper.transcoder.decode(record.state))
        for record in app.recorder.select_events(originator_id)
    ]


def trace_of(meta: dict[str, Any]) -> str:
    """The trace id of the trace context an event stored."""
    return str(meta["trace"]["traceparent"]).split("-")[1]


def bearer(principal: Principal) -> dict[str, str]:
    return {"Authorization": f"Bearer {CODEC.mint(principal)}", "traceparent": TRACEPARENT}


class NoLog(AccessLog):
    def __init__(self) -> None:
        pass


@pytest.fixture
def contacts(cipher: PersonalDataCipher) -> Iterator[Contacts]:
    app = Contacts(env=MEMORY, cipher=cipher)
    yield app
    app.close()


@pytest.fixture
def client(contacts: Contacts, cipher: PersonalDataCipher) -> Iterator[TestClient]:
    http = http_app(title="contacts", description="")
    http.state.verifier = CODEC
    http.state.access_log = NoLog()
    unused: Any = None
    http.state.service = ContactsState(
        contacts=contacts,
        cipher=cipher,
        queue=unused,
        detail=unused,
        feeds=unused,
        report=unused,
        keyring=unused,
        access_log=NoLog(),
        break_glass_ttl=unused,
    )
    for router in api.routers:
        http.include_router(router)
    with TestClient(http) as test_client:
        yield test_client


def report(client: TestClient, customer_number: str = "123D456789") -> UUID:
    body = {
        "district": "kassel",
        "local_office": "mitte",
        "person": {
            "customer_number": customer_number,
            "name": "Erika Mustermann",
            "address": "Wilhelmshöher Allee 1, 34117 Kassel",
        },
        "reason": "missed_appointments",
        "evidence": {"missed_appointments": 2, "last_contact_on": "2026-03-02"},
    }
    answer = client.post("/cases", json=body, headers=bearer(CASE_MANAGER))
    assert answer.status_code == 201, answer.text
    return UUID(answer.json()["case_id"])


def test_a_case_reported_and_closed_through_the_api_stores_who_asked_in_which_request(
    client: TestClient, contacts: Contacts
) -> None:
    case_id = report(client)
    closed = client.post(
        f"/cases/{case_id}/close", json={"reason": "moved_away"}, headers=bearer(TEAM_LEAD)
    )
    assert closed.status_code == 200, closed.text

    (lost_name, lost), (closed_name, close) = stored(contacts, case_id)
    assert (lost_name, set(lost)) == ("ContactLost", CASE_FIELDS["ContactLost"])
    assert (closed_name, set(close)) == ("Closed", CASE_FIELDS["Closed"])
    subject = str(contacts.get_case(case_id).subject_id)
    for event, who in ((lost, CASE_MANAGER), (close, TEAM_LEAD)):
        meta = event["meta"]
        assert set(meta) == {
            "actor",
            "role",
            "correlation_id",
            "causation_id",
            "trace",
            "subject",
            "district",
        }
        assert (meta["actor"], meta["role"]) == (who.user, who.role.value)
        assert (meta["subject"], meta["district"]) == (subject, "kassel")
        assert meta["causation_id"] is None
        assert set(meta["trace"]) == {"traceparent"}
        assert trace_of(meta) == TRACE_ID
        UUID(meta["correlation_id"])
    # Each request is a correlation of its own.
    assert lost["meta"]["correlation_id"] != close["meta"]["correlation_id"]


class KeptDeadLetters(DeadLetters):
    def __init__(self, broker: KafkaBroker) -> None:
        super().__init__(broker, pool=None)  # type: ignore[arg-type]
        self.kept: list[str] = []

    def _record(self, consumer: Any, record: Any, event_id: str | None, error: str) -> None:
        self.kept.append(error)


def envelope(payload: P, subject: UUID) -> Envelope[P]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    built: Envelope[P] = contract(
        event_id=uuid4(),
        event_type=payload.event_type,
        schema_version=1,
        occurred_at=NOW,
        producer="test",
        district="kassel",
        subject=subject,
        correlation_id=uuid4(),
        payload=payload,
    )
    return built


async def deliver(broker: KafkaBroker, topic: str, message: Envelope[Any]) -> None:
    """The message as a relay publishes it: with the trace context of its request."""
    await broker.publish(
        message.model_dump_json(serialize_as_any=True).encode(),
        topic=topic,
        key=str(message.subject).encode(),
        headers={"traceparent": TRACEPARENT},
    )


def following(message: Envelope[Any], actor: str) -> dict[str, Any]:
    """The meta of what a service records because of ``message`` (the trace: the span of the
    consumer, in the message's trace)."""
    return {
        "actor": actor,
        "role": "system",
        "correlation_id": str(message.correlation_id),
        "causation_id": str(message.event_id),
        "subject": str(message.subject),
        "district": message.district,
    }


async def test_a_consumed_visit_that_reached_the_person_restores_contact_for_the_worker(
    client: TestClient, contacts: Contacts
) -> None:
    case_id = report(client)
    subject = contacts.get_case(case_id).subject_id
    message = envelope(
        VisitCompleted(
            visit_id=uuid4(),
            case_id=case_id,
            outcome=VisitOutcome.MET_AND_TALKED,
            contact_made=True,
            completed_on=date(2026, 12, 2),
            attempt_number=1,
            coaching_referral_consent=False,
            next_step=NextStep.HANDOVER_TO_CASE_MANAGER,
            recorded_by="ow-yilmaz",
        ),
        subject,
    )
    broker = KafkaBroker()
    dead_letters = KeptDeadLetters(broker)
    consumer = contacts_messaging.visit_outcomes.consumer(contacts, prefix="contacts-test")
    register(broker, consumer, dead_letters, retries=0, backoff_seconds=0)
    async with TestKafkaBroker(broker):
        await deliver(broker, contacts_messaging.VISITS, message)

    assert dead_letters.kept == []
    _, (name, restored) = stored(contacts, case_id)
    assert (name, set(restored)) == ("ContactRestored", CASE_FIELDS["ContactRestored"])
    meta = restored["meta"]
    assert {k: v for k, v in meta.items() if k != "trace"} == following(message, "ow-yilmaz")
    assert trace_of(meta) == TRACE_ID


class Kept:
    """The mail server of the test: keeps what it is given."""

    def __init__(self) -> None:
        self.sent: list[OutgoingEmail] = []

    def send(self, email: OutgoingEmail) -> None:
        self.sent.append(email)


@dataclass
class Composed:
    email: OutgoingEmail | None
    letter: None = None


class PlainComposer:
    """Composes every notification as one e-mail (the templates have tests of their own)."""

    def compose(self, notification: Notification, today: date) -> Composed:
        return Composed(
            OutgoingEmail(
                to="cm-mueller@jobcenter.example",
                subject="Kontakt wiederhergestellt",
                body="-",
                message_id=f"<{notification.idempotency_key}@outreach.example>",
            )
        )


@pytest.fixture
def notifications() -> Iterator[Notifications]:
    app = Notifications(env=MEMORY, clock=lambda: NOW)
    yield app
    app.close()


async def test_a_consumed_event_queues_its_email_and_the_outbox_sends_it_as_the_system(
    notifications: Notifications,
) -> None:
    message = envelope(
        ContactRestored(
            case_id=uuid4(),
            channel=ContactChannel.PHONE,
            restored_on=date(2026, 12, 2),
            case_manager="cm-mueller",
            recorded_by="cm-mueller",
        ),
        uuid4(),
    )
    broker = KafkaBroker()
    dead_letters = KeptDeadLetters(broker)
    consumer = notifications_messaging.contacts.consumer(notifications, prefix="notifications-test")
    register(broker, consumer, dead_letters, retries=0, backoff_seconds=0)
    async with TestKafkaBroker(broker):
        await deliver(broker, notifications_messaging.contacts.topic, message)
    assert dead_letters.kept == []
    notification_id = notifications_messaging.contact_restored_email(message)[0].notification_id

    mailer = Kept()
    outbox = Outbox(
        app=notifications,
        view=cast(NotificationsView, None),
        composer=cast(Any, PlainComposer()),
        mailer=mailer,
        sms=cast(Any, None),
        lock_dsn="postgresql:///test",
    )
    # Even in a traced round, the outbox's events carry no trace context.
    traced = SpanContext(
        int(TRACE_ID, 16), 0x00F067AA0BA902B7, is_remote=False, trace_flags=TraceFlags(1)
    )
    with trace.use_span(NonRecordingSpan(traced)):
        assert outbox.deliver(notification_id) is Status.SENT
    assert len(mailer.sent) == 1

    events = stored(notifications, notification_id)
    assert [(name, set(state)) for name, state in events] == [
        (name, NOTIFICATION_FIELDS[name]) for name in ("Queued", "AttemptStarted", "Sent")
    ]
    (_, queued), (_, attempt), (_, sent) = events
    meta = queued["meta"]
    assert {k: v for k, v in meta.items() if k != "trace"} == following(message, "system")
    assert trace_of(meta) == TRACE_ID
    by_the_outbox: dict[str, Any] = {
        "actor": "notifications-outbox",
        "role": "system",
        "correlation_id": str(message.correlation_id),
        "causation_id": None,
        "trace": {},
        "subject": str(message.subject),
        "district": "kassel",
    }
    assert attempt["meta"] == by_the_outbox
    assert sent["meta"] == by_the_outbox


class Coachings:
    """The directory's running coachings, as the reminder check reads them."""

    def __init__(self, *rows: dict[str, Any]) -> None:
        self.rows = list(rows)

    def running_coachings(self) -> list[dict[str, Any]]:
        return self.rows


def test_a_reminder_is_queued_by_the_reminder_check_caused_by_the_coaching_and_its_end(
    notifications: Notifications,
) -> None:
    coaching_id, ends_on = uuid4(), date(2026, 12, 10)
    coaching: dict[str, Any] = {
        "coaching_id": coaching_id,
        "case_id": uuid4(),
        "subject_id": uuid4(),
        "district": "kassel",
        "provider_name": "Träger",
        "coach": "pc-weber",
        "ends_on": ends_on,
        "ended": False,
    }
    check = ReminderCheck(
        notifications,
        cast(DirectoryView, Coachings(coaching)),
        lead_days=14,
        today=lambda: NOW.date(),
    )
    assert check.check() == 1

    source = reminder_source(coaching_id, ends_on)
    notification_id = notification_id_for(str(source), "coaching_ending_reminder")
    [(name, queued)] = stored(notifications, notification_id)
    assert (name, set(queued)) == ("Queued", NOTIFICATION_FIELDS["Queued"])
    meta = queued["meta"]
    assert {k: v for k, v in meta.items() if k != "correlation_id"} == {
        "actor": "notifications-reminders",
        "role": "system",
        "causation_id": str(source),
        "trace": {},
        "subject": str(coaching["subject_id"]),
        "district": "kassel",
    }
    UUID(meta["correlation_id"])
