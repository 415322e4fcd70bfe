"""The staff directory kept from the identity provider: who the staff are, as Keycloak knows
them, read through its admin REST API.

A round lists the realm's users (``/users``, in pages) and each enabled user's effective realm
roles, as the service account of a confidential client (client credentials; realm-management's
``view-users``, nothing more: listing a role's users would need ``view-realm``), and makes
the directory say what the identity provider says:

- an enabled user with an Outreach role is entered, or changed, with their first and last
  name, their form of address (an attribute; missing: the name alone) and the first of their
  districts that has a letterhead (letters of other districts cannot be written anyway);
- an entry the synchronisation made whose user is gone, disabled or no longer has an Outreach
  role is removed, and so is any entry of a user the identity provider lists as disabled;
- a user whose data does not fit (no name, no district, none with a letterhead, a name too
  long or with control characters) is skipped and counted, by reason; their entry, if any,
  stays as it was. One bad user never stops the others.

Entries entered over ``PUT /staff/{user_id}`` for people without an account (a provider's
coach who never signs in) are left alone. Nothing is written unless the whole listing was
read: an identity provider that fails half-way changes nothing.

The admin API is called with ``httpx`` (a dependency already): a few GET requests and one
token request need no client library, and the Keycloak libraries on PyPI bring their own
HTTP stacks and wrap these same calls.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from notifications.api.schemas import USER_ID_PATTERN, StaffEntryIn
from notifications.domain.errors import DirectoryUnavailableError
from notifications.letterheads import Letterheads
from notifications.projections.staff_directory import StaffDirectoryView, StaffEntry
from notifications.rendering import FormOfAddress
from notifications.settings import NotificationsSettings
from shared.http.auth import Role
from shared.metrics.counters import STAFF_DIRECTORY_SYNC
from shared.runtime.background import Work, as_leader, every

log = logging.getLogger(__name__)

PAGE = 100
"""Users per request of the admin API."""
LOCK = "notifications.staff-directory-sync"
"""The advisory lock of the one process that synchronises (of all the service's replicas)."""
OUTREACH_ROLES = {role.value for role in Role}


class KeycloakStaff:
    """The users of each Outreach role of a Keycloak realm, through its admin REST API."""

    def __init__(self, settings: NotificationsSettings, http: httpx.Client | None = None) -> None:
        assert settings.directory_admin_url is not None
        assert settings.directory_client_secret is not None
        self.base = settings.directory_admin_url.rstrip("/")
        self.realm = settings.directory_realm
        self.client_id = settings.directory_client_id
        self.secret = settings.directory_client_secret.get_secret_value()
        self.http = http or httpx.Client(timeout=30)

    def users(self) -> list[tuple[Mapping[str, Any], set[str]]]:
        """Every user of the realm with their effective realm roles (a disabled user's are
        not asked for: they are gone from the directory whatever their roles)."""
        try:
            headers = {"Authorization": f"Bearer {self._token()}"}
            realm = f"/admin/realms/{self.realm}"
            return [
                (
                    user,
                    self._roles(f"{realm}/users/{user.get('id')}", headers) if enabled else set(),
                )
                for user in list(self._pages(f"{realm}/users", headers))
                for enabled in [user.get("enabled") is True]
            ]
        except (httpx.HTTPError, ValueError) as error:
            # The address and the library's words go to the log, not to a caller.
            log.warning("identity provider unreachable: %s", type(error).__name__)
            raise DirectoryUnavailableError("the identity provider did not answer") from None

    def _roles(self, user: str, headers: Mapping[str, str]) -> set[str]:
        answer = self.http.get(f"{self.base}{user}/role-mappings/realm/composite", headers=headers)
        if answer.status_code != 200:
            raise DirectoryUnavailableError(f"a user's roles answered {answer.status_code}")
        roles = answer.json()
        return {str(r.get("name")) for r in roles if isinstance(r, Mapping)}

    def _token(self) -> str:
        answer = self.http.post(
            f"{self.base}/realms/{self.realm}/protocol/openid-connect/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.secret,
            },
        )
        if answer.status_code != 200:
            raise DirectoryUnavailableError(
                f"the directory client {self.client_id!r} cannot sign in ({answer.status_code})"
            )
        return str(answer.json()["access_token"])

    def _pages(self, path: str, headers: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        first = 0
        while True:
            params: dict[str, str | int] = {
                "first": first,
                "max": PAGE,
                "briefRepresentation": "false",
            }
            answer = self.http.get(f"{self.base}{path}", params=params, headers=headers)
            if answer.status_code != 200:
                raise DirectoryUnavailableError(f"{path} answered {answer.status_code}")
            page = answer.json()
            if not isinstance(page, list):
                raise DirectoryUnavailableError(f"{path} answered no list")
            yield from (user for user in page if isinstance(user, Mapping))
            if len(page) < PAGE:
                return
            first += PAGE

    def close(self) -> None:
        self.http.close()


@dataclass
class SyncResult:
    """What a round did: entries written (new or changed), removed, and users skipped or
    entered with a default, by reason (no user is named: the counts go to logs and
    metrics)."""

    listed: int = 0
    written: int = 0
    removed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    defaulted: Counter[str] = field(default_factory=Counter)


class Skipped(Exception):
    """A user the directory cannot take, and why (a reason of :attr:`SyncResult.skipped`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def entry_of(
    user: Mapping[str, Any], districts_known: Collection[str], settings: NotificationsSettings
) -> tuple[StaffEntry, str | None]:
    """The directory entry of an enabled user, and the default it needed (or ``None``);
    :class:`Skipped` if the user's data does not fit."""
    user_id = user.get("username")
    if not isinstance(user_id, str) or not re.fullmatch(USER_ID_PATTERN, user_id):
        raise Skipped("username_invalid")
    names = [user.get("firstName"), user.get("lastName")]
    name = " ".join(n.strip() for n in names if isinstance(n, str) and n.strip())
    if not name:
        raise Skipped("name_missing")
    given = user.get("attributes")
    attributes: Mapping[str, Any] = given if isinstance(given, Mapping) else {}
    districts = _values(attributes, settings.directory_districts_attribute)
    if not districts:
        raise Skipped("district_missing")
    district = next((d for d in sorted(districts) if d in districts_known), None)
    if district is None:
        raise Skipped("district_unknown")
    form, default = _form_of_address(attributes, settings.directory_form_of_address_attribute)
    try:
        body = StaffEntryIn(display_name=name, form_of_address=form, district=district)
    except ValidationError as error:
        field_name = str(error.errors()[0]["loc"][0])
        raise Skipped(f"{field_name}_invalid") from None
    entry = StaffEntry(user_id, body.display_name, body.form_of_address.value, body.district)
    return entry, default


def _values(attributes: Mapping[str, Any], name: str) -> list[str]:
    value = attributes.get(name)
    values = value if isinstance(value, list) else [value]
    return [v for v in values if isinstance(v, str) and v]


def _form_of_address(attributes: Mapping[str, Any], name: str) -> tuple[FormOfAddress, str | None]:
    given = _values(attributes, name)
    if not given:
        return FormOfAddress.NAME_ONLY, None
    try:
        return FormOfAddress(given[0]), None
    except ValueError:
        return FormOfAddress.NAME_ONLY, "form_of_address_unknown"


class StaffSync:
    """One round of the synchronisation, and the background work that repeats it."""

    def __init__(
        self,
        source: KeycloakStaff,
        staff: StaffDirectoryView,
        letterheads: Letterheads,
        settings: NotificationsSettings,
    ) -> None:
        self.source = source
        self.staff = staff
        self.letterheads = letterheads
        self.settings = settings

    def round(self) -> SyncResult:
        """Read every user, then write the directory in one transaction."""
        users = self.source.users()
        known = self.letterheads.districts()
        result = SyncResult(listed=len(users))
        entries: list[StaffEntry] = []
        present: set[str] = set()
        disabled: set[str] = set()
        for user, roles in users:
            username = user.get("username")
            if user.get("enabled") is not True:
                if isinstance(username, str):
                    disabled.add(username)
                continue
            if not roles & OUTREACH_ROLES:
                continue  # not staff of the product (an administrator, another application's)
            if isinstance(username, str):
                present.add(username)
            try:
                entry, default = entry_of(user, known, self.settings)
            except Skipped as skipped:
                result.skipped[skipped.reason] += 1
                continue
            entries.append(entry)
            if default:
                result.defaulted[default] += 1
        gone = (self.staff.synced_user_ids() - present) | disabled
        result.written, result.removed = self.staff.apply_sync(entries, gone)
        _count(result)
        return result

    def background(self, dsn: str) -> Work:
        """A round at start and every ``directory_sync_seconds``, in the one process of the
        service's replicas that holds the lock."""

        async def one_round() -> None:
            await asyncio.to_thread(self.round)

        repeated = every(self.settings.directory_sync_seconds, one_round, name="staff sync")
        return as_leader(dsn, LOCK, repeated, name="staff directory sync")


def _count(result: SyncResult) -> None:
    STAFF_DIRECTORY_SYNC.labels("written").inc(result.written)
    STAFF_DIRECTORY_SYNC.labels("removed").inc(result.removed)
    for reason, count in result.skipped.items():
        STAFF_DIRECTORY_SYNC.labels(f"skipped_{reason}").inc(count)
    for reason, count in result.defaulted.items():
        STAFF_DIRECTORY_SYNC.labels(f"defaulted_{reason}").inc(count)
    log.info(
        "staff directory synchronised",
        extra={
            "listed": result.listed,
            "written": result.written,
            "removed": result.removed,
            "skipped": dict(result.skipped),
            "defaulted": dict(result.defaulted),
        },
    )
