"""The data protection commands of the contacts application (GDPR Art. 17): legal holds,
the erasure of a person, the erasure of one data category of a person, and the services'
confirmations in the erasure certificate.

Who asks is the command's context (the officer's request, or the consumed confirmation on
behalf of the confirming service); each command says whose data it concerns.

Contacts owns the person's case, so it holds the erasure process: the person's data key is
destroyed (crypto-shredding), the ``SubjectErased`` tombstone goes to every service (the
relay of ``Erasure.KeyDestroyed``), and the certificate lists each service's confirmation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.persistence import Tracking

from contacts.domain import (
    CategoryErasure,
    CategoryNotErasableError,
    Erasure,
    ErasureNotFoundError,
    LegalHold,
    NoLegalHoldError,
)
from shared.contracts.erasures import ErasureGround
from shared.eventsourcing.application import OutreachApplication
from shared.eventsourcing.meta import concerning
from shared.privacy import SEPARATELY_ERASABLE, SubjectErasedError


class DataProtection(OutreachApplication):
    """The legal holds and erasures of the contacts application (its base: one event store)."""

    def place_legal_hold(self, subject_id: UUID, *, district: str, reason: str) -> LegalHold:
        """Keep the person's data until the hold is lifted. Refused for a person whose
        erasure was requested: their data is (being) destroyed, a hold cannot keep it."""
        if self.erasure_of(subject_id) is not None:
            raise SubjectErasedError(
                f"subject {subject_id} has been erased; there is nothing left to hold"
            )
        hold = self.legal_hold(subject_id)
        with concerning(subject_id, district):
            if hold is None:
                hold = LegalHold.place_for(subject_id=subject_id, reason=reason)
            else:
                hold.place(reason=reason)
        self.save_or_conflict(hold)
        return hold

    def lift_legal_hold(self, subject_id: UUID, *, district: str, reason: str) -> LegalHold:
        hold = self.legal_hold(subject_id)
        if hold is None:
            raise NoLegalHoldError("no legal hold is placed")
        with concerning(subject_id, district):
            hold.lift(reason=reason)
        self.save_or_conflict(hold)
        return hold

    def legal_hold(self, subject_id: UUID) -> LegalHold | None:
        return self.find(LegalHold, LegalHold.id_for(subject_id))

    def request_erasure(
        self,
        subject_id: UUID,
        *,
        district: str,
        ground: ErasureGround,
        reason: str,
        destroy_key: Callable[[UUID], None],
    ) -> Erasure:
        """Erase a person by destroying their data key (crypto-shredding).

        Refused while a legal hold is placed. The request is saved before the key is
        destroyed and ``KeyDestroyed`` after it (its relay publishes the ``SubjectErased``
        tombstone): after a crash in between, requesting it again completes it.
        """
        self._check_not_held(subject_id)
        erasure = self.erasure_of(subject_id)
        if erasure is None:
            with concerning(subject_id, district):
                erasure = Erasure.request(
                    subject_id=subject_id, district=district, ground=ground.value, reason=reason
                )
            self.save_or_conflict(erasure)
        if erasure.key_destroyed_at is None:
            destroy_key(subject_id)
            with concerning(subject_id, district):
                erasure.record_key_destroyed(at=datetime.now(UTC))
            self.save_or_conflict(erasure)
        return erasure

    def request_category_erasure(
        self,
        subject_id: UUID,
        *,
        category: str,
        district: str,
        ground: ErasureGround,
        reason: str,
        destroy_key: Callable[[UUID, str], None],
    ) -> CategoryErasure:
        """Erase one data category of a person (e.g. ``visit_note``) by destroying only that
        category's data key; the person and the rest of their record stay readable.

        Refused while a legal hold is placed, and for a person who is erased already
        (nothing left to erase). Recorded like the erasure of the person: the request is
        saved before the key is destroyed and ``KeyDestroyed`` after it.
        """
        if category not in SEPARATELY_ERASABLE:
            raise CategoryNotErasableError(
                f"the data category {category!r} is not erased on its own", category=category
            )
        self._check_not_held(subject_id)
        if self.erasure_of(subject_id) is not None:
            raise SubjectErasedError(f"subject {subject_id} has been erased")
        erasure = self.find(CategoryErasure, CategoryErasure.id_for(subject_id, category))
        with concerning(subject_id, district):
            if erasure is None:
                erasure = CategoryErasure.request(
                    subject_id=subject_id,
                    category=category,
                    district=district,
                    ground=ground.value,
                    reason=reason,
                )
            else:
                erasure.request_again(district=district, ground=ground.value, reason=reason)
        self.save_or_conflict(erasure)
        destroy_key(subject_id, category)
        with concerning(subject_id, district):
            erasure.record_key_destroyed(at=datetime.now(UTC))
        self.save_or_conflict(erasure)
        return erasure

    def get_category_erasure(self, erasure_id: UUID) -> CategoryErasure:
        missing = ErasureNotFoundError(f"erasure {erasure_id} not found")
        return self.get(CategoryErasure, erasure_id, missing)

    def erasure_of(self, subject_id: UUID) -> Erasure | None:
        return self.find(Erasure, Erasure.id_for(subject_id))

    def get_erasure(self, erasure_id: UUID) -> Erasure:
        missing = ErasureNotFoundError(f"erasure {erasure_id} not found")
        return self.get(Erasure, erasure_id, missing)

    def record_erasure_confirmation(
        self,
        erasure_id: UUID,
        *,
        service: str,
        deployment: str,
        confirmed_at: datetime,
        tracking: Tracking,
    ) -> bool:
        """A service's ``SubjectErasureConfirmed``, in the erasure's certificate (saved with
        the consumer's tracking record). Another deployment's erasure is only tracked."""
        erasure = self.find(Erasure, erasure_id)
        if erasure is None:
            return self.save_tracked(tracking)
        with concerning(erasure.subject_id, erasure.district):
            erasure.confirm(service=service, deployment=deployment, confirmed_at=confirmed_at)
        return self.save_tracked(tracking, erasure)

    def _check_not_held(self, subject_id: UUID) -> None:
        hold = self.legal_hold(subject_id)
        if hold is not None:
            hold.check_not_active()
