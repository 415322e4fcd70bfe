"""The data protection officer is scoped like everyone else, in every service.

Three persons: one with a case in district A only, one in B only, one with a case in each
(the same customer number: the same pseudonym). Officers hold A, B, both, or another
district. Every ``/dpo`` route of every service (found in each service's OpenAPI document,
so a new route fails here until it is in the matrix) is called with each officer:

- an officer sees and acts on the persons of their districts (a person with cases in
  several districts is the person of each of those officers), and gets 404 for anyone else;
- an export holds only what the officer's districts hold (another district's visit note or
  household member is not in it), and so do the access log and the break-glass grants;
- ``/dpo/chain`` is service-wide (it reveals nothing about a person);
- any other role gets 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest

from tests.support.e2e import on_the_board, report_body, with_purpose
from tests.support.helpers import eventually, person
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

PERSONAL_ROUTES = {"/dpo/subjects/{subject}/export"}
LISTS = {"/dpo/access-log", "/dpo/break-glass"}
SERVICE_WIDE = {"/dpo/chain"}
CONTACTS_ONLY = {
    "/dpo/legal-holds",
    "/dpo/legal-holds/{subject}",
    "/dpo/legal-holds/{subject}/lift",
    "/dpo/erasures",
    "/dpo/erasures/{erasure_id}",
    "/dpo/category-erasures",
    "/dpo/category-erasures/{erasure_id}",
    "/dpo/feeds",
    "/dpo/figures-reads",
}
"""Every ``/dpo`` route and where the matrix covers it."""


def posted_body(path: str, subject: str) -> dict[str, Any] | None:
    """A valid body of the ``POST`` route ``path`` (``None``: the route is a ``GET``)."""
    reason = {"reason": "Az. DSB-2026-77"}
    return {
        "/dpo/legal-holds": {"subject": subject, **reason},
        "/dpo/legal-holds/{subject}/lift": reason,
        "/dpo/erasures": {"subject": subject, **reason},
        "/dpo/category-erasures": {"subject": subject, "category": "visit_note", **reason},
        "/dpo/feeds": {
            "name": "nosy-team",
            "purpose": "capacity planning",
            "allow": {"ContactLost": ["reason"]},
        },
    }.get(path)


@dataclass
class World:
    a: str
    b: str
    elsewhere: str
    subjects: dict[str, str]
    """``only_a``, ``only_b``, ``both`` -> pseudonym."""
    who: dict[str, dict[str, Any]]
    cases: dict[tuple[str, str], str]
    """(person, district) -> case id."""
    note: str
    """The visit note of ``both`` in district B."""
    household_member: str
    """The household member of ``both``'s coaching in district B."""
    clients: dict[str, httpx.Client]
    mint: Callable[..., str]

    def auth(self, user: str, role: str, *districts: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.mint(user, role, *districts)}"}

    def officer(self, *districts: str) -> dict[str, str]:
        return self.auth(
            f"dpo-{'-'.join(sorted(districts))}", "data_protection_officer", *districts
        )


