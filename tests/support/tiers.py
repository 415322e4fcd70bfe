"""Every test runs in exactly one tier: ``unit`` (no network), ``integration`` (the real
PostgreSQL, Kafka and Keycloak) or ``e2e`` (the services as processes), the markers that
``make unit``, ``make integration`` and ``make e2e`` select (``pytest -m <tier>``).

A test without a tier would silently run in no tier's target, and one with two in both: the
collection stops with a usage error naming each such test, before ``-m`` deselects anything.
"""

from __future__ import annotations

import pytest

TIERS = ("unit", "integration", "e2e")


def tiers_of(item: pytest.Item) -> set[str]:
    return {marker.name for marker in item.iter_markers() if marker.name in TIERS}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    wrong = {item.nodeid: sorted(tiers_of(item)) for item in items if len(tiers_of(item)) != 1}
    if wrong:
        lines = [f"  {nodeid}: {', '.join(tiers) or 'none'}" for nodeid, tiers in wrong.items()]
        raise pytest.UsageError(
            f"every test needs exactly one of the markers {', '.join(TIERS)} (a module's "
            "pytestmark or the test's own):\n" + "\n".join(lines)
        )
