"""Row counts kept by triggers, so that /metrics reads a count in one lookup instead of counting a table: each is
a row of list_counts (list 'kept', owner the count's name, level 0, bucket 0) holding how many rows of a table
satisfy a condition.  SQLite's triggers and PostgreSQL's (PL/pgSQL, as postgres/triggers.py makes them) keep the
same rows; the migration that adds a count fills it first (backfill).
"""

from __future__ import annotations

from dataclasses import dataclass

from .sqlite_plumbing import Conn

KEPT = "kept"


@dataclass(frozen=True)
class KeptCount:
    name: str
    table: str
    when: str  # a condition over the row's columns, written ROW.column
    columns: str  # the columns an UPDATE must change to change the condition ("" if none can)


END_DEVICES = KeptCount("end_devices", "end_devices", "TRUE", "")
CONTROLS = KeptCount("controls", "controls", "TRUE", "")
CONTROLS_CANCELLED = KeptCount("controls_cancelled", "controls",
                               "(ROW.cancelled_at IS NOT NULL OR ROW.status IN (2, 3))", "cancelled_at, status")
UTILITY_EVENTS = KeptCount("utility_events", "utility_events", "ROW.archived_at IS NULL", "archived_at")
UTILITY_EVENTS_CANCELLED = KeptCount("utility_events_cancelled", "utility_events",
                                     "(ROW.archived_at IS NULL AND ROW.cancelled_at IS NOT NULL)",
                                     "archived_at, cancelled_at")
COUNTS = (END_DEVICES, CONTROLS, CONTROLS_CANCELLED, UTILITY_EVENTS, UTILITY_EVENTS_CANCELLED)

_ROW = f"list = '{KEPT}' AND owner = '{{name}}' AND level = 0 AND bucket = 0"


def _cond(count: KeptCount, row: str) -> str:
    return count.when.replace("ROW.", f"{row}.")


def backfill(count: KeptCount) -> str:
    """SQL (either backend) that writes the count of the rows already there."""
    return (f"INSERT INTO list_counts (list, owner, level, bucket, n) SELECT '{KEPT}', '{count.name}', 0, 0, "
            f"count(*) FROM {count.table} WHERE {count.when.replace('ROW.', '')};\n")


def add(name: str, delta: str, qualified: bool = False) -> str:
    """SQL that adds delta (an SQL expression) to the count: an upsert, so that a count whose row is gone (its
    tables emptied wholesale, as TRUNCATE does without triggers) starts again from 0."""
    n = "list_counts.n" if qualified else "n"
    return (f"INSERT INTO list_counts (list, owner, level, bucket, n) VALUES ('{KEPT}', '{name}', 0, 0, {delta}) "
            f"ON CONFLICT (list, owner, level, bucket) DO UPDATE SET n = {n} + excluded.n;")


def sqlite_triggers(count: KeptCount) -> str:
    name = f"kept_{count.name}"
    sql = (f"CREATE TRIGGER {name}_added AFTER INSERT ON {count.table} WHEN {_cond(count, 'new')} "
           f"BEGIN {add(count.name, '1')} END;\n"
           f"CREATE TRIGGER {name}_removed AFTER DELETE ON {count.table} WHEN {_cond(count, 'old')} "
           f"BEGIN {add(count.name, '-1')} END;\n")
    if count.columns:
        moved = f"CASE WHEN {_cond(count, 'new')} THEN 1 ELSE -1 END"
        sql += (f"CREATE TRIGGER {name}_changed AFTER UPDATE OF {count.columns} ON {count.table} "
                f"WHEN coalesce({_cond(count, 'old')}, 0) != coalesce({_cond(count, 'new')}, 0) BEGIN "
                f"{add(count.name, moved)} END;\n")
    return sql


def postgres_triggers(count: KeptCount) -> str:
    name = f"kept_{count.name}"
    body = "".join(
        f"    IF TG_OP IN {ops} THEN\n        IF coalesce({_cond(count, which)}, FALSE) THEN\n"
        f"            {add(count.name, delta, qualified=True)}\n        END IF;\n    END IF;\n"
        for ops, which, delta in (("('DELETE', 'UPDATE')", "OLD", "-1"), ("('INSERT', 'UPDATE')", "NEW", "1")))
    update = " OR UPDATE OF " + count.columns if count.columns else ""
    return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n{body}"
            "    RETURN NULL;\nEND\n$body$;\n"
            f"CREATE TRIGGER {name} AFTER INSERT OR DELETE{update} ON {count.table} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}();\n")


def kept(c: Conn, count: KeptCount) -> int:
    row = c.execute(f"SELECT n FROM list_counts WHERE {_ROW.format(name=count.name)}").fetchone()
    return int(row[0]) if row else 0
