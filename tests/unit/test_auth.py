"""Bearer tokens, district scoping, roles, and the settings that hold the signing key."""

from __future__ import annotations

import base64
import json
import os
import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from pydantic import ValidationError

from shared.auth import Principal, Role, TokenCodec
from shared.errors import ForbiddenError, NotFoundError, UnauthorizedError
from shared.settings import Mode, ServiceSettings

pytestmark = pytest.mark.unit

SECRET = "unit-test-signing-key-of-enough-length-for-hs512-0123456789abcdef"
ISSUER = "outreach"

PRINCIPAL = Principal(user="cm-mueller", role=Role.CASE_MANAGER, districts={"kassel", "borken"})


@pytest.fixture
def codec() -> TokenCodec:
    return TokenCodec(SECRET, "HS256", ISSUER)


def claims(**overrides: object) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "sub": "cm-mueller",
        "role": "case_manager",
        "districts": ["kassel"],
        "iss": ISSUER,
        "iat": now,
        "exp": now + timedelta(hours=1),
        **overrides,
    }


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, default=lambda d: int(d.timestamp())).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_minted_token_decodes_to_the_same_principal(codec: TokenCodec) -> None:
    token = codec.mint(PRINCIPAL)

    assert codec.decode(token) == PRINCIPAL


def test_minted_token_is_signed_with_the_pinned_algorithm(codec: TokenCodec) -> None:
    token = codec.mint(PRINCIPAL, ttl=timedelta(minutes=5))

    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    payload = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=ISSUER)
    assert payload["sub"] == "cm-mueller"
    assert payload["districts"] == ["borken", "kassel"]
    assert payload["exp"] - payload["iat"] == 300


def test_expired_token_is_rejected(codec: TokenCodec) -> None:
    token = codec.mint(PRINCIPAL, ttl=timedelta(seconds=-1))

    with pytest.raises(UnauthorizedError) as raised:
        codec.decode(token)

    assert raised.value.status == 401
    assert raised.value.code == "unauthorized"


def test_a_remembered_token_is_rejected_once_it_has_expired(codec: TokenCodec) -> None:
    token = codec.mint(PRINCIPAL, ttl=timedelta(seconds=1))
    assert codec.decode(token) == PRINCIPAL  # verified, and remembered until its expiry

    time.sleep(1.1)

    with pytest.raises(UnauthorizedError):
        codec.decode(token)


def test_token_signed_with_another_secret_is_rejected(codec: TokenCodec) -> None:
    forged = TokenCodec("another-secret-of-the-same-sort-0123456789", "HS256", ISSUER)

    with pytest.raises(UnauthorizedError):
        codec.decode(forged.mint(PRINCIPAL))


def test_token_of_another_issuer_is_rejected(codec: TokenCodec) -> None:
    token = jwt.encode(claims(iss="someone-else"), SECRET, algorithm="HS256")

    with pytest.raises(UnauthorizedError):
        codec.decode(token)


def test_token_signed_with_another_algorithm_is_rejected(codec: TokenCodec) -> None:
    token = jwt.encode(claims(), SECRET, algorithm="HS512")
    assert jwt.decode(token, SECRET, algorithms=["HS512"], issuer=ISSUER)["sub"] == "cm-mueller"

    with pytest.raises(UnauthorizedError):
        codec.decode(token)


def test_unsigned_token_is_rejected(codec: TokenCodec) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims())}."

    with pytest.raises(UnauthorizedError):
        codec.decode(unsigned)


@pytest.mark.parametrize("missing", ["sub", "exp", "iss", "role"])
def test_token_without_a_required_claim_is_rejected(codec: TokenCodec, missing: str) -> None:
    incomplete = claims()
    del incomplete[missing]

    with pytest.raises(UnauthorizedError):
        codec.decode(jwt.encode(incomplete, SECRET, algorithm="HS256"))


@pytest.mark.parametrize(
    "override",
    [{"role": "superuser"}, {"districts": []}, {"sub": ""}],
    ids=["unknown-role", "no-district", "empty-user"],
)
def test_token_with_invalid_claims_is_rejected(
    codec: TokenCodec, override: dict[str, object]
) -> None:
    with pytest.raises(UnauthorizedError):
        codec.decode(jwt.encode(claims(**override), SECRET, algorithm="HS256"))


def test_garbage_token_is_rejected(codec: TokenCodec) -> None:
    with pytest.raises(UnauthorizedError):
        codec.decode("not-a-token")


def test_another_districts_records_do_not_exist_for_the_user() -> None:
    PRINCIPAL.check_district("kassel", "case")

    with pytest.raises(NotFoundError) as raised:
        PRINCIPAL.check_district("halle", "case")

    assert raised.value.status == 404
    assert raised.value.detail == "case not found"
    assert "halle" not in raised.value.detail


def test_a_role_not_allowed_is_forbidden() -> None:
    PRINCIPAL.require(Role.CASE_MANAGER, Role.TEAM_LEAD)

    with pytest.raises(ForbiddenError) as raised:
        PRINCIPAL.require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER)

    assert raised.value.status == 403
    assert raised.value.code == "forbidden"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.upper().startswith("OUTREACH_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_production_without_a_signing_key_does_not_start(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("OUTREACH_KEYRING_KEK", "a" * 44)
    clean_environment.setenv("OUTREACH_BLIND_INDEX_KEY", "production-blind-index-key")

    with pytest.raises(ValidationError, match="OUTREACH_JWT_SECRET"):
        ServiceSettings(mode="production")


@pytest.mark.parametrize("missing", ["KEYRING_KEK", "BLIND_INDEX_KEY"])
def test_production_without_a_data_protection_key_does_not_start(
    clean_environment: pytest.MonkeyPatch, missing: str
) -> None:
    for name in ("JWT_SECRET", "KEYRING_KEK", "BLIND_INDEX_KEY"):
        if name != missing:
            clean_environment.setenv(f"OUTREACH_{name}", "x" * 44)

    with pytest.raises(ValidationError, match=f"OUTREACH_{missing}"):
        ServiceSettings(mode="production")


def test_production_takes_its_secrets_from_the_environment(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    clean_environment.setenv("OUTREACH_MODE", "production")
    clean_environment.setenv("OUTREACH_JWT_SECRET", "production-signing-key")
    clean_environment.setenv("OUTREACH_KEYRING_KEK", "a" * 44)
    clean_environment.setenv("OUTREACH_BLIND_INDEX_KEY", "production-blind-index-key")

    settings = ServiceSettings()

    assert settings.mode is Mode.PRODUCTION
    assert settings.secret("jwt_secret") == "production-signing-key"
    assert "production-signing-key" not in repr(settings)


def test_development_gets_default_secrets_and_its_port(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    settings = ServiceSettings(service_name="visits")

    assert settings.mode is Mode.DEVELOPMENT
    assert settings.secret("jwt_secret")
    assert settings.secret("keyring_kek")
    assert settings.secret("blind_index_key")
    assert settings.port == 8102
    codec = TokenCodec.from_settings(settings)
    assert codec.decode(codec.mint(PRINCIPAL)) == PRINCIPAL
