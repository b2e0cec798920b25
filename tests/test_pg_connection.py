"""The PostgreSQL connection adapter (store/postgres/connection.py, dialect.py) runs SQL written for sqlite3,
on a real server with the store's schema."""

from __future__ import annotations

import sqlite3
from typing import Iterator

import pytest

from der_gateway.store.postgres.connection import Connection
from der_gateway.store.postgres.dialect import translate
from der_gateway.store.postgres.schema import migrate

IDS = frozenset({"end_devices", "outbox"})


def test_placeholders_become_psycopgs_outside_literals_names_and_comments() -> None:
    s = translate("SELECT '?', \"a?\", x FROM t WHERE a = ? AND b LIKE 'x%' -- y?\nAND c = ?", IDS)
    assert s.sql == "SELECT '?', \"a?\", x FROM t WHERE a = %s AND b LIKE 'x%%' -- y?\nAND c = %s"
    assert not s.numbered
    assert translate("SELECT 'it''s ?' WHERE a = ?", IDS).sql == "SELECT 'it''s ?' WHERE a = %s"
    assert translate("SELECT a % 2 FROM t", IDS).sql == "SELECT a %% 2 FROM t"


def test_numbered_parameters_become_named_ones() -> None:
    s = translate("SELECT * FROM r WHERE a = ?1 OR b = ?1 LIMIT ?2 OFFSET ?3", IDS)
    assert s.sql == "SELECT * FROM r WHERE a = %(p1)s OR b = %(p1)s LIMIT %(p2)s OFFSET %(p3)s"
    assert s.parameters(("x", 10, 0)) == {"p1": "x", "p2": 10, "p3": 0}


def test_null_safe_equality_insert_or_ignore_and_returning_id() -> None:
    assert translate("SELECT 1 WHERE a IS ? AND b IS NOT ? AND c IS NULL", IDS).sql == \
        "SELECT 1 WHERE a IS NOT DISTINCT FROM %s AND b IS DISTINCT FROM %s AND c IS NULL"
    s = translate("INSERT OR IGNORE INTO group_members (group_id, end_device_id) VALUES (?, ?)", IDS)
    assert s.sql == "INSERT INTO group_members (group_id, end_device_id) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    assert not s.returns_id
    s = translate("INSERT INTO end_devices (lfdi) VALUES (?)", IDS)
    assert (s.sql, s.returns_id, s.table) == ("INSERT INTO end_devices (lfdi) VALUES (%s) RETURNING id", True,
                                              "end_devices")
    assert translate("INSERT INTO end_devices (lfdi) VALUES (?) RETURNING id", IDS).returns_id is False


@pytest.fixture
def conn(postgres_dsn: str) -> Iterator[Connection]:
    c = Connection.connect(postgres_dsn)
    migrate(c.raw)
    c.refresh_schema()
    try:
        yield c
    finally:
        c.close()


DEVICE = ("INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, enabled) "
          "VALUES (?, ?, ?, ?, ?, ?, ?)")


def test_rows_read_as_from_sqlite3(conn: Connection) -> None:
    first = conn.execute(DEVICE, ("A", 1, "A", 10, 111115, 10, True))
    assert first.lastrowid == 1 and first.rowcount == 1 and first.fetchone() is None
    assert conn.execute(DEVICE, ("B", 2, "AGG", 10, 111115, 10, False)).lastrowid == 2
    cur = conn.execute("SELECT id, lfdi, enabled FROM end_devices ORDER BY id")
    assert [d[0] for d in cur.description] == ["id", "lfdi", "enabled"]
    assert cur.fetchone() == (1, "A", 1)
    assert cur.fetchall() == [(2, "B", 0)]
    assert list(conn.execute("SELECT lfdi FROM end_devices WHERE enabled = ?", (1,))) == [("A",)]
    assert conn.execute("SELECT lfdi FROM end_devices WHERE id = ?", (99,)).fetchone() is None
    assert conn.execute("UPDATE end_devices SET changed_time = ? WHERE owner_lfdi = ?", (11, "A")).rowcount == 1
    # sum() of integers is an int, as in SQLite; an untyped NULL parameter needs no cast
    assert conn.execute("SELECT sum(sfdi), count(*) FROM end_devices").fetchone() == (3, 2)
    assert conn.execute("SELECT ? IS NULL, coalesce(?, 7)", (None, None)).fetchone() == (True, 7)


