"""The checked-in JSON Schemas tell the truth: every example they show, a message of every
contract built from them, and what the mappers produce validate strictly (formats
included) against them, as an integration team's validator would check them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from contacts.domain import Erasure
from contacts.integration import to_erasure_event
from jsonschema import Draft202012Validator
from notifications.domain import Notification, RetryPolicy
from notifications.integration import to_integration_event as notification_event

from shared.contracts import PAYLOADS, parse_envelope
from shared.contracts.erasures import ErasureGround
from shared.contracts.export import rendered
from shared.contracts.notifications import GivenUpReason, NotificationChannel, RecipientKind
from shared.eventsourcing.meta import CommandContext, acting_as
from shared.privacy import PersonalDataCipher
from tests.support.contracts import FORMAT_CHECKER, assert_matches_its_schema, schema_errors

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SCHEMAS = {name.removesuffix(".v1.json"): json.loads(text) for name, text in rendered().items()}


@pytest.mark.parametrize(
    ("format_name", "value"),
    [
        ("time", "09:00:00"),  # RFC 3339 full-time needs an offset
        ("date-time", "2026-11-23T09:15:00"),
        ("date", "23.11.2026"),
        ("uuid", "not-a-uuid"),
    ],
)
def test_the_validator_checks_formats_as_strictly_as_ajv_formats(
    format_name: str, value: str
) -> None:
    """Without the format extras ``time`` and ``date-time`` would pass unchecked."""
    assert format_name in FORMAT_CHECKER.checkers
    assert not FORMAT_CHECKER.conforms(value, format_name)


def examples_in(node: Any, path: str = "") -> list[tuple[str, dict[str, Any], Any]]:
    """Every (where, schema, example) in a schema, nested definitions included."""
    found: list[tuple[str, dict[str, Any], Any]] = []
    if isinstance(node, dict):
        for example in node.get("examples", []):
            found.append((path or "(root)", node, example))
        for key, value in node.items():
            if key != "examples":
                found += examples_in(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += examples_in(value, f"{path}/{index}")
    return found


@pytest.mark.parametrize("event_type", sorted(SCHEMAS))
def test_every_example_of_a_contract_validates_against_its_own_field(event_type: str) -> None:
    schema = SCHEMAS[event_type]
    definitions = schema.get("$defs", {})
    examples = examples_in(schema)
    assert examples, f"{event_type} shows no example"
    for where, node, example in examples:
        field = Draft202012Validator({**node, "$defs": definitions}, format_checker=FORMAT_CHECKER)
        errors = [error.message for error in field.iter_errors(example)]
        assert errors == [], f"{event_type} {where}: example {example!r}: {errors}"


def example_of(
    node: dict[str, Any], definitions: dict[str, Any], cipher: PersonalDataCipher, subject: UUID
) -> Any:
    """A value of ``node`` built from the schema's own examples (the first that is not
    null); a sealed field gets a real token of ``subject``."""
    if "$ref" in node:
        return example_of(
            definitions[node["$ref"].rsplit("/", 1)[-1]], definitions, cipher, subject
        )
    given = [e for e in node.get("examples", []) if e is not None]
    if given:
        return given[0]
    if node.get("pattern", "").startswith("^pii:v1:"):
        return cipher.seal(subject, "Erika Mustermann")
    if "anyOf" in node:
        branches = [b for b in node["anyOf"] if b.get("type") != "null"]
        return example_of(branches[0], definitions, cipher, subject)
    if "enum" in node:
        return node["enum"][0]
    if node.get("type") == "object":
        return {
            name: example_of(field, definitions, cipher, subject)
            for name, field in node.get("properties", {}).items()
            if name in node.get("required", []) or "default" not in field
        }
    if node.get("type") == "array":
        return [example_of(node["items"], definitions, cipher, subject)]
    if node.get("type") == "boolean":
        return False
    if node.get("type") == "integer":
        return max(1, node.get("minimum", 1))
    if node.get("type") == "string":
        return (
            {"date": "2026-11-23", "date-time": "2026-11-23T09:15:00Z"}.get(
                node.get("format", ""), "x"
            )
            if node.get("format") != "uuid"
            else str(uuid4())
        )
    raise AssertionError(f"no example for {node}")


@pytest.mark.parametrize("event_type", sorted(SCHEMAS))
def test_a_message_built_from_the_examples_of_every_contract_validates_and_parses(
    event_type: str, cipher: PersonalDataCipher
) -> None:
    schema = SCHEMAS[event_type]
    subject = uuid4()
    message = example_of(schema, schema.get("$defs", {}), cipher, subject)
    message |= {"event_type": event_type, "schema_version": 1, "subject": str(subject)}

    assert schema_errors(message) == []
    assert type(parse_envelope(message).payload) is PAYLOADS[event_type]


def test_a_schedule_with_an_offset_is_not_a_local_time() -> None:
    schema = SCHEMAS["VisitAnnounced"]
    schedule = Draft202012Validator(
        {"$ref": "#/$defs/Schedule", "$defs": schema["$defs"]}, format_checker=FORMAT_CHECKER
    )
    day = {"first_day": "2026-12-01", "last_day": "2026-12-01"}

    assert schedule.is_valid({**day, "time_from": "09:00:00", "time_to": "11:30:00"})
    assert not schedule.is_valid({**day, "time_from": "09:00:00+01:00", "time_to": "11:30:00"})
    assert not schedule.is_valid({**day, "time_from": "9 Uhr", "time_to": "11:30:00"})


def test_every_event_of_a_notifications_life_is_published_as_its_schema_says() -> None:
    service = CommandContext(
        actor="system", role="system", trace={}, subject=uuid4(), district="kassel"
    )
    with acting_as(service):
        letter = Notification.queue(
            source_key=str(uuid4()),
            source_event_type="VisitAnnounced",
            channel=NotificationChannel.LETTER,
            template="visit_announcement",
            template_version=1,
            recipient_kind=RecipientKind.PERSON,
            recipient=None,
            context={"case_id": str(uuid4())},
            queued_at=NOW,
        )
        letter.start_attempt(now=NOW)
        letter.record_failure(error="no letterhead", permanent=False, now=NOW, policy=RetryPolicy())
        letter.start_attempt(now=NOW.replace(hour=10))
        letter.record_failure(error="no letterhead", permanent=True, now=NOW, policy=RetryPolicy())
        letter.retry(requested_by="tl-schmidt", now=NOW)
        letter.start_attempt(now=NOW)
        letter.record_sent(now=NOW, print_day=date(2026, 11, 23), letter="pii:v1:x")
        email = Notification.queue(
            source_key=str(uuid4()),
            source_event_type="ContactRestored",
            channel=NotificationChannel.EMAIL,
            template="contact_restored",
            template_version=1,
            recipient_kind=RecipientKind.CASE_MANAGER,
            recipient="cm-mueller",
            context={},
            queued_at=NOW,
        )
        email.give_up(reason=GivenUpReason.SUBJECT_ERASED, error="erased")

    published = [
        outgoing.envelope
        for event in (*letter.collect_events(), *email.collect_events())
        if (outgoing := notification_event(event)) is not None
    ]

    assert {e.event_type for e in published} == {
        "NotificationQueued",
        "NotificationFailed",
        "NotificationGivenUp",
        "NotificationRetryRequested",
        "NotificationSent",
    }
    for envelope in published:
        assert_matches_its_schema(envelope)


def test_the_erasure_tombstone_is_published_as_its_schema_says() -> None:
    subject = uuid4()
    officer = CommandContext(
        actor="dpo-anna",
        role="data_protection_officer",
        trace={},
        subject=subject,
        district="kassel",
    )
    with acting_as(officer):
        erasure = Erasure.request(
            subject_id=subject,
            district="kassel",
            ground=ErasureGround.REQUESTED_BY_PERSON.value,
            reason="Az. DSB-1",
        )
        erasure.record_key_destroyed(at=NOW)

    (tombstone,) = [
        outgoing.envelope
        for event in erasure.collect_events()
        if (outgoing := to_erasure_event(event)) is not None
    ]

    assert_matches_its_schema(tombstone)
