#!/usr/bin/env python3
"""Validate the Kubernetes manifests offline, as `make test` does.

    python deploy/k8s/validate.py                 # every overlay (also with each component
                                                  # and with all) and the examples
    python deploy/k8s/validate.py overlays/small  # one kustomization (relative to deploy/k8s)

Each kustomization is built with the project's pinned kustomize (``make kustomize``: into
.local/bin), then every resource is checked:

- core kinds against the Kubernetes API's own schema (``kubernetes-validate``, strict: an
  unknown field is an error) for :data:`KUBERNETES_VERSION`;
- custom resources (Strimzi, CloudNativePG, the Barman Cloud plugin, the Prometheus
  Operator) against the
  ``openAPIV3Schema`` of the CRDs checked in under deploy/k8s/crds/ (see its README), made
  strict the same way: an object schema that lists its properties admits no others, which is
  what the API server's strict field validation does;
- the rules of deploy/README.md: secrets only by reference, never a value in a manifest;
  every container with requests and limits, every service container with its three probes;
  a ``Pooler``'s PgBouncer parameters only those CloudNativePG's webhook admits.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

K8S = Path(__file__).resolve().parent
ROOT = K8S.parents[1]
CRDS = K8S / "crds"
KUBERNETES_VERSION = "1.33.0"
SECRET_SUFFIXES = ("SECRET", "PASSWORD", "KEK", "_KEY", "TOKEN")
SECRET_ENV = {"OUTREACH_KEYRING_URL"}  # a database URL with its password
"""Environment variables named so take their value from a Secret, never from the manifest."""


POOLER_PARAMETERS = frozenset(
    [
        "application_name_add_host",
        "auth_type",
        "auth_user",
        "autodb_idle_timeout",
        "cancel_wait_timeout",
        "client_idle_timeout",
        "client_login_timeout",
        "client_tls_ciphers",
        "client_tls_sslmode",
        "client_tls13_ciphers",
        "default_pool_size",
        "disable_pqexec",
        "dns_max_ttl",
        "dns_nxdomain_ttl",
        "idle_transaction_timeout",
        "ignore_startup_parameters",
        "listen_backlog",
        "log_connections",
        "log_disconnections",
        "log_pooler_errors",
        "log_stats",
        "max_client_conn",
        "max_db_connections",
        "max_packet_size",
        "max_prepared_statements",
        "max_user_connections",
        "min_pool_size",
        "pkt_buf",
        "query_timeout",
        "query_wait_timeout",
        "reserve_pool_size",
        "reserve_pool_timeout",
        "sbuf_loopcnt",
        "server_check_delay",
        "server_check_query",
        "server_connect_timeout",
        "server_fast_close",
        "server_idle_timeout",
        "server_lifetime",
        "server_login_retry",
        "server_reset_query",
        "server_reset_query_always",
        "server_round_robin",
        "server_tls_ciphers",
        "server_tls13_ciphers",
        "server_tls_protocols",
        "server_tls_sslmode",
        "stats_period",
        "suspend_timeout",
        "tcp_defer_accept",
        "tcp_socket_buffer",
        "tcp_keepalive",
        "tcp_keepcnt",
        "tcp_keepidle",
        "tcp_keepintvl",
        "tcp_user_timeout",
        "track_extra_parameters",
        "verbose",
    ]
)
"""The PgBouncer parameters a ``Pooler`` may set: CloudNativePG 1.30.1's admission webhook
(``internal/webhook/v1/pooler_webhook.go``, ``AllowedPgbouncerGenericConfigurationParameters``)
refuses others, which its CRD schema does not say."""


class BuildError(RuntimeError):
    pass


def kustomize() -> str:
    path = os.environ.get("KUSTOMIZE") or str(ROOT / ".local/bin/kustomize")
    if not Path(path).exists():
        raise BuildError(f"{path} is missing: run `make kustomize` (the pinned version)")
    return path


def build(target: Path) -> list[dict[str, Any]]:
    """The resources of one kustomization."""
    result = subprocess.run(
        [kustomize(), "build", str(target)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BuildError(f"kustomize build {target} failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def overlays() -> list[Path]:
    return sorted(p.parent for p in (K8S / "overlays").glob("*/kustomization.yaml"))


def components() -> list[Path]:
    return sorted(p.parent for p in (K8S / "components").glob("*/kustomization.yaml"))


def build_with(overlay: Path, *components: Path) -> list[dict[str, Any]]:
    """An overlay with components it does not include: built from a kustomization of its own,
    outside the tree."""
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "kustomization.yaml").write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kustomize.config.k8s.io/v1beta1",
                    "kind": "Kustomization",
                    "resources": [os.path.relpath(overlay, scratch)],
                    "components": [os.path.relpath(c, scratch) for c in components],
                }
            )
        )
        return build(Path(scratch))


def _strict(schema: Any) -> Any:
    """``schema`` where every object that lists its properties admits no other."""
    if isinstance(schema, dict):
        strict = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in strict
            and "additionalProperties" not in strict
            and not strict.get("x-kubernetes-preserve-unknown-fields")
        ):
            strict["additionalProperties"] = False
        return strict
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the strict openAPIV3Schema of every checked-in CRD."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.rglob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd or crd.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
            for version in crd["spec"]["versions"]:
                if version.get("served"):
                    schema = version["schema"]["openAPIV3Schema"]
                    schemas[(f"{group}/{version['name']}", kind)] = _strict(schema)
    return schemas


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def schema_problems(doc: dict[str, Any]) -> list[str]:
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    schema = crd_schemas().get(key)
    if schema is not None:
        validator = jsonschema.Draft4Validator(schema)
        return [
            f"{name_of(doc)}: {'.'.join(str(p) for p in error.absolute_path) or '(root)'}: "
            f"{error.message}"
            for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        ]
    group = key[0].rpartition("/")[0]
    if "." in group and not group.endswith(".k8s.io"):
        return [f"{name_of(doc)}: no schema for {key[0]} {key[1]} under deploy/k8s/crds"]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(p) for p in error.absolute_path) or "(root)"
        return [f"{name_of(doc)}: {path}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [
            f"{name_of(doc)}: no schema for {key[0]} {key[1]} in Kubernetes {KUBERNETES_VERSION}"
        ]
    return []


def _containers(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = doc.get("spec", {})
    if doc.get("kind") == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    yield from pod.get("initContainers", [])
    yield from pod.get("containers", [])


def rule_problems(doc: dict[str, Any]) -> list[str]:
    problems = []
    if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
        problems.append(f"{name_of(doc)}: a secret's value in a manifest (reference it)")
    if doc.get("kind") == "Pooler":
        parameters = doc.get("spec", {}).get("pgbouncer", {}).get("parameters", {})
        problems += [
            f"{name_of(doc)}: pgbouncer parameter {name} is not one CloudNativePG accepts"
            for name in sorted(set(parameters) - POOLER_PARAMETERS)
        ]
    for container in _containers(doc):
        where = f"{name_of(doc)} container {container.get('name')}"
        problems += [f"{where}: {problem}" for problem in _container_problems(doc, container)]
    return problems


def _container_problems(doc: dict[str, Any], container: dict[str, Any]) -> Iterator[str]:
    for env in container.get("env", []):
        name = env["name"].upper()
        secretive = name in SECRET_ENV or name.endswith(SECRET_SUFFIXES)
        if secretive and "value" in env:
            yield f"{env['name']} has a value; take it from a Secret"
    resources = container.get("resources", {})
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            if resource not in resources.get(kind, {}):
                yield f"no {resource} {kind[:-1]}"
    if doc.get("kind") == "Deployment":
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            if probe not in container:
                yield f"no {probe}"


def problems(docs: list[dict[str, Any]]) -> list[str]:
    found = []
    for doc in docs:
        found += schema_problems(doc)
        found += rule_problems(doc)
    return found


def examples() -> list[dict[str, Any]]:
    """The manifests deploy/README.md tells an operator to apply by hand (restores)."""
    return [
        doc
        for path in sorted((K8S / "examples").glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def targets() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    yield "examples", examples()
    for overlay in overlays():
        yield str(overlay.relative_to(K8S)), build(overlay)
        for label, chosen in with_components(overlay):
            yield label, build_with(overlay, *chosen)


def with_components(overlay: Path) -> list[tuple[str, list[Path]]]:
    """The overlay with each component, and with all of them."""
    every = components()
    chosen = [[component] for component in every] + ([every] if len(every) > 1 else [])
    return [
        (" + ".join(str(p.relative_to(K8S)) for p in [overlay, *group]), group) for group in chosen
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kustomizations", nargs="*", type=Path)
    args = parser.parse_args(argv)
    chosen = (
        [(str(k), build(K8S / k)) for k in args.kustomizations]
        if args.kustomizations
        else list(targets())
    )
    failed = False
    for label, docs in chosen:
        found = problems(docs)
        print(f"{label}: {len(docs)} resources, {len(found)} problems")
        for problem in found:
            print(f"  {problem}")
        failed = failed or bool(found)
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BuildError as exc:
        print(f"validate: {exc}", file=sys.stderr)
        sys.exit(2)
