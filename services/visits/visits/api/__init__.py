"""The visits HTTP API (bearer token; outreach workers, providers' outreach workers, team
leads): the planning board, announcing and recording visits, a worker's agenda, a person's
visit history, a worker's calendar links.

- :mod:`visits.api.staff`: the routes of the staff (bearer token);
- :mod:`visits.api.calendar_feeds`: a worker's calendar links (fetched by their secret
  alone);
- :mod:`visits.api.schemas`: the request and response models;
- :mod:`visits.api.presenters`: view rows into responses (opening sealed fields, noting
  each opening in the access log);
- :mod:`visits.api.deps`: the typed dependencies (the service's state, who may call).
"""

from fastapi import APIRouter

from visits.api import calendar_feeds, staff

routers: list[APIRouter] = [staff.router, calendar_feeds.router]
