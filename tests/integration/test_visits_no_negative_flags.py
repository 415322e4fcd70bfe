"""Refusing entry, or not being met, has no negative consequence (DOMAIN.md, step 3): no
event, view row or API response carries a flag like "uncooperative" or "refused", and a
person who refused entry is treated exactly like a person who was not met.

The proof looks everywhere the outcome could leave a mark: the published contracts' JSON
Schemas, the integration events, the view rows, and the API's answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from visits.domain import Visit, VisitRules
from visits.integration import to_integration_event

from shared.contracts.contacts import ContactLost
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import eventually
from tests.support.visits import VisitsHarness, http_app, put_on_board, visits_harness

pytestmark = pytest.mark.integration

SCHEMAS = Path(__file__).resolve().parents[2] / "shared/contracts/schemas"
MARKING = re.compile(
    r"cooperat|refus|sanction|complian|unwilling|penalt|negative|reluctan|resist|"
    r"blacklist|warning|strike|hostile|suspicio|noshow|no_show",
    re.IGNORECASE,
)
"""Words that would mark a person; only the outcome value ``entry_refused`` may say it."""

NEUTRAL_BOOLEANS = {"contact_made", "coaching_referral_consent"}
IDENTITY = {"case_id", "visit_id", "subject_id", "name", "address", "name_token", "address_token"}
IDENTITY |= {"announced_at", "local_office"}


def keys_and_values(document: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every (path, key, value) of a JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield path, str(key), value
            if isinstance(value, list):  # the items of a list stand under the list's key
                for item in value:
                    if not isinstance(item, dict | list):
                        yield path, str(key), item
            yield from keys_and_values(value, f"{path}/{key}")
    elif isinstance(document, list):
        for item in document:
            yield from keys_and_values(item, path)


def assert_nothing_marks_the_person(document: Any) -> None:
    for path, key, value in keys_and_values(document):
        assert not MARKING.search(key), f"{path}/{key} marks the person"
        if isinstance(value, str) and MARKING.search(value):
            assert key in {"outcome", "enum"}, f"{path}/{key}={value!r} marks the person"
        if isinstance(value, bool) and key not in NEUTRAL_BOOLEANS:
            pytest.fail(f"{path}/{key} is a boolean flag: {value!r}")


def without_identity(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in IDENTITY and k != "outcome"}


def test_no_published_contract_has_a_field_that_marks_a_person() -> None:
    schemas = [json.loads(p.read_text()) for p in sorted(SCHEMAS.glob("Visit*.json"))]
    assert len(schemas) == 4

    for schema in schemas:
        properties = [
            name
            for _, key, value in keys_and_values(schema)
            if key == "properties"
            for name in value
        ]
        assert properties
        assert not [name for name in properties if MARKING.search(name)]
        enum_values = [
            item
            for _, key, value in keys_and_values(schema)
            if key == "enum"
            for item in value
            if isinstance(item, str) and MARKING.search(item)
        ]
        assert set(enum_values) <= {"entry_refused"}  # an outcome, like any other
    completed = json.loads((SCHEMAS / "VisitCompleted.v1.json").read_text())
    booleans = {
        name
        for _, key, value in keys_and_values(completed)
        if key == "properties"
        for name, spec in value.items()
        if spec.get("type") == "boolean"
    }
    assert booleans == NEUTRAL_BOOLEANS


@pytest.fixture(scope="module")
def harness(stack: ServiceSettings, cipher: PersonalDataCipher) -> Iterator[VisitsHarness]:
    # No lead time: a visit announced for today can be made, and its outcome recorded, today.
    rules = VisitRules(default_min_lead_days=0)
    with visits_harness(stack, rules=rules) as running:
        yield running


@pytest.fixture(scope="module")
def client(harness: VisitsHarness, stack: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(http_app(harness, stack)) as test_client:
        yield test_client


def test_refused_entry_does_not_mark_the_client_as_uncooperative(
    harness: VisitsHarness, client: TestClient, mint: Callable[..., str], district: str
) -> None:
    purpose = {"X-Purpose": "visit_planning"}
    worker = {
        "Authorization": f"Bearer {mint('ow-yilmaz', 'outreach_worker', district)}",
        **purpose,
    }
    lead = {"Authorization": f"Bearer {mint('tl-anna', 'team_lead', district)}", **purpose}
    day = date.today()
    cases: dict[str, UUID] = {}
    visits: dict[str, str] = {}
    for outcome in ("not_met", "entry_refused"):
        lost, _ = put_on_board(harness, district, deadline=day + timedelta(days=30))
        payload = lost.payload
        assert isinstance(payload, ContactLost)
        cases[outcome] = payload.case_id
        created = client.post(
            "/visits",
            json={
                "case_id": str(payload.case_id),
                "workers": ["ow-yilmaz"],
                "purpose": "first_contact",
                "date": day.isoformat(),
            },
            headers=worker,
        )
        assert created.status_code == 201, created.text
        visits[outcome] = created.json()["visit_id"]
    for outcome, visit_id in visits.items():
        recorded = client.post(
            f"/visits/{visit_id}/outcome",
            json={"outcome": outcome, "next_step": "revisit"},
            headers=worker,
        )
        assert recorded.status_code == 200, recorded.text
        assert_nothing_marks_the_person(recorded.json())

    def board() -> Any:
        response = client.get("/board", params={"district": district}, headers=lead)
        body = response.json()
        return body if body["counts"]["revisits"] == 2 else None

    board_answer = eventually(board, what="both people back on the board")
    assert_nothing_marks_the_person(board_answer)
    entries = {e["case_id"]: e for e in board_answer["sections"]["revisits"]}
    not_met, refused = (entries[str(cases[o])] for o in ("not_met", "entry_refused"))
    assert without_identity(not_met) == without_identity(refused)

    # The view rows: the same columns and values, but for the outcome and who it is.
    board_rows = [dict(harness.board.case(cases[o]) or {}) for o in ("not_met", "entry_refused")]
    assert without_identity(board_rows[0]) == without_identity(board_rows[1])
    assert_nothing_marks_the_person({k: str(v) for k, v in board_rows[0].items()})
    records = {}
    for outcome, visit_id in visits.items():
        row = eventually(
            lambda v=visit_id: (harness.records.visit(UUID(v)) or {}).get("outcome"),
            what="the outcome in the visit record",
        )
        assert row == outcome
        records[outcome] = dict(harness.records.visit(UUID(visit_id)) or {})
    assert without_identity(records["not_met"]) == without_identity(records["entry_refused"])
    for column in records["not_met"]:
        assert not MARKING.search(column)

    # The API's other answers.
    for outcome in visits:
        detail = client.get(f"/visits/{visits[outcome]}", headers=lead).json()
        history = client.get(f"/cases/{cases[outcome]}/visits", headers=lead).json()
        assert_nothing_marks_the_person(detail)
        assert_nothing_marks_the_person(history)
    agenda = client.get("/agenda", params={"day": day.isoformat()}, headers=worker).json()
    assert_nothing_marks_the_person(agenda)

    # The published events: nothing but the outcome tells the two apart.
    published = {}
    for outcome, visit_id in visits.items():
        events = harness.app.repository.event_store.get(UUID(visit_id))
        (completed,) = [e for e in events if isinstance(e, Visit.Completed)]
        outgoing = to_integration_event(completed)
        assert outgoing is not None
        body = outgoing.envelope.model_dump(mode="json", serialize_as_any=True)
        assert_nothing_marks_the_person(body["payload"])
        published[outcome] = body["payload"]
    assert without_identity(published["not_met"]) == without_identity(published["entry_refused"])
