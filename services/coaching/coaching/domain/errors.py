"""What the coaching domain refuses, each with its stable code (``shared.errors``)."""

from __future__ import annotations

from shared.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError


class ProviderNotFoundError(NotFoundError):
    code = "provider_not_found"


class CoachNotFoundError(NotFoundError):
    code = "coach_not_found"


class CoachingNotFoundError(NotFoundError):
    code = "coaching_not_found"


class ProgrammeNotFoundError(NotFoundError):
    code = "programme_not_found"


class InvalidContractTermsError(InvalidInputError):
    code = "invalid_contract_terms"


class InvalidDistrictsError(InvalidInputError):
    code = "invalid_districts"


class InvalidCaseloadError(InvalidInputError):
    code = "invalid_caseload"


class InvalidHandoverFieldsError(InvalidInputError):
    code = "invalid_handover_fields"


class DateOutOfRangeError(InvalidInputError):
    code = "date_out_of_range"


class InvalidProgrammeError(InvalidInputError):
    code = "invalid_programme"


class CoachNotOfProviderError(InvalidInputError):
    code = "coach_not_of_provider"


class ProviderDoesNotServeDistrictError(ConflictError):
    code = "provider_does_not_serve_district"


class CoachAlreadyRegisteredError(ConflictError):
    code = "coach_already_registered"


class NotARegisteredCoachError(ForbiddenError):
    code = "not_a_registered_coach"


class CoachAtFullCaseloadError(ConflictError):
    code = "coach_at_full_caseload"


class CoachAlreadyAssignedError(ConflictError):
    code = "coach_already_assigned"


class CoachingNotActiveError(ConflictError):
    code = "coaching_not_active"


class CoachingEndedError(ConflictError):
    code = "coaching_ended"


class ExtensionLimitReachedError(ConflictError):
    code = "extension_limit_reached"


class ExtensionNeedsTeamLeadError(ForbiddenError):
    code = "extension_needs_team_lead"


class CaseClosedError(ConflictError):
    code = "case_closed"


class CoachingAlreadyOpenError(ConflictError):
    code = "coaching_already_open"


class ProgrammeFullError(ConflictError):
    code = "programme_full"


class AlreadyEnrolledError(ConflictError):
    code = "already_enrolled"


class NotEnrolledError(ConflictError):
    code = "not_enrolled"


class ProgrammeNotOpenError(ConflictError):
    code = "programme_not_open_to_other_districts"


class ParticipationCompletedError(ConflictError):
    code = "participation_completed"
