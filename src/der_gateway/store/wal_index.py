"""Whether an SQLite database in WAL mode may have changed, told without a query: the header of its WAL index.

Every commit, by any connection of any process, rewrites the header SQLite keeps at the start of the database's
-shm file (a counter it bumps, the WAL's last frame, its salts) before the commit returns.  SQLite keeps the header
twice, writing the copies one after the other: while they differ a writer is at work and nothing is told.  A header
equal to one read before means that no commit happened in between.

The file stays open until the store's SQLite connections are closed (close() comes after theirs): closing any
descriptor of a file drops every POSIX lock the process holds on it, SQLite's among them.  Without its lock on
the -shm file, the next process to open the database (another worker, a CLI command, the page process) finds the
index unused, truncates it and builds it anew under this process's connections, and this mapping then ends
beyond the file (SIGBUS).
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

HEADER = 48  # bytes of one copy of the header (WalIndexHdr)


class WalIndexHeader:
    def __init__(self, database: Path) -> None:
        self._map: mmap.mmap | None = None
        self._file: int | None = None
        try:
            # SQLite names the index after the database's real path (it follows symbolic links)
            self._file = os.open(f"{os.path.realpath(database)}-shm", os.O_RDONLY | os.O_CLOEXEC)
            self._map = mmap.mmap(self._file, 2 * HEADER, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # no WAL index (yet), or one too short: nothing can be told
            self._map = None

    def read(self) -> bytes | None:
        """The header as it stands, or None while it is being written (or cannot be read)."""
        if self._map is None:
            return None
        first, second = self._map[:HEADER], self._map[HEADER:2 * HEADER]
        return first if first == second else None

    def close(self) -> None:
        """Only once this process's SQLite connections to the database are closed (see above)."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._file is not None:
            os.close(self._file)
            self._file = None
