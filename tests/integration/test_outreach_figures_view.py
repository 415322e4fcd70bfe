"""The outreach figures against the real Kafka and PostgreSQL: the report's own consumer
groups count the product topics' events (once, however often they come), the demo's figures
are the hand-counted ones (and all of them small, so suppressed), the days until a contact is
restored give the median, an erased person's open case is forgotten, and a rebuild from the
topics — sending nothing — gives the same figures."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from contacts.reporting import report
from contacts.reporting.figures import GERMANY, month_of
from contacts.reporting.rebuild import rebuild
from contacts.reporting.view import OutreachReportView, consumer_name, report_consumers
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from psycopg_pool import ConnectionPool

from deploy.local.demo_data import DEMO_CASES
from shared.contracts import Envelope, Payload
from shared.contracts.contacts import (
    ContactChannel,
    ContactLost,
    ContactLostReason,
    ContactRestored,
    Evidence,
    SealedPerson,
)
from shared.contracts.visits import (
    MeetingPlace,
    NextStep,
    Schedule,
    VisitAnnounced,
    VisitCompleted,
    VisitOutcome,
    VisitPurpose,
)
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.views import build_view
from shared.messaging.consumer import DeadLetters
from shared.messaging.kafka import build_broker, ensure_topics
from shared.messaging.subscription import register
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import scratch_database

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TODAY = NOW.astimezone(GERMANY).date()
"""Today in Germany, where the figures' months are counted."""


@pytest.fixture
def database(stack: ServiceSettings) -> Iterator[str]:
    with scratch_database(stack, "outreach_report") as name:
        yield name


@pytest.fixture
def view(stack: ServiceSettings, database: str) -> OutreachReportView:
    return build_view(OutreachReportView, eventsourcing_env(stack, database), "outreach_report")


@pytest.fixture
def pool(stack: ServiceSettings, database: str) -> Iterator[ConnectionPool]:
    with ConnectionPool(stack.database_url(database), min_size=1, max_size=2) as pool:
        yield pool


@pytest.fixture
def topics(stack: ServiceSettings) -> dict[str, str]:
    """Scratch topics in the place of ``outreach.contacts``, ``.visits``, ``.coaching``."""
    base = f"test.{uuid.uuid4().hex[:10]}"
    names = {kind: f"{base}.{kind}" for kind in ("contacts", "visits", "coaching")}
    ensure_topics(stack, [t for name in names.values() for t in (name, name + ".dlq")])
    return names


@pytest.fixture
def producer(stack: ServiceSettings) -> Iterator[Any]:
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    yield producer
    producer.close()


def envelope(
    payload: Payload, district: str, subject: uuid.UUID, at: datetime = NOW
) -> Envelope[Payload]:
    contract: Any = Envelope[type(payload)]  # type: ignore[misc]
    made: Envelope[Payload] = contract(
        event_id=uuid.uuid4(),
        event_type=payload.event_type,
        schema_version=payload.schema_version,
        occurred_at=at,
        producer="test",
        district=district,
        subject=subject,
        correlation_id=uuid.uuid4(),
        payload=payload,
    )
    return made


