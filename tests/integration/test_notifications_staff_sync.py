"""The staff directory read from the local Keycloak: users created, renamed, disabled and
removed there are what the directory and the letters say after a round; users whose data
does not fit are skipped and counted.

Each module run has a realm of its own, made from the realm file (with its
``outreach-directory`` client), so the round lists exactly the users made here.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from notifications import messaging
from notifications.projections.staff_directory import SYNCED_BY
from notifications.staff_sync import StaffSync

from deploy.local import keycloak_realm
from shared.settings import ServiceSettings
from tests.integration.test_notifications_sending import (
    eventually_row,
    pdf_text,
    queue,
    staff,
    visit_announced,
)
from tests.support.helpers import person
from tests.support.notifications import MailSink, NotificationsHarness, notifications_harness

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def admin() -> Iterator[keycloak_realm.Admin]:
    with keycloak_realm.Admin() as client:
        yield client


@pytest.fixture(scope="module")
def realm(admin: keycloak_realm.Admin) -> Iterator[str]:
    name = f"directory-{uuid.uuid4().hex[:8]}"
    keycloak_realm.create_realm(admin, name)
    try:
        yield name
    finally:
        admin.call("DELETE", f"/{name}")


@pytest.fixture(scope="module")
def harness(
    stack: ServiceSettings, admin: keycloak_realm.Admin, realm: str
) -> Iterator[NotificationsHarness]:
    sink = MailSink().start()
    secret = keycloak_realm.client_secret(admin, keycloak_realm.DIRECTORY_CLIENT, realm)
    try:
        with notifications_harness(
            stack,
            smtp_port=sink.port,
            directory_admin_url=stack.keycloak_url,
            directory_realm=realm,
            directory_client_id=keycloak_realm.DIRECTORY_CLIENT,
            directory_client_secret=secret,
            directory_sync_seconds=0.5,
        ) as running:
            yield running
    finally:
        sink.stop()


@pytest.fixture(scope="module")
def sync(harness: NotificationsHarness) -> StaffSync:
    assert harness.staff_sync is not None  # the settings turned it on
    return harness.staff_sync


@pytest.fixture(scope="module")
def client(harness: NotificationsHarness) -> TestClient:
    return TestClient(harness.http)


@pytest.fixture
def district(harness: NotificationsHarness) -> str:
    """A district of this test alone, with its letterhead and the test staff."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    harness.configure(name)
    return name


def put_user(
    admin: keycloak_realm.Admin,
    realm: str,
    username: str,
    *districts: str,
    first: str | None = None,
    last: str | None = None,
    form: str | None = "frau",
    role: str = "outreach_worker",
    **representation: Any,
) -> None:
    attributes: dict[str, list[str]] = {"districts": list(districts)}
    if form:
        attributes["form_of_address"] = [form]
    admin.put_user(realm, username, role, attributes, "pw-unused-1", first or "", last or "")
    if representation:
        found = admin.user(realm, username)
        assert found is not None
        admin.call("PUT", f"/{realm}/users/{found['id']}", json={**found, **representation})


async def letter_text(
    harness: NotificationsHarness,
    client: TestClient,
    mint: Callable[..., str],
    district: str,
    *workers: str,
) -> str:
    """The text of the letter announcing a visit by ``workers``, as its PDF says it."""
    event = visit_announced(harness.cipher, district, person(), workers=workers)
    queue(harness, messaging.visits, event)
    notification_id = harness.rows_for_id(event)
    harness.outbox.deliver(notification_id)
    eventually_row(harness, notification_id, "sent")
    letter = client.get(
        f"/notifications/{notification_id}/letter.pdf", headers=staff(mint, district)
    )
    assert letter.status_code == 200, letter.text
    return " ".join(pdf_text(letter.content).split())


async def test_a_user_created_then_renamed_in_keycloak_is_named_so_in_the_directory_and_letters(
    harness: NotificationsHarness,
    sync: StaffSync,
    admin: keycloak_realm.Admin,
    realm: str,
    client: TestClient,
    mint: Callable[..., str],
    district: str,
) -> None:
    username = f"ow-ayla-{uuid.uuid4().hex[:6]}"
    put_user(admin, realm, username, district, first="Ayla", last="Demirtaş", form="frau")

    sync.round()

    entry = harness.staff.staff([username])[username]
    assert (entry["display_name"], entry["form_of_address"], entry["district"]) == (
        "Ayla Demirtaş",
        "frau",
        district,
    )
    assert entry["updated_by"] == SYNCED_BY
    text = await letter_text(harness, client, mint, district, username, "ow-becker")
    assert "Wer kommt: Frau Ayla Demirtaş und Herr Jonas Becker" in text
    assert username not in text

    put_user(admin, realm, username, district, first="Ayla", last="Yıldız", form="frau")
    sync.round()

    assert harness.staff.staff([username])[username]["display_name"] == "Ayla Yıldız"
    text = await letter_text(harness, client, mint, district, username, "ow-becker")
    assert "Wer kommt: Frau Ayla Yıldız und Herr Jonas Becker" in text
    assert "Demirtaş" not in text


