"""Which of the processes sharing a store is its leader: the one that runs the background duties.

Several server processes (`der-gateway serve --workers N`) serve one store; the event scheduler, the
service-task monitor and the two outboxes must run in exactly one of them at a time, and in another as
soon as that one dies.  `Leadership` is the interface; `FileLeadership` implements it for SQLite with an
exclusive `flock` on a file beside the database, which the kernel releases when its holder dies, however
it dies.  (A PostgreSQL store implements it with a session advisory lock, released with its connection.)
`SoleLeader` is the one process of a server that runs alone.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import threading
from pathlib import Path
from typing import Protocol

LOCK_FILE = "leader.lock"


class Leadership(Protocol):
    @property
    def is_leader(self) -> bool:
        """Whether this process leads now (and until it calls resign or dies)."""
        ...

    async def lead(self) -> None:
        """Returns once this process leads: at once if nobody else does, else when the leader is gone."""
        ...

    async def resign(self) -> None:
        """Gives leadership up, or stops waiting for it; another process may then lead."""
        ...


class SoleLeader:
    """The only process of its server: it always leads."""

    @property
    def is_leader(self) -> bool:
        return True

    async def lead(self) -> None:
        return None

    async def resign(self) -> None:
        return None


class FileLeadership:
    """Leads while holding an exclusive flock on path (LOCK_FILE in the data directory), and writes its
    process id into the file.  The lock is waited for on a thread of its own, so the event loop never blocks
    on it; flock locks belong to an open file, so each process (and each instance) opens the file itself."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._guard = threading.Lock()
        self._fd: int | None = None  # the open file holding the lock, while leading
        self._resigned = False
        self._taken: asyncio.Future[None] | None = None  # done once the lock is held

    @property
    def is_leader(self) -> bool:
        return self._fd is not None

    async def lead(self) -> None:
        if self._fd is not None:
            return
        if self._taken is None:
            loop = asyncio.get_running_loop()
            self._taken = loop.create_future()
            threading.Thread(target=self._wait_for_lock, args=(loop, self._taken), name="leadership",
                             daemon=True).start()
        await asyncio.shield(self._taken)  # a waiter cancelled leaves the thread waiting for the next one

    def _wait_for_lock(self, loop: asyncio.AbstractEventLoop, taken: asyncio.Future[None]) -> None:
        def settle(error: BaseException | None) -> None:
            if taken.done():
                return
            if error is None:
                taken.set_result(None)
            else:
                taken.set_exception(error)

        def tell(error: BaseException | None) -> None:
            try:
                loop.call_soon_threadsafe(settle, error)
            except RuntimeError:  # the loop is closed: nobody waits any more
                pass

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            tell(exc)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # blocks until the leader's file is closed, by it or by its death
        except OSError as exc:
            os.close(fd)
            tell(exc)
            return
        with self._guard:
            if self._resigned:  # given up while waiting: let the next one lead
                os.close(fd)
                return
            self._fd = fd
            try:  # who leads, for the operator (and the tests); the lock is what counts
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            except OSError:
                pass
        tell(None)

    async def resign(self) -> None:
        with self._guard:
            self._resigned = True
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def leader_pid(path: Path) -> int | None:
    """The process id the current (or last) leader wrote into path, if any."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
