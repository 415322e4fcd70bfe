"""The bulk import against the real PostgreSQL: batched subject lookup in the keyring, the
open-case check in one query, per-row results — and a projection rebuilt from scratch."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from contacts.application import CaseImport, Contacts, PersonDetails
from contacts.projections.queue import CaseQueueProjection, CaseQueueView

from shared.contracts.contacts import ContactLostReason
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.eventsourcing.persistence import eventsourcing_env
from shared.eventsourcing.rebuild import rebuild_projection
from shared.eventsourcing.views import build_view
from shared.keyring import Keyring
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True)
def team_lead() -> Iterator[None]:
    """The imports are a team lead's (as an HTTP request of theirs)."""
    with acting_as(CommandContext(actor="tl-anna", role="team_lead")):
        yield


@pytest.fixture(scope="module")
def app(stack: ServiceSettings, cipher: PersonalDataCipher) -> Iterator[Contacts]:
    contacts = Contacts(eventsourcing_env(stack, TEST_DATABASE), cipher=cipher)
    yield contacts
    contacts.close()


def rows(district: str, numbers: list[str]) -> list[CaseImport]:
    return [
        CaseImport(
            district=district,
            local_office="mitte",
            person=PersonDetails(customer_number=n, name=f"Importperson {n}", address="Weg 2"),
            reason=ContactLostReason.UNANSWERED_INVITATIONS,
            unanswered_letters=1,
            missed_appointments=0,
            last_contact_on=None,
            deadline=None,
            case_manager="cm-mueller",
        )
        for n in numbers
    ]


def numbers(count: int) -> list[str]:
    return [f"{uuid.uuid4().int % 1000:03d}I{uuid.uuid4().int % 10**6:06d}" for _ in range(count)]


def test_keyring_subjects_for_matches_subject_for(keyring: Keyring) -> None:
    lookups = [uuid.uuid4().bytes for _ in range(5)]
    known = keyring.subject_for(lookups[0])
    subjects = keyring.subjects_for([*lookups, lookups[1]])
    assert subjects[0] == known
    assert subjects[1] == subjects[5]
    assert len(set(subjects)) == 5
    assert [keyring.subject_for(lookup) for lookup in lookups] == subjects[:5]
    assert all(keyring.data_key(subject) is not None for subject in subjects)


def test_import_rejects_duplicates_per_row(app: Contacts, district: str) -> None:
    people = numbers(6)
    (existing,) = app.import_cases(rows(district, people[:1]))
    assert existing.case_id is not None
    before = app.recorder.max_notification_id()
    results = app.import_cases(rows(district, [*people, people[3]]), batch_size=4)
    codes = [r.error.code if r.error else None for r in results]
    assert codes == [
        "open_case_exists",
        None,
        None,
        None,
        None,
        None,
        "duplicate_in_import",
    ]
    assert (app.recorder.max_notification_id() or 0) - (before or 0) == 2 * 5
    for result, number in zip(results[1:6], people[1:], strict=True):
        assert result.case_id is not None
        case = app.get_case(result.case_id)
        assert app.cipher.open(case.person["customer_number"] or "") == number


def test_rebuild_projection_from_scratch(app: Contacts, stack: ServiceSettings) -> None:
    district = f"test-{uuid.uuid4().hex[:10]}"
    app.import_cases(rows(district, numbers(3)))
    view = build_view(CaseQueueView, eventsourcing_env(stack, TEST_DATABASE), "import_case_queue")
    projection = CaseQueueProjection(view=view)
    applied = rebuild_projection(projection, app, tables=["case_queue"], batch_size=50)
    assert applied > 0
    # The tracking ends at the last event of the projection's topics (the last one of the
    # import is the open-case index, which the queue does not follow).
    assert 0 < (view.max_tracking_id(app.name) or 0) <= (app.recorder.max_notification_id() or 0)
    assert len(view.queue(district, sort="deadline", status=None, limit=10, offset=0)) == 3
