"""The visits application and its views against the real PostgreSQL: the planning board's
sections, the agenda of a worker's day (also as iCalendar), a person's visit history, and
the API's problem codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from visits.domain import VisitRules

from shared.contracts.contacts import ContactLost
from shared.privacy import PersonalDataCipher
from shared.settings import ServiceSettings
from tests.support.helpers import eventually
from tests.support.visits import VisitsHarness, http_app, put_on_board, visits_harness

pytestmark = pytest.mark.integration

TODAY = date.today()


VISIT_DAY = TODAY + timedelta(days=7)
"""The day ``announce`` announces a visit for."""


class Clock:
    """The application's "today": real, unless a test moves it."""

    def __init__(self) -> None:
        self.day = TODAY

    def __call__(self) -> date:
        return self.day

    @contextmanager
    def on(self, day: date) -> Iterator[None]:
        """Today is ``day`` (e.g. the day of the visit, to record its outcome)."""
        self.day = day
        try:
            yield
        finally:
            self.day = TODAY


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def harness(
    stack: ServiceSettings, cipher: PersonalDataCipher, clock: Clock
) -> Iterator[VisitsHarness]:
    rules = VisitRules(default_max_attempts=2)
    with visits_harness(stack, cipher, rules=rules, today=clock) as running:
        yield running


