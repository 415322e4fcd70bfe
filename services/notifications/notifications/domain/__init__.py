"""The notifications domain: pure (no I/O).

- :mod:`notifications.domain.notification`: one notification and its life
  (:class:`Notification`);
- :mod:`notifications.domain.values`: its status, its identity derived from the event it
  follows from, the retry policy;
- :mod:`notifications.domain.errors`: what the domain refuses, each with its code.

The aggregate's stored topics keep the name of this package
(``notifications.domain:Notification…``): they resolve through the names below.
"""

from notifications.domain.errors import (
    NotificationNotDueError,
    NotificationNotFoundError,
    NotificationNotRetryableError,
    NotificationNotSendingError,
)
from notifications.domain.notification import Notification
from notifications.domain.values import (
    RetryPolicy,
    Status,
    idempotency_key,
    notification_id_for,
)

__all__ = [
    "Notification",
    "NotificationNotDueError",
    "NotificationNotFoundError",
    "NotificationNotRetryableError",
    "NotificationNotSendingError",
    "RetryPolicy",
    "Status",
    "idempotency_key",
    "notification_id_for",
]
