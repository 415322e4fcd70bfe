"""The templates, the letter builder and the letter PDF — no network."""

from __future__ import annotations

import io
from datetime import date, datetime
from uuid import uuid4

import pytest
from notifications.api.presenters import preview_letter, preview_variables
from notifications.letters import Letter, build_letter
from notifications.printing import batch_pdf, letter_pdf
from notifications.rendering import (
    BERLIN,
    TEMPLATES,
    Rendered,
    Templates,
    describe_schedule,
    german_date,
)
from notifications.settings import TEMPLATES_DIR
from pypdf import PdfReader

from .notification_support import KASSEL

pytestmark = pytest.mark.unit


def test_every_current_template_renders_its_example() -> None:
    templates = Templates(TEMPLATES_DIR)
    templates.check()
    head = KASSEL
    for spec in TEMPLATES.values():
        variables = {**spec.example, **head.model_dump(), "team": head.team}
        rendered = templates.render(spec.name, spec.version, variables)
        assert rendered.subject
        assert rendered.paragraphs


def test_the_announcement_says_voluntary_without_consequence_and_how_to_get_in_touch() -> None:
    templates = Templates(TEMPLATES_DIR)
    spec = TEMPLATES["visit_announcement"]
    head = KASSEL
    text = templates.render(spec.name, 1, {**spec.example, **head.model_dump()}).text
    assert "freiwillig" in text
    assert "keine Nachteile und keine Folgen" in text
    assert head.phone in text


def test_a_window_of_days_is_described_without_a_time() -> None:
    window = {"first_day": "2026-12-01", "last_day": "2026-12-03"}
    assert describe_schedule(window) == (
        "an einem Tag zwischen Dienstag, 1. Dezember 2026 und Donnerstag, 3. Dezember 2026 "
        "(ohne feste Uhrzeit)"
    )
    single = {
        "first_day": "2026-12-01",
        "last_day": "2026-12-01",
        "time_from": "10:00",
        "time_to": "12:30",
    }
    assert describe_schedule(single) == "am Dienstag, 1. Dezember 2026 ab 10 bis 12:30 Uhr"


def test_a_letter_is_signed_with_the_letterhead_and_dated_at_its_town() -> None:
    rendered = Rendered(subject="Ankündigung eines Besuchs", paragraphs=["Guten Tag."])

    letter = build_letter(
        KASSEL,
        rendered,
        district="kassel",
        recipient=["Erika Mustermann", "Musterweg 1", "12345 Musterstadt"],
        day=date(2026, 11, 23),
        reference="ref-1",
        template="visit_announcement",
        template_version=1,
    )

    assert letter.sender == [
        "Jobcenter Stadt Kassel",
        "Team Aufsuchende Beratung",
        "Grüner Weg 2",
        "34117 Kassel",
    ]
    assert letter.contact == [
        "Telefon: 0561 1234-0",
        "E-Mail: aufsuchend@jobcenter-kassel.example",
        "Mo-Fr 8-16 Uhr",
    ]
    assert letter.date == "Kassel, 23. November 2026"
    assert letter.privacy_notice.startswith("Datenschutz: Jobcenter Stadt Kassel verarbeitet")
    assert "datenschutz@jobcenter-kassel.example" in letter.privacy_notice
    assert (letter.subject, letter.paragraphs) == ("Ankündigung eines Besuchs", ["Guten Tag."])


def test_a_template_preview_prints_the_letter_as_the_outbox_builds_it() -> None:
    spec = TEMPLATES["visit_announcement"]
    variables = preview_variables(spec, KASSEL, {"salutation": "Guten Tag Max Muster"})
    rendered = Templates(TEMPLATES_DIR).render(spec.name, spec.version, variables)

    preview = preview_letter(KASSEL, rendered, spec, spec.version, "kassel")

    assert preview.date == f"Kassel, {german_date(datetime.now(BERLIN).date())}"
    assert preview.recipient == ["Erika Mustermann", "Musterweg 1", "12345 Musterstadt"]
    assert preview.reference == "VORSCHAU"
    assert "Guten Tag Max Muster" in preview.text
    assert "datenschutz@jobcenter-kassel.example" in preview.privacy_notice
    text = PdfReader(io.BytesIO(letter_pdf(preview))).pages[0].extract_text()
    assert "Jobcenter Stadt Kassel" in text


