"""Why personal data is read: the stated purpose of every read (header ``X-Purpose``).

One of :class:`Purpose`, optionally followed by a colon, an optional space and a free-text
note of up to 200 characters, e.g. ``X-Purpose: case_work`` or ``X-Purpose: visit_planning:
round of 3 December``. Header values are ASCII: other characters of the note are sent
percent-encoded (UTF-8); a control character is refused, encoded or not. A read without the
header is refused with **400** ``purpose_required``; anything else that is not
:data:`PURPOSE_PATTERN` (an unknown purpose, a longer note, a control character, broken
UTF-8) with **400** ``invalid_purpose``. The pattern is published in the OpenAPI document
and is the parser. ``break_glass`` cannot be claimed in the header: it is recorded by the
service when a read was allowed only by a break-glass grant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote

from shared.errors import ApplicationError

PURPOSE_HEADER = "X-Purpose"
NOTE_MAX = 200


class Purpose(StrEnum):
    """Why personal data is opened (§67c SGB X: data is processed only for its purpose)."""

    CASE_WORK = "case_work"
    """Working on the outreach case (case managers, team leads)."""
    VISIT_PLANNING = "visit_planning"
    """Planning, making or following up a home visit (outreach workers, team leads)."""
    COACHING = "coaching"
    """Requesting, assigning or running a coaching; a provider's coach with their people."""
    AUDIT = "audit"
    """Data-protection control: the officer, an Art. 15 export."""
    BREAK_GLASS = "break_glass"
    """Set by the service, never by the header: a read allowed only by a break-glass grant."""


CLAIMABLE = frozenset(Purpose) - {Purpose.BREAK_GLASS}


def _note_character() -> str:
    """One character of the note as sent: printable ASCII other than ``%``, or one
    percent-encoded UTF-8 character that is not a control character (no C0, DEL or C1, no
    overlong form, no surrogate)."""
    cont = "%[89ABab][0-9A-Fa-f]"
    return "|".join(
        (
            "[ -$&-~]",
            "%(?:[2-6][0-9A-Fa-f]|7[0-9A-Ea-e])",
            "%[Cc]2%[ABab][0-9A-Fa-f]",
            f"%(?:[Cc][3-9A-Fa-f]|[Dd][0-9A-Fa-f]){cont}",
            f"%[Ee]0%[ABab][0-9A-Fa-f]{cont}",
            f"%(?:[Ee][1-9A-Ca-cEeFf]){cont}{cont}",
            f"%[Ee][Dd]%[89][0-9A-Fa-f]{cont}",
            f"%[Ff]0%[9ABab][0-9A-Fa-f]{cont}{cont}",
            f"%[Ff][1-3]{cont}{cont}{cont}",
            f"%[Ff]4%8[0-9A-Fa-f]{cont}{cont}",
        )
    )


PURPOSE_PATTERN = (
    "^(" + "|".join(sorted(CLAIMABLE)) + f")(?::[ ]?(?:{_note_character()}){{0,{NOTE_MAX}}})?$"
)
"""What ``X-Purpose`` may be, exactly (the parser and the OpenAPI document use it)."""
_PURPOSE = re.compile(PURPOSE_PATTERN)


class PurposeRequiredError(ApplicationError):
    status = 400
    code = "purpose_required"


class InvalidPurposeError(ApplicationError):
    status = 400
    code = "invalid_purpose"


@dataclass(frozen=True)
class StatedPurpose:
    purpose: Purpose
    note: str | None = None

    @classmethod
    def parse(cls, header: str | None) -> StatedPurpose:
        """``purpose`` or ``purpose: note`` (see the module's docstring)."""
        if header is None or not header.strip():
            raise purpose_required()
        if not _PURPOSE.fullmatch(header):
            raise InvalidPurposeError(
                f"{PURPOSE_HEADER} must be one of " + ", ".join(sorted(CLAIMABLE)) + ", "
                f"optionally followed by ':' and a note of up to {NOTE_MAX} characters "
                "without control characters (percent-encoded UTF-8 beyond ASCII)",
                header=PURPOSE_HEADER,
                allowed=sorted(CLAIMABLE),
            )
        name, _, note = header.partition(":")
        # The pattern admits only well-formed UTF-8 escapes: decoding cannot fail.
        return cls(Purpose(name), unquote(note, errors="strict").strip() or None)


def purpose_required() -> PurposeRequiredError:
    """The answer to a read of personal data without ``X-Purpose``."""
    return PurposeRequiredError(
        f"reading personal data needs the header {PURPOSE_HEADER}; one of "
        + ", ".join(sorted(CLAIMABLE)),
        header=PURPOSE_HEADER,
        allowed=sorted(CLAIMABLE),
    )
