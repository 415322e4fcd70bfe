"""The visits domain: pure (no I/O), one aggregate per module.

- :mod:`visits.domain.visit`: a visit to one person, announced in writing, maybe
  rescheduled, cancelled or completed (:class:`Visit`);
- :mod:`visits.domain.case_visits`: which visit of a case is pending, and how many the case
  has had (:class:`CaseVisits`);
- :mod:`visits.domain.calendar_feed`: a worker's calendar link, revocable
  (:class:`CalendarFeed`);
- :mod:`visits.domain.values`: when a visit is (:class:`Schedule`), the district's rules
  (:class:`VisitRules`), the order of a day's round;
- :mod:`visits.domain.errors`: what the domain refuses, each with its code.

The aggregates' stored topics keep the name of this package (``visits.domain:Visit…``):
they resolve through the names below.
"""

from visits.domain.calendar_feed import CalendarFeed, secret_digest
from visits.domain.case_visits import CaseVisits
from visits.domain.errors import (
    CalendarLinkNotFoundError,
    InvalidScheduleError,
    InvalidWorkersError,
    LeadTimeTooShortError,
    NotAssignedToVisitError,
    PlaceDescriptionError,
    VisitAlreadyAnnouncedError,
    VisitAlreadyCompletedError,
    VisitCancelledError,
    VisitChangedError,
    VisitNotBegunError,
    VisitNotFoundError,
    WindowInPastError,
)
from visits.domain.values import Schedule, VisitRules, address_sort_key
from visits.domain.visit import MAX_WORKERS, Visit, VisitStatus, check_place, check_workers

__all__ = [
    "MAX_WORKERS",
    "CalendarFeed",
    "CalendarLinkNotFoundError",
    "CaseVisits",
    "InvalidScheduleError",
    "InvalidWorkersError",
    "LeadTimeTooShortError",
    "NotAssignedToVisitError",
    "PlaceDescriptionError",
    "Schedule",
    "Visit",
    "VisitAlreadyAnnouncedError",
    "VisitAlreadyCompletedError",
    "VisitCancelledError",
    "VisitChangedError",
    "VisitNotBegunError",
    "VisitNotFoundError",
    "VisitRules",
    "VisitStatus",
    "WindowInPastError",
    "address_sort_key",
    "check_place",
    "check_workers",
    "secret_digest",
]
