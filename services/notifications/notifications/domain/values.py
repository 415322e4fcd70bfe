"""The values of a notification's life: its status, its identity (derived from the event it
follows from), the retry policy."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from uuid import UUID, uuid5

NOTIFICATION_NAMESPACE = UUID("a4c1e2f3-6b7d-4e8f-9a0b-1c2d3e4f5a6b")


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    """An attempt started and its outcome is not recorded (yet)."""
    SENT = "sent"
    FAILED = "failed"
    """The last attempt failed; the next is due at ``next_attempt_at``."""
    GIVEN_UP = "given_up"


def notification_id_for(source_key: str, template: str) -> UUID:
    """The identity of the notification ``template`` sends for ``source_key`` (usually the
    integration event id). The template's version is deliberately not part of it: an event
    replayed after a template was revised finds the notification queued the first time."""
    return uuid5(NOTIFICATION_NAMESPACE, f"{source_key}|{template}")


def idempotency_key(source_key: str, template: str, version: int) -> str:
    """``<source>.<template>.v<version>``; only characters allowed in a Message-ID."""
    return f"{source_key}.{template}.v{version}"


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts before giving up, and the exponential back-off between them."""

    max_attempts: int = 5
    base_seconds: float = 30.0
    max_seconds: float = 3600.0

    def delay(self, attempt: int) -> timedelta:
        """The wait after the ``attempt``-th failed attempt: base, 2x, 4x, ... capped."""
        return timedelta(seconds=min(self.base_seconds * 2 ** (attempt - 1), self.max_seconds))
