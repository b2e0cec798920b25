"""Each client's last contact, noted in memory per request and written to the store in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiohttp import web

from ..clock import Clock
from ..store import Store

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0


class ContactLog:
    """The latest contact of each LFDI since the last flush; flushed every `every` seconds while the application
    runs, and once more when it stops."""

    def __init__(self, store: Store, clock: Clock, every: float = FLUSH_SECONDS) -> None:
        self.store = store
        self.clock = clock
        self.every = every
        self._pending: dict[str, int] = {}
        self._task: asyncio.Task | None = None

    def note(self, lfdi: str) -> None:
        self._pending[lfdi] = int(self.clock.now())

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            await self.store.record_contacts(pending)
        except Exception:
            log.exception("could not record the last contact of %d clients", len(pending))
            for lfdi, at in pending.items():  # kept for the next flush, unless a later contact came meanwhile
                self._pending.setdefault(lfdi, at)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            await asyncio.shield(self.flush())  # a pause or stop meanwhile does not lose the batch under way

    async def on_startup(self, app: web.Application) -> None:
        self._task = asyncio.create_task(self._run(), name="der-gateway last contact")

    async def pause(self) -> None:
        """No more flushes until the application stops (which flushes once more): the store is written only when
        the caller says (tests that drive the server by hand)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def on_cleanup(self, app: web.Application) -> None:
        await self.pause()
        await self.flush()
