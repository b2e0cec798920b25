"""Long list pages built in a process of their own, so that no other client's request waits on them.

Reading and encoding a page of 100 EndDevices holds the interpreter for milliseconds.  On the serving process,
even in turns of the loop (services.pacing), every request that arrives meanwhile waits for a turn at each of its
steps, and for the GIL behind the store's reader threads.  Here the serving loop only hands the page's arguments
over and copies its bytes back.  The page process runs at the lowest priority (Linux's SCHED_IDLE: only when a CPU
has nothing else to run), so that it never delays a serving process; should it be starved for PATIENCE_SECONDS,
the serving process builds long pages itself again until it catches up.

It opens the same store (store.opening.location_of) and reads it as the serving process would: a write the
server acknowledged is committed before its answer, so every later page holds it.  It starts on the first long
page; until it is up, and after it stops, pages are built on the serving loop as before.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import struct
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any, Awaitable, BinaryIO, Callable

from aiohttp import web

from ..clock import ManualClock
from ..config import Config
from ..domain.clients import Client
from ..services.documents import encode
from ..services.resources import Viewer
from ..store import Store
from ..store.opening import location_of, open_store
from .access import viewer
from .http import SepResponse, sep_response
from .state import CLIENT, CLOCK

log = logging.getLogger(__name__)

# Pages of at most this many items are built on the serving loop: handing them over would cost more than
# building them there.
INLINE_ITEMS = 10
PATIENCE_SECONDS = 2.0  # a page the page process has not answered by then: further long pages are built here
RESTART_SECONDS = 10.0  # after the page process stopped, before it is started again

Build = Callable[..., Awaitable[Any]]  # (Viewer, *args) -> a 2030.5 resource

_LENGTH = struct.Struct("!I")


class PageProcess:
    """The serving process's side: one page process, started on the first long page, its requests and answers
    in order over its stdin and stdout."""

    def __init__(self, config: Config, location: tuple[str | None, Path] | None) -> None:
        self._config = config
        self._location = location
        self._process: asyncio.subprocess.Process | None = None
        self._pending: deque[tuple[float, asyncio.Future[bytes | None]]] = deque()  # (asked at, answer)
        self._running: asyncio.Task[None] | None = None
        self._ready = False
        self._stopped_at = -RESTART_SECONDS

    @property
    def pid(self) -> int | None:
        """The page process's, once it answers pages."""
        return self._process.pid if self._ready and self._process is not None else None

    async def build(self, build: Build, client: Client, now: int, args: tuple[Any, ...]) -> bytes | None:
        """build(Viewer as client sees the store at now, *args), encoded, from the page process; None while it
        starts, or if it cannot build this page: the caller builds it itself."""
        if self._location is None:
            return None
        if not self._ready:
            if self._running is None and time.monotonic() - self._stopped_at >= RESTART_SECONDS:
                self._running = asyncio.create_task(self._run(self._location))
            return None
        if self._pending and time.monotonic() - self._pending[0][0] > PATIENCE_SECONDS:
            return None
        assert self._process is not None and self._process.stdin is not None
        answer: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._pending.append((time.monotonic(), answer))
        self._process.stdin.write(_frame((build, client, now, args)))
        return await answer

    async def _run(self, location: tuple[str | None, Path]) -> None:
        """Starts the page process, then hands its answers to the pages that asked, in order, until it ends."""
        process = self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from der_gateway.server.page_process import serve_pages; serve_pages()",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert process.stdin is not None and process.stdout is not None
        try:
            if self._location is None:  # the server closed while it started
                return
            process.stdin.write(_frame((self._config, location)))
            if await _read_frame(process.stdout) is not True:
                raise EOFError
            self._ready = True
            while True:
                answer = await _read_frame(process.stdout)
                if self._pending:
                    self._pending.popleft()[1].set_result(answer)
        except (EOFError, asyncio.IncompleteReadError, pickle.UnpicklingError):
            if self._location is not None:
                log.warning("the page process stopped; long list pages are built on the serving loop meanwhile")
        finally:
            self._ready, self._stopped_at, self._process, self._running = False, time.monotonic(), None, None
            while self._pending:
                answer = self._pending.popleft()[1]
                if not answer.done():
                    answer.set_result(None)
            if process.returncode is None:
                process.kill()
            await process.wait()

    async def close(self, app: web.Application | None = None) -> None:
        self._location = None
        running = self._running
        if running is None:
            return
        if self._process is not None and self._process.stdin is not None:
            self._process.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(running), 5)
        except asyncio.TimeoutError:
            if self._process is not None:
                self._process.kill()
            await running


PAGES = web.AppKey("pages", PageProcess)


def page_process(config: Config, store: object) -> PageProcess:
    return PageProcess(config, location_of(store))


async def page_response(request: web.Request, items: int, build: Build, *args: Any) -> SepResponse:
    """The answer build(viewer, *args) gives, a list page of up to items entries that does not change with the
    time: from the page process if it is long (build a module-level coroutine function, so that it can be named
    to the other process)."""
    if items > INLINE_ITEMS:
        built = await request.app[PAGES].build(build, request[CLIENT], request.app[CLOCK].now(), args)
        if built is not None:
            response = SepResponse(None)
            response.body = built
            return response
    return sep_response(await build(viewer(request), *args))


def _frame(value: Any) -> bytes:
    data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(data)) + data


async def _read_frame(stream: asyncio.StreamReader) -> Any:
    (length,) = _LENGTH.unpack(await stream.readexactly(_LENGTH.size))
    return pickle.loads(await stream.readexactly(length))


# -- in the page process ----------------------------------------------------------

def serve_pages(requests: BinaryIO | None = None, answers: BinaryIO | None = None) -> None:
    """The page process: opens the store, then answers each page asked for in order, until its input ends."""
    requests = requests or sys.stdin.buffer
    answers = answers or sys.stdout.buffer
    _lowest_priority()
    loop = asyncio.new_event_loop()
    config, location = _receive(requests)
    store = loop.run_until_complete(open_store(*location))
    loop.run_until_complete(store.read_on_caller())
    try:
        _send(answers, True)
        while (asked := _receive(requests)) is not None:
            _send(answers, _build(loop, store, config, *asked))
    finally:
        loop.run_until_complete(store.close())


def _lowest_priority() -> None:
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    else:
        os.nice(19)


def _receive(stream: BinaryIO) -> Any:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    return pickle.loads(stream.read(length))


def _send(stream: BinaryIO, value: Any) -> None:
    stream.write(_frame(value))
    stream.flush()


def _build(loop: asyncio.AbstractEventLoop, store: Store, config: Config, build: Build, client: Client, now: int,
           args: tuple[Any, ...]) -> bytes | None:
    v = Viewer(store, config, ManualClock(now), client)
    try:
        resource = loop.run_until_complete(build(v, *args))
    except Exception:  # an answer other than the page (a 404, say) is the serving process's to give
        log.debug("the page process passes a page back", exc_info=True)
        return None
    return encode(config, resource)
