"""The 2030.5 listening socket: aiohttp's connection handling, answering an unknown method 501.

aiohttp parses requests with llhttp, which knows a fixed set of methods and refuses any other
(``FOO /dcap HTTP/1.1``) before an application sees the request; aiohttp then answers 400.
RFC 9110 9.1 wants 501 (Not Implemented) for a method the server does not recognise, and so do the
CSIP conformance procedures (CORE-001 step 8, CORE-002 step 7).  A method llhttp knows but this
server does not serve on a resource reaches the application and gets 405 with Allow.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

NOT_IMPLEMENTED = "the request method is not one this server implements"


class MethodAwareRequestHandler(RequestHandler):
    """A connection: aiohttp's, but a request line whose method the parser refused answers 501."""

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status == 400 and isinstance(exc, BadHttpMethod):
            # the response carries no echo of the request line (aiohttp's 400 does)
            status, message = 501, NOT_IMPLEMENTED
        return super().handle_error(request, status, exc, message)


class Site(web.BaseSite):
    """A listener of an AppRunner whose connections are MethodAwareRequestHandlers: on a socket
    already bound (sock) or on host and port.  handler_args: RequestHandler's keyword arguments,
    as AppRunner passes them (the access_log setting, say)."""

    def __init__(self, runner: web.BaseRunner, *, host: str | None = None, port: int = 0,
                 sock: socket.socket | None = None, ssl_context: ssl.SSLContext | None = None,
                 handler_args: dict[str, Any] | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.host, self.requested_port, self.sock = host, port, sock
        self.handler_args = handler_args or {}
        self.tls = ssl_context is not None

    @property
    def name(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        """The port bound (the real one when 0 was asked for), once started."""
        if self._server is None or not self._server.sockets:
            return self.requested_port
        return self._server.sockets[0].getsockname()[1]

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        manager = self._runner.server
        assert manager is not None, "runner.setup() first"

        def connection() -> MethodAwareRequestHandler:
            return MethodAwareRequestHandler(manager, loop=loop, **self.handler_args)

        if self.sock is not None:
            self._server = await loop.create_server(connection, sock=self.sock, ssl=self._ssl_context,
                                                    backlog=self._backlog)
        else:
            self._server = await loop.create_server(connection, self.host, self.requested_port,
                                                    ssl=self._ssl_context, backlog=self._backlog,
                                                    reuse_address=True)
