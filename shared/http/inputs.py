"""What a request may carry: the one set of constrained types every request model and every
query, path or header parameter of the four services is built from.

Text. ``Line`` is one line of text (1 to 200 characters; another length is
``Annotated[str, Text(300)]``), ``Key`` an identifier without spaces (a district, a user id),
and ``Note`` free text over several lines (newline, carriage return and tab allowed; 4000
characters). None of them accepts a control character (U+0000 to U+001F, U+007F to U+009F) beyond
what a note allows (a lone surrogate, which JSON can carry as an escape, is no text to
pydantic either): PostgreSQL cannot store NUL, a line break in a
name or an address ends up in a letter's address block, and the rest is invisible noise. A
refused value is a 422 ``invalid_input`` naming the field (``control_character``). Every
type writes its rule into the OpenAPI document as a ``pattern``, so a generated client and
the document agree with the server.

Scalars are strict: a boolean is not a number, a number is not a date. JSON's normal forms
stay: dates are ISO dates (``2026-12-01``), times of day ``HH:MM``, moments ISO 8601 with a
time zone, UUIDs in their canonical text; integers and booleans in a query string are
decimal digits and ``true``/``false``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
    WithJsonSchema,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

LINE_MAX = 200
NOTE_MAX = 4000
KEY_MAX = 100

_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
_NOTE_CONTROL = "\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f"
_WHITESPACE = " \\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"

LINE_PATTERN = f"^[^{_CONTROL}]*$"
NOTE_PATTERN = f"^[^{_NOTE_CONTROL}]*$"
KEY_PATTERN = f"^[^{_CONTROL}{_WHITESPACE}]*$"


@dataclass(frozen=True)
class Text:
    """A text field of at most ``max_length`` characters: ``Annotated[str, Text(300)]``.

    One line by default; ``multiline`` allows newline, carriage return and tab (a note);
    ``word`` allows no spaces either (an identifier). The rule and the lengths are checked
    here and written into the JSON schema (``minLength``, ``maxLength``, ``pattern``).
    """

    max_length: int
    min_length: int = 1
    multiline: bool = False
    word: bool = False
    form: str | None = None
    """A pattern of its own (of printable characters only), e.g. a customer number."""
    form_message: str = "is not of the expected form"

    @property
    def pattern(self) -> str:
        if self.form is not None:
            return self.form
        if self.word:
            return KEY_PATTERN
        return NOTE_PATTERN if self.multiline else LINE_PATTERN

    @property
    def message(self) -> str:
        if self.form is not None:
            return self.form_message
        if self.word:
            return "must be a single word without spaces or control characters"
        if self.multiline:
            return "must be text without control characters (newline and tab are allowed)"
        return "must be one line of text without control characters"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        allowed = re.compile(self.pattern)

        kind = "string_pattern_mismatch" if self.form is not None else "control_character"

        def check(value: str) -> str:
            if not allowed.fullmatch(value):
                raise PydanticCustomError(kind, self.message)
            return value

        text = core_schema.str_schema(min_length=self.min_length, max_length=self.max_length)
        return core_schema.no_info_after_validator_function(check, text)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(
            minLength=self.min_length, maxLength=self.max_length, pattern=self.pattern
        )
        return json_schema


Line = Annotated[str, Text(LINE_MAX)]
"""One line of text: a name, an address, a title, a reason (other lengths: ``Text(n)``)."""

Key = Annotated[str, Text(KEY_MAX, word=True)]
"""An identifier people type or tokens carry: a district, a user id, a template name."""

Note = Annotated[str, Text(NOTE_MAX, multiline=True)]
"""Free text over several lines: the note of a home visit."""


# --- scalars -----------------------------------------------------------------------------

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
_ISO_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_CANONICAL_UUID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}")
_DIGITS = re.compile(r"-?[0-9]{1,18}")


class CheckedScalar:
    """Marks a scalar type of this module (see :class:`shared.http.bodies.StrictModel`)."""


@dataclass(frozen=True)
class _Form(CheckedScalar):
    """Lets through only the values ``form`` matches (text) or instances of ``kind``."""

    kind: type | tuple[type, ...]
    form: re.Pattern[str]
    error: str
    message: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def check(value: Any) -> Any:
            if isinstance(value, str) and self.form.fullmatch(value):
                return value
            # A value of the type itself (a caller in Python); a datetime is no date.
            exact = not (self.kind is date and isinstance(value, datetime))
            if isinstance(value, self.kind) and exact:
                return value
            raise PydanticCustomError(self.error, self.message)

        return core_schema.no_info_before_validator_function(check, handler(source))


IsoDate = Annotated[date, _Form(date, _ISO_DATE, "date_format", "must be an ISO date (YYYY-MM-DD)")]
"""A calendar day as ``YYYY-MM-DD`` (not a number of seconds, not a date with a time)."""

ClockTime = Annotated[
    time,
    _Form(time, _CLOCK, "time_format", "must be a time of day as HH:MM"),
    # Not JSON Schema's ``time`` format (an RFC 3339 time with seconds and an offset): a
    # visit's time slot is a local time of day, in minutes.
    WithJsonSchema({"type": "string", "pattern": f"^{_CLOCK.pattern}$", "examples": ["09:00"]}),
]
"""A local time of day, ``HH:MM``."""

Moment = Annotated[
    datetime,
    _Form(
        datetime,
        _ISO_MOMENT,
        "datetime_format",
        "must be an ISO 8601 date and time with seconds and a time zone",
    ),
]
"""A point in time, ISO 8601 with a time zone (``2026-12-01T09:00:00Z``)."""

Uuid = Annotated[
    UUID,
    _Form(UUID, _CANONICAL_UUID, "uuid_format", "must be a UUID (8-4-4-4-12 hex digits)"),
]
"""A UUID in its canonical text form."""


@dataclass(frozen=True)
class _Matching(CheckedScalar):
    """Text that ``form`` matches as a whole (a month ``YYYY-MM``)."""

    form: re.Pattern[str]
    error: str
    message: str
    example: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def check(value: str) -> str:
            if not self.form.fullmatch(value):
                raise PydanticCustomError(self.error, self.message)
            return value

        return core_schema.no_info_after_validator_function(check, core_schema.str_schema())

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "pattern": f"^{self.form.pattern}$", "examples": [self.example]}


YearMonth = Annotated[
    str,
    _Matching(
        re.compile(r"[1-9][0-9]{3}-(0[1-9]|1[0-2])"),
        "month_format",
        "must be a month as YYYY-MM (from the year 1000)",
        "2026-11",
    ),
]
"""A calendar month as ``YYYY-MM``."""


class _StrictScalar(CheckedScalar):
    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return handler(source)


_STRICT = _StrictScalar()


@dataclass(frozen=True)
class Integer(CheckedScalar):
    """A whole number in a JSON body, from ``ge`` to ``le``: ``Annotated[int, Integer(0, 100)]``.

    A JSON number without a fractional part (``12`` or ``12.0``, both integers to JSON
    Schema); never a boolean (``false`` is not 0) or a string (``"12"``)."""

    ge: int
    le: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def whole(value: Any) -> Any:
            if isinstance(value, bool):
                raise PydanticCustomError("int_type", "must be a whole number, not a boolean")
            if isinstance(value, float) and value.is_integer():
                return int(value)
            return value

        bounded = core_schema.int_schema(ge=self.ge, le=self.le, strict=True)
        return core_schema.no_info_before_validator_function(whole, bounded)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "integer", "minimum": self.ge, "maximum": self.le}


@dataclass(frozen=True)
class UniqueItems:
    """A list in which each item appears once (``uniqueItems`` in the JSON schema)."""

    message: str = "each item may appear only once"

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def unique(value: list[Any]) -> list[Any]:
            if len(set(value)) != len(value):
                raise PydanticCustomError("unique_items", self.message)
            return value

        return core_schema.no_info_after_validator_function(unique, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["uniqueItems"] = True
        return json_schema


Bool = Annotated[bool, Strict(), _STRICT]
"""A boolean in a JSON body: ``true`` or ``false``, not ``1`` or ``"yes"``."""


@dataclass(frozen=True)
class QueryInt(CheckedScalar):
    """An integer in a query string or a path, from ``ge`` to ``le``:
    ``Annotated[int, QueryInt(1, 500)]``. Decimal digits only (no ``1.0``, no ``1_000``)."""

    ge: int
    le: int

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def digits(value: Any) -> Any:
            if isinstance(value, str) and _DIGITS.fullmatch(value):
                return int(value)
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            raise PydanticCustomError("int_format", "must be a whole number")

        bounded = core_schema.int_schema(ge=self.ge, le=self.le, strict=True)
        return core_schema.no_info_before_validator_function(digits, bounded)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "integer", "minimum": self.ge, "maximum": self.le}


class _QueryFlag(CheckedScalar):
    """A boolean in a query string: ``true`` or ``false`` (not ``1``, ``yes`` or ``on``)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def word(value: Any) -> Any:
            if isinstance(value, bool):
                return value
            if value in ("true", "false"):
                return value == "true"
            raise PydanticCustomError("bool_format", "must be true or false")

        return core_schema.no_info_before_validator_function(word, core_schema.bool_schema())

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "boolean"}


QueryBool = Annotated[bool, _QueryFlag()]
"""A boolean in a query string: ``true`` or ``false``."""
