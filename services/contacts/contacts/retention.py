"""Retention: erase what is no longer needed once its period after the end of the case ran.

    python -m contacts.retention run --dry-run    # the report: what would be erased, what is held
    python -m contacts.retention run              # request those erasures from contacts

Periods per data category start when the person's last outreach case was closed; a person
with an open case keeps everything. Defaults (``RetentionPeriods``), per district changeable
with ``OUTREACH_RETENTION_PERIODS`` (JSON, e.g. ``{"kassel": {"case_record_years": 10}}``):

- ``case_record`` — the case, visits, coaching, letters: **5 years** after closing. When it
  ends, the person is erased (crypto-shredding, ``SubjectErased``; ground
  ``retention_period_ended``) unless a legal hold is placed: then the report says "held".
- ``visit_notes`` — free-text notes of home visits: **1 year** after closing. Notes are sealed
  with a data key of their own (category ``visit_note``, :mod:`shared.privacy`); when the
  period ends only that key is destroyed (``POST /dpo/category-erasures``): the notes read
  ``[erased]`` everywhere, the case record stays. A legal hold keeps them too ("held"). Notes
  of a later case (sealed with a new key) are due again one year after that case closed.

The job reads the contacts database's views (cases, their closing, legal holds, erasures of
persons and of categories) and requests each erasure from the contacts service
(``POST /dpo/erasures``, ``POST /dpo/category-erasures``) as the user ``retention-job`` with
the data protection officer's role, so the legal-hold check and the audit trail (the
``Erasure`` and ``CategoryErasure`` events in contacts' hash-chained event store) are the
same as for an erasure requested by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING
from uuid import UUID

from shared.privacy import DataCategory
from shared.retention import RetentionPeriods, RetentionSettings
from shared.settings import SERVICE_PORTS

if TYPE_CHECKING:
    import httpx


class RetentionJobSettings(RetentionSettings):
    """The periods, and where the job finds the contacts service and its database."""

    contacts_url: str = f"http://127.0.0.1:{SERVICE_PORTS['contacts']}"
    contacts_database: str = "contacts"


@dataclass(frozen=True)
class PersonRecord:
    """What the job knows of one person (pseudonym), from the contacts views."""

    subject: UUID
    districts: tuple[str, ...]
    open_cases: int
    last_closed_on: date | None
    legal_hold: bool
    erased: bool
    notes_erased_on: date | None = None
    """When the key of the person's visit notes was last destroyed (``None``: never)."""


class Action(StrEnum):
    ERASE = "erase"
    HELD = "held"
    """Due, but a legal hold keeps it."""


CASE_RECORD = "case_record"
VISIT_NOTES = "visit_notes"

KEY_CATEGORIES = {VISIT_NOTES: DataCategory.VISIT_NOTE}
"""The retention categories erased on their own, and the data key each destroys (the case
record erases the person, every key)."""


@dataclass(frozen=True)
class Decision:
    subject: UUID
    district: str
    category: str
    action: Action
    due_on: date


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def decide(
    people: Iterable[PersonRecord],
    periods: Callable[[str], RetentionPeriods],
    today: date,
) -> list[Decision]:
    """What is due today. A person with cases in several districts keeps the longest period."""
    decisions: list[Decision] = []
    for person in people:
        if person.erased or person.open_cases or person.last_closed_on is None:
            continue
        district = max(person.districts, key=lambda d: periods(d).case_record_years)
        record_due = _add_years(person.last_closed_on, periods(district).case_record_years)
        notes_due = _add_years(
            person.last_closed_on, max(periods(d).visit_notes_years for d in person.districts)
        )
        action = Action.HELD if person.legal_hold else Action.ERASE
        if record_due <= today:  # erasing the person takes the notes with it
            decisions.append(Decision(person.subject, district, CASE_RECORD, action, record_due))
        elif notes_due <= today and not _notes_erased_since(person):
            decisions.append(Decision(person.subject, district, VISIT_NOTES, action, notes_due))
    return decisions


def _notes_erased_since(person: PersonRecord) -> bool:
    """Whether the notes' key was destroyed after the person's last case closed (notes of an
    earlier case erased, then a new case: its notes have a new key and are due again)."""
    return (
        person.notes_erased_on is not None
        and person.last_closed_on is not None
        and person.notes_erased_on >= person.last_closed_on
    )


def report(decisions: Iterable[Decision], *, dry_run: bool) -> str:
    lines = [f"retention run ({'dry run: nothing changed' if dry_run else 'erasures requested'})"]
    counts: dict[str, int] = {}
    for d in decisions:
        counts[d.action.value] = counts.get(d.action.value, 0) + 1
        lines.append(
            f"{d.action.value:<28} {d.category:<12} due {d.due_on.isoformat()}  "
            f"district {d.district}  subject {d.subject}"
        )
    summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing due"
    lines.append(f"summary: {summary}")
    return "\n".join(lines)


