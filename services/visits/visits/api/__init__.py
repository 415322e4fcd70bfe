"""The visits HTTP API (bearer token; outreach workers, providers' outreach workers, team
leads): the planning board, announcing and recording visits, a worker's agenda, a person's
visit history.

- :mod:`visits.api.staff`: the routes;
- :mod:`visits.api.schemas`: the request and response models;
- :mod:`visits.api.presenters`: view rows into responses (opening sealed fields, noting
  each opening in the access log);
- :mod:`visits.api.deps`: the typed dependencies (the service's state, who may call).
"""

from fastapi import APIRouter

from visits.api import staff

routers: list[APIRouter] = [staff.router]
