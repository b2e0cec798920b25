"""Waiting for a wake-up or a deadline, whichever comes first, without losing a cancellation."""

from __future__ import annotations

import asyncio


async def woken(event: asyncio.Event, timeout: float | None) -> bool:
    """Whether event was set within timeout seconds (None: no deadline).

    `asyncio.wait_for` (Python 3.11) swallows a cancellation that arrives as the event is set, and a loop
    around it then runs on for ever, so a task never stops; `asyncio.timeout` keeps the cancellation.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
