"""The base of every request body (:class:`StrictModel`): unknown fields refused, and every
field one of the checked types of :mod:`shared.http.inputs`, so a value is taken as it is,
never coerced, and no text field lacks its rules."""

from __future__ import annotations

import enum
import types
from datetime import date, datetime, time
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from shared.http.inputs import CheckedScalar, Text

_LOOSE = (str, int, float, bool, date, datetime, time, UUID)
"""Types whose plain annotation would coerce or let through what this module refuses."""


def _loose_scalars(annotation: Any, metadata: tuple[Any, ...] = ()) -> list[str]:
    """The scalar types in ``annotation`` that are not one of this module's types."""
    if any(isinstance(m, CheckedScalar | Text) for m in metadata):
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
