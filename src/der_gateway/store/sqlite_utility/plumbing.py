"""What the utility mixins use of SQLiteStore, declared for the type checker: SQLiteStore defines each."""

from __future__ import annotations

import sqlite3
from typing import Callable, TypeVar

from ...domain.utility import Conflict

T = TypeVar("T")
Conn = sqlite3.Connection


def present(record: T | None, what: str) -> T:
    """The record a write acts on; Conflict if it went (deleted meanwhile)."""
    if record is None:
        raise Conflict(f"no {what}")
    return record


def inserted(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT made."""
    if cursor.lastrowid is None:
        raise RuntimeError("the INSERT made no row")
    return cursor.lastrowid


class Plumbing:
    _reader: sqlite3.Connection | None

    def _rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        raise NotImplementedError

    def _one(self, sql: str, params: tuple = ()) -> tuple | None:
        raise NotImplementedError

    async def _in_transaction(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    def _reading(self) -> Conn:
        """The reader connection (the store is open while it is called)."""
        if self._reader is None:
            raise RuntimeError("the store is closed")
        return self._reader
