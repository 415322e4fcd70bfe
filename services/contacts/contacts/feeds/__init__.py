"""Pseudonymised, purpose-limited feeds for subscribing teams of other departments.

The data protection officer registers each subscriber (``POST /dpo/feeds`` on contacts):
a name, the purpose, and an allow-list of event types and payload fields. The registration
covers the districts on the officer's token: the officer of a district passes on that
district's events only. The feed worker then republishes the product events of those
districts to ``outreach.feed.<subscriber>``, one topic each:

- only allow-listed event types, and of those only the allow-listed fields. A field that is
  or contains a sealed personal field (names, addresses, phone numbers, notes, ...) can
  never be allow-listed: registration refuses it, and a sealed token that still turns up
  in a value is dropped when filtering;
- the person as a pseudonym of the subscriber's own: HMAC-SHA-256 of the subject with a key
  per subscriber, and so every id (case, visit, coaching, event): two subscribers cannot
  join their data, nor link it to the product topics;
- an erasure reaches every subscriber as a tombstone for its own pseudonym of the person
  (``event_type`` ``SubjectErased``), whatever the districts: it must delete what it holds
  about them (a person may have had cases in several districts; a tombstone for a person a
  subscriber never heard of tells it nothing).

The worker is a consumer of the product topics like any other (tracked by event id): it
writes the filtered messages of every subscriber, with its tracking record, into
``feed_outbox`` in one transaction; a publisher sends them in order and deletes what the
broker acknowledged (at least once; subscribers de-duplicate by ``feed_event_id``). The
contacts service runs both (``contacts.main``); registry and outbox live in its database.

- :mod:`contacts.feeds.filtering`: the allow-list check and the filter of one message;
- :mod:`contacts.feeds.worker`: the registry and outbox (:class:`FeedView`), the consumers
  filling the outbox and the publisher sending it;
- the officer's routes: :mod:`contacts.api.feeds` (``/dpo/feeds``).
"""

from contacts.feeds.filtering import (
    FeedFieldNotAllowedError,
    FeedOfOtherDistrictsError,
    Subscriber,
    check_allow_list,
    feed_message,
    feed_topic,
)
from contacts.feeds.worker import PRODUCT_TOPICS, FeedPublisher, FeedView, feed_consumers

__all__ = [
    "PRODUCT_TOPICS",
    "FeedFieldNotAllowedError",
    "FeedOfOtherDistrictsError",
    "FeedPublisher",
    "FeedView",
    "Subscriber",
    "check_allow_list",
    "feed_consumers",
    "feed_message",
    "feed_topic",
]
