"""Bearer-token authentication and district scoping for every service's API.

Every request carries an access token (a JWT) of the organisation's identity provider
(OpenID Connect; Keycloak in the local stack). A service checks tokens it did not sign: the
signature against the provider's published keys (JWKS, found through
``<issuer>/.well-known/openid-configuration``, cached, fetched again for a key it does not
know and when the cache is old), then issuer, audience, expiry and not-before. The token
names the user, their role and districts, and for ``provider_outreach`` users the provider
(claims: :class:`ClaimNames`).

Development mode also accepts HS256 tokens signed with a shared key, minted by
``python -m shared.http.auth mint`` (and by the unit tests); production refuses them.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import jwt
from cachetools import TLRUCache
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import ApplicationError, ForbiddenError, NotFoundError, UnauthorizedError
from shared.eventsourcing.meta import CommandContext, begin_command
from shared.http.state import app_state
from shared.settings import Mode, ServiceSettings


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
    MANAGEMENT = "management"
    """Jobcenter management: the outreach figures of their districts (counts only), never a
    person's data."""


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


class IdentityProviderUnavailableError(ApplicationError):
    """The identity provider's keys are needed and cannot be fetched: the token may well be
    valid, so this is no 401."""

    status = 503
    code = "identity_provider_unavailable"


@dataclass(frozen=True)
class ClaimNames:
    """Where a token names the parts of a :class:`Principal` (``OUTREACH_OIDC_*_CLAIM``).

    The one claim shape, also of the development tokens::

        {"preferred_username": "jonas.becker", "roles": ["team_lead"],
         "districts": ["kassel"], "provider": "<uuid, provider_outreach only>"}
    """

    user: str = "preferred_username"
    roles: str = "roles"
    districts: str = "districts"
    provider: str = "provider"

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ClaimNames:
        return cls(
            settings.oidc_user_claim,
            settings.oidc_roles_claim,
            settings.oidc_districts_claim,
            settings.oidc_provider_claim,
        )

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        """The principal the claims name (``UnauthorizedError`` if they name none)."""
        user = claims.get(self.user)
        if not user:
            raise unauthorized("token_claims_invalid", f"the token names no user ({self.user})")
        roles = {str(r) for r in _as_list(claims.get(self.roles))} & set(Role)
        if len(roles) != 1:
            raise unauthorized(
                "token_claims_invalid",
                f"the token must name exactly one Outreach role ({self.roles}); it names "
                f"{len(roles)}",
            )
        try:
            return Principal(
                user=user,
                role=Role(roles.pop()),
                districts=frozenset(str(d) for d in _as_list(claims.get(self.districts))),
                provider=claims.get(self.provider) or None,
            )
        except ValidationError as error:
            fields = sorted({str(e["loc"][0]) for e in error.errors() if e["loc"]})
            names = {"districts": self.districts, "provider": self.provider, "user": self.user}
            claims_named = ", ".join(names.get(f, f) for f in fields)
            raise unauthorized(
                "token_claims_invalid", f"the token's claims are not valid: {claims_named}"
            ) from None


def _as_list(value: object) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def unauthorized(reason: str, detail: str) -> UnauthorizedError:
    """A 401 problem: ``code`` ``unauthorized`` and the ``reason`` in a word."""
    return UnauthorizedError(detail, reason=reason)


_REFUSALS: tuple[tuple[type[jwt.PyJWTError], str, str], ...] = (
    (jwt.ExpiredSignatureError, "token_expired", "the token has expired"),
    (jwt.ImmatureSignatureError, "token_not_yet_valid", "the token is not valid yet"),
    (jwt.InvalidIssuerError, "token_issuer_invalid", "the token was issued by another issuer"),
    (
        jwt.InvalidAudienceError,
        "token_audience_invalid",
        "the token is not meant for this service (audience)",
    ),
    (
        jwt.InvalidAlgorithmError,
        "token_algorithm_not_accepted",
        "the token's signature algorithm is not accepted",
    ),
    (jwt.InvalidSignatureError, "token_signature_invalid", "the token's signature is not valid"),
    (jwt.DecodeError, "token_malformed", "the bearer token is not a well-formed JWT"),
)