class Person:
    """One invented person's case, and the events about it as the services publish them."""

    def __init__(self, cipher: PersonalDataCipher, district: str) -> None:
        self.subject = cipher.subject_for(uuid.uuid4().hex)
        self.case_id = uuid.uuid4()
        self.district = district
        self._token = cipher.seal(self.subject, "Erfundene Person")

    def lost(self, reason: ContactLostReason, at: datetime = NOW) -> Envelope[Payload]:
        sealed = SealedPerson(customer_number=self._token, name=self._token, address=self._token)
        payload = ContactLost(
            case_id=self.case_id,
            local_office="mitte",
            person=sealed,
            reason=reason,
            evidence=Evidence(unanswered_letters=2, missed_appointments=1),
            case_manager="cm-test",
            reported_by="cm-test",
        )
        return envelope(payload, self.district, self.subject, at)

    def announced(self, on: date = TODAY) -> Envelope[Payload]:
        payload = VisitAnnounced(
            visit_id=uuid.uuid4(),
            case_id=self.case_id,
            workers=["ow-test"],
            schedule=Schedule(first_day=on + timedelta(days=7), last_day=on + timedelta(days=7)),
            purpose=VisitPurpose.FIRST_CONTACT,
            place=MeetingPlace.HOME,
            announced_on=on,
            name=self._token,
            address=self._token,
            announced_by="ow-test",
        )
        return envelope(payload, self.district, self.subject)

    def visited(self, outcome: VisitOutcome, on: date = TODAY) -> Envelope[Payload]:
        payload = VisitCompleted(
            visit_id=uuid.uuid4(),
            case_id=self.case_id,
            outcome=outcome,
            contact_made=outcome.contact_made,
            completed_on=on,
            attempt_number=1,
            coaching_referral_consent=False,
            needs=None,
            next_step=NextStep.NONE,
            recorded_by="ow-test",
        )
        return envelope(payload, self.district, self.subject)

    def restored(self, channel: ContactChannel, on: date = TODAY) -> Envelope[Payload]:
        payload = ContactRestored(
            case_id=self.case_id,
            channel=channel,
            restored_on=on,
            case_manager="cm-test",
            recorded_by="cm-test",
        )
        return envelope(payload, self.district, self.subject)


def publish(producer: Any, topic: str, *envelopes: Envelope[Payload]) -> None:
    for item in envelopes:
        producer.send(topic, value=item.model_dump_json().encode(), key=item.subject.bytes)
    producer.flush()


