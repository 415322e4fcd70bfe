"""Values of the contacts domain: a case's status, the deadline rule, the kinds of timeline
steps, the namespaces the aggregates' ids derive from."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from uuid import UUID


class CaseStatus(StrEnum):
    CONTACT_LOST = "contact_lost"
    CONTACT_RESTORED = "contact_restored"
    CLOSED = "closed"


def deadline_passed(deadline: date | None, today: date) -> bool:
    """A deadline before today is information, not an error: a pending benefit-reduction
    decision that is overdue, or a case taken over late. The case is accepted and shown as
    such, so it is acted on first."""
    return deadline is not None and deadline < today


LETTER_QUEUED = "letter_queued"
"""The kind of the first step of a letter: from then on the case knows the letter's id."""

OPEN_CASE_INDEX_NAMESPACE = UUID("2d7c1f0e-8b4a-4f3e-9a6d-5c2b1e0f9a8d")

DATA_PROTECTION_NAMESPACE = UUID("0e6f3c2a-9d41-4b7e-8f25-6a1d3c9b7e04")
"""The namespace of the data protection aggregates' ids (one per person, or per person and
category)."""
