"""Every service's OpenAPI document against the service itself, as an independent client
would check it: schemathesis runs all its checks against the four services running as
processes, and every text field every document declares is sent a NUL byte.

The services here have databases of their own (nothing else in the suite meets the cases,
visits and providers schemathesis invents) and start their consumer groups at the end of
the topics. Tokens are minted per role for a district of this run only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from shared.auth import Role
from shared.settings import ServiceSettings
from tests.support.helpers import scratch_database
from tests.support.processes import ROOT, ServiceProcess

pytestmark = pytest.mark.e2e

SERVICES = ("contacts", "visits", "coaching", "notifications")
EXAMPLES = int(os.environ.get("OUTREACH_CONTRACT_EXAMPLES", "15"))
"""Test cases per operation and phase: enough to find what a lax field lets through, few
enough that the four runs stay within a few minutes on two cores."""
SEED = os.environ.get("OUTREACH_CONTRACT_SEED", "20261203")
"""A fixed seed makes a failure reproducible (``OUTREACH_CONTRACT_SEED`` explores others)."""


class ContractServices:
    """The four services of this module, and tokens of this run's district."""

    def __init__(self, mint: Callable[..., str]) -> None:
        self.district = f"st-{uuid.uuid4().hex[:8]}"
        self.processes: dict[str, ServiceProcess] = {}
        self.databases: dict[str, str] = {}
        self._mint = mint

    def token(self, role: Role, user: str | None = None) -> str:
        name = user or f"{role.value.replace('_', '-')}-contract"
        return str(self._mint(name, role, self.district))

    def headers(self, role: Role = Role.TEAM_LEAD) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role)}", "X-Purpose": "audit"}


@pytest.fixture(scope="module")
def contract(
    stack: ServiceSettings, e2e_dir: Path, mint: Callable[..., str]
) -> Iterator[ContractServices]:
    services = ContractServices(mint)
    with (
        scratch_database(stack, "contract_contacts") as contacts,
        scratch_database(stack, "contract_visits") as visits,
        scratch_database(stack, "contract_coaching") as coaching,
        scratch_database(stack, "contract_notifications") as notifications,
    ):
        services.databases = dict(
            zip(SERVICES, (contacts, visits, coaching, notifications), strict=True)
        )
        try:
            for name, database in services.databases.items():
                process = ServiceProcess(
                    name,
                    e2e_dir,
                    {
                        "OUTREACH_SERVICE_NAME": database,
                        # New consumer groups start at the end of the topics: the history of
                        # the suite is not this run's business (a setting of the benchmark
                        # factories only, which no deployment has).
                        "OUTREACH_BENCH_OFFSET_RESET": "latest",
                        # Letters and e-mails go nowhere (no mail sink in this module).
                        "OUTREACH_SMTP_PORT": "9",
                    },
                    name=f"contract-{name}",
                    app=f"bench.apps:{name}",
                )
                process.start()
                services.processes[name] = process
            yield services
        finally:
            for process in services.processes.values():
                process.stop()


def _config(services: ContractServices) -> str:
    """Schemathesis' configuration: a token per role and route, all checks, this run's
    district offered to every district parameter (random ones are tried too)."""
    lead = services.token(Role.TEAM_LEAD)
    officer = services.token(Role.DATA_PROTECTION_OFFICER)
    coach = services.token(Role.PROVIDER_COACH)
    accepted = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
    return f"""
hooks = "tests.support.schemathesis_hooks"

[cache]
# Every run stands on its own (its seed reproduces it); nothing is kept in the work tree.
enabled = false

[checks.positive_data_acceptance]
# 422 besides schemathesis' defaults: a rule of the domain (a date relative to today, the
# state of other records) can refuse a schema-valid request; the hook
# ``schema_valid_requests_pass_request_validation`` fails the run when such a 422 is
# ``invalid_input``, i.e. when the document and the service disagree.
expected-statuses = {accepted!r}

[dictionaries.districts]
values = ["{services.district}"]

[parameters]
"query.district" = {{ dictionary = "districts", probability = 0.7 }}
"path.district" = {{ dictionary = "districts", probability = 0.7 }}
"body.district" = {{ dictionary = "districts", probability = 0.7 }}

[[operations]]
include-path-regex = "^/dpo/"
headers = {{ Authorization = "Bearer {officer}" }}

[[operations]]
include-path-regex = "^/provider/"
headers = {{ Authorization = "Bearer {coach}" }}

[[operations]]
exclude-path-regex = "^/(dpo|provider)/"
headers = {{ Authorization = "Bearer {lead}" }}
"""


# --- every text field, with a NUL byte ------------------------------------------------------

NUL = "mitte\u0000nord"


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def _strings(
    document: dict[str, Any], schema: dict[str, Any], path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], dict[str, Any]]]:
    """Every place in a request body schema that holds text: its path and its schema."""
    schema = _resolve(document, schema)
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        # A value's alternatives (``Line | None``), not the rules of an object's fields
        # (``oneOf`` of required fields, which have no type of their own).
        if "type" in option or "$ref" in option:
            yield from _strings(document, option, path)
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema and "format" not in schema:
        yield path, schema
    if kind == "array" and "items" in schema:
        yield from _strings(document, schema["items"], (*path, 0))
    for name, field in schema.get("properties", {}).items():
        yield from _strings(document, field, (*path, name))
    for pattern, field in schema.get("patternProperties", {}).items():
        yield from _strings(document, field, (*path, _key_for(pattern)))


