"""Brings a PostgreSQL database to this der-gateway's schema on start-up.

Several replicas may start at once: each takes the same transaction-scoped advisory lock, so one migrates and
the others, once it has committed, find nothing left to do.  PostgreSQL's DDL is transactional, so a
migration that fails leaves the database as it was.
"""

from __future__ import annotations

from typing import Any

from . import generations
from .migrations import MIGRATIONS

# the advisory lock that serialises migrations (an arbitrary key of this application's own)
MIGRATION_LOCK = 0x64657267_7701  # "derg" 0x7701


def schema_version(conn: Any) -> int:
    """The schema version a database is at (0 for one never migrated)."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def migrate(conn: Any) -> int:
    """Applies the migrations the database lacks and installs the cache generations' triggers, in one
    transaction under the migration lock; returns the schema version.  conn is a psycopg connection."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")
        version = schema_version(conn)
        if version > len(MIGRATIONS):
            raise RuntimeError(f"the database is at schema version {version}, newer than this "
                               f"der-gateway ({len(MIGRATIONS)}); upgrade der-gateway")
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.execute(script)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (number,))
        generations.install(conn)
    return len(MIGRATIONS)
