"""Letters to the person, and the composer of everything the outbox sends.

- :class:`Letter`: what is printed on one letter (stored sealed with the person's key in the
  ``Sent`` event; the PDF is made from it on demand, :mod:`notifications.printing`);
- :func:`build_letter`: the one place a letter is put together from the district's
  letterhead and a rendered template — for the outbox and for the template preview alike;
- :class:`Composer`: a due notification into what is sent, the letter (here) or the e-mail
  (:mod:`notifications.emails`), in German.

The text itself is in the templates (``services/notifications/templates/``) and the
German wording of dates and codes in :mod:`notifications.rendering`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from notifications.channels import (
    OutgoingEmail,
    PermanentDeliveryError,
    RecipientUnknownError,
    TransientDeliveryError,
)
from notifications.domain import Notification
from notifications.emails import Emails
from notifications.letterheads import Letterheads, letterhead_variables
from notifications.projections.directory import DirectoryView
from notifications.projections.staff_directory import StaffDirectoryView
from notifications.rendering import (
    PURPOSES,
    Rendered,
    Templates,
    addressed,
    describe_schedule,
    german_date,
    join_names,
)
from notifications.settings import Letterhead
from shared.contracts.notifications import NotificationChannel
from shared.privacy import ERASED, PersonalDataCipher


@dataclass(frozen=True)
class Letter:
    """Everything printed on one letter."""

    district: str
    sender: list[str]
    """The letterhead: Jobcenter, team, address."""
    contact: list[str]
    """How to reach the team (phone, e-mail, hours)."""
    recipient: list[str]
    """Name and postal address."""
    date: str
    subject: str
    paragraphs: list[str]
    privacy_notice: str
    reference: str
    """The notification id, printed small (to find the letter again, not personal)."""
    template: str = ""
    template_version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Letter:
        return cls(**json.loads(text))

    @property
    def text(self) -> str:
        """The letter as plain text (for the API and for checks)."""
        return "\n".join(
            [
                *self.sender,
                "",
                *self.recipient,
                "",
                self.date,
                self.subject,
                "",
                *self.paragraphs,
                "",
                self.privacy_notice,
            ]
        )


def privacy_notice(letterhead_dpo: str, jobcenter: str) -> str:
    return (
        f"Datenschutz: {jobcenter} verarbeitet Ihre Daten nach §35 SGB I und §§67 ff. SGB X "
        "nur, um Ihnen Beratung und Unterstützung anzubieten. Bei einem Besuch wird nur "
        "festgehalten, was dafür nötig ist. Sie können Auskunft über Ihre Daten verlangen "
        f"(Art. 15 DSGVO). Fragen an die Datenschutzbeauftragte: {letterhead_dpo}."
    )


def build_letter(
    head: Letterhead,
    rendered: Rendered,
    *,
    district: str,
    recipient: list[str],
    day: date,
    reference: str,
    template: str = "",
    template_version: int = 0,
) -> Letter:
    """The letter of ``district`` to ``recipient`` (name, address lines), dated ``day`` at
    the letterhead's town, with the rendered template as its subject and paragraphs."""
    city = head.address[-1].split(" ", 1)[-1] if head.address else ""
    return Letter(
        district=district,
        sender=[head.jobcenter, head.team, *head.address],
        contact=[f"Telefon: {head.phone}", f"E-Mail: {head.email}", head.hours],
        recipient=recipient,
        date=f"{city}, {german_date(day)}" if city else german_date(day),
        subject=rendered.subject,
        paragraphs=rendered.paragraphs,
        privacy_notice=privacy_notice(head.data_protection_officer, head.jobcenter),
        reference=reference,
        template=template,
        template_version=template_version,
    )


def stored_letter(cipher: PersonalDataCipher, token: str) -> Letter | None:
    """A stored letter, opened; ``None`` once the person was erased (it cannot be read)."""
    text = cipher.open(token)
    return None if text == ERASED else Letter.from_json(text)


class PersonErasedError(Exception):
    """The person's key was destroyed: nothing may be sent to them any more."""


class LetterNotComposableError(TransientDeliveryError):
    """Something a letter must say is not configured: the letter is not produced (retried
    with back-off, then given up; staff retry it once it is configured). The message starts
    with a code and names what is missing and where to set it."""


