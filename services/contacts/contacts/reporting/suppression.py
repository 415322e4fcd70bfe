"""Small cells of the outreach figures: shown as ``<5``, and kept from being derived.

**The rule** (one row: one district, one month; every row on its own):

1. *Primary*: a count of 1 to 4 is shown as ``<5`` (:data:`SMALL`).
2. *Zero* is shown as ``0``: a zero counts nobody, so nobody can be singled out by it, and
   "nobody was reached by phone" is a figure a team needs. (What a zero does tell — that all
   of a small group share the one non-zero part — is said in the service README.)
3. *Secondary*: a reader who knows the published cells, the sums the row contains
   (:data:`~contacts.reporting.figures.RELATIONS`: a total and its parts), the known bounds
   between cells (:data:`~contacts.reporting.figures.AT_MOST`), that a ``<5`` cell is 1 to 4
   and that a secondary cell (shown as ``x``, :data:`HIDDEN`) is at least 5, must not be able
   to tell any hidden cell's value. While a hidden cell's value follows from the rest, the
   smallest non-zero part still shown of its sum is hidden too (``x``), and when none is left,
   the total.
4. No sum over rows (months, districts) is published, so rows do not constrain each other,
   and a row's cells are the same whichever range a reader asks for: asking for other ranges
   reveals nothing more.

:func:`exposed` is the reader's side: for each hidden cell the values the published row
still allows. Each sum is one linear equation over whole numbers in intervals, its cells
in no other sum, so the values a cell can take are exactly the interval computed here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from contacts.reporting.figures import AT_MOST, RELATIONS, Relation

THRESHOLD = 5
SMALL: Literal["<5"] = "<5"
HIDDEN: Literal["x"] = "x"

Shown = int | Literal["<5", "x"]
"""A published cell: the count, ``<5`` (1 to 4) or ``x`` (hidden so that no small cell can
be derived; at least 5)."""

UNBOUNDED = 10**9


@dataclass(frozen=True)
class Interval:
    low: int
    high: int

    @property
    def known(self) -> bool:
        return self.low == self.high


def possible(shown: Shown) -> Interval:
    """What a reader knows of a cell from what it shows."""
    if shown == SMALL:
        return Interval(1, THRESHOLD - 1)
    if shown == HIDDEN:
        return Interval(THRESHOLD, UNBOUNDED)
    assert isinstance(shown, int)
    return Interval(shown, shown)


def exposed(
    row: Mapping[str, Shown],
    relations: Sequence[Relation] = RELATIONS,
    at_most: Sequence[tuple[str, str]] = AT_MOST,
) -> dict[str, Interval]:
    """The values each hidden cell of ``row`` can still take, seen from the published row."""
    bounds = {name: possible(shown) for name, shown in row.items()}
    while True:
        before = dict(bounds)
        _bound_by_order(bounds, at_most)
        for relation in relations:
            _bound_by_sum(bounds, relation)
        if bounds == before:
            break
    return {name: bounds[name] for name, shown in row.items() if not isinstance(shown, int)}


def _bound_by_order(bounds: dict[str, Interval], at_most: Sequence[tuple[str, str]]) -> None:
    """``a <= b``: b bounds a from above; a bounds b from below."""
    for low, high in at_most:
        if low in bounds and high in bounds:
            a, b = bounds[low], bounds[high]
            bounds[low] = Interval(a.low, min(a.high, b.high))
            bounds[high] = Interval(max(b.low, a.low), b.high)


def _bound_by_sum(bounds: dict[str, Interval], relation: Relation) -> None:
    """``total - sum(parts) = 0``: each cell lies within what the others leave for it (the
    sums of whole numbers in intervals are every whole number between their bounds)."""
    cells = [(relation.total, 1), *((name, -1) for name in relation.parts)]
    cells = [(name, sign) for name, sign in cells if name in bounds]
    lows = {n: (bounds[n].low if s > 0 else -bounds[n].high) for n, s in cells}
    highs = {n: (bounds[n].high if s > 0 else -bounds[n].low) for n, s in cells}
    low_sum, high_sum = sum(lows.values()), sum(highs.values())
    for name, sign in cells:
        # sign * x = -(the others), the others within [low_sum - low, high_sum - high]
        lo, hi = -(high_sum - highs[name]), -(low_sum - lows[name])
        if sign < 0:
            lo, hi = -hi, -lo
        current = bounds[name]
        bounds[name] = Interval(max(current.low, lo), min(current.high, hi))


def suppress(
    counts: Mapping[str, int],
    relations: Sequence[Relation] = RELATIONS,
    at_most: Sequence[tuple[str, str]] = AT_MOST,
) -> dict[str, Shown]:
    """The published row of one district and month (the rule in the module's docstring)."""
    shown: dict[str, Shown] = {
        name: SMALL if 0 < value < THRESHOLD else value for name, value in counts.items()
    }
    while True:
        derivable = sorted(
            name for name, interval in exposed(shown, relations, at_most).items() if interval.known
        )
        if not derivable:
            return shown
        shown[_next_to_hide(derivable[0], shown, counts, relations, at_most)] = HIDDEN


def _next_to_hide(
    derivable: str,
    shown: Mapping[str, Shown],
    counts: Mapping[str, int],
    relations: Sequence[Relation],
    at_most: Sequence[tuple[str, str]],
) -> str:
    """The cell to hide next so that ``derivable`` is not: the smallest part still shown of
    its sum, else the sum's total, else a cell bounding it."""

    def still_shown(name: str) -> bool:
        return isinstance(shown.get(name), int) and counts.get(name, 0) > 0

    for relation in relations:
        if derivable in (relation.total, *relation.parts):
            parts = [name for name in relation.parts if still_shown(name)]
            if parts:
                return min(parts, key=lambda name: (counts[name], name))
            if still_shown(relation.total):
                return relation.total
    for low, high in at_most:
        for name, other in ((low, high), (high, low)):
            if name == derivable and still_shown(other):
                return other
    raise AssertionError(f"nothing left to hide for {derivable}")
