"""The HTTP boundary every service shares: the constrained request types, strict scalars,
problem answers without internals, 405 with ``Allow``, and an OpenAPI document that
declares the errors it answers with."""

# No "from __future__ import annotations": FastAPI must resolve the test routes' signatures.

from collections.abc import Iterator
from datetime import date, time
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import pytest
from coaching.api.schemas import RegisterProvider
from contacts.domain import deadline_passed
from fastapi import APIRouter, FastAPI, Query
from fastapi.testclient import TestClient
from notifications import api as notifications_api
from notifications.api.deps import service_state as notifications_state
from notifications.letterheads import Letterheads
from notifications.rendering import Templates
from notifications.settings import TEMPLATES_DIR, Letterhead, NotificationsSettings
from pydantic import BaseModel, TypeAdapter, ValidationError
from visits.api.schemas import AnnounceVisit, RecordOutcome

from shared.errors import ConflictError
from shared.http.access_log import AccessLog, PersonalRead
from shared.http.app import PROBLEM_JSON, http_app
from shared.http.auth import Principal, Role, TokenCodec
from shared.http.bodies import StrictModel
from shared.http.deps import CurrentUser, reading
from shared.http.inputs import (
    ClockTime,
    Integer,
    IsoDate,
    Key,
    Line,
    Note,
    QueryBool,
    QueryInt,
    Text,
    Uuid,
)
from shared.http.purpose import PURPOSE_HEADER

pytestmark = pytest.mark.unit

CODEC = TokenCodec("unit-test-secret-unit-test-secret", "HS256", "outreach-test")
LEAD = Principal(user="tl-anna", role=Role.TEAM_LEAD, districts=frozenset({"kassel"}))


def refused(kind: Any, value: Any) -> set[str]:
    with pytest.raises(ValidationError) as raised:
        TypeAdapter(kind).validate_python(value)
    return {error["type"] for error in raised.value.errors()}


# --- text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["mitte\u0000nord", "Erika\nMustermann", "a\tb", "x\u0085", "\x1b[31m"]
)
def test_a_line_refuses_every_control_character(value: str) -> None:
    assert refused(Line, value) == {"control_character"}


def test_a_note_keeps_its_lines_and_tabs_but_no_other_control_character() -> None:
    note = "Briefe gesichtet.\r\nNächster Termin:\tDienstag"
    assert TypeAdapter(Note).validate_python(note) == note
    assert refused(Note, "Briefe\u0000gesichtet") == {"control_character"}


def test_a_key_is_one_word() -> None:
    assert TypeAdapter(Key).validate_python("ow-yilmaz") == "ow-yilmaz"
    assert refused(Key, "ow yilmaz") == {"control_character"}
    assert refused(Key, "ow-yilmaz\u3000") == {"control_character"}


def test_every_text_has_a_maximum_length_and_is_never_empty() -> None:
    assert refused(Line, "x" * 201) == {"string_too_long"}
    assert refused(Annotated[str, Text(50)], "x" * 51) == {"string_too_long"}
    assert refused(Note, "") == {"string_too_short"}
    assert TypeAdapter(Annotated[str, Text(300)]).validate_python("x" * 300) == "x" * 300


def test_a_lone_surrogate_is_no_text() -> None:
    assert refused(Line, "Erika \ud800") == {"string_unicode"}


def test_each_text_type_publishes_its_rule_in_the_json_schema() -> None:
    schema = TypeAdapter(Annotated[str, Text(300)]).json_schema()
    assert (schema["minLength"], schema["maxLength"]) == (1, 300)
    assert schema["pattern"].startswith("^[^\\x00-\\x1f")


# --- scalars --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, "0", "2026-12-01T00:00:00", "1.12.2026", "20261201", True])
def test_a_date_is_an_iso_date_only(value: Any) -> None:
    assert refused(IsoDate, value) == {"date_format"}


def test_an_iso_date_is_a_date() -> None:
    assert TypeAdapter(IsoDate).validate_python("2026-12-01") == date(2026, 12, 1)


def test_a_time_of_day_is_hours_and_minutes() -> None:
    assert TypeAdapter(ClockTime).validate_python("09:30") == time(9, 30)
    for value in ("9:30", "09:30:00", 34200, "24:00"):
        assert refused(ClockTime, value) == {"time_format"}


def test_a_whole_number_is_no_boolean_and_no_string() -> None:
    count = Annotated[int, Integer(0, 6)]
    assert TypeAdapter(count).validate_python(2) == 2
    assert TypeAdapter(count).validate_python(2.0) == 2  # JSON Schema's integer
    assert refused(count, False) == {"int_type"}
    assert refused(count, "2") == {"int_type"}
    assert refused(count, 2.5) == {"int_type"}
    assert refused(count, 7) == {"less_than_equal"}


def test_max_extensions_false_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as raised:
        RegisterProvider.model_validate(
            {"name": "Träger", "districts": ["kassel"], "max_extensions": False}
        )
    assert [e["loc"] for e in raised.value.errors()] == [("max_extensions",)]


