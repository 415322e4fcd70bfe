"""The app's own files (``static/``): read once at start, each kept with its gzip form, and
served under a version — a digest of all of them — in their URL.

``/static/<version>/<name>`` is kept by browsers for a year without asking again
(``immutable``): a changed file is a new version, so a new URL, and a page never meets an
older file than its own. Scripts import each other by relative URL (``./store.js``), so a
module's imports carry the version of the page's. ``/static/<name>`` (the manifest's icon, a
page of a version no longer served) is asked again each time (``no-cache``, an ETag answers
304).

Only these files are compressed. Pages and the field app's JSON carry the session's CSRF
token or its offline key, and a response that holds a secret beside text an attacker can
choose must not be compressed: its compressed length would tell the secret bit by bit
(BREACH). The files here hold no secret and nothing of a request.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

YEAR = 365 * 24 * 3600
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".webmanifest": "application/manifest+json",
}
VERSION_MARK = "__ASSETS_VERSION__"
"""Where the service worker's file names the version of the files it keeps."""


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


class Assets:
    def __init__(self, directory: Path) -> None:
        self._files: dict[str, Asset] = {}
        digest = hashlib.sha256()
        for path in sorted(directory.iterdir()):
            if path.suffix not in MEDIA_TYPES:
                continue
            body = path.read_bytes()
            digest.update(path.name.encode() + b"\0" + body)
            packed = gzip.compress(body, compresslevel=9, mtime=0)
            self._files[path.name] = Asset(
                body=body,
                gzipped=packed if len(packed) < len(body) else None,
                media_type=MEDIA_TYPES[path.suffix],
                # Weak: the same file is sent plain or compressed.
                etag=f'W/"{hashlib.sha256(body).hexdigest()[:16]}"',
            )
        self.version = digest.hexdigest()[:12]

    def url(self, name: str) -> str:
        """The versioned URL of a file (templates: ``static("app.css")``)."""
        if name not in self._files:
            raise KeyError(name)
        return f"/static/{self.version}/{name}"

    def text(self, name: str) -> str:
        """A file's text with the current version written in (the service worker)."""
        return self._files[name].body.decode().replace(VERSION_MARK, self.version)

    def answer(self, request: Request, name: str, immutable: bool) -> Response:
        asset = self._files.get(name)
        if asset is None:
            return Response(status_code=404)
        headers = {
            "Cache-Control": f"public, max-age={YEAR}, immutable" if immutable else "no-cache",
            "ETag": asset.etag,
            "Vary": "Accept-Encoding",
        }
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        body = asset.body
        if asset.gzipped is not None and _takes_gzip(request.headers.get("accept-encoding")):
            body = asset.gzipped
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)


def _takes_gzip(accepted: str | None) -> bool:
    for part in (accepted or "").split(","):
        coding, _, weight = part.strip().partition(";")
        if coding.strip().lower() == "gzip":
            return weight.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


router = APIRouter(include_in_schema=False)


def _assets(request: Request) -> Assets:
    assets: Assets = request.app.state.web.assets
    return assets


@router.get("/static/{version}/{name}")
def versioned(request: Request, version: str, name: str) -> Response:
    """A file of the current version for a year; of another version, as it is now and asked
    again next time."""
    assets = _assets(request)
    return assets.answer(request, name, immutable=version == assets.version)


@router.get("/static/{name}")
def unversioned(request: Request, name: str) -> Response:
    return _assets(request).answer(request, name, immutable=False)
