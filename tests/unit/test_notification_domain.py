"""The notification's rules: its identity, its attempts and back-off, its stored topics."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import pytest
from eventsourcing.utils import get_topic, resolve_topic
from notifications.domain import (
    Notification,
    NotificationNotDueError,
    NotificationNotRetryableError,
    RetryPolicy,
    Status,
    idempotency_key,
    notification_id_for,
)

from shared.contracts.notifications import GivenUpReason
from shared.eventsourcing.meta import acting_as

from .notification_support import NOW, queued, system

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def as_the_service() -> Iterator[None]:
    """The tests' steps are the service's own (as the outbox takes them)."""
    with acting_as(system()):
        yield


def test_the_same_event_and_template_always_give_the_same_notification() -> None:
    source = str(uuid4())
    assert queued(source).id == queued(source).id == notification_id_for(source, "contact_restored")
    assert queued(source).idempotency_key == f"{source}.contact_restored.v1"
    # A revised template does not make a replayed event a new notification.
    assert idempotency_key(source, "contact_restored", 2) != queued(source).idempotency_key


def test_failed_attempts_back_off_exponentially_and_are_given_up_at_the_maximum() -> None:
    policy = RetryPolicy(max_attempts=3, base_seconds=30, max_seconds=3600)
    n = queued()
    now = NOW
    delays = []
    for _ in range(2):
        n.start_attempt(now=now)
        n.record_failure(error="down", permanent=False, now=now, policy=policy)
        assert n.status is Status.FAILED
        assert n.next_attempt_at is not None
        delays.append(n.next_attempt_at - now)
        with pytest.raises(NotificationNotDueError):
            n.start_attempt(now=now)
        now = n.next_attempt_at
    assert delays == [timedelta(seconds=30), timedelta(seconds=60)]
    n.start_attempt(now=now)
    n.record_failure(error="down", permanent=False, now=now, policy=policy)
    assert n.status is Status.GIVEN_UP
    assert n.given_up_reason is GivenUpReason.ATTEMPTS_EXHAUSTED


def test_a_permanent_failure_is_given_up_at_once() -> None:
    n = queued()
    n.start_attempt(now=NOW)
    n.record_failure(error="550", permanent=True, now=NOW, policy=RetryPolicy())
    assert n.status is Status.GIVEN_UP
    assert n.given_up_reason is GivenUpReason.PERMANENT_FAILURE


def test_an_attempt_without_an_outcome_is_given_up_not_sent_again_and_staff_may_retry() -> None:
    n = queued()
    n.start_attempt(now=NOW)
    n.abandon_unconfirmed()
    assert n.status is Status.GIVEN_UP
    assert n.given_up_reason is GivenUpReason.DELIVERY_UNCONFIRMED
    assert not n.is_due(NOW + timedelta(days=1))
    n.retry(requested_by="tl-schmidt", now=NOW)
    assert n.status is Status.QUEUED
    n.start_attempt(now=NOW)
    n.record_sent(now=NOW)
    assert n.status is Status.SENT
    with pytest.raises(NotificationNotRetryableError):
        n.retry(requested_by="tl-schmidt", now=NOW)


def test_the_events_keep_the_topics_they_were_stored_under() -> None:
    """The projection selects the stored log by these topics, and stored events resolve to
    their classes by them: moving a class into another module must not change them."""
    n = queued()
    n.start_attempt(now=NOW)
    n.record_failure(error="refused", permanent=True, now=NOW, policy=RetryPolicy())
    n.retry(requested_by="tl-schmidt", now=NOW)
    n.start_attempt(now=NOW)
    n.record_failure(error="down", permanent=False, now=NOW, policy=RetryPolicy())
    n.start_attempt(now=NOW + timedelta(hours=2))
    n.record_sent(now=NOW + timedelta(hours=2))

    stored = [get_topic(type(e)) for e in n.collect_events()]

    assert stored == [
        "notifications.domain:Notification.Queued",
        "notifications.domain:Notification.AttemptStarted",
        "notifications.domain:Notification.GivenUp",
        "notifications.domain:Notification.RetryRequested",
        "notifications.domain:Notification.AttemptStarted",
        "notifications.domain:Notification.Failed",
        "notifications.domain:Notification.AttemptStarted",
        "notifications.domain:Notification.Sent",
    ]
    assert resolve_topic("notifications.domain:Notification.Sent") is Notification.Sent
    assert resolve_topic("notifications.domain:Notification") is Notification
