"""The contacts HTTP API (bearer token), one router per audience:

- :mod:`contacts.api.staff`: the cases (case managers, team leads, outreach workers);
- :mod:`contacts.api.data_protection`: the data protection officer's legal holds and
  erasures (``/dpo``);
- :mod:`contacts.api.feeds`: the officer's registry of the feeds (``/dpo/feeds``);
- :mod:`contacts.api.reports`: the outreach figures (``/reports/outreach``; team leads and
  management);
- :mod:`contacts.api.schemas`: the request and response models;
- :mod:`contacts.api.presenters`: view rows and aggregates into responses (opening sealed
  fields, noting each opening in the access log);
- :mod:`contacts.api.deps`: the typed dependencies (the service's state, who may call).
"""

from fastapi import APIRouter

from contacts.api import data_protection, feeds, reports, staff

routers: list[APIRouter] = [staff.router, data_protection.router, feeds.router, reports.router]
