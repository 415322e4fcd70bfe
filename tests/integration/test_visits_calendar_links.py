"""A worker's calendar link over the HTTP API against the real PostgreSQL: fetched without
any header, read back by a real iCalendar parser, written to the access log, revoked at once,
and its secret nowhere but in the answer that created it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlsplit

import icalendar
import psycopg
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from psycopg import sql
from visits.api.calendar_feeds import FEED_ROUTE

from shared.contracts.contacts import ContactLost
from shared.settings import ServiceSettings
from shared.telemetry import configure_telemetry
from tests.support.helpers import TEST_DATABASE, eventually
from tests.support.visits import VisitsHarness, http_app, put_on_board, visits_harness

pytestmark = pytest.mark.integration

TODAY = date.today()


@pytest.fixture(scope="module")
def harness(stack: ServiceSettings) -> Iterator[VisitsHarness]:
    with visits_harness(stack) as running:
        yield running


@pytest.fixture(scope="module")
def client(harness: VisitsHarness, stack: ServiceSettings) -> Iterator[TestClient]:
    with TestClient(http_app(harness, stack)) as test_client:
        yield test_client


@pytest.fixture
def as_user(mint: Callable[..., str]) -> Callable[..., dict[str, str]]:
    def headers(user: str, role: str, *districts: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(user, role, *districts)}"}

    return headers


def someone() -> str:
    return f"ow-{uuid.uuid4().hex[:8]}"


def announce(
    harness: VisitsHarness,
    client: TestClient,
    headers: dict[str, str],
    district: str,
    address: str,
    workers: list[str],
    **when: Any,
) -> tuple[str, uuid.UUID]:
    """A visit announced to a person put on the board: its id and the person's subject."""
    lost, _ = put_on_board(harness, district, address=address)
    payload = lost.payload
    assert isinstance(payload, ContactLost)
    body = {
        "case_id": str(payload.case_id),
        "workers": workers,
        "purpose": "first_contact",
        "date": (TODAY + timedelta(days=7)).isoformat(),
        **when,
    }
    created = client.post("/visits", json=body, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["visit_id"], lost.subject


def create_link(client: TestClient, headers: dict[str, str]) -> tuple[str, str]:
    """A new link: its id and the path of its calendar."""
    created = client.post("/agenda/calendar-links", headers=headers)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    answer = created.json()
    path = urlsplit(answer["url"]).path
    assert path == f"/agenda/feeds/{answer['secret']}.ics"  # the secret leads to the calendar
    return answer["link_id"], path


def calendar_when(client: TestClient, path: str, events: int) -> icalendar.Calendar:
    """The calendar of the link, once the visit records show ``events`` entries."""

    def probe() -> icalendar.Calendar | None:
        response = client.get(path)  # no token, no X-Purpose: what a calendar app sends
        assert response.status_code == 200, response.text
        calendar = icalendar.Calendar.from_ical(response.text)
        return calendar if len(calendar.walk("VEVENT")) == events else None

    found: icalendar.Calendar = eventually(probe, what=f"{events} entries in the calendar")
    return found


def test_a_link_fetched_without_any_header_lists_the_workers_own_visits_of_the_days_ahead(
    harness: VisitsHarness, client: TestClient, as_user: Any, district: str
) -> None:
    me, colleague = someone(), someone()
    mine = as_user(me, "outreach_worker", district)
    own, own_subject = announce(
        harness, client, mine, district, "Holländische Straße 40, 34127 Kassel", [me]
    )
    shared, shared_subject = announce(
        harness,
        client,
        mine,
        district,
        "Friedrich-Ebert-Straße 12, 34117 Kassel",
        [me, colleague],
        date=None,
        window={
            "start": (TODAY + timedelta(days=8)).isoformat(),
            "end": (TODAY + timedelta(days=9)).isoformat(),
        },
    )
    theirs, _ = announce(
        harness, client, mine, district, "Wilhelmshöher Allee 200, 34119 Kassel", [colleague]
    )
    too_far, _ = announce(
        harness,
        client,
        mine,
        district,
        "Marktplatz 3, 34117 Kassel",
        [me],
        date=(TODAY + timedelta(days=60)).isoformat(),
    )
    _, path = create_link(client, mine)

    calendar = calendar_when(client, path, events=3)

    events = calendar.walk("VEVENT")
    day = TODAY + timedelta(days=7)
    assert [str(e["UID"]) for e in events] == [
        f"{own}-{day:%Y%m%d}@outreach",
        f"{shared}-{day + timedelta(days=1):%Y%m%d}@outreach",
        f"{shared}-{day + timedelta(days=2):%Y%m%d}@outreach",
    ]
    assert str(events[0]["LOCATION"]) == "Holländische Straße 40, 34127 Kassel"
    text = calendar.to_ical().decode()
    assert theirs not in text
    assert too_far not in text
    response = client.get(path)
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "private, max-age=900"

    logged = [e for e in harness.access_log.entries(districts=[district]) if e["user"] == me]
    fetches = [e for e in logged if e["route"] == FEED_ROUTE]
    assert fetches, "each fetch is in the access log"
    assert {e["purpose"] for e in fetches} == {"visit_planning"}
    assert {e["subject"] for e in fetches} == {own_subject, shared_subject}
    assert {e["role"] for e in fetches} == {"outreach_worker"}
    before = len(fetches)
    assert client.get(path).status_code == 200
    again = [
        e
        for e in harness.access_log.entries(districts=[district])
        if e["user"] == me and e["route"] == FEED_ROUTE
    ]
    assert len(again) == before + 2  # the two persons of the calendar, once per fetch


def test_a_revoked_link_answers_404_at_once_and_only_its_owner_or_a_team_lead_revokes(
    client: TestClient, as_user: Any, district: str
) -> None:
    me = someone()
    mine = as_user(me, "outreach_worker", district)
    colleague = as_user(someone(), "outreach_worker", district)
    link_id, path = create_link(client, mine)
    assert client.get(path).status_code == 200

    refused = client.delete(f"/agenda/calendar-links/{link_id}", headers=colleague)
    assert refused.status_code == 404
    assert refused.json()["code"] == "calendar_link_not_found"
    assert client.get(path).status_code == 200

    assert client.delete(f"/agenda/calendar-links/{link_id}", headers=mine).status_code == 204
    gone = client.get(path)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("application/problem+json")
    assert gone.json()["code"] == "calendar_link_not_found"

    other_id, other_path = create_link(client, mine)
    elsewhere = as_user("tl-elsewhere", "team_lead", "kreis-borken")
    assert client.delete(f"/agenda/calendar-links/{other_id}", headers=elsewhere).status_code == 404
    lead = as_user("tl-anna", "team_lead", district)
    assert client.delete(f"/agenda/calendar-links/{other_id}", headers=lead).status_code == 204
    assert client.get(other_path).status_code == 404


def test_an_unknown_a_malformed_and_a_revoked_secret_get_the_same_404(
    client: TestClient, as_user: Any, district: str
) -> None:
    mine = as_user(someone(), "outreach_worker", district)
    link_id, path = create_link(client, mine)
    assert client.delete(f"/agenda/calendar-links/{link_id}", headers=mine).status_code == 204

    answers = [
        client.get(p)
        for p in (
            path,
            "/agenda/feeds/" + "A" * 43 + ".ics",
            "/agenda/feeds/not-a-secret.ics",
            "/agenda/feeds/" + "A" * 42 + "%00.ics",
        )
    ]

    assert [a.status_code for a in answers] == [404] * 4
    assert len({a.text for a in answers}) == 1
    assert answers[0].json()["code"] == "calendar_link_not_found"


def test_the_owner_lists_their_links_without_secrets_and_a_provider_worker_gets_none(
    client: TestClient, as_user: Any, district: str
) -> None:
    me = someone()
    mine = as_user(me, "outreach_worker", district)
    link_id, path = create_link(client, mine)
    secret = path.removeprefix("/agenda/feeds/").removesuffix(".ics")
    assert client.get(path).status_code == 200

    def listed() -> Any:
        links = client.get("/agenda/calendar-links", headers=mine)
        assert links.status_code == 200, links.text
        found = [link for link in links.json()["links"] if link["link_id"] == link_id]
        return links if found and found[0]["last_fetched_at"] else None

    links = eventually(listed, what="the link listed with its last fetch")
    assert secret not in links.text
    (link,) = links.json()["links"]
    assert link["districts"] == [district]
    others = client.get(
        "/agenda/calendar-links", headers=as_user(someone(), "outreach_worker", district)
    )
    assert link_id not in others.text

    provider = as_user(someone(), "provider_outreach", district)
    assert client.post("/agenda/calendar-links", headers=provider).status_code == 403


def test_the_secret_is_in_no_stored_event_and_no_log_record_even_of_a_failed_fetch(
    harness: VisitsHarness,
    client: TestClient,
    as_user: Any,
    district: str,
    stack: ServiceSettings,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spans = InMemorySpanExporter()
    configure_telemetry("visits", exporter=spans)
    mine = as_user(someone(), "outreach_worker", district)
    link_id, path = create_link(client, mine)
    secret = path.removeprefix("/agenda/feeds/").removesuffix(".ics")
    assert client.get(path).status_code == 200

    def broken(*_: object) -> None:
        raise RuntimeError("the view is broken")

    monkeypatch.setattr(harness.state.feeds, "fetched", broken)
    with (
        caplog.at_level(logging.DEBUG),
        TestClient(client.app, raise_server_exceptions=False) as failing,
    ):
        assert failing.get(path).status_code == 500
    monkeypatch.undo()
    assert client.delete(f"/agenda/calendar-links/{link_id}", headers=mine).status_code == 204

    (failure,) = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert failure.__dict__["route"] == FEED_ROUTE
    assert not [r for r in caplog.records if secret in f"{r.getMessage()} {r.__dict__}"]
    assert stored_events_with(stack, secret.encode()) == 0
    assert stored_events_with(stack, b"CalendarFeed.Revoked") > 0  # the search finds what is there
    traced = spans.get_finished_spans()
    assert "POST /agenda/calendar-links" in {
        s.name for s in traced
    }  # the requests are traced at all
    assert not [s for s in traced if secret in s.to_json()]


def stored_events_with(stack: ServiceSettings, needle: bytes) -> int:
    """How many stored events of the test database hold ``needle`` in their raw bytes or
    their topic."""
    with psycopg.connect(stack.database_url(TEST_DATABASE)) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_name LIKE %s AND column_name = 'state'",
            ("%\\_events",),
        ).fetchall()
        total = 0
        for (table,) in tables:
            query = sql.SQL(
                "SELECT count(*) FROM {} WHERE position(%s in state) > 0 "
                "OR position(%s in convert_to(topic, 'UTF8')) > 0"
            ).format(sql.Identifier(table))
            row = conn.execute(query, (needle, needle)).fetchone()
            total += row[0] if row else 0
        return total