def test_executemany_insert_or_ignore_and_null_safe_equality(conn: Connection) -> None:
    ids = [conn.execute(DEVICE, (f"D{n}", n, "AGG", 0, 1, 0, 1)).lastrowid for n in range(3)]
    group = conn.execute("INSERT INTO groups (mrid) VALUES (?)", ("G",)).lastrowid
    members = "INSERT OR IGNORE INTO group_members (group_id, end_device_id) VALUES (?, ?)"
    assert conn.executemany(members, [(group, i) for i in ids]).rowcount == 3
    assert conn.execute(members, (group, ids[0])).rowcount == 0
    assert conn.execute("SELECT count(*) FROM group_members").fetchone() == (3,)
    conn.execute("INSERT INTO subscriptions (end_device_id, client_lfdi, resource, body) VALUES (?, ?, ?, ?)",
                 (None, "C", "/edev", "{}"))
    conn.execute("INSERT INTO subscriptions (end_device_id, client_lfdi, resource, body) VALUES (?, ?, ?, ?)",
                 (ids[1], "C", "/edev", "{}"))
    count = "SELECT count(*) FROM subscriptions WHERE client_lfdi = ? AND end_device_id IS ?"
    assert conn.execute(count, ("C", None)).fetchone() == (1,)
    assert conn.execute(count, ("C", ids[1])).fetchone() == (1,)
    assert conn.execute(count, ("C", ids[2])).fetchone() == (0,)
    # an empty list, as SQLite takes it
    assert conn.execute("SELECT count(*) FROM end_devices WHERE lfdi IN ()").fetchone() == (0,)
    assert conn.execute("SELECT count(*) FROM end_devices WHERE id NOT IN ( )").fetchone() == (3,)
    assert translate("SELECT 'IN ()' WHERE a IN ()", IDS).sql == "SELECT 'IN ()' WHERE a = ANY('{}')"
    page = "SELECT lfdi FROM end_devices WHERE owner_lfdi = ?1 OR lfdi = ?1 ORDER BY id LIMIT ?2 OFFSET ?3"
    assert conn.execute(page, ("AGG", 2, 1)).fetchall() == [("D1",), ("D2",)]


def test_bytes_go_in_and_come_back(conn: Connection) -> None:
    body = bytes(range(256))
    conn.execute("INSERT INTO outbox (subscription_id, uri, body, next_attempt) VALUES (?, ?, ?, ?)",
                 (1, "https://x/n", body, 0))
    assert conn.execute("SELECT body FROM outbox").fetchone() == (body,)
    # SQLite's blob literals, and a literal that only looks like one
    assert conn.execute("SELECT x'', X'00fF', 'x''', max(id) FROM outbox").fetchone() == (b"", b"\x00\xff", "x'", 1)


def test_a_refused_write_is_sqlite3s_integrity_error_and_a_savepoint_survives_it(conn: Connection) -> None:
    conn.execute(DEVICE, ("A", 1, "A", 0, 1, 0, 1))
    conn.execute("BEGIN")
    conn.execute("SAVEPOINT s")
    with pytest.raises(sqlite3.IntegrityError, match="unique"):
        conn.execute(DEVICE, ("A", 2, "A", 0, 1, 0, 1))
    conn.execute("ROLLBACK TO s")
    conn.execute("RELEASE s")
    conn.execute(DEVICE, ("B", 2, "B", 0, 1, 0, 1))
    assert conn.in_transaction
    conn.execute("COMMIT")
    assert conn.execute("SELECT lfdi FROM end_devices ORDER BY lfdi").fetchall() == [("A",), ("B",)]
    with pytest.raises(sqlite3.IntegrityError, match="foreign key"):
        conn.execute("INSERT INTO ders (end_device_id, n) VALUES (?, ?)", (999, 1))
    with pytest.raises(sqlite3.IntegrityError, match="check"):
        conn.execute("INSERT INTO ders (end_device_id, n) VALUES (1, 1)")
        conn.execute("INSERT INTO der_documents (end_device_id, n, kind, body) VALUES (1, 1, 'nope', '')")
