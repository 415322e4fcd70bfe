"""The services as a benchmark run starts them: each service's own ``create_app`` with its
settings class extended by :class:`shared.settings.BenchSettings` (``bench_settings``), so
the run can name the databases and let new consumer groups start at the end of their topics.

    python -m uvicorn bench.apps:contacts --factory ...

Only these factories read the ``OUTREACH_BENCH_*`` variables; the services' own factories
(``<service>.main:create_app``, what every deployment runs) have no such settings. Imports
are inside each factory: a process loads only its own service.
"""

from __future__ import annotations

from fastapi import FastAPI

from shared.settings import bench_settings


def contacts() -> FastAPI:
    from contacts.main import create_app
    from contacts.settings import ContactsSettings

    return create_app(bench_settings(ContactsSettings)())


def visits() -> FastAPI:
    from visits.main import create_app
    from visits.settings import VisitsSettings

    return create_app(bench_settings(VisitsSettings)())


def coaching() -> FastAPI:
    from coaching.main import create_app
    from coaching.settings import CoachingSettings

    return create_app(bench_settings(CoachingSettings)())


def notifications() -> FastAPI:
    from notifications.main import create_app
    from notifications.settings import NotificationsSettings

    return create_app(bench_settings(NotificationsSettings)())
