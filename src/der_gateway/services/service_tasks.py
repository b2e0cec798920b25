"""Processing service tasks, on demand and by the periodic monitor.

A task is first claimed (Pending -> Processing, its own transaction, so two
processors never take the same one), then its work is done in one transaction
that ends it Completed, or Error with the reasons and nothing of the work kept.
What completing does (enabling the EndDevice and joining it to its program's
and its network location's groups, the sync message, ...) is in
store/sqlite_utility/task_work.py; the states are domain/utility/tasks.py.
"""

from __future__ import annotations

import logging
import time

from ..clock import Clock
from ..config import Config
from ..domain.utility import Conflict
from ..store.interface import Store
from ..store.utility_records import ServiceTaskRecord

log = logging.getLogger(__name__)


def logged(task: ServiceTaskRecord, was: str | None = None) -> ServiceTaskRecord:
    """One log line (event "task-transition") for a task that has reached task.state."""
    log.info("service task %d (%s): %s", task.id, task.kind, task.state,
             extra={"event": "task-transition", "task_id": task.id, "kind": task.kind, "from_state": was,
                    "state": task.state, "enrollment_id": task.enrollment_id})
    return task


async def process(store: Store, config: Config, clock: Clock, task_id: int) -> ServiceTaskRecord:
    """Processes one task now; Conflict if it may not be processed (not Pending, awaiting approval)."""
    logged(await store.claim_service_task(task_id, clock.now()), "Pending")
    return logged(await store.finish_service_task(task_id, clock.now(), config.issuer), "Processing")


class ServiceTaskMonitor:
    """Processes every due task at most every `interval` seconds (None: never by itself)."""

    def __init__(self, store: Store, config: Config, clock: Clock) -> None:
        self.store, self.config, self.clock = store, config, clock
        self.interval: float | None = config.service_task_interval
        self._last: float | None = None

    async def run_once(self) -> int:
        """Processes the tasks due now; returns how many it ended."""
        done = 0
        for task_id in await self.store.due_service_tasks(self.clock.now()):
            try:
                task = await process(self.store, self.config, self.clock, task_id)
            except Conflict:  # taken or decided meanwhile (an operator's request)
                continue
            done += 1
            if task.state == "Error":
                log.warning("service task %d (%s) failed: %s", task_id, task.kind,
                            "; ".join(r["reason"] for r in task.reasons))
        return done

    async def maybe_run(self) -> int:
        if self.interval is None:
            return 0
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval:
            return 0
        self._last = now
        return await self.run_once()
