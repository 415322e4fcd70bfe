"""Stored letters and the districts' print batches, for the team leads and outreach workers
who print and post them (each read states its purpose and is noted per person)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import Response

from notifications.api.deps import CipherDep, PrintReading, PrintStaff, StatusDep
from notifications.api.notifications import row_in_scope
from notifications.api.presenters import batch_letters, open_letter
from notifications.api.schemas import (
    COUNT,
    GONE,
    PDF,
    PDF_ANSWER,
    BatchOut,
    District,
    LetterOut,
    NotificationId,
)
from notifications.printing import batch_pdf, letter_pdf
from shared.http.inputs import IsoDate, Key

router = APIRouter(tags=["notifications"])


@router.get(
    "/notifications/{notification_id}/letter",
    response_model=LetterOut,
    responses={410: {"description": GONE}},
)
def letter_text(
    view: StatusDep, cipher: CipherDep, notification_id: NotificationId, read: PrintReading
) -> LetterOut:
    """The stored letter as text (logged: the stated purpose, the person, the fields)."""
    row = row_in_scope(view, notification_id, read.principal)
    letter = open_letter(cipher, row, read)
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
    view: StatusDep, cipher: CipherDep, notification_id: NotificationId, read: PrintReading
) -> Response:
    """The stored letter as PDF (logged like the text)."""
    letter = open_letter(cipher, row_in_scope(view, notification_id, read.principal), read)
    return Response(letter_pdf(letter), media_type=PDF)


@router.get("/print-batches", response_model=list[BatchOut])
def print_batches(view: StatusDep, principal: PrintStaff, district: District) -> list[BatchOut]:
    principal.check_district(district, "district")
    return [
        BatchOut(
            print_day=row["print_day"],
            letters=row["letters"],
            pdf=f"/print-batches/{district}/{row['print_day'].isoformat()}.pdf",
        )
        for row in view.batches(district)
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
    view: StatusDep,
    cipher: CipherDep,
    district: Annotated[Key, Path()],
    day: Annotated[IsoDate, Path()],
    read: PrintReading,
) -> Response:
    """The district's letters of ``day`` as one PDF. Letters of persons erased since are
    left out (they can no longer be read); ``X-Letters-Omitted`` counts them. Each
    person whose letter is in it gets an access-log entry."""
    read.principal.check_district(district, "district")
    letters, omitted = batch_letters(cipher, view.batch(district, day), read, district, day)
    return Response(
        batch_pdf(f"Druckstapel {district} {day.isoformat()}", letters),
        media_type=PDF,
        headers={
            "X-Letters": str(len(letters)),
            "X-Letters-Omitted": str(omitted),
            "Content-Disposition": f'inline; filename="briefe-{district}-{day}.pdf"',
        },
    )
