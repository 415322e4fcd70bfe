"""Typed settings shared by every service and by the local launcher.

Every value comes from the environment (prefix ``OUTREACH_``) and is validated at start-up.
The service ports and the local stack's ports are defined here and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SERVICE_PORTS: dict[str, int] = {
    "contacts": 8101,
    "visits": 8102,
    "coaching": 8103,
    "notifications": 8104,
}
"""Default HTTP port of each service (the one place they are set)."""

WORKER_PORT_OFFSET = 100
WORKER_PORTS: dict[str, int] = {
    name: port + WORKER_PORT_OFFSET for name, port in SERVICE_PORTS.items()
}
"""Default port of each service's worker process (role ``worker``: health, readiness and
``/ops`` only) when its HTTP API runs in processes of role ``api``."""

KEYRING_DATABASE = "keyring"
LOCAL_REALM = "outreach"
"""The Keycloak realm of the product (``deploy/keycloak/outreach-realm.json``)."""


class Mode(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ProcessRole(StrEnum):
    """What one process of a service does (``OUTREACH_PROCESS_ROLE``)."""

    ALL = "all"
    """Everything in one process: HTTP API and commands, relays, projections, consumers."""
    API = "api"
    """HTTP API and commands only (several may serve one port: ``shared.runtime.serve``)."""
    WORKER = "worker"
    """Relays, projection runners, consumers and background work; serves only health,
    readiness and ``/ops`` on a port of its own. One per deployment."""


class KafkaDurability(StrEnum):
    """How the Kafka cluster replicates the topics (``OUTREACH_KAFKA_DURABILITY``; the
    replication factor and ``min.insync.replicas`` of each are declared in
    shared.messaging.topics)."""

    SINGLE = "single"
    """One broker (development, tests): one replica of each partition."""
    REPLICATED = "replicated"
    """Three or more brokers (production): three replicas, a write acknowledged by two."""


EPHEMERAL_PORTS = range(32768, 61000)
"""Linux's default ephemeral port range (``net.ipv4.ip_local_port_range``), from which the
kernel picks the local port of every outgoing connection. No default port of the stack or the
services lies in it: a client reconnecting to a listener whose port is in that range while
the listener is down can be given that very port as its own and connect to itself (TCP
simultaneous open), and the listener then cannot start again until that connection is gone."""


class StackSettings(BaseSettings):
    """Where PostgreSQL and Kafka are. Shared by the services, the tests and the launcher."""

    model_config = SettingsConfigDict(env_prefix="OUTREACH_", extra="ignore")

    pg_host: str = "127.0.0.1"
    pg_port: int = 25432
    pg_user: str = "outreach"
    pg_password: SecretStr = SecretStr("outreach")
    kafka_bootstrap: str = "127.0.0.1:29092"
    kafka_controller_port: int = 29093
    kafka_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of a topic that shared.messaging.topics does not declare (a "
        "test's or a benchmark's scratch topic), and the local broker's default.",
    )
    kafka_durability: KafkaDurability = KafkaDurability.SINGLE
    keycloak_port: int = Field(
        default=28080, description="The local stack's Keycloak (identity provider): HTTP."
    )
    keycloak_management_port: int = Field(
        default=28081, description="The local stack's Keycloak: health (``/health/ready``)."
    )
    api_workers: int = Field(
        default=1,
        ge=1,
        description="Processes serving each service's HTTP API (the local launcher). 1: one "
        "process of role ``all`` per service; N > 1: N processes of role ``api`` on "
        "the service's port plus one process of role ``worker`` on its worker port.",
    )

    def database_url(self, dbname: str) -> str:
        password = self.pg_password.get_secret_value()
        return f"postgresql://{self.pg_user}:{password}@{self.pg_host}:{self.pg_port}/{dbname}"

    @property
    def keycloak_url(self) -> str:
        return f"http://127.0.0.1:{self.keycloak_port}"

    @property
    def local_issuer(self) -> str:
        """The issuer of the local stack's Keycloak realm (``deploy/keycloak/``)."""
        return f"{self.keycloak_url}/realms/{LOCAL_REALM}"


ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
"""Signature algorithms a service accepts from an identity provider: it holds only public keys."""

_DEV_JWT_SECRET = "outreach-development-signing-key-not-for-production"  # noqa: S105
_DEV_KEYRING_KEK = "ZGV2ZWxvcG1lbnQta2V5cmluZy1rZWstMzItYnl0ZXM="  # 32 bytes, base64
_DEV_BLIND_INDEX_KEY = "outreach-development-blind-index-key"


