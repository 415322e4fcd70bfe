"""Sessions of signed-in staff, held by the web app (a backend-for-frontend).

The browser holds only the session's id: 256 random bits in an HttpOnly, SameSite=Lax cookie
(Secure when served over TLS). The tokens of the identity provider stay here and never
reach page scripts. Sessions live in this process's memory: a restart signs everyone out
(they sign in again at the identity provider, usually without typing anything), and more
than one process needs sticky sessions or a shared store.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from outreach_web.oidc import Identity, PendingSignIn, Tokens

PENDING_SECONDS = 600.0
"""How long a sign-in may stay at the identity provider's page."""


@dataclass
class Session:
    id: str
    identity: Identity
    tokens: Tokens
    csrf: str
    created: float
    expires: float
    offline_key: bytes = field(repr=False)
    """The key of this session's encrypted offline data in the browser (AES-256-GCM)."""
    offline_key_id: str = ""
    shown_once: dict[str, Any] = field(default_factory=dict, repr=False)
    """What a page shows a single time after a command (a new calendar link's secret
    address): kept here across the redirect, never in a URL."""


class SessionStore:
    def __init__(self, lifetime_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._lifetime = lifetime_seconds
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._pending: dict[str, PendingSignIn] = {}
        self._lock = threading.Lock()

    def create(self, identity: Identity, tokens: Tokens) -> Session:
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(32),
            identity=identity,
            tokens=tokens,
            csrf=secrets.token_urlsafe(32),
            created=now,
            expires=now + self._lifetime,
            offline_key=secrets.token_bytes(32),
            offline_key_id=secrets.token_hex(8),
        )
        with self._lock:
            self._expire(now)
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            session = self._sessions.get(session_id)
            if session is not None and session.expires <= self._clock():
                del self._sessions[session_id]
                return None
            return session

    def drop(self, session_id: str) -> Session | None:
        with self._lock:
            return self._sessions.pop(session_id, None)

    def remember(self, pending: PendingSignIn) -> None:
        with self._lock:
            self._expire(self._clock())
            self._pending[pending.state] = pending

    def take(self, state: str) -> PendingSignIn | None:
        """The sign-in that ``state`` began, once (a replayed answer finds nothing)."""
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or pending.created + PENDING_SECONDS < self._clock():
            return None
        return pending

    def _expire(self, now: float) -> None:
        for key in [k for k, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[key]
        for key in [k for k, p in self._pending.items() if p.created + PENDING_SECONDS < now]:
            del self._pending[key]
