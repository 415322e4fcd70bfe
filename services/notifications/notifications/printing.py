"""Letters as PDF (fpdf2): one letter, or a district's print batch of a day as one document.

What is stored of a letter is its content (:class:`~notifications.letters.Letter`, sealed
with the person's key in the ``Sent`` event); the PDF is produced from it on demand, always
the same layout. A print batch is simply the day's letters of a district, one after another,
each starting on a new page (ready for a folding and enveloping machine: the address sits in
the window position of DIN 5008 form B). Names and addresses print in their own script
(``shared.pdf``: embedded Unicode fonts).
"""

from __future__ import annotations

from notifications.letters import Letter
from shared.pdf import FAMILY, Document


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
