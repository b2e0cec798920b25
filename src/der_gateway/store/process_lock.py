"""A lock held by one of the processes sharing a data directory at a time (the workers of one server).

An exclusive flock on a file, tried without blocking and tried again after a short sleep, so the event
loop never blocks on it and a waiter cancelled holds nothing.  flock locks belong to an open file: within
one process, take an asyncio.Lock first, as two holders there would share the file and both pass.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from types import TracebackType

FIRST_WAIT = 0.001  # seconds before trying again; doubled at each try up to LONGEST_WAIT
LONGEST_WAIT = 0.02


class ProcessLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    async def __aenter__(self) -> None:
        fd, wait = self._file(), FIRST_WAIT
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                await asyncio.sleep(wait)
                wait = min(2 * wait, LONGEST_WAIT)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        fcntl.flock(self._file(), fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
