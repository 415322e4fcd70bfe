"""Checking messages against the checked-in JSON Schemas the way an integration team does:
a strict validator (JSON Schema draft 2020-12, ``jsonschema``) that also checks every
``format`` (``date-time``, ``date``, ``uuid`` ... through the format extras), as ajv with
ajv-formats would."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from shared.contracts import Envelope, Payload
from shared.contracts.export import SCHEMA_DIR

FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


@cache
def validator(event_type: str, version: int) -> Draft202012Validator:
    """The strict validator of the checked-in schema ``<event_type>.v<version>.json``."""
    schema = json.loads((SCHEMA_DIR / f"{event_type}.v{version}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def schema_errors(message: dict[str, Any]) -> list[str]:
    """What is wrong with a message (as it travels, JSON) against its own schema."""
    checked = validator(str(message["event_type"]), int(message["schema_version"]))
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(message)'}: {error.message}"
        for error in checked.iter_errors(message)
    ]


def assert_matches_its_schema(envelope: Envelope[Payload] | dict[str, Any]) -> None:
    """Fail with the first problem when ``envelope`` (as it is published) does not validate
    strictly against the checked-in schema of its event type and version."""
    message = (
        envelope
        if isinstance(envelope, dict)
        else envelope.model_dump(mode="json", serialize_as_any=True)
    )
    checked = validator(str(message["event_type"]), int(message["schema_version"]))
    error = best_match(checked.iter_errors(message))
    assert error is None, f"{message['event_type']}: {schema_errors(message)}"
