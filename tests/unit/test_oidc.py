"""Tokens of an identity provider (OpenID Connect): checked against the keys it publishes.

The provider here is a small HTTP server on 127.0.0.1 of this test (discovery document and
key set), so key rotation and an unreachable provider can be played through; the tests
against the real Keycloak are in ``tests/integration/test_keycloak_sign_in.py`` and
``tests/e2e/test_sign_in.py``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from shared.errors import UnauthorizedError
from shared.http.app import http_app
from shared.http.auth import (
    IdentityProviderUnavailableError,
    Principal,
    Role,
    TokenCodec,
    authenticate,
)
from shared.http.oidc import DevelopmentVerifier, OidcVerifier

pytestmark = pytest.mark.unit

AUDIENCE = "outreach"
LEAD = Principal(user="jonas.becker", role=Role.TEAM_LEAD, districts={"kassel"})


class FakeProvider:
    """An identity provider's published half: discovery document and key set (JWKS)."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.published: list[str] = []
        self.requests: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.issuer = f"http://127.0.0.1:{self._server.server_port}/realms/outreach"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.requests[self.path] += 1
                if self.path.endswith("/.well-known/openid-configuration"):
                    body = {"issuer": provider.issuer, "jwks_uri": f"{provider.issuer}/certs"}
                elif self.path.endswith("/certs"):
                    body = {"keys": [provider.public_jwk(kid) for kid in provider.published]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: Any) -> None:
                pass

        return Handler

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add_key(self, kid: str, algorithm: str = "RS256", publish: bool = True) -> None:
        if algorithm == "ES256":
            self.keys[kid] = (algorithm, ec.generate_private_key(ec.SECP256R1()))
        else:
            self.keys[kid] = (algorithm, rsa.generate_private_key(65537, 2048))
        if publish:
            self.published.append(kid)

    def public_jwk(self, kid: str) -> dict[str, Any]:
        algorithm, private = self.keys[kid]
        algo = jwt.get_algorithm_by_name(algorithm)
        jwk: dict[str, Any] = json.loads(algo.to_jwk(private.public_key()))
        return {**jwk, "kid": kid, "alg": algorithm, "use": "sig"}

    @property
    def key_set_fetches(self) -> int:
        return sum(n for path, n in self.requests.items() if path.endswith("/certs"))

    def token(self, kid: str, **overrides: Any) -> str:
        algorithm, private = self.keys[kid]
        now = datetime.now(UTC)
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": "2f1c0b7e-5d2a-4c1e-9d1b-0c6f7e8a9b10",
            "typ": "Bearer",
            "preferred_username": "jonas.becker",
            "roles": ["team_lead"],
            "districts": ["kassel"],
            "iat": now,
            "exp": now + timedelta(minutes=5),
            **overrides,
        }
        return jwt.encode(claims, private, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    fake = FakeProvider()
    fake.add_key("key-1")
    fake.add_key("ec-1", "ES256")
    yield fake
    fake.stop()


def verifier_of(provider: FakeProvider, **options: Any) -> OidcVerifier:
    options.setdefault("leeway", 0)
    return OidcVerifier(provider.issuer, AUDIENCE, ["RS256", "ES256"], **options)


def refusal(verifier: OidcVerifier, token: str) -> tuple[str, str]:
    """The reason and detail of the 401 the token gets."""
    with pytest.raises(UnauthorizedError) as raised:
        verifier.decode(token)
    assert raised.value.status == 401
    assert raised.value.code == "unauthorized"
    return raised.value.extra["reason"], raised.value.detail


@pytest.mark.parametrize("kid", ["key-1", "ec-1"], ids=["RS256", "ES256"])
def test_a_token_of_the_identity_provider_gives_the_same_principal_as_before(
    provider: FakeProvider, kid: str
) -> None:
    assert verifier_of(provider).decode(provider.token(kid)) == LEAD


def test_a_provider_outreach_worker_carries_the_provider_of_the_claim(
    provider: FakeProvider,
) -> None:
    provider_id = "0b5f3c1e-8d7a-4c55-9a34-6f1e2d3c4b5a"
    token = provider.token(
        "key-1",
        preferred_username="emre.aydin",
        roles=["provider_outreach", "offline_access", "default-roles-outreach"],
        districts=["darmstadt-dieburg"],
        provider=provider_id,
    )

    principal = verifier_of(provider).decode(token)

    assert principal == Principal(
        user="emre.aydin",
        role=Role.PROVIDER_OUTREACH,
        districts={"darmstadt-dieburg"},
        provider=provider_id,
    )


@pytest.mark.parametrize(
    ("claims", "reason", "detail"),
    [
        (
            {"iss": "http://127.0.0.1:1/realms/other"},
            "token_issuer_invalid",
            "the token was issued by another issuer",
        ),
        (
            {"aud": "account"},
            "token_audience_invalid",
            "the token is not meant for this service (audience)",
        ),
        (
            {"exp": timedelta(minutes=-1)},
            "token_expired",
            "the token has expired",
        ),
        (
            {"nbf": timedelta(minutes=5)},
            "token_not_yet_valid",
            "the token is not valid yet",
        ),
        ({"aud": None}, "token_claims_invalid", "the token lacks the claim aud"),
        (
            {"roles": ["offline_access"]},
            "token_claims_invalid",
            "the token must name exactly one Outreach role (roles); it names 0",
        ),
    ],
    ids=["bad-issuer", "wrong-audience", "expired", "not-yet-valid", "no-audience", "no-role"],
)
def test_a_token_that_fails_a_check_is_refused_with_a_clear_401(
    provider: FakeProvider, claims: dict[str, Any], reason: str, detail: str
) -> None:
    # Times are given relative to now: the parameters are made when the tests are collected.
    now = datetime.now(UTC)
    claims = {k: now + v if isinstance(v, timedelta) else v for k, v in claims.items()}
    if claims.get("aud", AUDIENCE) is None:
        token = _without(provider.token("key-1"), "aud", provider)
    else:
        token = provider.token("key-1", **claims)

    assert refusal(verifier_of(provider), token) == (reason, detail)


def _without(token: str, claim: str, provider: FakeProvider) -> str:
    claims = jwt.decode(token, options={"verify_signature": False})
    del claims[claim]
    _, private = provider.keys["key-1"]
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": "key-1"})


def test_a_token_signed_with_a_key_the_provider_does_not_publish_is_refused(
    provider: FakeProvider,
) -> None:
    provider.add_key("stolen", publish=False)
    verifier = verifier_of(provider, jwks_cooldown=0)
    verifier.decode(provider.token("key-1"))  # the key set is cached now
    fetches = provider.key_set_fetches

    reason, detail = refusal(verifier, provider.token("stolen"))

    assert reason == "token_key_unknown"
    assert detail == "the token is signed with a key the identity provider does not publish"
    assert provider.key_set_fetches == fetches + 1  # it asked the provider once more first


def test_a_token_whose_signature_does_not_match_is_refused(provider: FakeProvider) -> None:
    header, payload, _ = provider.token("key-1").split(".")
    _, _, other_signature = provider.token("key-1", districts=["halle"]).split(".")
    forged = f"{header}.{_b64_claims(payload, districts=['halle'])}.{other_signature}"

    assert refusal(verifier_of(provider), forged)[0] == "token_signature_invalid"


def _b64_claims(payload: str, **changes: Any) -> str:
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes, roles=["data_protection_officer"])
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
def test_a_shared_key_or_unsigned_token_is_refused_by_the_provider_verifier(
    provider: FakeProvider, algorithm: str
) -> None:
    """Production verifies with the provider's public keys only: an HS256 token (signed with
    whatever secret, even a public key's bytes) or an unsigned one never gets that far."""
    claims = jwt.decode(provider.token("key-1"), options={"verify_signature": False})
    codec = TokenCodec("a-development-key-of-enough-length-0123456789", "HS256", provider.issuer)
    token = codec.mint(LEAD) if algorithm == "HS256" else jwt.encode(claims, None, algorithm="none")
    verifier = verifier_of(provider)
    fetches = provider.requests.copy()

    assert refusal(verifier, token) == (
        "token_algorithm_not_accepted",
        "the token's signature algorithm is not accepted",
    )
    assert provider.requests == fetches  # refused before any key was looked up


