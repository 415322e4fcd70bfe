"""HTTP routes of the notifications service: typed models in and out, no business logic."""

from datetime import date, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import PlainTextResponse, Response
from jinja2 import TemplateNotFound
from psycopg.rows import DictRow
from pydantic import BaseModel, Field

from notifications.application import Notifications
from notifications.channels import DeliveryError
from notifications.deps import Context, NotificationsContext
from notifications.letters import Letter, batch_pdf, letter_pdf, privacy_notice
from notifications.rendering import TEMPLATES, FormOfAddress, addressed
from notifications.settings import Letterhead
from shared.dpo import opened_rows
from shared.errors import ApplicationError, ConflictError, InvalidInputError, NotFoundError
from shared.eventsourcing.meta import CommandContext
from shared.http.access_log import PersonalRead
from shared.http.auth import Principal, Role
from shared.http.deps import CurrentUser, reading
from shared.http.inputs import IsoDate, Key, Line, QueryInt, StrictModel, Text, Uuid
from shared.privacy import ERASED
from shared.runtime.service import ExportPart

LETTER_FIELDS = ("name", "address", "letter")
"""What a stored letter reveals of its addressee (logged in the access log)."""

STAFF = (Role.TEAM_LEAD, Role.CASE_MANAGER, Role.OUTREACH_WORKER, Role.DATA_PROTECTION_OFFICER)
PRINT_STAFF = (Role.TEAM_LEAD, Role.OUTREACH_WORKER)
PDF = "application/pdf"
PDF_ANSWER: dict[str, Any] = {
    "description": "The PDF document.",
    "content": {PDF: {"schema": {"type": "string", "format": "binary"}}},
}
COUNT = {"type": "string", "pattern": "^[0-9]+$"}
GONE = "The person's data was erased: the letter can no longer be read (``subject_erased``)."


class LetterErasedError(ApplicationError):
    """The person was erased: their letters can no longer be read by anyone."""

    status = 410
    code = "subject_erased"


class NotALetterError(NotFoundError):
    code = "not_a_letter"


class NoLetterheadError(ConflictError):
    """The district has no letterhead: nothing is printed with an invented one."""

    code = "letterhead_missing"


Authenticated = CurrentUser
Reading = Annotated[PersonalRead, reading()]


USER_ID = Path(
    pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$",
    description="The user id (as in the token's ``sub``).",
    examples=["ow-yilmaz"],
)


class StaffEntryIn(StrictModel):
    """How letters name a member of staff (Jobcenter or a provider's coach)."""

    display_name: Annotated[Line, Field(examples=["Ayşe Yılmaz"])]
    form_of_address: FormOfAddress = Field(
        description="frau: Frau Ayşe Yılmaz; herr: Herr Jonas Becker; name_only: the name.",
        examples=["frau"],
    )
    district: Annotated[
        Key, Field(description="The district the member of staff works for.", examples=["kassel"])
    ]


class StaffEntryOut(BaseModel):
    user_id: str
    display_name: str
    form_of_address: FormOfAddress
    district: str
    in_letters: str = Field(description="As a letter names them.", examples=["Frau Ayşe Yılmaz"])
    updated_by: str
    updated_at: datetime


def _staff_out(row: DictRow) -> StaffEntryOut:
    return StaffEntryOut(
        **{k: row[k] for k in ("user_id", "display_name", "district", "updated_by")},
        form_of_address=row["form_of_address"],
        in_letters=addressed(row["display_name"], row["form_of_address"]),
        updated_at=row["updated_at"],
    )


class NotificationOut(BaseModel):
    notification_id: UUID
    district: str
    channel: str
    template: str
    template_version: int
    idempotency_key: str
    recipient_kind: str
    recipient: str | None
    source_event_id: str
    source_event_type: str
    status: str = Field(examples=["sent"], description="queued, sending, sent, failed, given_up")
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    given_up_reason: str | None
    queued_at: datetime
    sent_at: datetime | None
    print_day: date | None


class HistoryEntry(BaseModel):
    event: str
    at: datetime
    actor: str
    attempt: int | None = None
    error: str | None = None
    reason: str | None = None


