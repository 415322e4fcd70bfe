"""Team leads and management: the outreach figures ("Kennzahlen") of a district as charts,
each with the table behind it, and the figures as CSV.

The charts are inline SVG drawn here (bars as ``<rect>`` whose sizes are attributes, not
styles: the page's Content-Security-Policy allows no inline style and no script). A cell the
contacts service suppressed (``<5``, ``x``) gets no bar, only its mark; the table under each
chart lists what the chart shows.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach_web.core import CurrentSession, require_role, web_of
from outreach_web.german import LABELS, LOCAL_TIME
from outreach_web.pages.common import refusal
from outreach_web.services import ServiceError

router = APIRouter()
READERS = ("team_lead", "management")
_MONTH = re.compile(r"[1-9][0-9]{3}-(0[1-9]|1[0-2])")
MONTHS_DE = (
    "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez.",
)  # fmt: skip

LABEL_WIDTH = 80
BAR_AREA = 270
BAR_HEIGHT = 14
BAR_GAP = 4
GROUP_GAP = 12


@dataclass(frozen=True)
class Series:
    figure: str
    label: str
    charted: bool = True
    """Drawn as a bar (the parts of a total are in the table only)."""


@dataclass(frozen=True)
class Bar:
    series: int
    label: str
    shown: Any
    x: int
    y: int
    width: int


@dataclass(frozen=True)
class Group:
    month: str
    y: int
    bars: list[Bar]
    cells: list[Any]
    """Every series' value as published (the table's row)."""


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    description: str
    series: list[Series]
    charted: list[Series]
    groups: list[Group]
    height: int
    extra: list[tuple[str, list[str]]]
    """More columns of the table: a heading and a value per month."""


def _channel(key: str) -> str:
    return LABELS["channel"][key]


CHARTS: tuple[tuple[str, str, str, tuple[Series, ...]], ...] = (
    (
        "verloren",
        "Kontakt verloren",
        "Gemeldete Kontaktabbrüche je Monat, nach Grund.",
        (
            Series("contacts_lost", "Gemeldet"),
            *(
                Series(f"contacts_lost.{key}", text, charted=False)
                for key, text in LABELS["reason"].items()
            ),
        ),
    ),
    (
        "besuche",
        "Hausbesuche",
        "Angekündigte und gemachte Besuche; erreicht: angetroffen, an der Tür oder woanders.",
        (
            Series("visits_announced", "Angekündigt"),
            Series("visits_made", "Gemacht"),
            Series("visits_reached", "Erreicht"),
        ),
    ),
    (
        "wiederhergestellt",
        "Kontakt wiederhergestellt",
        "Wie der Kontakt zurückkam; nach dem Ankündigungsschreiben heißt: ohne Besuch.",
        (
            Series("contact_restored", "Insgesamt"),
            Series(
                "contact_restored.after_announcement_letter", _channel("after_announcement_letter")
            ),
            Series("contact_restored.home_visit", _channel("home_visit")),
            Series("contact_restored.phone", _channel("phone")),
            Series("contact_restored.office_visit", _channel("office_visit"), charted=False),
            Series("contact_restored.other", _channel("other"), charted=False),
        ),
    ),
    (
        "coaching",
        "Coaching",
        "Vermittlungen mit Einverständnis, zugewiesene Coaches, Verlängerungen und Enden.",
        (
            Series("coaching_referrals_with_consent", "Vermittlung mit Einverständnis"),
            Series("coaches_assigned", "Coach zugewiesen"),
            Series("coachings_extended", "Verlängert"),
            Series("coachings_ended", "Beendet"),
            *(
                Series(f"coachings_ended.{key}", f"Beendet: {text}", charted=False)
                for key, text in LABELS["end_reason"].items()
            ),
        ),
    ),
    (
        "programme",
        "Gruppenprogramme",
        "Anmeldungen und Abschlüsse in Gruppenprogrammen des Jobcenters.",
        (
            Series("programme_enrolments", "Angemeldet"),
            Series("programme_completions", "Abgeschlossen"),
        ),
    ),
)


def month_label(month: str) -> str:
    year, number = month.split("-")
    return f"{MONTHS_DE[int(number) - 1]} {year}"


def chart(
    key: str, title: str, description: str, series: tuple[Series, ...], rows: list[dict[str, Any]]
) -> Chart:
    """The bars of ``series`` for each month of ``rows`` (one district)."""
    numbers = [
        row["figures"][s.figure]
        for row in rows
        for s in series
        if s.charted and isinstance(row["figures"].get(s.figure), int)
    ]
    scale = BAR_AREA / max([1, *numbers])
    charted = [s for s in series if s.charted]
    groups = []
    y = 0
    for row in rows:
        bars = []
        for index, s in enumerate(charted):
            value = row["figures"].get(s.figure, 0)
            width = round(value * scale) if isinstance(value, int) else 0
            bars.append(
                Bar(index, s.label, value, LABEL_WIDTH, y + index * (BAR_HEIGHT + BAR_GAP), width)
            )
        cells = [row["figures"].get(s.figure, 0) for s in series]
        groups.append(Group(month_label(row["month"]), y, bars, cells))
        y += len(charted) * (BAR_HEIGHT + BAR_GAP) + GROUP_GAP
    extra: list[tuple[str, list[str]]] = []
    if key == "besuche":
        extra.append(("Erreicht je Besuch", [_rate(row["reach_rate"]) for row in rows]))
    if key == "wiederhergestellt":
        extra.append(
            (
                "Tage bis zum Kontakt (Median)",
                [_days(row["median_days_to_restore"]) for row in rows],
            )
        )
    return Chart(key, title, description, list(series), charted, groups, max(y, 1), extra)


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)} %"


def _days(value: float | None) -> str:
    return "–" if value is None else f"{value:g}".replace(".", ",")


def _month(text: str | None) -> str | None:
    return text if text is not None and _MONTH.fullmatch(text) else None


SHOWN_MONTHS = 6
"""The months the page shows unless asked for others (the service's default is a year)."""


def _query(session: Any, bezirk: str | None, von: str | None, bis: str | None) -> dict[str, Any]:
    districts = sorted(session.identity.districts)
    district = bezirk if bezirk in districts else districts[0]
    last = _month(bis) or dt.datetime.now(LOCAL_TIME).strftime("%Y-%m")
    year, month = (int(part) for part in last.split("-"))
    index = year * 12 + month - 1 - (SHOWN_MONTHS - 1)
    first = _month(von) or f"{index // 12:04d}-{index % 12 + 1:02d}"
    return {"district": district, "from": first, "to": last}


@router.get("/kennzahlen")
def figures(
    request: Request,
    session: CurrentSession,
    bezirk: str | None = None,
    von: str | None = None,
    bis: str | None = None,
) -> Response:
    require_role(session, *READERS)
    web = web_of(request)
    params = _query(session, bezirk, von, bis)
    error: str | None = None
    answer: dict[str, Any] = {"rows": [], "first_month": "", "last_month": ""}
    try:
        answer = web.services.get(
            "contacts", "/reports/outreach", web.token(session), params=params
        )
    except ServiceError as refused:
        if refused.status == 401:
            raise
        error = refusal(refused)["error"]
    rows = answer["rows"]
    return web.render(
        request,
        "figures.html",
        session=session,
        district=params["district"],
        first=answer["first_month"],
        last=answer["last_month"],
        charts=[chart(*spec, rows) for spec in CHARTS] if rows else [],
        months=[month_label(row["month"]) for row in rows],
        error=error,
    )


@router.get("/kennzahlen.csv")
def figures_csv(
    request: Request,
    session: CurrentSession,
    bezirk: str | None = None,
    von: str | None = None,
    bis: str | None = None,
) -> Response:
    require_role(session, *READERS)
    web = web_of(request)
    params = {**_query(session, bezirk, von, bis), "format": "csv"}
    response = web.services.call(
        "contacts", "GET", "/reports/outreach", web.token(session), params=params
    )
    name = f"kennzahlen-{re.sub('[^a-z0-9-]', '', params['district'])}.csv"
    return Response(
        response.text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