def test_keys_rotated_by_the_provider_are_used_without_a_restart(provider: FakeProvider) -> None:
    """A new key is fetched when the first token signed with it arrives; tokens of the old
    key pass while the provider still publishes it; once it is withdrawn (and the cached key
    set has aged), a token of the old key is refused."""
    rotating = FakeProvider()
    try:
        rotating.add_key("old")
        verifier = OidcVerifier(
            rotating.issuer, AUDIENCE, ["RS256"], jwks_cooldown=0, jwks_lifespan=0.2, leeway=0
        )
        assert verifier.decode(rotating.token("old")) == LEAD

        rotating.add_key("new")
        assert verifier.decode(rotating.token("new")) == LEAD
        assert verifier.decode(rotating.token("old", districts=["kassel", "borken"])).districts == {
            "kassel",
            "borken",
        }

        rotating.published.remove("old")
        time.sleep(0.3)  # the cached key set outlives its lifespan

        # (A token of the old key not seen before: one accepted already is remembered until
        # it expires.)
        assert refusal(verifier, rotating.token("old", districts=["fulda"]))[0] == (
            "token_key_unknown"
        )
        assert verifier.decode(rotating.token("new", districts=["halle"])).districts == {"halle"}
    finally:
        rotating.stop()


def test_tokens_with_invented_key_ids_do_not_make_it_fetch_the_keys_each_time(
    provider: FakeProvider,
) -> None:
    verifier = verifier_of(provider, jwks_cooldown=60)
    verifier.decode(provider.token("key-1"))
    fetches = provider.key_set_fetches

    for n in range(20):
        provider.add_key(f"invented-{n}", publish=False)
        assert refusal(verifier, provider.token(f"invented-{n}"))[0] == "token_key_unknown"

    assert provider.key_set_fetches == fetches