def end_offsets(stack: ServiceSettings, names: list[str]) -> dict[Any, int]:
    consumer = KafkaConsumer(bootstrap_servers=stack.kafka_bootstrap, group_id=None)
    try:
        consumer.topics()
        partitions = [
            TopicPartition(name, p)
            for name in names
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        return dict(consumer.end_offsets(partitions))
    finally:
        consumer.close()


class Consuming:
    """The report's consumers on the scratch topics, with a broker of their own."""

    def __init__(
        self,
        stack: ServiceSettings,
        view: OutreachReportView,
        pool: ConnectionPool,
        topics: dict[str, str],
    ) -> None:
        self.prefix = f"contacts-test-{uuid.uuid4().hex[:8]}"
        self.broker = build_broker(stack, self.prefix)
        self.dead_letters = DeadLetters(self.broker, pool)
        self.dead_letters.create_schema()
        for consumer in report_consumers(view, prefix=self.prefix, topics=list(topics.values())):
            register(self.broker, consumer, self.dead_letters, retries=1, backoff_seconds=0.05)

    async def __aenter__(self) -> Consuming:
        await self.broker.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.broker.stop()


async def counted(
    view: OutreachReportView, districts: list[str], figure: str, expected: int
) -> dict[tuple[str, date], dict[str, int]]:
    """The view's counts, once ``figure`` adds up to ``expected`` over ``districts``."""
    first, last = date(2000, 1, 1), date(2100, 1, 1)
    async with asyncio.timeout(30):
        while True:
            counts = view.counts(districts, first, last)
            if sum(cells.get(figure, 0) for cells in counts.values()) >= expected:
                return counts
            await asyncio.sleep(0.2)


def figures_of(view: OutreachReportView, districts: list[str]) -> tuple[Any, Any]:
    first, last = date(2000, 1, 1), date(2100, 1, 1)
    return view.counts(districts, first, last), view.restored_days(districts, first, last)


async def test_the_demo_data_gives_the_hand_counted_figures_all_suppressed_in_small_districts(
    stack: ServiceSettings,
    view: OutreachReportView,
    pool: ConnectionPool,
    topics: dict[str, str],
    producer: Any,
    cipher: PersonalDataCipher,
) -> None:
    # What `make up` loads (deploy/local/demo.py): the four demo cases, a visit announced to
    # Erika Beispiel (Kassel), the Darmstadt-Dieburg case restored by phone; under districts
    # of this test alone.
    suffix = uuid.uuid4().hex[:6]
    people = []
    for case in DEMO_CASES:
        who = Person(cipher, f"{case['district']}-{suffix}")
        people.append(who)
        publish(producer, topics["contacts"], who.lost(ContactLostReason(case["reason"])))
    kassel, dadi = f"kassel-{suffix}", f"darmstadt-dieburg-{suffix}"
    erika = people[0]
    publish(producer, topics["visits"], erika.announced())
    publish(producer, topics["contacts"], people[3].restored(ContactChannel.PHONE))

    async with Consuming(stack, view, pool, topics):
        counts = await counted(view, [kassel, dadi], "contact_restored", 1)
        await counted(view, [kassel, dadi], "visits_announced", 1)
        counts = view.counts([kassel, dadi], date(2000, 1, 1), date(2100, 1, 1))

    month = month_of(NOW)
    assert counts == {
        (kassel, month): {
            "contacts_lost": 3,
            "contacts_lost.missed_appointments": 1,
            "contacts_lost.school_leaver_untraced": 1,
            "contacts_lost.mail_returned": 1,
            "visits_announced": 1,
        },
        (dadi, month): {
            "contacts_lost": 1,
            "contacts_lost.unanswered_invitations": 1,
            "contact_restored": 1,
            "contact_restored.phone": 1,
        },
    }
    rows = report.rows([kassel, dadi], month, month, counts, {})
    published = {row.district: {k: v for k, v in row.cells.items() if v != 0} for row in rows}
    assert published == {
        kassel: {
            "contacts_lost": "<5",
            "contacts_lost.missed_appointments": "<5",
            "contacts_lost.school_leaver_untraced": "<5",
            "contacts_lost.mail_returned": "<5",
            "visits_announced": "<5",
        },
        dadi: {
            "contacts_lost": "<5",
            "contacts_lost.unanswered_invitations": "<5",
            "contact_restored": "<5",
            "contact_restored.phone": "<5",
        },
    }
    assert all(row.median_days_to_restore is None for row in rows)


async def test_a_rebuild_from_the_topics_gives_the_same_figures_and_sends_nothing(
    stack: ServiceSettings,
    view: OutreachReportView,
    pool: ConnectionPool,
    topics: dict[str, str],
    producer: Any,
    cipher: PersonalDataCipher,
) -> None:
    district = f"test-{uuid.uuid4().hex[:8]}"
    days_ago = [3, 10, 10, 20, 40, 60]
    people = [Person(cipher, district) for _ in days_ago]
    for who, days in zip(people, days_ago, strict=True):
        lost = who.lost(ContactLostReason.MISSED_APPOINTMENTS, at=NOW - timedelta(days=days))
        publish(producer, topics["contacts"], lost, lost)  # the relay published it again
    for who in people[:5]:
        publish(
            producer, topics["visits"], who.announced(), who.visited(VisitOutcome.MET_AND_TALKED)
        )
    publish(producer, topics["visits"], people[5].visited(VisitOutcome.ENTRY_REFUSED))
    for who in people[:5]:
        publish(
            producer, topics["contacts"], who.restored(ContactChannel.AFTER_ANNOUNCEMENT_LETTER)
        )
    erased = people[5]
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO erasure_ledger (erasure_id, subject_id, district, erased_event_id, "
            "correlation_id, forgotten_at) VALUES (%s, %s, %s, %s, %s, now())",
            (uuid.uuid4(), erased.subject, district, uuid.uuid4(), uuid.uuid4()),
        )

    async with Consuming(stack, view, pool, topics) as consuming:
        await counted(view, [district], "contact_restored", 5)
        await counted(view, [district], "visits_made", 6)
        before = figures_of(view, [district])
        open_before = view.query("SELECT case_id FROM outreach_report_open_cases")
    names = [t for name in topics.values() for t in (name, name + ".dlq")]
    offsets = end_offsets(stack, names)

    done = rebuild(
        view, stack.kafka_bootstrap, prefix=consuming.prefix, topics=list(topics.values())
    )

    assert figures_of(view, [district]) == before
    assert end_offsets(stack, names) == offsets  # nothing was sent
    assert done.read[topics["contacts"]] == 17  # six reported twice, five restored
    assert done.applied[topics["contacts"]] == 11
    assert view.query("SELECT case_id FROM outreach_report_open_cases") == open_before == []
    processed = view.query(
        "SELECT count(*) AS n FROM processed_messages WHERE consumer = %s",
        (consumer_name(consuming.prefix, topics["contacts"]),),
    )
    assert processed[0]["n"] == 11

    counts, days = before
    lost_months = {month_of(NOW - timedelta(days=d)) for d in days_ago}
    assert sum(counts[(district, m)]["contacts_lost"] for m in lost_months) == 6
    this_month = counts[(district, month_of(NOW))]
    assert this_month["contact_restored.after_announcement_letter"] == 5
    assert (this_month["visits_made"], this_month["visits_reached"]) == (6, 5)
    reported = [(NOW - timedelta(days=d)).astimezone(GERMANY).date() for d in days_ago[:5]]
    expected_days = sorted((TODAY - day).days for day in reported)
    restored_days = days[(district, month_of(TODAY))]
    assert sorted(d for d, n in restored_days for _ in range(n)) == expected_days
    (row,) = report.rows([district], month_of(TODAY), month_of(TODAY), counts, days)
    assert row.cells["contact_restored.after_announcement_letter"] == 5
    assert row.cells["visits_made"] == 6
    assert row.reach_rate == round(5 / 6, 3)
    assert row.median_days_to_restore == float(expected_days[2])  # of five


def test_an_erased_persons_open_case_is_forgotten(
    view: OutreachReportView, cipher: PersonalDataCipher
) -> None:
    who = Person(cipher, f"test-{uuid.uuid4().hex[:8]}")
    with view.datastore.transaction(commit=True) as cursor:
        view.apply(cursor, who.lost(ContactLostReason.MAIL_RETURNED))
    assert len(view.query("SELECT * FROM outreach_report_open_cases")) == 1

    with view.datastore.transaction(commit=True) as cursor:
        view.forget(cursor, who.subject)

    assert view.query("SELECT * FROM outreach_report_open_cases") == []
    counts = view.counts([who.district], date(2000, 1, 1), date(2100, 1, 1))
    assert counts[(who.district, month_of(NOW))]["contacts_lost"] == 1  # a count names nobody


def test_the_reads_of_figures_are_found_by_any_district_read_by_user_and_by_time(
    view: OutreachReportView,
) -> None:
    def read(user: str, *districts: str) -> None:
        view.record_read(
            user=user,
            role="management",
            user_districts=["kassel", "kreis-borken", "offenbach"],
            districts=list(districts),
            first=date(2026, 1, 1),
            last=date(2026, 11, 1),
            form="json",
        )

    read("a", "kassel")
    read("b", "kassel", "kreis-borken")
    between = datetime.now(UTC)
    read("a", "offenbach")
    read("b", "kreis-borken")

    def found(districts: list[str], **filters: Any) -> list[tuple[str, list[str]]]:
        return [(r["user_id"], r["districts"]) for r in view.reads(districts, **filters)]

    assert found(["kassel"]) == [("a", ["kassel"]), ("b", ["kassel", "kreis-borken"])]
    assert found(["kreis-borken"], user="b") == [
        ("b", ["kassel", "kreis-borken"]),
        ("b", ["kreis-borken"]),
    ]
    assert found(["kassel", "offenbach"], since=between) == [("a", ["offenbach"])]
    assert found(["kreis-borken"], until=between, limit=5) == [("b", ["kassel", "kreis-borken"])]
    assert found(["darmstadt"]) == []
