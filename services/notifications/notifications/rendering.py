"""The templates (Jinja2 files under ``templates/``, one file per version) and rendering.

A template file ``<name>.v<version>.j2`` renders plain text: the first line is the subject
(``Betreff: ...``), then paragraphs separated by blank lines. A revised template is a new
file with the next version; the old file stays, because a notification is always rendered
with the version it was queued with (that version is in its idempotency key and its events).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from enum import StrEnum
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from shared.contracts.notifications import NotificationChannel
from shared.dates import german_day

BERLIN = ZoneInfo("Europe/Berlin")
"""Where the letters' days are: a letter's date and print day, an e-mail's days left."""

WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
PURPOSES = {
    "first_contact": "Wir möchten den Kontakt zu Ihnen wieder aufnehmen",
    "counselling": "Wir möchten Sie beraten",
    "coaching_measure": "Wir möchten mit Ihnen über eine Begleitung durch einen Coach sprechen",
}
CHANNELS = {
    "after_announcement_letter": "Meldung nach dem Ankündigungsschreiben",
    "phone": "Telefon",
    "home_visit": "Hausbesuch",
    "office_visit": "Vorsprache in der Geschäftsstelle",
    "other": "anderer Weg",
}
OUTCOMES = {
    "met_and_talked": "angetroffen, Gespräch geführt",
    "talked_at_door": "Gespräch an der Tür",
    "met_elsewhere": "an anderem Ort getroffen",
    "not_met": "nicht angetroffen",
    "entry_refused": "kein Einlass gewünscht",
}


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    version: int
    """The current version: new notifications are queued with it."""
    channel: NotificationChannel
    description: str
    example: dict[str, Any] = field(default_factory=dict)
    """Template variables for the preview (invented, never a real person)."""


_LETTER_EXAMPLE: dict[str, Any] = {
    "salutation": "Guten Tag Erika Mustermann",
    "when": "zwischen Dienstag, 1. Dezember 2026 und Donnerstag, 3. Dezember 2026",
    "workers": "Frau Ayşe Yılmaz und Herr Jonas Becker",
    "purpose": PURPOSES["first_contact"],
    "place": "home",
    "place_description": None,
    "reason": "contact_restored_before_visit",
    "provider_name": "Beispiel-Träger gGmbH",
    "coach": "Frau Jana Weber",
    "starts_on": "7. Dezember 2026",
    "ends_on": "7. April 2027",
}
_EMAIL_EXAMPLE: dict[str, Any] = {
    "case_id": "9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    "case_url": "http://127.0.0.1:8101/cases/9b2e6a10-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
    "restored_on": "20. November 2026",
    "channel": CHANNELS["phone"],
    "completed_on": "2. Dezember 2026",
    "outcome": OUTCOMES["met_and_talked"],
    "coaching_id": "7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b",
    "provider_name": "Beispiel-Träger gGmbH",
    "provider_url": "http://127.0.0.1:8103/provider/coachings",
    "coaching_url": "http://127.0.0.1:8103/coachings/7a1c2e3f-4b5d-4e6f-8a9b-0c1d2e3f4a5b",
    "coach": "pc-weber",
    "starts_on": "7. Dezember 2026",
    "ends_on": "7. April 2027",
    "days_left": 12,
}

