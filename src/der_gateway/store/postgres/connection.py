"""A PostgreSQL connection that runs the store's SQL as a sqlite3 connection does.

The store's transaction functions take a connection and call `execute(sql, params)` and `executemany`, and read
the cursor with `fetchone`, `fetchall`, iteration, `rowcount`, `description` and `lastrowid`.  This gives them
the same over psycopg, with the statements rewritten by dialect.translate.  Parameters are bound on the client
(psycopg's ClientCursor), as SQLite binds them: a NULL then needs no type from its context.  The connection is
in autocommit mode, as the store opens sqlite3's (isolation_level=None): the plumbing says BEGIN and COMMIT.

A uniqueness, reference or check violation is raised as IntegrityError, a sqlite3.IntegrityError, so that the
store's `except sqlite3.IntegrityError` holds on either backend.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any, Iterator, Sequence

import psycopg
from psycopg.adapt import Dumper, Loader
from psycopg.types.numeric import IntDumper, NumericLoader

from .dialect import translate


class IntegrityError(sqlite3.IntegrityError):
    """PostgreSQL refused a write for a uniqueness, reference or check rule; its psycopg error is __cause__."""


class _BoolAsInteger(Dumper):
    """Python booleans go in as 1 and 0: the schema keeps SQLite's 0/1 INTEGER flags."""
    oid = IntDumper.oid

    def dump(self, obj: bool) -> bytes:
        return b"1" if obj else b"0"

    def quote(self, obj: bool) -> bytes:
        return self.dump(obj)


class _WholeNumericAsInt(Loader):
    """sum() of integers is numeric in PostgreSQL and an integer in SQLite; no column is numeric."""
    _numeric = NumericLoader(0)

    def load(self, data: Any) -> Any:
        value: Decimal = self._numeric.load(data)
        return int(value) if value == value.to_integral_value() else value


def identity_tables(conn: psycopg.Connection) -> frozenset[str]:
    """The tables whose id is an identity column: an INSERT into them gives a lastrowid."""
    return frozenset(r[0] for r in conn.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_name = 'id' AND is_identity = 'YES'").fetchall())


class Cursor:
    """What the store reads of a sqlite3 cursor."""

    def __init__(self, cursor: psycopg.Cursor[Any], lastrowid: int | None = None) -> None:
        self._cursor = cursor
        self.lastrowid = lastrowid

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self) -> Any:
        return self._cursor.description

    def fetchone(self) -> Any:  # as sqlite3 types it: callers know their query yields a row
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list[tuple]:
        return self._cursor.fetchall() if self._cursor.description else []

    def fetchmany(self, size: int = 1) -> list[tuple]:
        return self._cursor.fetchmany(size) if self._cursor.description else []

    def __iter__(self) -> Iterator[tuple]:
        return iter(self.fetchall())

    def close(self) -> None:
        self._cursor.close()


class Connection:
    """A psycopg connection (autocommit, client-side binding) with sqlite3's execute and executemany."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.raw = conn
        self._identity: frozenset[str] = frozenset()
        self.refresh_schema()

    @classmethod
    def connect(cls, dsn: str, **kwargs: Any) -> Connection:
        conn = psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor, **kwargs)
        conn.adapters.register_dumper(bool, _BoolAsInteger)
        conn.adapters.register_loader("numeric", _WholeNumericAsInt)
        return cls(conn)

    def refresh_schema(self) -> None:
        """Reads again which tables have an identity id (after a migration)."""
        self._identity = identity_tables(self.raw)

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        statement = translate(sql, self._identity)
        cursor = self.raw.cursor()
        try:
            cursor.execute(statement.sql, statement.parameters(params))
        except psycopg.errors.IntegrityError as exc:
            cursor.close()
            raise IntegrityError(str(exc).strip()) from exc
        lastrowid = None
        if statement.returns_id:
            ids = cursor.fetchall()
            lastrowid = ids[-1][0] if ids else None
        return Cursor(cursor, lastrowid)

    def executemany(self, sql: str, seq_of_params: Sequence[Sequence[Any]]) -> Cursor:
        statement = translate(sql, frozenset())  # no RETURNING: sqlite3 gives no lastrowid for executemany
        cursor = self.raw.cursor()
        try:
            cursor.executemany(statement.sql, [statement.parameters(p) for p in seq_of_params])
        except psycopg.errors.IntegrityError as exc:
            cursor.close()
            raise IntegrityError(str(exc).strip()) from exc
        return Cursor(cursor)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()
