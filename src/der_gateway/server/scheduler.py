"""Moves events through their lifecycle as time passes.

Event states are a function of the stored events and the clock
(domain.events); the scheduler writes each change of state at the moment it
happens, with the changes subscribers are told of.  After a restart its first
pass catches up on whatever fell due while the server was down.
"""

from __future__ import annotations

from ..clock import Clock
from ..config import Config
from ..services.der_controls import refresh_states
from ..services.stage_reporting import StageReporter


class EventScheduler:
    def __init__(self, store, clock: Clock, config: Config | None = None) -> None:
        self.store = store
        self.clock = clock
        self._since: int | None = None
        self.stages = StageReporter(store, clock, config)  # utility events' stages: reports, outcomes, files

    async def run_once(self) -> int | None:
        """Brings stored states up to now; returns when the next change is due."""
        now = self.clock.now()
        due = await refresh_states(self.store, self.clock, self._since)
        self._since = now
        await self.stages.run_once()
        return due
