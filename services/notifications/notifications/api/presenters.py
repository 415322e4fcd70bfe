"""View rows and stored events into the notifications API's answers: stored letters opened
for whoever may read them (each opening noted in the request's access log), the preview of
a template, a person's Art. 15 export, the state of the outbox."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from jinja2 import TemplateNotFound
from psycopg.rows import DictRow

from notifications.api.deps import NotificationsState
from notifications.api.schemas import HistoryEntry, NotificationOut, StaffEntryOut
from notifications.application import Notifications
from notifications.channels import DeliveryError
from notifications.letterheads import Letterheads, letterhead_variables
from notifications.letters import Letter, build_letter, stored_letter
from notifications.rendering import BERLIN, Rendered, Templates, TemplateSpec, addressed
from notifications.settings import Letterhead
from shared.dpo import opened_rows
from shared.errors import ApplicationError, ConflictError, InvalidInputError, NotFoundError
from shared.http.access_log import PersonalRead
from shared.http.auth import Principal
from shared.privacy import ERASED, PersonalDataCipher
from shared.runtime.service import ExportPart

LETTER_FIELDS = ("name", "address", "letter")
"""What a stored letter reveals of its addressee (logged in the access log)."""

PREVIEW_RECIPIENT = ["Erika Mustermann", "Musterweg 1", "12345 Musterstadt"]
"""The invented addressee of a preview (never a real person)."""


class LetterErasedError(ApplicationError):
    """The person was erased: their letters can no longer be read by anyone."""

    status = 410
    code = "subject_erased"


class NotALetterError(NotFoundError):
    code = "not_a_letter"


class NoLetterheadError(ConflictError):
    """The district has no letterhead: nothing is printed with an invented one."""

    code = "letterhead_missing"


class TemplateNotRenderableError(InvalidInputError):
    code = "template_not_renderable"


class TemplateVersionNotFoundError(NotFoundError):
    code = "template_version_not_found"


def notification_out(row: DictRow) -> dict[str, Any]:
    return {k: row[k] for k in NotificationOut.model_fields}


def history(app: Notifications, notification_id: UUID) -> list[HistoryEntry]:
    """The notification's stored events, oldest first: what happened, when, by whom."""
    events: list[Any] = list(app.repository.event_store.get(notification_id))
    return [
        HistoryEntry(
            event=type(e).__name__,
            at=e.timestamp,
            actor=e.meta.get("actor", "system"),
            attempt=getattr(e, "attempt", None),
            error=getattr(e, "error", None),
            reason=getattr(e, "reason", None),
        )
        for e in events
    ]


def staff_out(row: DictRow) -> StaffEntryOut:
    return StaffEntryOut(
        **{k: row[k] for k in ("user_id", "display_name", "district", "updated_by")},
        form_of_address=row["form_of_address"],
        in_letters=addressed(row["display_name"], row["form_of_address"]),
        updated_at=row["updated_at"],
    )


def letterhead_of(letterheads: Letterheads, district: str) -> Letterhead:
    head = letterheads.of(district)
    if head is None:
        raise NoLetterheadError(
            f"no letterhead is configured for district {district} (PUT /letterheads/{district})",
            district=district,
        )
    return head


def open_letter(cipher: PersonalDataCipher, row: DictRow, read: PersonalRead) -> Letter:
    """The stored letter, opened and noted in the access log (name, address, content)."""
    if row["channel"] != "letter" or row["letter_token"] is None:
        raise NotALetterError(f"notification {row['notification_id']} has no stored letter")
    letter = stored_letter(cipher, row["letter_token"])
    if letter is None:
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
    return letter


def batch_letters(
    cipher: PersonalDataCipher, rows: list[DictRow], read: PersonalRead, district: str, day: date
) -> tuple[list[Letter], int]:
    """The letters of a print batch, each person's noted in the access log, and how many
    were left out (persons erased since: their letters can no longer be read)."""
    letters: list[Letter] = []
    for row in rows:
        letter = stored_letter(cipher, row["letter_token"])
        if letter is None:
            continue
        resource = f"print-batch:{district}:{day.isoformat()}"
        read.opened(row["subject_id"], LETTER_FIELDS, district=district, resource=resource)
        letters.append(letter)
    return letters, len(rows) - len(letters)


