"""The views of the notifications service, one module each.

- :mod:`notifications.projections.status`: every notification's status and its sealed
  letter (``notification_status``, a projection of the service's own event log);
- :mod:`notifications.projections.directory`: who and where, learnt from the other
  services' events (cases, visits, running coachings);
- :mod:`notifications.projections.staff_directory`: the staff letters name and the
  districts' letterheads, set over HTTP.

What the erasure of a person blanks in them is :data:`FORGET`.
"""

from shared.erasure import Forget, blank_tokens, forget_all

FORGET: Forget = forget_all(
    blank_tokens("notifications", "letter_token"),
    blank_tokens("directory_cases", "name_token", "address_token"),
)
"""What notifications forgets of an erased person: stored letters and directory entries
become ``[erased]``. Whatever is still queued about them (letters, and e-mails to staff too)
is given up by the outbox, which checks the erasure ledger before it composes anything."""
