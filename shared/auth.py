"""Bearer-token authentication and district scoping for every service's API.

Tokens are JWTs signed with a key from settings (algorithm pinned). They name the user, the
role and the district(s) the user works for. ``python -m shared.auth mint`` prints a token
for development.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated
from uuid import UUID

import jwt
from cachetools import TLRUCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import ForbiddenError, NotFoundError, UnauthorizedError
from shared.settings import ServiceSettings


class Role(StrEnum):
    OUTREACH_WORKER = "outreach_worker"
    TEAM_LEAD = "team_lead"
    CASE_MANAGER = "case_manager"
    PROVIDER_COACH = "provider_coach"
    PROVIDER_OUTREACH = "provider_outreach"
    """An outreach worker of a provider contracted to run the outreach itself: the token
    names the provider (``provider``); the visits service admits them only to the districts
    that provider's outreach contract covers."""
    DATA_PROTECTION_OFFICER = "data_protection_officer"


class Principal(BaseModel):
    """The authenticated user of a request."""

    model_config = ConfigDict(frozen=True)

    user: str = Field(min_length=1)
    role: Role
    districts: frozenset[str] = Field(min_length=1)
    provider: UUID | None = None
    """The provider the user works for (``provider_outreach`` tokens)."""

    def may_see(self, district: str) -> bool:
        return district in self.districts

    def check_district(self, district: str, what: str = "resource") -> None:
        """Another district's records do not exist for this user: 404, not 403."""
        if not self.may_see(district):
            raise NotFoundError(f"{what} not found")

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise ForbiddenError(
                f"role {self.role.value} may not do this; needs one of "
                + ", ".join(r.value for r in roles)
            )


CHECKED_TOKENS = 4096
"""How many verified tokens a :class:`TokenCodec` remembers (until each one expires)."""


class TokenCodec:
    def __init__(self, secret: str, algorithm: str, issuer: str) -> None:
        self._secret = secret
        self._algorithm = algorithm
        self._issuer = issuer
        # A client sends the same token with every request: its signature and claims are
        # checked once, and the principal is reused until the token's expiry (``exp``, in
        # seconds since the epoch, hence the wall-clock timer); the least recently used
        # token goes first when the cache is full.
        self._checked: TLRUCache[str, tuple[float, Principal], float] = TLRUCache(
            maxsize=CHECKED_TOKENS, ttu=lambda _token, checked, _now: checked[0], timer=time.time
        )
        self._lock = threading.Lock()  # the cache is not thread-safe

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenCodec:
        return cls(settings.secret("jwt_secret"), settings.jwt_algorithm, settings.jwt_issuer)

    def mint(self, principal: Principal, ttl: timedelta = timedelta(hours=8)) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": principal.user,
            "role": principal.role.value,
            "districts": sorted(principal.districts),
            **({"provider": str(principal.provider)} if principal.provider else {}),
            "iss": self._issuer,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def decode(self, token: str) -> Principal:
        """The principal of a valid token (``UnauthorizedError`` otherwise)."""
        with self._lock:
            checked = self._checked.get(token)
        if checked is not None:
            return checked[1]
        principal, expires = self._verify(token)
        with self._lock:
            self._checked[token] = (expires, principal)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                options={"require": ["sub", "exp", "iss"]},
            )
            principal = Principal(
                user=claims["sub"],
                role=claims["role"],
                districts=claims.get("districts", []),
                provider=claims.get("provider"),
            )
            return principal, float(claims["exp"])
        except jwt.ExpiredSignatureError:
            raise UnauthorizedError("the bearer token has expired") from None
        except (jwt.PyJWTError, KeyError, ValueError):
            # The library's message describes its decoding (padding, segments, codecs):
            # nothing a caller needs, and nothing to show of the service's internals.
            raise UnauthorizedError("the bearer token is not valid") from None


_bearer = HTTPBearer(auto_error=False)


Authenticator = Callable[..., Awaitable[Principal]]
"""The FastAPI dependency that gives a request's :class:`Principal` (see
:func:`principal_dependency`)."""


def principal_dependency(codec: TokenCodec) -> Authenticator:
    """A FastAPI dependency that authenticates the request's bearer token.

    Asynchronous on purpose: checking the signature needs no I/O (tens of microseconds), so
    it runs on the event loop instead of taking a thread-pool hop for every request."""

    async def authenticate(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None:
            raise UnauthorizedError("a bearer token is required")
        principal = codec.decode(credentials.credentials)
        request.state.principal = principal
        return principal

    return authenticate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.auth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    mint = sub.add_parser("mint", help="print a development token")
    mint.add_argument("--user", required=True)
    mint.add_argument("--role", required=True, choices=[r.value for r in Role])
    mint.add_argument("--district", action="append", required=True, dest="districts")
    mint.add_argument("--provider", type=UUID, help="the provider (provider_outreach tokens)")
    mint.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args(argv)
    codec = TokenCodec.from_settings(ServiceSettings())
    principal = Principal(
        user=args.user, role=Role(args.role), districts=args.districts, provider=args.provider
    )
    sys.stdout.write(codec.mint(principal, timedelta(hours=args.hours)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