@pytest.fixture(scope="module")
def world(
    system: dict[str, ServiceProcess],
    clients: dict[str, httpx.Client],
    mint: Callable[..., str],
) -> World:
    tag = uuid.uuid4().hex[:6]
    a, b, elsewhere = f"dadi-{tag}", f"kassel-{tag}", f"halle-{tag}"
    contacts, visits, coaching = clients["contacts"], clients["visits"], clients["coaching"]

    def auth(user: str, role: str, *districts: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint(user, role, *districts)}"}

    shared = person()
    who = {"only_a": person(), "only_b": person(), "both": shared}
    cases: dict[tuple[str, str], str] = {}
    subjects: dict[str, str] = {}
    for name, districts in (("only_a", (a,)), ("only_b", (b,)), ("both", (a, b))):
        for district in districts:
            manager = auth(f"cm-{district}", "case_manager", district)
            created = contacts.post(
                "/cases", json=report_body(district, who[name]), headers=manager
            )
            assert created.status_code == 201, created.text
            case_id = created.json()["case_id"]
            cases[name, district] = case_id

            def projected(case: str = case_id, headers: dict[str, str] = manager) -> Any:
                response = contacts.get(
                    f"/cases/{case}", headers=with_purpose(headers, "case_work")
                )
                return response.json() if response.status_code == 200 else None

            subjects[name] = eventually(projected, timeout=30, what="the case")["subject"]

    # In district B, the shared person is visited (a note) and coached (a household member).
    worker_b = auth(f"ow-{b}", "outreach_worker", b)
    on_the_board(visits, worker_b, b, cases["both", b])
    announced = visits.post(
        "/visits",
        json={
            "case_id": cases["both", b],
            "workers": [f"ow-{b}"],
            "purpose": "first_contact",
            # Today (the system's visits take no lead time): the outcome is recorded at once.
            "date": date.today().isoformat(),
        },
        headers=worker_b,
    )
    assert announced.status_code == 201, announced.text
    note = f"Vermerk nur in B {uuid.uuid4().hex[:10]}"
    completed = visits.post(
        f"/visits/{announced.json()['visit_id']}/outcome",
        json={"outcome": "met_and_talked", "needs": [], "note": note, "next_step": "none"},
        headers=worker_b,
    )
    assert completed.status_code == 200, completed.text
    manager_b = auth(f"cm-{b}", "case_manager", b)

    def coaching_knows_the_case() -> bool:
        requested = coaching.post(
            "/coachings",
            json={"case_id": cases["both", b], "needs": ["debt"], "shared_fields": ["name"]},
            headers=manager_b,
        )
        return requested.status_code == 201 and bool(requested.json()["id"])

    eventually(coaching_knows_the_case, timeout=60, what="the coaching requested")

    def listed() -> list[dict[str, Any]]:
        response = coaching.get(
            "/coachings", params={"district": b}, headers=with_purpose(manager_b, "coaching")
        )
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["coachings"]
        return found

    (coaching_b,) = eventually(listed, timeout=30, what="the coaching in its view")
    household_member = f"Mitbewohnerin Qxw{uuid.uuid4().hex[:8]}"
    added = coaching.post(
        f"/coachings/{coaching_b['coaching_id']}/household-members",
        json={"name": household_member, "relation": "child"},
        headers=manager_b,
    )
    assert added.status_code == 200, added.text

    # Reads by staff of each district, and a break-glass grant of an A user into B.
    for (_, district), case_id in cases.items():
        reader = auth(f"cm-{district}", "case_manager", district)
        read = contacts.get(f"/cases/{case_id}", headers=with_purpose(reader, "case_work"))
        assert read.status_code == 200, read.text
    stranger = auth(f"cm-{a}", "case_manager", a)
    granted = contacts.post(
        f"/cases/{cases['only_b', b]}/break-glass",
        json={"reason": "Person zieht um, Übergabegespräch"},
        headers=stranger,
    )
    assert granted.status_code == 201, granted.text

    # Every service knows every person before the matrix runs.
    both = auth("dpo-setup", "data_protection_officer", a, b)
    for service, client in clients.items():
        for name, subject in subjects.items():
            eventually(
                lambda c=client, s=subject: (
                    c.get(  # type: ignore[misc]
                        f"/dpo/subjects/{s}/export", headers=both
                    ).status_code
                    == 200
                ),
                timeout=60,
                what=f"{name} known to {service}",
            )
    return World(a, b, elsewhere, subjects, who, cases, note, household_member, clients, mint)


def dpo_paths(client: httpx.Client) -> set[str]:
    schema = client.get("/openapi.json").json()
    return {path for path in schema["paths"] if path.startswith("/dpo")}


def test_every_dpo_route_of_every_service_is_in_the_matrix(world: World) -> None:
    for service, client in world.clients.items():
        expected = PERSONAL_ROUTES | LISTS | SERVICE_WIDE
        if service == "contacts":
            expected |= CONTACTS_ONLY
        assert dpo_paths(client) == expected, service


def test_any_other_role_is_refused_on_every_dpo_route(world: World) -> None:
    manager = world.auth("cm-nosy", "case_manager", world.a, world.b)
    subject = world.subjects["only_a"]
    for service, client in world.clients.items():
        for path in dpo_paths(client):
            concrete = path.format(subject=subject, erasure_id=uuid.uuid4())
            body = posted_body(path, subject)
            if body is not None:
                response = client.post(concrete, json=body, headers=manager)
            else:
                response = client.get(concrete, headers=manager)
            assert response.status_code == 403, (service, path, response.text)
            if path == "/dpo/feeds":  # listed too
                assert client.get(concrete, headers=manager).status_code == 403


def visible(world: World, person_name: str, officer: tuple[str, ...]) -> bool:
    districts = {"only_a": {world.a}, "only_b": {world.b}, "both": {world.a, world.b}}
    return bool(districts[person_name] & set(officer))


def officers(world: World) -> list[tuple[str, ...]]:
    return [(world.a,), (world.b,), (world.a, world.b), (world.elsewhere,)]


