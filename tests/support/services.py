"""A service opened in the test process as its process opens it (``shared.runtime``): the
infrastructure, the service's own open function (from its ``main.py``), the views of its
event log kept by production's projection runners."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast

from shared.runtime.infrastructure import Infrastructure
from shared.runtime.running import Running, open_running
from shared.runtime.service import Service
from shared.settings import ServiceSettings
from tests.support.helpers import TEST_DATABASE

S = TypeVar("S", bound=ServiceSettings)


def service_settings(
    kind: type[S],
    stack: ServiceSettings,
    name: str,
    database_name: str | None = TEST_DATABASE,
    **changes: Any,
) -> S:
    """A service's settings in the tests: the stack's, deployed as ``name`` on the test
    database (``database_name``; ``None``: the database named after the deployment, as in
    production), keys never cached."""
    settings = kind.model_validate(
        {**stack.model_dump(), "service_name": name, "key_cache_seconds": 0, **changes}
    )
    if database_name is None:
        return settings
    # A deployment's database is named after it (``ServiceSettings.database``); in the tests
    # it is the test database, so the service never meets a running one.
    on_test_database = type(kind.__name__, (kind,), {"database": property(lambda _: database_name)})
    return cast(S, on_test_database.model_validate(settings.model_dump()))


@contextlib.contextmanager
def running_service(
    infra: Infrastructure, open_service: Callable[[], Service[object]]
) -> Iterator[Running]:
    """The service opened, its projections running (no relay, consumer or background work:
    a test runs those it needs); closed afterwards."""
    running = open_running(infra, open_service)
    assert running.runners is not None
    running.runners.start()
    try:
        yield running
    finally:
        running.runners.close()
        running.service.app.close()
        infra.close()