def refusal(error: jwt.PyJWTError) -> UnauthorizedError:
    """The 401 for a library error: a fixed sentence per kind, never the library's message."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return unauthorized("token_claims_invalid", f"the token lacks the claim {error.claim}")
    for kind, reason, detail in _REFUSALS:
        if isinstance(error, kind):
            return unauthorized(reason, detail)
    return unauthorized("token_invalid", "the bearer token is not valid")


CHECKED_TOKENS = 4096
"""How many verified tokens a verifier remembers (until each one expires)."""


class TokenVerifier:
    """Checks bearer tokens; remembers the ones it accepted until they expire.

    A client sends the same token with every request: its signature and claims are checked
    once, and the principal is reused until the token's expiry (``exp``, in seconds since the
    epoch, hence the wall-clock timer); the least recently used token goes first when the
    cache is full."""

    def __init__(self) -> None:
        self._checked: TLRUCache[str, tuple[float, Principal], float] = TLRUCache(
            maxsize=CHECKED_TOKENS, ttu=lambda _token, checked, _now: checked[0], timer=time.time
        )
        self._lock = threading.Lock()  # the cache is not thread-safe

    def remembered(self, token: str) -> Principal | None:
        """The principal of a token accepted before and not expired yet (no I/O)."""
        with self._lock:
            checked = self._checked.get(token)
        return None if checked is None else checked[1]

    def decode(self, token: str) -> Principal:
        """The principal of a valid token (``UnauthorizedError`` otherwise). May fetch the
        identity provider's keys: call it off the event loop."""
        principal = self.remembered(token)
        if principal is not None:
            return principal
        principal, expires = self.verify(token)
        with self._lock:
            self._checked[token] = (expires, principal)
        return principal

    def verify(self, token: str) -> tuple[Principal, float]:
        """Check the token (no cache): its principal and expiry (seconds since the epoch)."""
        raise NotImplementedError


def token_header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise refusal(error) from None


def unverified_claims(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as error:
        raise refusal(error) from None
    return claims


class TokenCodec(TokenVerifier):
    """HS256 tokens signed with a shared key: development mode and unit tests only."""

    def __init__(
        self,
        secret: str,
        algorithm: str,
        issuer: str,
        audience: str = "outreach",
        claims: ClaimNames | None = None,
    ) -> None:
        super().__init__()
        self._secret = secret
        self._algorithm = algorithm
        self._issuer = issuer
        self._audience = audience
        self._claims = claims or ClaimNames()

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> TokenCodec:
        return cls(
            settings.secret("jwt_secret"),
            settings.jwt_algorithm,
            settings.jwt_issuer,
            settings.oidc_audience,
            ClaimNames.from_settings(settings),
        )

    def mint(self, principal: Principal, ttl: timedelta = timedelta(hours=8)) -> str:
        now = datetime.now(UTC)
        names = self._claims
        claims = {
            "sub": principal.user,
            names.user: principal.user,
            names.roles: [principal.role.value],
            names.districts: sorted(principal.districts),
            **({names.provider: str(principal.provider)} if principal.provider else {}),
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + ttl,
        }
        return jwt.encode(claims, self._secret, algorithm=self._algorithm)

    def verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise refusal(error) from None
        return self._claims.principal(claims), float(claims["exp"])


_bearer = HTTPBearer(auto_error=False)


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The FastAPI dependency that authenticates the request's bearer token with the app's
    verifier (``app.state.verifier``), and makes the principal who asks for every change the
    request records (the ``meta`` of its events, :mod:`shared.eventsourcing.meta`).

    A token seen before is answered from memory on the event loop; a new one is checked on a
    worker thread, since that may fetch the identity provider's keys."""
    if credentials is None:
        raise unauthorized("token_missing", "a bearer token is required")
    verifier = app_state(request, "verifier", TokenVerifier)
    token = credentials.credentials
    principal = verifier.remembered(token)
    if principal is None:
        principal = await asyncio.to_thread(verifier.decode, token)
    request.state.principal = principal
    # On the event loop, in the request's own task: the route (run in a copy of the task's
    # context) and everything it calls see it.
    begin_command(CommandContext(actor=principal.user, role=principal.role.value))
    return principal


Authenticator = Callable[..., Awaitable[Principal]]
"""A FastAPI dependency that gives a request's :class:`Principal`: :func:`authenticate`, or
a service's narrowing of it (e.g. visits admits a provider's outreach workers only to the
districts its contract covers)."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.http.auth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    mint = sub.add_parser("mint", help="print a development token")
    mint.add_argument("--user", required=True)
    mint.add_argument("--role", required=True, choices=[r.value for r in Role])
    mint.add_argument("--district", action="append", required=True, dest="districts")
    mint.add_argument("--provider", type=UUID, help="the provider (provider_outreach tokens)")
    mint.add_argument("--hours", type=float, default=8.0)
    args = parser.parse_args(argv)
    settings = ServiceSettings()
    if settings.mode is not Mode.DEVELOPMENT:
        raise SystemExit("development tokens are refused in production: sign in instead")
    codec = TokenCodec.from_settings(settings)
    principal = Principal(
        user=args.user, role=Role(args.role), districts=args.districts, provider=args.provider
    )
    sys.stdout.write(codec.mint(principal, timedelta(hours=args.hours)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
