"""Prometheus metrics of every process of a service, served at ``/metrics``.

- :mod:`shared.metrics.registry`: what one scrape collects (this process, or every server
  process of a port in multiprocess mode);
- :mod:`shared.metrics.http`: requests and latency by route template, method, status class;
- :mod:`shared.metrics.counters`: events only the code path sees (chain anchors, access-log
  write failures, key-cache lookups);
- :mod:`shared.metrics.service`: what the service knows at scrape time (the event log's head,
  events stored per type, the relay's backlog, projection lag and parked events, consumer
  lag and counts, dead letters, erasures awaiting confirmation);
- :mod:`shared.metrics.endpoint`: the route, the process's readiness, and
  :func:`~shared.metrics.endpoint.install_metrics`.

No label carries personal data, a pseudonym, a district or an id: every label's values come
from the code (route templates, event types, topics, consumer groups, partitions, reasons).
"""
