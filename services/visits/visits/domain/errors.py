"""What the visits domain refuses, each with its stable code (``shared.errors``)."""

from __future__ import annotations

from shared.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError


class VisitNotFoundError(NotFoundError):
    code = "visit_not_found"


class WindowInPastError(InvalidInputError):
    code = "window_in_past"


class LeadTimeTooShortError(InvalidInputError):
    code = "lead_time_too_short"


class InvalidScheduleError(InvalidInputError):
    code = "invalid_schedule"


class InvalidWorkersError(InvalidInputError):
    code = "invalid_workers"


class PlaceDescriptionError(InvalidInputError):
    code = "invalid_place"


class VisitCancelledError(ConflictError):
    code = "visit_cancelled"


class VisitNotBegunError(ConflictError):
    code = "visit_not_begun"


class VisitAlreadyCompletedError(ConflictError):
    code = "visit_already_completed"


class VisitAlreadyAnnouncedError(ConflictError):
    code = "visit_already_announced"


class NotAssignedToVisitError(ForbiddenError):
    code = "not_assigned_to_visit"


class VisitChangedError(ConflictError):
    """A command was given against a version of the visit that is not its current one: the
    visit was rescheduled, cancelled or completed meanwhile (e.g. while an outcome waited in
    a phone's queue without a signal). The answer names what differs, so the person who
    typed it can decide; nothing is applied."""

    code = "visit_changed"


class CalendarLinkNotFoundError(NotFoundError):
    """An unknown, revoked or malformed calendar link: one answer for all three."""

    code = "calendar_link_not_found"
