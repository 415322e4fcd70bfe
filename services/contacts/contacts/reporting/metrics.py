"""The current month's outreach figures as Prometheus gauges (served by the contacts worker).

``outreach_figure{district, figure}``: the figure of this month (in Germany) as published —
a suppressed cell (``<5``, ``x``) is not exported, and a district is exported only once one
of its figures is shown as a number above zero, so a district whose counts are all small
(and a burst of new districts) adds no series. Label values are bounded: the figures are
the code's, and at most :data:`MAX_DISTRICTS` districts (by name) are exported. No month
label: the gauge is this month's, and a past month's figures are read from
``GET /reports/outreach``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from prometheus_client import Metric
from prometheus_client.core import GaugeMetricFamily

from contacts.reporting import report
from contacts.reporting.figures import FIGURES, GERMANY, month_of
from contacts.reporting.view import OutreachReportView

MAX_DISTRICTS = 50


def figures_part(
    view: OutreachReportView, today: Callable[[], datetime] = lambda: datetime.now(GERMANY)
) -> Callable[[], Iterable[Metric]]:
    """The gauges of the current month, read from ``view`` at scrape time."""

    def part() -> Iterator[Metric]:
        month = month_of(today())
        districts = view.districts_in(month, MAX_DISTRICTS)
        found = report.rows(
            districts,
            month,
            month,
            view.counts(districts, month, month),
            view.restored_days(districts, month, month),
        )
        figure = GaugeMetricFamily(
            "outreach_figure",
            "This month's outreach figure per district, as published (suppressed cells and "
            "districts with only small counts are left out).",
            labels=["district", "figure"],
        )
        rate = GaugeMetricFamily(
            "outreach_figure_reach_rate",
            "This month's reach rate (visits reached / made) per district, where published.",
            labels=["district"],
        )
        for row in found:
            if not any(isinstance(v, int) and v > 0 for v in row.cells.values()):
                continue
            for name in FIGURES:
                value = row.cells[name]
                if isinstance(value, int):
                    figure.add_metric([row.district, name], value)
            if row.reach_rate is not None:
                rate.add_metric([row.district], row.reach_rate)
        yield figure
        yield rate

    return part
