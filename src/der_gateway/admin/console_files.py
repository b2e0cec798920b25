"""The operator console: static files (admin/console/) served by the admin listener without a token.

The page asks for the token itself and keeps it in sessionStorage; every API call it makes carries the token.
Only the files present in the console directory at start can be served, by exact name, so no path can reach
anything else; HEAD answers as GET does, without the body.  Every answer carries a Content-Security-Policy that
admits no inline script or style."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from aiohttp import web

from .http import not_found
from .routing import Answer, Route

CONSOLE_DIR = Path(__file__).parent / "console"
PREFIX = "/console/"
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


def load_assets(directory: Path = CONSOLE_DIR) -> dict[str, Asset]:
    """Each servable file by its path under the directory ("views/devices.js")."""
    return {path.relative_to(directory).as_posix(): Asset(path.read_bytes(), CONTENT_TYPES[path.suffix])
            for path in sorted(directory.rglob("*")) if path.is_file() and path.suffix in CONTENT_TYPES}


ASSETS = web.AppKey("console_assets", dict)


async def to_console(request: web.Request) -> web.Response:
    return web.Response(status=302, headers={"Location": PREFIX, **SECURITY_HEADERS})


async def console_file(request: web.Request) -> web.Response:
    name = request.match_info.get("asset") or "index.html"
    asset = request.app[ASSETS].get(name)
    if asset is None:
        raise not_found(f"console file {name[:80]}")
    return web.Response(body=asset.body, headers={"Content-Type": asset.content_type, **SECURITY_HEADERS})


def add_console(app: web.Application) -> None:
    """The console's files, loaded for ROUTES to serve."""
    app[ASSETS] = load_assets()


_PAGE = Answer("the console's page or one of its files (HTML, JavaScript, CSS)", {"type": "string"}, media="text/html")
_GETS: tuple[Route, ...] = (
    Route("GET", "/", to_console, "The operator console", {302: Answer("to /console/")}, public=True),
    Route("GET", "/console", to_console, "The operator console", {302: Answer("to /console/")}, public=True),
    Route("GET", PREFIX, console_file, "The operator console's page", {200: _PAGE},
          errors={404: "no console file of that name"}, public=True),
    Route("GET", PREFIX + "{asset:[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\\.[a-z]+}", console_file,
          "One of the console's files", {200: _PAGE}, errors={404: "no console file of that name"}, public=True),
)
# HEAD is answered as GET, without the body (aiohttp sends none for HEAD, keeping Content-Length)
ROUTES: tuple[Route, ...] = _GETS + tuple(
    replace(route, method="HEAD", summary=f"{route.summary}: its headers only") for route in _GETS)
