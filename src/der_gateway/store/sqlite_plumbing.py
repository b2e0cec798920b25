"""What the mixins of SQLiteStore (store/sqlite.py) use of it: its connections and how work reaches them.

Each mixin derives from SQLitePlumbing, so that its methods are checked against these signatures;
SQLiteStore implements them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Iterator, Protocol, TypeVar

from ..domain.refusals import Conflict

T = TypeVar("T")



class Cursor(Protocol):
    """What the store reads of a cursor (sqlite3's, or store.postgres's that runs the same SQL)."""

    @property
    def lastrowid(self) -> int | None: ...

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """The connection the store's SQL runs on: sqlite3's, or store.postgres's adapter."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Any, /) -> Cursor: ...


# the parameters of one statement, and a row as sqlite3 gives it
Params = tuple[Any, ...]
Row = tuple[Any, ...]


class SQLitePlumbing(ABC):
    @property
    @abstractmethod
    def _reader(self) -> Conn:
        """The connection point lookups run on, on the event loop."""

    @abstractmethod
    async def _rows(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of one query, on the event loop."""

    @abstractmethod
    async def _one(self, sql: str, params: Params = ()) -> Row | None:
        """The first row of one query, on the event loop."""

    @abstractmethod
    async def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(connection, *args) on a reader thread, in one read transaction (one snapshot)."""

    @abstractmethod
    async def _read_rows(self, sql: str, params: Params = ()) -> list[Row]:
        """Every row of one query, on a reader thread."""

    @abstractmethod
    async def _in_transaction(self, fn: Callable[[Conn], T]) -> T:
        """fn(writer connection) in one write transaction, once committed; a cursor fn returns comes back as None."""

    async def _lookup(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(connection, *args) for a few quick queries, where point lookups run (on the event loop)."""
        return fn(self._reader, *args)

    async def _aggregate(self, sql: str, params: Params = ()) -> Row:
        """The row of a query that always yields one (count, min, ...), on the event loop."""
        row = await self._one(sql, params)
        if row is None:
            raise RuntimeError(f"no row from an aggregate query: {sql}")
        return row


def inserted_id(cursor: Cursor) -> int:
    """The rowid an INSERT just gave (sqlite3 types lastrowid as optional: it is None only before any INSERT)."""
    rowid = cursor.lastrowid
    if rowid is None:
        raise RuntimeError("the statement inserted no row")
    return rowid


def present(record: T | None, what: str) -> T:
    """The record a write acts on; Conflict if it went (deleted meanwhile)."""
    if record is None:
        raise Conflict(f"no {what}")
    return record
