"""Talking to the running system in the end-to-end tests: the contacts API and what the
probe consumer applied."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from uuid import UUID

import httpx
import psycopg

from shared.contracts import stable_event_id
from shared.settings import StackSettings
from tests.support.helpers import eventually, person

TEST_DATABASE = "outreach_test"


class ContactsApi:
    """The contacts service's HTTP API, with tokens minted for invented users."""

    def __init__(self, client: httpx.Client, mint: Callable[..., str]) -> None:
        self.client = client
        self._mint = mint

    def auth(self, user: str, role: str, *districts: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._mint(user, role, *districts)}"}

    def report(
        self, headers: dict[str, str], district: str, who: dict[str, Any] | None = None, **body: Any
    ) -> httpx.Response:
        return self.client.post(
            "/cases", json=report_body(district, who or person(), **body), headers=headers
        )

    def queue(
        self, headers: dict[str, str], district: str, purpose: str | None = "case_work"
    ) -> httpx.Response:
        return self.client.get(
            "/cases", params={"district": district}, headers=with_purpose(headers, purpose)
        )

    def detail(
        self, headers: dict[str, str], case_id: UUID | str, purpose: str | None = "case_work"
    ) -> httpx.Response:
        """The case detail, read with the stated ``purpose`` (``None``: no X-Purpose)."""
        return self.client.get(f"/cases/{case_id}", headers=with_purpose(headers, purpose))

    def break_glass(
        self, headers: dict[str, str], case_id: UUID | str, reason: str
    ) -> httpx.Response:
        return self.client.post(
            f"/cases/{case_id}/break-glass", json={"reason": reason}, headers=headers
        )

    def restore(
        self, headers: dict[str, str], case_id: UUID | str, restored_on: date | None = None
    ) -> httpx.Response:
        return self.client.post(
            f"/cases/{case_id}/contact-restored",
            json={"channel": "phone", "restored_on": (restored_on or date.today()).isoformat()},
            headers=headers,
        )

    def update_details(
        self, headers: dict[str, str], case_id: UUID | str, **changes: str
    ) -> httpx.Response:
        return self.client.patch(f"/cases/{case_id}/contact-details", json=changes, headers=headers)

    def close(self, headers: dict[str, str], case_id: UUID | str, reason: str) -> httpx.Response:
        return self.client.post(f"/cases/{case_id}/close", json={"reason": reason}, headers=headers)

    def detail_when_projected(self, headers: dict[str, str], case_id: UUID | str) -> Any:
        """The case detail, once the service's projection has caught up with the case."""

        def found() -> Any:
            response = self.detail(headers, case_id)
            return response.json() if response.status_code == 200 else None

        return eventually(found, timeout=30, what=f"case {case_id} in the detail view")


def register_provider(
    coaching: httpx.Client, lead: dict[str, str], district: str, coach: str
) -> str:
    """Register a provider named after ``coach`` in ``district``, with that one coach (five
    places) — over the coaching service's HTTP API. Returns the provider's id."""
    provider = coaching.post(
        "/providers", json={"name": f"Träger {coach}", "districts": [district]}, headers=lead
    )
    assert provider.status_code == 201, provider.text
    provider_id = str(provider.json()["id"])
    registered = coaching.post(
        f"/providers/{provider_id}/coaches",
        json={
            "coach": coach,
            "display_name": "Jana Weber",
            "max_caseload": 5,
            "emergency_line": "0561 7654321",
        },
        headers=lead,
    )
    assert registered.status_code == 201, registered.text
    return provider_id


def configure_letters(
    notifications: httpx.Client,
    lead: dict[str, str],
    district: str,
    staff: dict[str, tuple[str, str]],
) -> None:
    """Over the notifications service's HTTP API, as a team lead of ``district``: the
    district's letterhead, and how letters name ``staff`` (user id -> (display name, form of
    address)). Without them its letters are held (no invented letterhead, never a user id)."""
    head = notifications.put(
        f"/letterheads/{district}",
        json={
            "jobcenter": f"Jobcenter Testkreis {district}",
            "address": ["Probeweg 1", "34117 Kassel"],
            "phone": "0561 7070-0",
            "email": f"aufsuchend@{district}.example",
            "data_protection_officer": f"datenschutz@{district}.example",
        },
        headers=lead,
    )
    assert head.status_code == 200, head.text
    for user, (name, form) in staff.items():
        entered = notifications.put(
            f"/staff/{user}",
            json={"display_name": name, "form_of_address": form, "district": district},
            headers=lead,
        )
        assert entered.status_code == 200, entered.text


def on_the_board(
    visits: httpx.Client, worker: dict[str, str], district: str, case_id: str
) -> list[dict[str, Any]]:
    """The district's "to plan" entries of the planning board, once ``case_id`` is among
    them (the visits service's board consumer has caught up with the case)."""

    def entries() -> list[dict[str, Any]] | None:
        response = visits.get(
            "/board", params={"district": district}, headers=with_purpose(worker, "visit_planning")
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["sections"]["to_plan"]
        return found if any(e["case_id"] == case_id for e in found) else None

    return eventually(entries, timeout=60, what="the person on the planning board")


def with_purpose(headers: dict[str, str], purpose: str | None) -> dict[str, str]:
    """``headers`` with ``X-Purpose`` (the purpose every read of personal data states)."""
    return headers if purpose is None else {**headers, "X-Purpose": purpose}


def report_body(district: str, who: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    today = date.today()
    return {
        "district": district,
        "local_office": "mitte",
        "person": who,
        "reason": "missed_appointments",
        "evidence": {
            "unanswered_letters": 2,
            "missed_appointments": 3,
            "last_contact_on": (today - timedelta(days=60)).isoformat(),
        },
        "deadline": (today + timedelta(days=21)).isoformat(),
        **overrides,
    }


def event_id(case_id: UUID | str, version: int) -> str:
    """The integration event id of the case's ``version``-th event (1 is ContactLost)."""
    return str(stable_event_id("contacts", UUID(str(case_id)), version))


class ProbeView:
    """What the probe consumer has applied, read from its table in the test database."""

    def __init__(self, settings: StackSettings) -> None:
        self._dsn = settings.database_url(TEST_DATABASE)

    def applied(self, group: str, district: str) -> dict[str, tuple[str, int]]:
        """event id -> (event type, how often it was applied) for one district."""
        with psycopg.connect(self._dsn) as conn:
            rows = conn.execute(
                "SELECT event_id, event_type, applied_count FROM probe_applied "
                "WHERE consumer = %s AND district = %s",
                (group, district),
            ).fetchall()
        return {str(event): (kind, count) for event, kind, count in rows}

    def wait_for(
        self, group: str, district: str, event_ids: set[str], timeout: float = 30
    ) -> dict[str, tuple[str, int]]:
        """The district's applied events, once every one of ``event_ids`` is among them."""

        def all_there() -> dict[str, tuple[str, int]] | None:
            applied = self.applied(group, district)
            return applied if event_ids <= applied.keys() else None

        return eventually(
            all_there, timeout=timeout, what=f"{len(event_ids)} events of {district} in the probe"
        )

    def dead_letters(self, group: str) -> list[tuple[str, int, int, str]]:
        with psycopg.connect(self._dsn) as conn:
            rows = conn.execute(
                'SELECT topic, partition, "offset", error FROM dead_letters WHERE consumer = %s',
                (group,),
            ).fetchall()
        return [(str(t), int(p), int(o), str(e)) for t, p, o, e in rows]