def test_a_letter_and_a_batch_are_pdfs_with_the_letters_text() -> None:
    letter = Letter(
        district="kassel",
        sender=["Jobcenter Kassel", "Team Aufsuchende Beratung", "Grüner Weg 2", "34117 Kassel"],
        contact=["Telefon: 0561 1"],
        recipient=["Jürgen Weiß", "Straße 1", "34117 Kassel"],
        date="Kassel, 23. November 2026",
        subject="Ankündigung eines Besuchs \u2013 bei Ihnen",
        paragraphs=["Der Besuch ist „freiwillig“."],
        privacy_notice="Datenschutz: §35 SGB I",
        reference=str(uuid4()),
    )
    text = PdfReader(io.BytesIO(letter_pdf(letter))).pages[0].extract_text()
    assert "Jürgen Weiß" in text
    assert "Grüner Weg 2" in text
    assert "Der Besuch ist „freiwillig“." in text  # typography printed as written
    reader = PdfReader(io.BytesIO(batch_pdf("Druckstapel", [letter, letter])))
    assert len(reader.pages) == 2


NAMES_IN_THEIR_SCRIPTS = {
    "Turkish": "Ayşe Yılmaz",
    "Polish": "Łódzka Straße 5, Żaneta Wiśniewska",
    "Romanian": "Ștefan Țurcanu, Strada Mărășești",
    "Cyrillic": "Жанна Иванова",
    "Greek": "Γιώργος Παπαδόπουλος",
}


@pytest.mark.parametrize("script", sorted(NAMES_IN_THEIR_SCRIPTS))
def test_a_letter_prints_names_in_their_own_script(script: str) -> None:
    name = NAMES_IN_THEIR_SCRIPTS[script]
    letter = Letter(
        district="kassel",
        sender=["Jobcenter Kassel", "Team Aufsuchende Beratung", "Grüner Weg 2", "34117 Kassel"],
        contact=["Telefon: 0561 1"],
        recipient=[name, "Łódzka Straße 5", "34117 Kassel"],
        date="Kassel, 23. November 2026",
        subject="Ankündigung eines Besuchs",
        paragraphs=[f"Guten Tag {name},", "Wer kommt: Frau Ayşe Yılmaz und Herr Jonas Becker."],
        privacy_notice="Datenschutz: §35 SGB I",
        reference=str(uuid4()),
    )

    for pdf in (letter_pdf(letter), batch_pdf("Druckstapel", [letter])):
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert name in text
        assert f"Guten Tag {name}," in text
        assert "Frau Ayşe Yılmaz und Herr Jonas Becker" in text
        assert "?" not in text


def test_a_letter_prints_an_arabic_name_joined_right_to_left() -> None:
    letter = Letter(
        district="kassel",
        sender=["Jobcenter Kassel", "Team", "Grüner Weg 2", "34117 Kassel"],
        contact=["Telefon: 0561 1"],
        recipient=["محمد الأحمد", "Straße 1", "34117 Kassel"],
        date="Kassel, 23. November 2026",
        subject="Ankündigung eines Besuchs",
        paragraphs=["Guten Tag."],
        privacy_notice="Datenschutz",
        reference=str(uuid4()),
    )

    text = PdfReader(io.BytesIO(letter_pdf(letter))).pages[0].extract_text()

    # Shaped and laid out right to left: both words, whole, in visual order.
    assert "الأحمد محمد" in text
    assert "?" not in text
