"""The templates and their preview with invented example data, for the staff."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Path
from fastapi.responses import PlainTextResponse, Response

from notifications.api.deps import LetterheadsDep, Staff, TemplatesDep
from notifications.api.presenters import (
    letterhead_of,
    preview_letter,
    preview_variables,
    rendered_preview,
)
from notifications.api.schemas import PDF, PreviewIn, TemplateOut
from notifications.printing import letter_pdf
from notifications.rendering import TEMPLATES
from shared.contracts.notifications import NotificationChannel
from shared.errors import NotFoundError
from shared.http.inputs import Key, QueryInt

router = APIRouter(tags=["notifications"])


@router.get("/templates", response_model=list[TemplateOut])
def templates(principal: Staff) -> list[TemplateOut]:
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
    templates: TemplatesDep,
    letterheads: LetterheadsDep,
    name: Annotated[Key, Path()],
    principal: Staff,
    body: Annotated[PreviewIn, Body()] = PreviewIn(),  # noqa: B008
    version: Annotated[int, QueryInt(1, 1000)] | None = None,
    format: Literal["text", "pdf"] = "text",
) -> Response:
    """Render a template with invented example data (and the given overrides)."""
    spec = TEMPLATES.get(name)
    if spec is None:
        raise NotFoundError(f"template {name} not found")
    head = letterhead_of(letterheads, body.district)
    version = version or spec.version
    variables = preview_variables(spec, head, body.variables)
    rendered = rendered_preview(templates, spec, version, variables)
    if format == "text" or spec.channel is not NotificationChannel.LETTER:
        return PlainTextResponse(f"Betreff: {rendered.subject}\n\n{rendered.text}")
    letter = preview_letter(head, rendered, spec, version, body.district)
    return Response(letter_pdf(letter), media_type=PDF)
