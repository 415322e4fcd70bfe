"""The views of the coaching service, one module each.

Following the service's own event log (rows and tracking in one transaction):

- :mod:`coaching.projections.registry`: providers, their coaches, caseload and free places;
- :mod:`coaching.projections.records`: every coaching (caseloads, extensions due, history);
- :mod:`coaching.projections.programmes`: the group programmes' rosters and attendance.

Fed by a Kafka consumer (``coaching.messaging``):

- :mod:`coaching.projections.case_directory`: who a case is, from the contacts events.

Personal fields stay sealed in the rows; the API opens them for authorised readers. What
the erasure of a person drops or blanks in them is :data:`FORGET`.
"""

from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic
from psycopg import Cursor
from psycopg.rows import DictRow

from shared.erasure import Forget, blank_tokens, forget_all
from shared.privacy import ERASED


def topics_of(*events: type[Any]) -> tuple[str, ...]:
    """The topics the events are stored under (each event's ``TOPIC``): what a projection
    follows."""
    return tuple(get_topic(event) for event in events)


def _blank_household(cursor: Cursor[DictRow], subject_id: UUID) -> None:
    cursor.execute(
        b"UPDATE coaching_record SET household = (SELECT coalesce(jsonb_agg(member || "
        b"jsonb_build_object('name_token', %(erased)s::text)), '[]'::jsonb) "
        b"FROM jsonb_array_elements(household) AS member) WHERE subject_id = %(subject)s",
        {"subject": subject_id, "erased": ERASED},
    )


FORGET: Forget = forget_all(
    blank_tokens("case_directory", "name_token", "address_token", "phone_token"),
    _blank_household,
)
"""What coaching forgets of an erased person: the sealed contact data of the hand-over packet
and the names of household members become ``[erased]``; the coaching's facts stay."""
