"""Typed settings shared by every service and by the local launcher.

Every value comes from the environment (prefix ``OUTREACH_``) and is validated at start-up.
The service ports and the local stack's ports are defined here and nowhere else.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, TypeVar, cast

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
    readiness and ``/ops`` on a port of its own. Several may run (deploy/README.md, Replicas)."""


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


_DEV_PG_PASSWORD = "outreach"  # noqa: S105  # the local stack's; refused in production


class StackSettings(BaseSettings):
    """Where PostgreSQL and Kafka are. Shared by the services, the tests and the launcher."""

    model_config = SettingsConfigDict(env_prefix="OUTREACH_", extra="ignore")

    pg_host: str = "127.0.0.1"
    pg_port: int = 25432
    pg_user: str = "outreach"
    pg_password: SecretStr = SecretStr(_DEV_PG_PASSWORD)
    pg_pooler_host: str | None = Field(
        default=None,
        description="A pooler in transaction mode (PgBouncer) for the connection pools; "
        "sessions (leader locks, LISTEN, schema and rebuild locks) connect to OUTREACH_PG_HOST "
        "and _PORT directly. Unset, with OUTREACH_PG_POOLER_PORT set: on OUTREACH_PG_HOST.",
    )
    pg_pooler_port: int | None = Field(
        default=None, description="The pooler's port (unset: OUTREACH_PG_PORT, if it has a host)."
    )
    pg_pooler_prepared_statements: bool = Field(
        default=False,
        description="Whether the pooler keeps each client's prepared statements (PgBouncer "
        "1.21+, ``max_prepared_statements``); false: nothing is prepared through it.",
    )
    kafka_bootstrap: str = "127.0.0.1:29092"
    kafka_controller_port: int = 29093
    kafka_partitions: int = Field(
        default=6,
        ge=1,
        description="Partitions of a topic that shared.messaging.topics does not declare (a "
        "test's or a benchmark's scratch topic), and the local broker's default.",
    )
    kafka_durability: KafkaDurability = KafkaDurability.SINGLE
    keycloak_port: int = Field(default=28080, description="The local stack's Keycloak: HTTP.")
    keycloak_management_port: int = Field(default=28081, description="Its /health/ready.")
    prometheus_port: int = Field(default=29090, description="The local stack's Prometheus.")
    api_workers: int = Field(
        default=1,
        ge=1,
        description="Processes serving each service's HTTP API (the local launcher). 1: one "
        "process of role ``all`` per service; N > 1: N processes of role ``api`` on "
        "the service's port plus one process of role ``worker`` on its worker port.",
    )

    def database_url(self, dbname: str) -> str:
        """``dbname`` on PostgreSQL itself (a session of its own: locks, LISTEN, tools)."""
        password = self.pg_password.get_secret_value()
        return f"postgresql://{self.pg_user}:{password}@{self.pg_host}:{self.pg_port}/{dbname}"

    @property
    def pooled_address(self) -> tuple[str, int]:
        """Where the connection pools connect: the pooler if there is one, else PostgreSQL."""
        return self.pg_pooler_host or self.pg_host, self.pg_pooler_port or self.pg_port

    @property
    def prepares_statements(self) -> bool:
        """Whether pooled connections may prepare statements (see the pooler's settings)."""
        direct = self.pg_pooler_host is None and self.pg_pooler_port is None
        return direct or self.pg_pooler_prepared_statements

    def pooled_url(self, dbname: str) -> str:
        """``dbname`` for a connection pool: through the pooler if there is one."""
        password = self.pg_password.get_secret_value()
        host, port = self.pooled_address
        return f"postgresql://{self.pg_user}:{password}@{host}:{port}/{dbname}"

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
    keyring_url: SecretStr | None = Field(
        default=None,
        description="The keyring database as a URL (``postgresql://user:password@host:port/"
        "dbname``) when it is on another server than the service's own database, e.g. a "
        "PostgreSQL cluster of its own. Unset: the database ``keyring`` on OUTREACH_PG_*.",
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
    chain_verify_seconds: float = Field(
        default=3600.0,
        gt=0,
        description="How often the worker verifies the whole event chain against its anchors "
        "(``outreach_chain_verification_failed`` on /metrics).",
    )
    consumer_retries: int = Field(default=3, ge=0)
    drain_seconds: float = Field(
        default=0,
        ge=0,
        description="After SIGTERM: how long readiness answers 503 and the process serves on "
        "before it stops (shared.runtime.drain); at least a load balancer's readiness period.",
    )

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
        if not development:
            self._refuse_development_secrets()
        if self.http_port is None:
            ports = WORKER_PORTS if self.process_role is ProcessRole.WORKER else SERVICE_PORTS
            self.http_port = ports.get(self.service_name, 8100)
        return self

    def _refuse_development_secrets(self) -> None:
        """Outside development no secret may have a value everybody can read in this file,
        whether it was left at its default or set to it."""
        known = {
            "pg_password": _DEV_PG_PASSWORD,
            "keyring_kek": _DEV_KEYRING_KEK,
            "blind_index_key": _DEV_BLIND_INDEX_KEY,
        }
        for name, dev_value in known.items():
            if self.secret(name) == dev_value:
                raise ValueError(
                    f"OUTREACH_{name.upper()} has the development value: set a secret of "
                    "this deployment outside development"
                )

    def database_url(self, dbname: str) -> str:
        if dbname == self.keyring_database and self.keyring_url is not None:
            return self.keyring_url.get_secret_value()
        return super().database_url(dbname)

    def pooled_url(self, dbname: str) -> str:
        if dbname == self.keyring_database and self.keyring_url is not None:
            return self.keyring_url.get_secret_value()
        return super().pooled_url(dbname)

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

    @property
    def database(self) -> str:
        """The service's database: named after the deployment."""
        return self.service_name

    @property
    def keyring_database(self) -> str:
        """The database of the data keys on OUTREACH_PG_* (unless ``keyring_url`` is set)."""
        return KEYRING_DATABASE

    @property
    def consumer_offset_reset(self) -> Literal["earliest", "latest"]:
        """Where a consumer group without a committed offset starts: at the beginning, so a
        new deployment applies every event published before its groups first joined."""
        return "earliest"

    @property
    def port(self) -> int:
        assert self.http_port is not None
        return self.http_port

    def secret(self, name: str) -> str:
        value = getattr(self, name)
        assert isinstance(value, SecretStr)
        return value.get_secret_value()


class BenchSettings(ServiceSettings):
    """What a benchmark run sets besides a deployment's settings (``OUTREACH_BENCH_*``), in
    development mode only.

    A run names its deployment (and so its consumer groups) after the run, but its databases
    are recreated under fixed names, its keyring is a database of its own, and its new
    consumer groups skip what the topics held before it. No deployment needs that, and one
    that skipped a topic's history would never apply the events published before its groups
    first joined: :class:`ServiceSettings` has none of these fields. A service gets them
    only when started through the factories of ``bench/apps.py``
    (``bench_settings(<Service>Settings)``); the OpenAPI contract run of the tests starts its
    services so, too, to stay out of the history of the suite's topics.
    """

    bench_database: str | None = Field(
        default=None, description="The service's database (default: named after the deployment)."
    )
    bench_keyring_database: str = Field(
        default=KEYRING_DATABASE, description="The database of the data keys."
    )
    bench_offset_reset: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="Where a consumer group without a committed offset starts; ``latest`` "
        "skips what the topics held before.",
    )

    @model_validator(mode="after")
    def _development_only(self) -> BenchSettings:
        if self.mode is not Mode.DEVELOPMENT:
            raise ValueError("the benchmark settings (OUTREACH_BENCH_*) are for development only")
        return self

    @property
    def database(self) -> str:
        return self.bench_database or self.service_name

    @property
    def keyring_database(self) -> str:
        return self.bench_keyring_database

    @property
    def consumer_offset_reset(self) -> Literal["earliest", "latest"]:
        return self.bench_offset_reset


Settings = TypeVar("Settings", bound=ServiceSettings)


def bench_settings(settings: type[Settings]) -> type[Settings]:
    """``settings`` (a service's settings class) with the fields of :class:`BenchSettings`."""
    namespace = {"__module__": settings.__module__}
    combined = type(f"Bench{settings.__name__}", (BenchSettings, settings), namespace)
    return cast(type[Settings], combined)