def test_an_unreachable_provider_is_no_reason_to_call_a_token_invalid() -> None:
    gone = FakeProvider()
    gone.add_key("key-1")
    token = gone.token("key-1")
    issuer = gone.issuer
    gone.stop()
    verifier = OidcVerifier(issuer, AUDIENCE, ["RS256"], jwks_cooldown=0, timeout=1)

    with pytest.raises(IdentityProviderUnavailableError) as raised:
        verifier.decode(token)

    assert raised.value.status == 503
    assert "127.0.0.1" not in raised.value.detail


def test_development_accepts_the_development_key_and_the_providers_tokens(
    provider: FakeProvider,
) -> None:
    codec = TokenCodec("a-development-key-of-enough-length-0123456789", "HS256", "outreach")
    verifier = DevelopmentVerifier(codec, verifier_of(provider))

    assert verifier.decode(codec.mint(LEAD)) == LEAD
    assert verifier.decode(provider.token("ec-1")) == LEAD


@pytest.fixture
def client(provider: FakeProvider) -> TestClient:
    app: FastAPI = http_app(title="t", description="t")
    app.state.verifier = verifier_of(provider)

    @app.get("/me")
    async def me(principal: Principal = Depends(authenticate)) -> dict[str, Any]:  # noqa: B008
        return {"user": principal.user, "role": principal.role, "districts": [*principal.districts]}

    return TestClient(app)


def test_the_api_answers_a_refused_token_with_a_401_problem_naming_the_reason(
    provider: FakeProvider, client: TestClient
) -> None:
    expired = provider.token("key-1", exp=datetime.now(UTC) - timedelta(minutes=1))
    garbage = "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln"

    accepted = client.get("/me", headers={"Authorization": f"Bearer {provider.token('key-1')}"})
    refused = client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    malformed = client.get("/me", headers={"Authorization": f"Bearer {garbage}"})
    missing = client.get("/me")

    assert accepted.json() == {"user": "jonas.becker", "role": "team_lead", "districts": ["kassel"]}
    for response, reason in (
        (refused, "token_expired"),
        (malformed, "token_malformed"),
        (missing, "token_missing"),
    ):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "unauthorized"
        assert body["reason"] == reason
        for internal in ("Signature", "Error", "decode", "utf-8", "Invalid", "jwt"):
            assert internal not in body["detail"]
