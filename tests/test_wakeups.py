"""A loop that sleeps until woken stops when cancelled, even when the cancellation and the wake-up come
together (asyncio.wait_for in Python 3.11 lost such a cancellation, and a bridge never stopped)."""

from __future__ import annotations

import asyncio

import pytest

from der_gateway.wakeups import woken


async def _sleeper(event: asyncio.Event) -> None:
    while True:
        await woken(event, 5)
        event.clear()


@pytest.mark.parametrize("rounds", [50])
async def test_a_cancellation_that_comes_with_a_wake_up_stops_the_loop(rounds):
    for _ in range(rounds):
        event = asyncio.Event()
        task = asyncio.create_task(_sleeper(event))
        await asyncio.sleep(0)
        event.set()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 1)


async def test_woken_says_whether_the_event_came_before_the_deadline():
    event = asyncio.Event()
    assert await woken(event, 0.01) is False
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await woken(event, 5) is True
