"""The listening sockets: aiohttp's connection handling, bounded, and answering an unknown method 501.

aiohttp parses requests with llhttp, which knows a fixed set of methods and refuses any other
(``FOO /dcap HTTP/1.1``) before an application sees the request; aiohttp then answers 400.
RFC 9110 9.1 wants 501 (Not Implemented) for a method the server does not recognise, and so do the
CSIP conformance procedures (CORE-001 step 8, CORE-002 step 7).  A method llhttp knows but this
server does not serve on a resource reaches the application and gets 405 with Allow.

Every connection passes a limits.Gate (connection caps) and has read deadlines: a request's headers
must be complete within header_timeout of its first byte, and its body within body_timeout of the
end of its headers (a total, not a wait between chunks, so a body trickled a byte at a time ends
too).  A late request is answered 408 and its connection closed.  A request the parser refuses is
logged as one line with the peer and the reason; a handler's failure (500) keeps its traceback.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
import ssl
from typing import Any, Callable

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from ..observability.tracking import Tracking, http_reason
from .limits import HANDSHAKE_TIMEOUT, Admission, CompactSSLProtocol, ConnectionLimits, Gate, raise_open_file_limit

log = logging.getLogger(__name__)

NOT_IMPLEMENTED = "the request method is not one this server implements"
CONNECTION_LIMIT = "connection limit"  # the refusal reason of a connection beyond a cap
OPEN_FILE_MARGIN = 256  # descriptors beyond the connection cap: the store, outgoing notifications, logs


class Reading(enum.Enum):
    HEADERS = "headers"
    BODY = "body"


class BodyTimedOut(asyncio.TimeoutError):
    """Set on a request's payload when its body is late: the handler reading it, or aiohttp
    lingering over an unread body, stops quietly (aiohttp treats a TimeoutError as such)."""

    status = 408  # what the listener answers before it closes the connection


def one_line(text: str | None, limit: int = 200) -> str:
    flat = " ".join(str(text or "").split())
    return flat if len(flat) <= limit else flat[:limit] + "..."


class GatewayRequestHandler(RequestHandler):
    """A connection: aiohttp's, with read deadlines, one-line logs for refused requests, and 501 for
    a request line whose method the parser refused.  released: called once when the connection ends."""

    def __init__(self, manager: web.Server, *, loop: asyncio.AbstractEventLoop, header_timeout: float,
                 body_timeout: float, released: Callable[[], None] | None = None, **kwargs: Any) -> None:
        super().__init__(manager, loop=loop, **kwargs)
        self._header_timeout = header_timeout
        self._body_timeout = body_timeout
        self._released = released
        self._reading: Reading | None = None
        self._read_deadline: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None
        self._late: str | None = None  # why the current body was cut short
        self.refused: Callable[[int], None] | None = None  # told the status of a request refused before the app

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_reading()
        try:
            super().connection_lost(exc)
        finally:
            if self._released is not None:
                released, self._released = self._released, None
                released()

    def data_received(self, data: bytes) -> None:
        if self._force_close or self._close:
            return
        queued = len(self._messages)
        super().data_received(data)
        if len(self._messages) > queued:  # the head of a request is complete
            payload = self._messages[-1][1]
            if payload.is_eof():
                self._stop_reading()
            else:
                self._start_reading(Reading.BODY, self._body_timeout)
                self._body = payload
        elif self._reading is None:
            # a head begun and not complete (a head and body that come whole, the usual case, need no timer)
            if data and not self._force_close and not self._close:
                self._start_reading(Reading.HEADERS, self._header_timeout)
        elif self._reading is Reading.BODY and self._body is not None and self._body.is_eof():
            self._stop_reading()

    def _start_reading(self, what: Reading, seconds: float) -> None:
        self._stop_reading()
        self._reading = what
        self._read_deadline = self._loop.call_later(seconds, self._read_timed_out)

    def _stop_reading(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._reading, self._read_deadline, self._body = None, None, None

    def _read_timed_out(self) -> None:
        what, body = self._reading, self._body
        self._reading, self._read_deadline, self._body = None, None, None
        if self.transport is None:
            return
        if what is Reading.HEADERS:
            reason = f"request headers not complete within {self._header_timeout:g} s"
            log.info("closing the connection from %s: %s", self._peer(), reason)
            if not self._request_in_progress and not self._messages:
                text = reason.encode()
                self.transport.write(b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                     b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(text), text))
            self.force_close()
        elif body is not None:
            reason = f"request body not complete within {self._body_timeout:g} s of its headers"
            log.info("closing the connection from %s: %s", self._peer(), reason)
            self._late = reason
            self.close()  # no further request on this connection; the handler answers 408 (handle_error)
            body.set_exception(BodyTimedOut(reason))

    def _peer(self) -> str:
        peer = self.peername
        if isinstance(peer, tuple) and len(peer) >= 2:
            return f"{peer[0]}:{peer[1]}"
        return str(peer)

    def handle_error(self, request: BaseRequest, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if status == 504 and self._late is not None:
            status, message = 408, self._late or str(exc)
        elif status == 400 and isinstance(exc, BadHttpMethod):
            # the response carries no echo of the request line (aiohttp's 400 does)
            status, message = 501, NOT_IMPLEMENTED
            log.info("refused a request from %s: %s", self._peer(), NOT_IMPLEMENTED)
        elif status == 400:
            log.info("refused a malformed request from %s: %s", self._peer(), one_line(message or str(exc)))
        elif status == 500 and isinstance(exc, ConnectionError) and self.transport is None:
            # the client left while its handler waited for the rest of the body: no failure of ours
            log.info("the client at %s closed the connection before its request was complete", self._peer())
        else:
            return super().handle_error(request, status, exc, message)  # a 500 keeps its traceback
        if self.refused is not None and status != 500:
            self.refused(status)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was under way; no error response can follow it")
        response = web.Response(status=status, text=message, content_type="text/plain")
        response.force_close()
        return response


class Site(web.BaseSite):
    """A listener of an AppRunner whose connections are GatewayRequestHandlers, admitted within
    limits: on a socket already bound (sock) or on host and port.  handler_args: RequestHandler's
    keyword arguments, as AppRunner passes them (the access_log setting, say)."""

    _server: asyncio.Server | None  # what start() makes (BaseSite declares only an AbstractServer)

    def __init__(self, runner: web.BaseRunner, *, limits: ConnectionLimits, host: str | None = None, port: int = 0,
                 sock: socket.socket | None = None, ssl_context: ssl.SSLContext | None = None,
                 handler_args: dict[str, Any] | None = None, listener: str = "sep",
                 tracking: Tracking | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.host, self.requested_port, self.sock = host, port, sock
        self.handler_args = handler_args or {}
        self.tls = ssl_context is not None
        self.limits = limits
        self.admission = Admission(limits, listener)
        self.tracking = tracking  # told of every connection, handshake, silent client and connection refused
        if tracking is not None:
            kind = "tls" if self.tls else "http"

            def refused(address: str | None) -> None:
                tracking.refused(kind, CONNECTION_LIMIT, peer=address)

            self.admission.on_refused = refused

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
        limits, tls = self.limits, self._ssl_context
        raise_open_file_limit(limits.max_connections + OPEN_FILE_MARGIN)
        handler_args = {"keepalive_timeout": limits.keepalive_timeout, **self.handler_args,
                        "header_timeout": limits.header_timeout, "body_timeout": limits.body_timeout}

        tracking = self.tracking

        def make(transport: asyncio.Transport, released: Callable[[], None],
                 seconds_left: float) -> asyncio.Protocol | asyncio.BufferedProtocol:
            handler = GatewayRequestHandler(manager, loop=loop, **handler_args)
            ended, handshake = released, None
            if tracking is not None:
                peer, key = peer_text(transport.get_extra_info("peername")), id(handler)
                tracking.opened(key, peer)

                def ended() -> None:
                    tracking.closed(key)
                    released()

                def handshake(failure: str | None) -> None:
                    tracking.handshake(failure, peer)

                def refused(status: int) -> None:
                    tracking.refused("http", http_reason(status), status=status, peer=peer)

                handler.refused = refused

            if tls is None:
                handler._released = ended
                return handler
            return CompactSSLProtocol(loop, handler, tls, seconds_left, limits.tls_handshake_timeout, ended,
                                      handshake)

        first_byte = limits.tls_handshake_timeout if tls is not None else None
        silent = None
        if tracking is not None and tls is not None:
            def silent(address: str | None) -> None:
                tracking.handshake(HANDSHAKE_TIMEOUT, address)

        def connection() -> Gate:
            return Gate(self.admission, make, first_byte, silent)

        # TLS is the Gate's to start (ssl=None here), so that a refused connection costs no TLS state
        if self.sock is not None:
            self._server = await loop.create_server(connection, sock=self.sock, backlog=self._backlog)
        else:
            self._server = await loop.create_server(connection, self.host, self.requested_port,
                                                    backlog=self._backlog, reuse_address=True)


def peer_text(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


async def serve(app: web.Application, limits: ConnectionLimits, *, host: str | None, port: int = 0,
                sock: socket.socket | None = None, ssl_context: ssl.SSLContext | None = None,
                listener: str = "sep", tracking: Tracking | None = None) -> tuple[web.AppRunner, int]:
    """Serves app on one listener (named listener in the metrics; tracking: told of its connections); (its
    runner, to clean up, and the port bound)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = Site(runner, limits=limits, host=host, port=port, sock=sock, ssl_context=ssl_context,
                handler_args={"access_log": None}, listener=listener, tracking=tracking)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, site.port
