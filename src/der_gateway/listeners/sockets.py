"""Listening sockets bound once, by the parent of several workers, and shared by them all.

Each worker accepts from the same sockets, inherited across fork, so the kernel hands each new connection
to one of the workers waiting on it.  (The alternative, a socket of each worker's own bound with
SO_REUSEPORT, cannot honour port 0, and the connections waiting in a dead worker's queue die with it;
a shared socket's queue outlives any one worker.)
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from ..config import Config

BACKLOG = 128  # aiohttp's default; each worker's create_server listens again with the same


@dataclass(frozen=True)
class BoundListeners:
    tls: socket.socket  # the 2030.5 listener (plain HTTP behind a TLS-terminating proxy)
    redirect: socket.socket | None = None  # plain HTTP answering 301 to the TLS listener (http_redirect_port)
    admin: socket.socket | None = None  # the admin API

    @property
    def all(self) -> list[socket.socket]:
        return [s for s in (self.tls, self.redirect, self.admin) if s is not None]

    def close(self) -> None:
        for s in self.all:
            s.close()


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on the first address host resolves to (port 0: any free port)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def bind_listeners(config: Config) -> BoundListeners:
    """Binds the listeners config asks for; an address in use fails here, before any worker starts."""
    bound: list[socket.socket] = []
    try:
        tls = bind(config.host, config.port)
        bound.append(tls)
        redirect = None
        if config.http_redirect_port is not None:
            redirect = bind(config.host, config.http_redirect_port)
            bound.append(redirect)
        admin = None
        if config.admin_enabled:
            admin = bind(config.admin_host, config.admin_port)
            bound.append(admin)
    except BaseException:
        for s in bound:
            s.close()
        raise
    return BoundListeners(tls, redirect, admin)


def port_of(sock: socket.socket) -> int:
    port: int = sock.getsockname()[1]
    return port
