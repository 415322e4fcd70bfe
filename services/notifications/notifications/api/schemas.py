"""The request and response models of the notifications API, and its typed parameters."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import Path, Query
from pydantic import BaseModel, Field

from notifications.rendering import FormOfAddress
from shared.http.bodies import StrictModel
from shared.http.inputs import Key, Line, Text, Uuid

PDF = "application/pdf"
PDF_ANSWER: dict[str, Any] = {
    "description": "The PDF document.",
    "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
}
COUNT = {"type": "string", "pattern": "^[0-9]+$"}
GONE = "The person's data was erased: the letter can no longer be read (``subject_erased``)."

District = Annotated[Key, Query(examples=["kassel"])]
NotificationId = Annotated[Uuid, Path()]
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"
USER_ID = Path(
    pattern=USER_ID_PATTERN,
    description="The user id (as in the token's ``sub``).",
    examples=["ow-yilmaz"],
)


class StaffEntryIn(StrictModel):
    """How letters name a member of staff (Jobcenter or a provider's coach)."""

    display_name: Annotated[Line, Field(examples=["Ayşe Yılmaz"])]
    form_of_address: FormOfAddress = Field(
        description="frau: Frau Ayşe Yılmaz; herr: Herr Jonas Becker; name_only: the name.",
        examples=["frau"],
    )
    district: Annotated[
        Key, Field(description="The district the member of staff works for.", examples=["kassel"])
    ]


class StaffEntryOut(BaseModel):
    user_id: str
    display_name: str
    form_of_address: FormOfAddress
    district: str
    in_letters: str = Field(description="As a letter names them.", examples=["Frau Ayşe Yılmaz"])
    updated_by: str
    updated_at: datetime


class StaffSyncOut(BaseModel):
    """A round of the staff directory's synchronisation with the identity provider."""

    listed: int = Field(description="Users the identity provider listed (staff or not).")
    written: int = Field(description="Entries new or changed.")
    removed: int = Field(description="Entries of users gone, disabled or without a role.")
    skipped: dict[str, int] = Field(
        description="Users whose data does not fit, by reason (their entries stay as they were).",
        examples=[{"name_missing": 1, "district_unknown": 2}],
    )
    defaulted: dict[str, int] = Field(
        description="Users entered with a default, by reason.",
        examples=[{"form_of_address_unknown": 1}],
    )


class NotificationOut(BaseModel):
    notification_id: UUID
    district: str
    channel: str
    template: str
    template_version: int
    idempotency_key: str
    recipient_kind: str
    recipient: str | None
    source_event_id: str
    source_event_type: str
    status: str = Field(examples=["sent"], description="queued, sending, sent, failed, given_up")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    given_up_reason: str | None
    queued_at: datetime
    sent_at: datetime | None
    print_day: date | None


class HistoryEntry(BaseModel):
    event: str
    at: datetime
    actor: str
    attempt: int | None = None
    error: str | None = None
    reason: str | None = None


class NotificationDetail(NotificationOut):
    history: list[HistoryEntry]


class LetterOut(BaseModel):
    notification_id: UUID
    print_day: date | None
    subject: str
    text: str


class BatchOut(BaseModel):
    print_day: date
    letters: int
    pdf: str = Field(description="Where to download the batch as one PDF.")


class TemplateOut(BaseModel):
    name: str
    version: int
    channel: str
    description: str


VariableName = Annotated[
    str, Text(40, form=r"^[a-z][a-z0-9_]{0,39}$", form_message="must be a variable's name")
]
VariableValue = Annotated[str, Text(500)] | None


class PreviewIn(StrictModel):
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        max_length=50,
        description="Overrides of the template's example variables (text or null).",
        examples=[{"salutation": "Guten Tag Erika Mustermann"}],
    )
    district: Annotated[Key, Field(description="Whose letterhead to use.")] = "kassel"
