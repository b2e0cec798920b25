"""The embedded store: one SQLite file in WAL mode with synchronous=FULL.

Point lookups run on the event loop on their own connection (WAL lets them proceed beside a write): a hop to a
thread would cost more than they take.  Lists and other reads that may take long run on a small pool of reader
threads, each with its own connection, so that no request waits on another's list (sqlite3 releases the GIL
while it steps).  Writes run one at a time on a dedicated thread, so a commit's fsync never stalls the loop, and
each write returns only once committed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar, cast

from ..domain.refusals import Conflict
from . import list_index
from .base import (EndDeviceCounts, EndDeviceRecord, MeterReadingRecord, MirrorUsagePointRecord, MridTaken, Page,
                   ReadingRecord, ReadingSetRecord, ReadingTypeMissing)
from .migrations import MIGRATIONS
from . import sqlite_generations
from .sqlite_observability import ObservabilityStore
from .sqlite_control_plane import Changes, ControlPlaneStore, log_changes
from .sqlite_generations import GenerationStore
from .sqlite_plumbing import Conn, Params, Row, inserted_id
from .sqlite_utility import UtilityStore
from .sqlite_sync import SyncStore
from .sqlite_participation import ParticipationStore
from .sqlite_stages import StageStore
from .sqlite_prices import PriceStore
from .sqlite_billing import BillingStore
from .sqlite_settlement import SettlementStore
from .sqlite_contacts import ContactStore
from .sqlite_console import ConsoleStore
from .sqlite_event_devices import EventDevicesStore
from .wal_index import WalIndexHeader

T = TypeVar("T")

_END_DEVICE_COLUMNS = ("id, lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, device_category, "
                       "enabled, post_rate, connection_point_id")


# reader threads for lists: the machine's cores are few, and a list page now takes well under a millisecond
READERS = 2
# page cache per connection (four: the writer, the loop's reader, the pool's readers); SQLite's default is 2 MiB
CACHE_KIB = 64 * 1024
BULK_CACHE_KIB = 512 * 1024


def _connect(path: Path, check_same_thread: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=check_same_thread)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > len(MIGRATIONS):
        raise RuntimeError(f"the database is at schema version {version}, newer than this "
                           f"der-gateway ({len(MIGRATIONS)}); upgrade der-gateway")
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        conn.executescript(f"BEGIN IMMEDIATE; {script}; PRAGMA user_version={number}; COMMIT;")
    return len(MIGRATIONS)


def _end_device(row: Row) -> EndDeviceRecord:
    return EndDeviceRecord(id=row[0], lFDI=row[1], sFDI=row[2], owner_lfdi=row[3], changedTime=row[4],
                           pIN=row[5], dateTimeRegistered=row[6], deviceCategory=row[7],
                           enabled=bool(row[8]), postRate=row[9], connectionPointId=row[10])


class _OnCaller(Executor):
    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        done: Future[T] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as error:
            done.set_exception(error)
        return done


SQLITE_FILE = "der-gateway.sqlite3"  # in the data directory


class SQLiteStore(ControlPlaneStore, SyncStore, UtilityStore, GenerationStore, ParticipationStore, StageStore,
                  PriceStore, BillingStore, SettlementStore, ContactStore,
                  ConsoleStore, EventDevicesStore, ObservabilityStore):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._writer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._writer: sqlite3.Connection | None = None
        self._reader_connection: sqlite3.Connection | None = None
        self._reader_pool: Executor = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="sqlite-reader",
                                               initializer=self._open_pool_reader)
        self._pool_readers: list[sqlite3.Connection] = []
        self._local = threading.local()

    @classmethod
    async def open(cls, data_dir: Path) -> SQLiteStore:
        data_dir.mkdir(parents=True, exist_ok=True)
        store = cls(data_dir / SQLITE_FILE)
        try:
            await store._write(store._open_writer)
            store._reader_connection = _connect(store.path)
            store._wal_header = WalIndexHeader(store.path)
        except BaseException:
            await store.close()
            raise
        return store

    def _open_writer(self) -> None:
        self._writer = _connect(self.path)
        migrate(self._writer)
        sqlite_generations.install(self._writer)

    async def read_on_caller(self) -> None:
        """Reads run on the thread that asks, not on the reader threads: for a process that serves nothing else
        meanwhile (server.page_process), to which a thread's hand-over is only a cost."""
        self._open_pool_reader()
        self._reader_pool = _OnCaller()

    def _open_pool_reader(self) -> None:
        self._local.conn = _connect(self.path, check_same_thread=False)
        self._pool_readers.append(self._local.conn)

    async def close(self) -> None:
        self._reader_pool.shutdown(wait=True)
        for conn in self._pool_readers:
            conn.close()
        self._pool_readers.clear()
        if self._reader_connection is not None:
            self._reader_connection.close()
            self._reader_connection = None
        if self._writer is not None:
            await self._write(self._writer.close)
            self._writer = None
        self._writer_pool.shutdown(wait=True)
        if self._wal_header is not None:  # last (store/wal_index.py)
            self._wal_header.close()
            self._wal_header = None

    # -- plumbing -----------------------------------------------------------

    @property
    def _reader(self) -> sqlite3.Connection:
        if self._reader_connection is None:
            raise RuntimeError("the store is not open")
        return self._reader_connection

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._writer_pool, fn, *args)

    def _transaction(self, fn: Callable[[Conn], T]) -> T:
        conn = self._writer
        if conn is None:
            raise RuntimeError("the store is not open")
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
            if isinstance(result, sqlite3.Cursor):  # never let a cursor leave the writer thread
                result.close()
                result = cast(T, None)
        except sqlite3.IntegrityError as exc:  # a uniqueness or reference rule: the stored state refuses the write
            conn.execute("ROLLBACK")
            raise Conflict(f"the stored state does not allow this write ({exc})") from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def _in_transaction(self, fn: Callable[[Conn], T]) -> T:
        return await self._write(self._transaction, fn)

    def _snapshot(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._local.conn
        conn.execute("BEGIN")
        try:
            return fn(conn, *args)
        finally:
            conn.execute("COMMIT")

    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(connection, *args) on a reader thread, in one read transaction (one snapshot)."""
        return await asyncio.get_running_loop().run_in_executor(self._reader_pool, self._snapshot, fn, *args)

    async def _read_rows(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._read(lambda c: c.execute(sql, params).fetchall())

    async def _rows(self, sql: str, params: Params = ()) -> list[Row]:
        return self._reader.execute(sql, params).fetchall()

    async def _one(self, sql: str, params: Params = ()) -> Row | None:
        return self._reader.execute(sql, params).fetchone()

    async def version(self) -> int:
        """Changes whenever any connection, in any process, has committed since the last call."""
        return self._reader.execute("PRAGMA data_version").fetchone()[0]

    # -- clients --------------------------------------------------------------

    async def add_aggregator(self, lfdi: str, name: str) -> None:
        await self._in_transaction(lambda c: c.execute(
            "INSERT INTO aggregators (lfdi, name, created) VALUES (?, ?, ?) "
            "ON CONFLICT (lfdi) DO UPDATE SET name = excluded.name", (lfdi, name, int(time.time()))))

    async def aggregators(self) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in await self._rows("SELECT lfdi, name FROM aggregators ORDER BY name")]

    async def is_aggregator(self, lfdi: str) -> bool:
        return await self._one("SELECT 1 FROM aggregators WHERE lfdi = ?", (lfdi,)) is not None

    async def aggregator_created(self, lfdi: str) -> int | None:
        row = await self._one("SELECT created FROM aggregators WHERE lfdi = ?", (lfdi,))
        return row[0] if row else None

    # -- EndDevice ------------------------------------------------------------

    async def end_device(self, end_device_id: int) -> EndDeviceRecord | None:
        row = await self._one(f"SELECT {_END_DEVICE_COLUMNS} FROM end_devices WHERE id = ?", (end_device_id,))
        return _end_device(row) if row else None

    async def all_end_devices(self) -> list[EndDeviceRecord]:
        return [_end_device(r) for r in await self._read_rows(
            f"SELECT {_END_DEVICE_COLUMNS} FROM end_devices ORDER BY id")]

    async def end_device_by_identity(self, lfdi: str | None, sfdi: int) -> list[EndDeviceRecord]:
        rows = await self._rows(f"SELECT {_END_DEVICE_COLUMNS} FROM end_devices WHERE lfdi = ? OR sfdi = ?",
                          (lfdi, sfdi))
        return [_end_device(r) for r in rows]

    async def end_devices_visible_to(self, client_lfdi: str, start: int, limit: int,
                                     changed_after: int | None = None) -> Page[EndDeviceRecord]:
        """The EndDevices in the client's EndDeviceList, by sFDI: its own and those it owns or was granted.
        With changed_after the rows are counted and skipped one by one (a rare query: no index for it)."""
        if changed_after is not None:
            return await self._read(_visible_changed_after, client_lfdi, start, limit, changed_after)
        if limit <= 0:  # only the count: point lookups
            return await self._lookup(_visible_page, client_lfdi, start, limit)
        return await self._read(_visible_page, client_lfdi, start, limit)

    async def end_device_counts(self, end_device_ids: Sequence[int]) -> dict[int, EndDeviceCounts]:
        """For each EndDevice (a page of them), what its list links count: DERs, LogEvents, groups (whether
        or not the device is enabled) and subscriptions, as der_numbers, log_events, groups_of and subscriptions
        count them; in one read off the loop."""
        def read(c: Conn) -> dict[int, EndDeviceCounts]:
            rows = c.execute(
                "SELECT e.id, (SELECT count(*) FROM ders d WHERE d.end_device_id = e.id), "
                "coalesce((SELECT n FROM list_counts WHERE list = 'log' AND owner = CAST(e.id AS TEXT) AND level = 0 "
                "AND bucket = 0), 0), "
                "(SELECT count(*) FROM group_members m WHERE m.end_device_id = e.id), "
                "(SELECT count(*) FROM subscriptions s WHERE s.end_device_id = e.id) "
                "FROM end_devices e WHERE e.id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(end_device_ids)),)).fetchall()
            return {r[0]: EndDeviceCounts(r[1], r[2], r[3], r[4]) for r in rows}
        return await self._read(read) if end_device_ids else {}

    async def create_end_device(self, record: EndDeviceRecord, changed: Changes = ()) -> EndDeviceRecord:
        def insert(c: Conn) -> int:
            cur = c.execute(
                "INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, "
                "device_category, enabled, post_rate, connection_point_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (record.lFDI, record.sFDI, record.owner_lfdi, record.changedTime, record.pIN,
                 record.dateTimeRegistered, record.deviceCategory, int(record.enabled), record.postRate,
                 record.connectionPointId))
            end_device_id = inserted_id(cur)
            c.execute("INSERT INTO ders (end_device_id, n) VALUES (?, 1)", (end_device_id,))
            log_changes(c, changed)
            return end_device_id
        return replace(record, id=await self._in_transaction(insert))

    async def bulk_add_end_devices(self, records: Sequence[EndDeviceRecord],
                                   der_documents: dict[str, dict[str, Any]] | None = None,
                                   group_id: int | None = None) -> range:
        """Loads many EndDevices in one transaction (for tests and benchmarks; no change is logged): each with
        DER 1 holding der_documents (kind: body), and a member of group_id if given.  Their ids, in order."""
        documents = {kind: json.dumps(body) for kind, body in (der_documents or {}).items()}

        def load(c: Conn) -> range:
            c.execute(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
            try:
                return insert(c)
            finally:
                c.execute(f"PRAGMA cache_size=-{CACHE_KIB}")

        def insert(c: Conn) -> range:
            before = c.execute("SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'end_devices'"
                               ).fetchone()[0]
            c.executemany(
                "INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, "
                "device_category, enabled, post_rate, connection_point_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                [(r.lFDI, r.sFDI, r.owner_lfdi, r.changedTime, r.pIN, r.dateTimeRegistered, r.deviceCategory,
                  int(r.enabled), r.postRate, r.connectionPointId) for r in records])
            after = c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'end_devices'").fetchone()[0]
            if after - before != len(records):
                raise RuntimeError("end_devices ids were not given in sequence")
            c.execute("INSERT INTO ders (end_device_id, n) SELECT id, 1 FROM end_devices WHERE id > ?", (before,))
            for kind, body in documents.items():
                c.execute("INSERT INTO der_documents (end_device_id, n, kind, body) "
                          "SELECT id, 1, ?, ? FROM end_devices WHERE id > ?", (kind, body, before))
            if group_id is not None:
                c.execute("INSERT INTO group_members (group_id, end_device_id) "
                          "SELECT ?, id FROM end_devices WHERE id > ?", (group_id, before))
            return range(before + 1, after + 1)
        return await self._in_transaction(load)

    async def update_end_device(self, record: EndDeviceRecord, changed: Changes = ()) -> None:
        def update(c: Conn) -> None:
            c.execute(
                "UPDATE end_devices SET changed_time = ?, device_category = ?, enabled = ?, post_rate = ?, "
                "connection_point_id = ?, pin = ? WHERE id = ?",
                (record.changedTime, record.deviceCategory, int(record.enabled), record.postRate,
                 record.connectionPointId, record.pIN, record.id))
            log_changes(c, changed)
        await self._in_transaction(update)

    async def delete_end_device(self, end_device_id: int, changed: Changes = ()) -> None:
        def delete(c: Conn) -> None:
            c.execute("DELETE FROM end_devices WHERE id = ?", (end_device_id,))
            log_changes(c, changed)
        await self._in_transaction(delete)

    # -- DER --------------------------------------------------------------------

    async def der_numbers(self, end_device_id: int) -> list[int]:
        return [r[0] for r in await self._rows("SELECT n FROM ders WHERE end_device_id = ? ORDER BY n", (end_device_id,))]

    async def der_document(self, end_device_id: int, der: int, kind: str) -> dict[str, Any] | None:
        row = await self._one("SELECT body FROM der_documents WHERE end_device_id = ? AND n = ? AND kind = ?",
                        (end_device_id, der, kind))
        return json.loads(row[0]) if row else None

    async def put_der_document(self, end_device_id: int, der: int, kind: str, data: dict[str, Any]) -> bool:
        def upsert(c: Conn) -> bool:
            created = c.execute("SELECT 1 FROM der_documents WHERE end_device_id = ? AND n = ? AND kind = ?",
                                (end_device_id, der, kind)).fetchone() is None
            c.execute("INSERT INTO der_documents (end_device_id, n, kind, body) VALUES (?, ?, ?, ?) "
                      "ON CONFLICT (end_device_id, n, kind) DO UPDATE SET body = excluded.body",
                      (end_device_id, der, kind, json.dumps(data)))
            return created
        return await self._in_transaction(upsert)

    # -- LogEvent ---------------------------------------------------------------

    async def log_events(self, end_device_id: int, start: int, limit: int,
                         after: int | None = None) -> Page[tuple[int, dict[str, Any]]]:
        """Newest first.  With after, only those created at or after it: a prefix of the list."""
        if limit <= 0 and after is None:  # only the count, kept: a point lookup
            return Page(await self._lookup(list_index.total, "log", end_device_id), [])
        return await self._read(_log_event_page, end_device_id, start, limit, after)

    async def log_event(self, end_device_id: int, log_event_id: int) -> dict[str, Any] | None:
        row = await self._one("SELECT body FROM log_events WHERE end_device_id = ? AND id = ?",
                        (end_device_id, log_event_id))
        return json.loads(row[0]) if row else None

    async def add_log_event(self, end_device_id: int, data: dict[str, Any]) -> int:
        return await self._in_transaction(lambda c: inserted_id(c.execute(
            "INSERT INTO log_events (end_device_id, created, log_event_id, body) VALUES (?, ?, ?, ?)",
            (end_device_id, data["createdDateTime"], data["logEventID"], json.dumps(data)))))

    # -- MirrorUsagePoint ------------------------------------------------------

    async def mirror_usage_points(self, owner_lfdi: str, start: int, limit: int) -> Page[MirrorUsagePointRecord]:
        if limit <= 0:
            return Page(await self._lookup(list_index.total, "mup", owner_lfdi), [])
        return await self._read(_mirror_usage_point_page, owner_lfdi, start, limit)

    async def mirror_usage_point(self, mup_id: int) -> MirrorUsagePointRecord | None:
        r = await self._one("SELECT id, owner_lfdi, mrid, body FROM mirror_usage_points WHERE id = ?", (mup_id,))
        return MirrorUsagePointRecord(r[0], r[1], r[2], json.loads(r[3])) if r else None

    async def upsert_mirror_usage_point(self, owner_lfdi: str, data: dict[str, Any],
                                        readings: list[dict[str, Any]]) -> tuple[int, bool]:
        def upsert(c: Conn) -> tuple[int, bool]:
            _check_mrids_free(c, owner_lfdi, [data["mRID"]] + [r["mRID"] for r in readings])
            row = c.execute("SELECT id FROM mirror_usage_points WHERE owner_lfdi = ? AND mrid = ?",
                            (owner_lfdi, data["mRID"])).fetchone()
            device = data.get("deviceLFDI")
            device = device.upper() if isinstance(device, str) else None
            if row:
                mup_id = row[0]
                c.execute("UPDATE mirror_usage_points SET body = ?, device_lfdi = ? WHERE id = ?",
                          (json.dumps(data), device, mup_id))
            else:
                mup_id = inserted_id(c.execute(
                    "INSERT INTO mirror_usage_points (owner_lfdi, mrid, body, device_lfdi) VALUES (?, ?, ?, ?)",
                    (owner_lfdi, data["mRID"], json.dumps(data), device)))
            _store_readings(c, mup_id, readings)
            return mup_id, row is None
        return await self._in_transaction(upsert)

    async def delete_mirror_usage_point(self, mup_id: int) -> None:
        await self._in_transaction(lambda c: c.execute("DELETE FROM mirror_usage_points WHERE id = ?", (mup_id,)))

    async def mirror_meter_readings(self, mup_id: int) -> list[dict[str, Any]]:
        """Each MirrorMeterReading with its newest Reading (the history stays in the readings table)."""
        def read(c: Conn) -> list[dict[str, Any]]:
            result = []
            for mmr_id, body in c.execute("SELECT id, body FROM mirror_meter_readings WHERE mup_id = ? "
                                          "ORDER BY mrid", (mup_id,)).fetchall():
                mmr = json.loads(body)
                latest = c.execute("SELECT body FROM readings WHERE mmr_id = ? ORDER BY start DESC, id DESC "
                                   "LIMIT 1", (mmr_id,)).fetchone()
                if latest:
                    mmr["Reading"] = json.loads(latest[0])
                result.append(mmr)
            return result
        return await self._read(read)

    async def add_mirror_meter_readings(self, mup_id: int,
                                        readings: list[dict[str, Any]]) -> list[tuple[int, bool]]:
        def add(c: Conn) -> list[tuple[int, bool]]:
            known = {r[0] for r in c.execute("SELECT mrid FROM mirror_meter_readings WHERE mup_id = ?", (mup_id,))}
            owner = c.execute("SELECT owner_lfdi FROM mirror_usage_points WHERE id = ?", (mup_id,)).fetchone()[0]
            _check_mrids_free(c, owner, [r["mRID"] for r in readings if r["mRID"] not in known])
            return _store_readings(c, mup_id, readings)
        return await self._in_transaction(add)

    async def readings(self, mup_id: int, mmr_mrid: str) -> list[dict[str, Any]]:
        rows = await self._read_rows("SELECT r.body FROM readings r JOIN mirror_meter_readings m ON r.mmr_id = m.id "
                                     "WHERE m.mup_id = ? AND m.mrid = ? ORDER BY r.start, r.id", (mup_id, mmr_mrid))
        return [json.loads(r[0]) for r in rows]

    # -- the mirror as UsagePoint ----------------------------------------------

    async def meter_readings(self, mup_id: int, start: int, limit: int) -> Page[MeterReadingRecord]:
        if limit <= 0:
            return Page(await self._lookup(list_index.total, "mmr", mup_id), [])

        def page(c: Conn) -> Page[MeterReadingRecord]:
            rows = _keyed_rows(c, "mmr", mup_id, start, limit, list_index.MRID,
                               "SELECT id, mup_id, mrid, body FROM mirror_meter_readings WHERE mup_id = ? "
                               "AND mrid >= ? ORDER BY mrid LIMIT ? OFFSET ?")
            return Page(list_index.total(c, "mmr", mup_id),
                        [MeterReadingRecord(r[0], r[1], r[2], json.loads(r[3])) for r in rows])
        return await self._read(page)

    async def meter_reading(self, mup_id: int, meter_reading_id: int) -> MeterReadingRecord | None:
        r = await self._one("SELECT id, mup_id, mrid, body FROM mirror_meter_readings WHERE id = ? AND mup_id = ?",
                      (meter_reading_id, mup_id))
        return MeterReadingRecord(r[0], r[1], r[2], json.loads(r[3])) if r else None

    async def latest_reading(self, meter_reading_id: int) -> ReadingRecord | None:
        r = await self._one("SELECT id, body FROM readings WHERE mmr_id = ? AND reading_set_id IS NULL AND current = 1 "
                      "ORDER BY id DESC LIMIT 1", (meter_reading_id,))
        return ReadingRecord(r[0], json.loads(r[1])) if r else None

    async def reading_sets(self, meter_reading_id: int, start: int, limit: int) -> Page[ReadingSetRecord]:
        if limit <= 0:
            return Page(await self._lookup(list_index.total, "rset", meter_reading_id), [])

        def page(c: Conn) -> Page[ReadingSetRecord]:
            rows = _keyed_rows(c, "rset", meter_reading_id, start, limit, list_index.TIME,
                               "SELECT id, mmr_id, mrid, body FROM reading_sets WHERE mmr_id = ? AND list_key >= ? "
                               "ORDER BY list_key, start DESC, mrid DESC LIMIT ? OFFSET ?")
            return Page(list_index.total(c, "rset", meter_reading_id),
                        [ReadingSetRecord(r[0], r[1], r[2], json.loads(r[3])) for r in rows])
        return await self._read(page)

    async def reading_set(self, meter_reading_id: int, reading_set_id: int) -> ReadingSetRecord | None:
        r = await self._one("SELECT id, mmr_id, mrid, body FROM reading_sets WHERE id = ? AND mmr_id = ?",
                      (reading_set_id, meter_reading_id))
        return ReadingSetRecord(r[0], r[1], r[2], json.loads(r[3])) if r else None

    async def set_readings(self, reading_set_id: int, start: int, limit: int) -> Page[ReadingRecord]:
        if limit <= 0:
            return Page(await self._lookup(list_index.total, "sread", reading_set_id), [])

        def page(c: Conn) -> Page[ReadingRecord]:
            rows = _keyed_rows(c, "sread", reading_set_id, start, limit, list_index.WIDE,
                               "SELECT id, body FROM readings WHERE reading_set_id = ? AND current = 1 "
                               "AND list_key >= ? ORDER BY list_key, start, id LIMIT ? OFFSET ?")
            return Page(list_index.total(c, "sread", reading_set_id),
                        [ReadingRecord(r[0], json.loads(r[1])) for r in rows])
        return await self._read(page)

    async def set_reading(self, reading_set_id: int, reading_id: int) -> ReadingRecord | None:
        r = await self._one("SELECT id, body FROM readings WHERE id = ? AND reading_set_id = ? AND current = 1",
                      (reading_id, reading_set_id))
        return ReadingRecord(r[0], json.loads(r[1])) if r else None


def _viewed_page(c: Conn, viewer: str, start: int, limit: int) -> list[EndDeviceRecord]:
    """Rows start.. of the EndDevices the viewer sees other than its own, by sFDI."""
    found = list_index.locate(c, "edev", viewer, start, list_index.SFDI) if limit > 0 else None
    if found is None:
        return []
    least, skip = found
    columns = ", ".join(f"e.{name.strip()}" for name in _END_DEVICE_COLUMNS.split(","))
    rows = c.execute(f"SELECT {columns} FROM end_device_views v JOIN end_devices e ON e.id = v.end_device_id "
                     "WHERE v.viewer = ? AND v.sfdi >= ? ORDER BY v.sfdi LIMIT ? OFFSET ?",
                     (viewer, least, limit, skip)).fetchall()
    return [_end_device(r) for r in rows]


def _visible_page(c: Conn, viewer: str, start: int, limit: int) -> Page[EndDeviceRecord]:
    """The viewer's own EndDevice (if it has one) merged by sFDI into those it sees through end_device_views."""
    row = c.execute(f"SELECT {_END_DEVICE_COLUMNS} FROM end_devices WHERE lfdi = ?", (viewer,)).fetchone()
    own = _end_device(row) if row else None
    viewed = list_index.total(c, "edev", viewer)
    total = viewed + (own is not None)
    if limit <= 0 or start >= total:
        return Page(total, [])
    if own is None:
        return Page(total, _viewed_page(c, viewer, start, limit))
    at = list_index.rank(c, "edev", viewer, own.sFDI, list_index.SFDI,
                         "SELECT count(*) FROM end_device_views WHERE viewer = ? AND sfdi >= ? AND sfdi < ?"
                         ) if viewed else 0
    if start + limit <= at:
        return Page(total, _viewed_page(c, viewer, start, limit))
    if start > at:
        return Page(total, _viewed_page(c, viewer, start - 1, limit))
    items = _viewed_page(c, viewer, start, limit - 1)
    items.insert(at - start, own)
    return Page(total, items)


def _visible_changed_after(c: Conn, viewer: str, start: int, limit: int,
                           changed_after: int) -> Page[EndDeviceRecord]:
    where = ("(lfdi = ? OR owner_lfdi = ? OR id IN "
             "(SELECT end_device_id FROM end_device_access WHERE client_lfdi = ?)) AND changed_time >= ?")
    params = (viewer, viewer, viewer, changed_after)
    total = c.execute(f"SELECT count(*) FROM end_devices WHERE {where}", params).fetchone()[0]
    if limit <= 0:
        return Page(total, [])
    rows = c.execute(f"SELECT {_END_DEVICE_COLUMNS} FROM end_devices WHERE {where} "
                     "ORDER BY sfdi LIMIT ? OFFSET ?", params + (limit, start)).fetchall()
    return Page(total, [_end_device(r) for r in rows])


def _mirror_usage_point_page(c: Conn, owner_lfdi: str, start: int,
                             limit: int) -> Page[MirrorUsagePointRecord]:
    total = list_index.total(c, "mup", owner_lfdi)
    found = list_index.locate(c, "mup", owner_lfdi, start, list_index.MRID) if limit > 0 else None
    if found is None:
        return Page(total, [])
    least, skip = found
    rows = c.execute("SELECT id, owner_lfdi, mrid, body FROM mirror_usage_points WHERE owner_lfdi = ? "
                     "AND mrid >= ? ORDER BY mrid LIMIT ? OFFSET ?", (owner_lfdi, least, limit, skip)).fetchall()
    return Page(total, [MirrorUsagePointRecord(r[0], r[1], r[2], json.loads(r[3])) for r in rows])


def _keyed_rows(c: Conn, list_name: str, owner: Any, start: int, limit: int,
                buckets: list_index.KeyBuckets, sql: str) -> list[tuple]:
    """Rows start.. of a list kept in list_counts; sql takes (owner, least key, limit, offset) and starts the
    list at the least key."""
    found = list_index.locate(c, list_name, owner, start, buckets) if limit > 0 else None
    if found is None:
        return []
    least, skip = found
    return c.execute(sql, (owner, least, limit, skip)).fetchall()


def _log_event_page(c: Conn, end_device_id: int, start: int, limit: int,
                    after: int | None) -> Page[tuple[int, dict[str, Any]]]:
    total = list_index.total(c, "log", end_device_id)
    if after is not None and total:
        total = _log_events_since(c, end_device_id, after)
    rows = _keyed_rows(c, "log", end_device_id, start, min(limit, total - start), list_index.WIDE,
                       "SELECT id, body FROM log_events WHERE end_device_id = ? AND list_key >= ? "
                       "ORDER BY list_key, created DESC, log_event_id DESC, id DESC LIMIT ? OFFSET ?")
    return Page(total, [(r[0], json.loads(r[1])) for r in rows])


def _log_events_since(c: Conn, end_device_id: int, after: int) -> int:
    """How many of the device's LogEvents were created at or after `after`: those whose keys lie below the first
    key of after's (clamped) second, and those of that second itself that are not older."""
    first = list_index.newest_first(after) << 32
    before = list_index.rank(c, "log", end_device_id, first, list_index.WIDE,
                             "SELECT count(*) FROM log_events WHERE end_device_id = ? AND list_key >= ? "
                             "AND list_key < ?")
    same_second = c.execute("SELECT count(*) FROM log_events WHERE end_device_id = ? AND list_key >= ? "
                            "AND list_key <= ? AND created >= ?",
                            (end_device_id, first, first | 0xFFFFFFFF, after)).fetchone()[0]
    return before + same_second


def _check_mrids_free(c: Conn, owner_lfdi: str, mrids: list[str]) -> None:
    """Raises MridTaken if one of mrids names a mirror of a client other than owner_lfdi."""
    for mrid in dict.fromkeys(mrids):
        taken = c.execute(
            "SELECT 1 FROM mirror_usage_points WHERE mrid = ? AND owner_lfdi != ? UNION ALL "
            "SELECT 1 FROM mirror_meter_readings m JOIN mirror_usage_points u ON u.id = m.mup_id "
            "WHERE m.mrid = ? AND u.owner_lfdi != ? LIMIT 1", (mrid, owner_lfdi, mrid, owner_lfdi)).fetchone()
        if taken:
            raise MridTaken(mrid)


def _store_readings(c: Conn, mup_id: int, mmrs: list[dict[str, Any]]) -> list[tuple[int, bool]]:
    """Merge MirrorMeterReadings by mRID: the header is replaced where given; a MirrorReadingSet replaces the
    Readings of the set of its mRID, a Reading alone the one before it (both kept as history).  Each one's
    id, and whether it is new (a new one needs its ReadingType: ReadingTypeMissing)."""
    now = int(time.time())
    placed = []
    for mmr in mmrs:
        header = {k: v for k, v in mmr.items() if k not in ("MirrorReadingSet", "Reading")}
        row = c.execute("SELECT id, body FROM mirror_meter_readings WHERE mup_id = ? AND mrid = ?",
                        (mup_id, mmr["mRID"])).fetchone()
        if row:
            mmr_id = row[0]
            merged = {**json.loads(row[1]), **header}
            c.execute("UPDATE mirror_meter_readings SET body = ? WHERE id = ?", (json.dumps(merged), mmr_id))
        elif "ReadingType" not in mmr:
            raise ReadingTypeMissing(mmr["mRID"])
        else:
            mmr_id = inserted_id(c.execute("INSERT INTO mirror_meter_readings (mup_id, mrid, body) VALUES (?, ?, ?)",
                                           (mup_id, mmr["mRID"], json.dumps(header))))
        placed.append((mmr_id, row is None))
        for reading_set in mmr.get("MirrorReadingSet", []):
            set_header = {k: v for k, v in reading_set.items() if k != "Reading"}
            set_period = reading_set["timePeriod"]
            found = c.execute("SELECT id FROM reading_sets WHERE mmr_id = ? AND mrid = ?",
                              (mmr_id, reading_set["mRID"])).fetchone()
            if found:
                set_id = found[0]
                c.execute("UPDATE reading_sets SET start = ?, body = ? WHERE id = ?",
                          (set_period["start"], json.dumps(set_header), set_id))
                c.execute("UPDATE readings SET current = 0 WHERE reading_set_id = ? AND current = 1", (set_id,))
            else:
                set_id = inserted_id(c.execute(
                    "INSERT INTO reading_sets (mmr_id, mrid, start, body) VALUES (?, ?, ?, ?)",
                    (mmr_id, reading_set["mRID"], set_period["start"], json.dumps(set_header))))
            for reading in reading_set.get("Reading", []):
                _insert_reading(c, mmr_id, reading, reading.get("timePeriod") or set_period, now,
                                set_id, reading_set["mRID"])
        if "Reading" in mmr:
            c.execute("UPDATE readings SET current = 0 WHERE mmr_id = ? AND reading_set_id IS NULL AND current = 1",
                      (mmr_id,))
            _insert_reading(c, mmr_id, mmr["Reading"], mmr["Reading"].get("timePeriod") or {}, now)
    return placed


def _insert_reading(c: Conn, mmr_id: int, reading: dict[str, Any], period: dict[str, Any], now: int,
                    set_id: int | None = None, set_mrid: str | None = None) -> None:
    c.execute("INSERT INTO readings (mmr_id, reading_set_id, reading_set_mrid, start, duration, value, body, "
              "received) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
              (mmr_id, set_id, set_mrid, period.get("start"), period.get("duration"), reading.get("value"),
               json.dumps(reading), now))
