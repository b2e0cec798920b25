"""Sending unbilled settlement credits to billing (the store's batches: store/sqlite_billing.py)."""

from __future__ import annotations

import time
from typing import Sequence

from ..clock import Clock
from ..config import Config
from ..store.billing_records import BillingBatchRecord
from ..store.interface import Store


async def bill(store: Store, clock: Clock, account_ids: Sequence[int] | None, trigger: str
               ) -> list[BillingBatchRecord]:
    """Queues each account's unbilled credits (of the accounts given, or all) to the billing endpoints."""
    batches = []
    for batch_id in await store.queue_billing(account_ids, trigger, clock.now()):
        batch = await store.billing_batch(batch_id)
        assert batch is not None
        batches.append(batch)
    return batches


class BillingDuty:
    """Sends every account's unbilled credits every billing_interval seconds (0: never by itself)."""

    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        if not config.billing_interval >= 0:
            raise ValueError("billing_interval must be a number of seconds (0: on events and demand only)")
        self.store, self.clock, self.interval = store, clock, config.billing_interval
        self._last = time.monotonic()  # the first run is one interval after start

    async def maybe_run(self) -> int:
        """How many batches were queued."""
        if not self.interval or time.monotonic() - self._last < self.interval:
            return 0
        self._last = time.monotonic()
        return len(await self.store.queue_billing(None, "periodic", self.clock.now()))
