"""What the contacts domain refuses, each with its ``code`` (the problem's ``code``)."""

from __future__ import annotations

from shared.errors import ConflictError, InvalidInputError, NotFoundError


class DateBeforeLastContactError(InvalidInputError):
    code = "date_before_last_contact"


class NothingToUpdateError(InvalidInputError):
    code = "nothing_to_update"


class CaseClosedError(ConflictError):
    code = "case_closed"


class ContactAlreadyRestoredError(ConflictError):
    code = "contact_already_restored"


class OpenCaseExistsError(ConflictError):
    code = "open_case_exists"


class CaseNotFoundError(NotFoundError):
    code = "case_not_found"


class DuplicateInImportError(ConflictError):
    code = "duplicate_in_import"


class LegalHoldError(ConflictError):
    """The person's data must be kept (a court case, an objection, an audit)."""

    code = "legal_hold"


class LegalHoldAlreadyPlacedError(ConflictError):
    code = "legal_hold_already_placed"


class NoLegalHoldError(ConflictError):
    code = "no_legal_hold"


class ErasureNotFoundError(NotFoundError):
    code = "erasure_not_found"


class CategoryNotErasableError(InvalidInputError):
    """Only some data categories are erased on their own; the record goes with the person."""

    code = "category_not_erasable"
