"""Crashes in the middle of the flow lose nothing and apply nothing twice.

The relay publishes at least once and records its position only after the broker's
acknowledgement; the consumer commits its offset only after the effect and its tracking
record are stored. A SIGKILL at any point may repeat a delivery, never skip one.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.e2e import ContactsApi, ProbeView, event_id
from tests.support.helpers import eventually
from tests.support.load import Reporter
from tests.support.processes import ProbeProcess, ServiceProcess

pytestmark = pytest.mark.e2e


def assert_each_case_applied_once(
    probe_view: ProbeView, group: str, district: str, case_ids: list[str]
) -> None:
    expected = {event_id(case_id, 1) for case_id in case_ids}
    assert len(expected) == len(case_ids)
    applied = probe_view.wait_for(group, district, expected, timeout=60)
    # Nothing accepted is missing, nothing else appeared, and nothing was applied twice.
    assert applied == {event: ("ContactLost", 1) for event in expected}


def test_cases_accepted_around_a_crash_of_the_service_reach_the_consumer_exactly_once(
    api: ContactsApi,
    contacts_service: ServiceProcess,
    probe: ProbeProcess,
    probe_view: ProbeView,
    mint: Callable[..., str],
    district: str,
) -> None:
    reporter = Reporter(contacts_service.url, mint, district, count=40)
    reporter.start()
    eventually(
        lambda: len(reporter.accepted) >= 15 or reporter.error,
        timeout=60,
        what="15 accepted reports",
    )

    contacts_service.restart_after_crash()  # SIGKILL: relay, projections, requests in flight
    case_ids = reporter.finish()

    assert len(case_ids) == 40
    assert_each_case_applied_once(probe_view, probe.group, district, case_ids)
    manager = api.auth("cm-lange", "case_manager", district)
    eventually(
        lambda: api.queue(manager, district).json()["counts"]["open"] == 40,
        timeout=30,
        what="all 40 cases in the queue of the restarted service",
    )


def test_events_consumed_around_a_crash_of_the_consumer_are_applied_exactly_once(
    contacts_service: ServiceProcess,
    probe: ProbeProcess,
    probe_view: ProbeView,
    mint: Callable[..., str],
    district: str,
) -> None:
    reporter = Reporter(contacts_service.url, mint, district, count=30)
    reporter.start()
    eventually(
        lambda: len(probe_view.applied(probe.group, district)) >= 8 or reporter.error,
        timeout=60,
        what="the consumer to apply some events",
    )

    probe.restart_after_crash()  # SIGKILL while events flow, then the same consumer group
    case_ids = reporter.finish()

    assert len(case_ids) == 30
    assert_each_case_applied_once(probe_view, probe.group, district, case_ids)
