"""The channels towards people: e-mail over SMTP, text messages over an HTTP gateway (off
unless configured). Letters need no channel of their own: they go into the district's
print batch (``letters.py``), which staff download and post.

A channel raises :class:`TransientDeliveryError` when trying again later may help (the mail
server is down) and :class:`PermanentDeliveryError` when it cannot (the server refused the
recipient). Nothing here logs an address or content.
"""

from __future__ import annotations

import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

import httpx


class DeliveryError(Exception):
    permanent = False


class TransientDeliveryError(DeliveryError):
    pass


class PermanentDeliveryError(DeliveryError):
    permanent = True


class RecipientUnknownError(TransientDeliveryError):
    """Not learnt yet from the other services' events (they may still arrive)."""


@dataclass(frozen=True)
class OutgoingEmail:
    to: str
    subject: str
    body: str
    message_id: str
    """``<idempotency key@domain>``: the same for every attempt of one notification."""


class Mailer(Protocol):
    def send(self, email: OutgoingEmail) -> None: ...


class SmtpMailer:
    """Hands an e-mail to an SMTP server (a plain local relay; no authentication)."""

    def __init__(self, host: str, port: int, sender: str, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout

    def build(self, email: OutgoingEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = email.to
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = email.message_id
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(email.body)
        return message

    def send(self, email: OutgoingEmail) -> None:
        message = self.build(email)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise PermanentDeliveryError(f"recipient refused: {_codes(error)}") from None
        except smtplib.SMTPResponseException as error:
            kind = (
                PermanentDeliveryError if 500 <= error.smtp_code < 600 else TransientDeliveryError
            )
            raise kind(f"SMTP {error.smtp_code}") from None
        except (smtplib.SMTPException, OSError) as error:  # timeouts are OSErrors
            # Staff read this as the notification's ``last_error``: what went wrong, not the
            # library's or the operating system's own message.
            raise TransientDeliveryError(
                f"the mail server could not be reached ({type(error).__name__})"
            ) from None


def _codes(error: smtplib.SMTPRecipientsRefused) -> str:
    return ", ".join(str(code) for code, _ in error.recipients.values())


class SmsGateway(Protocol):
    enabled: bool

    def send(self, to: str, text: str, reference: str) -> None: ...


class DisabledSms:
    """The default: no text messages are sent (and none are queued)."""

    enabled = False

    def send(self, to: str, text: str, reference: str) -> None:
        raise PermanentDeliveryError("the SMS channel is off")


class HttpSmsGateway:
    """Posts ``{"to", "text", "reference"}`` to a gateway; ``reference`` is the idempotency
    key, for gateways that de-duplicate by it."""

    enabled = True

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def send(self, to: str, text: str, reference: str) -> None:
        try:
            response = httpx.post(
                self.url,
                json={"to": to, "text": text, "reference": reference},
                timeout=self.timeout,
            )
        except httpx.HTTPError as error:
            raise TransientDeliveryError(f"{type(error).__name__}") from None
        if response.status_code >= 500:
            raise TransientDeliveryError(f"gateway answered {response.status_code}")
        if response.status_code >= 400:
            raise PermanentDeliveryError(f"gateway answered {response.status_code}")


def sms_gateway(url: str | None) -> SmsGateway:
    return HttpSmsGateway(url) if url else DisabledSms()