TEMPLATES: dict[str, TemplateSpec] = {
    t.name: t
    for t in (
        TemplateSpec(
            "visit_announcement",
            1,
            NotificationChannel.LETTER,
            "VisitAnnounced: the announcement letter to the person.",
            _LETTER_EXAMPLE,
        ),
        TemplateSpec(
            "visit_rescheduled",
            1,
            NotificationChannel.LETTER,
            "VisitRescheduled: the new date or window, to the person.",
            _LETTER_EXAMPLE,
        ),
        TemplateSpec(
            "visit_cancelled",
            1,
            NotificationChannel.LETTER,
            "VisitCancelled: the visit will not take place, to the person.",
            _LETTER_EXAMPLE,
        ),
        TemplateSpec(
            "coach_introduction",
            1,
            NotificationChannel.LETTER,
            "CoachAssigned: introduces the coach to the person.",
            _LETTER_EXAMPLE,
        ),
        TemplateSpec(
            "contact_restored",
            1,
            NotificationChannel.EMAIL,
            "ContactRestored: to the responsible case manager.",
            _EMAIL_EXAMPLE,
        ),
        TemplateSpec(
            "handover_to_case_manager",
            1,
            NotificationChannel.EMAIL,
            "VisitCompleted with next step handover_to_case_manager: to the case manager.",
            _EMAIL_EXAMPLE,
        ),
        TemplateSpec(
            "provider_handover",
            1,
            NotificationChannel.EMAIL,
            "CoachAssigned: the hand-over notice to the provider (not the packet).",
            _EMAIL_EXAMPLE,
        ),
        TemplateSpec(
            "coaching_ending_reminder",
            1,
            NotificationChannel.EMAIL,
            "A coaching ends within the reminder lead: to the district's team lead.",
            _EMAIL_EXAMPLE,
        ),
    )
}


class UnknownTemplateError(LookupError):
    pass


@dataclass(frozen=True)
class Rendered:
    subject: str
    paragraphs: list[str]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs) + "\n"


class Templates:
    """Renders a template of a given version from the template folder."""

    def __init__(self, folder: Path) -> None:
        self._env = Environment(
            loader=FileSystemLoader(folder),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            keep_trailing_newline=True,
        )
        self.folder = folder

    def render(self, name: str, version: int, variables: dict[str, Any]) -> Rendered:
        if name not in TEMPLATES:
            raise UnknownTemplateError(name)
        text = self._env.get_template(f"{name}.v{version}.j2").render(**variables)
        head, _, body = text.strip().partition("\n")
        subject = head.removeprefix("Betreff:").strip()
        paragraphs = [p.strip() for p in body.strip().split("\n\n") if p.strip()]
        return Rendered(subject=subject, paragraphs=paragraphs)

    def check(self) -> None:
        """Fail at start-up when a current template file is missing."""
        for spec in TEMPLATES.values():
            self._env.get_template(f"{spec.name}.v{spec.version}.j2")


def german_date(day: date, *, weekday: bool = False) -> str:
    text = german_day(day)
    return f"{WEEKDAYS[day.weekday()]}, {text}" if weekday else text


def _clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}" if value.minute else f"{value.hour}"


def describe_schedule(schedule: dict[str, Any]) -> str:
    """``{"first_day", "last_day", "time_from", "time_to"}`` (ISO strings) in German."""
    first = date.fromisoformat(str(schedule["first_day"]))
    last = date.fromisoformat(str(schedule["last_day"]))
    if first != last:
        return (
            f"an einem Tag zwischen {german_date(first, weekday=True)} und "
            f"{german_date(last, weekday=True)} (ohne feste Uhrzeit)"
        )
    text = f"am {german_date(first, weekday=True)}"
    if schedule.get("time_from"):
        start = time.fromisoformat(str(schedule["time_from"]))
        text += f" ab {_clock(start)}"
        if schedule.get("time_to"):
            text += f" bis {_clock(time.fromisoformat(str(schedule['time_to'])))}"
        text += " Uhr"
    return text


class FormOfAddress(StrEnum):
    """How a letter names a member of staff: "Frau Ayşe Yılmaz", "Herr Jonas Becker", or
    the name alone (for whoever prefers no salutation)."""

    FRAU = "frau"
    HERR = "herr"
    NAME_ONLY = "name_only"


def addressed(display_name: str, form: str) -> str:
    """``Frau Ayşe Yılmaz``, ``Herr Jonas Becker`` or ``Alex Schmidt``."""
    prefix = {FormOfAddress.FRAU: "Frau ", FormOfAddress.HERR: "Herr "}.get(FormOfAddress(form), "")
    return prefix + display_name


def join_names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " und " + names[-1]
