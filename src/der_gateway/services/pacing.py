"""Long work on the event loop done in turns, so that other clients' requests are served between them."""

from __future__ import annotations

import asyncio
import time

# How long one turn may hold the event loop.  A request that arrives meanwhile waits for the turn in progress
# and, for each step of its own, for at most one more: a quarter of a millisecond costs a page of 100 EndDevices
# a few percent of its time in turns of the loop.
TURN_SECONDS = 0.00025


class Turns:
    def __init__(self, seconds: float = TURN_SECONDS) -> None:
        self.seconds = seconds
        self.began = time.perf_counter()

    async def between(self) -> None:
        """Lets the event loop serve others if this turn has run its time."""
        if time.perf_counter() - self.began >= self.seconds:
            await asyncio.sleep(0)
            self.began = time.perf_counter()