def test_a_user_disabled_deleted_or_without_an_outreach_role_leaves_the_directory(
    harness: NotificationsHarness,
    sync: StaffSync,
    admin: keycloak_realm.Admin,
    realm: str,
    district: str,
) -> None:
    names = {role: f"ow-{role[:6]}-{uuid.uuid4().hex[:6]}" for role in ("off", "gone", "norole")}
    for username in names.values():
        put_user(admin, realm, username, district, first="Kim", last="Weber", form="name_only")
    # Entered over the API for someone without an account: not the identity provider's.
    harness.staff.put_staff(
        "coach-ohne-konto",
        display_name="Tobias Krüger",
        form_of_address="herr",
        district=district,
        by="tl-test",
    )
    sync.round()
    assert set(harness.staff.staff(names.values())) == set(names.values())

    put_user(admin, realm, names["off"], district, first="Kim", last="Weber", enabled=False)
    gone = admin.user(realm, names["gone"])
    assert gone is not None
    admin.call("DELETE", f"/{realm}/users/{gone['id']}")
    norole = admin.user(realm, names["norole"])
    assert norole is not None
    mappings = f"/{realm}/users/{norole['id']}/role-mappings/realm"
    admin.call("DELETE", mappings, json=[admin.role(realm, "outreach_worker")])
    result = sync.round()

    assert harness.staff.staff(names.values()) == {}
    assert result.removed == 3
    assert "coach-ohne-konto" in harness.staff.staff(["coach-ohne-konto"])


def test_users_whose_data_does_not_fit_are_skipped_and_counted_and_the_rest_flows(
    harness: NotificationsHarness,
    sync: StaffSync,
    admin: keycloak_realm.Admin,
    realm: str,
    district: str,
) -> None:
    good = f"ow-good-{uuid.uuid4().hex[:6]}"
    put_user(admin, realm, good, district, first="Lea", last="Braun", form=None)
    bad = {
        "no-name": dict(first="", last=""),
        "no-district": dict(),
        "elsewhere": dict(),
        "huge": dict(first="A" * 255, last="B" * 255),
    }
    usernames = {key: f"ow-{key}-{uuid.uuid4().hex[:6]}" for key in bad}
    put_user(admin, realm, usernames["no-name"], district)
    admin_user = admin.user(realm, usernames["no-name"])
    assert admin_user is not None
    admin.call(
        "PUT",
        f"/{realm}/users/{admin_user['id']}",
        json={**admin_user, "firstName": "", "lastName": ""},
    )
    put_user(admin, realm, usernames["no-district"], first="Ida", last="Roth")
    put_user(admin, realm, usernames["elsewhere"], "hamburg-mitte", first="Ole", last="Lund")
    put_user(admin, realm, usernames["huge"], district, first="A" * 255, last="B" * 255)

    result = sync.round()

    entry = harness.staff.staff([good])[good]
    assert (entry["display_name"], entry["form_of_address"]) == ("Lea Braun", "name_only")
    assert harness.staff.staff(usernames.values()) == {}
    assert result.skipped == {
        "name_missing": 1,
        "district_missing": 1,
        "district_unknown": 1,
        "display_name_invalid": 1,
    }


async def test_the_service_reads_the_staff_on_start_and_again_in_the_background(
    harness: NotificationsHarness,
    sync: StaffSync,
    admin: keycloak_realm.Admin,
    realm: str,
    district: str,
) -> None:
    stopping = asyncio.Event()
    work = asyncio.create_task(
        sync.background(harness.settings.database_url(harness.database))(stopping)
    )
    try:
        username = f"ow-noah-{uuid.uuid4().hex[:6]}"
        put_user(admin, realm, username, district, first="Noah", last="Krause", form="herr")

        async def listed() -> None:
            while username not in harness.staff.staff([username]):
                await asyncio.sleep(0.2)

        await asyncio.wait_for(listed(), 30)
        assert harness.staff.staff([username])[username]["display_name"] == "Noah Krause"
    finally:
        stopping.set()
        with contextlib.suppress(Exception):
            await work


def test_a_round_asked_for_over_http_answers_what_it_did(
    harness: NotificationsHarness,
    admin: keycloak_realm.Admin,
    realm: str,
    client: TestClient,
    mint: Callable[..., str],
    district: str,
) -> None:
    username = f"ow-mia-{uuid.uuid4().hex[:6]}"
    put_user(admin, realm, username, district, first="Mia", last="Schulz", form="frau")

    answer = client.post("/ops/staff-sync", headers=staff(mint, district, purpose=None))
    refused = client.post(
        "/ops/staff-sync", headers=staff(mint, district, role="outreach_worker", purpose=None)
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["written"] >= 1
    assert set(answer.json()) == {"listed", "written", "removed", "skipped", "defaulted"}
    assert refused.status_code == 403
    # Apart from /staff/{user_id}: its address answers its own method only.
    other = client.request("OPTIONS", "/ops/staff-sync", headers=staff(mint, district))
    assert (other.status_code, other.headers["Allow"]) == (405, "POST")
    listed = client.get("/staff", params={"district": district}, headers=staff(mint, district))
    assert "Frau Mia Schulz" in {e["in_letters"] for e in listed.json()}
