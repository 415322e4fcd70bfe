"""Tamper evidence: the hash chain over a service's stored events, tampered with in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest
from contacts.application import Contacts, PersonDetails
from psycopg_pool import ConnectionPool

from shared.chain import EventChain
from shared.contracts.contacts import ContactChannel, ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.eventsourcing.persistence import eventsourcing_env
from shared.keyring import Keyring
from shared.privacy import ERASED, PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import person, scratch_database

pytestmark = pytest.mark.integration


@pytest.fixture
def database(stack: ServiceSettings) -> Iterator[str]:
    with scratch_database(stack, "chain") as name:
        yield name


@pytest.fixture
def contacts(
    stack: ServiceSettings, database: str, cipher: PersonalDataCipher
) -> Iterator[Contacts]:
    app = Contacts(eventsourcing_env(stack, database), cipher=cipher)
    with acting_as(CommandContext(actor="cm-test", role="case_manager")):
        for _ in range(3):
            data = person()
            case_id = app.report_contact_lost(
                district="test-chain",
                local_office="mitte",
                person=PersonDetails(
                    customer_number=data["customer_number"],
                    name=data["name"],
                    address=data["address"],
                ),
                reason=ContactLostReason.MAIL_RETURNED,
                unanswered_letters=1,
                missed_appointments=0,
                last_contact_on=date(2026, 2, 1),
                deadline=None,
                case_manager="cm-test",
            )
            app.restore_contact(
                case_id,
                channel=ContactChannel.PHONE,
                restored_on=date(2026, 11, 2),
            )
    yield app
    app.close()


@pytest.fixture
def chain(stack: ServiceSettings, database: str, contacts: Contacts) -> Iterator[EventChain]:
    with ConnectionPool(stack.database_url(database), min_size=1, max_size=2) as pool:
        chain = EventChain(pool, contacts.name)
        chain.create_schema()
        while chain.extend(limit=4):
            pass
        yield chain


def execute(stack: ServiceSettings, database: str, statement: str, *params: object) -> None:
    with psycopg.connect(stack.database_url(database), autocommit=True) as conn:
        conn.execute(statement.encode(), params)


def test_an_untouched_event_log_verifies(chain: EventChain, contacts: Contacts) -> None:
    result = chain.verify()

    assert result.intact
    assert result.verified == contacts.recorder.max_notification_id()


def test_the_chain_still_verifies_after_a_person_was_erased(
    chain: EventChain, contacts: Contacts, keyring: Keyring, cipher: PersonalDataCipher
) -> None:
    notification = contacts.recorder.select_notifications(start=1, limit=1)[0]
    case = contacts.get_case(notification.originator_id)
    keyring.destroy(case.subject_id)

    assert cipher.open(str(case.person["name"])) == ERASED
    assert chain.verify().intact


def test_a_modified_event_is_reported_with_its_position(
    chain: EventChain, stack: ServiceSettings, database: str
) -> None:
    execute(
        stack,
        database,
        "UPDATE contacts_events SET state = overlay(state placing 'X'::bytea from 20) "
        "WHERE notification_id = 4",
    )

    result = chain.verify()

    assert (result.problem, result.notification_id, result.verified) == ("modified", 4, 3)


def test_a_deleted_event_is_reported(
    chain: EventChain, stack: ServiceSettings, database: str
) -> None:
    execute(stack, database, "DELETE FROM contacts_events WHERE notification_id = 3")

    result = chain.verify()

    assert (result.problem, result.notification_id) == ("deleted", 3)


def test_an_event_deleted_together_with_its_link_is_reported(
    chain: EventChain, stack: ServiceSettings, database: str
) -> None:
    execute(stack, database, "DELETE FROM contacts_events WHERE notification_id = 5")
    execute(stack, database, "DELETE FROM contacts_chain WHERE notification_id = 5")

    result = chain.verify()

    assert (result.problem, result.notification_id) == ("deleted", 5)


def test_an_inserted_event_is_reported(
    chain: EventChain, stack: ServiceSettings, database: str
) -> None:
    execute(
        stack,
        database,
        "INSERT INTO contacts_events (originator_id, originator_version, topic, state, "
        "notification_id) SELECT %s, 1, topic, state, 0 FROM contacts_events "
        "WHERE notification_id = 1",
        uuid.uuid4(),
    )

    result = chain.verify()

    assert (result.problem, result.notification_id) == ("inserted", 0)


def test_a_chain_rewritten_inside_the_database_differs_from_its_anchor(
    chain: EventChain, stack: ServiceSettings, database: str
) -> None:
    anchor = chain.anchor()
    assert anchor is not None
    execute(
        stack,
        database,
        "UPDATE contacts_events SET state = overlay(state placing 'X'::bytea from 20) "
        "WHERE notification_id = 2",
    )
    execute(stack, database, "DELETE FROM contacts_chain")
    while chain.extend():
        pass

    assert chain.verify().intact  # consistent in itself ...
    result = chain.verify([anchor])  # ... but not with the digest kept outside

    assert (result.problem, result.notification_id) == ("anchor_mismatch", anchor.notification_id)
