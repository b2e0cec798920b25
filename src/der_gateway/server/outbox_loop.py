"""The background loop shared by the two durable outboxes: 2030.5 notifications and enrollment sync.

A worker using it provides `_launch_due()` (start sending what is due) and
`_next_attempt()` (the earliest time anything queued may be sent), and sets the
attributes declared below.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Generic, TypeVar

from ..clock import Clock
from ..config import Config
from ..tls import client_context
from ..wakeups import woken

log = logging.getLogger(__name__)

Destination = TypeVar("Destination")


class OutboxLoop(Generic[Destination]):
    name = "outbox"
    config: Config
    clock: Clock
    poll: float  # the longest sleep
    _wake: asyncio.Event
    _held: dict[Destination, int]  # destination -> when this process will retry it
    _tls: ssl.SSLContext | None

    async def _launch_due(self) -> object:
        raise NotImplementedError

    async def _next_attempt(self) -> int | None:
        raise NotImplementedError

    def _client_tls(self) -> ssl.SSLContext:
        """The server's own certificate, presented to https receivers as 2030.5 requires."""
        if self._tls is None:
            self._tls = client_context(self.config.certs_dir, self.config.server_cert, self.config.ciphers,
                                       self.config.tls_versions)
        return self._tls

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._launch_due()
                delay = await self._delay()
            except Exception:
                log.exception("%s delivery pass failed", self.name)
                delay = self.poll
            if delay > 0:
                await woken(self._wake, delay)

    async def _delay(self) -> float:
        """Seconds until something may be due that no running task will wake us for."""
        next_attempt = await self._next_attempt()
        if next_attempt is None:
            return self.poll
        now = self.clock.now()
        if next_attempt <= now:
            # What is due is being sent (its task wakes us when done), or is queued behind
            # a held-back head (new items carry next_attempt 0): wait for the earliest hold.
            self._held = {d: t for d, t in self._held.items() if t > now}
            return min(self.poll, min(self._held.values(), default=now + self.poll) - now)
        return min(self.poll, next_attempt - now)
