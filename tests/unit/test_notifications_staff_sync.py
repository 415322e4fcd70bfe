"""The staff directory's synchronisation: what a user of the identity provider becomes in the
directory, and the settings that turn it on (the rounds against Keycloak are integration
tests)."""

from __future__ import annotations

from typing import Any

import pytest
from notifications.settings import NotificationsSettings
from notifications.staff_sync import Skipped, entry_of

pytestmark = pytest.mark.unit

SETTINGS = NotificationsSettings()
KNOWN = {"kassel", "darmstadt-dieburg"}


def user(**changes: Any) -> dict[str, Any]:
    return {
        "username": "ayse.yilmaz",
        "firstName": "Ayşe",
        "lastName": "Yılmaz",
        "enabled": True,
        "attributes": {"districts": ["kassel"], "form_of_address": ["frau"]},
        **changes,
    }


def reason(given: dict[str, Any]) -> str:
    with pytest.raises(Skipped) as skipped:
        entry_of(given, KNOWN, SETTINGS)
    return skipped.value.reason


def test_a_user_becomes_an_entry_with_name_form_of_address_and_district() -> None:
    entry, default = entry_of(user(), KNOWN, SETTINGS)

    assert tuple(entry) == ("ayse.yilmaz", "Ayşe Yılmaz", "frau", "kassel")
    assert default is None


def test_the_first_district_with_a_letterhead_is_the_entrys() -> None:
    given = user(attributes={"districts": ["hamburg", "kassel", "darmstadt-dieburg"]})

    entry, _ = entry_of(given, KNOWN, SETTINGS)

    assert entry.district == "darmstadt-dieburg"


def test_without_a_form_of_address_the_name_alone_and_an_unknown_one_is_counted() -> None:
    missing, no_default = entry_of(user(attributes={"districts": ["kassel"]}), KNOWN, SETTINGS)
    odd = user(attributes={"districts": ["kassel"], "form_of_address": ["madame"]})
    unknown, default = entry_of(odd, KNOWN, SETTINGS)

    assert (missing.form_of_address, no_default) == ("name_only", None)
    assert (unknown.form_of_address, default) == ("name_only", "form_of_address_unknown")


def test_one_name_is_enough() -> None:
    entry, _ = entry_of(user(firstName=None, lastName="Yılmaz"), KNOWN, SETTINGS)

    assert entry.display_name == "Yılmaz"


@pytest.mark.parametrize(
    ("given", "why"),
    [
        (user(firstName="", lastName="  "), "name_missing"),
        (user(firstName=None, lastName=None), "name_missing"),
        (user(attributes={}), "district_missing"),
        (user(attributes=None), "district_missing"),
        (user(attributes={"districts": ["hamburg"]}), "district_unknown"),
        (user(firstName="A" * 5000), "display_name_invalid"),
        (user(lastName="Yıl\u0000maz"), "display_name_invalid"),
        (user(username="x" * 500), "username_invalid"),
        (user(username=None), "username_invalid"),
        (user(username="ayşe yilmaz"), "username_invalid"),
    ],
)
def test_data_that_does_not_fit_is_skipped_with_its_reason(given: dict[str, Any], why: str) -> None:
    assert reason(given) == why


def test_the_synchronisation_is_off_unless_its_settings_are_given_and_all_or_none() -> None:
    whole = {
        "directory_admin_url": "https://idp.example",
        "directory_realm": "jobcenter",
        "directory_client_id": "outreach-directory",
        "directory_client_secret": "s3cret",
    }

    assert NotificationsSettings().directory_sync is False
    assert NotificationsSettings(**whole).directory_sync is True
    with pytest.raises(ValueError, match="OUTREACH_DIRECTORY_ADMIN_URL"):
        NotificationsSettings(**{**whole, "directory_client_secret": None})
