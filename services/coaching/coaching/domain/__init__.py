"""The coaching domain (DOMAIN.md, steps 4 and 5): pure (no I/O), one aggregate per module.

- :mod:`coaching.domain.provider`: a provider (Träger), its districts, contract terms and
  outreach contracts (:class:`Provider`);
- :mod:`coaching.domain.coach`: a coach of one provider and the places of their caseload
  (:class:`Coach`);
- :mod:`coaching.domain.coaching`: one person's coaching, from the request to its end
  (:class:`Coaching`);
- :mod:`coaching.domain.case_coaching`: which coaching of a case is open
  (:class:`CaseCoaching`);
- :mod:`coaching.domain.programme`: the Jobcenter's own group programmes
  (:class:`Programme`);
- :mod:`coaching.domain.values`: contract terms (their defaults and limits, defined once),
  the hand-over fields, a case as the service knows it, :func:`add_months`;
- :mod:`coaching.domain.errors`: what the domain refuses, each with its code.

The aggregates' stored topics keep the name of this package (``coaching.domain:Coaching…``):
they resolve through the names below.
"""

from coaching.domain.case_coaching import CaseCoaching
from coaching.domain.coach import Coach
from coaching.domain.coaching import Coaching
from coaching.domain.errors import (
    AlreadyEnrolledError,
    CaseClosedError,
    CoachAlreadyAssignedError,
    CoachAlreadyRegisteredError,
    CoachAtFullCaseloadError,
    CoachingAlreadyOpenError,
    CoachingEndedError,
    CoachingNotActiveError,
    CoachingNotFoundError,
    CoachNotFoundError,
    CoachNotOfProviderError,
    DateOutOfRangeError,
    ExtensionLimitReachedError,
    ExtensionNeedsTeamLeadError,
    InvalidCaseloadError,
    InvalidContractTermsError,
    InvalidDistrictsError,
    InvalidHandoverFieldsError,
    InvalidProgrammeError,
    NotARegisteredCoachError,
    NotEnrolledError,
    ParticipationCompletedError,
    ProgrammeFullError,
    ProgrammeNotFoundError,
    ProgrammeNotOpenError,
    ProviderDoesNotServeDistrictError,
    ProviderNotFoundError,
)
from coaching.domain.programme import Programme
from coaching.domain.provider import Provider
from coaching.domain.values import (
    EXTENSION_MONTHS,
    HANDOVER_FIELDS,
    INITIAL_TERM_MONTHS,
    MAX_EXTENSIONS,
    CoachingStatus,
    ContractTerms,
    HouseholdRelation,
    KnownCase,
    PartnerKind,
    TermRule,
    add_months,
    check_handover_fields,
)

__all__ = [
    "EXTENSION_MONTHS",
    "HANDOVER_FIELDS",
    "INITIAL_TERM_MONTHS",
    "MAX_EXTENSIONS",
    "AlreadyEnrolledError",
    "CaseClosedError",
    "CaseCoaching",
    "Coach",
    "CoachAlreadyAssignedError",
    "CoachAlreadyRegisteredError",
    "CoachAtFullCaseloadError",
    "CoachNotFoundError",
    "CoachNotOfProviderError",
    "Coaching",
    "CoachingAlreadyOpenError",
    "CoachingEndedError",
    "CoachingNotActiveError",
    "CoachingNotFoundError",
    "CoachingStatus",
    "ContractTerms",
    "DateOutOfRangeError",
    "ExtensionLimitReachedError",
    "ExtensionNeedsTeamLeadError",
    "HouseholdRelation",
    "InvalidCaseloadError",
    "InvalidContractTermsError",
    "InvalidDistrictsError",
    "InvalidHandoverFieldsError",
    "InvalidProgrammeError",
    "KnownCase",
    "NotARegisteredCoachError",
    "NotEnrolledError",
    "ParticipationCompletedError",
    "PartnerKind",
    "Programme",
    "ProgrammeFullError",
    "ProgrammeNotFoundError",
    "ProgrammeNotOpenError",
    "Provider",
    "ProviderDoesNotServeDistrictError",
    "ProviderNotFoundError",
    "TermRule",
    "add_months",
    "check_handover_fields",
]
