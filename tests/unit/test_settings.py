"""The settings of a deployment: its database, where its consumer groups start, what each of
its processes does, which secrets production refuses; and what a benchmark run adds."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from notifications.settings import NotificationsSettings
from pydantic import ValidationError
from visits.settings import VisitsSettings

from shared import database
from shared.eventsourcing.persistence import DIRECT_HOST, DIRECT_PORT, eventsourcing_env
from shared.runtime.infrastructure import pooled
from shared.settings import (
    EPHEMERAL_PORTS,
    KEYRING_DATABASE,
    SERVICE_PORTS,
    WORKER_PORTS,
    BenchSettings,
    Mode,
    ProcessRole,
    ServiceSettings,
    StackSettings,
    bench_settings,
)

pytestmark = pytest.mark.unit


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith("OUTREACH_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_a_deployment_uses_the_database_named_after_it(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    assert ServiceSettings(service_name="visits_blue").database == "visits_blue"


def test_consumer_groups_start_at_the_beginning_of_their_topics(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    assert ServiceSettings().consumer_offset_reset == "earliest"


BENCHMARK_VARIABLES = {
    "OUTREACH_DATABASE_NAME": "bench_visits",
    "OUTREACH_KEYRING_DATABASE": "bench_keyring",
    "OUTREACH_CONSUMER_OFFSET_RESET": "latest",
    "OUTREACH_BENCH_DATABASE": "bench_visits",
    "OUTREACH_BENCH_KEYRING_DATABASE": "bench_keyring",
    "OUTREACH_BENCH_OFFSET_RESET": "latest",
}


@pytest.mark.parametrize("settings_class", [ServiceSettings, VisitsSettings])
def test_a_deployment_takes_no_benchmark_settings_from_the_environment(
    clean_environment: pytest.MonkeyPatch, settings_class: type[ServiceSettings]
) -> None:
    """A deployment that skipped what its topics held would never apply the events published
    before its groups first joined; its database and keyring are those of the deployment."""
    for name, value in BENCHMARK_VARIABLES.items():
        clean_environment.setenv(name, value)

    settings = settings_class(service_name="visits_blue")

    assert settings.database == "visits_blue"
    assert settings.keyring_database == KEYRING_DATABASE
    assert settings.consumer_offset_reset == "earliest"
    fields = set(settings_class.model_fields)
    assert not {"database_name", "keyring_database", "consumer_offset_reset"} & fields
    assert not any(field.startswith("bench_") for field in fields)


def test_a_benchmark_run_gives_a_service_its_databases_and_starts_new_groups_at_the_end(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """A run names its consumer groups after the run, on databases recreated under fixed
    names; the service keeps every setting of its own."""
    for name in ("OUTREACH_BENCH_DATABASE", "OUTREACH_BENCH_KEYRING_DATABASE"):
        clean_environment.setenv(name, BENCHMARK_VARIABLES[name])
    clean_environment.setenv("OUTREACH_BENCH_OFFSET_RESET", "latest")

    settings = bench_settings(VisitsSettings)(service_name="bench_visits_1a2b3c4d")

    assert isinstance(settings, VisitsSettings)
    assert isinstance(settings, BenchSettings)
    assert settings.service_name == "bench_visits_1a2b3c4d"
    assert settings.database == "bench_visits"
    assert settings.keyring_database == "bench_keyring"
    assert settings.database_url(settings.keyring_database).endswith("/bench_keyring")
    assert settings.consumer_offset_reset == "latest"
    assert settings.min_lead_days == VisitsSettings().min_lead_days


def test_a_benchmark_run_without_a_database_uses_the_one_named_after_the_deployment(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    settings = BenchSettings(service_name="bench_contacts_1a2b3c4d")

    assert settings.database == "bench_contacts_1a2b3c4d"
    assert settings.consumer_offset_reset == "earliest"


def test_the_benchmark_settings_are_refused_outside_development(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    for name, value in PRODUCTION_SECRETS.items():
        clean_environment.setenv(name, value)

    assert ServiceSettings(mode="production").mode is Mode.PRODUCTION
    with pytest.raises(ValidationError, match=r"\(OUTREACH_BENCH_\*\) are for development only"):
        bench_settings(VisitsSettings)(mode="production", bench_offset_reset="latest")


PRODUCTION_SECRETS = {
    "OUTREACH_OIDC_ISSUER": "https://login.jobcenter.example/realms/outreach",
    "OUTREACH_KEYRING_KEK": "a" * 44,
    "OUTREACH_BLIND_INDEX_KEY": "production-blind-index-key",
    "OUTREACH_PG_PASSWORD": "production-database-password",
}


def test_production_without_a_database_password_of_its_own_does_not_start(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """The development default is written in the source for everybody to read."""
    for name, value in PRODUCTION_SECRETS.items():
        if name != "OUTREACH_PG_PASSWORD":
            clean_environment.setenv(name, value)

    with pytest.raises(ValidationError, match="OUTREACH_PG_PASSWORD has the development value"):
        ServiceSettings(mode="production")
    assert ServiceSettings().secret("pg_password") == "outreach"


@pytest.mark.parametrize("secret", ["pg_password", "keyring_kek", "blind_index_key"])
def test_production_refuses_a_secret_set_to_its_development_value(
    clean_environment: pytest.MonkeyPatch, secret: str
) -> None:
    development_value = ServiceSettings().secret(secret)
    variable = f"OUTREACH_{secret.upper()}"
    for name, value in PRODUCTION_SECRETS.items():
        clean_environment.setenv(name, value)
    clean_environment.setenv(variable, development_value)

    with pytest.raises(ValidationError, match=f"{variable} has the development value"):
        ServiceSettings(mode="production")


def test_production_starts_with_secrets_of_its_own(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    for name, value in PRODUCTION_SECRETS.items():
        clean_environment.setenv(name, value)
    clean_environment.setenv("OUTREACH_MODE", "production")

    settings = ServiceSettings()

    assert settings.mode is Mode.PRODUCTION
    assert settings.secret("pg_password") == "production-database-password"


def test_one_process_does_everything_by_default(clean_environment: pytest.MonkeyPatch) -> None:
    assert ServiceSettings().process_role is ProcessRole.ALL


@pytest.mark.parametrize("role", ["all", "api", "worker"])
def test_the_process_role_is_read_from_the_environment(
    clean_environment: pytest.MonkeyPatch, role: str
) -> None:
    clean_environment.setenv("OUTREACH_PROCESS_ROLE", role)

    assert ServiceSettings().process_role == ProcessRole(role)


def test_an_unknown_process_role_is_refused(clean_environment: pytest.MonkeyPatch) -> None:
    clean_environment.setenv("OUTREACH_PROCESS_ROLE", "relay")

    with pytest.raises(ValidationError, match="process_role"):
        ServiceSettings()


def test_api_processes_serve_on_the_service_port_and_the_worker_on_a_port_of_its_own(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    api = ServiceSettings(service_name="contacts", process_role="api")
    worker = ServiceSettings(service_name="contacts", process_role="worker")

    assert api.port == SERVICE_PORTS["contacts"]
    assert worker.port == WORKER_PORTS["contacts"]
    assert (
        ServiceSettings(service_name="contacts", process_role="worker", http_port=9000).port == 9000
    )


def test_worker_ports_differ_from_every_service_port() -> None:
    assert WORKER_PORTS.keys() == SERVICE_PORTS.keys()
    assert not set(WORKER_PORTS.values()) & set(SERVICE_PORTS.values())
    assert len(set(WORKER_PORTS.values())) == len(WORKER_PORTS)


def test_each_service_is_served_by_one_process_unless_more_api_workers_are_asked_for(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    assert StackSettings().api_workers == 1
    clean_environment.setenv("OUTREACH_API_WORKERS", "3")
    assert StackSettings().api_workers == 3
    clean_environment.setenv("OUTREACH_API_WORKERS", "0")
    with pytest.raises(ValidationError, match="api_workers"):
        StackSettings()


def test_the_keyring_may_live_on_a_database_server_of_its_own(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """In a cluster each service's database and the keyring are separate PostgreSQL
    clusters with their own credentials; the service's own database stays on OUTREACH_PG_*."""
    keyring = "postgresql://keyring:s3cret@keyring-db-rw.outreach.svc:5432/keyring"
    clean_environment.setenv("OUTREACH_KEYRING_URL", keyring)
    clean_environment.setenv("OUTREACH_PG_HOST", "contacts-db-rw.outreach.svc")

    settings = ServiceSettings(service_name="contacts")

    assert settings.database_url(settings.keyring_database) == keyring
    assert settings.database_url("contacts").startswith("postgresql://outreach:")
    assert "@contacts-db-rw.outreach.svc:" in settings.database_url("contacts")


