"""View rows and aggregates into the coaching API's answers: the sealed fields opened for
whoever may read them, each opening noted in the request's access log
(:class:`PersonalRead`); and the coaching part of a person's Art. 15 export."""

from __future__ import annotations

import datetime as dt
from uuid import UUID

from psycopg.rows import DictRow

from coaching.api.deps import CoachingContext
from coaching.api.schemas import (
    Attendance,
    CoachingOut,
    CoachingState,
    CoachOut,
    HandoverPacket,
    HouseholdMember,
    Participant,
    PartnerReferral,
    ProgrammeOut,
    ProgrammeState,
    ProviderOut,
    Roster,
    SharedContact,
)
from coaching.domain import Coach, Coaching, Programme
from shared.dpo import opened_rows
from shared.http.access_log import PersonalRead
from shared.privacy import PersonalDataCipher
from shared.runtime.service import ExportPart


def coaching_state(coaching: Coaching) -> CoachingState:
    return CoachingState(
        coaching_id=coaching.id,
        status=coaching.status.value,
        coach=coaching.coach,
        starts_on=coaching.starts_on,
        ends_on=coaching.ends_on,
        extensions=coaching.extensions,
        sessions_held=coaching.sessions_held,
    )


def programme_state(programme: Programme) -> ProgrammeState:
    return ProgrammeState(
        programme_id=programme.id,
        enrolled=len(programme.participants),
        free_places=programme.free_places,
    )


def new_coach_out(coach: Coach) -> CoachOut:
    return CoachOut(
        coach=coach.user,
        display_name=coach.display_name,
        max_caseload=coach.max_caseload,
        caseload=0,
        free_places=coach.free_places,
        emergency_line=coach.emergency_line,
    )


def provider_out(context: CoachingContext, row: DictRow) -> ProviderOut:
    """The provider with its coaches, their caseload and free places."""
    return ProviderOut(
        provider_id=row["provider_id"],
        name=row["name"],
        districts=list(row["districts"]),
        initial_term_months=row["initial_months"],
        extension_months=row["extension_months"],
        max_extensions=row["max_extensions"],
        outreach_districts=sorted(row["outreach_districts"]),
        coaches=[
            CoachOut(
                coach=c["coach"],
                display_name=c["display_name"],
                max_caseload=c["max_caseload"],
                caseload=c["caseload"],
                free_places=c["free_places"],
                emergency_line=c["emergency_line"],
            )
            for c in context.registry.coaches(row["provider_id"])
        ],
    )


def household(cipher: PersonalDataCipher, row: DictRow) -> list[HouseholdMember]:
    return [
        HouseholdMember(name=cipher.open(m["name_token"]), relation=m["relation"])
        for m in row["household"]
    ]


