"""The outreach figures (KPIs): counts per district and month, without identifiers.

Fed from the product topics by consumer groups of their own, into tables of their own, so
the view can be emptied and rebuilt from the topics on its own (``python -m
contacts.reporting.rebuild``), sending nothing:

- :mod:`contacts.reporting.figures`: which event counts which figure, in which month;
- :mod:`contacts.reporting.view`: the tables, the consumers filling them, the reads;
- :mod:`contacts.reporting.suppression`: small cells shown as ``<5`` and kept from being
  derived (the rule is in its docstring and in the service README);
- :mod:`contacts.reporting.report`: the published rows and their CSV form;
- :mod:`contacts.reporting.metrics`: the current month's figures as Prometheus gauges;
- :mod:`contacts.reporting.rebuild`: the rebuild from the topics;
- the route: :mod:`contacts.api.reports` (``GET /reports/outreach``).

The view lives in the contacts service, which owns the case and already consumes the
visits and coaching topics; a reporting service of its own would add a process to every
deployment (launcher, compose, Kubernetes, metrics, topics) for three consumer groups and
one read.
"""
