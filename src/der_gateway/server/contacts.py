"""Each client's last contact, noted in memory per request and written to the store in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aiohttp import web

from ..clock import Clock
from ..store import Store

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0
_END_DEVICE_PATH = re.compile(r"/edev/([0-9]{1,18})(?:/|$)")


class ContactLog:
    """The latest contact of each LFDI since the last flush, and of each EndDevice a request answered with success
    was about (an aggregator acting for its devices is their contact); flushed every `every` seconds while the
    application runs, and once more when it stops."""

    def __init__(self, store: Store, clock: Clock, every: float = FLUSH_SECONDS) -> None:
        self.store = store
        self.clock = clock
        self.every = every
        self._pending: dict[str, int] = {}
        self._pending_devices: dict[int, int] = {}
        self._task: asyncio.Task | None = None

    def note(self, lfdi: str) -> None:
        self._pending[lfdi] = int(self.clock.now())

    def note_answered(self, path: str, status: int) -> None:
        """A request for path was answered with status: a success about an EndDevice's resources is its contact."""
        if status < 300 and (m := _END_DEVICE_PATH.match(path)):
            self._pending_devices[int(m.group(1))] = int(self.clock.now())

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        devices, self._pending_devices = self._pending_devices, {}
        if not pending and not devices:
            return
        try:
            await self.store.record_contacts(pending, devices)
        except Exception:
            log.exception("could not record the last contact of %d clients", len(pending) + len(devices))
            for lfdi, at in pending.items():  # kept for the next flush, unless a later contact came meanwhile
                self._pending.setdefault(lfdi, at)
            for end_device_id, at in devices.items():
                self._pending_devices.setdefault(end_device_id, at)

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
