"""Events published by the contacts service (topic ``outreach.contacts``)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.envelope import Payload
from shared.privacy import Sealed

CASE_ID = Field(
    description="The outreach case (one person, one period of lost contact).",
    examples=["9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b"],
)


class ContactLostReason(StrEnum):
    UNANSWERED_INVITATIONS = "unanswered_invitations"
    MISSED_APPOINTMENTS = "missed_appointments"
    MAIL_RETURNED = "mail_returned"
    SCHOOL_LEAVER_UNTRACED = "school_leaver_untraced"
    NO_PHONE_NUMBER = "no_phone_number"
    OTHER = "other"


class ContactChannel(StrEnum):
    AFTER_ANNOUNCEMENT_LETTER = "after_announcement_letter"
    PHONE = "phone"
    HOME_VISIT = "home_visit"
    OFFICE_VISIT = "office_visit"
    OTHER = "other"


class CaseClosedReason(StrEnum):
    CONTACT_LASTING = "contact_lasting"
    MOVED_AWAY = "moved_away"
    NO_LONGER_RECEIVING_BENEFITS = "no_longer_receiving_benefits"
    DECEASED = "deceased"
    OTHER = "other"


class SealedPerson(BaseModel):
    """The person's personal data, every field sealed with the person's own key."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    customer_number: Sealed = Field(description="Jobcenter customer number (sealed).")
    name: Sealed = Field(description="Full name (sealed).")
    address: Sealed = Field(description="Postal address (sealed).")
    phone: Sealed | None = Field(default=None, description="Phone number (sealed), if known.")
    date_of_birth: Sealed | None = Field(default=None, description="ISO date of birth (sealed).")


class Evidence(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    unanswered_letters: int = Field(ge=0, description="Invitations left unanswered.", examples=[3])
    missed_appointments: int = Field(ge=0, description="Appointments missed.", examples=[2])
    last_contact_on: date | None = Field(
        default=None, description="Date of the last contact.", examples=["2026-03-02"]
    )


class ContactLost(Payload):
    """A case manager reported that contact with a person has broken off."""

    event_type = "ContactLost"

    case_id: UUID = CASE_ID
    local_office: str = Field(description="Local office of the district.", examples=["mitte"])
    person: SealedPerson
    reason: ContactLostReason = Field(examples=["missed_appointments"])
    evidence: Evidence
    deadline: date | None = Field(
        default=None,
        description="A date by which contact matters, e.g. a pending benefit-reduction decision.",
        examples=["2027-01-15"],
    )
    case_manager: str = Field(description="User id of the responsible case manager.")
    reported_by: str = Field(description="User id of who reported it.", examples=["cm-mueller"])


class ContactRestored(Payload):
    """Contact with the person is back (before, during or without a visit)."""

    event_type = "ContactRestored"

    case_id: UUID = CASE_ID
    channel: ContactChannel = Field(examples=["after_announcement_letter"])
    restored_on: date = Field(examples=["2026-11-20"])
    case_manager: str = Field(description="User id of the responsible case manager.")
    recorded_by: str = Field(examples=["cm-mueller"])


class ContactDetailsUpdated(Payload):
    """New contact details for the person (only the changed fields are present)."""

    event_type = "ContactDetailsUpdated"

    case_id: UUID = CASE_ID
    name: Sealed | None = None
    address: Sealed | None = None
    phone: Sealed | None = None
    updated_by: str = Field(examples=["cm-mueller"])


class OutreachCaseClosed(Payload):
    """The outreach case ended."""

    event_type = "OutreachCaseClosed"

    case_id: UUID = CASE_ID
    reason: CaseClosedReason = Field(examples=["contact_lasting"])
    closed_by: str = Field(examples=["tl-schmidt"])


EVENTS: tuple[type[Payload], ...] = (
    ContactLost,
    ContactRestored,
    ContactDetailsUpdated,
    OutreachCaseClosed,
)
