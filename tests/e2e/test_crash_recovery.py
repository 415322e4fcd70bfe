"""Crashes in the middle of the flow lose nothing and apply nothing twice.

The relay publishes at least once and records its position only after the broker's
acknowledgement; the consumer commits its offset only after the effect and its tracking
record are stored. A SIGKILL at any point may repeat a delivery, never skip one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.e2e import ContactsApi, ProbeView, event_id
from tests.support.helpers import eventually, person
from tests.support.processes import ProbeProcess, ServiceProcess

pytestmark = pytest.mark.e2e


class Reporter(threading.Thread):
    """Reports ``count`` cases one after another, like a busy office, with its own client.

    A report whose answer is lost (the service died meanwhile) is sent again unchanged
    until the service answers: 201, or 409 ``open_case_exists`` when the lost attempt had
    been recorded after all, which names the case it created.
    """

    def __init__(self, url: str, mint: Callable[..., str], district: str, count: int) -> None:
        super().__init__(name=f"reporter-{district}", daemon=True)
        self._url = url
        self._mint = mint
        self._district = district
        self._count = count
        self.created: list[str] = []
        """Case ids answered with 201."""
        self.recovered: list[str] = []
        """Case ids of reports recorded although their answer was lost."""
        self.error: BaseException | None = None

    @property
    def accepted(self) -> list[str]:
        return self.created + self.recovered

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self._url, timeout=30) as client:
                api = ContactsApi(client, self._mint)
                headers = api.auth("cm-lange", "case_manager", self._district)
                for _ in range(self._count):
                    self._report(api, headers, person())
        except BaseException as error:
            self.error = error

    def _report(self, api: ContactsApi, headers: dict[str, str], who: dict[str, Any]) -> None:
        deadline = time.monotonic() + 90
        answer_lost = False
        while True:
            try:
                response = api.report(headers, self._district, who)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                answer_lost = True
                time.sleep(0.2)
                continue
            body = response.json()
            if response.status_code == 201:
                self.created.append(body["case_id"])
                return
            if answer_lost and response.status_code == 409 and body["code"] == "open_case_exists":
                self.recovered.append(body["existing_case_id"])
                return
            raise AssertionError(f"report refused: {response.status_code} {response.text}")

    def finish(self) -> list[str]:
        self.join(120)
        assert not self.is_alive(), "the reports did not finish"
        if self.error is not None:
            raise self.error
        return self.accepted


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
