"""Whether an SQLite database in WAL mode may have changed, told without a query: the header of its WAL index.

Every commit, by any connection of any process, rewrites the header SQLite keeps at the start of the database's
-shm file (a counter it bumps, the WAL's last frame, its salts) before the commit returns.  SQLite keeps the header
twice, writing the copies one after the other: while they differ a writer is at work and nothing is told.  A header
equal to one read before means that no commit happened in between.
"""

from __future__ import annotations

import mmap
import os
from pathlib import Path

HEADER = 48  # bytes of one copy of the header (WalIndexHdr)


class WalIndexHeader:
    def __init__(self, database: Path) -> None:
        self._map: mmap.mmap | None = None
        try:
            # SQLite names the index after the database's real path (it follows symbolic links)
            with open(f"{os.path.realpath(database)}-shm", "rb") as shm:
                self._map = mmap.mmap(shm.fileno(), 2 * HEADER, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # no WAL index (yet), or one too short: nothing can be told
            self._map = None

    def read(self) -> bytes | None:
        """The header as it stands, or None while it is being written (or cannot be read)."""
        if self._map is None:
            return None
        first, second = self._map[:HEADER], self._map[HEADER:2 * HEADER]
        return first if first == second else None

    def close(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
