"""The Kubernetes manifests, validated offline: each overlay builds with the pinned
kustomize, every resource passes its schema (core kinds: the Kubernetes API's; custom
resources: the checked-in CRDs of Strimzi and CloudNativePG), and the deployment keeps its
rules (one declaration of the topics, secrets only by reference, each service reaching only
its own database and the keyring)."""

from __future__ import annotations

import copy
import importlib.util
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from deploy.local.pgbouncer import TRANSACTION_POOLING
from shared.messaging.topics import DECLARED, DURABILITY
from shared.settings import SERVICE_PORTS, KafkaDurability

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy/k8s"
Docs = list[dict[str, Any]]


def _load(name: str) -> ModuleType:
    """A script of deploy/k8s (it is not a package)."""
    spec = importlib.util.spec_from_file_location(f"outreach_k8s_{name}", K8S / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


generate = _load("generate")
validate = _load("validate")

TARGETS: dict[str, Callable[[], Docs]] = {
    str(overlay.relative_to(K8S)): (lambda overlay=overlay: validate.build(overlay))
    for overlay in validate.overlays()
}
TARGETS.update(
    {
        label: (lambda o=o, chosen=chosen: validate.build_with(o, *chosen))
        for o in validate.overlays()
        for label, chosen in validate.with_components(o)
    }
)


@pytest.fixture(scope="module")
def built() -> dict[str, Docs]:
    return {label: build() for label, build in TARGETS.items()}


@pytest.fixture(scope="module")
def small(built: dict[str, Docs]) -> Docs:
    return built["overlays/small"]


def one(docs: Docs, kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def env_of(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {entry["name"]: entry for entry in container.get("env", [])}


# --- one declaration ---------------------------------------------------------------------------


def test_the_checked_in_base_is_what_the_generator_renders() -> None:
    for relative, docs in generate.files().items():
        assert (K8S / relative).read_text() == generate.render(docs), relative


@pytest.mark.parametrize(
    ("relative", "written", "edited"),
    [
        ("base/kafka/topics.yaml", "partitions: 12", "partitions: 24"),
        ("components/monitoring/prometheus-rule.yaml", "for: 5m", "for: 1h"),
    ],
)
def test_a_hand_edited_file_is_reported_by_the_check(
    tmp_path: Path, relative: str, written: str, edited: str
) -> None:
    root = tmp_path / "k8s"
    for generated in ("base", "components/monitoring"):
        shutil.copytree(K8S / generated, root / generated)
    path = root / relative
    assert written in path.read_text()
    path.write_text(path.read_text().replace(written, edited, 1))

    assert generate.main(["--check", "--root", str(root)]) == 1
    assert generate.main(["--check", "--root", str(K8S)]) == 0


def test_the_kafka_topics_are_the_declared_ones_with_their_settings() -> None:
    durability = DURABILITY[KafkaDurability.REPLICATED]
    checked_in = [
        doc for doc in yaml.safe_load_all((K8S / "base/kafka/topics.yaml").read_text()) if doc
    ]
    by_name = {doc["spec"]["topicName"]: doc["spec"] for doc in checked_in}

    assert set(by_name) == {spec.name for spec in DECLARED}
    for spec in DECLARED:
        topic = by_name[spec.name]
        assert topic["partitions"] == spec.partitions
        assert topic["replicas"] == durability.replication_factor
        assert {k: str(v) for k, v in topic["config"].items()} == spec.configs(durability)


def test_the_services_in_the_cluster_declare_the_same_durability_as_the_topics(
    small: Docs,
) -> None:
    """Otherwise a service's start would set other values than the KafkaTopic resources,
    and the topic operator would set them back."""
    config = one(small, "ConfigMap", "outreach-config")["data"]
    assert config["OUTREACH_KAFKA_DURABILITY"] == KafkaDurability.REPLICATED.value
    assert config["OUTREACH_MODE"] == "production"


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("label", sorted(TARGETS))
def test_every_resource_of_the_kustomization_is_valid(built: dict[str, Docs], label: str) -> None:
    docs = built[label]
    assert len(docs) > 50
    assert validate.problems(docs) == []


def test_the_restore_manifests_of_the_guide_are_valid() -> None:
    restores = validate.examples()
    assert {doc["metadata"]["name"] for doc in restores} == {
        "keyring-db-restored",
        "contacts-db-restored",
    }
    assert validate.problems(restores) == []


def _typo(doc: dict[str, Any]) -> None:
    doc["spec"]["instancess"] = doc["spec"].pop("instances")


def _string_count(doc: dict[str, Any]) -> None:
    doc["spec"]["replicas"] = "two"


def _zero_partitions(doc: dict[str, Any]) -> None:
    doc["spec"]["partitions"] = 0


def _zookeeper(doc: dict[str, Any]) -> None:
    doc["spec"]["zookeeper"] = {"replicas": 3}


def _pool_mode_typo(doc: dict[str, Any]) -> None:
    doc["spec"]["pgbouncer"]["poolMod"] = doc["spec"]["pgbouncer"].pop("poolMode")


def _container_typo(doc: dict[str, Any]) -> None:
    doc["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"


@pytest.mark.parametrize(
    ("kind", "name", "breakage", "expected"),
    [
        ("Cluster", "contacts-db", _typo, "'instancess' was unexpected"),
        ("Deployment", "visits-api", _string_count, "'two' is not of type 'integer'"),
        ("KafkaTopic", "outreach-erasures", _zero_partitions, "less than the minimum of 1"),
        ("Kafka", "outreach", _zookeeper, "'zookeeper' was unexpected"),
        ("Deployment", "contacts-worker", _container_typo, "'imagePullPolicyy' was unexpected"),
        ("Pooler", "visits-db-pooler", _pool_mode_typo, "'poolMod' was unexpected"),
    ],
)
def test_a_broken_resource_is_caught(
    small: Docs,
    kind: str,
    name: str,
    breakage: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    broken = copy.deepcopy(one(small, kind, name))
    breakage(broken)

    found = validate.problems([broken])

    assert any(expected in problem for problem in found), found


def test_a_custom_resource_without_a_checked_in_schema_is_not_waved_through() -> None:
    unknown = {"apiVersion": "example.org/v1", "kind": "Gadget", "metadata": {"name": "g"}}

    assert validate.problems([unknown]) == [
        "Gadget/g: no schema for example.org/v1 Gadget under deploy/k8s/crds"
    ]


def test_a_secret_written_into_a_manifest_is_caught(small: Docs) -> None:
    deployment = copy.deepcopy(one(small, "Deployment", "contacts-api"))
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    for entry in container["env"]:
        if entry["name"] == "OUTREACH_KEYRING_KEK":
            entry.pop("valueFrom")
            entry["value"] = "c2VjcmV0"
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "outreach-secrets"},
        "stringData": {"jwt-secret": "x"},
    }

    found = validate.rule_problems(deployment) + validate.rule_problems(secret)

    assert found == [
        "Deployment/contacts-api container contacts: OUTREACH_KEYRING_KEK has a value; "
        "take it from a Secret",
        "Secret/outreach-secrets: a secret's value in a manifest (reference it)",
    ]


# --- what the manifests say ---------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_each_service_runs_as_api_pods_and_a_worker_with_health_probes(
    small: Docs, service: str
) -> None:
    for role in ("api", "worker"):
        deployment = one(small, "Deployment", f"{service}-{role}")
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["args"] == [service]
        assert env_of(deployment)["OUTREACH_PROCESS_ROLE"]["value"] == role
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
    autoscaler = one(small, "HorizontalPodAutoscaler", f"{service}-api")
    assert autoscaler["spec"]["metrics"][0]["resource"]["name"] == "cpu"


@pytest.mark.parametrize("label", ["overlays/small", "overlays/large"])
@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_workers_run_as_several_pods_rolled_one_by_one_and_disrupted_one_at_a_time(
    built: dict[str, Docs], label: str, service: str
) -> None:
    """What runs once is under a lease (deploy/README.md "Replicas"): a second worker is the
    standby, a rollout starts the new pod before it stops an old one, and a node drain leaves
    one running."""
    docs = built[label]
    worker = one(docs, "Deployment", f"{service}-worker")
    budget = one(docs, "PodDisruptionBudget", f"{service}-worker")

    assert worker["spec"]["replicas"] >= 2
    assert worker["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    assert budget["spec"]["selector"]["matchLabels"] == worker["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["maxUnavailable"] < worker["spec"]["replicas"]
    drain = int(one(docs, "ConfigMap", "outreach-config")["data"]["OUTREACH_DRAIN_SECONDS"])
    readiness = worker["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert drain >= readiness["periodSeconds"] * readiness["failureThreshold"]
    assert drain < worker["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_the_secrets_of_a_service_are_references(small: Docs, service: str) -> None:
    env = env_of(one(small, "Deployment", f"{service}-api"))
    references = {
        "OUTREACH_JWT_SECRET": ("outreach-secrets", "jwt-secret"),
        "OUTREACH_KEYRING_KEK": ("outreach-secrets", "keyring-kek"),
        "OUTREACH_BLIND_INDEX_KEY": ("outreach-secrets", "blind-index-key"),
        "OUTREACH_PG_PASSWORD": (f"{service}-db-app", "password"),
        "OUTREACH_KEYRING_URL": ("keyring-db-app", "uri"),
    }
    for name, (secret, key) in references.items():
        assert env[name] == {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": secret, "key": key}},
        }
    assert not [d for d in small if d["kind"] == "Secret"]


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_a_service_reaches_kafka_its_own_database_the_keyring_and_the_identity_provider(
    small: Docs, service: str
) -> None:
    policy = one(small, "NetworkPolicy", service)
    reached = [
        peer["podSelector"]["matchLabels"]
        for rule in policy["spec"]["egress"]
        for peer in rule["to"]
    ]
    databases = {labels["cnpg.io/cluster"] for labels in reached if "cnpg.io/cluster" in labels}
    poolers = {labels["cnpg.io/poolerName"] for labels in reached if "cnpg.io/poolerName" in labels}

    assert databases == {f"{service}-db", "keyring-db"}
    assert poolers == {f"{service}-db-pooler"}
    assert {"strimzi.io/cluster": "outreach", "strimzi.io/broker-role": "true"} in reached
    assert {"app.kubernetes.io/name": "keycloak"} in reached
    assert {"k8s-app": "kube-dns"} in reached
    assert len(reached) == 6
    assert one(small, "NetworkPolicy", "default-deny")["spec"]["policyTypes"] == [
        "Ingress",
        "Egress",
    ]


@pytest.mark.parametrize("service", sorted(SERVICE_PORTS))
def test_a_service_pools_through_its_pooler_and_holds_sessions_on_the_primary(
    small: Docs, service: str
) -> None:
    """The settings' pooled address (OUTREACH_PG_POOLER_*) is the Pooler's Service, the direct
    one (OUTREACH_PG_HOST/_PORT: leader locks, LISTEN, schema locks) the cluster's ``-rw``."""
    pooler = one(small, "Pooler", f"{service}-db-pooler")
    for role in ("api", "worker"):
        env = env_of(one(small, "Deployment", f"{service}-{role}"))
        settings = {name: entry.get("value") for name, entry in env.items()}
        assert settings["OUTREACH_PG_HOST"] == f"{service}-db-rw"
        assert settings["OUTREACH_PG_POOLER_HOST"] == pooler["metadata"]["name"]
        assert settings["OUTREACH_PG_PORT"] == settings["OUTREACH_PG_POOLER_PORT"] == "5432"
        assert settings["OUTREACH_PG_POOLER_PREPARED_STATEMENTS"] == "true"
        assert env["OUTREACH_PG_USER"]["valueFrom"]["secretKeyRef"]["name"] == f"{service}-db-app"
    spec = pooler["spec"]
    assert spec["cluster"] == {"name": f"{service}-db"}
    assert spec["type"] == "rw"
    assert spec["pgbouncer"]["poolMode"] == "transaction"
    assert int(spec["pgbouncer"]["parameters"]["max_prepared_statements"]) > 0
    assert spec["instances"] >= 2
    database = one(small, "NetworkPolicy", f"{service}-db")["spec"]["ingress"][0]["from"]
    assert {"podSelector": {"matchLabels": {"cnpg.io/poolerName": f"{service}-db-pooler"}}} in (
        database
    )
    admitted = one(small, "NetworkPolicy", f"{service}-db-pooler")["spec"]["ingress"][0]
    assert admitted["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == service
    assert admitted["ports"] == [{"protocol": "TCP", "port": 5432}]


def test_the_pooler_takes_the_local_pgbouncer_parameters_and_only_those_cloudnativepg_allows(
    small: Docs,
) -> None:
    pooler = copy.deepcopy(one(small, "Pooler", "contacts-db-pooler"))
    parameters = pooler["spec"]["pgbouncer"]["parameters"]
    assert TRANSACTION_POOLING.items() <= parameters.items()

    parameters["listen_port"] = "6432"
    assert validate.problems([pooler]) == [
        "Pooler/contacts-db-pooler: pgbouncer parameter listen_port is not one CloudNativePG "
        "accepts"
    ]


def test_a_database_cluster_for_each_service_the_keyring_and_the_identity_provider(
    small: Docs,
) -> None:
    clusters = {d["metadata"]["name"] for d in small if d["kind"] == "Cluster"}
    assert clusters == {f"{s}-db" for s in SERVICE_PORTS} | {"keyring-db", "keycloak-db"}
    for name in clusters:
        backup = one(small, "Cluster", name)["spec"]["plugins"][0]["parameters"]
        expected = "keyring" if name == "keyring-db" else "event-stores"
        assert backup == {"barmanObjectName": expected}
        assert one(small, "ScheduledBackup", f"{name}-daily")["spec"]["cluster"] == {"name": name}


def test_the_retention_job_runs_daily_against_contacts(small: Docs) -> None:
    cron = one(small, "CronJob", "retention")
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == ["python", "-m", "contacts.retention", "run"]
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    env = {e["name"]: e for e in container["env"]}
    assert env["OUTREACH_PG_HOST"]["value"] == "contacts-db-rw"
    assert env["OUTREACH_CONTACTS_URL"]["value"] == "http://contacts"


def test_the_worker_autoscaling_component_scales_workers_on_their_consumer_lag(
    built: dict[str, Docs],
) -> None:
    docs = built["overlays/large + components/worker-autoscaling"]
    for service in SERVICE_PORTS:
        autoscaler = one(docs, "HorizontalPodAutoscaler", f"{service}-worker")
        metric = autoscaler["spec"]["metrics"][0]["external"]["metric"]
        assert metric == {
            "name": "outreach_consumer_lag",
            "selector": {"matchLabels": {"service": service}},
        }
        assert autoscaler["spec"]["maxReplicas"] <= max(s.partitions for s in DECLARED)
        worker = one(docs, "Deployment", f"{service}-worker")
        assert autoscaler["spec"]["minReplicas"] == worker["spec"]["replicas"]


def test_the_large_network_runs_more_api_pods_and_replicas_than_the_small_one(
    built: dict[str, Docs],
) -> None:
    small, large = built["overlays/small"], built["overlays/large"]
    for service in SERVICE_PORTS:
        name = f"{service}-api"
        assert (
            one(large, "HorizontalPodAutoscaler", name)["spec"]["maxReplicas"]
            > one(small, "HorizontalPodAutoscaler", name)["spec"]["maxReplicas"]
        )
    assert one(small, "Cluster", "contacts-db")["spec"]["instances"] == 2
    assert one(large, "Cluster", "contacts-db")["spec"]["instances"] == 3


# --- monitoring ---------------------------------------------------------------------------------


MONITORED = "overlays/large + components/monitoring"


def test_the_alert_rules_are_the_ones_promtool_tests(built: dict[str, Docs]) -> None:
    rule = one(built[MONITORED], "PrometheusRule", "outreach-alerts")

    assert rule["spec"]["groups"] == yaml.safe_load(generate.ALERT_RULES.read_text())["groups"]


def test_every_service_pod_is_scraped_with_the_labels_the_rules_group_by(
    built: dict[str, Docs],
) -> None:
    """The rules and the dashboard read ``job="outreach"``, ``service`` and ``role``, as the
    local stack's Prometheus labels its targets."""
    docs = built[MONITORED]
    monitor = one(docs, "PodMonitor", "outreach")
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    scraped = [
        d
        for d in docs
        if d["kind"] == "Deployment" and _selects(monitor, d["spec"]["template"]["metadata"])
    ]

    assert {d["metadata"]["name"] for d in scraped} == {
        f"{s}-{role}" for s in SERVICE_PORTS for role in ("api", "worker")
    }
    assert (endpoint["port"], endpoint["path"]) == ("http", "/metrics")
    for deployment in scraped:
        service, role = deployment["metadata"]["name"].rsplit("-", 1)
        pod = deployment["spec"]["template"]
        meta = {
            "__meta_kubernetes_pod_label_" + re.sub(r"[^A-Za-z0-9_]", "_", key): value
            for key, value in pod["metadata"]["labels"].items()
        }
        labels = _relabel(endpoint["relabelings"], meta)
        assert (labels["job"], labels["service"], labels["role"]) == ("outreach", service, role)
        assert pod["spec"]["containers"][0]["ports"][0]["name"] == "http"


def _relabel(relabelings: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, str]:
    """Prometheus's ``replace`` relabeling (its default action, the only one the monitor uses)
    with its defaults: sources joined by ``;``, the regex anchored, ``$1`` replaced."""
    result = dict(labels)
    for rule in relabelings:
        assert rule.get("action", "replace") == "replace", rule
        value = rule.get("separator", ";").join(
            result.get(s, "") for s in rule.get("sourceLabels", [])
        )
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        if match:
            replacement = re.sub(r"\$\{?(\d+)\}?", r"\\g<\1>", rule.get("replacement", "$1"))
            result[rule["targetLabel"]] = match.expand(replacement)
    return result


def _selects(monitor: dict[str, Any], pod: dict[str, Any]) -> bool:
    labels = pod.get("labels", {})
    selector = monitor["spec"]["selector"]
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    assert {e["operator"] for e in selector.get("matchExpressions", [])} <= {"In"}, selector
    return all(labels.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def _port_number(pod_spec: dict[str, Any], name: str) -> int:
    return next(
        port["containerPort"]
        for container in pod_spec["containers"]
        for port in container.get("ports", [])
        if port["name"] == name
    )


def test_prometheus_in_the_monitoring_namespace_may_scrape_every_service_pod(
    built: dict[str, Docs],
) -> None:
    docs = built[MONITORED]
    monitor = one(docs, "PodMonitor", "outreach")
    monitoring = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}
    }
    for deployment in docs:
        pod = deployment.get("spec", {}).get("template", {})
        if deployment["kind"] != "Deployment" or not _selects(monitor, pod["metadata"]):
            continue
        port = _port_number(pod["spec"], monitor["spec"]["podMetricsEndpoints"][0]["port"])
        admitting = [
            rule
            for policy in docs
            if policy["kind"] == "NetworkPolicy"
            and _selects({"spec": {"selector": policy["spec"]["podSelector"]}}, pod["metadata"])
            for rule in policy["spec"].get("ingress", [])
            if monitoring in rule.get("from", [])
            and {"protocol": "TCP", "port": port} in rule.get("ports", [])
        ]
        assert admitting, deployment["metadata"]["name"]


def test_the_poolers_are_scraped_and_prometheus_may_reach_their_metrics(
    built: dict[str, Docs],
) -> None:
    docs = built[MONITORED]
    monitor = one(docs, "PodMonitor", "outreach-poolers")
    poolers = {d["metadata"]["name"] for d in docs if d["kind"] == "Pooler"}

    assert set(monitor["spec"]["selector"]["matchExpressions"][0]["values"]) == poolers
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    for name in poolers:
        ingress = one(docs, "NetworkPolicy", name)["spec"]["ingress"]
        assert {
            "from": [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ],
            "ports": [{"protocol": "TCP", "port": 9127}],
        } in ingress
