"""A worker's calendar link: the link in the domain, created, opened and revoked by the
application over the library's in-memory persistence, and the calendar of the days ahead
read back by a real iCalendar parser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import uuid4

import icalendar
import pytest
from eventsourcing.utils import get_topic, resolve_topic
from fastapi.testclient import TestClient
from visits import api
from visits.agenda import AgendaItem, calendar_of, rounds
from visits.application import Visits
from visits.domain import CalendarFeed, CalendarLinkNotFoundError, secret_digest

from shared.eventsourcing.meta import acting_as
from shared.http.app import http_app
from shared.privacy import PersonalDataCipher

from .visit_support import worker

pytestmark = pytest.mark.unit

DAY = date(2026, 12, 1)


@pytest.fixture
def app(cipher: PersonalDataCipher) -> Visits:
    return Visits(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, cipher=cipher)


@pytest.fixture(autouse=True)
def outreach_worker() -> Iterator[None]:
    with acting_as(worker("ow-yilmaz")):
        yield


def create(app: Visits, owner: str = "ow-yilmaz", *districts: str) -> tuple[Any, str]:
    with acting_as(worker(owner)):
        return app.create_calendar_feed(
            owner=owner, role="outreach_worker", districts=districts or ("kassel",)
        )


def stored_bytes(app: Visits) -> bytes:
    return b"".join(
        item.state for item in app.recorder.select_notifications(start=None, limit=1000)
    )


def test_a_created_link_opens_with_its_secret_and_records_whose_it_is(app: Visits) -> None:
    feed_id, secret = create(app, "ow-yilmaz", "kassel", "darmstadt-dieburg")

    feed = app.open_calendar_feed(secret)

    assert feed.id == feed_id
    assert (feed.owner, feed.role) == ("ow-yilmaz", "outreach_worker")
    assert feed.districts == ["darmstadt-dieburg", "kassel"]
    assert len(secret) == 43  # 256 random bits, URL-safe


def test_the_secret_is_never_stored_only_its_digest(app: Visits) -> None:
    _, secret = create(app)

    stored = stored_bytes(app)

    assert secret.encode() not in stored
    digest = secret_digest(secret)
    assert digest is not None
    assert digest.encode() in stored


def test_a_revoked_link_no_longer_opens_at_once(app: Visits) -> None:
    feed_id, secret = create(app)

    app.revoke_calendar_feed(feed_id, by="ow-yilmaz", team_lead_of=())

    with pytest.raises(CalendarLinkNotFoundError):
        app.open_calendar_feed(secret)


@pytest.mark.parametrize(
    "secret",
    [
        "A" * 43,  # the shape of a secret, of no link
        "short",
        "A" * 42 + "/",
        "A" * 44,
        "",
        "A" * 42 + "\x00",
    ],
)
def test_an_unknown_or_malformed_secret_opens_nothing(app: Visits, secret: str) -> None:
    create(app)

    with pytest.raises(CalendarLinkNotFoundError) as refused:
        app.open_calendar_feed(secret)

    assert refused.value.code == "calendar_link_not_found"


def test_a_colleague_cannot_revoke_a_workers_link(app: Visits) -> None:
    feed_id, secret = create(app)

    with acting_as(worker("ow-becker")), pytest.raises(CalendarLinkNotFoundError):
        app.revoke_calendar_feed(feed_id, by="ow-becker", team_lead_of=())

    assert app.open_calendar_feed(secret).id == feed_id


def test_a_team_lead_of_the_links_district_revokes_it_one_of_another_district_cannot(
    app: Visits,
) -> None:
    feed_id, secret = create(app, "ow-yilmaz", "kassel")

    with acting_as(worker("tl-borken", "team_lead")), pytest.raises(CalendarLinkNotFoundError):
        app.revoke_calendar_feed(feed_id, by="tl-borken", team_lead_of=["kreis-borken"])
    assert app.open_calendar_feed(secret).id == feed_id

    with acting_as(worker("tl-anna", "team_lead")):
        app.revoke_calendar_feed(feed_id, by="tl-anna", team_lead_of=["kassel"])

    with pytest.raises(CalendarLinkNotFoundError):
        app.open_calendar_feed(secret)


def test_a_link_is_revoked_once(app: Visits) -> None:
    feed_id, _ = create(app)
    app.revoke_calendar_feed(feed_id, by="ow-yilmaz", team_lead_of=())

    with pytest.raises(CalendarLinkNotFoundError):
        app.revoke_calendar_feed(feed_id, by="ow-yilmaz", team_lead_of=())


def test_the_link_events_keep_their_topics_and_record_who_changed_the_link() -> None:
    digest = secret_digest("A" * 43)
    assert digest is not None
    with acting_as(worker("ow-yilmaz")):
        feed = CalendarFeed.create(
            owner="ow-yilmaz", role="outreach_worker", districts=["kassel"], digest=digest
        )
    with acting_as(worker("tl-anna", "team_lead")):
        feed.revoke(by="tl-anna", team_lead_of=["kassel"])

    events = feed.collect_events()

    assert [get_topic(type(e)) for e in events] == [
        "visits.domain:CalendarFeed.Created",
        "visits.domain:CalendarFeed.Revoked",
    ]
    assert [e.meta["actor"] for e in events] == ["ow-yilmaz", "tl-anna"]
    assert resolve_topic("visits.domain:CalendarFeed") is CalendarFeed
    assert feed.id == CalendarFeed.id_for(digest)


def item(address: str, first_day: date, last_day: date | None = None, **kw: Any) -> AgendaItem:
    values: dict[str, Any] = {
        "visit_id": uuid4(),
        "case_id": uuid4(),
        "first_day": first_day,
        "last_day": last_day or first_day,
        "time_from": None,
        "time_to": None,
        "purpose": "first_contact",
        "place": "home",
        "workers": ("ow-yilmaz",),
        "sort_address": address,
        "name": "Erika Beispiel",
        "address": address,
        "place_description": None,
        **kw,
    }
    return AgendaItem(**values)


def test_the_days_ahead_go_day_by_day_in_round_order_a_window_on_each_of_its_days() -> None:
    far = item("Holländische Straße 40, 34127 Kassel", DAY)
    near = item("Friedrich-Ebert-Straße 12, 34117 Kassel", DAY, time_from=time(9), time_to=time(10))
    window = item("Marktplatz 3, 34117 Kassel", DAY + timedelta(days=1), DAY + timedelta(days=2))
    late = item("Marktplatz 9, 34117 Kassel", DAY + timedelta(days=30))

    days = rounds([far, window, near, late], DAY, DAY + timedelta(days=2))

    assert [(day, [i.visit_id for i in items]) for day, items in days] == [
        (DAY, [near.visit_id, far.visit_id]),
        (DAY + timedelta(days=1), [window.visit_id]),
        (DAY + timedelta(days=2), [window.visit_id]),
    ]


def test_the_calendar_of_the_days_ahead_parses_as_icalendar_with_a_refresh_hint() -> None:
    slot = item("Friedrich-Ebert-Straße 12, 34117 Kassel", DAY, time_from=time(9), time_to=time(10))
    window = item("Marktplatz 3, 34117 Kassel", DAY + timedelta(days=1), DAY + timedelta(days=2))
    days = rounds([slot, window], DAY, DAY + timedelta(days=59))

    text = calendar_of(days, now=datetime(2026, 11, 23, tzinfo=UTC), refresh=timedelta(minutes=15))

    calendar = icalendar.Calendar.from_ical(text)
    events = list(calendar.walk("VEVENT"))
    assert [str(e["UID"]) for e in events] == [
        f"{slot.visit_id}-20261201@outreach",
        f"{window.visit_id}-20261202@outreach",
        f"{window.visit_id}-20261203@outreach",
    ]
    assert events[0].decoded("DTSTART") == datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert events[1].decoded("DTSTART") == date(2026, 12, 2)
    assert str(events[0]["LOCATION"]) == "Friedrich-Ebert-Straße 12, 34117 Kassel"
    assert str(calendar["REFRESH-INTERVAL"].to_ical(), "ascii") == "PT15M"
    assert "Erika" not in text


# --- the routes, as an HTTP client reads them --------------------------------------------


@pytest.fixture
def routes() -> Iterator[TestClient]:
    app = http_app(title="visits", description="")
    for router in api.routers:
        app.include_router(router)
    with TestClient(app) as client:
        yield client


def test_a_calendar_address_answers_only_its_own_method(routes: TestClient) -> None:
    """The calendar and the link's management never share a path: an ``Allow`` names only
    what the address serves."""
    feed = routes.request("OPTIONS", "/agenda/feeds/" + "A" * 43 + ".ics")
    link = routes.request("OPTIONS", f"/agenda/calendar-links/{uuid4()}")
    links = routes.request("PUT", "/agenda/calendar-links")

    assert (feed.status_code, feed.headers["Allow"]) == (405, "GET")
    assert (link.status_code, link.headers["Allow"]) == (405, "DELETE")
    assert (links.status_code, links.headers["Allow"]) == (405, "GET, POST")


def test_the_new_links_answer_leads_to_its_calendar_and_its_revocation(
    routes: TestClient,
) -> None:
    """A client follows the document's links from the 201: the secret to the calendar, the
    id to the revocation; the description says the secret is shown this once."""
    document = routes.get("/openapi.json").json()
    create = document["paths"]["/agenda/calendar-links"]["post"]
    follow = create["responses"]["201"]["links"]
    operations = {
        operation["operationId"]: (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if "operationId" in operation
    }

    assert follow["calendar"]["parameters"] == {"secret": "$response.body#/secret"}
    assert operations[follow["calendar"]["operationId"]] == ("/agenda/feeds/{secret}.ics", "get")
    assert follow["revoke"]["parameters"] == {"link_id": "$response.body#/link_id"}
    assert operations[follow["revoke"]["operationId"]] == (
        "/agenda/calendar-links/{link_id}",
        "delete",
    )
    assert "only time the secret is shown" in create["description"]
    created = document["components"]["schemas"]["CalendarLinkCreated"]
    assert "Shown in this answer only" in created["properties"]["secret"]["description"]
