"""What the notifications domain refuses, each with its stable code (``shared.errors``)."""

from __future__ import annotations

from shared.errors import ConflictError, NotFoundError, ServiceUnavailableError


class NotificationNotFoundError(NotFoundError):
    code = "notification_not_found"


class NotificationNotDueError(ConflictError):
    code = "notification_not_due"


class NotificationNotSendingError(ConflictError):
    code = "notification_not_sending"


class NotificationNotRetryableError(ConflictError):
    code = "notification_not_retryable"


class DirectoryUnavailableError(ServiceUnavailableError):
    """The identity provider did not answer the staff directory's synchronisation as asked
    (the round changes nothing)."""

    code = "directory_unavailable"
    headers = {"Retry-After": "30"}


class DirectorySyncOffError(ConflictError):
    """No identity provider is configured: the staff directory is kept over ``PUT /staff``."""

    code = "directory_sync_off"
