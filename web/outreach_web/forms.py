"""The posted form of a request, read once (``Form`` in a route's signature), and the
checks that turn its text into what the services take."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import FormData


class Posted:
    def __init__(self, data: FormData) -> None:
        self._data = data

    def text(self, name: str) -> str | None:
        """The field's text, ``None`` when it is empty (a form sends every field)."""
        value = self._data.get(name)
        if not isinstance(value, str):
            return None
        value = value.strip()
        return value or None

    def texts(self, name: str) -> list[str]:
        return [v for v in self._data.getlist(name) if isinstance(v, str) and v.strip()]

    def flag(self, name: str) -> bool:
        return self.text(name) in ("on", "true", "1", "ja")

    def number(self, name: str, default: int = 0) -> int | str:
        """A whole number, or the text as typed (the service names the field then)."""
        value = self.text(name)
        if value is None:
            return default
        return int(value) if value.isdigit() else value

    def values(self) -> dict[str, str]:
        """What was typed, to show the form again after a refusal."""
        return {k: v for k, v in self._data.items() if isinstance(v, str) and k != "csrf"}

    @property
    def csrf(self) -> str | None:
        return self.text("csrf")


async def read_form(request: Request) -> Posted:
    return Posted(await request.form())


Form = Annotated[Posted, Depends(read_form)]


def today() -> dt.date:
    return dt.date.today()
