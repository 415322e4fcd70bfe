"""Personal data never appears in plaintext outside the API's answer to an authorised user,
and erasing a person's key makes it unreadable everywhere (crypto-shredding)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from psycopg import sql

from shared.contracts import topic_of
from shared.keyring import Keyring
from shared.privacy import ERASED
from shared.settings import KEYRING_DATABASE, ServiceSettings
from tests.support.e2e import ContactsApi, ProbeView, event_id
from tests.support.helpers import eventually, person
from tests.support.processes import ProbeProcess, ServiceProcess, read_topic

pytestmark = pytest.mark.e2e

PG_DUMP_FALLBACK = Path("/usr/lib/postgresql/15/bin/pg_dump")


def pg_dump(settings: ServiceSettings, database: str) -> bytes:
    program = PG_DUMP_FALLBACK if PG_DUMP_FALLBACK.exists() else shutil.which("pg_dump")
    assert program, "pg_dump not found"
    done = subprocess.run(
        [
            str(program),
            "--host",
            settings.pg_host,
            "--port",
            str(settings.pg_port),
            "--username",
            settings.pg_user,
            "--no-password",
            database,
        ],
        env={**os.environ, "PGPASSWORD": settings.pg_password.get_secret_value()},
        capture_output=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def table_contents(settings: ServiceSettings, database: str) -> dict[str, bytes]:
    """Every row of every table, ``bytea`` values as their raw bytes (a dump shows them as
    hex, which would hide plaintext from a byte search)."""

    def raw(value: Any) -> bytes:
        if isinstance(value, bytes | memoryview):
            return bytes(value)
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False).encode()
        return str(value).encode()

    contents: dict[str, bytes] = {}
    with psycopg.connect(settings.database_url(database)) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        for schema, table in tables:
            rows = conn.execute(
                sql.SQL("SELECT * FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            ).fetchall()
            contents[f"{schema}.{table}"] = b"\n".join(
                b"\t".join(raw(value) for value in row) for row in rows
            )
    return contents


def test_personal_data_is_stored_published_logged_and_traced_only_sealed(
    api: ContactsApi,
    contacts_service: ServiceProcess,
    contacts_database: str,
    probe: ProbeProcess,
    probe_view: ProbeView,
    stack: ServiceSettings,
    district: str,
) -> None:
    born = date(1950, 1, 1) + timedelta(days=random.randrange(365 * 45))
    who = person(date_of_birth=born.isoformat())
    new_phone = f"0170 {random.randrange(10**7):07d}"
    manager = api.auth("cm-lange", "case_manager", district)
    created = api.report(manager, district, who)
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    assert api.update_details(manager, case_id, phone=new_phone).status_code == 200
    probe_view.wait_for(probe.group, district, {event_id(case_id, 1), event_id(case_id, 2)})

    def updated_in_detail_view() -> dict[str, Any] | None:
        detail = api.detail_when_projected(manager, case_id)
        return detail if detail["person"]["phone"] == new_phone else None

    detail = eventually(updated_in_detail_view, timeout=30, what="the new phone in the view")
    subject = UUID(detail["subject"])
    secrets = {
        "name": who["name"],
        "address": who["address"],
        "phone": who["phone"],
        "new phone": new_phone,
        "customer number": who["customer_number"],
        "date of birth": who["date_of_birth"],
    }

    tables = table_contents(stack, contacts_database)
    places: dict[str, bytes] = {
        **{f"table {name}": content for name, content in tables.items()},
        "pg_dump of the contacts database": pg_dump(stack, contacts_database),
        "pg_dump of the keyring database": pg_dump(stack, KEYRING_DATABASE),
        "topic outreach.contacts": b"\n".join(
            record.value for record in read_topic(stack, topic_of("contacts"))
        ),
        "contacts log": contacts_service.log_path.read_bytes(),
        "contacts trace file": contacts_service.trace_path.read_bytes(),
        "probe log": probe.log_path.read_bytes(),
        "probe trace file": probe.trace_path.read_bytes(),
    }
    leaks = [
        f"{what} in {where}"
        for where, content in places.items()
        for what, value in secrets.items()
        if value.encode() in content
    ]
    assert leaks == []

    token = f"pii:v1:{subject.hex}:".encode()
    events = tables["public.contacts_events"]
    assert district.encode() in events  # the search sees the stored events as they are
    assert token in events
    assert token in places["topic outreach.contacts"]
    assert token in tables["public.case_detail"]


def test_erasing_the_persons_key_makes_every_personal_field_read_as_erased(
    api: ContactsApi, keyring: Keyring, district: str
) -> None:
    manager = api.auth("cm-lange", "case_manager", district)
    created = api.report(manager, district, person())
    assert created.status_code == 201, created.text
    case_id = created.json()["case_id"]
    subject = UUID(api.detail_when_projected(manager, case_id)["subject"])

    keyring.destroy(subject)

    detail = api.detail(manager, case_id)
    assert detail.status_code == 200, detail.text
    assert detail.json()["person"] == {
        "customer_number": ERASED,
        "name": ERASED,
        "address": ERASED,
        "phone": ERASED,
        "date_of_birth": ERASED,
    }
    queue = api.queue(manager, district)
    assert queue.status_code == 200, queue.text
    assert [case["name"] for case in queue.json()["cases"]] == [ERASED]
    # New personal data can no longer be sealed for the person: a conflict, not a crash.
    refused = api.update_details(manager, case_id, phone="0561 222222")
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "subject_erased"
