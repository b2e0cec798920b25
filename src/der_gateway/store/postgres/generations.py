"""Change counters (store.topics) kept by PostgreSQL triggers, as sqlite_generations keeps them in SQLite.

Every transaction that writes rows of a table bumps its topic's counter, and announces its commit (commits.py), once
however many rows it writes: a counter bumped for each row would make a transaction's cost grow with the square of
its rows, since each update of a row already updated in the transaction walks every version the transaction left
of it.  The triggers are checked at
every start-up (under the migration lock) and made for any table that lacks them, or whose topic changed, so that
a table added by a later migration is covered; a table already right is left alone, since remaking a trigger locks
its table against the replicas already serving.
"""

from __future__ import annotations

from typing import Any

from ..sqlite_generations import _TOPICS
from ..topics import GLOBAL, der_documents
from .commits import NOTIFY

PREFIX = "cache_generation_"
# tables of the PostgreSQL backend alone that no resource shows
_OWN_TABLES = {"schema_migrations": None}

FUNCTIONS = f"""
CREATE TABLE IF NOT EXISTS cache_generations (topic TEXT COLLATE "C" PRIMARY KEY, generation BIGINT NOT NULL);
CREATE OR REPLACE FUNCTION {PREFIX}bump_once(bumped TEXT) RETURNS void LANGUAGE plpgsql AS $body$
BEGIN
    IF current_setting('der_gateway.bumped_' || md5(bumped), true) IS DISTINCT FROM 'y' THEN
        INSERT INTO cache_generations (topic, generation) VALUES (bumped, 1)
            ON CONFLICT (topic) DO UPDATE SET generation = cache_generations.generation + 1;
        PERFORM set_config('der_gateway.bumped_' || md5(bumped), 'y', true);
        PERFORM {NOTIFY};
    END IF;
END
$body$;
CREATE OR REPLACE FUNCTION {PREFIX}bump() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    PERFORM {PREFIX}bump_once(TG_ARGV[0]);
    RETURN NULL;
END
$body$;
CREATE OR REPLACE FUNCTION {PREFIX}bump_der() RETURNS trigger LANGUAGE plpgsql AS $body$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        PERFORM {PREFIX}bump_once('{der_documents(0)[:-1]}' || OLD.end_device_id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM {PREFIX}bump_once('{der_documents(0)[:-1]}' || NEW.end_device_id);
    END IF;
    RETURN NULL;
END
$body$;
"""

def _wanted(table: str) -> tuple[str, tuple[str, ...]] | None:
    """The trigger function and its argument that keep table's topic, or None for a table no resource shows."""
    if table in _OWN_TABLES:
        return None
    topic = _TOPICS.get(table, f"'{GLOBAL}'")
    if topic is None:
        return None
    if "{row}" in topic:  # der_documents: a topic per EndDevice
        return f"{PREFIX}bump_der", ()
    return f"{PREFIX}bump", (topic.strip("'"),)


def install(conn: Any) -> None:
    """Makes the counters' table, the trigger functions, and each table's trigger where it is missing or stale.
    conn is a psycopg connection inside the caller's transaction."""
    conn.execute(FUNCTIONS)
    tables = [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()]
    existing = {r[0]: (r[1], tuple(a.decode() for a in bytes(r[2]).split(b"\0")[:-1]) if r[2] else ())
                for r in conn.execute(
                    "SELECT c.relname, p.proname, t.tgargs FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "JOIN pg_proc p ON p.oid = t.tgfoid WHERE t.tgname = %s || c.relname "
                    "AND c.relnamespace = current_schema()::regnamespace", (PREFIX,)).fetchall()}
    for table in tables:
        wanted = _wanted(table)
        if existing.get(table) == wanted:
            continue
        if table in existing:
            conn.execute(f'DROP TRIGGER "{PREFIX}{table}" ON "{table}"')
        if wanted is not None:
            function, args = wanted
            arguments = ", ".join("'" + a.replace("'", "''") + "'" for a in args)
            conn.execute(f'CREATE TRIGGER "{PREFIX}{table}" AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
                         f"FOR EACH ROW EXECUTE FUNCTION {function}({arguments})")
