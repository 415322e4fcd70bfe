"""Reading what one has just created, although the views follow the event log.

A create command answers 201 as soon as its events are stored; the projection writes the
view row a few milliseconds later. A client that reads the new resource right away must not
be told it does not exist. :func:`projected` reads the view, and when the row is missing
but the aggregate exists in the event store (the source of truth), waits for the projection
to write it. A resource that does not exist is still a 404 at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from shared.errors import NotFoundError, ServiceUnavailableError

T = TypeVar("T")

CATCH_UP_SECONDS = 5.0
"""How long a read waits for a projection that is behind a stored aggregate."""
_POLL_SECONDS = 0.01


class ViewBehindError(ServiceUnavailableError):
    code = "view_behind"


def projected(
    find: Callable[[], T | None],
    exists: Callable[[], object],
    *,
    timeout: float = CATCH_UP_SECONDS,
) -> T | None:
    """The view's row (``find``), waiting for it while the projection is behind.

    ``exists`` reads the aggregate from the event store and raises a :class:`NotFoundError`
    when there is none: then the answer is ``None`` without waiting. If the row does not
    appear within ``timeout`` the projection is stuck: 503 ``view_behind`` (retry), never a
    404 for something that exists.
    """
    row = find()
    if row is not None:
        return row
    try:
        exists()
    except NotFoundError:
        return None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        row = find()
        if row is not None:
            return row
    raise ViewBehindError("the view of this resource is being updated; retry in a moment")
