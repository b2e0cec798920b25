"""The PostgreSQL schema (store/postgres) on a real server: it migrates once, even from replicas starting
together, and gives the tables, constraints, indexes and triggers that SQLite's migrations give."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from der_gateway.store import sqlite_generations
from der_gateway.store.migrations import MIGRATIONS as SQLITE_MIGRATIONS
from der_gateway.store.postgres.migrations import MIGRATIONS
from der_gateway.store.postgres.schema import migrate, schema_version
from der_gateway.store.sqlite import migrate as sqlite_migrate


def test_a_fresh_database_migrates_once_and_again_changes_nothing(postgres_dsn: str) -> None:
    assert len(MIGRATIONS) == len(SQLITE_MIGRATIONS)
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        assert schema_version(conn) == 0
        assert migrate(conn) == len(MIGRATIONS)
        applied = conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall()
        assert applied == [(n,) for n in range(1, len(MIGRATIONS) + 1)]
        triggers = conn.execute("SELECT tgname, tgfoid FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1").fetchall()
        assert migrate(conn) == len(MIGRATIONS)
        assert conn.execute("SELECT version FROM schema_migrations ORDER BY version").fetchall() == applied
        assert conn.execute("SELECT tgname, tgfoid FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1").fetchall() \
            == triggers


def test_replicas_starting_together_migrate_once(postgres_dsn: str) -> None:
    results: list[object] = []

    def start() -> None:
        try:
            with psycopg.connect(postgres_dsn, autocommit=True) as conn:
                results.append(migrate(conn))
        except Exception as exc:  # reported below
            results.append(exc)
    threads = [threading.Thread(target=start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [len(MIGRATIONS)] * 4
    with psycopg.connect(postgres_dsn) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT version) FROM schema_migrations").fetchone() \
            == (len(MIGRATIONS), len(MIGRATIONS))


def test_a_database_newer_than_this_der_gateway_is_refused(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (len(MIGRATIONS) + 1,))
        with pytest.raises(RuntimeError, match="newer than this der-gateway"):
            migrate(conn)


def _sqlite(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    sqlite_migrate(conn)
    sqlite_generations.install(conn)
    return conn


def _sqlite_schema(conn: sqlite3.Connection) -> dict[str, dict]:
    schema = {}
    for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                 "AND name NOT LIKE 'sqlite_%'").fetchall():
        columns = {r[1]: bool(r[3] or r[5]) for r in conn.execute(f"PRAGMA table_xinfo({table})")}
        primary = tuple(r[1] for r in sorted(conn.execute(f"PRAGMA table_info({table})"), key=lambda r: r[5])
                        if r[5])
        uniques, indexes = set(), set()
        for _, name, unique, origin, _ in conn.execute(f"PRAGMA index_list({table})").fetchall():
            cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({name})"))
            if origin == "u":
                uniques.add(cols)
            elif origin == "c":
                indexes.add((name, cols))
        foreign = {(tuple(r[3] for r in group), group[0][2], group[0][6]) for group in _grouped(
            conn.execute(f"PRAGMA foreign_key_list({table})").fetchall())}
        schema[table] = dict(columns=columns, primary=primary, uniques=uniques, indexes=indexes, foreign=foreign)
    return schema


def _grouped(rows: list[tuple]) -> list[list[tuple]]:
    groups: dict[int, list[tuple]] = {}
    for r in rows:
        groups.setdefault(r[0], []).append(r)
    return list(groups.values())


def _postgres_schema(conn: psycopg.Connection) -> dict[str, dict]:
    schema = {}
    tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                                         "AND tablename != 'schema_migrations'").fetchall()]
    for table in tables:
        columns = {r[0]: r[1] == "NO" for r in conn.execute(
            "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = %s", (table,))}
        constraints: dict[str, set] = {"p": set(), "u": set(), "f": set()}
        for kind, cols, ref, on_delete in conn.execute(
                "SELECT c.contype, array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(n, i) "
                "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.i), "
                "c.confrelid::regclass::text, c.confdeltype FROM pg_constraint c "
                "WHERE c.conrelid = %s::regclass AND c.contype IN ('p', 'u', 'f')", (table,)).fetchall():
            action = {"a": "NO ACTION", "c": "CASCADE", "n": "SET NULL"}.get(on_delete)
            constraints[kind].add((tuple(cols), ref, action) if kind == "f" else tuple(cols))
        indexes = {(r[0], tuple(r[1])) for r in conn.execute(  # an expression's column is None, as in SQLite
            "SELECT i.relname, array(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY k(n, o) "
            "LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.n ORDER BY k.o) "
            "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)", (table,)).fetchall()}
        schema[table] = dict(columns=columns, primary=next(iter(constraints["p"]), ()), uniques=constraints["u"],
                             indexes=indexes, foreign=constraints["f"])
    return schema


def test_the_tables_columns_constraints_and_indexes_are_sqlites(postgres_dsn: str, tmp_path: Path) -> None:
    lite = _sqlite(tmp_path / "s.sqlite3")
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        migrate(conn)
        pg = _postgres_schema(conn)
    expected = _sqlite_schema(lite)
    assert sorted(pg) == sorted(expected)
    for table in expected:
        assert pg[table] == expected[table], table


def test_text_sorts_and_compares_as_in_sqlite(postgres_dsn: str) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        migrate(conn)
        conn.execute("INSERT INTO aggregators (lfdi, name, created) VALUES ('a', 'b', 0), ('B', 'a', 0), "
                     "('_', 'é', 0), ('Z', 'Z', 0)")
        assert [r[0] for r in conn.execute("SELECT name FROM aggregators ORDER BY name")] == ["Z", "a", "b", "é"]



# writes that move every trigger: EndDevices with and without an owner, access grants, a change of owner, deletes;
# mirrors and their readings (current or not), log events, DER documents
WRITES = [
    ("INSERT INTO end_devices (id, lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at) VALUES "
     "(1, 'A1', 17179869184, 'AGG', 0, 1, 0), (2, 'A2', 4, 'AGG', 0, 1, 0), (3, 'D3', 99, 'D3', 0, 1, 0), "
     "(4, 'D4', 1099511627775, 'D4', 0, 1, 0)", ()),
    ("INSERT INTO end_device_access (end_device_id, client_lfdi) VALUES (3, 'AGG'), (4, 'OTHER'), (1, 'AGG')", ()),
    ("UPDATE end_devices SET owner_lfdi = ? WHERE id = ?", ("AGG2", 2)),
    ("UPDATE end_devices SET sfdi = sfdi + 1 WHERE id = 3", ()),
    ("DELETE FROM end_device_access WHERE end_device_id = 4", ()),
    ("DELETE FROM end_devices WHERE id = 1", ()),
    ("INSERT INTO mirror_usage_points (id, owner_lfdi, mrid, body) VALUES (1, 'AGG', 'A0F1', ''), "
     "(2, 'AGG', 'a0', ''), (3, 'AGG', '', ''), (4, 'D3', 'ZZZZZZ', ''), (5, 'AGG', 'é€', '')", ()),
    ("DELETE FROM mirror_usage_points WHERE id = 2", ()),
    ("UPDATE mirror_usage_points SET mrid = 'B' WHERE id = 4", ()),
    ("INSERT INTO mirror_meter_readings (id, mup_id, mrid, body) VALUES (1, 1, 'M1', ''), (2, 1, 'M2', ''), "
     "(3, 5, 'M3', '')", ()),
    ("INSERT INTO reading_sets (id, mmr_id, mrid, start, body) VALUES (1, 1, 'S1', 0, ''), (2, 1, 'S2', 5, '')", ()),
    ("INSERT INTO readings (mmr_id, start, body, received, reading_set_id, current) VALUES "
     "(1, 0, '', 0, 1, 1), (1, 1, '', 0, 1, 1), (1, 2, '', 0, 2, 1), (1, 3, '', 0, NULL, 1), (1, 4, '', 0, 2, 0)", ()),
    ("UPDATE readings SET current = 0 WHERE reading_set_id = 1 AND start = 0", ()),
    ("DELETE FROM mirror_meter_readings WHERE id = 2", ()),
    ("INSERT INTO log_events (end_device_id, created, log_event_id, body) VALUES (3, 0, 1, ''), (3, 1, 2, ''), "
     "(2, 0, 1, '')", ()),
    ("DELETE FROM log_events WHERE end_device_id = 2", ()),
    ("INSERT INTO ders (end_device_id, n) VALUES (3, 1), (2, 1)", ()),
    ("INSERT INTO der_documents (end_device_id, n, kind, body) VALUES (3, 1, 'ders', ''), (2, 1, 'dera', '')", ()),
    ("UPDATE der_documents SET body = 'x' WHERE end_device_id = 3", ()),
    ("INSERT INTO responses (control_id, end_device_lfdi, status, created, received, body) "
     "SELECT 1, 'x', 1, 0, 0, '' WHERE FALSE", ()),
    ("INSERT INTO aggregators (lfdi, name, created) VALUES ('AGG', 'n', 0) "
     "ON CONFLICT (lfdi) DO UPDATE SET name = excluded.name", ()),
    ("INSERT INTO aggregators (lfdi, name, created) VALUES ('AGG', 'm', 0) "
     "ON CONFLICT (lfdi) DO UPDATE SET name = excluded.name", ()),
]
KEPT = {"list_counts": "SELECT list, CAST(owner AS TEXT), level, bucket, n FROM list_counts",
        "end_device_views": "SELECT viewer, sfdi, end_device_id FROM end_device_views"}
GENERATIONS = "SELECT topic, generation FROM cache_generations"


def _moved(before: dict, after: dict) -> set[str]:
    return {topic for topic, generation in after.items() if generation != before.get(topic)}


def test_the_triggers_keep_what_sqlites_keep(postgres_dsn: str, tmp_path: Path) -> None:
    """The same list counts and views; and each write moves the same change counters (SQLite's once per row,
    PostgreSQL's once per transaction: either way a cached answer of the topic is stale)."""
    lite = _sqlite(tmp_path / "s.sqlite3")
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        migrate(conn)
        moved = 0
        for sql, params in WRITES:
            lite_before, pg_before = dict(lite.execute(GENERATIONS).fetchall()), dict(conn.execute(GENERATIONS))
            lite.execute(sql, params)
            conn.execute(sql.replace("?", "%s"), params)
            lite_moved = _moved(lite_before, dict(lite.execute(GENERATIONS).fetchall()))
            assert _moved(pg_before, dict(conn.execute(GENERATIONS))) == lite_moved, sql
            moved += bool(lite_moved)
        assert moved > len(WRITES) // 2
        for table, query in KEPT.items():
            expected = sorted(lite.execute(query).fetchall())
            assert expected, table
            assert sorted(conn.execute(query).fetchall()) == expected, table


def test_the_mirrors_device_lfdi_is_filled_in_from_their_bodies_on_both_backends(postgres_dsn: str,
                                                                                  tmp_path: Path) -> None:
    """The migration that adds the column reads each stored MirrorUsagePoint's deviceLFDI into its new column."""
    mups = [("AGG", "M1", '{"mRID": "M1", "deviceLFDI": "abcd"}'), ("AGG", "M2", '{"mRID": "M2"}'),
            ("AGG", "M3", '{"mRID": "M3", "deviceLFDI": 7}')]
    index = next(i for i, m in enumerate(SQLITE_MIGRATIONS) if "mirror_usage_points ADD COLUMN device_lfdi" in m)
    lite = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    for script in SQLITE_MIGRATIONS[:index]:
        lite.executescript(script)
    lite.executemany("INSERT INTO mirror_usage_points (owner_lfdi, mrid, body) VALUES (?, ?, ?)", mups)
    lite.executescript(SQLITE_MIGRATIONS[index])
    assert lite.execute("SELECT mrid, device_lfdi FROM mirror_usage_points ORDER BY mrid").fetchall() == [
        ("M1", "ABCD"), ("M2", None), ("M3", None)]
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for script in MIGRATIONS[:index]:
            conn.execute(script)
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO mirror_usage_points (owner_lfdi, mrid, body) VALUES (%s, %s, %s)", mups)
        conn.execute(MIGRATIONS[index])
        assert conn.execute("SELECT mrid, device_lfdi FROM mirror_usage_points ORDER BY mrid").fetchall() == [
            ("M1", "ABCD"), ("M2", None), ("M3", None)]
