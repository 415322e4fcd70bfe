"""View rows into the visits API's answers: the sealed fields opened for whoever may read
them, each opening noted in the request's access log (:class:`PersonalRead`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from uuid import UUID

from psycopg.rows import DictRow

from shared.dpo import opened_rows
from shared.http.access_log import PersonalRead
from shared.http.auth import Principal, Role
from shared.privacy import PersonalDataCipher
from shared.runtime.service import ExportPart
from visits.agenda import AgendaItem, Round, rounds
from visits.api.schemas import (
    Agenda,
    AgendaVisit,
    Board,
    BoardEntry,
    CalendarLink,
    CalendarLinks,
    ScheduleOut,
    VisitOut,
)
from visits.application import Visits
from visits.projections.board import BOARD_SECTIONS, PlanningBoardView
from visits.projections.records import VisitRecordView


def board_out(
    sections: dict[str, list[DictRow]],
    district: str,
    max_attempts: int,
    min_lead_days: int,
    cipher: PersonalDataCipher,
    read: PersonalRead,
) -> Board:
    """The board with each person's name (noted as read)."""
    for name in BOARD_SECTIONS:
        for row in sections[name]:
            read.opened(
                row["subject_id"], ["name"], district=district, resource=f"case:{row['case_id']}"
            )
    entries = {
        name: [
            BoardEntry(**{**row, "name": cipher.open(row["name_token"])}) for row in sections[name]
        ]
        for name in BOARD_SECTIONS
    }
    return Board(
        district=district,
        max_attempts=max_attempts,
        min_lead_days=min_lead_days,
        counts={name: len(rows) for name, rows in entries.items()},
        sections=entries,
    )


Versions = Callable[[UUID], int]
"""The current version of a visit from its event log: for a row of a view built before the
rows carried the version (until the view is rebuilt)."""


def version_of(row: DictRow, versions: Versions) -> int:
    """The visit's version (a command's ``expected_version``)."""
    return int(row["version"]) if row["version"] is not None else versions(row["visit_id"])


def may_read_note(principal: Principal, row: DictRow) -> bool:
    """A visit's note is for its own workers and the team lead."""
    return principal.role is Role.TEAM_LEAD or principal.user in row["workers"]


def visit_out(
    row: DictRow, cipher: PersonalDataCipher, read: PersonalRead, versions: Versions
) -> VisitOut:
    note = cipher.open_optional(row["note_token"]) if may_read_note(read.principal, row) else None
    read.opened(
        row["subject_id"],
        ["visit", "note"] if note is not None else ["visit"],
        district=row["district"],
        resource=f"case:{row['case_id']}",
    )
    return VisitOut(
        visit_id=row["visit_id"],
        version=version_of(row, versions),
        case_id=row["case_id"],
        district=row["district"],
        status=row["status"],
        schedule=schedule_out(row),
        purpose=row["purpose"],
        place=row["place"],
        workers=list(row["workers"]),
        announced_on=row["announced_on"],
        cancelled_reason=row["cancelled_reason"],
        cancelled_on=row["cancelled_on"],
        outcome=row["outcome"],
        needs=row["needs"],
        note=note,
        coaching_referral_consent=row["coaching_referral_consent"],
        next_step=row["next_step"],
        completed_on=row["completed_on"],
        attempt_number=row["attempt_number"],
    )


def schedule_out(row: DictRow) -> ScheduleOut:
    return ScheduleOut(
        first_day=row["first_day"],
        last_day=row["last_day"],
        time_from=row["time_from"],
        time_to=row["time_to"],
    )


def agenda_rounds(
    read: PersonalRead,
    worker: str,
    first: dt.date,
    last: dt.date,
    visits: Visits,
    records: VisitRecordView,
    cipher: PersonalDataCipher,
) -> list[Round]:
    """The worker's announced visits from ``first`` to ``last``, day by day in round order,
    as the reader may see them (the agenda, its iCalendar and the calendar links alike)."""
    rows = records.agenda(worker, first, sorted(read.principal.districts), last_day=last)
    items = agenda_items(rows, cipher, read, visits.version_of)
    read.flush()  # here, in the route's thread: the entries in one insert
    return rounds(items, first, last)


def agenda_items(
    rows: Sequence[DictRow], cipher: PersonalDataCipher, read: PersonalRead, versions: Versions
) -> list[AgendaItem]:
    """The day's visits; name, address and place only of the visits the reader makes (the
    address of the others is opened for the round order, never shown)."""
    # The persons' keys in one query; their names and places are under the same keys.
    addresses = cipher.open_all(row["address_token"] for row in rows)
    return [
        _agenda_item(row, address, cipher, read, version_of(row, versions))
        for row, address in zip(rows, addresses, strict=True)
    ]


def _agenda_item(
    row: DictRow, address: str, cipher: PersonalDataCipher, read: PersonalRead, version: int
) -> AgendaItem:
    assigned = read.principal.user in row["workers"]
    if assigned:
        read.opened(
            row["subject_id"],
            ["name", "address", "place_description", "visit"],
            district=row["district"],
            resource=f"case:{row['case_id']}",
        )
    return AgendaItem(
        visit_id=row["visit_id"],
        version=version,
        case_id=row["case_id"],
        first_day=row["first_day"],
        last_day=row["last_day"],
        time_from=dt.time.fromisoformat(row["time_from"]) if row["time_from"] else None,
        time_to=dt.time.fromisoformat(row["time_to"]) if row["time_to"] else None,
        purpose=row["purpose"],
        place=row["place"],
        workers=tuple(row["workers"]),
        sort_address=address,
        name=cipher.open(row["name_token"]) if assigned else None,
        address=address if assigned else None,
        place_description=(
            cipher.open_optional(row["place_description_token"]) if assigned else None
        ),
    )


def agenda_out(worker: str, day: dt.date, items: Sequence[AgendaItem]) -> Agenda:
    return Agenda(
        worker=worker,
        day=day,
        visits=[
            AgendaVisit(
                visit_id=i.visit_id,
                version=i.version,
                case_id=i.case_id,
                schedule=ScheduleOut(
                    first_day=i.first_day,
                    last_day=i.last_day,
                    time_from=i.time_from.isoformat("minutes") if i.time_from else None,
                    time_to=i.time_to.isoformat("minutes") if i.time_to else None,
                ),
                purpose=i.purpose,
                place=i.place,
                workers=list(i.workers),
                name=i.name,
                address=i.address,
                place_description=i.place_description,
            )
            for i in items
        ],
    )


def calendar_links_out(rows: Sequence[DictRow]) -> CalendarLinks:
    return CalendarLinks(
        links=[
            CalendarLink(
                link_id=row["feed_id"],
                districts=row["districts"],
                created_at=row["created_at"],
                last_fetched_at=row["last_fetched_at"],
            )
            for row in rows
        ]
    )


def subject_export(
    cipher: PersonalDataCipher,
    board: PlanningBoardView,
    records: VisitRecordView,
    subject: UUID,
    districts: frozenset[str],
) -> ExportPart:
    """The visits part of a person's Art. 15 export, of ``districts``: their place on the
    planning board (with their name) and their visits (with notes and places)."""
    on_board = board.of_subject(subject, districts)
    visits = records.of_subject(subject, districts)
    return {
        "districts": sorted({row["district"] for row in (*on_board, *visits)}),
        "personal_data": {
            "planning_board": opened_rows(on_board, subject, cipher),
            "visits": opened_rows(visits, subject, cipher),
        },
        "recipients": [],
    }
