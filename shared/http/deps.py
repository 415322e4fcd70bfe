"""The dependencies every service's routes are typed with (as full-stack's ``api/deps.py``).

- :data:`CurrentUser`: the authenticated principal (401 without a valid token).
- :func:`require`: the principal, of one of the given roles (else 403), e.g.
  ``Staff = Annotated[Principal, Depends(require(*STAFF))]`` in a service's ``api/deps.py``.
- :func:`reading`: a read of personal data — the token (401), then the stated purpose
  (``X-Purpose``: 400), then the role (403) — handing the route a :class:`PersonalRead`,
  whose access-log entries are written after the route returned, before the response goes
  (nothing is revealed without its entry).

Each takes the principal dependency it builds on (``principal``): :func:`authenticate`, or
a service's own narrowing of it.
"""

# No "from __future__ import annotations": FastAPI resolves the signatures of the
# dependencies made here, which name the principal dependency they are given.

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Header, Request, params
from starlette.concurrency import run_in_threadpool

from shared.http.access_log import AccessLog, PersonalRead
from shared.http.auth import Authenticator, Principal, Role, authenticate
from shared.http.purpose import NOTE_MAX, PURPOSE_HEADER, PURPOSE_PATTERN, StatedPurpose
from shared.http.state import app_state

CurrentUser = Annotated[Principal, Depends(authenticate)]


def require(*roles: Role, principal: Authenticator = authenticate) -> Authenticator:
    """The principal of one of ``roles`` (403 ``forbidden`` for any other)."""

    async def required(who: Annotated[Principal, Depends(principal)]) -> Principal:
        who.require(*roles)
        return who

    return required


def reading(*roles: Role, principal: Authenticator = authenticate) -> params.Depends:
    """The dependency of a route that opens personal data, for
    ``Reading = Annotated[PersonalRead, reading(*STAFF)]`` (any role if none is given)."""

    async def read_of(
        request: Request,
        who: Annotated[Principal, Depends(principal)],
        # Required: a request without it is answered 400 ``purpose_required`` (see
        # ``shared.http.app``), after the token was checked.
        x_purpose: Annotated[
            str,
            Header(
                alias=PURPOSE_HEADER,
                description="Why the data is read: case_work, visit_planning, coaching or "
                f"audit, optionally followed by ':' and a note of up to {NOTE_MAX} "
                "characters (percent-encoded UTF-8 beyond ASCII). Without it: 400 "
                "purpose_required; not of this form: 400 invalid_purpose.",
                json_schema_extra={"pattern": PURPOSE_PATTERN},
                examples=["case_work", "visit_planning: round of 3 December"],
            ),
        ],
    ) -> AsyncIterator[PersonalRead]:
        # On the event loop (no I/O before the route): no thread-pool hop of its own.
        stated = StatedPurpose.parse(x_purpose)
        if roles:
            who.require(*roles)
        log = app_state(request, "access_log", AccessLog)
        route = request.scope.get("route")
        # The template as documented (``/cases/{case_id}``, not ``{case_id:uuid}``).
        path = getattr(route, "path_format", None) or getattr(route, "path", request.url.path)
        read = PersonalRead(who, stated, f"{request.method} {path}", log)
        yield read
        if read.pending:  # not yet written by the route itself
            await run_in_threadpool(read.flush)

    # "function": the entries are written when the route returned, before the response goes.
    return params.Depends(read_of, scope="function")
