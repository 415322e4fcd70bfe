"""PDF documents for real people: letters and the Art. 15 export print every name in the
script it is written in.

The PDF core fonts (Helvetica ...) cover Latin-1 only: ``Ayşe`` and ``Łódzka Straße`` would
print as ``Ay?e`` and ``?ódzka``. Every document therefore embeds Unicode fonts, installed
with the Python dependencies (pinned packages that ship the unmodified TTF files of Google
Fonts, SIL Open Font License; no system font is needed):

- **Fira Sans** (``fontpkg-fira-sans``, static Regular and Bold): Latin with every European
  diacritic (Turkish, Polish, Romanian, Czech, Vietnamese ...), Cyrillic and Greek;
- **Amiri** (``fontpkg-amiri``): the fallback for Arabic script, shaped by HarfBuzz
  (``uharfbuzz``): letters joined and written right to left.

Only the glyphs used are embedded (fpdf2 subsets the fonts), so a letter stays small.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib.resources import files
from pathlib import Path
from typing import Any

from fpdf import FPDF

FAMILY = "Text"
"""The font family of every document (regular ``""`` and bold ``"B"``)."""
FALLBACK = "Arabic"

_FONTS = {
    (FAMILY, ""): ("fontpkg_fira_sans", "FiraSans-Regular.ttf"),
    (FAMILY, "B"): ("fontpkg_fira_sans", "FiraSans-Bold.ttf"),
    (FALLBACK, ""): ("fontpkg_amiri", "Amiri-Regular.ttf"),
    (FALLBACK, "B"): ("fontpkg_amiri", "Amiri-Bold.ttf"),
}

_NEEDS_SHAPING = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
"""Hebrew and Arabic script: joined letters, right to left (shaping costs time, so it is
switched on only for the text that needs it)."""


def font_file(package: str, name: str) -> Path:
    return Path(str(files(package).joinpath("files", name)))


def needs_shaping(text: str) -> bool:
    return _NEEDS_SHAPING.search(text) is not None


def add_fonts(pdf: FPDF, *, arabic: bool) -> None:
    """Register the document fonts: ``FAMILY``, and Arabic script as its fallback when the
    document has text in it (reading a font costs time; most documents need one only)."""
    for (family, style), (package, name) in _FONTS.items():
        if family == FALLBACK and not arabic:
            continue
        pdf.add_font(family, style, font_file(package, name))
    if arabic:
        pdf.set_fallback_fonts([FALLBACK])


class Document(FPDF):
    """An A4 document with the Unicode fonts; text is written through :meth:`write_text`
    and :meth:`line_text`, which shape it when its script needs it. ``texts``: what the
    document will print (it decides whether the Arabic fallback is needed)."""

    def __init__(self, texts: Iterable[str] = (), **kwargs: Any) -> None:
        super().__init__(**{"orientation": "P", "unit": "mm", "format": "A4", **kwargs})
        add_fonts(self, arabic=any(needs_shaping(text) for text in texts))

    def _shaped(self, text: str) -> None:
        self.set_text_shaping(needs_shaping(text))

    def write_text(self, width: float, height: float, text: str, **kwargs: Any) -> None:
        """A paragraph (``multi_cell``, ragged right as in a DIN 5008 letter), continuing
        below on the left margin."""
        self._shaped(text)
        self.multi_cell(
            width, height, text, new_x="LMARGIN", new_y="NEXT", **{"align": "L", **kwargs}
        )

    def line_text(self, width: float, height: float, text: str, **kwargs: Any) -> None:
        """One line (``cell``); ``kwargs`` as for ``cell`` (e.g. ``new_x``, ``new_y``)."""
        self._shaped(text)
        self.cell(width, height, text, **kwargs)
