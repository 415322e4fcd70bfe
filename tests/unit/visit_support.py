"""Builders shared by the visits unit tests: a fixed "today", a planned case, an announcement."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from uuid import UUID, uuid4

from visits.application import PlannedCase, Visits
from visits.domain import Schedule, Visit, VisitRules

from shared.contracts.visits import MeetingPlace, VisitPurpose
from shared.eventsourcing.meta import CommandContext
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


def meta(subject_id: UUID, district: str = DISTRICT, actor: str = "ow-yilmaz") -> dict[str, Any]:
    return {**worker(actor).as_meta(), "subject": str(subject_id), "district": district}


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
        "meta": meta(case.subject_id),
    }
    arguments.update(overrides)
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
        "ctx": worker(),
    }
    arguments.update(overrides)
    return app.announce(**arguments)
