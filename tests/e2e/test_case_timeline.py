"""The case timeline is where a case manager looks, so it shows every step across the
services: a visit announced, its letter in the print batch, and — when the person got in
touch by phone first — the visit cancelled automatically and the cancellation letter."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from tests.support.e2e import configure_letters, on_the_board, report_body, with_purpose
from tests.support.helpers import eventually, person
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e


def test_the_timeline_shows_the_visit_its_letter_and_its_automatic_cancellation(
    system: dict[str, ServiceProcess],
    clients: dict[str, httpx.Client],
    mint: Callable[..., str],
    district: str,
) -> None:
    contacts, visits, notifications = (
        clients["contacts"],
        clients["visits"],
        clients["notifications"],
    )
    manager = {"Authorization": f"Bearer {mint('cm-timeline', 'case_manager', district)}"}
    lead = {"Authorization": f"Bearer {mint('tl-timeline', 'team_lead', district)}"}
    worker_id = f"ow-timeline-{uuid.uuid4().hex[:6]}"
    worker = {"Authorization": f"Bearer {mint(worker_id, 'outreach_worker', district)}"}
    configure_letters(notifications, lead, district, {worker_id: ("Ayşe Yılmaz", "frau")})
    created = contacts.post("/cases", json=report_body(district, person()), headers=manager)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    on_the_board(visits, worker, district, case_id)
    announced = visits.post(
        "/visits",
        json={
            "case_id": case_id,
            "workers": [worker_id],
            "purpose": "first_contact",
            "date": (date.today() + timedelta(days=7)).isoformat(),
        },
        headers=worker,
    )
    assert announced.status_code == 201, announced.text

    def timeline() -> list[dict[str, Any]]:
        response = contacts.get(f"/cases/{case_id}", headers=with_purpose(manager, "case_work"))
        assert response.status_code == 200, response.text
        steps: list[dict[str, Any]] = response.json()["timeline"]
        return steps

    def kinds(steps: list[dict[str, Any]]) -> list[str]:
        return [str(step["details"].get("kind", step["what"])) for step in steps]

    def letter_sent(template: str, step: str) -> Callable[[], list[dict[str, Any]] | None]:
        """The timeline once it shows ``step`` and every letter of ``template`` as sent (the
        visit's steps and the letters' steps come over two topics, in either order)."""

        def probe() -> list[dict[str, Any]] | None:
            steps = timeline()
            queued = {
                s["details"]["notification_id"]
                for s in steps
                if s["details"].get("kind") == "letter_queued"
                and s["details"]["template"] == template
            }
            sent = {
                s["details"]["notification_id"]
                for s in steps
                if s["details"].get("kind") == "letter_sent"
            }
            return steps if step in kinds(steps) and queued and queued <= sent else None

        return probe

    steps = eventually(
        letter_sent("visit_announcement", "visit_announced"), timeout=90, what="the letter sent"
    )
    (visit,) = [s for s in steps if s["details"].get("kind") == "visit_announced"]
    assert visit["what"] == "VisitNoted"
    assert visit["details"]["workers"] == [worker_id]
    assert visit["details"]["visit_id"] == announced.json()["visit_id"]
    (sent,) = [s for s in steps if s["details"].get("kind") == "letter_sent"]
    assert sent["details"]["print_day"]

    # The person calls before the visit: the visit is cancelled by the system, and a
    # cancellation letter goes out.
    restored = contacts.post(
        f"/cases/{case_id}/contact-restored",
        json={"channel": "phone", "restored_on": date.today().isoformat()},
        headers=manager,
    )
    assert restored.status_code == 200, restored.text
    steps = eventually(
        letter_sent("visit_cancelled", "visit_cancelled"), timeout=90, what="the cancellation"
    )
    (cancelled,) = [s for s in steps if s["details"].get("kind") == "visit_cancelled"]
    assert cancelled["details"]["automatic"] is True
    assert cancelled["details"]["reason"] == "contact_restored_before_visit"
    order = kinds(steps)
    assert order.index("visit_announced") < order.index("visit_cancelled")
    assert order.count("letter_queued") == 2
    assert order.count("letter_sent") == 2
