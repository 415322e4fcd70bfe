"""The data protection officer's tools: the Art. 15 GDPR export of one person.

Each service answers ``GET /dpo/subjects/{subject}/export`` (role
``data_protection_officer``) with its part: the personal data it holds (opened), every
stored event about the person (personal fields opened, other persons' fields withheld), the
recipients the data went to, its access-log entries and break-glass grants. Reading the
export is itself logged (purpose ``audit``).

    python -m shared.dpo export SUBJECT --district kassel --out DIR

asks every service of ``SERVICE_PORTS`` that is up (on 127.0.0.1, or the URLs given with
``--service NAME=URL``) with a DPO token (of the jobs' client, ``OUTREACH_OIDC_CLIENT_ID``;
in development without one, minted from the settings), and writes ``DIR/export.json`` and
``DIR/export.pdf``, the answer to the person in German (``shared.dpo_pdf``). ``--district``
(repeatable) names the officer's districts: the export holds what those districts hold about
the person.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import sql
from pydantic_core import to_jsonable_python

from shared.dpo_pdf import render_pdf
from shared.eventsourcing.application import OutreachApplication
from shared.http.auth import Principal, Role
from shared.http.oidc import JobTokens
from shared.privacy import TOKEN_PREFIX, PersonalDataCipher, subject_of
from shared.retention import RetentionSettings
from shared.settings import SERVICE_PORTS

WITHHELD = "[another person]"
"""What stands in an export for a personal field of someone else (e.g. a co-participant)."""

_EVENT_KEYS = {"originator_id", "originator_version", "timestamp", "meta", "originator_topic"}


def open_for(subject: UUID, cipher: PersonalDataCipher, value: Any) -> Any:
    """``value`` with every sealed field of ``subject`` opened and others' fields withheld."""
    if isinstance(value, str) and value.startswith(TOKEN_PREFIX):
        try:
            owner = subject_of(value)
        except ValueError:
            return WITHHELD
        return cipher.open(value) if owner == subject else WITHHELD
    if isinstance(value, Mapping):
        return {str(k): open_for(subject, cipher, v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [open_for(subject, cipher, v) for v in value]
    return value


def opened_rows(rows: list[Any], subject: UUID, cipher: PersonalDataCipher) -> list[dict[str, Any]]:
    """View rows for an export: sealed columns (``<name>_token``) opened as ``<name>``."""
    return [
        to_jsonable_python(
            {k.removesuffix("_token"): open_for(subject, cipher, v) for k, v in row.items()}
        )
        for row in rows
    ]


def subject_events(
    app: OutreachApplication,
    cipher: PersonalDataCipher,
    subject: UUID,
    *,
    districts: Collection[str] | None = None,
) -> list[dict[str, Any]]:
    """Every stored event about ``subject``, in the order they were stored; of ``districts``
    only, when given (the district an event was recorded for is in its metadata; an event
    without one, e.g. of a provider's registry, is not any one district's).

    An aggregate whose first event names the person (their case, visit, coaching) is theirs:
    all its events are exported. Of an aggregate of many people (a programme, a coach) only
    the events that name the person are. Found by the pseudonym in the stored bytes (sealed
    fields carry it, and so does each event's metadata): a scan of the event table, which
    suits a request a data protection officer makes now and then.
    """
    versions: dict[UUID, set[int]] = {}
    for aggregate_id, version in _naming(app, subject):
        versions.setdefault(aggregate_id, set()).add(version)
    records = []
    for aggregate_id, named in versions.items():
        owned = 1 in named
        for event in app.repository.event_store.get(aggregate_id):
            if not (owned or event.originator_version in named):
                continue
            district = (getattr(event, "meta", None) or {}).get("district")
            if districts is None or district is None or district in districts:
                records.append(event_record(event, subject, cipher))
    records.sort(key=lambda r: (r["occurred_at"], r["aggregate_id"], r["version"]))
    return records


def _naming(app: OutreachApplication, subject: UUID) -> list[tuple[UUID, int]]:
    """(aggregate, version) of every stored event whose bytes carry the pseudonym."""
    needles = (subject.hex.encode(), str(subject).encode())
    if not isinstance(app.recorder, PostgresApplicationRecorder):  # in-memory (unit tests)
        return [
            (UUID(str(n.originator_id)), n.originator_version)
            for n in app.recorder.select_notifications(start=None, limit=10**9)
            if any(needle in n.state for needle in needles)
        ]
    table = sql.Identifier(app.recorder.events_table_name)
    with app.recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(
            sql.SQL(
                "SELECT originator_id, originator_version FROM {} "
                "WHERE position(%s::bytea in state) > 0 OR position(%s::bytea in state) > 0 "
                "ORDER BY notification_id"
            ).format(table),
            needles,
        )
        return [
            (UUID(str(r["originator_id"])), int(r["originator_version"])) for r in cursor.fetchall()
        ]


def event_record(event: Any, subject: UUID, cipher: PersonalDataCipher) -> dict[str, Any]:
    meta = getattr(event, "meta", None) or {}
    kind = type(event).__qualname__
    data = {k: v for k, v in vars(event).items() if k not in _EVENT_KEYS}
    return {
        "aggregate": kind.rsplit(".", 1)[0],
        "aggregate_id": str(event.originator_id),
        "version": event.originator_version,
        "event_type": kind.rsplit(".", 1)[-1],
        "occurred_at": event.timestamp.isoformat(),
        "district": meta.get("district"),
        "actor": meta.get("actor"),
        "role": meta.get("role"),
        "data": to_jsonable_python(open_for(subject, cipher, data)),
    }


# --- gathering from the services ----------------------------------------------------------


def gather(
    subject: UUID,
    services: Mapping[str, str],
    token: str,
    timeout: float = 60.0,
    get: Callable[..., httpx.Response] = httpx.get,
) -> dict[str, Any]:
    """Every reachable service's part of the export (of the districts on ``token``); the
    services that hold nothing about the person there (404) and the unreachable ones are
    named."""
    parts: dict[str, Any] = {}
    nothing: list[str] = []
    unavailable: dict[str, str] = {}
    headers = {"Authorization": f"Bearer {token}", "X-Purpose": "audit: Art. 15 GDPR export"}
    for name, url in services.items():
        try:
            response = get(
                f"{url.rstrip('/')}/dpo/subjects/{subject}/export", headers=headers, timeout=timeout
            )
        except httpx.HTTPError as error:
            unavailable[name] = f"not reachable: {type(error).__name__}"
            continue
        if response.status_code == 404:  # holds nothing about the person in our districts
            nothing.append(name)
            continue
        if response.status_code != 200:
            unavailable[name] = f"answered {response.status_code}: {response.text[:200]}"
            continue
        parts[name] = response.json()
    return {
        "subject": str(subject),
        "generated_at": datetime.now(UTC).isoformat(),
        "legal_basis": "Art. 15 GDPR (right of access), §83 SGB X",
        "services": parts,
        "nothing_held": nothing,
        "unavailable": unavailable,
    }


# --- the command --------------------------------------------------------------------------


def service_urls(overrides: list[str]) -> dict[str, str]:
    """``--service NAME=URL`` given: those only; otherwise every service on 127.0.0.1."""
    if overrides:
        pairs = [item.split("=", 1) for item in overrides]
        if any(len(pair) != 2 for pair in pairs):
            raise SystemExit("--service takes NAME=URL")
        return {name: url for name, url in pairs}
    return {name: f"http://127.0.0.1:{port}" for name, port in SERVICE_PORTS.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.dpo", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    export = sub.add_parser("export", help="gather one person's Art. 15 export")
    export.add_argument("subject", type=UUID, help="the person's pseudonym (subject)")
    export.add_argument("--out", type=Path, required=True, help="directory to write into")
    export.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="ask this service at this URL (repeatable); default: every service locally",
    )
    export.add_argument("--user", default="dpo-export", help="the officer's user id")
    export.add_argument(
        "--district",
        action="append",
        dest="districts",
        required=True,
        help="the officer's district (repeatable): the export holds what these districts hold",
    )
    args = parser.parse_args(argv)
    settings = RetentionSettings()
    officer = Principal(
        user=args.user, role=Role.DATA_PROTECTION_OFFICER, districts=frozenset(args.districts)
    )
    # The jobs' client when configured (OUTREACH_OIDC_CLIENT_ID: the identity provider names
    # the officer and districts); otherwise, in development, a token for --user/--district.
    token = JobTokens(settings).token(officer)
    result = gather(args.subject, service_urls(args.service), token)
    retention = {
        district: (periods.case_record_years, periods.visit_notes_years)
        for district in args.districts
        if (periods := settings.periods(district))
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "export.json").write_text(json.dumps(result, indent=2, ensure_ascii=False))
    (args.out / "export.pdf").write_bytes(render_pdf(result, retention))
    sys.stdout.write(
        json.dumps(
            {
                "json": str(args.out / "export.json"),
                "pdf": str(args.out / "export.pdf"),
                "services": sorted(result["services"]),
                "unavailable": result["unavailable"],
            }
        )
        + "\n"
    )
    return 0 if result["services"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
