"""The WAL index's header tells a commit from any connection or process without a query (store/wal_index.py), and
the response cache's change counters rely on it (store/sqlite_generations.py); on real SQLite files."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from der_gateway.store.sqlite import SQLiteStore
from der_gateway.store.topics import GLOBAL
from der_gateway.store.wal_index import WalIndexHeader


def _wal_database(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x INTEGER)")
    return conn


def test_the_header_moves_with_every_commit_and_stands_without_one(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    writer = _wal_database(path)
    header = WalIndexHeader(path)
    try:
        first = header.read()
        assert first is not None and header.read() == first
        writer.execute("SELECT count(*) FROM t").fetchone()  # a read commits nothing
        assert header.read() == first
        writer.execute("INSERT INTO t VALUES (1)")
        second = header.read()
        assert second is not None and second != first
        # another process's commit, then a checkpoint that restarts the WAL
        subprocess.run([sys.executable, "-c", f"import sqlite3; c = sqlite3.connect({str(path)!r}, "
                        "isolation_level=None); c.execute('INSERT INTO t VALUES (2)')"], check=True)
        third = header.read()
        assert third not in (None, second)
        writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        writer.execute("INSERT INTO t VALUES (3)")
        assert header.read() not in (None, third)
    finally:
        header.close()
        writer.close()


def test_no_index_tells_nothing(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "rollback.sqlite3")  # a rollback journal: no -shm file
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    assert WalIndexHeader(tmp_path / "rollback.sqlite3").read() is None
    conn.close()


async def test_counters_see_another_processs_write_at_once(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path)
    try:
        before = await store.generations([GLOBAL])
        assert await store.generations([GLOBAL]) == before
        subprocess.run([sys.executable, "-c", "import asyncio, pathlib\n"
                        "from der_gateway.store.sqlite import SQLiteStore\n"
                        "async def main():\n"
                        f"    s = await SQLiteStore.open(pathlib.Path({str(tmp_path)!r}))\n"
                        "    await s.add_aggregator('A' * 40, 'other process')\n"
                        "    await s.close()\n"
                        "asyncio.run(main())"], check=True)
        after = await store.generations([GLOBAL])
        assert after[0] > before[0]
        await store.add_aggregator("B" * 40, "this process")
        assert (await store.generations([GLOBAL]))[0] > after[0]
    finally:
        await store.close()


def test_a_database_reached_through_a_symbolic_link_is_told_from_its_real_index(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    writer = _wal_database(real / "db.sqlite3")
    (tmp_path / "link.sqlite3").symlink_to(real / "db.sqlite3")
    header = WalIndexHeader(tmp_path / "link.sqlite3")
    try:
        first = header.read()
        assert first is not None
        writer.execute("INSERT INTO t VALUES (1)")
        assert header.read() not in (None, first)
    finally:
        header.close()
        writer.close()


# SQLite's "dead man switch": every process with the database open holds a read lock on this byte of the -shm file;
# a process that finds it free takes the index for unused and truncates it (os_unix.c, UNIX_SHM_DMS)
_DMS = 128

_TRY_DMS = f"""
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, {_DMS})
except OSError:
    print("held")
else:
    print("free")
"""


def _dms(shm: Path) -> str:
    return subprocess.run([sys.executable, "-c", _TRY_DMS, str(shm)], check=True, capture_output=True,
                          text=True).stdout.strip()


async def test_reading_the_header_keeps_sqlites_lock_on_the_index_for_other_processes_to_see(tmp_path: Path) -> None:
    """Closing a descriptor of the -shm file would drop the process's locks on it, SQLite's included: another process
    opening the database would then rebuild the index under the store's connections, and the store's mapping of it
    would end beyond the file (SIGBUS), as happened when the page process opened a served database."""
    store = await SQLiteStore.open(tmp_path)
    try:
        await store.add_aggregator("AB" * 20, "an aggregator")
        assert store._wal_header.read() is not None
        shm = Path(f"{store.path}-shm")
        assert _dms(shm) == "held"
        subprocess.run([sys.executable, "-c", f"import sqlite3; sqlite3.connect({str(store.path)!r})"
                        ".execute('SELECT count(*) FROM aggregators').fetchone()"], check=True)
        assert _dms(shm) == "held"
        assert await store.is_aggregator("AB" * 20)
    finally:
        await store.close()
