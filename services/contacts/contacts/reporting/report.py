"""The published outreach figures: one row per district and month, small cells suppressed
(:mod:`contacts.reporting.suppression`), the derived figures, and the CSV form."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from contacts.reporting.figures import FIGURES, MADE, REACHED
from contacts.reporting.suppression import THRESHOLD, Shown, suppress

MAX_MONTHS = 24
"""The longest range one request may ask for."""


@dataclass(frozen=True)
class Row:
    district: str
    month: date
    cells: dict[str, Shown]
    reach_rate: float | None
    """``visits_reached / visits_made`` when both are shown as numbers and a visit was made."""
    median_days_to_restore: float | None
    """Median days from the report of the lost contact to its restoration, of the contacts
    restored in the month whose report the view saw; ``None`` for fewer than 5."""


def parse_month(text: str) -> date:
    """``2026-11`` -> 1 November 2026 (the text is checked by the route's type)."""
    year, month = text.split("-")
    return date(int(year), int(month), 1)


def month_text(month: date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def shift(month: date, by: int) -> date:
    """The month ``by`` months after ``month`` (before, for a negative ``by``)."""
    index = month.year * 12 + month.month - 1 + by
    return date(index // 12, index % 12 + 1, 1)


def months(first: date, last: date) -> list[date]:
    """Every month from ``first`` to ``last``, both included."""
    found = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def reach_rate(cells: Mapping[str, Shown]) -> float | None:
    made, reached = cells.get(MADE), cells.get(REACHED)
    if isinstance(made, int) and isinstance(reached, int) and made > 0:
        return round(reached / made, 3)
    return None


def median(days: Sequence[tuple[int, int]]) -> float | None:
    """The median of ``(days, cases)``; ``None`` for fewer than :data:`THRESHOLD` cases."""
    values = [d for d, cases in sorted(days) for _ in range(cases)]
    if len(values) < THRESHOLD:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return float(values[middle])
    return (values[middle - 1] + values[middle]) / 2


def rows(
    districts: Iterable[str],
    first: date,
    last: date,
    counts: Mapping[tuple[str, date], Mapping[str, int]],
    days: Mapping[tuple[str, date], Sequence[tuple[int, int]]],
) -> list[Row]:
    """A row for each of ``districts`` and each month (zeros where nothing was counted)."""
    found = []
    for district in sorted(set(districts)):
        for month in months(first, last):
            counted = counts.get((district, month), {})
            cells = suppress({figure: counted.get(figure, 0) for figure in FIGURES})
            found.append(
                Row(
                    district=district,
                    month=month,
                    cells=cells,
                    reach_rate=reach_rate(cells),
                    median_days_to_restore=median(days.get((district, month), ())),
                )
            )
    return found


CSV_COLUMNS = ("district", "month", *FIGURES, "reach_rate", "median_days_to_restore")


def to_csv(found: Sequence[Row]) -> str:
    """The rows as CSV (a header line, then one line per district and month; an empty
    derived figure: not published)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in found:
        writer.writerow(
            [
                _cell_text(row.district),
                month_text(row.month),
                *(row.cells[figure] for figure in FIGURES),
                "" if row.reach_rate is None else row.reach_rate,
                "" if row.median_days_to_restore is None else row.median_days_to_restore,
            ]
        )
    return out.getvalue()


def _cell_text(text: str) -> str:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text
