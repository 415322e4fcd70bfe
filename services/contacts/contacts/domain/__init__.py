"""The contacts domain: pure (no I/O), one aggregate per module.

- :mod:`contacts.domain.case`: the outreach case of one person (:class:`OutreachCase`), and
  the steps of visits, coachings and letters noted in its timeline;
- :mod:`contacts.domain.open_case_index`: which case is open for a customer number in a
  district (:class:`OpenCaseIndex`);
- :mod:`contacts.domain.legal_hold`, :mod:`contacts.domain.erasure`,
  :mod:`contacts.domain.category_erasure`: data protection (GDPR Art. 17): a legal hold,
  the erasure of a person, the erasure of one data category of a person;
- :mod:`contacts.domain.values`: a case's status, the deadline rule, the namespaces;
- :mod:`contacts.domain.errors`: what the domain refuses, each with its code.

The aggregates' stored topics keep the name of this package (``contacts.domain:OutreachCase…``):
each event names it as its ``TOPIC``, and the aggregates resolve through the names below.
"""

from contacts.domain.case import OutreachCase
from contacts.domain.category_erasure import CategoryErasure
from contacts.domain.erasure import Erasure
from contacts.domain.errors import (
    CaseClosedError,
    CaseNotFoundError,
    CategoryNotErasableError,
    ContactAlreadyRestoredError,
    DateBeforeLastContactError,
    DuplicateInImportError,
    ErasureNotFoundError,
    LegalHoldAlreadyPlacedError,
    LegalHoldError,
    NoLegalHoldError,
    NothingToUpdateError,
    OpenCaseExistsError,
)
from contacts.domain.legal_hold import LegalHold
from contacts.domain.open_case_index import OpenCaseIndex
from contacts.domain.values import (
    DATA_PROTECTION_NAMESPACE,
    LETTER_QUEUED,
    OPEN_CASE_INDEX_NAMESPACE,
    CaseStatus,
    deadline_passed,
)

__all__ = [
    "DATA_PROTECTION_NAMESPACE",
    "LETTER_QUEUED",
    "OPEN_CASE_INDEX_NAMESPACE",
    "CaseClosedError",
    "CaseNotFoundError",
    "CaseStatus",
    "CategoryErasure",
    "CategoryNotErasableError",
    "ContactAlreadyRestoredError",
    "DateBeforeLastContactError",
    "DuplicateInImportError",
    "Erasure",
    "ErasureNotFoundError",
    "LegalHold",
    "LegalHoldAlreadyPlacedError",
    "LegalHoldError",
    "NoLegalHoldError",
    "NothingToUpdateError",
    "OpenCaseExistsError",
    "OpenCaseIndex",
    "OutreachCase",
    "deadline_passed",
]