class NotificationDetail(NotificationOut):
    history: list[HistoryEntry]


class LetterOut(BaseModel):
    notification_id: UUID
    print_day: date | None
    subject: str
    text: str


class BatchOut(BaseModel):
    print_day: date
    letters: int
    pdf: str = Field(description="Where to download the batch as one PDF.")


class TemplateOut(BaseModel):
    name: str
    version: int
    channel: str
    description: str


VariableName = Annotated[
    str, Text(40, form=r"^[a-z][a-z0-9_]{0,39}$", form_message="must be a variable's name")
]
VariableValue = Annotated[str, Text(500)] | None
District = Annotated[Key, Query(examples=["kassel"])]
NotificationId = Annotated[Uuid, Path()]


class PreviewIn(StrictModel):
    variables: dict[VariableName, VariableValue] = Field(
        default_factory=dict,
        max_length=50,
        description="Overrides of the template's example variables (text or null).",
        examples=[{"salutation": "Guten Tag Erika Mustermann"}],
    )
    district: Annotated[Key, Field(description="Whose letterhead to use.")] = "kassel"


class TemplateNotRenderableError(InvalidInputError):
    code = "template_not_renderable"


class TemplateVersionNotFoundError(NotFoundError):
    code = "template_version_not_found"


def _out(row: DictRow) -> dict[str, Any]:
    return {k: row[k] for k in NotificationOut.model_fields}


def _events(app: Notifications, notification_id: UUID) -> list[Any]:
    return list(app.repository.event_store.get(notification_id))


def _letter_of(context: NotificationsContext, row: DictRow) -> dict[str, Any]:
    """A stored letter for the export: its content opened (``[erased]`` after an erasure)."""
    text = context.cipher.open_optional(row["letter_token"])
    opened = Letter.from_json(text).text if text is not None and text != ERASED else text
    return {
        "notification_id": str(row["notification_id"]),
        "template": row["template"],
        "template_version": row["template_version"],
        "print_day": row["print_day"].isoformat() if row["print_day"] else None,
        "status": row["status"],
        "text": opened,
    }


def _recipient(context: NotificationsContext, row: DictRow) -> dict[str, Any]:
    """To whom one notification of the person went (or is to go), and when."""
    sent_at = row["sent_at"].isoformat() if row["sent_at"] else None
    entry: dict[str, Any] = {
        "notification_id": str(row["notification_id"]),
        "channel": row["channel"],
        "template": row["template"],
        "status": row["status"],
        "queued_at": row["queued_at"].isoformat(),
        "sent_at": sent_at,
        "recipient_kind": row["recipient_kind"],
    }
    if row["channel"] == "letter":
        return {
            **entry,
            "recipient": "the person (letter by post)",
            "print_day": row["print_day"].isoformat() if row["print_day"] else None,
        }
    address = None
    if context.outbox is not None:
        try:
            notification = context.app.get_notification(row["notification_id"])
            address = context.outbox.composer.recipient_address(notification)
        except DeliveryError:  # e.g. the case manager is not known (yet)
            address = None
    return {**entry, "recipient": row["recipient"], "address": address}


def subject_export(
    context: NotificationsContext, subject: UUID, districts: frozenset[str]
) -> ExportPart:
    """The notifications part of a person's Art. 15 export, of ``districts``: the case data
    known here (name and address, opened) and the stored letters as personal data; as
    recipients every letter (to the person: template, date) and every e-mail about the
    person (the role and address of the recipient, template, date)."""
    scope = (subject, sorted(districts))
    rows = context.view.query(
        "SELECT * FROM notifications WHERE subject_id = %s AND district = ANY(%s) "
        "ORDER BY queued_at, notification_id",
        scope,
    )
    cases = context.directory.query(
        "SELECT * FROM directory_cases WHERE subject_id = %s AND district = ANY(%s)", scope
    )
    return {
        "districts": sorted({row["district"] for row in (*rows, *cases)}),
        "personal_data": {
            "cases": opened_rows(cases, subject, context.cipher),
            "letters": [_letter_of(context, r) for r in rows if r["letter_token"] is not None],
        },
        "recipients": [_recipient(context, row) for row in rows],
    }


