"""What the notifications domain refuses, each with its stable code (``shared.errors``)."""

from __future__ import annotations

from shared.errors import ConflictError, NotFoundError


class NotificationNotFoundError(NotFoundError):
    code = "notification_not_found"


class NotificationNotDueError(ConflictError):
    code = "notification_not_due"


class NotificationNotSendingError(ConflictError):
    code = "notification_not_sending"


class NotificationNotRetryableError(ConflictError):
    code = "notification_not_retryable"
