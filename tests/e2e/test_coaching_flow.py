"""From a lost contact to a coach, through three services running as processes: reported to
contacts, visited by the outreach team with a consented coaching referral, requested in
coaching, a coach assigned — and the assignment in the contacts case's timeline. The
provider's coach sees the hand-over packet, never the visit's note, and another provider's
coach sees nothing of the person. A provider contracted to run the outreach itself in a
district: its outreach workers work that district's planning board in the visits service,
and only that district, for as long as the contract lasts.

The visits and coaching services run with databases of their own (like the contacts service
of the session, see ``conftest.py``), and their consumers start at the end of the topics.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.contracts import topic_of
from shared.http.auth import Principal, Role, TokenCodec
from shared.settings import ServiceSettings
from tests.support.e2e import ContactsApi, on_the_board, register_provider, with_purpose
from tests.support.helpers import eventually, person, scratch_database
from tests.support.processes import ServiceProcess, start_group_at_end

pytestmark = pytest.mark.e2e

NOTE = "Gespräch über Schulden und die Trennung vom Partner"


@pytest.fixture(scope="module")
def databases(stack: ServiceSettings) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as created:
        yield {
            s: created.enter_context(scratch_database(stack, f"{s}_e2e"))
            for s in ("visits", "coaching")
        }


def start_service(
    service: str,
    database: str,
    groups: dict[str, str],
    stack: ServiceSettings,
    e2e_dir: Path,
    mint: Callable[..., str],
) -> ServiceProcess:
    """Start ``service`` on ``database``; its consumer groups (suffix -> topic) at the end."""
    for suffix, topic in groups.items():
        start_group_at_end(stack, f"{database}-{suffix}", topic)
    headers = {"Authorization": f"Bearer {mint('tl-ops', 'team_lead', 'ops')}"}

    def relay_active(started: ServiceProcess) -> None:
        def active() -> bool:
            response = httpx.get(f"{started.url}/ops/relay", headers=headers, timeout=10)
            return response.status_code == 200 and bool(response.json()["active"])

        eventually(active, timeout=30, what=f"the {service} relay to be active")

    env = {"OUTREACH_SERVICE_NAME": database}
    if service == "visits":
        # No lead time here: a visit announced for today is made, and recorded, today.
        env["OUTREACH_DEFAULT_MIN_LEAD_DAYS"] = "0"
    process = ServiceProcess(service, e2e_dir, env, started=relay_active)
    process.start()
    return process


@pytest.fixture(scope="module")
def visits_client(
    stack: ServiceSettings,
    databases: dict[str, str],
    e2e_dir: Path,
    mint: Callable[..., str],
) -> Iterator[httpx.Client]:
    groups = {
        "board": topic_of("contacts"),
        "cancellations": topic_of("contacts"),
        "outreach-contracts": topic_of("coaching"),
    }
    process = start_service("visits", databases["visits"], groups, stack, e2e_dir, mint)
    try:
        with httpx.Client(base_url=process.url, timeout=30) as client:
            yield client
    finally:
        process.stop()


@pytest.fixture(scope="module")
def coaching_client(
    stack: ServiceSettings,
    databases: dict[str, str],
    e2e_dir: Path,
    mint: Callable[..., str],
) -> Iterator[httpx.Client]:
    groups = {"case-directory": topic_of("contacts"), "visit-referrals": topic_of("visits")}
    process = start_service("coaching", databases["coaching"], groups, stack, e2e_dir, mint)
    try:
        with httpx.Client(base_url=process.url, timeout=30) as client:
            yield client
    finally:
        process.stop()


def test_a_consented_referral_after_a_visit_reaches_a_coach_and_the_case_timeline(
    api: ContactsApi,
    visits_client: httpx.Client,
    coaching_client: httpx.Client,
    district: str,
) -> None:
    manager = api.auth("cm-lange", "case_manager", district)
    lead = api.auth("tl-schmidt", "team_lead", district)
    worker = api.auth("ow-yilmaz", "outreach_worker", district)
    tag = uuid.uuid4().hex[:6]
    coach_user, stranger_user = f"pc-weber-{tag}", f"pc-other-{tag}"
    coach = api.auth(coach_user, "provider_coach", district)
    stranger = api.auth(stranger_user, "provider_coach", district)
    provider_id = register_provider(coaching_client, lead, district, coach_user)
    register_provider(coaching_client, lead, district, stranger_user)
    who = person()

    # 1. ContactLost, reported to the contacts service.
    created = api.report(manager, district, who)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]

    # 2. The outreach team announces a visit and records it: met, a coaching referral with
    #    the person's consent, and a note that must stay with the visits service.
    on_the_board(visits_client, worker, district, case_id)
    announced = visits_client.post(
        "/visits",
        json={
            "case_id": case_id,
            "workers": ["ow-yilmaz"],
            "purpose": "first_contact",
            "date": date.today().isoformat(),
        },
        headers=worker,
    )
    assert announced.status_code == 201, announced.text
    completed = visits_client.post(
        f"/visits/{announced.json()['visit_id']}/outcome",
        json={
            "outcome": "met_and_talked",
            "needs": ["debt", "threatened_loss_of_housing"],
            "note": NOTE,
            "coaching_referral_consent": True,
            "next_step": "coaching_referral",
        },
        headers=worker,
    )
    assert completed.status_code == 200, completed.text

    # 3. The coaching service shows the request.
    def requested() -> Any:
        response = coaching_client.get(
            "/coachings", params={"district": district}, headers=with_purpose(manager, "coaching")
        )
        assert response.status_code == 200, response.text
        mine = [c for c in response.json()["coachings"] if c["case_id"] == case_id]
        return mine if mine and mine[0]["name"] else None

    (request,) = eventually(requested, timeout=60, what="the coaching request")
    assert request["source"] == "visit_referral"
    assert request["status"] == "requested"
    assert request["needs"] == ["debt", "threatened_loss_of_housing"]
    assert request["name"] == who["name"]
    coaching_id = request["coaching_id"]

    # 4. A coach is assigned, for the contract's initial term of four months.
    assigned = coaching_client.post(
        f"/coachings/{coaching_id}/assign",
        json={"provider_id": provider_id, "coach": coach_user},
        headers=manager,
    )
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "active"

    # 5. The contacts case's timeline shows the coach assignment.
    def noted() -> Any:
        detail = api.detail(manager, case_id)
        assert detail.status_code == 200, detail.text
        notes = [t for t in detail.json()["timeline"] if t["what"] == "CoachingNoted"]
        return notes or None

    (note,) = eventually(noted, timeout=60, what="the coach assignment in the case timeline")
    assert note["details"]["kind"] == "coach_assigned"
    assert note["details"]["coach"] == coach_user
    assert note["details"]["provider"] == f"Träger {coach_user}"
    assert note["details"]["ends_on"] == assigned.json()["ends_on"]

    # 6. The provider's coach gets the hand-over packet — never the visit's note.
    def packet() -> Any:
        response = coaching_client.get(
            f"/provider/coachings/{coaching_id}", headers=with_purpose(coach, "coaching")
        )
        return response.json() if response.status_code == 200 else None

    handover = eventually(packet, timeout=30, what="the hand-over packet")
    assert handover["person"] == {
        "name": who["name"],
        "address": who["address"],
        "phone": who["phone"],
    }
    assert handover["needs"] == ["debt", "threatened_loss_of_housing"]
    caseload = coaching_client.get("/provider/caseload", headers=with_purpose(coach, "coaching"))
    for body in (str(handover), caseload.text):
        assert NOTE not in body
        assert "Trennung" not in body
        assert who["customer_number"] not in body

    # ... and another provider's coach sees nothing of the person.
    assert (
        coaching_client.get(
            f"/provider/coachings/{coaching_id}", headers=with_purpose(stranger, "coaching")
        ).status_code
        == 404
    )
    other = coaching_client.get("/provider/caseload", headers=with_purpose(stranger, "coaching"))
    assert other.status_code == 200, other.text
    assert other.json()["coachings"] == []
    assert who["name"] not in other.text
    assert (
        coaching_client.get(
            f"/coachings/{coaching_id}", headers=with_purpose(stranger, "coaching")
        ).status_code
        == 403
    )


def test_a_provider_contracted_for_the_outreach_works_only_the_districts_its_contract_covers(
    api: ContactsApi,
    visits_client: httpx.Client,
    coaching_client: httpx.Client,
    stack: ServiceSettings,
) -> None:
    tag = uuid.uuid4().hex[:8]
    covered, other = f"test-{tag}-a", f"test-{tag}-b"
    lead = api.auth("tl-schmidt", "team_lead", covered, other)
    manager = api.auth("cm-lange", "case_manager", covered, other)
    provider = coaching_client.post(
        "/providers", json={"name": f"Träger {tag}", "districts": [covered, other]}, headers=lead
    )
    assert provider.status_code == 201, provider.text
    provider_id = provider.json()["id"]
    codec = TokenCodec.from_settings(stack)

    def provider_worker(provider: str | None = provider_id) -> dict[str, str]:
        principal = Principal(
            user=f"pw-{tag}",
            role=Role.PROVIDER_OUTREACH,
            districts=frozenset({covered, other}),
            provider=uuid.UUID(provider) if provider else None,
        )
        return with_purpose({"Authorization": f"Bearer {codec.mint(principal)}"}, "visit_planning")

    def board(headers: dict[str, str], district: str) -> httpx.Response:
        return visits_client.get("/board", params={"district": district}, headers=headers)

    # Before any contract the provider's outreach worker has no access at all.
    refused = board(provider_worker(), covered)
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "no_outreach_contract"

    # A district the provider does not serve cannot be contracted.
    unserved = coaching_client.put(
        f"/providers/{provider_id}/outreach/{covered}-x",
        headers=api.auth("tl-schmidt", "team_lead", covered, f"{covered}-x"),
    )
    assert unserved.status_code == 409, unserved.text
    assert unserved.json()["code"] == "provider_does_not_serve_district"

    contracted = coaching_client.put(f"/providers/{provider_id}/outreach/{covered}", headers=lead)
    assert contracted.status_code == 200, contracted.text
    assert contracted.json()["outreach_districts"] == [covered]

    def listed() -> Any:
        response = coaching_client.get("/providers", params={"district": covered}, headers=lead)
        assert response.status_code == 200, response.text
        mine = [p for p in response.json() if p["provider_id"] == provider_id]
        return mine if mine and mine[0]["outreach_districts"] == [covered] else None

    eventually(listed, timeout=30, what="the registry listing the outreach contract")

    lost = api.report(manager, covered, person())
    assert lost.status_code == 201, lost.text
    case_id = lost.json()["case_id"]

    def on_the_board() -> Any:
        response = board(provider_worker(), covered)
        if response.status_code != 200:
            return None
        entries = response.json()["sections"]["to_plan"]
        return entries if any(e["case_id"] == case_id for e in entries) else None

    eventually(on_the_board, timeout=60, what="the contracted provider's worker seeing the board")
    # The token's other district is not under the contract: it does not exist for them.
    assert board(provider_worker(), other).status_code == 404
    # A token without its provider, or naming another provider, is refused.
    assert board(provider_worker(None), covered).status_code == 403
    assert board(provider_worker(str(uuid.uuid4())), covered).status_code == 403

    # They announce the visit like the Jobcenter's own outreach workers.
    announced = visits_client.post(
        "/visits",
        json={
            "case_id": case_id,
            "workers": [f"pw-{tag}"],
            "purpose": "first_contact",
            "date": (date.today() + timedelta(days=7)).isoformat(),
        },
        headers=provider_worker(),
    )
    assert announced.status_code == 201, announced.text

    # Ending the contract ends the access.
    ended = coaching_client.delete(f"/providers/{provider_id}/outreach/{covered}", headers=lead)
    assert ended.status_code == 200, ended.text
    assert ended.json()["outreach_districts"] == []

    def refused_again() -> Any:
        response = board(provider_worker(), covered)
        return response if response.status_code == 403 else None

    eventually(refused_again, timeout=60, what="the ended contract to end the access")


def test_a_provider_and_a_programme_just_created_can_be_read_at_once(
    api: ContactsApi, coaching_client: httpx.Client, district: str
) -> None:
    """Their views follow the event log a few milliseconds behind the 201; the team lead
    who just created them is not told they do not exist."""
    lead = with_purpose(api.auth("tl-anna", "team_lead", district), "coaching")
    for _ in range(3):
        provider = coaching_client.post(
            "/providers", json={"name": "Träger am Start", "districts": [district]}, headers=lead
        )
        assert provider.status_code == 201, provider.text
        caseload = coaching_client.get(f"/providers/{provider.json()['id']}/caseload", headers=lead)
        assert caseload.status_code == 200, caseload.text
        assert caseload.json()["provider"]["name"] == "Träger am Start"

        programme = coaching_client.post(
            "/programmes",
            json={
                "district": district,
                "local_office": "mitte",
                "title": "Lebensgeschichten schreiben",
                "target_group": "Alleinerziehende",
                "dates": [(date.today() + timedelta(days=14)).isoformat()],
                "capacity": 12,
            },
            headers=lead,
        )
        assert programme.status_code == 201, programme.text
        roster = coaching_client.get(f"/programmes/{programme.json()['id']}", headers=lead)
        assert roster.status_code == 200, roster.text
        assert roster.json()["participants"] == []
