"""The integration-event envelope every Kafka message of Outreach carries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid5

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

EVENT_ID_NAMESPACE = UUID("6b0f4a8e-2f43-4c55-9b8e-0d1c7f3a9e21")


class Payload(BaseModel):
    """Base of every event payload: a versioned, frozen contract."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str]
    schema_version: ClassVar[int] = 1


P = TypeVar("P", bound=Payload)


class Envelope(BaseModel, Generic[P]):
    """What every integration event carries besides its payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: UUID = Field(
        description="Unique and stable: a republished event keeps its id, so consumers "
        "de-duplicate by it.",
        examples=["0d8f0b1e-59a1-5d6c-9a4e-3f1a2b3c4d5e"],
    )
    event_type: str = Field(description="The contract name.", examples=["ContactLost"])
    schema_version: int = Field(ge=1, description="Version of the payload contract.", examples=[1])
    occurred_at: AwareDatetime = Field(
        description="When it happened, in UTC.", examples=["2026-11-23T09:15:00Z"]
    )
    producer: str = Field(description="The service that recorded it.", examples=["contacts"])
    district: str = Field(description="The Jobcenter district it belongs to.", examples=["kassel"])
    subject: UUID = Field(
        description="Pseudonym of the person concerned; also the Kafka key, so one person's "
        "events stay in order.",
        examples=["5f0c7ad2-a7a9-4c5e-9c1f-0e3d2b1a0f9e"],
    )
    correlation_id: UUID = Field(
        description="Shared by every event that follows from one request.",
        examples=["1c9a2b3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],
    )
    causation_id: UUID | None = Field(
        default=None,
        description="The event (or request) that directly caused this one.",
        examples=[None],
    )
    payload: P

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


def stable_event_id(producer: str, originator_id: UUID, originator_version: int) -> UUID:
    """The event id of a stored domain event: the same every time it is published."""
    return uuid5(EVENT_ID_NAMESPACE, f"{producer}:{originator_id}:{originator_version}")


def envelope_json_schema(payload_type: type[Payload]) -> dict[str, Any]:
    schema = Envelope[payload_type].model_json_schema()  # type: ignore[valid-type]
    schema["title"] = f"{payload_type.event_type}.v{payload_type.schema_version}"
    return schema
