"""The values and rules the coaching aggregates share: a provider's contract terms
(:class:`ContractTerms`, with the one definition of their defaults and limits), the
hand-over fields, a case as the service knows it (:class:`KnownCase`), and the calendar
arithmetic of a term (:func:`add_months`)."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from uuid import UUID

from coaching.domain.errors import (
    CaseClosedError,
    InvalidContractTermsError,
    InvalidHandoverFieldsError,
)

HANDOVER_FIELDS = ("name", "address", "phone", "needs")
"""What a provider may receive at the hand-over, if the person consented to share it. Never
the visit's note, the customer number, the date of birth, or the case's history."""


class CoachingStatus(StrEnum):
    REQUESTED = "requested"
    ACTIVE = "active"
    ENDED = "ended"


class HouseholdRelation(StrEnum):
    PARTNER = "partner"
    CHILD = "child"
    PARENT = "parent"
    OTHER_HOUSEHOLD_MEMBER = "other_household_member"


class PartnerKind(StrEnum):
    YOUTH_OFFICE = "youth_office"
    DEBT_COUNSELLING = "debt_counselling"
    ADDICTION_COUNSELLING = "addiction_counselling"
    HOUSING_ASSISTANCE = "housing_assistance"
    HEALTH_SERVICE = "health_service"
    OTHER = "other"


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day if it is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class TermRule:
    """One figure of a contract: what it is unless the contract says otherwise, and the
    range a contract may set. The HTTP request model takes its default and limits from
    here, so the figure is defined once."""

    default: int
    least: int
    most: int
    field: str
    """The name the API gives the figure (a refusal names it)."""
    refusal: str

    def check(self, value: int) -> None:
        if not self.least <= value <= self.most:
            raise InvalidContractTermsError(self.refusal, field=self.field)


INITIAL_TERM_MONTHS = TermRule(
    4, 1, 24, "initial_term_months", "the initial term lasts 1 to 24 months"
)
"""The initial coaching term: four months unless the contract says otherwise (Kassel)."""
EXTENSION_MONTHS = TermRule(2, 1, 12, "extension_months", "an extension lasts 1 to 12 months")
MAX_EXTENSIONS = TermRule(2, 0, 6, "max_extensions", "0 to 6 extensions may be allowed")


@dataclass(frozen=True)
class ContractTerms:
    """What the provider's contract with the Jobcenter says about a coaching's duration."""

    initial_months: int = INITIAL_TERM_MONTHS.default
    extension_months: int = EXTENSION_MONTHS.default
    max_extensions: int = MAX_EXTENSIONS.default

    def check_is_valid(self) -> None:
        INITIAL_TERM_MONTHS.check(self.initial_months)
        EXTENSION_MONTHS.check(self.extension_months)
        MAX_EXTENSIONS.check(self.max_extensions)

    def as_event(self) -> dict[str, int]:
        return {
            "initial_months": self.initial_months,
            "extension_months": self.extension_months,
            "max_extensions": self.max_extensions,
        }


def check_handover_fields(fields: Sequence[str]) -> list[str]:
    unknown = sorted(set(fields) - set(HANDOVER_FIELDS))
    if unknown:
        raise InvalidHandoverFieldsError(
            "only these fields can be shared with a provider: " + ", ".join(HANDOVER_FIELDS),
            unknown=unknown,
        )
    return [f for f in HANDOVER_FIELDS if f in fields]


@dataclass(frozen=True)
class KnownCase:
    """An outreach case as the coaching service knows it (from the contacts events)."""

    case_id: UUID
    subject_id: UUID
    district: str
    is_open: bool = True
    """``False`` once the contacts service closed the outreach case (``OutreachCaseClosed``)."""

    def check_open(self) -> None:
        """A closed case takes no new coaching request from the Jobcenter's staff."""
        if not self.is_open:
            raise CaseClosedError(f"case {self.case_id} is closed")
