"""What the coaching routes reach of the running service (``app.state.service``, opened by
``coaching.main``), as a typed dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from coaching.application import Coachings
from coaching.projections import CaseDirectoryView, CoachingRecordView, ProgrammeView, RegistryView
from shared.http.access_log import AccessLog
from shared.http.state import app_state
from shared.privacy import PersonalDataCipher


@dataclass(frozen=True)
class CoachingContext:
    app: Coachings
    cipher: PersonalDataCipher
    registry: RegistryView
    records: CoachingRecordView
    programmes: ProgrammeView
    directory: CaseDirectoryView
    extension_due_days: int
    access_log: AccessLog


def service_state(request: Request) -> CoachingContext:
    return app_state(request, "service", CoachingContext)


Context = Annotated[CoachingContext, Depends(service_state)]
