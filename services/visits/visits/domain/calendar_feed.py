"""A worker's calendar link: a personal, revocable subscription to their own agenda.

The link's URL carries a secret (a bearer secret: whoever holds the URL reads the calendar).
The secret itself is never stored: the link records its SHA-256 digest, and its id is derived
from that digest, so the secret of a request finds its link in the event store by one read
(strongly consistent: a revoked link is refused from the moment the revocation is saved) and
no table of secrets exists to compare against. A secret of 256 random bits needs no key
stretching or salt: it cannot be guessed, only stolen, and revoking the link is the remedy.

No I/O here; the application draws the secret (``secrets``) and passes its digest in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Collection, Sequence
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from shared.eventsourcing.meta import AuditedEvent
from visits.domain.errors import CalendarLinkNotFoundError

CALENDAR_FEED_NAMESPACE = UUID("c4a1f7e2-5b3d-4e8a-9f60-2d7b1c8e4a93")

SECRET_BYTES = 32
"""256 random bits (``secrets.token_urlsafe``): 43 URL-safe characters."""

_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")


def secret_digest(secret: str) -> str | None:
    """The stored form of a link's secret (hex SHA-256); ``None`` for anything that is not
    the shape of a secret (answered like an unknown one)."""
    if not _SECRET.fullmatch(secret):
        return None
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class CalendarFeed(Aggregate):
    """One calendar link of one worker: created, maybe revoked (for good).

    Its events record who created or revoked it (``meta``) and never the secret; they are
    internal (never published). Each ``TOPIC`` is the name it is stored under.
    """

    class Event(AuditedEvent):
        pass

    class Created(Event, Aggregate.Created):
        TOPIC = "visits.domain:CalendarFeed.Created"

        owner: str
        role: str
        districts: list[str]
        """The owner's districts on the token that created the link: the calendar lists
        the owner's visits in these only."""
        digest: str

    class Revoked(Event):
        """Who revoked it is the event's ``meta`` (its owner, or a team lead)."""

        TOPIC = "visits.domain:CalendarFeed.Revoked"

    @staticmethod
    def id_for(digest: str) -> UUID:
        return uuid5(CALENDAR_FEED_NAMESPACE, digest)

    @classmethod
    def create(
        cls, *, owner: str, role: str, districts: Collection[str], digest: str
    ) -> CalendarFeed:
        return cls(
            id=cls.id_for(digest),
            owner=owner,
            role=role,
            districts=sorted(districts),
            digest=digest,
        )

    @event(Created)
    def __init__(
        self, *, id: UUID, owner: str, role: str, districts: list[str], digest: str
    ) -> None:
        self.owner = owner
        self.role = role
        self.districts = list(districts)
        self.digest = digest
        self.revoked = False

    def is_open_to(self, digest: str) -> bool:
        """The link answers a request with this digest (not revoked)."""
        return not self.revoked and hmac.compare_digest(self.digest, digest)

    def may_be_revoked_by(self, user: str, *, team_lead_of: Sequence[str]) -> bool:
        """By its owner, or by a team lead of one of its districts."""
        return user == self.owner or bool(set(team_lead_of) & set(self.districts))

    def revoke(self, *, by: str, team_lead_of: Sequence[str]) -> None:
        """Revoked for good; a link revoked already, or one the user may not revoke, does
        not exist for them (404: a colleague learns nothing of another worker's links)."""
        if self.revoked or not self.may_be_revoked_by(by, team_lead_of=team_lead_of):
            raise CalendarLinkNotFoundError(f"calendar link {self.id} not found")
        self._revoked()

    @event(Revoked)
    def _revoked(self) -> None:
        self.revoked = True
