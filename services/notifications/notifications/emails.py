"""E-mails to staff and providers (never with the person's personal data: ids, dates, codes
and links only): to whom one goes, and its text from the template."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from notifications.channels import OutgoingEmail, PermanentDeliveryError, RecipientUnknownError
from notifications.domain import Notification
from notifications.letterheads import Letterheads
from notifications.projections.directory import DirectoryView
from notifications.rendering import BERLIN, CHANNELS, OUTCOMES, Templates, german_date
from notifications.settings import NotificationsSettings
from shared.contracts.notifications import RecipientKind


class Emails:
    """Composes the e-mail of a notification to a case manager, a provider or a team lead."""

    def __init__(
        self,
        settings: NotificationsSettings,
        templates: Templates,
        directory: DirectoryView,
        letterheads: Letterheads,
    ) -> None:
        self.settings = settings
        self.templates = templates
        self.directory = directory
        self.letterheads = letterheads

    def email(self, n: Notification, today: date | None = None) -> OutgoingEmail:
        to = self.recipient_address(n)
        day = today or datetime.now(BERLIN).date()
        rendered = self.templates.render(n.template, n.template_version, self.variables(n, day))
        return OutgoingEmail(
            to=to,
            subject=rendered.subject,
            body=rendered.text,
            message_id=f"<{n.idempotency_key}@{self.settings.message_id_domain}>",
        )

    def recipient_address(self, n: Notification) -> str:
        s = self.settings
        if n.recipient_kind is RecipientKind.CASE_MANAGER:
            user = n.recipient
            if user is None:
                row = self.directory.case(n.context["case_id"])
                user = row["case_manager"] if row else None
            if not user:
                raise RecipientUnknownError("the case manager is not known yet")
            return s.user_email_pattern.format(user=user)
        if n.recipient_kind is RecipientKind.PROVIDER:
            provider = n.recipient or ""
            return s.provider_emails.get(provider) or s.provider_email_pattern.format(
                provider=provider
            )
        if n.recipient_kind is RecipientKind.TEAM_LEAD:
            return s.team_lead_emails.get(n.district) or s.team_lead_email_pattern.format(
                district=n.district
            )
        raise PermanentDeliveryError("no e-mail address for the person")

    def signature(self, district: str) -> tuple[str, str]:
        """Team and Jobcenter that sign an e-mail to staff (internal: a district without a
        letterhead signs with its name)."""
        head = self.letterheads.of(district)
        if head is None:
            return "Team Aufsuchende Beratung", f"Jobcenter ({district})"
        return head.team, head.jobcenter

    def variables(self, n: Notification, today: date) -> dict[str, Any]:
        team, jobcenter = self.signature(n.district)
        base = self.settings.public_base_url.rstrip("/")
        c = n.context
        variables: dict[str, Any] = {**c, "team": team, "jobcenter": jobcenter}
        if "case_id" in c:
            variables["case_url"] = f"{base}:8101/cases/{c['case_id']}"
        for key in ("restored_on", "completed_on", "starts_on", "ends_on"):
            if key in c:
                variables[key] = german_date(date.fromisoformat(c[key]))
        if "channel" in c:
            variables["channel"] = CHANNELS.get(c["channel"], c["channel"])
        if "outcome" in c:
            variables["outcome"] = OUTCOMES.get(c["outcome"], c["outcome"])
        if "coaching_id" in c:
            variables["coaching_url"] = f"{base}:8103/coachings/{c['coaching_id']}"
            variables["provider_url"] = f"{base}:8103/provider/coachings/{c['coaching_id']}"
        if "ends_on" in c:
            variables["days_left"] = (date.fromisoformat(c["ends_on"]) - today).days
        return variables
