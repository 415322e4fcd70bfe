"""The outreach figures: ``GET /reports/outreach`` for team leads and management.

Counts per district and month, small cells suppressed (:mod:`contacts.reporting`); no
person's data, so no stated purpose. Every read is recorded (who, which districts and
months, which form) before it is answered.
"""

# No "from __future__ import annotations": FastAPI resolves the route signatures.

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from contacts.api.deps import FiguresReader, ReportDep
from contacts.api.schemas import FiguresRow, OutreachFigures
from contacts.reporting import report
from contacts.reporting.figures import FIGURES, GERMANY, month_of
from shared.errors import InvalidInputError
from shared.http.inputs import Key, YearMonth

router = APIRouter(prefix="/reports", tags=["reports"])

CSV = "text/csv; charset=utf-8"


class MonthRangeError(InvalidInputError):
    """Each month is well formed, but not the range they make (which the OpenAPI document
    cannot say): a rule of its own, naming the field."""

    code = "month_range"


def _bad_range(field: str, message: str) -> MonthRangeError:
    return MonthRangeError(
        f"query.{field}: {message}",
        field=field,
        errors=[{"loc": ["query", field], "msg": message, "type": "month_range"}],
    )


@router.get(
    "/outreach",
    response_model=OutreachFigures,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
def outreach_figures(
    view: ReportDep,
    principal: FiguresReader,
    district: Annotated[
        Key | None,
        Query(description="One district of the token (default: every one).", examples=["kassel"]),
    ] = None,
    first: Annotated[
        YearMonth | None,
        Query(alias="from", description="First month, YYYY-MM (default: 11 months before to)."),
    ] = None,
    last: Annotated[
        YearMonth | None, Query(alias="to", description="Last month, YYYY-MM (default: this one).")
    ] = None,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")] = "json",
) -> OutreachFigures | Response:
    """The outreach figures of the caller's districts, one row per district and month."""
    if district is not None:
        principal.check_district(district, "district")
    districts = [district] if district is not None else sorted(principal.districts)
    from_month, to_month = _range(first, last)
    found = report.rows(
        districts,
        from_month,
        to_month,
        view.counts(districts, from_month, to_month),
        view.restored_days(districts, from_month, to_month),
    )
    view.record_read(
        user=principal.user,
        role=principal.role.value,
        user_districts=sorted(principal.districts),
        districts=districts,
        first=from_month,
        last=to_month,
        form=format,
    )
    if format == "csv":
        return Response(report.to_csv(found), media_type=CSV)
    return _figures(found, from_month, to_month)


def _range(first: str | None, last: str | None) -> tuple[date, date]:
    """The months asked for: ``to`` defaults to this month, ``from`` to 11 months before."""
    to_month = report.parse_month(last) if last is not None else month_of(datetime.now(GERMANY))
    from_month = report.parse_month(first) if first is not None else report.shift(to_month, -11)
    if from_month > to_month:
        raise _bad_range("from", "must not be after to")
    if len(report.months(from_month, to_month)) > report.MAX_MONTHS:
        raise _bad_range("from", f"at most {report.MAX_MONTHS} months before to")
    return from_month, to_month


def _figures(found: list[report.Row], first: date, last: date) -> OutreachFigures:
    return OutreachFigures(
        first_month=report.month_text(first),
        last_month=report.month_text(last),
        figures=list(FIGURES),
        rows=[
            FiguresRow(
                district=row.district,
                month=report.month_text(row.month),
                figures=dict(row.cells),
                reach_rate=row.reach_rate,
                median_days_to_restore=row.median_days_to_restore,
            )
            for row in found
        ],
    )
