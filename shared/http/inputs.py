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

import enum
import re
import types
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
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


class _Scalar:
    """Marks a scalar type of this module (see :class:`StrictModel`)."""


@dataclass(frozen=True)
class _Form(_Scalar):
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
class _Matching(_Scalar):
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


class _StrictScalar(_Scalar):
    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return handler(source)


_STRICT = _StrictScalar()


@dataclass(frozen=True)
class Integer(_Scalar):
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
class QueryInt(_Scalar):
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


class _QueryFlag(_Scalar):
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


# --- request bodies ----------------------------------------------------------------------

_LOOSE = (str, int, float, bool, date, datetime, time, UUID)
"""Types whose plain annotation would coerce or let through what this module refuses."""


def _loose_scalars(annotation: Any, metadata: tuple[Any, ...] = ()) -> list[str]:
    """The scalar types in ``annotation`` that are not one of this module's types."""
    if any(isinstance(m, _Scalar | Text) for m in metadata):
        return []
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *extra = get_args(annotation)
        return _loose_scalars(inner, (*metadata, *extra))
    if origin is Literal:
        return []
    if origin in (Union, types.UnionType, list, dict, set, frozenset, tuple):
        return [loose for arg in get_args(annotation) for loose in _loose_scalars(arg)]
    if isinstance(annotation, type):
        if issubclass(annotation, enum.Enum | BaseModel):
            return []
        if issubclass(annotation, _LOOSE):
            return [annotation.__name__]
    return []


def _close_pattern_properties(node: Any) -> None:
    if isinstance(node, dict):
        if "patternProperties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _close_pattern_properties(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_properties(value)


class StrictModel(BaseModel):
    """The base of every request body: unknown fields are refused, and each field is one of
    this module's types, so a value is taken as it is, never coerced (``"max_extensions":
    false`` is not 0, ``0`` is not 1970-01-01) and no text field lacks its rules. A model
    with a plain ``str``, ``int``, ``bool``, ``date`` ... field fails when it is defined."""

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        # A dict whose keys have a rule (``dict[Key, ...]``) becomes ``patternProperties``;
        # a key outside the pattern is refused, which JSON Schema says only with this.
        json_schema = super().__get_pydantic_json_schema__(schema, handler)
        _close_pattern_properties(json_schema)
        return json_schema

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        for name, info in cls.model_fields.items():
            loose = _loose_scalars(info.annotation, tuple(info.metadata))
            if loose:
                raise TypeError(
                    f"{cls.__name__}.{name}: use the types of shared.http.inputs "
                    f"instead of {', '.join(loose)}"
                )
