"""Letters as PDF (fpdf2): one letter, or a district's print batch of a day as one document.

What is stored of a letter is its content (:class:`Letter`, sealed with the person's key in
the ``Sent`` event); the PDF is produced from it on demand, always the same layout. A print
batch is simply the day's letters of a district, one after another, each starting on a new
page (ready for a folding and enveloping machine: the address sits in the window position
of DIN 5008 form B). Names and addresses print in their own script (``shared.pdf``: embedded
Unicode fonts).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from shared.pdf import FAMILY, Document


@dataclass(frozen=True)
class Letter:
    """Everything printed on one letter."""

    district: str
    sender: list[str]
    """The letterhead: Jobcenter, team, address."""
    contact: list[str]
    """How to reach the team (phone, e-mail, hours)."""
    recipient: list[str]
    """Name and postal address."""
    date: str
    subject: str
    paragraphs: list[str]
    privacy_notice: str
    reference: str
    """The notification id, printed small (to find the letter again, not personal)."""
    template: str = ""
    template_version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Letter:
        return cls(**json.loads(text))

    @property
    def text(self) -> str:
        """The letter as plain text (for the API and for checks)."""
        return "\n".join(
            [
                *self.sender,
                "",
                *self.recipient,
                "",
                self.date,
                self.subject,
                "",
                *self.paragraphs,
                "",
                self.privacy_notice,
            ]
        )


def privacy_notice(letterhead_dpo: str, jobcenter: str) -> str:
    return (
        f"Datenschutz: {jobcenter} verarbeitet Ihre Daten nach §35 SGB I und §§67 ff. SGB X "
        "nur, um Ihnen Beratung und Unterstützung anzubieten. Bei einem Besuch wird nur "
        "festgehalten, was dafür nötig ist. Sie können Auskunft über Ihre Daten verlangen "
        f"(Art. 15 DSGVO). Fragen an die Datenschutzbeauftragte: {letterhead_dpo}."
    )


def _write_letter(pdf: Document, letter: Letter) -> None:
    pdf.add_page()
    pdf.set_font(FAMILY, "B", 11)
    pdf.set_xy(25, 15)
    pdf.line_text(0, 5, letter.sender[0], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FAMILY, "", 9)
    for line in letter.sender[1:]:
        pdf.set_x(25)
        pdf.line_text(0, 4.5, line, new_x="LMARGIN", new_y="NEXT")
    # Contact block on the right.
    pdf.set_xy(125, 15)
    for line in letter.contact:
        pdf.set_x(125)
        pdf.line_text(0, 4.5, line, new_x="LMARGIN", new_y="NEXT")
    # Window address (DIN 5008 form B: 45 mm from the top, 20 mm from the left).
    pdf.set_font(FAMILY, "", 7)
    pdf.set_xy(20, 45)
    pdf.line_text(0, 4, " \u2013 ".join(letter.sender[:1] + letter.sender[2:]))
    pdf.set_font(FAMILY, "", 11)
    pdf.set_xy(20, 52)
    for line in letter.recipient:
        pdf.set_x(20)
        pdf.line_text(0, 5, line, new_x="LMARGIN", new_y="NEXT")
    pdf.set_xy(125, 95)
    pdf.line_text(0, 5, letter.date)
    pdf.set_xy(25, 105)
    pdf.set_font(FAMILY, "B", 11)
    pdf.write_text(160, 5.5, letter.subject)
    pdf.ln(4)
    pdf.set_font(FAMILY, "", 11)
    for paragraph in letter.paragraphs:
        pdf.set_x(25)
        pdf.write_text(160, 5.5, paragraph)
        pdf.ln(2.5)
    pdf.ln(3)
    pdf.set_font(FAMILY, "", 8)
    pdf.set_x(25)
    pdf.write_text(160, 4, letter.privacy_notice)
    pdf.set_x(25)
    pdf.set_font(FAMILY, "", 6)
    pdf.line_text(0, 4, f"Zeichen: {letter.reference}")


def _texts(letter: Letter) -> list[str]:
    return [
        *letter.sender,
        *letter.contact,
        *letter.recipient,
        letter.date,
        letter.subject,
        *letter.paragraphs,
        letter.privacy_notice,
    ]


def _document(title: str, letters: list[Letter]) -> Document:
    pdf = Document([text for letter in letters for text in _texts(letter)])
    pdf.set_auto_page_break(auto=True, margin=20)
    pdf.set_margins(25, 15, 20)
    pdf.set_title(title)
    pdf.set_creator("Outreach notifications")
    return pdf


def letter_pdf(letter: Letter) -> bytes:
    pdf = _document(letter.subject, [letter])
    _write_letter(pdf, letter)
    return bytes(pdf.output())


def batch_pdf(title: str, letters: list[Letter]) -> bytes:
    """The print batch: every letter on its own page(s); a cover page when it is empty."""
    pdf = _document(title, letters)
    if not letters:
        pdf.add_page()
        pdf.set_font(FAMILY, "", 12)
        pdf.line_text(0, 10, f"{title}: keine Briefe")
    for letter in letters:
        _write_letter(pdf, letter)
    return bytes(pdf.output())
