"""Coalesced: each caller gets a read begun after it asked; callers that ask while one runs share the next."""

from __future__ import annotations

import asyncio

import pytest

from der_gateway.store.coalesced import Coalesced


async def test_a_caller_never_gets_a_read_begun_before_it_asked() -> None:
    started: list[int] = []
    gate = asyncio.Event()

    async def read() -> int:
        started.append(len(started))
        await gate.wait()
        return started[-1]
    reads = Coalesced(read)
    first = asyncio.ensure_future(reads())
    await asyncio.sleep(0)
    later = [asyncio.ensure_future(reads()) for _ in range(5)]  # asked while the first read runs
    await asyncio.sleep(0)
    assert started == [0]
    gate.set()
    assert await first == 0
    assert await asyncio.gather(*later) == [1] * 5  # one shared read, begun after they asked
    assert started == [0, 1]


async def test_a_failed_read_fails_its_callers_and_the_next_read_runs() -> None:
    calls = 0

    async def read() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("lost")
        return calls
    reads = Coalesced(read)
    with pytest.raises(OSError):
        await reads()
    assert await reads() == 2