class ServiceSettings(StackSettings):
    """Settings of one running service. Secrets have defaults only in development mode."""

    mode: Mode = Mode.DEVELOPMENT
    service_name: str = Field(
        default="contacts",
        description="Names this deployment of the service: its database, and the prefix of its "
        "Kafka consumer groups. Two deployments with different names never share state.",
    )
    database_name: str | None = Field(
        default=None,
        description="The service's database, when it is not named like the deployment "
        "(``service_name``): e.g. a benchmark run whose consumer groups are named after the run "
        "but whose database is recreated under a fixed name.",
    )
    consumer_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a consumer group without a committed offset starts. ``latest`` "
        "(development mode only, for benchmark runs) skips what the topic held before.",
    )
    keyring_database: str = Field(
        default=KEYRING_DATABASE,
        description="The database of the data keys (a separate one for benchmarks).",
    )
    keyring_url: SecretStr | None = Field(
        default=None,
        description="The keyring database as a URL (``postgresql://user:password@host:port/"
        "dbname``) when it is on another server than the service's own database, e.g. a "
        "PostgreSQL cluster of its own. Unset: ``keyring_database`` on OUTREACH_PG_*.",
    )
    process_role: ProcessRole = Field(
        default=ProcessRole.ALL,
        description="``all`` (one process does everything), ``api`` (HTTP API and commands "
        "only) or ``worker`` (relays, projections, consumers, background work).",
    )
    http_host: str = "127.0.0.1"
    http_port: int | None = None
    jwt_secret: SecretStr | None = Field(
        default=None,
        description="Development only: the shared key of HS256 tokens minted by "
        "``python -m shared.http.auth mint`` (and the unit tests). Refused in production.",
    )
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "outreach"
    oidc_issuer: str | None = Field(
        default=None,
        description="The identity provider (OpenID Connect issuer) whose tokens the services "
        "accept; its keys come from ``<issuer>/.well-known/openid-configuration``. Required in "
        "production; in development the local stack's Keycloak realm.",
    )
    oidc_audience: str = Field(
        default="outreach", description="The audience (``aud``) every accepted token names."
    )
    oidc_algorithms: list[str] = Field(
        default_factory=lambda: ["RS256", "ES256"],
        description="Signature algorithms accepted from the identity provider (asymmetric only).",
    )
    oidc_user_claim: str = Field(default="preferred_username", description="The user's id.")
    oidc_roles_claim: str = Field(
        default="roles",
        description="The user's roles (a list or one string); exactly one of them must be an "
        "Outreach role, others are ignored.",
    )
    oidc_districts_claim: str = Field(
        default="districts", description="The user's districts (a list or one string)."
    )
    oidc_provider_claim: str = Field(
        default="provider", description="The provider's id (``provider_outreach`` users)."
    )
    oidc_jwks_lifespan_seconds: float = Field(
        default=300, gt=0, description="How long the identity provider's keys are cached."
    )
    oidc_jwks_cooldown_seconds: float = Field(
        default=10,
        ge=0,
        description="A token signed with an unknown key fetches the keys again, at most once "
        "in this many seconds.",
    )
    oidc_leeway_seconds: float = Field(
        default=10, ge=0, description="Clock skew allowed when checking exp and nbf."
    )
    oidc_client_id: str | None = Field(
        default=None,
        description="The jobs' client (client credentials): the retention job and the Art. 15 "
        "export ask the identity provider for their tokens.",
    )
    oidc_client_secret: SecretStr | None = None
    keyring_kek: SecretStr | None = Field(
        default=None, description="Base64 of the 32-byte key that wraps every data key."
    )
    blind_index_key: SecretStr | None = None
    key_cache_seconds: float = 30.0
    otlp_endpoint: str | None = None
    log_level: str = "INFO"
    chain_anchor_seconds: float = Field(
        default=60.0, gt=0, description="How often the event chain's head is anchored on Kafka."
    )
    consumer_retries: int = Field(default=3, ge=0)

    @model_validator(mode="after")
    def _secrets_outside_development(self) -> ServiceSettings:
        development = self.mode is Mode.DEVELOPMENT
        self._check_sign_in(development)
        for name, dev_value in (
            ("keyring_kek", _DEV_KEYRING_KEK),
            ("blind_index_key", _DEV_BLIND_INDEX_KEY),
        ):
            if getattr(self, name) is None:
                if not development:
                    raise ValueError(f"OUTREACH_{name.upper()} must be set outside development")
                setattr(self, name, SecretStr(dev_value))
        if self.consumer_offset_reset == "latest" and not development:
            raise ValueError("OUTREACH_CONSUMER_OFFSET_RESET=latest is for development only")
        if self.http_port is None:
            ports = WORKER_PORTS if self.process_role is ProcessRole.WORKER else SERVICE_PORTS
            self.http_port = ports.get(self.service_name, 8100)
        return self

    def database_url(self, dbname: str) -> str:
        if dbname == self.keyring_database and self.keyring_url is not None:
            return self.keyring_url.get_secret_value()
        return super().database_url(dbname)

    def _check_sign_in(self, development: bool) -> None:
        """Production: tokens of the identity provider only (no shared secret, no HS256)."""
        weak = [a for a in self.oidc_algorithms if a not in ASYMMETRIC_ALGORITHMS]
        if weak or not self.oidc_algorithms:
            raise ValueError(
                "OUTREACH_OIDC_ALGORITHMS takes asymmetric algorithms only: "
                + ", ".join(sorted(ASYMMETRIC_ALGORITHMS))
            )
        if development:
            self.jwt_secret = self.jwt_secret or SecretStr(_DEV_JWT_SECRET)
            self.oidc_issuer = self.oidc_issuer or self.local_issuer
            return
        if not self.oidc_issuer:
            raise ValueError("OUTREACH_OIDC_ISSUER must be set outside development")
        if self.jwt_secret is not None:
            raise ValueError(
                "OUTREACH_JWT_SECRET is for development only: production accepts the "
                "identity provider's tokens (OUTREACH_OIDC_ISSUER) and no HS256 token"
            )

    @cached_property
    def database(self) -> str:
        return self.database_name or self.service_name

    @property
    def port(self) -> int:
        assert self.http_port is not None
        return self.http_port

    def secret(self, name: str) -> str:
        value = getattr(self, name)
        assert isinstance(value, SecretStr)
        return value.get_secret_value()