def coaching_out(
    context: CoachingContext, row: DictRow, case: DictRow | None, read: PersonalRead
) -> CoachingOut:
    """A coaching for the Jobcenter's staff, with the person's name (noted as read)."""
    read.opened(
        row["subject_id"],
        ["coaching", "household", *(["name"] if case else [])],
        district=row["district"],
        resource=f"coaching:{row['coaching_id']}",
    )
    return CoachingOut(
        coaching_id=row["coaching_id"],
        case_id=row["case_id"],
        district=row["district"],
        name=context.cipher.open(case["name_token"]) if case else None,
        source=row["source"],
        status=row["status"],
        needs=list(row["needs"]),
        shared_fields=list(row["shared_fields"]),
        requested_on=row["requested_on"],
        requested_by=row["requested_by"],
        provider_id=row["provider_id"],
        provider_name=row["provider_name"],
        coach=row["coach"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        extensions=row["extensions"],
        sessions_held=row["sessions_held"],
        last_session_on=row["last_session_on"],
        household=household(context.cipher, row),
        partner_referrals=[PartnerReferral(**r) for r in row["partner_referrals"]],
        ended_reason=row["ended_reason"],
        ended_on=row["ended_on"],
    )


def coachings_out(
    context: CoachingContext, rows: list[DictRow], read: PersonalRead
) -> list[CoachingOut]:
    cases = context.directory.cases([row["case_id"] for row in rows])
    return [coaching_out(context, row, cases.get(row["case_id"]), read) for row in rows]


def packet_out(
    context: CoachingContext, row: DictRow, case: DictRow | None, read: PersonalRead
) -> HandoverPacket:
    """The allow-listed hand-over: contact data and needs only as far as consented."""
    shared = set(row["shared_fields"])
    read.opened(
        row["subject_id"],
        ["coaching", "household", *(f for f in shared if case is not None or f == "needs")],
        district=row["district"],
        resource=f"coaching:{row['coaching_id']}",
    )
    open_ = context.cipher.open_optional
    person = SharedContact()
    if case is not None:
        person = SharedContact(
            name=open_(case["name_token"]) if "name" in shared else None,
            address=open_(case["address_token"]) if "address" in shared else None,
            phone=open_(case["phone_token"]) if "phone" in shared else None,
        )
    return HandoverPacket(
        coaching_id=row["coaching_id"],
        district=row["district"],
        status=row["status"],
        coach=row["coach"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        extensions=row["extensions"],
        sessions_held=row["sessions_held"],
        last_session_on=row["last_session_on"],
        shared_fields=sorted(shared),
        person=person,
        needs=list(row["needs"]) if "needs" in shared else [],
        household=household(context.cipher, row),
        partner_referrals=[PartnerReferral(**r) for r in row["partner_referrals"]],
        ended_reason=row["ended_reason"],
        ended_on=row["ended_on"],
    )


def packets_out(
    context: CoachingContext, rows: list[DictRow], read: PersonalRead
) -> list[HandoverPacket]:
    cases = context.directory.cases([row["case_id"] for row in rows])
    return [packet_out(context, row, cases.get(row["case_id"]), read) for row in rows]


def programme_out(row: DictRow) -> ProgrammeOut:
    return ProgrammeOut(
        programme_id=row["programme_id"],
        district=row["district"],
        local_office=row["local_office"],
        title=row["title"],
        target_group=row["target_group"],
        dates=[dt.date.fromisoformat(d) for d in row["dates"]],
        capacity=row["capacity"],
        enrolled=row["enrolled"],
        free_places=max(row["capacity"] - row["enrolled"], 0),
        open_to_neighbouring=row["open_to_neighbouring"],
        mobile=row["mobile"],
    )


def roster_out(context: CoachingContext, row: DictRow, read: PersonalRead) -> Roster:
    """The programme with its participants (names noted as read) and their attendance."""
    programme_id = row["programme_id"]
    participants = context.programmes.roster(programme_id)
    cases = context.directory.cases([p["case_id"] for p in participants])
    for p in participants:
        read.opened(
            p["subject_id"],
            ["programme_participation", *(["name"] if p["case_id"] in cases else [])],
            district=p["participant_district"],
            resource=f"programme:{programme_id}",
        )
    attendance: dict[UUID, list[Attendance]] = {}
    for a in context.programmes.attendance(programme_id):
        attendance.setdefault(a["case_id"], []).append(
            Attendance(session_on=a["session_on"], present=a["present"])
        )
    return Roster(
        programme=programme_out(row),
        participants=[
            Participant(
                case_id=p["case_id"],
                name=context.cipher.open(cases[p["case_id"]]["name_token"])
                if p["case_id"] in cases
                else None,
                participant_district=p["participant_district"],
                enrolled_on=p["enrolled_on"],
                completed_on=p["completed_on"],
                attendance=attendance.get(p["case_id"], []),
            )
            for p in participants
        ],
    )


def subject_export(
    context: CoachingContext, subject: UUID, districts: frozenset[str]
) -> ExportPart:
    """The coaching part of a person's Art. 15 export, of ``districts``: their cases as
    known here, coachings (with household and partner referrals), programme participations
    (of programmes of those districts), and the providers their data was handed over to
    (with the fields they consented to share)."""
    cases = context.directory.of_subject(subject, sorted(districts))
    coachings = [row for row in context.records.history(subject) if row["district"] in districts]
    participations = context.programmes.participations_of(subject, sorted(districts))
    found = {row["district"] for row in (*cases, *coachings)}
    found |= {row["programme_district"] for row in participations}
    return {
        "districts": sorted(found),
        "personal_data": {
            "cases": opened_rows(cases, subject, context.cipher),
            "coachings": opened_rows(coachings, subject, context.cipher),
            "programme_participations": opened_rows(participations, subject, context.cipher),
        },
        "recipients": [_recipient(row) for row in coachings if row["provider_id"] is not None],
    }


def _recipient(row: DictRow) -> dict[str, object]:
    """A provider the person's data was handed over to, with the fields they shared."""
    return {
        "recipient": row["provider_name"],
        "kind": "coaching provider (hand-over packet)",
        "provider_id": str(row["provider_id"]),
        "coach": row["coach"],
        "fields": sorted(row["shared_fields"]),
        "since": row["starts_on"].isoformat() if row["starts_on"] else None,
        "coaching_id": str(row["coaching_id"]),
    }
