"""What every answer carries: a Content-Security-Policy without 'unsafe-inline' (no inline
script or style anywhere; scripts and styles are files of this origin), no framing, no
referrer to other sites, and no caching of pages that show personal data.

The referrer policy is ``same-origin``, not ``no-referrer``: with ``no-referrer`` browsers
send ``Origin: null`` with a form's POST, and the origin check of every state change could
not tell this app's forms from another site's."""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(identity_provider: str) -> str:
    """``form-action`` names the identity provider: signing out is a form whose answer
    redirects there (browsers check form-action on redirects too)."""
    provider = urlsplit(identity_provider)
    origin = f"{provider.scheme}://{provider.netloc}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "font-src 'self'",
            "manifest-src 'self'",
            "worker-src 'self'",
            f"form-action 'self' {origin}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        ]
    )


class SecurityHeaders:
    """Pure ASGI middleware (no buffering of the body)."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = {
                    b"content-security-policy": self.csp.encode(),
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"same-origin",
                    b"x-frame-options": b"DENY",
                    b"cross-origin-opener-policy": b"same-origin",
                    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
                }
                if not path.startswith("/static/") and b"cache-control" not in present:
                    extra[b"cache-control"] = b"no-store"
                headers += [(k, v) for k, v in extra.items() if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def same_origin(request: Request, public_url: str) -> bool:
    """A state change comes from a page of this app: the browser's ``Origin`` (or, without
    one, ``Sec-Fetch-Site``) says so. The CSRF token is checked besides."""
    origin = request.headers.get("origin")
    if origin is not None:
        expected = urlsplit(public_url)
        return origin == f"{expected.scheme}://{expected.netloc}"
    site = request.headers.get("sec-fetch-site")
    return site in (None, "same-origin", "none")


def tokens_match(given: str | None, expected: str) -> bool:
    return given is not None and secrets.compare_digest(given.encode(), expected.encode())
