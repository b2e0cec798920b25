"""Which commits a process has heard of, from every replica sharing the database, without asking per request.

Every write transaction of the store sends a notification on CHANNEL, which PostgreSQL delivers to every
listening session when (and only if) the transaction commits.  A thread of each process listens on a
connection of its own and counts what it hears in `epoch`; the process's own commits count as well, as soon
as they return.  While the epoch stands, nothing was committed since it was read, by this process or (up to
the notification's delivery, well under the time a client takes to hear one replica and ask another) by any
other: the change counters read at that epoch still hold.

While the listener is not connected nothing can be known that way: `live` is False, and the store asks the
database every time, as it would without this.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time

import psycopg

CHANNEL = "der_gateway_commits"
NOTIFY = f"pg_notify('{CHANNEL}', '')"
# how long a stop waits for the listener to see it; and the pause before connecting again after a failure
POLL = 0.5
RETRY = 1.0

log = logging.getLogger(__name__)


class CommitFeed:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._counter = itertools.count(1)
        self.epoch = 0
        self.live = False
        self._stopping = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="pg-commits", daemon=True)

    def start(self, wait: float = 5.0) -> None:
        """Starts listening; returns once listening (or after wait seconds: the store then asks every time)."""
        self._thread.start()
        self._ready.wait(wait)

    @property
    def started(self) -> bool:
        return self._thread.is_alive()

    def heard(self) -> None:
        """A commit happened (heard from the database, or made by this process)."""
        self.epoch = next(self._counter)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()
        self.live = False

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True,
                                     application_name=f"der-gateway commits {os.getpid()}") as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.live = True
                    self.heard()  # whatever committed before LISTEN took effect
                    self._ready.set()
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=POLL):
                            self.heard()
            except psycopg.Error as exc:
                if not self._stopping.is_set():
                    log.warning("listening for commits failed (%s); asking the database meanwhile", exc)
            finally:
                self.live = False
                self.heard()
            self._ready.set()
            self._stopping.wait(RETRY)
