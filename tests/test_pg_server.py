"""The test suite's PostgreSQL (tests/pg_server.py) is a real server: each test gets a database of its own."""

from __future__ import annotations

import psycopg
from psycopg import conninfo

from .pg_server import PostgresServer, as_uri


def test_a_fresh_database_takes_a_write_and_reads_it_back(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone() == (0,)
        conn.execute("CREATE TABLE notes (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body TEXT NOT NULL)")
        conn.execute("INSERT INTO notes (body) VALUES (%s), (%s)", ("first", "second"))
    # a second connection sees the committed rows
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall() == [(1, "first"), (2, "second")]


def test_each_test_database_is_its_own(postgres_server: PostgresServer, postgres_dsn: str) -> None:
    other = postgres_server.create_database()
    try:
        assert conninfo.conninfo_to_dict(other)["dbname"] != conninfo.conninfo_to_dict(postgres_dsn)["dbname"]
        with psycopg.connect(postgres_dsn) as conn:
            conn.execute("CREATE TABLE only_here (n INTEGER)")
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
    finally:
        postgres_server.drop_database(other)
    with psycopg.connect(postgres_server.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s",
                            (conninfo.conninfo_to_dict(other)["dbname"],)).fetchone() == (0,)


def test_the_server_keeps_data_durably(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SHOW fsync").fetchone() == ("on",)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)


def test_a_dsn_in_either_form_becomes_a_uri() -> None:
    uri = as_uri("host='/tmp/some dir' port=5433 user=postgres dbname=x", dbname="y")
    assert uri.startswith("postgresql://postgres@/y?")
    assert conninfo.conninfo_to_dict(uri) == {"host": "/tmp/some dir", "port": "5433", "user": "postgres",
                                              "dbname": "y"}
    assert conninfo.conninfo_to_dict(as_uri("postgresql://u:p%40w@localhost:5432/db")) == {
        "user": "u", "password": "p@w", "host": "localhost", "port": "5432", "dbname": "db"}
