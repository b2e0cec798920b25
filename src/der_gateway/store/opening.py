"""Where a server's data lives: SQLite under its data directory (the default), or a PostgreSQL database that
several server processes, on one machine or many, may share; and how those processes agree on who runs the
background duties and on one admin write at a time."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

from .leadership import LOCK_FILE, FileLeadership, Leadership
from .postgres.coordination import AdvisoryLeadership, AdvisoryLock
from .postgres.store import PostgresStore
from .process_lock import ProcessLock
from .sqlite import SQLITE_FILE, SQLiteStore

ADMIN_WRITE_LOCK = "admin-write.lock"  # in the data directory


def is_shared(location: str | None) -> bool:
    """Whether other servers may use the same data: a database they reach over the network."""
    return location is not None


async def open_store(location: str | None, data_dir: Path) -> SQLiteStore:
    """The store at location (a PostgreSQL URL), or SQLite's file in data_dir when location is None.
    (PostgresStore runs SQLiteStore's SQL through its own plumbing, so either is an SQLiteStore.)"""
    if is_shared(location):
        assert location is not None
        return await PostgresStore.open_dsn(location)
    return await SQLiteStore.open(data_dir)


def leadership(location: str | None, data_dir: Path) -> Leadership:
    """How the processes sharing the store find their leader: an advisory lock in a shared database, else a
    lock file beside SQLite's."""
    if is_shared(location):
        assert location is not None
        return AdvisoryLeadership(location)
    return FileLeadership(data_dir / LOCK_FILE)


def admin_write_lock(location: str | None, data_dir: Path) -> AbstractAsyncContextManager[None]:
    """Held by each admin write across the processes sharing the store, so that the check and the write it
    allows see the same state in all of them."""
    if is_shared(location):
        assert location is not None
        return AdvisoryLock(location)
    return ProcessLock(data_dir / ADMIN_WRITE_LOCK)


def location_of(store: object) -> tuple[str | None, Path] | None:
    """open_store's arguments that open store again, from another process; None if it cannot be (a SQLite
    file not named as open_store names it, or no store open_store opens)."""
    if isinstance(store, PostgresStore):
        return store.dsn, Path(".")
    if not isinstance(store, SQLiteStore) or store.path.name != SQLITE_FILE:
        return None
    return None, store.path.parent
