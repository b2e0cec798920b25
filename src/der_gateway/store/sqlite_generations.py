"""Change counters (store.topics) kept by SQLite itself.

Every row written to a table bumps the counter of the table's topic, by a trigger, in the same
transaction as the write, whichever connection or process makes it.  A table this module does
not name gets the global topic: one added by a later migration is covered from the next start,
when the triggers are made again for every table.
"""

from __future__ import annotations

from typing import Sequence

from .sqlite_plumbing import Conn, SQLitePlumbing
from .topics import GLOBAL, MIRRORS, RESPONSES, der_documents
from .wal_index import WalIndexHeader

# table -> SQL for the topic of a row (NEW/OLD standing for it), or None for a table no resource shows.
# A table given a topic of its own must be read by no resource but those server.cache.topics_read maps to it.
_TOPICS: dict[str, str | None] = {
    "der_documents": f"'{der_documents(0)[:-1]}' || {{row}}.end_device_id",
    "responses": f"'{RESPONSES}'",
    # (mirror_usage_points is global: DeviceCapability counts the mirrors)
    "mirror_meter_readings": f"'{MIRRORS}'",
    "readings": f"'{MIRRORS}'",
    "reading_sets": f"'{MIRRORS}'",
    # the notifier's and the sync's queues, drained in the background
    "changes": None,
    "outbox": None,
    "sync_messages": None,
    "cache_generations": None,
    "end_device_contacts": None,  # last contact: shown by the admin API only
    # kept by triggers from the tables they index (store/list_index.py): the write that moves them moves its topic
    "list_counts": None,
    "end_device_views": None,
    "response_views": None,
}
_PREFIX = "cache_generation_"


def _bump(topic_sql: str) -> str:
    return (f"INSERT INTO cache_generations (topic, generation) VALUES ({topic_sql}, 1) "
            "ON CONFLICT (topic) DO UPDATE SET generation = generation + 1;")


def install(conn: Conn) -> None:
    """Makes the counters' table if need be and the triggers of every table, afresh."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS cache_generations ("
                     "topic TEXT PRIMARY KEY, generation INTEGER NOT NULL)")
        for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE ?",
                                    (_PREFIX + "%",)).fetchall():
            conn.execute(f'DROP TRIGGER "{name}"')
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall()]
        for table in tables:
            topic = _TOPICS.get(table, f"'{GLOBAL}'")
            if topic is None:
                continue
            for event, rows in (("INSERT", ("NEW",)), ("DELETE", ("OLD",)), ("UPDATE", ("OLD", "NEW"))):
                body = "".join(_bump(topic.format(row=row)) for row in rows if "{row}" in topic or row == rows[-1])
                conn.execute(f'CREATE TRIGGER "{_PREFIX}{table}_{event.lower()}" AFTER {event} ON "{table}" '
                             f"BEGIN {body} END")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class GenerationStore(SQLitePlumbing):
    """The counters as the cache reads them: one query for those it has not seen since the last commit, and
    none at all while the WAL index's header stands (wal_index.py)."""

    _generations_at: int | None = None
    _generations: dict[str, int]
    _wal_header: WalIndexHeader | None = None
    _header_seen: bytes | None = None

    async def generations(self, topics: Sequence[str]) -> tuple[int, ...]:
        """The counters of topics (0 for one never bumped), as of now or later."""
        header = self._wal_header.read() if self._wal_header is not None else None
        if header is None or header != self._header_seen:
            # read before the query: a commit in between moves the header again, and the next call asks again
            self._header_seen = header
            seen = self._reader.execute("PRAGMA data_version").fetchone()[0]
            if seen != self._generations_at:
                self._generations_at, self._generations = seen, {}
        known = self._generations
        missing = [t for t in topics if t not in known]
        if missing:
            found = dict(self._reader.execute(
                f"SELECT topic, generation FROM cache_generations WHERE topic IN ({','.join('?' * len(missing))})",
                missing).fetchall())
            for topic in missing:
                known[topic] = found.get(topic, 0)
        return tuple(known[t] for t in topics)