@pytest.fixture(scope="module")
def client(harness: VisitsHarness, stack: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(http_app(harness, stack)) as test_client:
        yield test_client


@pytest.fixture
def as_user(mint: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(user: str, role: str, *districts: str) -> dict[str, str]:
        token = mint(user, role, *districts)
        return {"Authorization": f"Bearer {token}", "X-Purpose": "visit_planning"}

    return headers


def case_id_of(lost: Any) -> UUID:
    payload = lost.payload
    assert isinstance(payload, ContactLost)
    return payload.case_id


def announce(client: TestClient, headers: dict[str, str], case_id: UUID, **body: Any) -> Any:
    request = {
        "case_id": str(case_id),
        "workers": ["ow-yilmaz"],
        "purpose": "first_contact",
        "date": (TODAY + timedelta(days=7)).isoformat(),
        **body,
    }
    return client.post("/visits", json=request, headers=headers)


def board_when(
    client: TestClient, headers: dict[str, str], district: str, done: Callable[[Any], bool]
) -> Any:
    def probe() -> Any:
        response = client.get("/board", params={"district": district}, headers=headers)
        assert response.status_code == 200, response.text
        board = response.json()
        return board if done(board) else None

    return eventually(probe, timeout=20, what=f"the board of {district}")


def outcome(
    client: TestClient, headers: dict[str, str], visit_id: str, result: str, **body: Any
) -> Any:
    return client.post(
        f"/visits/{visit_id}/outcome", json={"outcome": result, **body}, headers=headers
    )


def test_the_board_moves_a_person_from_to_plan_to_announced_to_revisits_to_flagged(
    harness: VisitsHarness, client: TestClient, clock: Clock, as_user: Any, district: str
) -> None:
    worker = as_user("ow-yilmaz", "outreach_worker", district)
    lost, who = put_on_board(harness, district, deadline=TODAY + timedelta(days=30))
    case_id = case_id_of(lost)

    board = board_when(client, worker, district, lambda b: b["counts"]["to_plan"] == 1)
    assert board["sections"]["to_plan"][0]["name"] == who["name"]
    assert board["sections"]["to_plan"][0]["attempts"] == 0

    for attempt in (1, 2):
        created = announce(client, worker, case_id)
        assert created.status_code == 201, created.text
        visit_id = created.json()["visit_id"]
        board_when(client, worker, district, lambda b: b["counts"]["announced"] == 1)
        with clock.on(VISIT_DAY):
            done = outcome(client, worker, visit_id, "not_met", next_step="revisit")
        assert done.status_code == 200, done.text
        section = "revisits" if attempt == 1 else "flagged"
        board = board_when(client, worker, district, lambda b, s=section: b["counts"][s] == 1)
        assert board["sections"][section][0]["attempts"] == attempt

    assert board["counts"] == {
        "to_plan": 0,
        "announced": 0,
        "overdue": 0,
        "revisits": 0,
        "flagged": 1,
    }
    assert board["max_attempts"] == 2
    assert board["min_lead_days"] == 5  # the default: shown before announcing


def test_a_window_that_passed_without_an_outcome_is_overdue(
    harness: VisitsHarness, client: TestClient, clock: Clock, as_user: Any, district: str
) -> None:
    worker = as_user("ow-yilmaz", "outreach_worker", district)
    lost, _ = put_on_board(harness, district)
    weeks_ago = TODAY - timedelta(days=20)
    clock.day = weeks_ago  # announced back then, for a window two weeks ago
    try:
        created = announce(
            client,
            worker,
            case_id_of(lost),
            purpose="counselling",
            date=None,
            window={
                "start": (weeks_ago + timedelta(days=6)).isoformat(),
                "end": (weeks_ago + timedelta(days=8)).isoformat(),
            },
        )
    finally:
        clock.day = TODAY
    assert created.status_code == 201, created.text

    board = board_when(client, worker, district, lambda b: b["counts"]["overdue"] == 1)

    assert board["sections"]["overdue"][0]["visit_id"] == created.json()["visit_id"]
    assert board["counts"]["announced"] == 0


def test_the_agenda_lists_the_day_in_round_order_with_addresses_for_the_assigned_only(
    harness: VisitsHarness, client: TestClient, as_user: Any, district: str
) -> None:
    worker = as_user("ow-agenda", "outreach_worker", district)
    lead = as_user("tl-anna", "team_lead", district)
    day = TODAY + timedelta(days=8)
    addresses = [
        "Holländische Straße 40, 34127 Kassel",
        "Friedrich-Ebert-Straße 12, 34117 Kassel",
        "Wilhelmshöher Allee 200, 34119 Kassel",
    ]
    visit_ids = {}
    for address in addresses:
        lost, _ = put_on_board(harness, district, address=address)
        created = announce(
            client,
            worker,
            case_id_of(lost),
            workers=["ow-agenda", "ow-second"],
            date=None,
            window={"start": (day - timedelta(days=1)).isoformat(), "end": day.isoformat()},
        )
        assert created.status_code == 201, created.text
        visit_ids[address] = created.json()["visit_id"]

    def full_agenda() -> Any:
        response = client.get("/agenda", params={"day": day.isoformat()}, headers=worker)
        assert response.status_code == 200, response.text
        body = response.json()
        return body if len(body["visits"]) == 3 else None

    agenda = eventually(full_agenda, what="three visits on the agenda")
    assert [v["address"] for v in agenda["visits"]] == [
        "Friedrich-Ebert-Straße 12, 34117 Kassel",
        "Wilhelmshöher Allee 200, 34119 Kassel",
        "Holländische Straße 40, 34127 Kassel",
    ]
    assert all(v["name"] for v in agenda["visits"])

    seen_by_lead = client.get(
        "/agenda", params={"day": day.isoformat(), "worker": "ow-agenda"}, headers=lead
    ).json()
    assert [v["visit_id"] for v in seen_by_lead["visits"]] == [
        v["visit_id"] for v in agenda["visits"]
    ]
    assert {v["address"] for v in seen_by_lead["visits"]} == {None}
    assert {v["name"] for v in seen_by_lead["visits"]} == {None}

    other_worker = as_user("ow-second-agenda", "outreach_worker", district)
    forbidden = client.get(
        "/agenda", params={"day": day.isoformat(), "worker": "ow-agenda"}, headers=other_worker
    )
    assert forbidden.status_code == 403

    calendar = client.get("/agenda.ics", params={"day": day.isoformat()}, headers=worker)
    assert calendar.status_code == 200
    assert calendar.headers["content-type"].startswith("text/calendar")
    text = calendar.text.replace("\r\n ", "")
    assert text.count("BEGIN:VEVENT") == 3
    assert "LOCATION:Friedrich-Ebert-Straße 12\\, 34117 Kassel" in text
    assert text.index("Friedrich-Ebert") < text.index("Wilhelmshöher") < text.index("Holländische")


def test_the_visit_history_of_a_person_shows_every_visit_and_the_note_to_the_team(
    harness: VisitsHarness, client: TestClient, clock: Clock, as_user: Any, district: str
) -> None:
    worker = as_user("ow-yilmaz", "outreach_worker", district)
    stranger = as_user("ow-stranger", "outreach_worker", district)
    lost, _ = put_on_board(harness, district)
    case_id = case_id_of(lost)
    first = announce(client, worker, case_id).json()["visit_id"]
    cancelled = client.post(f"/visits/{first}/cancel", json={"reason": "other"}, headers=worker)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    second = announce(client, worker, case_id).json()["visit_id"]
    note = "Mietschulden, Hilfe beim Antrag Zyxhist"
    with clock.on(VISIT_DAY):
        done = outcome(
            client,
            worker,
            second,
            "met_and_talked",
            needs=["debt", "correspondence"],
            note=note,
            coaching_referral_consent=True,
            next_step="coaching_referral",
        )
    assert done.status_code == 200, done.text

    def both_visits() -> Any:
        body = client.get(f"/cases/{case_id}/visits", headers=worker).json()
        statuses = [v["status"] for v in body["visits"]]
        return body if statuses == ["cancelled", "completed"] else None

    history = eventually(both_visits, what="the history of two visits")
    assert history["visits"][0]["cancelled_reason"] == "other"
    completed = history["visits"][1]
    assert completed["needs"] == ["correspondence", "debt"]
    assert completed["note"] == note
    assert completed["attempt_number"] == 1
    assert harness.records.visit(UUID(second))["note_token"].startswith("pii:v2:")

    for_stranger = client.get(f"/cases/{case_id}/visits", headers=stranger).json()
    assert for_stranger["visits"][1]["note"] is None
    elsewhere = as_user("ow-yilmaz", "outreach_worker", "another-district")
    assert client.get(f"/cases/{case_id}/visits", headers=elsewhere).status_code == 404


def test_the_api_answers_broken_rules_with_clear_problem_codes(
    harness: VisitsHarness, client: TestClient, clock: Clock, as_user: Any, district: str
) -> None:
    worker = as_user("ow-yilmaz", "outreach_worker", district)
    lost, _ = put_on_board(harness, district)
    case_id = case_id_of(lost)

    def problem(response: Any) -> tuple[int, str]:
        assert response.headers["content-type"] == "application/problem+json"
        return response.status_code, response.json()["code"]

    too_soon = announce(client, worker, case_id, date=(TODAY + timedelta(days=2)).isoformat())
    assert problem(too_soon) == (422, "lead_time_too_short")
    assert too_soon.json()["minimum_days"] == 5
    past = announce(
        client,
        worker,
        case_id,
        date=None,
        window={
            "start": (TODAY - timedelta(days=4)).isoformat(),
            "end": (TODAY - timedelta(days=2)).isoformat(),
        },
    )
    assert problem(past) == (422, "window_in_past")
    three = announce(client, worker, case_id, workers=["a", "b", "c"])
    assert problem(three) == (422, "invalid_input")
    twice = announce(client, worker, case_id, workers=["ow-yilmaz", "ow-yilmaz"])
    assert problem(twice) == (422, "invalid_input")
    assert ["body", "workers"] in [e["loc"] for e in twice.json()["errors"]]

    elsewhere = as_user("ow-elsewhere", "outreach_worker", "another-district")
    assert problem(announce(client, elsewhere, case_id)) == (404, "case_not_on_board")

    visit_id = announce(client, worker, case_id).json()["visit_id"]
    assert problem(announce(client, worker, case_id)) == (409, "visit_already_announced")
    not_yet = outcome(client, worker, visit_id, "not_met")  # the visit begins in a week
    assert problem(not_yet) == (409, "visit_not_begun")
    assert not_yet.json()["first_day"] == VISIT_DAY.isoformat()
    not_assigned = as_user("ow-other", "outreach_worker", district)
    assert problem(outcome(client, not_assigned, visit_id, "met_and_talked")) == (
        403,
        "not_assigned_to_visit",
    )
    assert problem(outcome(client, elsewhere, visit_id, "met_and_talked")) == (404, "not_found")
    assert problem(client.get(f"/visits/{visit_id}", headers=elsewhere)) == (404, "not_found")
    coach = as_user("pc-coach", "provider_coach", district)
    assert problem(client.get("/board", params={"district": district}, headers=coach)) == (
        403,
        "forbidden",
    )

    cancelled = client.post(
        f"/visits/{visit_id}/cancel", json={"reason": "person_moved"}, headers=worker
    )
    assert cancelled.status_code == 200
    assert problem(outcome(client, worker, visit_id, "met_and_talked")) == (409, "visit_cancelled")

    again = announce(client, worker, case_id).json()["visit_id"]
    lead = as_user("tl-anna", "team_lead", district)
    with clock.on(VISIT_DAY):
        assert outcome(client, lead, again, "talked_at_door").status_code == 200
        assert problem(outcome(client, worker, again, "not_met")) == (
            409,
            "visit_already_completed",
        )