def _key_for(pattern: str) -> str:
    """A key the pattern of a dict's keys allows (those of this product's documents)."""
    return "salutation" if "a-z" in pattern else "ContactLost"


def _put(body: Any, path: tuple[str | int, ...], value: Any) -> Any:
    """``body`` with ``value`` at ``path`` (creating the objects and lists on the way)."""
    if not path:
        return value
    head, *rest = path
    if isinstance(head, int):
        items = list(body) if isinstance(body, list) else []
        items[:1] = [_put(items[0] if items else None, tuple(rest), value)]
        return items
    target = dict(body) if isinstance(body, dict) else {}
    target[head] = _put(target.get(head), tuple(rest), value)
    return target


def _text_fields(document: dict[str, Any]) -> Iterator[tuple[str, str, str, Any]]:
    """(method, path, location, name or body path) of every text a request can carry."""
    for route, item in document["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                schema = _resolve(document, parameter["schema"])
                options = [schema, *schema.get("anyOf", [])]
                texts = [o for o in options if o.get("type") == "string"]
                if parameter["name"] == "X-Purpose" or not texts:
                    continue
                if any("enum" in o or "format" in o or "const" in o for o in texts):
                    continue
                yield method, route, parameter["in"], parameter["name"]
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for path, _ in _strings(document, content["application/json"]["schema"]):
                    yield method, route, "body", path


def _stored_events(settings: ServiceSettings, database: str) -> int:
    with psycopg.connect(settings.database_url(database)) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_name LIKE %s",
            ("%_events",),
        ).fetchall()
        total = 0
        for (table,) in tables:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            row = conn.execute(query).fetchone()
            total += row[0] if row else 0
        return total


def test_every_text_field_of_every_service_refuses_a_nul_byte_and_names_the_field(
    contract: ContractServices, stack: ServiceSettings
) -> None:
    """Found from the documents, not listed by hand: a new text field cannot be forgotten.

    Each field, header apart, gets ``"mitte\\u0000nord"`` (PostgreSQL cannot store NUL): the
    answer is 422 ``invalid_input`` naming that field, and no event is stored in any
    service."""
    before = {name: _stored_events(stack, db) for name, db in contract.databases.items()}
    probed: list[str] = []
    for service, process in contract.processes.items():
        document = httpx.get(f"{process.url}/openapi.json", timeout=30).json()
        role = Role.DATA_PROTECTION_OFFICER
        for method, route, where, name in _text_fields(document):
            headers = contract.headers(
                Role.PROVIDER_COACH
                if route.startswith("/provider/")
                else (role if route.startswith("/dpo/") else Role.TEAM_LEAD)
            )
            url = route
            params: dict[str, str] = {}
            body: Any = None
            for placeholder in {p.split("}")[0] for p in route.split("{")[1:]}:
                value = "mitte%00nord" if (where, name) == ("path", placeholder) else None
                url = url.replace("{" + placeholder + "}", value or _valid(placeholder))
            if where == "query":
                params[str(name)] = NUL
            if where == "body":
                body = _put({}, name, NUL)
            elif method in ("post", "put", "patch"):
                body = {}
            answer = httpx.request(
                method.upper(),
                f"{process.url}{url}",
                params=params,
                json=body,
                headers=headers,
                timeout=30,
            )
            location = [where, *(name if isinstance(name, tuple) else (name,))]
            what = f"{service} {method.upper()} {route} {'.'.join(map(str, location))}"
            assert answer.status_code == 422, f"{what}: {answer.status_code} {answer.text}"
            problem = answer.json()
            assert answer.headers["content-type"].startswith("application/problem+json"), what
            assert problem["code"] == "invalid_input", what
            named = {tuple(e["loc"]) for e in problem["errors"] if e["type"] != "missing"}
            assert tuple(location) in named, f"{what}: {problem['errors']}"
            probed.append(what)

    assert len(probed) > 40, probed  # every service has text fields; the walk found them
    for service in SERVICES:
        assert any(p.startswith(service) for p in probed), service
    after = {name: _stored_events(stack, db) for name, db in contract.databases.items()}
    assert after == before


def _valid(placeholder: str) -> str:
    """A valid value of a path parameter that is not probed."""
    if placeholder == "day":
        return "2026-12-01"
    if placeholder in ("district", "name"):
        return "kassel"
    return str(uuid.uuid4())


# --- schemathesis, all checks ------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_keeps_every_promise_of_its_openapi_document(
    contract: ContractServices, service: str, tmp_path: Path
) -> None:
    """All of schemathesis' checks: no server error, only declared statuses, content types,
    headers and bodies, schema-valid data accepted (see the hook for 422), schema-invalid
    data refused, a missing required header refused, undeclared methods answered 405 with
    ``Allow``, authentication not ignored, and the stateful sequences it infers."""
    config = tmp_path / "schemathesis.toml"
    config.write_text(_config(contract))
    url = f"{contract.processes[service].url}/openapi.json"
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(config),
        "run",
        url,
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "1",
        "--no-color",
    ]
    done = subprocess.run(
        command,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = done.stdout + done.stderr
    (tmp_path / "schemathesis.txt").write_text(report)
    assert done.returncode == 0, report[-20000:]
    summary = report.rsplit("SUMMARY", 1)[-1]
    assert " passed" in summary, report[-5000:]  # it ran test cases, and none failed
