"""One read shared by the callers that ask while it waits to start, each given a read begun after it asked."""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    """`await reads()` returns what `read()` returned in a call that began after this await did: at most one call
    runs at a time, and every caller that asks while it runs shares the next one."""

    def __init__(self, read: Callable[[], Awaitable[T]]) -> None:
        self._read = read
        self._next: asyncio.Future[T] | None = None
        self._running = False

    async def __call__(self) -> T:
        future = self._next
        if future is None:
            future = self._next = asyncio.get_running_loop().create_future()
            if not self._running:
                self._start()
        return await asyncio.shield(future)

    def _start(self) -> None:
        future, self._next = self._next, None
        assert future is not None
        self._running = True

        def finished(task: asyncio.Future[T]) -> None:
            self._running = False
            if task.cancelled():
                future.cancel()
            elif (error := task.exception()) is not None:
                future.set_exception(error)
                future.exception()  # read here: its callers may all have gone
            else:
                future.set_result(task.result())
            if self._next is not None:
                self._start()
        asyncio.ensure_future(self._read()).add_done_callback(finished)
