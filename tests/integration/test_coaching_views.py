"""The coaching application, its views and its API against the real PostgreSQL: the
provider caseload with free capacity, a full caseload, the extension decisions due, a
person's history, the provider's hand-over packet, programme rosters, and problem codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from coaching.domain import add_months
from fastapi.testclient import TestClient

from shared.contracts import Envelope, Payload
from shared.contracts.contacts import ContactLost
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.coaching import (
    CoachingHarness,
    apply_directly,
    coaching_harness,
    contact_lost,
    http_app,
)
from tests.support.helpers import eventually

pytestmark = pytest.mark.integration

TODAY = date.today()


class Clock:
    """The application's "today": real, unless a test moves it."""

    def __init__(self) -> None:
        self.day = TODAY

    def __call__(self) -> date:
        return self.day


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def harness(
    stack: ServiceSettings, cipher: PersonalDataCipher, clock: Clock
) -> Iterator[CoachingHarness]:
    with coaching_harness(stack, today=clock) as running:
        yield running


@pytest.fixture(scope="module")
def client(harness: CoachingHarness, stack: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(http_app(harness, stack)) as test_client:
        yield test_client


@pytest.fixture
def as_user(mint: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(user: str, role: str, *districts: str) -> dict[str, str]:
        token = mint(user, role, *districts)
        return {"Authorization": f"Bearer {token}", "X-Purpose": "coaching"}

    return headers


def case_id(lost: Envelope[Payload]) -> UUID:
    assert isinstance(lost.payload, ContactLost)
    return lost.payload.case_id


class World:
    """One district with a provider, its coaches and people whose contact was lost."""

    def __init__(
        self,
        client: TestClient,
        harness: CoachingHarness,
        cipher: PersonalDataCipher,
        as_user: Callable[..., dict[str, str]],
        district: str,
    ) -> None:
        self.client = client
        self.harness = harness
        self.cipher = cipher
        self.district = district
        self.lead = as_user("tl-test", "team_lead", district)
        self.manager = as_user("cm-test", "case_manager", district)
        self.as_user = as_user
        tag = uuid4().hex[:8]
        self.coaches = {"full": f"pc-full-{tag}", "free": f"pc-free-{tag}"}
        response = client.post(
            "/providers",
            json={"name": f"Sculpture {tag}", "districts": [district], "max_extensions": 1},
            headers=self.lead,
        )
        assert response.status_code == 201, response.text
        self.provider_id = response.json()["id"]
        for key, places in (("full", 1), ("free", 3)):
            response = client.post(
                f"/providers/{self.provider_id}/coaches",
                json={
                    "coach": self.coaches[key],
                    "display_name": key,
                    "max_caseload": places,
                    "emergency_line": "0561 110",
                },
                headers=self.lead,
            )
            assert response.status_code == 201, response.text

    def person(self) -> tuple[Envelope[Payload], dict[str, Any]]:
        lost, who = contact_lost(self.cipher, self.district)
        apply_directly(self.harness, lost)
        return lost, who

    def request(self, lost: Envelope[Payload], shared: list[str] | None = None) -> str:
        response = self.client.post(
            "/coachings",
            json={
                "case_id": str(case_id(lost)),
                "needs": ["debt", "childcare"],
                "shared_fields": shared if shared is not None else ["name", "phone", "needs"],
            },
            headers=self.manager,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def assign(self, coaching_id: str, coach: str, **body: Any) -> Any:
        return self.client.post(
            f"/coachings/{coaching_id}/assign",
            json={"provider_id": self.provider_id, "coach": coach, **body},
            headers=self.manager,
        )

    def coach_headers(self, key: str = "free") -> dict[str, str]:
        return self.as_user(self.coaches[key], "provider_coach", self.district)

    def projected(self, path: str, probe: Callable[[Any], bool], headers: Any = None) -> Any:
        def found() -> Any:
            response = self.client.get(path, headers=headers or self.manager)
            if response.status_code == 404:  # not projected yet
                return None
            assert response.status_code == 200, response.text
            body = response.json()
            return body if probe(body) else None

        return eventually(found, timeout=20, what=path)


@pytest.fixture
def world(
    client: TestClient,
    harness: CoachingHarness,
    cipher: PersonalDataCipher,
    as_user: Callable[..., dict[str, str]],
    district: str,
) -> World:
    return World(client, harness, cipher, as_user, district)


def test_a_full_caseload_is_409_with_the_coaches_who_have_capacity_and_changes_nothing(
    world: World,
) -> None:
    first = world.request(world.person()[0])
    assert world.assign(first, world.coaches["full"]).status_code == 200
    second = world.request(world.person()[0])

    response = world.assign(second, world.coaches["full"])

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "coach_at_full_caseload"
    assert problem["coaches_with_capacity"] == [
        {"coach": world.coaches["free"], "display_name": "free", "free_places": 3}
    ]
    caseload = world.projected(
        f"/providers/{world.provider_id}/caseload",
        lambda body: any(c["caseload"] == 1 for c in body["provider"]["coaches"]),
    )
    places = {
        c["coach"]: (c["caseload"], c["free_places"]) for c in caseload["provider"]["coaches"]
    }
    assert places == {world.coaches["full"]: (1, 0), world.coaches["free"]: (0, 3)}
    detail = world.client.get(f"/coachings/{second}", headers=world.manager).json()
    assert (detail["status"], detail["coach"]) == ("requested", None)


def test_coachings_ending_within_14_days_are_due_for_an_extension_decision(
    world: World, clock: Clock
) -> None:
    clock.day = TODAY - timedelta(days=200)  # requested long ago
    try:
        ends_soon = world.request(world.person()[0])
        ends_later = world.request(world.person()[0])
        started = add_months(TODAY + timedelta(days=7), -4)
        assert (
            world.assign(ends_soon, world.coaches["free"], starts_on=str(started)).status_code
            == 200
        )
        assert (
            world.assign(ends_later, world.coaches["free"], starts_on=str(TODAY)).status_code == 200
        )
    finally:
        clock.day = TODAY

    due = world.projected(
        f"/coachings/extension-due?district={world.district}",
        lambda body: len(body["coachings"]) >= 1,
    )
    assert [c["coaching_id"] for c in due["coachings"]] == [ends_soon]

    manager = world.client.post(
        f"/coachings/{ends_soon}/extend",
        json={"reason": "household_situation"},
        headers=world.manager,
    )
    assert manager.status_code == 403
    assert manager.json()["code"] == "extension_needs_team_lead"
    extended = world.client.post(
        f"/coachings/{ends_soon}/extend",
        json={"reason": "needs_further_stabilisation"},
        headers=world.lead,
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["ends_on"] == str(
        add_months(date.fromisoformat(due["coachings"][0]["ends_on"]), 2)
    )
    again = world.client.post(
        f"/coachings/{ends_soon}/extend", json={"reason": "other"}, headers=world.lead
    )
    assert again.status_code == 409
    assert again.json()["code"] == "extension_limit_reached"
    world.projected(
        f"/coachings/extension-due?district={world.district}",
        lambda body: body["coachings"] == [],
    )


def test_the_provider_sees_only_the_consented_fields_of_its_own_people(
    world: World,
    client: TestClient,
    harness: CoachingHarness,
    cipher: PersonalDataCipher,
    as_user: Callable[..., dict[str, str]],
) -> None:
    lost, who = world.person()
    coaching_id = world.request(lost, shared=["name", "phone"])
    assert world.assign(coaching_id, world.coaches["free"]).status_code == 200
    coach = world.coach_headers("free")

    packet = world.projected(
        f"/provider/coachings/{coaching_id}", lambda body: body["status"] == "active", coach
    )

    assert packet["person"] == {"name": who["name"], "address": None, "phone": who["phone"]}
    assert packet["needs"] == []  # not consented
    assert "customer_number" not in str(packet)
    assert who["customer_number"] not in str(packet)

    # Another provider's coach: the coaching does not exist for them.
    other = World(client, harness, cipher, as_user, world.district)
    stranger = other.coach_headers("free")
    assert client.get(f"/provider/coachings/{coaching_id}", headers=stranger).status_code == 404
    caseload = client.get("/provider/caseload", headers=stranger).json()
    assert caseload["coachings"] == []
    session = client.post(f"/provider/coachings/{coaching_id}/sessions", json={}, headers=stranger)
    assert session.status_code == 404
    # Staff routes are not for providers; unregistered coaches are nobody.
    assert client.get(f"/coachings/{coaching_id}", headers=coach).status_code == 403
    nobody = as_user("pc-nobody", "provider_coach", world.district)
    assert (
        client.get("/provider/caseload", headers=nobody).json()["code"] == "not_a_registered_coach"
    )

    # Facts flow back: sessions, a household member, a referral to the youth office, the end.
    assert (
        client.post(
            f"/provider/coachings/{coaching_id}/sessions", json={}, headers=coach
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/provider/coachings/{coaching_id}/household-members",
            json={"name": "Mia Kindname", "relation": "child"},
            headers=coach,
        ).status_code
        == 200
    )
    assert (
        client.post(
            f"/provider/coachings/{coaching_id}/partner-referrals",
            json={"partner": "youth_office"},
            headers=coach,
        ).status_code
        == 200
    )
    ended = client.post(
        f"/provider/coachings/{coaching_id}/end",
        json={"reason": "person_declined"},
        headers=coach,
    )
    assert ended.status_code == 200, ended.text

    history = world.projected(
        f"/cases/{case_id(lost)}/coachings",
        lambda body: body["coachings"] and body["coachings"][0]["status"] == "ended",
    )
    (record,) = history["coachings"]
    assert record["sessions_held"] == 1
    assert record["household"] == [{"name": "Mia Kindname", "relation": "child"}]
    assert record["partner_referrals"] == [{"partner": "youth_office", "referred_on": str(TODAY)}]
    assert record["ended_reason"] == "person_declined"
    row = harness.records.coaching(UUID(coaching_id))
    assert row is not None
    assert "Mia Kindname" not in str(dict(row))  # sealed in the view


def test_bad_input_is_a_problem_and_changes_nothing(world: World, harness: CoachingHarness) -> None:
    lost, _ = world.person()
    before = harness.app.recorder.max_notification_id()

    unknown = world.client.post(
        "/coachings",
        json={"case_id": str(uuid4()), "shared_fields": ["name"]},
        headers=world.manager,
    )
    invalid = world.client.post(
        "/coachings",
        json={"case_id": str(case_id(lost)), "shared_fields": ["visit_note"]},
        headers=world.manager,
    )
    foreign = world.client.get("/coachings?district=elsewhere", headers=world.manager)
    lead_only = world.client.post(
        "/providers", json={"name": "X", "districts": [world.district]}, headers=world.manager
    )

    assert (unknown.status_code, unknown.json()["code"]) == (404, "case_not_known")
    assert (invalid.status_code, invalid.json()["code"]) == (422, "invalid_input")
    assert foreign.status_code == 404
    assert lead_only.status_code == 403
    assert harness.app.recorder.max_notification_id() == before


def test_a_programme_roster_with_attendance_and_a_full_programme(
    world: World, as_user: Callable[..., dict[str, str]], clock: Clock
) -> None:
    created = world.client.post(
        "/programmes",
        json={
            "district": world.district,
            "local_office": "bocholt",
            "title": "Lebensgeschichten schreiben",
            "target_group": "Alleinerziehende",
            "dates": [str(TODAY - timedelta(days=7)), str(TODAY), str(TODAY + timedelta(days=7))],
            "capacity": 2,
            "open_to_neighbouring": True,
            "mobile": False,
        },
        headers=world.lead,
    )
    assert created.status_code == 201, created.text
    programme_id = created.json()["id"]
    people = [world.person() for _ in range(3)]
    for lost, _ in people[:2]:
        enrolled = world.client.post(
            f"/programmes/{programme_id}/participants",
            json={"case_id": str(case_id(lost))},
            headers=world.manager,
        )
        assert enrolled.status_code == 200, enrolled.text

    full = world.client.post(
        f"/programmes/{programme_id}/participants",
        json={"case_id": str(case_id(people[2][0]))},
        headers=world.manager,
    )
    assert (full.status_code, full.json()["code"]) == (409, "programme_full")

    first = str(case_id(people[0][0]))
    attendance = world.client.post(
        f"/programmes/{programme_id}/attendance",
        json={"case_id": first, "session_on": str(TODAY - timedelta(days=7)), "present": True},
        headers=world.manager,
    )
    assert attendance.status_code == 200, attendance.text
    completed = world.client.post(
        f"/programmes/{programme_id}/participants/{first}/complete", json={}, headers=world.manager
    )
    assert completed.status_code == 200, completed.text

    roster = world.projected(
        f"/programmes/{programme_id}",
        lambda body: any(p["completed_on"] for p in body["participants"]),
    )
    assert (roster["programme"]["enrolled"], roster["programme"]["free_places"]) == (2, 0)
    by_case = {p["case_id"]: p for p in roster["participants"]}
    assert by_case[first]["name"] == people[0][1]["name"]
    assert by_case[first]["attendance"] == [
        {"session_on": str(TODAY - timedelta(days=7)), "present": True}
    ]
    assert by_case[first]["completed_on"] == str(TODAY)
