"""The outbox: the one place that sends.

- :mod:`notifications.outbox.sending`: what it does each round — takes the due
  notifications, composes them (:class:`~notifications.letters.Composer`) and hands them to
  their channel, exactly once towards people;
- :mod:`notifications.outbox.leader`: how only one outbox of a deployment sends at a time
  (a PostgreSQL advisory lock; the others wait in standby).
"""

from notifications.outbox.sending import Outbox

__all__ = ["Outbox"]
