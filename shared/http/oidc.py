"""The organisation's identity provider (OpenID Connect): tokens checked against its
published keys (:class:`OidcVerifier`), the verifier a service uses in each mode
(:func:`verifier_from_settings`), and the tokens of the jobs that call the services
(:class:`JobTokens`)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import httpx
import jwt

from shared.http.auth import (
    ClaimNames,
    IdentityProviderUnavailableError,
    Principal,
    TokenCodec,
    TokenVerifier,
    refusal,
    token_header,
    unauthorized,
    unverified_claims,
)
from shared.settings import Mode, ServiceSettings


class OidcVerifier(TokenVerifier):
    """Tokens of an OpenID Connect provider, checked against its published keys.

    The discovery document is read once (on the first token, so a service starts while the
    provider is still coming up); the key set is cached for ``jwks_lifespan`` seconds and
    fetched again when a token names a key it does not hold (at most once per
    ``jwks_cooldown`` seconds, so tokens with invented key ids cannot make it hammer the
    provider). PyJWT's ``PyJWKClient`` does the fetching and caching."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        algorithms: list[str],
        claims: ClaimNames | None = None,
        *,
        jwks_lifespan: float = 300,
        jwks_cooldown: float = 10,
        leeway: float = 10,
        timeout: float = 5,
    ) -> None:
        super().__init__()
        self.issuer = issuer  # compared exactly, as OpenID Connect wants
        self._audience = audience
        self._algorithms = list(algorithms)
        self._claims = claims or ClaimNames()
        self._jwks_lifespan = jwks_lifespan
        self._jwks_cooldown = jwks_cooldown
        self._leeway = leeway
        self._timeout = timeout
        self._jwks: jwt.PyJWKClient | None = None
        self._discovery_lock = threading.Lock()
        self._discovery_failed_at: float | None = None

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> OidcVerifier:
        assert settings.oidc_issuer is not None  # the settings refuse to start without one
        return cls(
            settings.oidc_issuer,
            settings.oidc_audience,
            settings.oidc_algorithms,
            ClaimNames.from_settings(settings),
            jwks_lifespan=settings.oidc_jwks_lifespan_seconds,
            jwks_cooldown=settings.oidc_jwks_cooldown_seconds,
            leeway=settings.oidc_leeway_seconds,
        )

    def _keys(self) -> jwt.PyJWKClient:
        with self._discovery_lock:
            if self._jwks is not None:
                return self._jwks
            failed = self._discovery_failed_at
            if failed is not None and time.monotonic() - failed < self._jwks_cooldown:
                raise IdentityProviderUnavailableError("the identity provider cannot be reached")
            try:
                document = discover(self.issuer, self._timeout)
            except IdentityProviderUnavailableError:
                self._discovery_failed_at = time.monotonic()
                raise
            self._jwks = jwt.PyJWKClient(
                document["jwks_uri"],
                lifespan=self._jwks_lifespan,
                cooldown_duration=self._jwks_cooldown,
                timeout=self._timeout,
            )
            return self._jwks

    def verify(self, token: str) -> tuple[Principal, float]:
        algorithm = token_header(token).get("alg")
        if algorithm not in self._algorithms:
            raise unauthorized(
                "token_algorithm_not_accepted", "the token's signature algorithm is not accepted"
            )
        # Refused before any key is looked up: a token of another issuer (another realm, another
        # provider) must not make the service fetch its keys, and its 401 names the real cause.
        if unverified_claims(token).get("iss") != self.issuer:
            raise unauthorized("token_issuer_invalid", "the token was issued by another issuer")
        try:
            key = self._keys().get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError:
            raise IdentityProviderUnavailableError(
                "the identity provider's keys cannot be fetched"
            ) from None
        except jwt.PyJWKSetError:
            raise IdentityProviderUnavailableError(
                "the identity provider publishes no usable keys"
            ) from None
        except jwt.PyJWKClientError:
            raise unauthorized(
                "token_key_unknown",
                "the token is signed with a key the identity provider does not publish",
            ) from None
        except jwt.PyJWTError as error:
            raise refusal(error) from None
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                issuer=self.issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise refusal(error) from None
        return self._claims.principal(claims), float(claims["exp"])


def discover(issuer: str, timeout: float = 5) -> dict[str, Any]:
    """The issuer's OpenID Connect discovery document (it must name the same issuer)."""
    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=timeout)
        response.raise_for_status()
        document: dict[str, Any] = response.json()
    except (httpx.HTTPError, ValueError):
        raise IdentityProviderUnavailableError("the identity provider cannot be reached") from None
    if document.get("issuer") != issuer or not document.get("jwks_uri"):
        raise IdentityProviderUnavailableError(
            "the identity provider's discovery document names another issuer or no keys"
        )
    return document


class DevelopmentVerifier(TokenVerifier):
    """Development mode: the identity provider's tokens, and HS256 tokens of the shared
    development key (``shared.http.auth mint``, the unit tests), told apart by their algorithm."""

    def __init__(self, codec: TokenCodec, provider: OidcVerifier) -> None:
        super().__init__()
        self._codec = codec
        self._provider = provider

    def verify(self, token: str) -> tuple[Principal, float]:
        if str(token_header(token).get("alg", "")).startswith("HS"):
            return self._codec.verify(token)
        return self._provider.verify(token)


def verifier_from_settings(settings: ServiceSettings) -> TokenVerifier:
    """Production: the identity provider's tokens only. Development: also HS256 tokens."""
    provider = OidcVerifier.from_settings(settings)
    if settings.mode is Mode.PRODUCTION:
        return provider
    return DevelopmentVerifier(TokenCodec.from_settings(settings), provider)


class JobTokens:
    """Bearer tokens of a job that calls the services (the retention job, the Art. 15
    export): from the identity provider by client credentials (``OUTREACH_OIDC_CLIENT_ID``
    and ``_SECRET``); who the job is, and in which districts, is the provider's to say.
    Without a client, development mode mints an HS256 token for the principal the job names."""

    REFRESH_BEFORE_S = 30

    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._token: tuple[str, float] | None = None
        if settings.oidc_client_id is None and settings.mode is not Mode.DEVELOPMENT:
            raise SystemExit(
                "OUTREACH_OIDC_CLIENT_ID and OUTREACH_OIDC_CLIENT_SECRET must be set outside "
                "development: the job signs in to the identity provider as that client"
            )

    def token(self, principal: Principal) -> str:
        """A token for a request; ``principal`` counts only for a development token."""
        if self._settings.oidc_client_id is None:
            return TokenCodec.from_settings(self._settings).mint(principal, timedelta(minutes=10))
        if self._token is None or self._token[1] - self.REFRESH_BEFORE_S < time.time():
            self._token = self._client_credentials()
        return self._token[0]

    def _client_credentials(self) -> tuple[str, float]:
        settings = self._settings
        assert settings.oidc_issuer is not None
        assert settings.oidc_client_id is not None
        secret = settings.oidc_client_secret
        endpoint = discover(settings.oidc_issuer)["token_endpoint"]
        response = httpx.post(
            endpoint,
            data={"grant_type": "client_credentials"},
            auth=(settings.oidc_client_id, secret.get_secret_value() if secret else ""),
            timeout=30,
        )
        if response.status_code != 200:
            raise SystemExit(
                f"the identity provider refused the client {settings.oidc_client_id!r} "
                f"({response.status_code}): check OUTREACH_OIDC_CLIENT_ID and _SECRET"
            )
        body = response.json()
        return str(body["access_token"]), time.time() + float(body.get("expires_in", 60))
