"""The API's boundary: who may see and change what, and how bad input is answered.

The users of this module sign in at the identity provider (the local Keycloak): district
isolation and roles hold for tokens the service did not sign."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest

from tests.support.e2e import ContactsApi
from tests.support.helpers import eventually, person
from tests.support.keycloak import KeycloakUsers
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api(contacts_service: ServiceProcess, keycloak_users: KeycloakUsers) -> Iterator[ContactsApi]:
    """The contacts API, with tokens of Keycloak for the invented users."""
    with httpx.Client(base_url=contacts_service.url, timeout=30) as client:
        yield ContactsApi(client, keycloak_users.mint)


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The problem+json body of a refused request, checked for its status and code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"] == f"urn:outreach:problem:{code}"
    return body


def test_a_worker_of_another_district_finds_neither_its_cases_nor_its_queue(
    api: ContactsApi, district: str
) -> None:
    district_b = f"{district}-b"
    manager_b = api.auth("cm-bauer", "case_manager", district_b)
    signed_by = jwt.decode(
        manager_b["Authorization"].split()[1], options={"verify_signature": False}
    )
    assert signed_by["iss"].endswith("/realms/outreach")  # a token of Keycloak
    created = api.report(manager_b, district_b)
    assert created.status_code == 201, created.text
    case_b = created.json()["case_id"]
    api.detail_when_projected(manager_b, case_b)  # it exists, for district B

    worker_a = api.auth("ow-arslan", "outreach_worker", district)
    lead_a = api.auth("tl-albers", "team_lead", district)
    problem(api.detail(worker_a, case_b), 404, "not_found")
    problem(api.restore(worker_a, case_b), 404, "not_found")
    problem(api.update_details(worker_a, case_b, phone="0561 111111"), 404, "not_found")
    problem(api.close(lead_a, case_b, "moved_away"), 404, "not_found")
    problem(api.queue(worker_a, district_b), 404, "not_found")
    problem(api.report(lead_a, district_b), 404, "not_found")

    # Nothing of it happened: district B can still restore the contact itself.
    assert api.restore(manager_b, case_b).status_code == 200


def test_a_provider_coach_may_not_read_the_lost_contact_queue(
    api: ContactsApi, district: str
) -> None:
    coach = api.auth("pc-weber", "provider_coach", district)
    problem(api.queue(coach, district), 403, "forbidden")


def test_requests_without_a_valid_token_are_unauthorised(api: ContactsApi, district: str) -> None:
    manager = api.auth("cm-lange", "case_manager", district)
    created = api.report(manager, district)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    problem(api.queue({}, district), 401, "unauthorized")
    problem(api.detail({}, case_id), 401, "unauthorized")
    problem(api.report({}, district), 401, "unauthorized")
    problem(api.restore({}, case_id), 401, "unauthorized")
    forged = {"Authorization": "Bearer not.a.token"}
    problem(api.queue(forged, district), 401, "unauthorized")


def test_rejected_commands_answer_with_a_problem_code_and_leave_the_queue_unchanged(
    api: ContactsApi, district: str
) -> None:
    manager = api.auth("cm-lange", "case_manager", district)
    who = person()
    created = api.report(manager, district, who)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    assert api.restore(manager, case_id).status_code == 200

    def restored_in_queue() -> dict[str, Any] | None:
        queue = api.queue(manager, district).json()
        statuses = [case["status"] for case in queue["cases"]]
        return queue if statuses == ["contact_restored"] else None

    before = eventually(restored_in_queue, timeout=30, what="the restored case in the queue")

    unknown_reason = problem(
        api.report(manager, district, person(), reason="vanished"), 422, "invalid_input"
    )
    assert ["body", "reason"] in [error["loc"] for error in unknown_reason["errors"]]
    malformed = problem(
        api.report(manager, district, person(customer_number="12-345")), 422, "invalid_input"
    )
    assert ["body", "person", "customer_number"] in [error["loc"] for error in malformed["errors"]]
    in_future = (date.today() + timedelta(days=3)).isoformat()
    future = problem(
        api.report(
            manager,
            district,
            person(),
            evidence={"unanswered_letters": 1, "last_contact_on": in_future},
        ),
        422,
        "date_in_future",
    )
    assert future["field"] == "last_contact_on"
    same_person = {**person(customer_number=who["customer_number"]), "name": "Anderer Name"}
    second = problem(api.report(manager, district, same_person), 409, "open_case_exists")
    assert second["existing_case_id"] == case_id
    again = problem(api.restore(manager, case_id), 409, "contact_already_restored")
    assert again["case_id"] == case_id

    # The projection follows the event log in order: once a later case in another district
    # shows up, anything the refused calls might have recorded would be visible too.
    sentinel_district = f"{district}-sentinel"
    sentinel_headers = api.auth("cm-lange", "case_manager", sentinel_district)
    assert api.report(sentinel_headers, sentinel_district).status_code == 201
    eventually(
        lambda: api.queue(sentinel_headers, sentinel_district).json()["cases"],
        timeout=30,
        what="the sentinel case in its queue",
    )
    assert api.queue(manager, district).json() == before


def test_a_nul_byte_in_the_local_office_is_refused_naming_the_field_and_stores_nothing(
    api: ContactsApi, district: str
) -> None:
    """PostgreSQL cannot store NUL: a case taken with one broke the projections."""
    manager = api.auth("cm-lange", "case_manager", district)
    refused = problem(
        api.report(manager, district, local_office="mitte\u0000nord"), 422, "invalid_input"
    )
    assert ["body", "local_office"] in [error["loc"] for error in refused["errors"]]
    named = problem(
        api.report(manager, district, person(name="Erika\nMustermann")), 422, "invalid_input"
    )
    assert ["body", "person", "name"] in [error["loc"] for error in named["errors"]]

    # The next case of the district is the only one: nothing of the refused ones was stored,
    # and the projections go on.
    accepted = api.report(manager, district)
    assert accepted.status_code == 201, accepted.text
    queue = eventually(
        lambda: api.queue(manager, district).json()["cases"], timeout=30, what="the queue"
    )
    assert [case["case_id"] for case in queue] == [accepted.json()["case_id"]]


def test_a_deadline_already_passed_is_accepted_and_flagged(api: ContactsApi, district: str) -> None:
    """An overdue benefit-reduction decision is information for the case manager, not an
    error: the case is taken, flagged, and first in the queue by deadline."""
    manager = api.auth("cm-lange", "case_manager", district)
    passed = (date.today() - timedelta(days=3)).isoformat()
    ahead = (date.today() + timedelta(days=30)).isoformat()
    later = api.report(manager, district, deadline=ahead)
    overdue = api.report(manager, district, deadline=passed)
    assert (later.status_code, overdue.status_code) == (201, 201), overdue.text
    assert later.json()["deadline_passed"] is False
    assert overdue.json()["deadline_passed"] is True

    detail = api.detail(manager, overdue.json()["case_id"])
    assert detail.status_code == 200, detail.text
    assert (detail.json()["deadline"], detail.json()["deadline_passed"]) == (passed, True)

    def both_queued() -> list[dict[str, Any]] | None:
        cases: list[dict[str, Any]] = api.queue(manager, district).json()["cases"]
        return cases if len(cases) == 2 else None

    first, second = eventually(both_queued, timeout=30, what="both cases in the queue")
    assert (first["case_id"], first["deadline_passed"]) == (overdue.json()["case_id"], True)
    assert second["deadline_passed"] is False


def test_a_case_just_reported_can_be_read_at_once(api: ContactsApi, district: str) -> None:
    """The detail view follows the event log a few milliseconds behind the 201; the reader
    who just reported the case is not told it does not exist."""
    manager = api.auth("cm-lange", "case_manager", district)
    for _ in range(5):
        created = api.report(manager, district)
        assert created.status_code == 201, created.text
        detail = api.detail(manager, created.json()["case_id"])
        assert detail.status_code == 200, detail.text
        assert detail.json()["case_id"] == created.json()["case_id"]
    assert problem(api.detail(manager, uuid4()), 404, "not_found")
