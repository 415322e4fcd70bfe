"""The access-log helper: the stated purpose, what a route notes, and the dependency that
refuses a read without a purpose and writes the entries after the route returned."""

# No "from __future__ import annotations": FastAPI must resolve the test route's signature.

import re
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any
from uuid import UUID, uuid4

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.http.access_log import AccessEntry, AccessLog, PersonalRead
from shared.http.app import http_app
from shared.http.auth import Principal, Role, TokenCodec
from shared.http.deps import reading
from shared.http.purpose import (
    PURPOSE_PATTERN,
    InvalidPurposeError,
    Purpose,
    PurposeRequiredError,
    StatedPurpose,
)

pytestmark = pytest.mark.unit

WORKER = Principal(user="ow-yilmaz", role=Role.OUTREACH_WORKER, districts=frozenset({"kassel"}))
SUBJECT = UUID("5f0c7ad2-a7a9-4c5e-9c1f-0e3d2b1a0f9e")


class RecordingLog(AccessLog):
    """Stands in for :class:`shared.http.access_log.AccessLog`: keeps what would be written."""

    def __init__(self) -> None:
        self.written: list[AccessEntry] = []

    def record(self, entries: Sequence[AccessEntry]) -> None:
        self.written.extend(entries)


@pytest.mark.parametrize(
    ("header", "purpose", "note"),
    [
        ("case_work", Purpose.CASE_WORK, None),
        ("visit_planning:", Purpose.VISIT_PLANNING, None),
        ("coaching: hand-over call", Purpose.COACHING, "hand-over call"),
        ("coaching:Anruf", Purpose.COACHING, "Anruf"),
        ("audit: %C2%A7 35 SGB I", Purpose.AUDIT, "§ 35 SGB I"),
        ("audit: Akte%20pr%C3%BCfen", Purpose.AUDIT, "Akte prüfen"),
        ("case_work: ratio: 1:2", Purpose.CASE_WORK, "ratio: 1:2"),
    ],
)
def test_a_stated_purpose_is_a_listed_name_with_an_optional_note(
    header: str, purpose: Purpose, note: str | None
) -> None:
    assert StatedPurpose.parse(header) == StatedPurpose(purpose, note)


@pytest.mark.parametrize("header", [None, "", "   "])
def test_a_missing_purpose_is_required(header: str | None) -> None:
    with pytest.raises(PurposeRequiredError) as raised:
        StatedPurpose.parse(header)
    assert raised.value.status == 400
    assert "case_work" in raised.value.extra["allowed"]


@pytest.mark.parametrize(
    "header",
    ["curiosity", "break_glass", "break_glass: moved", ": x", "Visit_Planning", "audit : x"],
)
def test_an_unknown_or_reserved_purpose_is_invalid(header: str) -> None:
    with pytest.raises(InvalidPurposeError):
        StatedPurpose.parse(header)


def test_a_note_longer_than_two_hundred_characters_is_invalid() -> None:
    assert StatedPurpose.parse("case_work: " + "x" * 200).note == "x" * 200
    with pytest.raises(InvalidPurposeError):
        StatedPurpose.parse("case_work: " + "x" * 201)


@pytest.mark.parametrize(
    "note",
    ["%00", "a%0Ab", "%7F", "%C2%85", "%1b[31m", "%C3", "%ED%A0%80", "%C0%80", "100%", "%zz"],
    ids=[
        "nul",
        "newline",
        "del",
        "c1-nel",
        "escape",
        "cut-utf8",
        "surrogate",
        "overlong",
        "lone-percent",
        "not-hex",
    ],
)
def test_a_note_with_an_encoded_control_character_or_broken_utf8_is_invalid(note: str) -> None:
    """A NUL in the note would reach the access log (PostgreSQL cannot store it)."""
    with pytest.raises(InvalidPurposeError):
        StatedPurpose.parse(f"case_work: {note}")


@settings(max_examples=300, deadline=None)
@given(st.from_regex(PURPOSE_PATTERN, fullmatch=True))
def test_every_header_the_published_pattern_allows_is_accepted(header: str) -> None:
    """The pattern in the OpenAPI document and the parser agree: a client that follows the
    document is never refused."""
    stated = StatedPurpose.parse(header)
    assert stated.note is None or not any(unicodedata.category(c) == "Cc" for c in stated.note)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=40))
def test_a_header_the_published_pattern_refuses_is_refused(text: str) -> None:
    header = "audit:" + text
    if re.fullmatch(PURPOSE_PATTERN, header):
        assert StatedPurpose.parse(header).purpose is Purpose.AUDIT
    else:
        with pytest.raises(InvalidPurposeError):
            StatedPurpose.parse(header)


