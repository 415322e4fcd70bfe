"""The contacts API's request models and the problem+json behaviour every service shares."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import uuid4

import pytest
from contacts.api.schemas import (
    CloseCase,
    PersonIn,
    RecordContactRestored,
    ReportContactLost,
    UpdateContactDetails,
)
from contacts.domain import OpenCaseExistsError
from fastapi.testclient import TestClient
from pydantic import ValidationError

from shared.contracts.contacts import ContactLostReason
from shared.dates import DateInFutureError
from shared.errors import ForbiddenError
from shared.http.app import PROBLEM_JSON, http_app

pytestmark = pytest.mark.unit


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "district": "kassel",
        "local_office": "mitte",
        "person": {
            "customer_number": "123D456789",
            "name": "Erika Mustermann",
            "address": "Wilhelmshöher Allee 1, 34117 Kassel",
        },
        "reason": "missed_appointments",
        "evidence": {"missed_appointments": 2, "last_contact_on": "2026-03-02"},
    }
    body.update(overrides)
    return body


def error_types(error: ValidationError) -> set[tuple[Any, str]]:
    return {(tuple(e["loc"]), e["type"]) for e in error.errors()}


def test_valid_report_is_accepted_with_defaults() -> None:
    report = ReportContactLost.model_validate(report_body())

    assert report.reason is ContactLostReason.MISSED_APPOINTMENTS
    assert report.evidence.unanswered_letters == 0
    assert report.person.phone is None
    assert report.case_manager is None
    assert report.deadline is None


@pytest.mark.parametrize(
    "customer_number",
    ["123456789", "123d456789", "12D456789", "123D45678", "123D4567890", " 123D456789", ""],
)
def test_report_with_a_malformed_customer_number_is_rejected(customer_number: str) -> None:
    body = report_body()
    body["person"]["customer_number"] = customer_number

    with pytest.raises(ValidationError) as raised:
        ReportContactLost.model_validate(body)

    ((where, kind),) = error_types(raised.value)
    assert where == ("person", "customer_number")
    assert kind in {"string_pattern_mismatch", "string_too_long", "string_too_short"}


def test_report_with_an_unknown_reason_is_rejected() -> None:
    with pytest.raises(ValidationError) as raised:
        ReportContactLost.model_validate(report_body(reason="sanction"))

    assert error_types(raised.value) == {(("reason",), "enum")}


@pytest.mark.parametrize(
    ("where", "field"),
    [((), "sanction_due"), (("person",), "nationality"), (("evidence",), "neighbour_said")],
    ids=["report", "person", "evidence"],
)
def test_report_with_an_extra_field_is_rejected(where: tuple[str, ...], field: str) -> None:
    body = report_body()
    target = body
    for key in where:
        target = target[key]
    target[field] = "anything"

    with pytest.raises(ValidationError) as raised:
        ReportContactLost.model_validate(body)

    assert error_types(raised.value) == {((*where, field), "extra_forbidden")}


def test_report_with_negative_evidence_is_rejected() -> None:
    with pytest.raises(ValidationError):
        ReportContactLost.model_validate(report_body(evidence={"unanswered_letters": -1}))


def test_report_with_an_empty_name_is_rejected() -> None:
    with pytest.raises(ValidationError):
        PersonIn.model_validate({**report_body()["person"], "name": ""})


def test_other_commands_reject_unknown_values_and_extra_fields() -> None:
    with pytest.raises(ValidationError):
        RecordContactRestored.model_validate(
            {"channel": "carrier_pigeon", "restored_on": "2026-11-20"}
        )
    with pytest.raises(ValidationError):
        CloseCase.model_validate({"reason": "contact_lasting", "note": "moved"})
    with pytest.raises(ValidationError):
        UpdateContactDetails.model_validate({"email": "erika@example.org"})
    with pytest.raises(ValidationError):
        UpdateContactDetails.model_validate({"phone": ""})
    with pytest.raises(ValidationError):  # nothing to update
        UpdateContactDetails.model_validate({})
    assert UpdateContactDetails.model_validate({"phone": "0561 1"}).model_dump() == {
        "name": None,
        "address": None,
        "phone": "0561 1",
    }


EXISTING_CASE = str(uuid4())


async def ready() -> bool:
    return True


async def not_ready() -> bool:
    return False


@pytest.fixture
def client() -> Iterator[TestClient]:
    app = http_app(
        title="probe",
        description="A tiny service built like every Outreach service.",
        readiness={"database": ready, "broker": not_ready},
    )

    @app.post("/cases")
    def report(body: ReportContactLost) -> dict[str, str]:
        raise OpenCaseExistsError("an open case exists", existing_case_id=EXISTING_CASE)

    @app.post("/dates")
    def future() -> None:
        raise DateInFutureError("restored_on lies in the future", field="restored_on")

    @app.get("/forbidden")
    def forbidden() -> None:
        raise ForbiddenError("role outreach_worker may not do this")

    with TestClient(app) as test_client:
        yield test_client


def test_application_error_becomes_a_problem_document(client: TestClient) -> None:
    response = client.post("/cases", json=report_body())

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json() == {
        "type": "urn:outreach:problem:open_case_exists",
        "title": "an open case exists",
        "status": 409,
        "code": "open_case_exists",
        "detail": "an open case exists",
        "existing_case_id": EXISTING_CASE,
    }


@pytest.mark.parametrize(
    ("path", "method", "status", "code"),
    [("/dates", "post", 422, "date_in_future"), ("/forbidden", "get", 403, "forbidden")],
)
def test_each_error_keeps_its_status_and_code(
    client: TestClient, path: str, method: str, status: int, code: str
) -> None:
    response = client.request(method, path)

    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == code
    assert response.json()["status"] == status


def test_invalid_request_body_gives_invalid_input_with_every_error(client: TestClient) -> None:
    body = report_body(reason="sanction")
    body["person"]["customer_number"] = "unknown"

    response = client.post("/cases", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["code"] == "invalid_input"
    assert problem["type"] == "urn:outreach:problem:invalid_input"
    locations = {tuple(e["loc"]): e["type"] for e in problem["errors"]}
    assert locations == {
        ("body", "person", "customer_number"): "string_pattern_mismatch",
        ("body", "reason"): "enum",
    }
    assert all(e["msg"] for e in problem["errors"])


def test_invalid_request_does_not_echo_personal_data(client: TestClient) -> None:
    body = report_body()
    body["person"]["customer_number"] = "Erika Mustermann"

    response = client.post("/cases", json=body)

    assert response.status_code == 422
    assert "Mustermann" not in response.text


def test_unknown_route_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/nowhere")

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["code"] == "http_404"


def test_wrong_method_is_a_problem_document(client: TestClient) -> None:
    response = client.get("/cases")

    assert response.status_code == 405
    assert response.json()["code"] == "http_405"


def test_liveness_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_reports_each_check_and_fails_if_one_fails(client: TestClient) -> None:
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "not_ready",
        "checks": {"database": True, "broker": False},
    }