router = APIRouter(tags=["notifications"])


def row_in_scope(
    context: NotificationsContext, notification_id: UUID, principal: Principal
) -> DictRow:
    row = context.view.get(notification_id)
    if row is None:
        raise NotFoundError(f"notification {notification_id} not found")
    principal.check_district(row["district"], "notification")
    return row


def open_letter(context: NotificationsContext, row: DictRow, read: PersonalRead) -> Letter:
    """The stored letter, opened and noted in the access log (name, address, content)."""
    if row["channel"] != "letter" or row["letter_token"] is None:
        raise NotALetterError(f"notification {row['notification_id']} has no stored letter")
    text = context.cipher.open(row["letter_token"])
    if text == ERASED:
        raise LetterErasedError(
            "the person's data was erased; this letter can no longer be read",
            notification_id=str(row["notification_id"]),
        )
    read.opened(
        row["subject_id"],
        LETTER_FIELDS,
        district=row["district"],
        resource=f"notification:{row['notification_id']}",
    )
    return Letter.from_json(text)


@router.get("/notifications", response_model=list[NotificationOut])
def list_notifications(
    context: Context,
    principal: Authenticated,
    district: District,
    status: Literal["queued", "sending", "sent", "failed", "given_up"] | None = None,
    source_event_id: Key | None = None,
    limit: Annotated[int, QueryInt(1, 500)] = 100,
    offset: Annotated[int, QueryInt(0, 1_000_000)] = 0,
) -> list[dict[str, Any]]:
    principal.require(*STAFF)
    principal.check_district(district, "district")
    rows = context.view.listing(
        district, status=status, source_event_id=source_event_id, limit=limit, offset=offset
    )
    return [_out(row) for row in rows]


@router.get("/notifications/{notification_id}", response_model=NotificationDetail)
def notification_detail(
    context: Context, notification_id: NotificationId, principal: Authenticated
) -> dict[str, Any]:
    principal.require(*STAFF)
    row = row_in_scope(context, notification_id, principal)
    history = [
        HistoryEntry(
            event=type(e).__name__,
            at=e.timestamp,
            actor=e.meta.get("actor", "system"),
            attempt=getattr(e, "attempt", None),
            error=getattr(e, "error", None),
            reason=getattr(e, "reason", None),
        )
        for e in _events(context.app, notification_id)
    ]
    return {**_out(row), "history": history}


@router.post("/notifications/{notification_id}/retry", response_model=NotificationOut)
def retry(
    context: Context, notification_id: NotificationId, principal: Authenticated
) -> dict[str, Any]:
    """Send a failed or given-up notification again (team leads)."""
    principal.require(Role.TEAM_LEAD)
    row = row_in_scope(context, notification_id, principal)
    n = context.app.retry(
        notification_id, ctx=CommandContext(actor=principal.user, role=principal.role.value)
    )
    return {
        **_out(row),
        "status": n.status.value,
        "next_attempt_at": None,
        "given_up_reason": None,
    }


@router.get(
    "/notifications/{notification_id}/letter",
    response_model=LetterOut,
    responses={410: {"description": GONE}},
)
def letter_text(
    context: Context, notification_id: NotificationId, principal: Authenticated, read: Reading
) -> LetterOut:
    """The stored letter as text (logged: the stated purpose, the person, the fields)."""
    principal.require(*PRINT_STAFF)
    row = row_in_scope(context, notification_id, principal)
    letter = open_letter(context, row, read)
    return LetterOut(
        notification_id=notification_id,
        print_day=row["print_day"],
        subject=letter.subject,
        text=letter.text,
    )


@router.get(
    "/notifications/{notification_id}/letter.pdf",
    response_class=Response,
    responses={200: PDF_ANSWER, 410: {"description": GONE}},
)
def letter_as_pdf(
    context: Context, notification_id: NotificationId, principal: Authenticated, read: Reading
) -> Response:
    """The stored letter as PDF (logged like the text)."""
    principal.require(*PRINT_STAFF)
    letter = open_letter(context, row_in_scope(context, notification_id, principal), read)
    return Response(letter_pdf(letter), media_type=PDF)


