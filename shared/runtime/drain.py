"""Stopping a service process without losing a request (a rolling restart of replicas).

On SIGTERM the process first drains: ``/readyz`` answers 503 (``draining``), so a load
balancer (Kubernetes, or a client that follows readiness) sends it nothing new, and every
answer closes its connection (``Connection: close``), so no client keeps an idle connection
that the stop would cut while a request is on its way. After ``drain_seconds`` the server
stops as uvicorn does on SIGTERM: it takes no new connection (a client is refused, and may
send the request elsewhere: it never arrived), finishes the requests in flight, then runs the
lifespan's shutdown (the work stops, leader locks are released, consumers leave their groups).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)


class Drain:
    """Whether the process drains, and the SIGTERM handler that starts it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False

    def install(self) -> None:
        """Put the drain before the server's own SIGTERM handler (uvicorn's, installed before
        the lifespan starts; call this from the lifespan, in the main thread's loop)."""
        stop = signal.getsignal(signal.SIGTERM)
        if not callable(stop) or self.seconds <= 0:
            return
        loop = asyncio.get_running_loop()

        def on_term(sig: int, frame: FrameType | None) -> None:
            if self.draining:
                return
            self.draining = True
            log.info("draining before the stop", extra={"seconds": self.seconds})
            loop.call_soon_threadsafe(loop.call_later, self.seconds, stop, sig, frame)

        signal.signal(signal.SIGTERM, on_term)


class CloseWhileDraining:
    """ASGI middleware: while the process drains, every answer closes its connection."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and self.drain.draining:
                headers: list[Any] = list(message.get("headers", []))
                headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)
