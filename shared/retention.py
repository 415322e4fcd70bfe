"""The retention periods per district: how long after the end of a person's last case their
record and their visit notes are kept (``OUTREACH_RETENTION_PERIODS``, JSON, e.g.
``{"kassel": {"case_record_years": 10}}``).

Read by the retention job of the contacts service (``contacts.retention``), which erases
what is due, and by the Art. 15 export (``shared.dpo``), which tells the person how long
their data is kept.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared.settings import ServiceSettings


class RetentionPeriods(BaseModel):
    """Retention periods after the end of the case, in years: the case record (the person is
    erased) and the visit notes (only the key of their category is destroyed)."""

    case_record_years: int = Field(default=5, ge=1, le=30)
    visit_notes_years: int = Field(default=1, ge=0, le=30)


class RetentionSettings(ServiceSettings):
    retention_periods: dict[str, RetentionPeriods] = Field(
        default_factory=dict, description="Periods per district (others: the defaults)."
    )

    def periods(self, district: str) -> RetentionPeriods:
        return self.retention_periods.get(district, RetentionPeriods())
