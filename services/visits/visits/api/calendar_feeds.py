"""Calendar links: a worker's own agenda as a calendar a phone subscribes to.

Two addresses for two credentials. The links are managed at ``/agenda/calendar-links`` with
the bearer token of their owner (an outreach worker or a team lead): created, listed,
revoked. The calendar itself is at ``/agenda/feeds/{secret}.ics`` and takes nothing but its
URL (a calendar app sends no header): the secret in the path is the authorisation, checked
against the link in the event store, so a revoked link answers 404 from the moment it is
revoked. Apart, the two never share a path (no ``Allow`` of one names the other's methods),
and a gateway can tell the one unauthenticated prefix from the rest. The calendar is the
owner's agenda of the days ahead as ``/agenda.ics`` builds it, of the districts their token
named when the link was created; each fetch is written to the access log as a read by the
owner for ``visit_planning``, noting the link.
"""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request, Response, status

from shared.http.access_log import PersonalRead
from shared.http.auth import Principal, Role
from shared.http.purpose import Purpose, StatedPurpose
from visits.agenda import calendar_of
from visits.api.deps import (
    AccessLogDep,
    CipherDep,
    FeedOwner,
    FeedsDep,
    RecordsDep,
    VisitsDep,
)
from visits.api.presenters import agenda_rounds, calendar_links_out
from visits.api.schemas import CalendarLinkCreated, CalendarLinks, FeedSecret, LinkId

router = APIRouter(tags=["calendar links"])

FEED_DAYS = 60
"""The calendar lists today and the 59 days after it (announcements go out days ahead; a
longer horizon would only carry more addresses on the phone)."""
REFRESH = dt.timedelta(minutes=15)
"""How long a calendar app may keep a fetched calendar (``Cache-Control``) and how often it
is asked to fetch again."""
FEED_ROUTE = "GET /agenda/feeds/{secret}.ics"
FEED_OPERATION = "calendar_link_feed"
REVOKE_OPERATION = "revoke_calendar_link"

_FOLLOW = {
    "calendar": {
        "operationId": FEED_OPERATION,
        "parameters": {"secret": "$response.body#/secret"},
        "description": "The calendar of the new link (what a calendar app subscribes to).",
    },
    "revoke": {
        "operationId": REVOKE_OPERATION,
        "parameters": {"link_id": "$response.body#/link_id"},
        "description": "Revoking the new link.",
    },
}
"""OpenAPI links of a new link's answer: how a client goes on from it."""


@router.post(
    "/agenda/calendar-links",
    status_code=status.HTTP_201_CREATED,
    response_model=CalendarLinkCreated,
    responses={201: {"links": _FOLLOW}},
)
def create_calendar_link(
    request: Request, response: Response, owner: FeedOwner, visits: VisitsDep
) -> CalendarLinkCreated:
    """A new calendar link of the caller's own visits.

    **This answer is the only time the secret is shown**: it is stored only as its digest,
    and no route answers it again (``Cache-Control: no-store``). The calendar is at ``url``
    (``GET /agenda/feeds/{secret}.ics``, no header needed); a lost secret cannot be recovered:
    revoke the link and create a new one."""
    link_id, secret = visits.create_calendar_feed(
        owner=owner.user, role=owner.role.value, districts=owner.districts
    )
    response.headers["Cache-Control"] = "no-store"
    url = request.url_for(calendar_link_feed.__name__, secret=secret)
    return CalendarLinkCreated(link_id=link_id, secret=secret, url=str(url), days=FEED_DAYS)


@router.get("/agenda/calendar-links", response_model=CalendarLinks)
def calendar_links(owner: FeedOwner, feeds: FeedsDep) -> CalendarLinks:
    """The caller's calendar links that are not revoked (never their secrets; a new link is
    listed a moment after its creation)."""
    return calendar_links_out(feeds.of_owner(owner.user))


@router.delete(
    "/agenda/calendar-links/{link_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id=REVOKE_OPERATION,
)
def revoke_calendar_link(link_id: LinkId, principal: FeedOwner, visits: VisitsDep) -> Response:
    """Revoked for good, by its owner or a team lead of its district: its calendar answers
    404 from now on. Another user's link (or a revoked one) is 404
    ``calendar_link_not_found``."""
    leads = principal.districts if principal.role is Role.TEAM_LEAD else frozenset[str]()
    visits.revoke_calendar_feed(link_id, by=principal.user, team_lead_of=leads)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/agenda/feeds/{secret}.ics",
    operation_id=FEED_OPERATION,
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
)
def calendar_link_feed(
    secret: FeedSecret,
    visits: VisitsDep,
    records: RecordsDep,
    cipher: CipherDep,
    feeds: FeedsDep,
    log: AccessLogDep,
) -> Response:
    """The link owner's announced visits from today for :data:`FEED_DAYS` days, day by day
    in round order, as iCalendar. No header needed; an unknown, revoked or malformed secret
    is 404 ``calendar_link_not_found``."""
    feed = visits.open_calendar_feed(secret)
    owner = Principal(user=feed.owner, role=Role(feed.role), districts=frozenset(feed.districts))
    stated = StatedPurpose(Purpose.VISIT_PLANNING, f"calendar link {feed.id}")
    read = PersonalRead(owner, stated, FEED_ROUTE, log)
    today = dt.date.today()
    days = agenda_rounds(
        read, feed.owner, today, today + dt.timedelta(days=FEED_DAYS - 1), visits, records, cipher
    )
    now = dt.datetime.now(dt.UTC)
    feeds.fetched(feed.id, now)
    return Response(
        calendar_of(days, now=now, refresh=REFRESH),
        media_type="text/calendar; charset=utf-8",
        headers={"Cache-Control": f"private, max-age={int(REFRESH.total_seconds())}"},
    )
