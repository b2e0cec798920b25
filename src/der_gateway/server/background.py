"""The server's background work: the event scheduler, the notifier, notification delivery, enrollment sync and
device scores."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from ..clock import Clock
from ..config import Config
from .delivery import NotificationDelivery
from .enrollment_sync import SyncDelivery
from .notifier import Notifier
from .scheduler import EventScheduler
from ..services.service_tasks import ServiceTaskMonitor
from ..services.billing import BillingDuty
from ..services.participation import ScoreDuty
from ..services.settlement import SettlementDuty
from ..wakeups import woken

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25  # how soon a change written by another process (the admin CLI, say) is noticed


class Background:
    def __init__(self, store, config: Config, clock: Clock) -> None:
        self.clock = clock
        self.scheduler = EventScheduler(store, clock, config)
        self.notifier = Notifier(store, config, clock)
        self.delivery = NotificationDelivery(store, config, clock)
        self.sync = SyncDelivery(store, config, clock)
        self.service_tasks = ServiceTaskMonitor(store, config, clock)  # .interval None: only on demand
        self.scores = ScoreDuty(store, config, clock)  # device scores, every config.score_interval seconds
        self.billing = BillingDuty(store, config, clock)  # unbilled credits, every config.billing_interval seconds
        self.settlement = SettlementDuty(store, config, clock)  # stages, config.settlement_delay after they end
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def changed(self) -> None:
        """Something was written: look for due events, pending notifications and queued ones now."""
        self._wake.set()
        self.delivery.wake()
        self.sync.wake()

    async def settle(self) -> None:
        """One full pass: states, then notifications, then delivery (tests drive time with this)."""
        await self.scheduler.run_once()
        while await self.notifier.fan_out_pending():
            pass
        await self.delivery.deliver_due()

    async def start(self) -> None:
        await self.delivery.start()
        await self.sync.start()
        self._task = asyncio.create_task(self._run(), name="der-gateway background")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.delivery.stop()
        await self.sync.stop()

    async def _run(self) -> None:
        while True:
            try:
                due = await self.scheduler.run_once()
                if await self.service_tasks.maybe_run():  # Pending service tasks, every few seconds
                    self.sync.wake()
                if await self.scores.maybe_run():  # device scores: a message for each program scored
                    self.sync.wake()
                await self.settlement.maybe_run()
                if await self.billing.maybe_run():  # a batch for each account with unbilled credits
                    self.sync.wake()
                queued = 0
                while True:
                    n = await self.notifier.fan_out_pending()
                    queued += n
                    if not n:
                        break
                if queued:
                    self.delivery.wake()
            except Exception:  # keep serving: log, and try again on the next pass
                log.exception("background pass failed")
                due = None
            wait = POLL_SECONDS if due is None else min(POLL_SECONDS, max(0, due - self.clock.now()))
            self._wake.clear()
            await woken(self._wake, wait)