@router.get("/print-batches", response_model=list[BatchOut])
def print_batches(context: Context, principal: Authenticated, district: District) -> list[BatchOut]:
    principal.require(*PRINT_STAFF)
    principal.check_district(district, "district")
    return [
        BatchOut(
            print_day=row["print_day"],
            letters=row["letters"],
            pdf=f"/print-batches/{district}/{row['print_day'].isoformat()}.pdf",
        )
        for row in context.view.batches(district)
    ]


@router.get(
    "/print-batches/{district}/{day}.pdf",
    response_class=Response,
    responses={
        200: {
            **PDF_ANSWER,
            "headers": {
                "X-Letters": {"description": "Letters in the batch", "schema": COUNT},
                "X-Letters-Omitted": {
                    "description": "Letters left out (persons erased since)",
                    "schema": COUNT,
                },
            },
        }
    },
)
def print_batch(
    context: Context,
    district: Annotated[Key, Path()],
    day: Annotated[IsoDate, Path()],
    principal: Authenticated,
    read: Reading,
) -> Response:
    """The district's letters of ``day`` as one PDF. Letters of persons erased since are
    left out (they can no longer be read); ``X-Letters-Omitted`` counts them. Each
    person whose letter is in it gets an access-log entry."""
    principal.require(*PRINT_STAFF)
    principal.check_district(district, "district")
    letters, omitted = [], 0
    for row in context.view.batch(district, day):
        text = context.cipher.open(row["letter_token"])
        if text == ERASED:
            omitted += 1
            continue
        read.opened(
            row["subject_id"],
            LETTER_FIELDS,
            district=district,
            resource=f"print-batch:{district}:{day.isoformat()}",
        )
        letters.append(Letter.from_json(text))
    title = f"Druckstapel {district} {day.isoformat()}"
    return Response(
        batch_pdf(title, letters),
        media_type=PDF,
        headers={
            "X-Letters": str(len(letters)),
            "X-Letters-Omitted": str(omitted),
            "Content-Disposition": f'inline; filename="briefe-{district}-{day}.pdf"',
        },
    )


@router.get("/templates", response_model=list[TemplateOut])
def templates(principal: Authenticated) -> list[TemplateOut]:
    principal.require(*STAFF)
    return [
        TemplateOut(
            name=t.name, version=t.version, channel=t.channel.value, description=t.description
        )
        for t in TEMPLATES.values()
    ]


