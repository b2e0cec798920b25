"""The background duties of one of several server processes: run while this process leads.

Of the workers serving one store, only the leader (store.leadership) runs the Background: the event
scheduler, the service-task monitor, the notifier and the two outboxes.  The others wait to take over.
A write made through another worker wakes nothing in the leader's process, so the leader looks at the
store's version (which any commit, in any process, moves on) every `poll` seconds and wakes its loops
when it has moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

from ..store.interface import Store
from ..store.leadership import Leadership
from .background import Background

log = logging.getLogger(__name__)


class Duties:
    def __init__(self, background: Background, leadership: Leadership, store: Store, poll: float) -> None:
        self.background = background
        self.leadership = leadership
        self.store = store
        self.poll = poll
        self._task: asyncio.Task[None] | None = None
        self._started = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="der-gateway duties")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._started:
            await self.background.stop()
        await self.leadership.resign()

    async def _run(self) -> None:
        await self.leadership.lead()
        log.info("worker %d leads: it runs the scheduler, the service-task monitor and the outboxes", os.getpid())
        self._started = True
        await self.background.start()
        await self._watch()

    async def _watch(self) -> None:
        seen = await self.store.version()
        while True:
            await asyncio.sleep(self.poll)
            try:
                version = await self.store.version()
            except Exception:  # keep leading: the next look may succeed
                log.exception("reading the store's version failed")
                continue
            if version != seen:
                seen = version
                self.background.changed()
