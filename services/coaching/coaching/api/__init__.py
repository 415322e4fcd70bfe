"""The coaching HTTP API (bearer token), by audience:

- :mod:`coaching.api.staff`: the Jobcenter's staff (team leads, case managers): the
  registry of providers and coaches, and the coachings of their districts;
- :mod:`coaching.api.programmes`: the staff's group programmes (Kreis Borken);
- :mod:`coaching.api.provider`: providers' coaches (``/provider``): the hand-over packets
  of their own provider's people, and the facts they report back;
- :mod:`coaching.api.schemas`: the request and response models;
- :mod:`coaching.api.presenters`: view rows into responses (opening sealed fields, noting
  each opening in the access log), and the Art. 15 export;
- :mod:`coaching.api.deps`: the typed dependencies (the service's state, who may call,
  what is in the caller's scope).
"""

from fastapi import APIRouter

from coaching.api import programmes, provider, staff

routers: list[APIRouter] = [staff.router, programmes.router, provider.router]