@router.post(
    "/templates/{name}/preview",
    response_class=Response,
    responses={
        200: {
            "description": "The rendered text (``format=text``, and every e-mail) or the "
            "letter as PDF (``format=pdf``).",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                PDF: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def preview(
    context: Context,
    name: Annotated[Key, Path()],
    principal: Authenticated,
    body: Annotated[PreviewIn, Body()] = PreviewIn(),  # noqa: B008
    version: Annotated[int, QueryInt(1, 1000)] | None = None,
    format: Literal["text", "pdf"] = "text",
) -> Response:
    """Render a template with invented example data (and the given overrides)."""
    principal.require(*STAFF)
    spec = TEMPLATES.get(name)
    if spec is None:
        raise NotFoundError(f"template {name} not found")
    head = letterhead_of(context, body.district)
    variables = {
        **spec.example,
        "team": head.team,
        "jobcenter": head.jobcenter,
        "phone": head.phone,
        "email": head.email,
        "hours": head.hours,
        **body.variables,
    }
    version = version or spec.version
    try:
        rendered = context.templates.render(name, version, variables)
    except TemplateNotFound:
        raise TemplateVersionNotFoundError(
            f"template {name} has no version {version}", field="version"
        ) from None
    except Exception:
        # A variable the template cannot use (missing, or text where it needs a
        # number). The renderer's own message names files and lines of the server.
        raise TemplateNotRenderableError(
            f"template {name} cannot be rendered with these variables",
            field="variables",
        ) from None
    if format == "text" or spec.channel.value != "letter":
        return PlainTextResponse(f"Betreff: {rendered.subject}\n\n{rendered.text}")
    letter = Letter(
        district=body.district,
        sender=[head.jobcenter, head.team, *head.address],
        contact=[f"Telefon: {head.phone}", f"E-Mail: {head.email}", head.hours],
        recipient=["Erika Mustermann", "Musterweg 1", "12345 Musterstadt"],
        date=datetime.now().date().isoformat(),
        subject=rendered.subject,
        paragraphs=rendered.paragraphs,
        privacy_notice=privacy_notice(head.data_protection_officer, head.jobcenter),
        reference="VORSCHAU",
    )
    return Response(letter_pdf(letter), media_type=PDF)


@router.put("/staff/{user_id}", response_model=StaffEntryOut, tags=["staff directory"])
def put_staff(
    context: Context, user_id: Annotated[str, USER_ID], body: StaffEntryIn, principal: Authenticated
) -> StaffEntryOut:
    """Enter or change how letters name a member of staff of the team lead's district
    (an identity-provider synchronisation calls the same route)."""
    principal.require(Role.TEAM_LEAD)
    principal.check_district(body.district, "district")
    existing = context.directory.staff([user_id]).get(user_id)
    if existing is not None:
        principal.check_district(existing["district"], "staff member")
    row = context.directory.put_staff(
        user_id,
        display_name=body.display_name,
        form_of_address=body.form_of_address.value,
        district=body.district,
        by=principal.user,
    )
    return _staff_out(row)


@router.get("/staff", response_model=list[StaffEntryOut], tags=["staff directory"])
def staff_of_district(
    context: Context, principal: Authenticated, district: Key
) -> list[StaffEntryOut]:
    principal.require(*STAFF)
    principal.check_district(district, "district")
    return [_staff_out(row) for row in context.directory.staff_of([district])]


@router.put("/letterheads/{district}", response_model=Letterhead, tags=["staff directory"])
def put_letterhead(
    context: Context, district: Key, body: Letterhead, principal: Authenticated
) -> Letterhead:
    """Set how the district signs its letters: Jobcenter, team, address, phone line,
    e-mail, hours, data protection contact. Letters held for want of it can then be
    retried (``POST /notifications/{id}/retry``)."""
    principal.require(Role.TEAM_LEAD)
    principal.check_district(district, "district")
    context.directory.put_letterhead(district, body.model_dump(), by=principal.user)
    return body


@router.get("/letterheads/{district}", response_model=Letterhead, tags=["staff directory"])
def letterhead(context: Context, district: Key, principal: Authenticated) -> Letterhead:
    principal.require(*STAFF)
    principal.check_district(district, "district")
    return letterhead_of(context, district)


def letterhead_of(context: NotificationsContext, district: str) -> Letterhead:
    configured = context.directory.letterhead(district)
    if configured is not None:
        return Letterhead.model_validate(configured)
    if district in context.settings.letterheads:
        return context.settings.letterheads[district]
    raise NoLetterheadError(
        f"no letterhead is configured for district {district} (PUT /letterheads/{district})",
        district=district,
    )


@router.get("/ops/outbox", tags=["ops"])
def outbox_status(context: Context, principal: Authenticated) -> dict[str, Any]:
    """The outbox, and what keeps letters from going out: districts whose persons are
    known but which have no letterhead, and the letters held (failed or given up, with
    the reason)."""
    principal.require(Role.TEAM_LEAD, Role.DATA_PROTECTION_OFFICER)
    outbox = context.outbox
    configured = context.directory.letterhead_districts() | set(context.settings.letterheads)
    held = [
        {
            "notification_id": str(row["notification_id"]),
            "district": row["district"],
            "template": row["template"],
            "status": row["status"],
            "error": row["last_error"],
        }
        for row in context.view.held_letters()
        if principal.may_see(row["district"])
    ]
    return {
        "active": bool(outbox and outbox.is_active),
        "sent": outbox.sent if outbox else 0,
        "districts_without_letterhead": sorted(
            d for d in set(context.directory.districts()) - configured if principal.may_see(d)
        ),
        "letters_held": held,
    }
