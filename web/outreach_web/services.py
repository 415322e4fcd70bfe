"""The four services over HTTP, with the signed-in person's access token.

Every read of personal data states its purpose (``X-Purpose``): the screen decides it
(``case_work`` for the queue and a case, ``visit_planning`` for the board and the agenda,
``coaching`` for coachings, ``audit`` for the data protection officer), and a note goes with
it where the person typed one. An answer of 400 or more becomes a :class:`ServiceError` with
the problem document's ``code``; :mod:`outreach_web.german` turns it into a sentence.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

PURPOSES = ("case_work", "visit_planning", "coaching", "audit")
_NOTE_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class ServiceError(Exception):
    def __init__(self, service: str, status: int, problem: dict[str, Any]) -> None:
        super().__init__(f"{service} answered {status}: {problem.get('code')}")
        self.service = service
        self.status = status
        self.problem = problem

    @property
    def code(self) -> str:
        return str(self.problem.get("code") or "")


class ServiceUnavailable(ServiceError):
    def __init__(self, service: str) -> None:
        super().__init__(service, 503, {"code": "service_unreachable"})


def purpose_header(purpose: str, note: str | None = None) -> str:
    """``X-Purpose``: the purpose, and the note percent-encoded where it is not printable
    ASCII (header values are ASCII; the services decode it as UTF-8)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose}")
    note = " ".join((note or "").split())[:200]
    return f"{purpose}: {quote(note, safe=_NOTE_SAFE)}" if note else purpose


class Services:
    def __init__(self, urls: dict[str, str], http: httpx.Client) -> None:
        self._urls = {name: url.rstrip("/") for name, url in urls.items()}
        self._http = http

    def call(
        self,
        service: str,
        method: str,
        path: str,
        token: str,
        *,
        purpose: str | None = None,
        note: str | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if purpose:
            headers["X-Purpose"] = purpose_header(purpose, note)
        try:
            response = self._http.request(
                method,
                f"{self._urls[service]}{path}",
                headers=headers,
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None},
            )
        except httpx.HTTPError:
            raise ServiceUnavailable(service) from None
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            if not isinstance(problem, dict):
                problem = {}
            raise ServiceError(service, response.status_code, problem)
        return response

    def get(self, service: str, path: str, token: str, **kwargs: Any) -> Any:
        return self.call(service, "GET", path, token, **kwargs).json()

    def post(self, service: str, path: str, token: str, body: Any = None, **kw: Any) -> Any:
        response = self.call(service, "POST", path, token, json=body, **kw)
        return response.json() if response.content else None
