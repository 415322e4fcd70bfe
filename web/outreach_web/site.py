"""What the site serves besides the pages: health for the launcher and probes, and the
service worker and manifest that make it an installable app."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from outreach_web.core import HERE, web_of

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
@router.get("/readyz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/sw.js")
def service_worker(request: Request) -> Response:
    """The service worker from the site's root, so its scope is the whole app; it names the
    files of the current version (a new version is a new worker, which keeps the new files)."""
    body = web_of(request).assets.text("sw.js")
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"},
    )


@router.get("/manifest.webmanifest")
def manifest() -> Response:
    body = (HERE / "static" / "manifest.webmanifest").read_bytes()
    return Response(body, media_type="application/manifest+json")
