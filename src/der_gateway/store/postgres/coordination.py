"""Leadership and a write lock among the processes sharing one PostgreSQL database, on one machine or many.

Both are session advisory locks, each held on a connection of its own: PostgreSQL releases such a lock when
its connection ends, however the process holding it dies (with TCP keepalives, within about a minute when
its machine vanishes from the network).  Connections are opened and locks tried on threads, so the event loop
never blocks on them; a lock held by another is tried again after a short sleep.  Which process leads:

    SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid)
    WHERE l.locktype = 'advisory' AND l.classid = 1684370023 AND l.objid = 1
"""

from __future__ import annotations

import asyncio
import os
import threading
from types import TracebackType

import psycopg

# advisory lock keys of this application (two 32-bit halves: "derg", then which lock)
LEADER_KEY = (0x64657267, 1)
ADMIN_WRITE_KEY = (0x64657267, 2)
# how long a follower waits before trying to lead again: the longest a dead leader's duties stay undone
LEAD_RETRY = 0.25
# the connections holding these locks are named this and their process id, for an operator (pg_stat_activity)
APPLICATION = "der-gateway coordination"


def _connect(dsn: str) -> psycopg.Connection:
    return psycopg.connect(dsn, autocommit=True, application_name=f"{APPLICATION} {os.getpid()}",
                           keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)


def _try(conn: psycopg.Connection, key: tuple[int, int]) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", key).fetchone()
    return bool(row and row[0])


class AdvisoryLeadership:
    """Leads while holding the leader's advisory lock (store.leadership.Leadership)."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._conn: psycopg.Connection | None = None  # holding the lock, while leading
        self._guard = threading.Lock()
        self._resigned = False

    @property
    def is_leader(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.closed

    async def lead(self) -> None:
        while not self.is_leader:
            if self._resigned:
                raise RuntimeError("this process resigned its leadership")
            try:
                if await asyncio.to_thread(self._take):
                    return
            except psycopg.OperationalError:  # the database is away: try again
                pass
            await asyncio.sleep(LEAD_RETRY)

    def _take(self) -> bool:
        conn = _connect(self.dsn)
        if not _try(conn, LEADER_KEY):
            conn.close()
            return False
        with self._guard:
            if self._resigned:
                conn.close()
                return False
            self._conn = conn
        return True

    async def resign(self) -> None:
        with self._guard:
            self._resigned = True
            conn, self._conn = self._conn, None
        if conn is not None:
            await asyncio.to_thread(conn.close)


class AdvisoryLock:
    """An async context manager held by one process at a time among all that share the database (and by one
    task at a time within a process: callers take an asyncio.Lock first, as the admin API does)."""

    def __init__(self, dsn: str, key: tuple[int, int] = ADMIN_WRITE_KEY) -> None:
        self.dsn = dsn
        self.key = key
        self._conn: psycopg.Connection | None = None
        self._held = False

    def _acquire(self) -> bool:
        if self._conn is None or self._conn.closed:
            self._conn = _connect(self.dsn)
        self._held = _try(self._conn, self.key)
        return self._held

    def _release(self) -> None:
        conn = self._conn
        if conn is not None and not conn.closed and self._held:
            conn.execute("SELECT pg_advisory_unlock(%s, %s)", self.key)
        self._held = False

    async def __aenter__(self) -> None:
        wait = 0.001
        while not await asyncio.to_thread(self._acquire):
            await asyncio.sleep(wait)
            wait = min(2 * wait, 0.02)

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        trace: TracebackType | None) -> None:
        await asyncio.to_thread(self._release)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
