"""Sign-in at the identity provider: OpenID Connect authorization code with PKCE (S256).

The web app is the client (``outreach-web``, public: PKCE instead of a secret). It keeps the
tokens on the server; the browser only ever holds an opaque session cookie. The tokens are
checked here as the services check them: the signature against the provider's published keys,
issuer, audience (the access token's ``outreach``, the ID token's client id), expiry, and the
ID token's nonce.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

PRODUCT_ROLES = (
    "outreach_worker",
    "provider_outreach",
    "team_lead",
    "case_manager",
    "provider_coach",
    "data_protection_officer",
    "management",
)


class SignInError(Exception):
    """The sign-in could not be completed; the message is for the log, not the page."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_at: float
    refresh_expires_at: float | None


@dataclass(frozen=True)
class Identity:
    user: str
    name: str
    role: str
    districts: tuple[str, ...]
    provider: str | None


@dataclass(frozen=True)
class PendingSignIn:
    """What the browser's round trip to the provider must come back to."""

    state: str
    nonce: str
    verifier: str
    next_path: str
    created: float


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OidcClient:
    def __init__(
        self, issuer: str, client_id: str, audience: str, redirect_uri: str, http: httpx.Client
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.audience = audience
        self.redirect_uri = redirect_uri
        self._http = http
        self._metadata: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is None:
                response = self._http.get(f"{self.issuer}/.well-known/openid-configuration")
                response.raise_for_status()
                found: dict[str, Any] = response.json()
                if found.get("issuer") != self.issuer:
                    raise SignInError("the discovery document names another issuer")
                self._metadata = found
                self._jwks = jwt.PyJWKClient(found["jwks_uri"], lifespan=300)
            return self._metadata

    def begin(self, next_path: str) -> tuple[PendingSignIn, str]:
        """A new sign-in: what to remember, and where to send the browser."""
        pending = PendingSignIn(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64),
            next_path=next_path,
            created=time.time(),
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": "openid",
                "state": pending.state,
                "nonce": pending.nonce,
                "code_challenge": pkce_challenge(pending.verifier),
                "code_challenge_method": "S256",
                "ui_locales": "de",
            }
        )
        return pending, f"{self.metadata()['authorization_endpoint']}?{query}"

    def exchange(self, code: str, pending: PendingSignIn) -> tuple[Tokens, Identity]:
        tokens = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": pending.verifier,
            }
        )
        if tokens.id_token is None:
            raise SignInError("the provider answered without an ID token")
        claims = self._verify(tokens.id_token, self.client_id)
        if claims.get("nonce") != pending.nonce:
            raise SignInError("the ID token's nonce is not this sign-in's")
        return tokens, self.identity(tokens.access_token, claims)

    def refresh(self, refresh_token: str) -> Tokens:
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token})

    def identity(self, access_token: str, id_claims: dict[str, Any]) -> Identity:
        claims = self._verify(access_token, self.audience)
        roles = claims.get("roles") or []
        roles = [roles] if isinstance(roles, str) else roles
        product = [r for r in roles if r in PRODUCT_ROLES]
        if len(product) != 1:
            raise SignInError("the token does not name exactly one Outreach role")
        districts = claims.get("districts") or []
        districts = [districts] if isinstance(districts, str) else districts
        provider = claims.get("provider")
        if isinstance(provider, list):
            provider = provider[0] if provider else None
        user = str(claims.get("preferred_username") or "")
        if not user:
            raise SignInError("the token names no user")
        return Identity(
            user=user,
            name=str(id_claims.get("name") or user),
            role=product[0],
            districts=tuple(sorted(str(d) for d in districts)),
            provider=str(provider) if provider else None,
        )

    def logout_url(self, id_token: str | None, after: str) -> str | None:
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        query = {"client_id": self.client_id, "post_logout_redirect_uri": after}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"

    def _verify(self, token: str, audience: str) -> dict[str, Any]:
        self.metadata()
        assert self._jwks is not None
        try:
            key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256", "ES256"],
                audience=audience,
                issuer=self.issuer,
                leeway=10,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise SignInError(f"token refused: {type(error).__name__}") from None
        return claims

    def _token_request(self, form: dict[str, str]) -> Tokens:
        response = self._http.post(
            self.metadata()["token_endpoint"], data={**form, "client_id": self.client_id}
        )
        if response.status_code != 200:
            raise SignInError(f"the token endpoint answered {response.status_code}")
        body = response.json()
        now = time.time()
        refresh_in = body.get("refresh_expires_in")
        return Tokens(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
            id_token=body.get("id_token"),
            expires_at=now + float(body.get("expires_in", 60)),
            refresh_expires_at=now + float(refresh_in) if refresh_in else None,
        )
