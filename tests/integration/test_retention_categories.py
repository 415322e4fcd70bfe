"""Data categories against the real keyring database: a keyring of before the categories
keeps working after the migration, and the retention job erases the visit notes of a closed
case (only their key) while the case record stays readable."""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from functools import partial
from typing import Any

import psycopg
import pytest
from contacts.api import data_protection
from contacts.api.deps import ContactsState
from contacts.application import Contacts, PersonDetails
from contacts.main import open_contacts
from contacts.retention import (
    Action,
    PersonRecord,
    RetentionJobSettings,
    decide,
    read_people,
    report,
    request_erasures,
)
from contacts.settings import ContactsSettings
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from shared.contracts.contacts import CaseClosedReason, ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.keyring import Keyring
from shared.privacy import ERASED, DataCategory, PersonalDataCipher
from shared.runtime.app import routes_app
from shared.runtime.infrastructure import build_infrastructure
from shared.runtime.running import Running
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE, eventually, person
from tests.support.services import running_service, service_settings

pytestmark = pytest.mark.integration

OLD_SCHEMA = """
CREATE TABLE subject_keys (
    subject_id uuid PRIMARY KEY,
    wrapped_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE subject_index (lookup bytea PRIMARY KEY, subject_id uuid NOT NULL);
CREATE TABLE erased_subjects (
    subject_id uuid PRIMARY KEY,
    erased_at timestamptz NOT NULL DEFAULT now()
);
"""
"""The keyring as it was before the data categories: one key per subject."""