class LetterheadMissingError(LetterNotComposableError):
    """The district has no letterhead: no sender, phone line or data-protection contact to
    print (never an invented one)."""


class StaffNotInDirectoryError(LetterNotComposableError):
    """A member of staff the letter names is not in the staff directory: the person must be
    told who comes (by name), never a user id."""


@dataclass(frozen=True)
class Composed:
    letter: Letter | None = None
    email: OutgoingEmail | None = None


class Composer:
    """Turns a notification into what is sent: the letter or the e-mail, in German."""

    def __init__(
        self,
        templates: Templates,
        cipher: PersonalDataCipher,
        directory: DirectoryView,
        staff: StaffDirectoryView,
        letterheads: Letterheads,
        emails: Emails,
    ) -> None:
        self.templates = templates
        self.cipher = cipher
        self.directory = directory
        self.staff = staff
        self.letterheads = letterheads
        self.emails = emails

    def compose(self, n: Notification, today: date) -> Composed:
        if n.channel is NotificationChannel.LETTER:
            return Composed(letter=self.letter(n, today))
        if n.channel is NotificationChannel.EMAIL:
            return Composed(email=self.emails.email(n))
        raise PermanentDeliveryError(f"channel {n.channel.value} has no composer")

    def letter(self, n: Notification, today: date) -> Letter:
        head = self.letterhead(n.district)
        variables = self.letter_variables(n, head)
        name, address = self._person(n)
        variables["salutation"] = f"Guten Tag {name}"
        return build_letter(
            head,
            self.templates.render(n.template, n.template_version, variables),
            district=n.district,
            recipient=[name, *[part.strip() for part in address.split(",")]],
            day=today,
            reference=str(n.id),
            template=n.template,
            template_version=n.template_version,
        )

    def letterhead(self, district: str) -> Letterhead:
        head = self.letterheads.of(district)
        if head is None:
            raise LetterheadMissingError(
                f"letterhead_missing: no letterhead is configured for district {district} "
                f"(PUT /letterheads/{district}); its letters are held until it is"
            )
        return head

    def letter_variables(self, n: Notification, head: Letterhead) -> dict[str, Any]:
        c = n.context
        variables: dict[str, Any] = {
            **letterhead_variables(head),
            "place": c.get("place", "home"),
            "place_description": None,
            "reason": c.get("reason"),
        }
        if "schedule" in c:
            variables["when"] = describe_schedule(c["schedule"])
        elif "visit_id" in c:
            visit = self.directory.visit(c["visit_id"])
            variables["when"] = describe_schedule(visit["schedule"]) if visit else None
        if "workers" in c:
            variables["workers"] = self.staff_names(list(c["workers"]))
        if "purpose" in c:
            variables["purpose"] = PURPOSES.get(c["purpose"], c["purpose"])
        if c.get("place_description"):
            variables["place_description"] = self._open(c["place_description"])
        if "coach" in c:
            variables.update(
                coach=self.staff_names([c["coach"]]),
                provider_name=c["provider_name"],
                starts_on=german_date(date.fromisoformat(c["starts_on"])),
                ends_on=german_date(date.fromisoformat(c["ends_on"])),
            )
        return variables

    def staff_names(self, users: list[str]) -> str:
        """``Frau Ayşe Yılmaz und Herr Jonas Becker``, from the staff directory."""
        found = self.staff.staff(users)
        missing = [user for user in users if user not in found]
        if missing:
            raise StaffNotInDirectoryError(
                f"staff_unknown: {', '.join(missing)} not in the staff directory "
                "(PUT /staff/{user_id}); the letter must say by name who comes"
            )
        return join_names(
            [addressed(found[u]["display_name"], found[u]["form_of_address"]) for u in users]
        )

    def _person(self, n: Notification) -> tuple[str, str]:
        name, address = n.context.get("name"), n.context.get("address")
        if name is None or address is None:
            row = self.directory.case(n.context["case_id"])
            if row is None:
                raise RecipientUnknownError("the case is not known yet")
            name, address = row["name_token"], row["address_token"]
        return self._open(name), self._open(address)

    def _open(self, token: str | None) -> str:
        if token is None:
            raise RecipientUnknownError("no postal address known yet")
        value = self.cipher.open(token)
        if value == ERASED:
            raise PersonErasedError("the person's data was erased")
        return value
