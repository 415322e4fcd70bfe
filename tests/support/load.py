"""Steady load on the contacts service while something in the system fails."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.support.e2e import ContactsApi
from tests.support.helpers import person


class Reporter(threading.Thread):
    """Reports ``count`` cases one after another, like a busy office, with its own client.

    A report whose answer is lost (the service died meanwhile) or answered 503 (the database
    is away) is sent again unchanged until the service answers: 201, or 409
    ``open_case_exists`` when an earlier attempt had been recorded after all, which names the
    case it created. Every answer other than 201 and 409 is kept in :attr:`refusals`.
    """

    def __init__(
        self, url: str, mint: Callable[..., str], district: str, count: int, pause: float = 0.0
    ) -> None:
        """``pause``: seconds between one report's answer and the next report."""
        super().__init__(name=f"reporter-{district}", daemon=True)
        self._url = url
        self._mint = mint
        self._district = district
        self._count = count
        self._pause = pause
        self.created: list[str] = []
        """Case ids answered with 201."""
        self.recovered: list[str] = []
        """Case ids of reports recorded although their answer was lost."""
        self.refusals: list[httpx.Response] = []
        """Answers that were neither 201 nor 409 (each report was sent again after them)."""
        self.error: BaseException | None = None

    @property
    def accepted(self) -> list[str]:
        return self.created + self.recovered

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self._url, timeout=30) as client:
                api = ContactsApi(client, self._mint)
                headers = api.auth("cm-lange", "case_manager", self._district)
                for _ in range(self._count):
                    self._report(api, headers, person())
                    time.sleep(self._pause)
        except BaseException as error:
            self.error = error

    def _report(self, api: ContactsApi, headers: dict[str, str], who: dict[str, Any]) -> None:
        deadline = time.monotonic() + 90
        answer_lost = False
        while True:
            try:
                response = api.report(headers, self._district, who)
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                answer_lost = True
                time.sleep(0.2)
                continue
            if response.status_code == 201:
                self.created.append(response.json()["case_id"])
                return
            body = response.json() if response.status_code == 409 else {}
            if answer_lost and body.get("code") == "open_case_exists":
                self.recovered.append(body["existing_case_id"])
                return
            self.refusals.append(response)
            if response.status_code != 503 or time.monotonic() > deadline:
                raise AssertionError(f"report refused: {response.status_code} {response.text}")
            answer_lost = True  # the command may have been recorded before the database went
            time.sleep(0.2)

    def finish(self) -> list[str]:
        self.join(120)
        assert not self.is_alive(), "the reports did not finish"
        if self.error is not None:
            raise self.error
        return self.accepted
