"""The notifications service as a process: an event on Kafka becomes one e-mail at a real
SMTP server, even when the service is SIGKILLed between sending it and recording that it
was sent, and a visit announcement becomes a letter in the print batch."""

from __future__ import annotations

import asyncio
import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SmtpEnvelope
from kafka import KafkaProducer
from psycopg import sql
from pypdf import PdfReader

from shared.contracts import Envelope, Payload, topic_of
from shared.contracts.contacts import ContactRestored
from shared.contracts.visits import MeetingPlace, Schedule, VisitAnnounced, VisitPurpose
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.e2e import configure_letters
from tests.support.helpers import eventually, person
from tests.support.notifications import MailSink, publish
from tests.support.processes import ServiceProcess, start_group_at_end

pytestmark = pytest.mark.e2e

GROUPS = ("directory-contacts", "contacts", "directory-visits", "visits")


class HoldingMailSink(MailSink):
    """Keeps a message, and while ``hold`` is set does not answer before the test says so:
    the message has arrived, the sender has not heard back yet."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(  # aiosmtpd calls this hook by its name
        self, server: SMTP, session: Session, envelope: SmtpEnvelope
    ) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        while self.hold.is_set() and not self.release.is_set():
            await asyncio.sleep(0.05)
        return answer


@pytest.fixture(scope="module")
def sink() -> Iterator[HoldingMailSink]:
    mail = HoldingMailSink()
    mail.start()
    yield mail
    mail.release.set()
    mail.stop()


@pytest.fixture(scope="module")
def notifications_service(
    stack: ServiceSettings, e2e_dir: Path, sink: HoldingMailSink, mint: Callable[..., str]
) -> Iterator[ServiceProcess]:
    database = f"notifications_e2e_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    for group in GROUPS:
        producer = group.rsplit("-", 1)[-1]
        start_group_at_end(stack, f"{database}-{group}", topic_of(producer))
    start_group_at_end(stack, f"{database}-coaching", topic_of("coaching"))
    start_group_at_end(stack, f"{database}-directory-coaching", topic_of("coaching"))
    env = {
        "OUTREACH_SERVICE_NAME": database,
        "OUTREACH_SMTP_PORT": str(sink.port),
        "OUTREACH_KEY_CACHE_SECONDS": "0",
        "OUTREACH_OUTBOX_POLL_SECONDS": "0.2",
    }
    service = ServiceProcess("notifications", e2e_dir, env)
    service.start()
    yield service
    service.stop()
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )


@pytest.fixture
def producer(stack: ServiceSettings) -> Iterator[Any]:
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    yield producer
    producer.close()


def envelope(payload: Payload, district: str, subject: uuid.UUID, producer: str) -> Any:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    return contract(
        event_id=uuid.uuid4(),
        event_type=payload.event_type,
        schema_version=1,
        occurred_at=datetime.now(UTC),
        producer=producer,
        district=district,
        subject=subject,
        correlation_id=uuid.uuid4(),
        payload=payload,
    )


def notifications_of(
    service: ServiceProcess, headers: dict[str, str], district: str, event_id: uuid.UUID
) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{service.url}/notifications",
        params={"district": district, "source_event_id": str(event_id)},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()
    return rows


def test_an_email_is_not_sent_again_after_a_kill_between_sending_and_recording(
    notifications_service: ServiceProcess,
    sink: HoldingMailSink,
    producer: Any,
    district: str,
    mint: Callable[..., str],
) -> None:
    headers = {"Authorization": f"Bearer {mint('tl-e2e', 'team_lead', district)}"}
    event = envelope(
        ContactRestored(
            case_id=uuid.uuid4(),
            channel="phone",
            restored_on=date.today(),
            case_manager="cm-e2e",
            recorded_by="cm-e2e",
        ),
        district,
        uuid.uuid4(),
        "contacts",
    )
    sink.hold.set()
    publish(producer, topic_of("contacts"), event, event)  # and delivered twice

    def arrived() -> list[Any]:
        return [m for m in sink.received() if str(event.payload.case_id) in m["Subject"]]

    eventually(arrived, timeout=60, what="the e-mail at the mail server")
    # The mail server has the message; the service waits for its answer: kill it now.
    notifications_service.kill()
    sink.release.set()

    notifications_service.start()

    def given_up() -> list[dict[str, Any]] | None:
        rows = notifications_of(notifications_service, headers, district, event.event_id)
        return rows if rows and rows[0]["status"] == "given_up" else None

    rows = eventually(given_up, timeout=60, what="the unconfirmed attempt given up")
    assert len(rows) == 1
    assert rows[0]["given_up_reason"] == "delivery_unconfirmed"
    assert rows[0]["attempts"] == 1
    time.sleep(3)  # time for any (wrong) second attempt to arrive
    assert len(arrived()) == 1


def test_an_announced_visit_is_a_letter_in_the_print_batch_of_the_running_service(
    notifications_service: ServiceProcess,
    producer: Any,
    district: str,
    mint: Callable[..., str],
    cipher: PersonalDataCipher,
) -> None:
    headers = {"Authorization": f"Bearer {mint('tl-e2e', 'team_lead', district)}"}
    with httpx.Client(base_url=notifications_service.url, timeout=10) as client:
        configure_letters(client, headers, district, {"ow-yilmaz": ("Ayşe Yılmaz", "frau")})
    who = person()
    subject = cipher.subject_for(who["customer_number"])
    first = date.today() + timedelta(days=6)
    event = envelope(
        VisitAnnounced(
            visit_id=uuid.uuid4(),
            case_id=uuid.uuid4(),
            workers=["ow-yilmaz"],
            schedule=Schedule(first_day=first, last_day=first),
            purpose=VisitPurpose.FIRST_CONTACT,
            place=MeetingPlace.HOME,
            announced_on=date.today(),
            name=cipher.seal(subject, who["name"]),
            address=cipher.seal(subject, who["address"]),
            announced_by="ow-yilmaz",
        ),
        district,
        subject,
        "visits",
    )
    publish(producer, topic_of("visits"), event)

    def sent() -> list[dict[str, Any]] | None:
        rows = notifications_of(notifications_service, headers, district, event.event_id)
        return rows if rows and rows[0]["status"] == "sent" else None

    rows = eventually(sent, timeout=60, what="the letter")
    day = rows[0]["print_day"]
    batch = httpx.get(
        f"{notifications_service.url}/print-batches/{district}/{day}.pdf",
        headers={**headers, "X-Purpose": "visit_planning: print run"},
        timeout=10,
    )
    assert batch.status_code == 200
    assert batch.headers["x-letters"] == "1"
    assert batch.content.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(batch.content)).pages)
    assert "Frau Ayşe Yılmaz" in text