def test_an_export_answers_only_the_officers_of_the_persons_districts(world: World) -> None:
    for service, client in world.clients.items():
        for name, subject in world.subjects.items():
            for officer in officers(world):
                response = client.get(
                    f"/dpo/subjects/{subject}/export", headers=world.officer(*officer)
                )
                expected = 200 if visible(world, name, officer) else 404
                assert response.status_code == expected, (service, name, officer, response.text)
                if expected == 404:
                    assert world.who[name]["name"] not in response.text
                    continue
                body = response.json()
                assert set(body["districts"]) <= set(officer), (service, name, officer)
                assert {e["district"] for e in body["access_log"]} <= set(officer)
                assert {g["district"] for g in body["break_glass"]} <= set(officer)
                districts_of_events = {
                    e["district"] for e in body["events"] if e.get("district") is not None
                }
                assert districts_of_events <= set(officer), (service, name, officer)


def test_an_export_holds_only_what_the_officers_districts_hold(world: World) -> None:
    subject = world.subjects["both"]
    secrets_of_b = (world.note, world.household_member)
    for service, client in world.clients.items():
        only_a = client.get(f"/dpo/subjects/{subject}/export", headers=world.officer(world.a))
        assert only_a.status_code == 200, only_a.text
        for secret in secrets_of_b:
            assert secret not in only_a.text, (service, secret)
        assert only_a.json()["districts"] == [world.a]
    visits_b = world.clients["visits"].get(
        f"/dpo/subjects/{subject}/export", headers=world.officer(world.b)
    )
    coaching_b = world.clients["coaching"].get(
        f"/dpo/subjects/{subject}/export", headers=world.officer(world.b)
    )
    assert world.note in visits_b.text
    assert world.household_member in coaching_b.text
    cases = world.clients["contacts"].get(
        f"/dpo/subjects/{subject}/export", headers=world.officer(world.a, world.b)
    )
    assert {c["district"] for c in cases.json()["personal_data"]["cases"]} == {world.a, world.b}


def test_the_access_log_and_the_grants_show_only_the_officers_districts(world: World) -> None:
    for service, client in world.clients.items():
        for officer in officers(world):
            headers = world.officer(*officer)
            log = client.get("/dpo/access-log", headers=headers)
            assert log.status_code == 200, log.text
            assert {e["district"] for e in log.json()["entries"]} <= set(officer), service
            grants = client.get("/dpo/break-glass", headers=headers)
            assert grants.status_code == 200, grants.text
            assert {g["district"] for g in grants.json()["grants"]} <= set(officer), service
            for name, subject in world.subjects.items():
                about = client.get("/dpo/access-log", params={"subject": subject}, headers=headers)
                if not visible(world, name, officer):
                    assert about.json()["entries"] == [], (service, name, officer)
    contacts = world.clients["contacts"]
    reads = contacts.get(
        "/dpo/access-log",
        params={"subject": world.subjects["only_b"]},
        headers=world.officer(world.b),
    ).json()["entries"]
    assert {"GET /cases/{case_id}"} <= {e["route"] for e in reads}
    (grant,) = contacts.get(
        "/dpo/break-glass",
        params={"subject": world.subjects["only_b"]},
        headers=world.officer(world.b),
    ).json()["grants"]
    assert grant["district"] == world.b
    assert grant["user_districts"] == [world.a]
    assert (
        contacts.get(
            "/dpo/break-glass",
            params={"subject": world.subjects["only_b"]},
            headers=world.officer(world.a),
        ).json()["grants"]
        == []
    )


def test_the_chain_is_verified_for_any_officer(world: World) -> None:
    for service, client in world.clients.items():
        for officer in officers(world):
            response = client.get("/dpo/chain", headers=world.officer(*officer))
            assert response.status_code == 200, (service, response.text)
            assert {"verified", "head", "intact", "anchors"} <= response.json().keys()