def test_a_person_opened_twice_in_one_response_is_one_entry_with_all_fields() -> None:
    log = RecordingLog()
    read = PersonalRead(WORKER, StatedPurpose(Purpose.VISIT_PLANNING, "round"), "GET /x", log)  # type: ignore[arg-type]
    other = uuid4()

    read.opened(SUBJECT, ["name"], district="kassel", resource="case:1")
    read.opened(SUBJECT, ["address", "name"], district="kassel", resource="case:1")
    read.opened(other, ["name"], district="kassel", resource="case:2")
    read.opened(other, [], resource="case:3")  # nothing revealed, nothing logged
    assert log.written == []
    read.flush()

    first, second = log.written
    assert first == AccessEntry(
        user="ow-yilmaz",
        role="outreach_worker",
        user_districts=("kassel",),
        subject=SUBJECT,
        fields=("address", "name"),
        purpose=Purpose.VISIT_PLANNING,
        route="GET /x",
        note="round",
        district="kassel",
        resource="case:1",
    )
    assert (second.subject, second.fields) == (other, ("name",))


def test_a_break_glass_read_is_logged_with_its_own_purpose_and_note() -> None:
    log = RecordingLog()
    read = PersonalRead(WORKER, StatedPurpose(Purpose.CASE_WORK), "GET /cases/{id}", log)  # type: ignore[arg-type]

    read.opened(SUBJECT, ["name"], purpose=Purpose.BREAK_GLASS, note="grant 7: moved")
    read.flush()

    [entry] = log.written
    assert (entry.purpose, entry.note) == (Purpose.BREAK_GLASS, "grant 7: moved")


@pytest.fixture
def served() -> tuple[TestClient, RecordingLog, TokenCodec]:
    codec = TokenCodec("unit-test-secret-of-at-least-32-bytes!", "HS256", "outreach")
    log = RecordingLog()
    router = APIRouter()
    Reading = Annotated[PersonalRead, reading()]
    LeadsReading = Annotated[PersonalRead, reading(Role.TEAM_LEAD)]

    @router.get("/people/{name}")
    def person(name: str, read: Reading) -> dict[str, Any]:
        if name == "fails":
            raise RuntimeError("the view went away")
        read.opened(SUBJECT, ["name"], resource=f"person:{name}")
        return {"name": name}

    @router.get("/team/{name}")
    def team_member(name: str, read: LeadsReading) -> dict[str, Any]:
        read.opened(SUBJECT, ["name"], resource=f"person:{name}")
        return {"name": name}

    app = http_app(title="t", description="")
    app.state.verifier = codec
    app.state.access_log = log
    app.include_router(router)
    return TestClient(app, raise_server_exceptions=False), log, codec


def test_the_dependency_logs_the_read_with_the_route_template(
    served: tuple[TestClient, RecordingLog, TokenCodec],
) -> None:
    client, log, codec = served
    headers = {"Authorization": f"Bearer {codec.mint(WORKER)}", "X-Purpose": "case_work"}

    response = client.get("/people/erika", headers=headers)

    assert response.status_code == 200
    [entry] = log.written
    assert (entry.route, entry.resource, entry.user) == (
        "GET /people/{name}",
        "person:erika",
        "ow-yilmaz",
    )


def test_the_dependency_refuses_a_read_without_purpose_but_checks_the_token_first(
    served: tuple[TestClient, RecordingLog, TokenCodec],
) -> None:
    client, log, codec = served

    anonymous = client.get("/people/erika")
    without = client.get("/people/erika", headers={"Authorization": f"Bearer {codec.mint(WORKER)}"})

    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "unauthorized")
    assert (without.status_code, without.json()["code"]) == (400, "purpose_required")
    assert without.headers["content-type"] == "application/problem+json"
    assert log.written == []


def test_a_read_that_fails_writes_no_entry(
    served: tuple[TestClient, RecordingLog, TokenCodec],
) -> None:
    client, log, codec = served
    headers = {"Authorization": f"Bearer {codec.mint(WORKER)}", "X-Purpose": "case_work"}

    assert client.get("/people/fails", headers=headers).status_code == 500
    assert log.written == []


def test_a_read_of_some_roles_checks_the_role_after_the_purpose(
    served: tuple[TestClient, RecordingLog, TokenCodec],
) -> None:
    client, log, codec = served
    token = {"Authorization": f"Bearer {codec.mint(WORKER)}"}

    without = client.get("/team/erika", headers=token)
    stated = client.get("/team/erika", headers={**token, "X-Purpose": "case_work"})

    assert (without.status_code, without.json()["code"]) == (400, "purpose_required")
    assert (stated.status_code, stated.json()["code"]) == (403, "forbidden")
    assert log.written == []
