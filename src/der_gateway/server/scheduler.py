"""Moves events through their lifecycle as time passes.

Event states are a function of the stored events and the clock
(domain.events); the scheduler writes each change of state at the moment it
happens, with the changes subscribers are told of.  After a restart its first
pass catches up on whatever fell due while the server was down.
"""

from __future__ import annotations

from ..clock import Clock
from ..services.der_controls import refresh_states


class EventScheduler:
    def __init__(self, store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        self._since: int | None = None

    async def run_once(self) -> int | None:
        """Brings stored states up to now; returns when the next change is due."""
        now = self.clock.now()
        due = await refresh_states(self.store, self.clock, self._since)
        self._since = now
        return due