def test_legal_holds_and_erasures_act_only_on_the_officers_persons(world: World) -> None:
    contacts = world.clients["contacts"]
    reason = {"reason": "Az. DSB-2026-77"}
    for name, subject in world.subjects.items():
        for officer in officers(world):
            headers = world.officer(*officer)
            placed = contacts.post(
                "/dpo/legal-holds", json={"subject": subject, **reason}, headers=headers
            )
            shown = contacts.get(f"/dpo/legal-holds/{subject}", headers=headers)
            lifted = contacts.post(f"/dpo/legal-holds/{subject}/lift", json=reason, headers=headers)
            if visible(world, name, officer):
                assert (placed.status_code, shown.status_code, lifted.status_code) == (
                    201,
                    200,
                    200,
                ), (name, officer)
            else:
                assert (placed.status_code, shown.status_code, lifted.status_code) == (
                    404,
                    404,
                    404,
                ), (name, officer)

    # Category erasure (the visit notes) of the person of B only.
    only_b = world.subjects["only_b"]
    category = {"subject": only_b, "category": "visit_note", **reason}
    refused = contacts.post("/dpo/category-erasures", json=category, headers=world.officer(world.a))
    assert refused.status_code == 404, refused.text
    accepted = contacts.post(
        "/dpo/category-erasures", json=category, headers=world.officer(world.b)
    )
    assert accepted.status_code == 202, accepted.text
    category_id = accepted.json()["erasure_id"]
    for officer in officers(world):
        response = contacts.get(
            f"/dpo/category-erasures/{category_id}", headers=world.officer(*officer)
        )
        assert response.status_code == (200 if world.b in officer else 404), officer

    # Erasure of the person of A only, then of the person of both (by A's officer).
    only_a = world.subjects["only_a"]
    for officer in ((world.b,), (world.elsewhere,)):
        refused = contacts.post(
            "/dpo/erasures", json={"subject": only_a, **reason}, headers=world.officer(*officer)
        )
        assert refused.status_code == 404, refused.text
    erased = contacts.post(
        "/dpo/erasures", json={"subject": only_a, **reason}, headers=world.officer(world.a)
    )
    assert erased.status_code == 202, erased.text
    for officer in officers(world):
        response = contacts.get(
            f"/dpo/erasures/{erased.json()['erasure_id']}", headers=world.officer(*officer)
        )
        assert response.status_code == (200 if world.a in officer else 404), officer
    # A legal hold on an erased person is refused: there is nothing left to hold.
    hold = contacts.post(
        "/dpo/legal-holds", json={"subject": only_a, **reason}, headers=world.officer(world.a)
    )
    assert hold.status_code == 409, hold.text
    assert hold.json()["code"] == "subject_erased"

    both = world.subjects["both"]
    erased_both = contacts.post(
        "/dpo/erasures", json={"subject": both, **reason}, headers=world.officer(world.a)
    )
    assert erased_both.status_code == 202, erased_both.text
    # The certificate is the business of B's officer too: the person had a case there.
    certificate = contacts.get(
        f"/dpo/erasures/{erased_both.json()['erasure_id']}", headers=world.officer(world.b)
    )
    assert certificate.status_code == 200, certificate.text


def test_a_feed_registration_covers_the_officers_districts(world: World) -> None:
    contacts = world.clients["contacts"]
    name = f"youth-{uuid.uuid4().hex[:8]}"
    body = {"name": name, "purpose": "capacity planning", "allow": {"ContactLost": ["reason"]}}

    registered = contacts.post("/dpo/feeds", json=body, headers=world.officer(world.a))
    taken = contacts.post("/dpo/feeds", json=body, headers=world.officer(world.b))
    widened = contacts.post("/dpo/feeds", json=body, headers=world.officer(world.a, world.b))

    assert registered.status_code == 201, registered.text
    assert registered.json()["districts"] == [world.a]
    assert taken.status_code == 409, taken.text
    assert taken.json()["code"] == "feed_of_other_districts"
    assert widened.status_code == 201, widened.text
    assert widened.json()["districts"] == sorted([world.a, world.b])
    listed = contacts.get("/dpo/feeds", headers=world.officer(world.elsewhere))
    assert name not in {r["name"] for r in listed.json()}


def test_the_reads_of_figures_show_each_officer_only_their_districts(world: World) -> None:
    contacts = world.clients["contacts"]
    reader = f"mg-{uuid.uuid4().hex[:8]}"
    both = world.auth(reader, "management", world.a, world.b)
    assert contacts.get("/reports/outreach", headers=both).status_code == 200
    only_b = contacts.get("/reports/outreach", params={"district": world.b}, headers=both)
    assert only_b.status_code == 200, only_b.text

    def reads(*officer: str) -> list[list[str]]:
        answer = contacts.get(
            "/dpo/figures-reads", params={"user": reader}, headers=world.officer(*officer)
        )
        assert answer.status_code == 200, answer.text
        return [read["districts"] for read in answer.json()["reads"]]

    assert reads(world.a) == [[world.a]]  # B's figures read with A's: not A's officer's
    assert reads(world.b) == [[world.b], [world.b]]
    assert reads(world.a, world.b) == [sorted([world.a, world.b]), [world.b]]
    assert reads(world.elsewhere) == []
