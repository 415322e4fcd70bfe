"""The views of the contacts service, one module each, following its own event log.

- :mod:`contacts.projections.queue`: the lost-contact queue per district and its counts;
- :mod:`contacts.projections.detail`: the case detail and its timeline;
- :mod:`contacts.projections.data_protection`: legal holds and erasures (for the retention
  job).

Personal fields stay sealed in the view rows; the API opens them for authorised readers.
What the erasure of a person drops or blanks in them is :data:`FORGET`.
"""

from __future__ import annotations

from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow

from contacts.domain import OutreachCase
from shared.erasure import Forget, blank_tokens, forget_all
from shared.privacy import ERASED

CASE_TOPICS = tuple(
    get_topic(event)
    for event in (
        OutreachCase.ContactLost,
        OutreachCase.ContactRestored,
        OutreachCase.ContactDetailsUpdated,
        OutreachCase.Closed,
        OutreachCase.CoachingNoted,
        OutreachCase.VisitNoted,
        OutreachCase.LetterNoted,
    )
)
"""The events of a case, as stored (each event's ``TOPIC``): what the case views follow."""


def _blank_case_detail_person(cursor: Cursor[DictRow], subject_id: UUID) -> None:
    cursor.execute(
        b"UPDATE case_detail SET person = (SELECT jsonb_object_agg(key, CASE WHEN "
        b"jsonb_typeof(value) = 'null' THEN value ELSE to_jsonb(%(erased)s::text) END) "
        b"FROM jsonb_each(person)) WHERE subject_id = %(subject)s",
        {"subject": subject_id, "erased": ERASED},
    )


FORGET: Forget = forget_all(
    blank_tokens(
        "case_queue",
        "name_token",
        where="case_id IN (SELECT case_id FROM case_detail WHERE subject_id = %(subject)s)",
    ),
    _blank_case_detail_person,
)
"""What contacts forgets of an erased person: the sealed name in the queue and every sealed
field of the case detail become ``[erased]``; the case, its status and timeline (no personal
data) stay as the audit trail."""