PEOPLE_SQL = """
SELECT d.subject_id,
       array_agg(DISTINCT d.district) AS districts,
       count(DISTINCT d.case_id) FILTER (WHERE d.status <> 'closed') AS open_cases,
       max(t.occurred_at) AS last_closed_at,
       coalesce(bool_or(h.active), false) AS legal_hold,
       coalesce(bool_or(e.key_destroyed_at IS NOT NULL), false) AS erased,
       max(c.key_destroyed_at) AS notes_erased_at
FROM case_detail d
LEFT JOIN case_timeline t ON t.case_id = d.case_id AND t.event_type = 'Closed'
LEFT JOIN legal_holds h ON h.subject_id = d.subject_id
LEFT JOIN erasures e ON e.subject_id = d.subject_id
LEFT JOIN category_erasures c ON c.subject_id = d.subject_id AND c.category = 'visit_note'
GROUP BY d.subject_id
"""


def read_people(dsn: str) -> list[PersonRecord]:
    import psycopg

    with psycopg.connect(dsn) as conn:
        try:
            rows = conn.execute(PEOPLE_SQL).fetchall()
        except psycopg.errors.UndefinedTable as error:
            raise SystemExit(
                f"the contacts views are not there ({error.diag.message_primary}): "
                "start the contacts service of this version once"
            ) from None
    return [
        PersonRecord(
            subject=UUID(str(subject)),
            districts=tuple(districts),
            open_cases=int(open_cases),
            last_closed_on=closed.date() if isinstance(closed, datetime) else None,
            legal_hold=bool(held),
            erased=bool(erased),
            notes_erased_on=notes_erased.date() if isinstance(notes_erased, datetime) else None,
        )
        for subject, districts, open_cases, closed, held, erased, notes_erased in rows
    ]


def erasure_request(decision: Decision) -> tuple[str, dict[str, str]]:
    """The contacts route and body that erase what ``decision`` found due: the person (case
    record) or one data category's key (visit notes)."""
    body = {
        "subject": str(decision.subject),
        "ground": "retention_period_ended",
        "reason": f"Aufbewahrungsfrist abgelaufen ({decision.category}, "
        f"fällig {decision.due_on.isoformat()})",
    }
    category = KEY_CATEGORIES.get(decision.category)
    if category is None:
        return "/dpo/erasures", body
    return "/dpo/category-erasures", {**body, "category": category.value}


def request_erasures(
    decisions: Iterable[Decision],
    settings: RetentionJobSettings,
    client: httpx.Client | None = None,
) -> list[tuple[Decision, str]]:
    """Ask contacts to erase everything due (not what is held); the outcome of each request.
    ``client``: one to contacts (by default one to ``settings.contacts_url``)."""
    import contextlib

    import httpx

    from shared.http.auth import Principal, Role
    from shared.http.oidc import JobTokens

    tokens = JobTokens(settings)
    outcomes: list[tuple[Decision, str]] = []
    with contextlib.ExitStack() as stack:
        if client is None:
            client = stack.enter_context(httpx.Client(base_url=settings.contacts_url, timeout=30))
        for decision in decisions:
            if decision.action is not Action.ERASE:
                continue
            # With the jobs' client (OUTREACH_OIDC_CLIENT_ID) the identity provider says who
            # the job is and in which districts it may erase; in development without one, a
            # token is minted for the officer role in the decision's district.
            token = tokens.token(
                Principal(
                    user="retention-job",
                    role=Role.DATA_PROTECTION_OFFICER,
                    districts=frozenset({decision.district}),
                )
            )
            path, request = erasure_request(decision)
            response = client.post(path, headers={"Authorization": f"Bearer {token}"}, json=request)
            body: Mapping[str, object] = response.json() if response.content else {}
            outcome = (
                f"erasure {body.get('erasure_id')}"
                if response.status_code == 202
                else f"refused {response.status_code} {body.get('code')}"
            )
            outcomes.append((decision, outcome))
    return outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m contacts.retention", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="erase what is due (or only report it with --dry-run)")
    run.add_argument("--dry-run", action="store_true", help="report only; change nothing")
    run.add_argument("--today", type=date.fromisoformat, default=None)
    run.add_argument("--json", action="store_true", help="one JSON object per decision")
    run.add_argument("--database", help="the contacts database, if not OUTREACH_CONTACTS_DATABASE")
    args = parser.parse_args(argv)
    settings = RetentionJobSettings()
    people = read_people(settings.database_url(args.database or settings.contacts_database))
    decisions = decide(people, settings.periods, args.today or date.today())
    if args.json:
        for decision in decisions:
            sys.stdout.write(json.dumps(asdict(decision), default=str) + "\n")
    else:
        sys.stdout.write(report(decisions, dry_run=args.dry_run) + "\n")
    if not args.dry_run:
        for decision, outcome in request_erasures(decisions, settings):
            sys.stdout.write(f"{decision.subject} {decision.category}: {outcome}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
