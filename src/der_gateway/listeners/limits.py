"""Bounds on a listening socket: how many connections it holds, in all and from one client address,
and how little memory one costs before it has proved anything (a TLS handshake).

A connection is admitted or refused in connection_made, before any TLS object or HTTP parser
exists for it: one beyond a cap is aborted at once.  An admitted TLS connection gets its TLS state
only with its first byte (OpenSSL allocates some 30 KiB of buffers per connection once a handshake
starts), and runs on CompactSSLProtocol: asyncio's SSLProtocol with a 16 KiB socket read buffer
instead of 256 KiB (asyncio allocates and zero-fills that buffer per connection: 10,000 connections
that never started TLS held 2.5 GB of it) and with the listener's handshake timeout, counted from
the connection, instead of asyncio's 60 s.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import resource
import ssl
from asyncio import sslproto
from dataclasses import dataclass
from typing import Callable, cast

from ..config import Config
from ..observability.metrics import OPEN_CONNECTIONS
from ..tls import refusal_reason

log = logging.getLogger(__name__)

TLS_READ_BUFFER = 16 * 1024  # one TLS record's plaintext; the buffer is refilled per read
REFUSAL_LOG_INTERVAL = 60.0  # seconds between two log lines about refused connections


@dataclass(frozen=True)
class ConnectionLimits:
    """One listener's bounds; see the Config block after tls_versions.  exempt: networks whose
    connections count towards max_connections only (the trusted TLS-terminating proxies)."""

    max_connections: int
    max_connections_per_address: int
    tls_handshake_timeout: float
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    exempt: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_config(cls, config: Config, *, keepalive_timeout: float | None = None) -> ConnectionLimits:
        exempt = tuple(ipaddress.ip_network(p, strict=False) for p in config.trusted_proxies)
        return cls(config.max_connections, config.max_connections_per_address, config.tls_handshake_timeout,
                   config.header_timeout, config.body_timeout,
                   config.keepalive_timeout if keepalive_timeout is None else keepalive_timeout, exempt)

    def __post_init__(self) -> None:
        for name in ("max_connections", "max_connections_per_address"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("tls_handshake_timeout", "header_timeout", "body_timeout", "keepalive_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be a positive number of seconds")


class Admission:
    """The open connections of one listener, counted in all and per client address."""

    def __init__(self, limits: ConnectionLimits, listener: str = "sep") -> None:
        self.limits = limits
        self.open_connections = OPEN_CONNECTIONS.labels(listener)
        self.total = 0
        self.by_address: dict[str, int] = {}
        self.refused = 0
        self.on_refused: Callable[[str | None], None] | None = None  # told the address of each refused
        self._refused_logged = 0
        self._last_log: float | None = None

    def _exempt(self, address: str) -> bool:
        if not self.limits.exempt:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.limits.exempt)

    def admit(self, address: str | None) -> bool:
        """Counts a new connection from address in, or refuses it (False) if a cap is reached."""
        limits = self.limits
        if self.total >= limits.max_connections:
            self._refuse(address, f"{limits.max_connections} connections are open")
            return False
        if address is not None and not self._exempt(address):
            count = self.by_address.get(address, 0)
            if count >= limits.max_connections_per_address:
                self._refuse(address, f"{count} connections from this address are open")
                return False
            self.by_address[address] = count + 1
        self.total += 1
        self.open_connections.inc()
        return True

    def release(self, address: str | None) -> None:
        self.total -= 1
        self.open_connections.dec()
        if address is None:
            return
        count = self.by_address.get(address)
        if count is None:  # an exempt address
            return
        if count <= 1:
            del self.by_address[address]
        else:
            self.by_address[address] = count - 1

    def _refuse(self, address: str | None, why: str) -> None:
        self.refused += 1
        if self.on_refused is not None:
            self.on_refused(address)
        now = asyncio.get_running_loop().time()
        if self._last_log is None or now - self._last_log >= REFUSAL_LOG_INTERVAL:
            log.warning("refusing connections (%d since the last report); the latest from %s: %s",
                        self.refused - self._refused_logged, address, why)
            self._last_log, self._refused_logged = now, self.refused


HANDSHAKE_TIMEOUT = "handshake timeout"
HANDSHAKE_ABANDONED = "handshake abandoned"  # the client left before the handshake ended


class CompactSSLProtocol(sslproto.SSLProtocol):
    """asyncio's server-side TLS protocol with a small read buffer; tells its Admission when it ends, and
    handshake(None or why it failed) once when its handshake ends."""

    max_size = TLS_READ_BUFFER

    def __init__(self, loop: asyncio.AbstractEventLoop, app_protocol: asyncio.BaseProtocol,
                 context: ssl.SSLContext, handshake_timeout: float, shutdown_timeout: float,
                 released: Callable[[], None], handshake: Callable[[str | None], None] | None = None) -> None:
        # typeshed asks for a waiter future and an int timeout; asyncio takes None and any number
        super().__init__(loop, app_protocol, context, None, server_side=True,  # type: ignore[arg-type]
                         ssl_handshake_timeout=handshake_timeout,  # type: ignore[arg-type]
                         ssl_shutdown_timeout=shutdown_timeout)
        self._released = released
        self._handshake_ended = handshake

    def _note_handshake(self, failure: str | None) -> None:
        ended, self._handshake_ended = self._handshake_ended, None
        if ended is not None:
            ended(failure)

    def _failure(self, exc: BaseException) -> str:
        noted = getattr(getattr(self, "_sslobj", None), "_failure", None)  # tls.AlertingSSLObject's
        return refusal_reason(noted if noted is not None else exc)

    def _on_handshake_complete(self, handshake_exc: BaseException | None) -> None:
        self._note_handshake(None if handshake_exc is None else self._failure(handshake_exc))
        super()._on_handshake_complete(handshake_exc)

    def _check_handshake_timeout(self) -> None:
        if getattr(self, "_state", None) == sslproto.SSLProtocolState.DO_HANDSHAKE:
            self._note_handshake(HANDSHAKE_TIMEOUT)
        super()._check_handshake_timeout()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._handshake_ended is not None and getattr(self, "_state", None) in (
                sslproto.SSLProtocolState.UNWRAPPED, sslproto.SSLProtocolState.DO_HANDSHAKE):
            noted = getattr(getattr(self, "_sslobj", None), "_failure", None)
            self._note_handshake(refusal_reason(noted) if noted is not None else HANDSHAKE_ABANDONED)
        try:
            super().connection_lost(exc)
        finally:
            self._released()


Make = Callable[[asyncio.Transport, Callable[[], None], float], asyncio.Protocol | asyncio.BufferedProtocol]


class Gate(asyncio.Protocol):
    """A new connection's first protocol: it admits the connection or aborts it, then hands the
    transport to the protocol make(transport, released, seconds_left) builds, which must call
    released() once when the connection ends.

    first_byte: seconds within which the client must send its first byte (the whole TLS handshake
    must end within them too: seconds_left is what remains), the protocol being built only then,
    so that a connection that never speaks holds no TLS state or buffer.  None: at once."""

    __slots__ = ("admission", "make", "first_byte", "transport", "address", "deadline", "timer", "admitted",
                 "silent")

    def __init__(self, admission: Admission, make: Make, first_byte: float | None = None,
                 silent: Callable[[str | None], None] | None = None) -> None:
        self.admission = admission
        self.make = make
        self.first_byte = first_byte
        self.silent = silent  # called with the peer's address when the client sent nothing within first_byte
        self.transport: asyncio.Transport | None = None
        self.address: str | None = None
        self.deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.admitted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # a stream server's
        peer = transport.get_extra_info("peername")
        self.address = peer[0] if isinstance(peer, tuple) and peer else None
        if not self.admission.admit(self.address):
            transport.abort()
            return
        self.admitted, self.transport = True, transport
        if self.first_byte is None:
            self._hand_over(None, 0.0)
            return
        loop = asyncio.get_running_loop()
        self.deadline = loop.time() + self.first_byte
        self.timer = loop.call_at(self.deadline, self._silent)

    def _silent(self) -> None:
        self.timer = None
        if self.transport is not None:
            if self.silent is not None:
                self.silent(self.address)
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        if self.transport is None:  # refused, or handed over already
            return
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        left = max(self.deadline - asyncio.get_running_loop().time(), 0.001)
        self._hand_over(data, left)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.admitted and self.transport is not None:  # never handed over
            self.transport = None
            self.admission.release(self.address)

    def _hand_over(self, data: bytes | None, seconds_left: float) -> None:
        transport, address = self.transport, self.address
        assert transport is not None
        self.transport = None
        done = False

        def released() -> None:
            nonlocal done
            if not done:
                done = True
                self.admission.release(address)

        try:
            protocol = self.make(transport, released, seconds_left)
        except BaseException:
            released()
            transport.abort()
            raise
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        if not data:
            return
        if isinstance(protocol, asyncio.BufferedProtocol):
            view = memoryview(data)
            while view and not transport.is_closing():
                buffer = memoryview(protocol.get_buffer(len(view)))
                n = min(len(buffer), len(view))
                buffer[:n] = view[:n]
                protocol.buffer_updated(n)
                view = view[n:]
        else:
            protocol.data_received(data)


def raise_open_file_limit(wanted: int) -> None:
    """Raises this process's soft limit on open files towards wanted (a listener's connections
    plus a margin), as far as the hard limit allows; says so when that is not enough."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < wanted:
        log.warning("open-file limit %d is below the %d the connection caps need; connections beyond it "
                    "wait in the listen backlog", soft, wanted)
