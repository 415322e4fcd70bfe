"""The pages of each role: one router per area."""

from __future__ import annotations

from fastapi import APIRouter

from outreach_web.pages import calendar, cases, coaching, field, figures, planning, privacy


def routers() -> list[APIRouter]:
    return [
        cases.router,
        planning.router,
        field.router,
        calendar.router,
        coaching.router,
        privacy.router,
        figures.router,
    ]
