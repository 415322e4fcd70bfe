"""The views of the visits service, one module each.

- :mod:`visits.projections.board`: the district's planning board;
- :mod:`visits.projections.records`: every visit (agenda, history);
- :mod:`visits.projections.outreach_contracts`: which provider runs the outreach where;
- :mod:`visits.projections.calendar_feeds`: each worker's calendar links.

What the erasure of a person drops or blanks in them is :data:`FORGET`.
"""

from eventsourcing.utils import get_topic

from shared.erasure import Forget, blank_tokens, forget_all
from visits.domain import Visit

VISIT_TOPICS = tuple(
    get_topic(event)
    for event in (Visit.Announced, Visit.Rescheduled, Visit.Cancelled, Visit.Completed)
)
"""The events of a visit, as stored (each event's ``TOPIC``): what the projections follow."""


FORGET: Forget = forget_all(
    blank_tokens("planning_board", "name_token", "address_token"),
    blank_tokens(
        "visit_record", "name_token", "address_token", "place_description_token", "note_token"
    ),
)
"""What visits forgets of an erased person: every sealed field on the board and in the visit
records (name, address, place, note) becomes ``[erased]``; dates, outcomes and attempts
(no personal data) stay."""
