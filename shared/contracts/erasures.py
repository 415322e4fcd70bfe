"""Erasure events (topic ``outreach.erasures``, consumed by every service).

``SubjectErased`` is the tombstone of a person: their data key was destroyed (GDPR Art. 17,
or the end of a retention period), so every sealed field of theirs is unreadable
everywhere. Every service then drops or blanks its view rows of the person and answers with
``SubjectErasureConfirmed``; the erasure certificate is built from those confirmations.
Neither event carries personal data: the envelope's ``subject`` is the pseudonym.
"""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Payload

ERASURE_ID = Field(
    description="The erasure (one per person): also the id of its certificate.",
    examples=["7a1c2e3f-4b5d-5e6f-8a9b-0c1d2e3f4a5b"],
)


class ErasureGround(StrEnum):
    """Why a person's data is erased."""

    REQUESTED_BY_PERSON = "requested_by_person"
    """Art. 17 (1) GDPR: the person asked, and the data is no longer needed."""
    RETENTION_PERIOD_ENDED = "retention_period_ended"
    """The retention period after the end of the case has passed (``contacts.retention``)."""
    UNLAWFULLY_PROCESSED = "unlawfully_processed"
    OTHER = "other"


class SubjectErased(Payload):
    """The person's data key was destroyed: forget everything held about them."""

    event_type = "SubjectErased"

    erasure_id: UUID = ERASURE_ID
    ground: ErasureGround = Field(examples=["requested_by_person"])
    requested_by: str = Field(description="User id of the data protection officer.")
    key_destroyed_at: AwareDatetime = Field(
        description="When the key was destroyed (from then on nothing of the person can be "
        "decrypted).",
        examples=["2026-11-23T09:15:00Z"],
    )


class SubjectErasureConfirmed(Payload):
    """A service has dropped or blanked what its views held about the erased person."""

    event_type = "SubjectErasureConfirmed"

    erasure_id: UUID = ERASURE_ID
    service: str = Field(description="The confirming service.", examples=["visits"])
    deployment: str = Field(
        description="The deployment of the service (its database name).", examples=["visits"]
    )
    confirmed_at: AwareDatetime = Field(examples=["2026-11-23T09:15:02Z"])


EVENTS: tuple[type[Payload], ...] = (SubjectErased, SubjectErasureConfirmed)
