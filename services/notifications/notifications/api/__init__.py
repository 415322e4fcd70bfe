"""The notifications HTTP API (bearer token; the staff of a district, team leads, the data
protection officer).

- :mod:`notifications.api.notifications`: a district's notifications, retrying one;
- :mod:`notifications.api.letters`: stored letters and the print batches;
- :mod:`notifications.api.templates`: the templates and their preview;
- :mod:`notifications.api.directory`: the staff directory and the districts' letterheads;
- :mod:`notifications.api.ops`: the outbox's state;
- :mod:`notifications.api.schemas`: the request and response models;
- :mod:`notifications.api.presenters`: view rows into responses (opening stored letters,
  noting each opening in the access log), the preview, the Art. 15 export;
- :mod:`notifications.api.deps`: the typed dependencies (the service's state, who may call).
"""

from fastapi import APIRouter

from notifications.api import directory, letters, notifications, ops, templates

routers: list[APIRouter] = [
    notifications.router,
    letters.router,
    templates.router,
    directory.router,
    ops.router,
]
