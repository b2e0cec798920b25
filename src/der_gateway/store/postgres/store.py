"""The store on PostgreSQL: SQLiteStore's SQL run through the connection adapter, with PostgreSQL's plumbing in
place of SQLite's.

Nothing waits on the database on the event loop: point lookups run on LOOKUPS threads (each statement its own
snapshot, as SQLite's lookups on the loop), lists on two reader threads (each read in one REPEATABLE READ
snapshot), and writes one at a time on a writer thread, each in one transaction that returns once committed.
Every write transaction first takes one advisory lock, so that writes are serialised across replicas as SQLite's
BEGIN IMMEDIATE serialises them across processes: the store's read-then-write functions stay correct under
PostgreSQL's READ COMMITTED.  The response cache's change counters are read by one query begun after the request
asked, shared by every request that asks meanwhile (Coalesced): so a write committed by any replica, or by any
client of the database, before a request arrived is seen by it.  The few methods whose SQL only SQLite speaks (its sequence table,
json_each, an untyped column) are given here in PostgreSQL's.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import zlib
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar

import psycopg

from ...domain.refusals import Conflict
from .. import kept_counts
from ..base import EndDeviceCounts, EndDeviceRecord
from ..sqlite import READERS, SQLiteStore
from ..sqlite_plumbing import Conn, Params, Row, inserted_id
from ..coalesced import Coalesced
from .commits import NOTIFY, CommitFeed
from .connection import Connection, Cursor, IntegrityError
from .schema import migrate
from .triggers import list_count_increments

T = TypeVar("T")

# the advisory lock every write transaction holds, as SQLite's single writer (an arbitrary key of this application)
WRITE_LOCK = 0x64657267_7702
# threads (each with its connection) that point lookups run on
LOOKUPS = 3
COUNTERS = "SELECT topic, generation FROM cache_generations"


class PostgresStore(SQLiteStore):
    def __init__(self, dsn: str) -> None:  # noqa: super().__init__ would open SQLite's pools
        self.dsn = dsn
        self._writer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-writer")
        self._pg_writer: Connection | None = None
        self._reader_pool: Executor = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="pg-reader",
                                                         initializer=self._open_pool_reader)
        self._lookup_pool: Executor = ThreadPoolExecutor(max_workers=LOOKUPS, thread_name_prefix="pg-lookup",
                                                         initializer=self._open_pool_reader)
        self._pg_pool_readers: list[Connection] = []
        self._local = threading.local()
        self._commits = CommitFeed(dsn)
        self._counters = Coalesced(self._read_counters)
        self._counters_conn: psycopg.AsyncConnection | None = None

    @classmethod
    async def open_dsn(cls, dsn: str) -> PostgresStore:
        store = cls(dsn)
        try:
            await store._write(store._open_writer)
            assert store._pg_writer is not None
            store._commits.own_backends.add(store._pg_writer.raw.info.backend_pid)
            await asyncio.to_thread(store._commits.start)
        except BaseException:
            await store.close()
            raise
        return store

    def _open_writer(self) -> None:
        conn = Connection.connect(self.dsn)
        migrate(conn.raw)
        conn.refresh_schema()
        self._pg_writer = conn

    async def read_on_caller(self) -> None:
        await super().read_on_caller()
        self._lookup_pool = self._reader_pool

    def _open_pool_reader(self) -> None:
        self._local.conn = Connection.connect(self.dsn)
        self._pg_pool_readers.append(self._local.conn)

    async def close(self) -> None:
        self._reader_pool.shutdown(wait=True)
        self._lookup_pool.shutdown(wait=True)
        for conn in self._pg_pool_readers:
            conn.close()
        self._pg_pool_readers.clear()
        await asyncio.to_thread(self._commits.stop)
        if self._counters_conn is not None:
            await self._counters_conn.close()
        if self._pg_writer is not None:
            await self._write(self._pg_writer.close)
            self._pg_writer = None
        self._writer_pool.shutdown(wait=True)

    # -- plumbing -----------------------------------------------------------

    @property
    def _reader(self) -> Connection:  # type: ignore[override]  # the adapter stands where sqlite3's connection does
        raise RuntimeError("on PostgreSQL point lookups run on the lookup threads (_lookup, _one, _rows)")

    def _on_own_connection(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(self._local.conn, *args)

    async def _lookup(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._lookup_pool, self._on_own_connection, fn,
                                                                *args)

    async def _rows(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._lookup(lambda c: c.execute(sql, params).fetchall())

    async def _one(self, sql: str, params: Params = ()) -> Row | None:
        return await self._lookup(lambda c: c.execute(sql, params).fetchone())

    def _transaction(self, fn: Callable[[Conn], T]) -> T:
        conn = self._pg_writer
        if conn is None:
            raise RuntimeError("the store is not open")
        conn.execute("BEGIN")
        try:
            conn.execute(f"SELECT pg_advisory_xact_lock(?), {NOTIFY}", (WRITE_LOCK,))
            result = fn(conn)
            if isinstance(result, Cursor):
                result.close()
                result = None  # type: ignore[assignment]  # a cursor never leaves the writer thread
        except IntegrityError as exc:  # a uniqueness or reference rule: the stored state refuses the write
            conn.execute("ROLLBACK")
            raise Conflict(f"the stored state does not allow this write ({exc})") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._commits.heard()
        return result

    def _snapshot(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._local.conn
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")

    async def version(self) -> int:
        """Changes whenever a write has committed anywhere since the last call.  Without the commit feed: whenever
        a writing transaction has begun or ended since (the set in progress and the next transaction id are in
        PostgreSQL's current snapshot)."""
        self._commits.poll()
        if self._commits.live:
            return self._commits.epoch
        snapshot = (await self._one("SELECT CAST(pg_current_snapshot() AS TEXT)") or ("",))[0]
        return zlib.crc32(snapshot.encode())

    async def generations(self, topics: Sequence[str]) -> tuple[int, ...]:
        """The counters of topics (0 for one never bumped) as of a read begun after this call."""
        known = await self._counters()
        return tuple(known.get(t, 0) for t in topics)

    async def _read_counters(self) -> dict[str, int]:
        """On a connection of the event loop's own (psycopg's asyncio one): this read, made for every cached GET,
        is cheaper there than through a thread."""
        for attempt in (1, 2):
            conn = self._counters_conn
            if conn is None or conn.closed:
                conn = self._counters_conn = await psycopg.AsyncConnection.connect(
                    self.dsn, autocommit=True, prepare_threshold=0,
                    application_name=f"der-gateway counters {os.getpid()}")
            try:
                cursor = await conn.execute(COUNTERS)
                return {topic: generation for topic, generation in await cursor.fetchall()}
            except psycopg.OperationalError:
                self._counters_conn = None
                await conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    # -- methods whose SQL only SQLite speaks ---------------------------------

    def _json_value(self, column: str, *keys: str) -> str:
        return f"(CAST({column} AS jsonb) #>> '{{{','.join(keys)}}}')"

    async def end_device_counts(self, end_device_ids: Sequence[int]) -> dict[int, EndDeviceCounts]:
        def read(c: Conn) -> dict[int, EndDeviceCounts]:
            rows = c.execute(
                "SELECT e.id, (SELECT count(*) FROM ders d WHERE d.end_device_id = e.id), "
                "coalesce((SELECT n FROM list_counts WHERE list = 'log' AND owner = CAST(e.id AS TEXT) "
                "AND level = 0 AND bucket = 0), 0), "
                "(SELECT count(*) FROM group_members m WHERE m.end_device_id = e.id), "
                "(SELECT count(*) FROM subscriptions s WHERE s.end_device_id = e.id) "
                f"FROM end_devices e WHERE e.id IN ({','.join('?' * len(end_device_ids))})",
                tuple(end_device_ids)).fetchall()
            return {r[0]: EndDeviceCounts(r[1], r[2], r[3], r[4]) for r in rows}
        return await self._read(read) if end_device_ids else {}

    async def bulk_add_end_devices(self, records: Sequence[EndDeviceRecord],
                                   der_documents: dict[str, dict[str, Any]] | None = None,
                                   group_id: int | None = None) -> range:
        documents = {kind: json.dumps(body) for kind, body in (der_documents or {}).items()}

        def insert(c: Conn) -> range:
            # the writers are serialised (WRITE_LOCK): nobody else takes ids from the sequence meanwhile
            before = c.execute("SELECT coalesce(max(id), 0) FROM end_devices").fetchone()[0]
            # the list counts of the new views are added in one statement (list_count_increments says why): their
            # row trigger is off only inside this transaction, which no other session sees
            c.execute("ALTER TABLE end_device_views DISABLE TRIGGER end_device_views_counted")
            c.execute("ALTER TABLE end_devices DISABLE TRIGGER kept_end_devices")  # likewise: one update below
            c.executemany(
                "INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, "
                "device_category, enabled, post_rate, connection_point_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(r.lFDI, r.sFDI, r.owner_lfdi, r.changedTime, r.pIN, r.dateTimeRegistered, r.deviceCategory,
                  int(r.enabled), r.postRate, r.connectionPointId) for r in records])
            low, high, n = c.execute("SELECT min(id), max(id), count(*) FROM end_devices WHERE id > ?",
                                     (before,)).fetchone()
            if n != len(records) or (n and high - low + 1 != n):
                raise RuntimeError("end_devices ids were not given in sequence")
            c.execute(list_count_increments("end_device_views", "edev", "viewer", "sfdi", "integer",
                                            "t.end_device_id > ?"), (before,))
            c.execute("ALTER TABLE end_device_views ENABLE TRIGGER end_device_views_counted")
            c.execute(kept_counts.add(kept_counts.END_DEVICES.name, "?", qualified=True), (n,))
            c.execute("ALTER TABLE end_devices ENABLE TRIGGER kept_end_devices")
            c.execute("INSERT INTO ders (end_device_id, n) SELECT id, 1 FROM end_devices WHERE id > ?", (before,))
            for kind, body in documents.items():
                c.execute("INSERT INTO der_documents (end_device_id, n, kind, body) "
                          "SELECT id, 1, ?, ? FROM end_devices WHERE id > ?", (kind, body, before))
            if group_id is not None:
                c.execute("INSERT INTO group_members (group_id, end_device_id) "
                          "SELECT ?, id FROM end_devices WHERE id > ?", (group_id, before))
            return range(low, high + 1) if n else range(before + 1, before + 1)
        return await self._in_transaction(insert)

    async def add_subscription(self, end_device_id: int | None, client_lfdi: str, resource: str,
                               data: dict[str, Any]) -> int:
        return await self._in_transaction(lambda c: inserted_id(c.execute(
            "INSERT INTO subscriptions (end_device_id, client_lfdi, resource, body, after_change) VALUES "
            "(?, ?, ?, ?, coalesce(pg_sequence_last_value(CAST(pg_get_serial_sequence('changes', 'id') "
            "AS regclass)), 0))",
            (end_device_id, client_lfdi, resource, json.dumps(data)))))