def test_a_uuid_is_in_its_canonical_form() -> None:
    assert str(TypeAdapter(Uuid).validate_python("9B2E6A10-3C4D-4E5F-8A9B-0C1D2E3F4A5B")) == (
        "9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    )
    assert refused(Uuid, "9b2e6a103c4d4e5f8a9b0c1d2e3f4a5b") == {"uuid_format"}


def test_a_request_model_with_a_type_that_coerces_cannot_be_defined() -> None:
    with pytest.raises(TypeError, match=r"shared\.http\.inputs"):

        class Lax(StrictModel):  # an int would take "5", 5.0 and true
            count: int

    with pytest.raises(TypeError, match=r"shared\.http\.inputs"):

        class Unbounded(StrictModel):  # a text without rules or a maximum length
            names: list[str] | None = None


def test_the_same_worker_twice_and_an_unknown_field_are_refused_by_the_request_model() -> None:
    body = {"case_id": "9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "purpose": "first_contact"}
    with pytest.raises(ValidationError) as raised:
        AnnounceVisit.model_validate({**body, "date": "2026-12-08", "workers": ["ow-a", "ow-a"]})
    assert {(e["loc"], e["type"]) for e in raised.value.errors()} == {
        (("workers",), "unique_items")
    }
    with pytest.raises(ValidationError):
        RecordOutcome.model_validate({"outcome": "not_met", "coaching_referral_consent": 1})


def test_a_deadline_before_today_is_passed_and_today_is_not() -> None:
    today = date(2026, 12, 3)
    assert deadline_passed(date(2026, 12, 2), today)
    assert not deadline_passed(today, today)
    assert not deadline_passed(None, today)


# --- answers and the OpenAPI document -------------------------------------------------------


class NoLog(AccessLog):
    """An access log the probe's routes never write to."""

    def __init__(self) -> None:
        pass


class Created(BaseModel):
    id: str


class NewThing(StrictModel):
    name: Line


@pytest.fixture
def app() -> FastAPI:
    http = http_app(title="probe", description="")
    http.state.verifier = CODEC
    http.state.access_log = NoLog()
    router = APIRouter()
    Authenticated = CurrentUser
    Reading = Annotated[PersonalRead, reading()]

    @router.get("/things")
    def things(
        principal: Authenticated,
        district: Key,
        day: Annotated[IsoDate, Query()],
        limit: Annotated[int, QueryInt(1, 50)] = 10,
        closed: Annotated[QueryBool, Query()] = False,
    ) -> list[str]:
        return [district, day.isoformat(), str(limit), str(closed)]

    @router.post("/things", status_code=201)
    def create(body: NewThing, principal: Authenticated) -> Created:
        return Created(id=body.name)

    @router.get("/things/{thing_id}")
    def thing(thing_id: Uuid, principal: Authenticated, read: Reading) -> dict[str, str]:
        return {"id": str(thing_id)}

    @router.post("/things/{thing_id}/retry")
    def retry(thing_id: Uuid, principal: Authenticated) -> None:
        raise ConflictError("only failed things can be retried", status="queued", code="x")

    http.include_router(router)
    return http


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def bearer(principal: Principal = LEAD) -> dict[str, str]:
    return {"Authorization": f"Bearer {CODEC.mint(principal)}"}


def test_day_zero_is_not_the_first_of_january_1970(client: TestClient) -> None:
    answer = client.get("/things", params={"district": "kassel", "day": "0"}, headers=bearer())
    assert answer.status_code == 422
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert [e["loc"] for e in answer.json()["errors"]] == [["query", "day"]]


def test_a_query_number_is_digits_only(client: TestClient) -> None:
    for limit in ("1.0", "1_0", "true", " 5"):
        answer = client.get(
            "/things",
            params={"district": "kassel", "day": "2026-12-01", "limit": limit},
            headers=bearer(),
        )
        assert answer.status_code == 422, limit
    fine = client.get(
        "/things",
        params={"district": "kassel", "day": "2026-12-01", "limit": "5"},
        headers=bearer(),
    )
    assert fine.json() == ["kassel", "2026-12-01", "5", "False"]


def test_a_query_flag_is_true_or_false_only(client: TestClient) -> None:
    query = {"district": "kassel", "day": "2026-12-01"}
    for word, meant in (("true", "True"), ("false", "False")):
        answer = client.get("/things", params={**query, "closed": word}, headers=bearer())
        assert (answer.status_code, answer.json()[-1]) == (200, meant)
    for loose in ("1", "0", "yes", "on", "True"):
        answer = client.get("/things", params={**query, "closed": loose}, headers=bearer())
        assert answer.status_code == 422, loose
        assert ["query", "closed"] in [e["loc"] for e in answer.json()["errors"]]


def test_a_nul_byte_in_a_query_or_body_is_refused_naming_the_field(client: TestClient) -> None:
    query = client.get(
        "/things", params={"district": "kas\u0000sel", "day": "2026-12-01"}, headers=bearer()
    )
    body = client.post("/things", json={"name": "mitte\u0000nord"}, headers=bearer())
    for answer, where in ((query, ["query", "district"]), (body, ["body", "name"])):
        assert answer.status_code == 422
        problem = answer.json()
        assert problem["code"] == "invalid_input"
        assert where in [e["loc"] for e in problem["errors"]]
        assert ".".join(where) in problem["detail"]


def test_a_body_that_is_not_even_text_is_an_invalid_input(client: TestClient) -> None:
    answer = client.post(
        "/things",
        content=b"\xff\xfe\x00",
        headers={**bearer(), "Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == ["body"]


def test_a_garbage_token_is_refused_without_the_codecs_words(client: TestClient) -> None:
    answer = client.get(
        "/things",
        params={"district": "kassel", "day": "2026-12-01"},
        headers={"Authorization": "Bearer not.a.token"},
    )
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert answer.json()["detail"] == "the bearer token is not a well-formed JWT"
    assert answer.json()["reason"] == "token_malformed"
    for internal in ("decode", "padding", "segment", "utf", "codec", "Invalid"):
        assert internal not in answer.text


def test_a_read_of_personal_data_without_its_purpose_is_400_after_the_token(
    client: TestClient,
) -> None:
    thing = "/things/9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    assert client.get(thing).status_code == 401
    missing = client.get(thing, headers=bearer())
    assert (missing.status_code, missing.json()["code"]) == (400, "purpose_required")
    invalid = client.get(thing, headers={**bearer(), PURPOSE_HEADER: "audit: %00"})
    assert (invalid.status_code, invalid.json()["code"]) == (400, "invalid_purpose")


def test_a_method_a_path_does_not_have_is_405_with_every_method_it_has(
    client: TestClient,
) -> None:
    answer = client.delete("/things")
    assert answer.status_code == 405
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.headers["Allow"] == "GET, POST"


def test_the_openapi_document_declares_every_error_answer_as_a_problem(
    client: TestClient,
) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["Problem"]["required"]) == {"type", "title", "status", "code", "detail"}
    problem = {"$ref": "#/components/schemas/Problem"}

    def errors(method: str, path: str) -> dict[str, Any]:
        responses = document["paths"][path][method]["responses"]
        for status, answer in responses.items():
            if int(status) >= 400:
                assert answer["content"] == {PROBLEM_JSON: {"schema": problem}}, (path, status)
        return {s: a for s, a in responses.items() if int(s) >= 400}

    assert set(errors("get", "/things")) == {"401", "403", "404", "422", "503"}
    assert set(errors("post", "/things")) == {"401", "403", "404", "409", "422", "503"}
    assert set(errors("get", "/things/{thing_id}")) == {"400", "401", "403", "404", "422", "503"}
    assert "WWW-Authenticate" in errors("get", "/things")["401"]["headers"]
    (purpose,) = [
        p
        for p in document["paths"]["/things/{thing_id}"]["get"]["parameters"]
        if p["name"] == PURPOSE_HEADER
    ]
    assert purpose["required"] is True
    assert purpose["schema"]["pattern"].startswith("^(audit|case_work|coaching|visit_planning)")


def test_a_template_preview_error_names_the_problem_not_the_servers_files() -> None:
    kassel = Letterhead(
        jobcenter="Jobcenter Stadt Kassel",
        address=["Grüner Weg 2", "34117 Kassel"],
        phone="0561 1234-0",
        email="aufsuchend@jobcenter-kassel.example",
        data_protection_officer="datenschutz@jobcenter-kassel.example",
    )
    staff: Any = SimpleNamespace(letterhead=lambda district: None)
    context = SimpleNamespace(
        templates=Templates(TEMPLATES_DIR),
        letterheads=Letterheads(
            staff, NotificationsSettings(letterheads={"kassel": kassel}).letterheads
        ),
    )
    http = http_app(title="probe", description="")
    http.state.verifier = CODEC
    for router in notifications_api.routers:
        http.include_router(router)
    http.dependency_overrides[notifications_state] = lambda: context
    with TestClient(http) as client:
        missing = client.post(
            "/templates/visit_announcement/preview", params={"version": "9"}, headers=bearer()
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "template_version_not_found")
        assert missing.json()["detail"] == "template visit_announcement has no version 9"
        assert str(Path(TEMPLATES_DIR).parent) not in missing.text
        assert "j2" not in missing.text
        control = client.post(
            "/templates/visit_announcement/preview",
            json={"variables": {"salutation": "Guten Tag\u0000"}},
            headers=bearer(),
        )
        assert control.status_code == 422
        assert ["body", "variables", "salutation"] in [e["loc"] for e in control.json()["errors"]]


def test_a_problem_whose_details_repeat_a_member_name_keeps_its_own_status_and_code(
    client: TestClient,
) -> None:
    """A domain error with a detail named ``status`` was a 500 (a retry of a queued
    notification)."""
    answer = client.post("/things/9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b/retry", headers=bearer())
    assert answer.status_code == 409
    assert (answer.json()["status"], answer.json()["code"]) == (409, "conflict")
