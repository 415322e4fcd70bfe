"""Builders shared by the visits unit tests: a fixed "today", a planned case, an announcement."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from visits.application import PlannedCase, Visits
from visits.domain import Schedule, Visit, VisitRules

from shared.contracts.visits import MeetingPlace, VisitPurpose
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.privacy import PersonalDataCipher

TODAY = date(2026, 11, 23)
DISTRICT = "kassel"
NAME = "Erika Mustermann"
ADDRESS = "Wilhelmshöher Allee 1, 34117 Kassel"
RULES = VisitRules(min_lead_days={"darmstadt-dieburg": 7}, max_attempts={"kassel": 3})
IN_A_WEEK = TODAY + timedelta(days=7)


def worker(user: str = "ow-yilmaz", role: str = "outreach_worker") -> CommandContext:
    return CommandContext(actor=user, role=role, trace={})


def planned_case(cipher: PersonalDataCipher, district: str = DISTRICT) -> PlannedCase:
    subject_id = cipher.subject_for(uuid4().hex)
    return PlannedCase(
        case_id=uuid4(),
        subject_id=subject_id,
        district=district,
        name=cipher.seal(subject_id, NAME),
        address=cipher.seal(subject_id, ADDRESS),
    )


@contextmanager
def acting(
    subject_id: UUID, district: str = DISTRICT, actor: str = "ow-yilmaz"
) -> Iterator[CommandContext]:
    """The events recorded inside are of ``actor``'s command about the person (as the
    application records them)."""
    with acting_as(replace(worker(actor), subject=subject_id, district=district)) as context:
        yield context


def announce_visit(cipher: PersonalDataCipher, **overrides: Any) -> Visit:
    """A visit announced today for next week, by the domain alone."""
    case = planned_case(cipher)
    arguments: dict[str, Any] = {
        "visit_id": uuid4(),
        "case_id": case.case_id,
        "subject_id": case.subject_id,
        "district": DISTRICT,
        "workers": ["ow-yilmaz", "ow-becker"],
        "schedule": Schedule.on(IN_A_WEEK),
        "purpose": VisitPurpose.FIRST_CONTACT,
        "place": MeetingPlace.HOME,
        "place_description": None,
        "announced_on": TODAY,
        "name": case.name,
        "address": case.address,
        "today": TODAY,
        "rules": RULES,
    }
    arguments.update(overrides)
    with acting(arguments["subject_id"], arguments["district"]):
        return Visit.announce(**arguments)


def announce_with_app(app: Visits, case: PlannedCase, **overrides: Any) -> UUID:
    arguments: dict[str, Any] = {
        "case": case,
        "workers": ["ow-yilmaz"],
        "schedule": Schedule.window(IN_A_WEEK, IN_A_WEEK + timedelta(days=2)),
        "purpose": VisitPurpose.FIRST_CONTACT,
        "place": MeetingPlace.HOME,
        "place_description": None,
        "announced_on": None,
    }
    arguments.update(overrides)
    with acting_as(worker()):
        return app.announce(**arguments)