@pytest.fixture
def old_keyring_database(stack: ServiceSettings) -> Iterator[str]:
    """A database of its own holding a keyring of the old schema; dropped afterwards."""
    name = f"outreach_test_keyring_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(stack.database_url(name)) as conn:
            conn.execute(OLD_SCHEMA)
        yield stack.database_url(name)
    finally:
        with psycopg.connect(stack.database_url("postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_keyring_of_before_the_categories_keeps_its_keys_after_the_migration(
    stack: ServiceSettings, old_keyring_database: str
) -> None:
    kek = base64.b64decode(stack.secret("keyring_kek"))
    blind_index_key = b"migration-test-blind-index-key"
    lookup = uuid.uuid4().bytes
    subject = uuid.uuid4()
    data_key = AESGCM.generate_key(bit_length=256)
    nonce, token_nonce = os.urandom(12), os.urandom(12)
    # The row and the token exactly as the keyring and the cipher wrote them before.
    wrapped = nonce + AESGCM(kek).encrypt(nonce, data_key, subject.bytes)
    sealed = token_nonce + AESGCM(data_key).encrypt(token_nonce, b"Erika Alt", subject.bytes)
    old_token = f"pii:v1:{subject.hex}:{base64.urlsafe_b64encode(sealed).decode()}"
    with psycopg.connect(old_keyring_database) as conn:
        conn.execute("INSERT INTO subject_keys VALUES (%s, %s)", (subject, wrapped))
        conn.execute("INSERT INTO subject_index VALUES (%s, %s)", (lookup, subject))

    with ConnectionPool(old_keyring_database, min_size=1, max_size=2) as pool:
        keyring = Keyring(pool, kek, cache_seconds=0)
        keyring.create_schema()
        keyring.create_schema()  # idempotent, as at every start of a service
        cipher = PersonalDataCipher(keyring, blind_index_key)

        assert keyring.subject_for(lookup) == subject
        assert keyring.data_key(subject) == data_key
        assert cipher.open(old_token) == "Erika Alt"
        note = cipher.seal(subject, "Notiz", DataCategory.VISIT_NOTE)
        assert cipher.open(note) == "Notiz"
        fresh = keyring.subject_for(uuid.uuid4().bytes)
        assert cipher.open(cipher.seal(fresh, "Neu")) == "Neu"

        keyring.destroy(subject, DataCategory.VISIT_NOTE)

        assert cipher.open(note) == ERASED
        assert cipher.open(old_token) == "Erika Alt"

        keyring.destroy(subject)

        assert cipher.open(old_token) == ERASED
        with pool.connection() as conn:
            primary_key = conn.execute(
                "SELECT cardinality(conkey) FROM pg_constraint "
                "WHERE conrelid = 'subject_keys'::regclass AND contype = 'p'"
            ).fetchone()
            left = conn.execute(
                "SELECT count(*) FROM subject_keys WHERE subject_id = %s", (subject,)
            ).fetchone()
        assert primary_key == (2,)
        assert left == (0,)


def test_a_category_key_is_stored_wrapped_in_its_own_row(
    keyring: Keyring, cipher: PersonalDataCipher
) -> None:
    subject = keyring.subject_for(uuid.uuid4().bytes)
    note = cipher.seal(subject, "Notiz", DataCategory.VISIT_NOTE)
    record = cipher.seal(subject, "Name")

    keyring.destroy(subject, DataCategory.VISIT_NOTE)

    assert keyring.data_key(subject, DataCategory.VISIT_NOTE) is None
    assert keyring.data_key(subject) is not None
    assert cipher.open(note) == ERASED
    assert cipher.open(record) == "Name"
    later = cipher.seal(subject, "neue Notiz", DataCategory.VISIT_NOTE)
    assert cipher.open(later) == "neue Notiz"
    assert cipher.open(note) == ERASED


CTX = CommandContext(actor="tl-anna", role="team_lead")


@contextlib.contextmanager
def contacts_with_views(settings: ServiceSettings) -> Iterator[tuple[Contacts, Running]]:
    """Contacts in the test database, opened as its process opens it, with the views the
    retention job reads kept by its projection runners."""
    contacts_settings = service_settings(ContactsSettings, settings, "contacts-test")
    infra = build_infrastructure("contacts", contacts_settings)
    with running_service(infra, partial(open_contacts, infra, contacts_settings)) as running:
        context = running.service.state
        assert isinstance(context, ContactsState)
        yield context.contacts, running


def report_lost(app: Contacts, district: str, who: dict[str, Any]) -> uuid.UUID:
    """Report ``who`` as lost to ``app`` (a case manager's report, two missed appointments)."""
    with acting_as(CTX):
        return app.report_contact_lost(
            district=district,
            local_office="mitte",
            person=PersonDetails(
                customer_number=who["customer_number"], name=who["name"], address=who["address"]
            ),
            reason=ContactLostReason.MISSED_APPOINTMENTS,
            unanswered_letters=2,
            missed_appointments=2,
            last_contact_on=None,
            deadline=None,
            case_manager="cm-test",
        )


def person_in_views(dsn: str, subject: uuid.UUID, **expected: Any) -> PersonRecord:
    """The person as the retention job reads them, once the views show ``expected``."""

    def probe() -> PersonRecord | None:
        for record in read_people(dsn):
            if record.subject == subject and all(
                getattr(record, name) == value for name, value in expected.items()
            ):
                return record
        return None

    return eventually(probe, timeout=60, what=f"the contacts views to show {expected}")


def data_protection_app(running: Running) -> FastAPI:
    """The officer's routes of contacts over the running service."""
    http = routes_app(
        running.infra, title="contacts (test)", description="", routers=[data_protection.router]
    )
    http.state.service = running.service.state
    return http


def test_the_retention_job_erases_the_notes_of_a_closed_case_and_keeps_the_record(
    stack: ServiceSettings, keyring: Keyring, cipher: PersonalDataCipher, district: str
) -> None:
    who = person()
    settings = RetentionJobSettings()
    with contacts_with_views(stack) as (app, running):
        case_id = report_lost(app, district, who)
        case = app.get_case(case_id)
        subject = case.subject_id
        note = cipher.seal(subject, "Nachbarin sagt, sie ist oft bei ihrer Tochter", "visit_note")
        with acting_as(CTX):
            app.close_case(case_id, reason=CaseClosedReason.CONTACT_LASTING)
        dsn = stack.database_url(TEST_DATABASE)
        closed = person_in_views(dsn, subject, last_closed_on=date.today())
        client = TestClient(data_protection_app(running))
        in_two_years = date.today() + timedelta(days=2 * 366)

        [due] = decide([closed], settings.periods, in_two_years)
        assert (due.category, due.action) == ("visit_notes", Action.ERASE)
        assert f"erase                        visit_notes  due {due.due_on}" in report(
            [due], dry_run=True
        )
        assert cipher.open(note) != ERASED  # the dry run changed nothing

        [(_, outcome)] = request_erasures([due], settings, client)

        assert outcome.startswith("erasure "), outcome
        assert cipher.open(note) == ERASED
        assert keyring.data_key(subject, DataCategory.VISIT_NOTE) is None
        assert cipher.open(case.person["name"]) == who["name"]
        assert cipher.open(case.person["address"]) == who["address"]
        assert app.erasure_of(subject) is None  # the person is not erased
        erasure = app.get_category_erasure(uuid.UUID(outcome.split()[1]))
        assert erasure.category == "visit_note"
        assert erasure.ground == "retention_period_ended"
        assert erasure.requested_by == "retention-job"
        assert erasure.key_destroyed_at is not None
        erased_notes = person_in_views(dsn, subject, notes_erased_on=date.today())
        assert decide([erased_notes], settings.periods, in_two_years) == []
        [record] = decide([erased_notes], settings.periods, in_two_years + timedelta(days=4 * 366))
        assert record.category == "case_record"


def test_a_legal_hold_keeps_the_notes_from_the_retention_job(
    stack: ServiceSettings, keyring: Keyring, cipher: PersonalDataCipher, district: str
) -> None:
    who = person()
    settings = RetentionJobSettings()
    with contacts_with_views(stack) as (app, running):
        case_id = report_lost(app, district, who)
        subject = app.get_case(case_id).subject_id
        note = cipher.seal(subject, "Notiz unter Vorbehalt", DataCategory.VISIT_NOTE)
        with acting_as(CTX):
            app.close_case(case_id, reason=CaseClosedReason.CONTACT_LASTING)
            app.place_legal_hold(subject, district=district, reason="Az. SG-2031-7")
        held_person = person_in_views(
            stack.database_url(TEST_DATABASE), subject, last_closed_on=date.today(), legal_hold=True
        )
        client = TestClient(data_protection_app(running))

        [held] = decide([held_person], settings.periods, date.today() + timedelta(days=2 * 366))
        assert (held.category, held.action) == ("visit_notes", Action.HELD)
        assert request_erasures([held], settings, client) == []

        # Asked directly, contacts refuses too.
        forced = dataclasses.replace(held, action=Action.ERASE)
        [(_, outcome)] = request_erasures([forced], settings, client)

        assert outcome == "refused 409 legal_hold"
        assert cipher.open(note) == "Notiz unter Vorbehalt"
