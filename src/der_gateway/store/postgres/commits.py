"""Which commits a process has heard of, from every replica sharing the database, without a query per call: what
store.version() answers, which the background duties watch to learn that something changed.

Every write transaction of the store sends a notification on CHANNEL (so does every change-counter bump, whoever
writes: generations.py), which PostgreSQL delivers to every listening session when, and only if, the transaction
commits.  Each process keeps one connection that listens, and `poll()` (a non-blocking read of whatever has arrived
on it: about 2 microseconds) counts what it hears in `epoch`; the process's own commits count once, as soon as
they return (their notifications, which come back later, are not counted again).  A notification can still be on
its way when a request arrives, so the response cache does not rely on it: it reads the counters themselves
(PostgresStore.generations).

While the listening connection is down nothing can be known that way: `live` is False, version() asks the
database every time, and a thread connects again.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading

import psycopg

CHANNEL = "der_gateway_commits"
NOTIFY = f"pg_notify('{CHANNEL}', '')"
# the pause before connecting again after the connection was lost or could not be made
RETRY = 1.0

log = logging.getLogger(__name__)


class CommitFeed:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._counter = itertools.count(1)
        self.epoch = 0
        self._conn: psycopg.Connection | None = None
        # the process ids of this process's writing sessions: their commits were counted when they returned
        self.own_backends: set[int] = set()
        self._stopping = threading.Event()
        self._reconnecting = threading.Lock()

    @property
    def live(self) -> bool:
        return self._conn is not None

    def start(self) -> None:
        """Listens (blocking: call it on a thread); if the database cannot be reached, a thread keeps trying."""
        if not self._connect():
            self._reconnect_later()

    def heard(self) -> None:
        """A commit happened (heard from the database, or made by this process)."""
        self.epoch = next(self._counter)

    def poll(self) -> None:
        """Counts the notifications that have arrived, without waiting for any."""
        conn = self._conn
        if conn is None:
            return
        pgconn = conn.pgconn
        try:
            pgconn.consume_input()
        except psycopg.OperationalError as exc:
            self._lost(conn, exc)
            return
        if pgconn.status != psycopg.pq.ConnStatus.OK:
            self._lost(conn, None)
            return
        others = False
        while (notify := pgconn.notifies()) is not None:
            others = others or notify.be_pid not in self.own_backends
        if others:
            self.heard()

    def stop(self) -> None:
        self._stopping.set()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _connect(self) -> bool:
        try:
            conn = psycopg.connect(self.dsn, autocommit=True, application_name=f"der-gateway commits {os.getpid()}")
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("cannot listen for commits (%s); asking the database meanwhile", exc)
            return False
        if self._stopping.is_set():
            conn.close()
            return False
        self._conn = conn
        self.heard()  # whatever committed before LISTEN took effect
        return True

    def _lost(self, conn: psycopg.Connection, exc: Exception | None) -> None:
        if self._conn is conn:
            self._conn = None
            log.warning("listening for commits failed (%s); asking the database meanwhile", exc or "connection lost")
        self.heard()
        conn.close()
        self._reconnect_later()

    def _reconnect_later(self) -> None:
        if self._stopping.is_set() or not self._reconnecting.acquire(blocking=False):
            return

        def run() -> None:
            try:
                while not self._stopping.wait(RETRY) and not self._connect():
                    pass
            finally:
                self._reconnecting.release()
        threading.Thread(target=run, name="pg-commits-reconnect", daemon=True).start()
