"""The optional plain-HTTP listener (Config.http_redirect_port): it serves no resource, and answers
every request with 301 Moved Permanently to the same path on the TLS listener (CSIP conformance
CORE-002 step 2, errata 31)."""

from __future__ import annotations

import socket

from aiohttp import web
from yarl import URL

from ..config import Config
from ..observability.requests import flush_requests, observe_requests
from .limits import ConnectionLimits
from .site import serve

REDIRECT_KEEPALIVE = 5.0  # seconds: a client redirected has no reason to come back on this connection


def tls_location(request: web.Request, default_host: str, tls_port: int) -> str:
    """The request's path and query on the TLS listener, at the host the client named (Host)."""
    host = request.url.host or default_host
    return str(URL.build(scheme="https", host=host, port=tls_port)) + request.raw_path


async def start_redirect(config: Config, tls_port: int, sock: socket.socket | None = None
                         ) -> tuple[web.AppRunner, int]:
    """Starts the listener on config.host:config.http_redirect_port, or on sock (bound already); its runner
    and the port bound."""

    async def moved(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": tls_location(request, config.host, tls_port)})

    app = web.Application(middlewares=[observe_requests("redirect")])
    app.router.add_route("*", "/{anything:.*}", moved)
    app.on_cleanup.append(flush_requests)
    return await serve(app, ConnectionLimits.from_config(config, keepalive_timeout=REDIRECT_KEEPALIVE),
                       host=config.host, port=config.http_redirect_port or 0, sock=sock, listener="redirect")
