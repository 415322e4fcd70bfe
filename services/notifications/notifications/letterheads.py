"""A district's letterhead: how it signs its letters and how people reach the team. Set by
the district's team lead over HTTP (the staff directory view) or in the settings
(``OUTREACH_LETTERHEADS``); a district with neither has none — nothing is printed with an
invented one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notifications.projections.staff_directory import StaffDirectoryView
from notifications.settings import Letterhead


class Letterheads:
    """The districts' letterheads: the one set over HTTP, else the one in the settings."""

    def __init__(self, staff: StaffDirectoryView, configured: Mapping[str, Letterhead]) -> None:
        self.staff = staff
        self.configured = configured

    def of(self, district: str) -> Letterhead | None:
        entered = self.staff.letterhead(district)
        if entered is not None:
            return Letterhead.model_validate(entered)
        return self.configured.get(district)

    def districts(self) -> set[str]:
        """The districts that have one."""
        return self.staff.letterhead_districts() | set(self.configured)


def letterhead_variables(head: Letterhead) -> dict[str, Any]:
    """What every template may say of the sender: team, Jobcenter, phone, e-mail, hours."""
    return {
        "team": head.team,
        "jobcenter": head.jobcenter,
        "phone": head.phone,
        "email": head.email,
        "hours": head.hours,
    }
