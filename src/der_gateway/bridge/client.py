"""A 2030.5 HTTP client over mutual TLS (aiohttp): GET, POST and PUT of sep.model resources.

One ``SepClient`` serves every device of a bridge: one aiohttp session, one
connection pool (``limit`` connections), and at most ``limit`` requests under
way at once (the rest wait their turn before their timeout starts).

Failures come in two kinds:

- ``HttpError``: the server answered, but not with success (4xx, 500).  The
  request is not retried; the caller decides.
- ``ServerUnavailable``: no answer (refused, reset, timed out, TLS failure) or
  502/503/504, after ``retries`` more attempts with doubling waits.  The client
  then counts the server as *down*: further requests fail at once with
  ``ServerUnavailable`` while one probe (GET /dcap) retries with backoff, up to
  ``max_backoff`` seconds apart.  When the probe succeeds the client is *up*
  again and calls each ``on_up`` callback with the time the outage began.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp

from der_gateway.sep import codec, model

log = logging.getLogger(__name__)

SEP_XML = "application/sep+xml"
T = TypeVar("T")


class _Paged(Protocol):
    """A 2030.5 list resource (List or SubscribableList), as read a page at a time."""

    all: int
    results: int


L = TypeVar("L", bound=_Paged)

_DOWN_STATUSES = frozenset({502, 503, 504})


class ClientError(Exception):
    pass


class HttpError(ClientError):
    """The server answered with a status that is not success."""

    def __init__(self, method: str, href: str, status: int, reason: str) -> None:
        super().__init__(f"{method} {href}: {status} {reason}".strip())
        self.method, self.href, self.status, self.reason = method, href, status, reason


class ServerUnavailable(ClientError):
    """The server could not be reached (or is counted as down)."""


class ProtocolError(ClientError):
    """The server answered with something that is not the expected 2030.5 resource."""


def href_of(resource: model.Resource) -> str:
    """The href of a resource the bridge follows or names; ProtocolError when the server gave none."""
    if resource.href is None:
        raise ProtocolError(f"the server gave a {type(resource).__name__} without an href")
    return resource.href


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes


class SepClient:
    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | None, *, limit: int = 32,
                 timeout: float = 10.0, retries: int = 2, backoff: float = 0.25, max_backoff: float = 30.0,
                 list_limit: int = 100) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self.ssl_context = ssl_context
        self.limit = limit
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.list_limit = list_limit
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(limit)
        self.available = True
        self.down_since: float | None = None
        self.outages = 0
        self.requests = 0
        self.failures = 0
        self.on_up: list[Callable[[float], None]] = []
        self.on_down: list[Callable[[float], None]] = []
        self._probe: asyncio.Task | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        await self._opened()

    async def _opened(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(ssl=self.ssl_context if self.ssl_context is not None else True,
                                             limit=self.limit, keepalive_timeout=60)
            self._session = aiohttp.ClientSession(connector=connector,
                                                  timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- addresses -------------------------------------------------------------------------

    def path(self, href: str) -> str:
        """An href or Location as a path on this server ("https://host:port/edev/3" -> "/edev/3")."""
        if href.startswith(self._origin):
            href = href[len(self._origin):]
        elif "://" in href:
            raise ProtocolError(f"{href} is not on {self._origin}")
        return href if href.startswith("/") else "/" + href

    # -- requests ----------------------------------------------------------------------------

    async def request(self, method: str, href: str, body: bytes | None = None) -> Reply:
        if not self.available:
            raise ServerUnavailable(f"{self.base_url} is unreachable (since {self.down_since:.0f})")
        path = self.path(href)
        delay = self.backoff
        for attempt in range(self.retries + 1):
            try:
                reply = await self._send(method, path, body)
            except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError, OSError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if reply.status not in _DOWN_STATUSES:
                    return reply
                problem = f"HTTP {reply.status} {reply.reason}"
            self.failures += 1
            if attempt < self.retries and self.available:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_backoff)
                continue
            self._went_down(problem)
            raise ServerUnavailable(f"{method} {path}: {problem}")
        raise AssertionError("unreachable")

    async def _send(self, method: str, path: str, body: bytes | None) -> Reply:
        session = await self._opened()
        headers = {"Accept": SEP_XML}
        if body is not None:
            headers["Content-Type"] = SEP_XML
        async with self._slots:
            self.requests += 1
            async with session.request(method, self.base_url + path, data=body, headers=headers,
                                             allow_redirects=False) as resp:
                raw = await resp.read()
                return Reply(resp.status, resp.reason or "", dict(resp.headers), raw)

    def _decode(self, reply: Reply, href: str, cls: type[T] | tuple[type[T], ...]) -> T:
        try:
            return codec.decode_bytes(reply.body, cls)
        except (codec.DecodeError, ValueError) as exc:
            raise ProtocolError(f"GET {href}: {exc}") from None

    async def get(self, href: str, cls: type[T] | tuple[type[T], ...]) -> T:
        reply = await self.request("GET", href)
        if reply.status != 200:
            raise HttpError("GET", href, reply.status, reply.reason)
        return self._decode(reply, href, cls)

    async def get_optional(self, href: str, cls: type[T]) -> T | None:
        """The resource, or None when the server answers 404."""
        try:
            return await self.get(href, cls)
        except HttpError as exc:
            if exc.status == 404:
                return None
            raise

    async def get_list(self, href: str, cls: type[L], items: str) -> L:
        """A whole list resource, page by page (``items``: the field holding the entries)."""
        base = self.path(href).split("?", 1)[0]
        first = await self.get(f"{base}?s=0&l={self.list_limit}", cls)
        entries = list(getattr(first, items))
        while len(entries) < first.all:
            page = await self.get(f"{base}?s={len(entries)}&l={self.list_limit}", cls)
            more = getattr(page, items)
            if not more:
                break
            entries.extend(more)
        setattr(first, items, entries)
        first.results = len(entries)
        return first

    async def post(self, href: str, resource: Any) -> str | None:
        """POST a resource; returns the Location (as a path) when the server gives one."""
        reply = await self.request("POST", href, codec.encode(resource))
        if reply.status not in (200, 201, 204):
            raise HttpError("POST", href, reply.status, reply.headers.get("X-Reason") or reply.reason)
        location = reply.headers.get("Location")
        return self.path(location) if location else None

    async def put(self, href: str, resource: Any) -> int:
        reply = await self.request("PUT", href, codec.encode(resource))
        if reply.status not in (200, 201, 204):
            raise HttpError("PUT", href, reply.status, reply.headers.get("X-Reason") or reply.reason)
        return reply.status

    async def delete(self, href: str) -> int:
        reply = await self.request("DELETE", href)
        if reply.status not in (200, 204, 404):
            raise HttpError("DELETE", href, reply.status, reply.reason)
        return reply.status

    # -- up and down ---------------------------------------------------------------------------

    def _went_down(self, problem: str) -> None:
        if not self.available:
            return
        self.available = False
        self.down_since = time.time()
        self.outages += 1
        log.warning("2030.5 server %s unreachable: %s", self.base_url, problem)
        for callback in list(self.on_down):
            callback(self.down_since)
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._probe_until_up(), name="sep-client-probe")

    async def _probe_until_up(self) -> None:
        delay = self.backoff
        while True:
            await asyncio.sleep(delay)
            try:
                reply = await self._send("GET", "/dcap", None)
                if reply.status < 500:
                    break
            except (aiohttp.ClientError, asyncio.TimeoutError, ssl.SSLError, OSError):
                pass
            delay = min(delay * 2, self.max_backoff)
        since = self.down_since or time.time()
        self.available = True
        self.down_since = None
        log.warning("2030.5 server %s reachable again after %.0f s", self.base_url, time.time() - since)
        for callback in list(self.on_up):
            try:
                callback(since)
            except Exception:  # pragma: no cover - a callback's bug must not stop the others
                log.exception("on_up callback failed")
