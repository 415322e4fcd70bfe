"""The web app's composition root: the session store, the identity provider and the
services' clients (:class:`~outreach_web.core.Web`), the security headers, the error pages,
and the routers — the app's files (``assets``), the site's own, signing in and out, and each
role's pages.

``uvicorn outreach_web.app:create_app --factory`` (``deploy/local/services.py`` starts it on
port 8100 with ``make up``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from outreach_web import assets, pages, signing_in, site
from outreach_web.core import Web
from outreach_web.errors import install_error_pages
from outreach_web.security import SecurityHeaders, content_security_policy
from outreach_web.settings import WebSettings


def create_app(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    http = httpx.Client(timeout=settings.web_service_timeout_seconds)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await asyncio.to_thread(http.close)

    app = FastAPI(
        title="Outreach", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.web = Web(settings, http)
    app.add_middleware(SecurityHeaders, csp=content_security_policy(settings.issuer))
    install_error_pages(app)
    for router in (assets.router, site.router, signing_in.router, *pages.routers()):
        app.include_router(router)
    return app