def rendered_preview(
    templates: Templates, spec: TemplateSpec, version: int, variables: dict[str, Any]
) -> Rendered:
    """The template rendered with invented data; errors name the problem, never the
    server's files."""
    try:
        return templates.render(spec.name, version, variables)
    except TemplateNotFound:
        raise TemplateVersionNotFoundError(
            f"template {spec.name} has no version {version}", field="version"
        ) from None
    except Exception:
        # A variable the template cannot use (missing, or text where it needs a
        # number). The renderer's own message names files and lines of the server.
        raise TemplateNotRenderableError(
            f"template {spec.name} cannot be rendered with these variables",
            field="variables",
        ) from None


def preview_variables(
    spec: TemplateSpec, head: Letterhead, overrides: dict[str, str | None]
) -> dict[str, Any]:
    return {**spec.example, **letterhead_variables(head), **overrides}


def preview_letter(
    head: Letterhead, rendered: Rendered, spec: TemplateSpec, version: int, district: str
) -> Letter:
    """The letter as the outbox would build it, to an invented addressee, dated today."""
    return build_letter(
        head,
        rendered,
        district=district,
        recipient=PREVIEW_RECIPIENT,
        day=datetime.now(BERLIN).date(),
        reference="VORSCHAU",
        template=spec.name,
        template_version=version,
    )


def outbox_status(state: NotificationsState, principal: Principal) -> dict[str, Any]:
    """The outbox, and what keeps letters from going out, of the reader's districts."""
    held = [
        {
            "notification_id": str(row["notification_id"]),
            "district": row["district"],
            "template": row["template"],
            "status": row["status"],
            "error": row["last_error"],
        }
        for row in state.view.held_letters()
        if principal.may_see(row["district"])
    ]
    unconfigured = set(state.directory.districts()) - state.letterheads.districts()
    return {
        "active": state.outbox.is_active,
        "sent": state.outbox.sent,
        "districts_without_letterhead": sorted(d for d in unconfigured if principal.may_see(d)),
        "letters_held": held,
    }


def subject_export(
    state: NotificationsState, subject: UUID, districts: frozenset[str]
) -> ExportPart:
    """The notifications part of a person's Art. 15 export, of ``districts``: the case data
    known here (name and address, opened) and the stored letters as personal data; as
    recipients every letter (to the person: template, date) and every e-mail about the
    person (the role and address of the recipient, template, date)."""
    rows = state.view.of_subject(subject, districts)
    cases = state.directory.cases_of_subject(subject, districts)
    return {
        "districts": sorted({row["district"] for row in (*rows, *cases)}),
        "personal_data": {
            "cases": opened_rows(cases, subject, state.cipher),
            "letters": [
                _exported_letter(state.cipher, r) for r in rows if r["letter_token"] is not None
            ],
        },
        "recipients": [_recipient(state, row) for row in rows],
    }


def _exported_letter(cipher: PersonalDataCipher, row: DictRow) -> dict[str, Any]:
    """A stored letter for the export: its content opened (``[erased]`` after an erasure)."""
    letter = stored_letter(cipher, row["letter_token"])
    return {
        "notification_id": str(row["notification_id"]),
        "template": row["template"],
        "template_version": row["template_version"],
        "print_day": _day(row["print_day"]),
        "status": row["status"],
        "text": ERASED if letter is None else letter.text,
    }


def _recipient(state: NotificationsState, row: DictRow) -> dict[str, Any]:
    """To whom one notification of the person went (or is to go), and when."""
    entry: dict[str, Any] = {
        "notification_id": str(row["notification_id"]),
        "channel": row["channel"],
        "template": row["template"],
        "status": row["status"],
        "queued_at": row["queued_at"].isoformat(),
        "sent_at": row["sent_at"].isoformat() if row["sent_at"] else None,
        "recipient_kind": row["recipient_kind"],
    }
    if row["channel"] == "letter":
        return {
            **entry,
            "recipient": "the person (letter by post)",
            "print_day": _day(row["print_day"]),
        }
    try:
        notification = state.app.get_notification(row["notification_id"])
        address: str | None = state.emails.recipient_address(notification)
    except DeliveryError:  # e.g. the case manager is not known (yet)
        address = None
    return {**entry, "recipient": row["recipient"], "address": address}


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None