def test_without_a_keyring_url_the_keyring_is_on_the_services_database_server(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    settings = ServiceSettings(pg_host="db.example", pg_port=5432)

    assert (
        settings.database_url("keyring") == "postgresql://outreach:outreach@db.example:5432/keyring"
    )


def _ephemeral_ports_of_this_machine() -> range:
    """The kernel's range if it can be read, else Linux's default."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return EPHEMERAL_PORTS
    return range(int(low), int(high) + 1)


def test_no_default_port_lies_where_the_kernel_picks_the_ports_of_outgoing_connections(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """A client reconnecting to a stopped listener on such a port can be given that port as
    its own and connect to itself; the listener then cannot start again."""
    stack = StackSettings()
    kafka_port = int(stack.kafka_bootstrap.rsplit(":", 1)[1])
    defaults = {
        "postgres": stack.pg_port,
        "kafka": kafka_port,
        "kafka controller": stack.kafka_controller_port,
        "mail sink": NotificationsSettings().smtp_port,
        "keycloak": stack.keycloak_port,
        "keycloak management": stack.keycloak_management_port,
        "prometheus": stack.prometheus_port,
        **{f"{name} service": port for name, port in SERVICE_PORTS.items()},
        **{f"{name} worker": port for name, port in WORKER_PORTS.items()},
    }
    assert (stack.pg_port, kafka_port, stack.kafka_controller_port) == (25432, 29092, 29093)
    assert NotificationsSettings().smtp_port == 25025
    for ephemeral in (EPHEMERAL_PORTS, _ephemeral_ports_of_this_machine()):
        inside = {name: port for name, port in defaults.items() if port in ephemeral}
        assert not inside, f"in the ephemeral range {ephemeral}: {inside}"


def test_without_a_pooler_every_connection_goes_to_postgresql(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    settings = ServiceSettings(pg_host="db.example", pg_port=5432)

    assert settings.pooled_url("contacts") == settings.database_url("contacts")
    assert settings.prepares_statements


def test_a_pooler_on_the_database_host_takes_the_pools_on_its_own_port(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """The local stack: PgBouncer beside PostgreSQL (deploy/local/pgbouncer.py)."""
    settings = ServiceSettings(pg_host="127.0.0.1", pg_port=25432, pg_pooler_port=25433)

    assert settings.pooled_url("visits") == "postgresql://outreach:outreach@127.0.0.1:25433/visits"
    assert settings.database_url("visits").endswith("@127.0.0.1:25432/visits")
    assert not settings.prepares_statements


def test_a_pooler_of_its_own_host_takes_the_pools_and_sessions_go_to_the_primary(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """Kubernetes: CloudNativePG's Pooler has a Service of its own beside the cluster's
    ``-rw`` (deploy/k8s); both listen on 5432."""
    clean_environment.setenv("OUTREACH_PG_HOST", "contacts-db-rw")
    clean_environment.setenv("OUTREACH_PG_PORT", "5432")
    clean_environment.setenv("OUTREACH_PG_POOLER_HOST", "contacts-db-pooler")
    clean_environment.setenv("OUTREACH_PG_POOLER_PREPARED_STATEMENTS", "true")

    settings = ServiceSettings(service_name="contacts")

    assert settings.pooled_address == ("contacts-db-pooler", 5432)
    assert settings.pooled_url("contacts").endswith("@contacts-db-pooler:5432/contacts")
    assert settings.database_url("contacts").endswith("@contacts-db-rw:5432/contacts")
    assert settings.prepares_statements


def test_sessions_of_a_pool_through_a_pooler_connect_to_postgresql_itself(
    clean_environment: pytest.MonkeyPatch,
) -> None:
    """Leader locks and LISTEN (``direct_connection``) must not go through a pooler in
    transaction mode, whichever host the pooler is on."""
    settings = ServiceSettings(pg_host="contacts-db-rw", pg_port=5432)
    settings.pg_pooler_host = "contacts-db-pooler"
    pool = pooled(settings, "contacts", min_size=1, max_size=1)
    env = eventsourcing_env(settings, "contacts")
    connected: list[dict[str, object]] = []

    @contextlib.contextmanager
    def connect(conninfo: str, **kwargs: object) -> Iterator[None]:
        connected.append({"conninfo": conninfo, **kwargs})
        yield None

    clean_environment.setattr(database.psycopg, "connect", connect)
    with database.direct_connection(pool):
        pass

    assert "@contacts-db-pooler:5432/" in str(pool.conninfo)
    assert connected[0]["host"] == "contacts-db-rw"
    assert connected[0]["port"] == 5432
    assert connected[0]["autocommit"] is True
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("contacts-db-pooler", "5432")
    assert (env[DIRECT_HOST], env[DIRECT_PORT]) == ("contacts-db-rw", "5432")
