"""PL/pgSQL counterparts of SQLite's list triggers (store/list_index.py and migration 8).

The buckets are computed as list_index's IntegerBuckets and TextBuckets compute them in Python, so that
list_index.locate and rank read the same counts on either backend.
"""

from __future__ import annotations

from typing import Callable

from ..list_index import LEVELS, IntegerBuckets, TextBuckets


def integer_bucket(key: str, level: int) -> str:
    return f"({key} >> {IntegerBuckets.SHIFTS[level - 1]})"


def text_bucket(key: str, level: int) -> str:
    # a code point plus one per character, 0 past the end (substr gives '' there, and ascii('') is 0)
    width = TextBuckets.width
    codes = [f"coalesce(nullif(ascii(substr({key}, {i}, 1)), 0) + 1, 0)::bigint" for i in range(1, level + 1)]
    return "(" + " | ".join(f"({c} << {width * (level - 1 - i)})" for i, c in enumerate(codes)) + ")"


BUCKETS = {"integer": integer_bucket, "text": text_bucket}


def _trigger(table: str, name: str, body: str, columns: str, update: bool = True) -> str:
    """A row trigger on insert, delete and (unless not `update`) an update of columns (of any, if none)."""
    of = (" OR UPDATE" + (f" OF {columns}" if columns else "")) if update else ""
    return (f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $body$\nBEGIN\n{body}"
            "    RETURN NULL;\nEND\n$body$;\n"
            f"CREATE TRIGGER {name} AFTER INSERT OR DELETE{of} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {name}();\n")


def _on(row: str, when: str, statements: str) -> str:
    ops = "('DELETE', 'UPDATE')" if row == "OLD" else "('INSERT', 'UPDATE')"
    return (f"    IF TG_OP IN {ops} THEN\n        IF {when.replace('ROW.', row + '.')} THEN\n"
            f"            {statements}\n        END IF;\n    END IF;\n")


def list_count_triggers(table: str, list_name: str, owner: str, key: str, kind: str | Callable[[str, int], str],
                        when: str = "TRUE", columns: str = "", levels: int = LEVELS, name: str | None = None) -> str:
    """Keeps list_counts for table's rows at every level, as list_index.counting_triggers does; kind names the
    buckets of a key ("integer", "text") or is list_index's bucket SQL (a WideBuckets' sql), which PostgreSQL
    speaks as SQLite does."""
    bucket = BUCKETS[kind] if isinstance(kind, str) else kind

    def pairs(row: str) -> str:
        return ", ".join(["(0, 0::bigint)"] + [f"({level}, {bucket(f'{row}.{key}', level)})"
                                               for level in range(1, levels + 1)])
    where = f"list = '{list_name}' AND owner = OLD.{owner}::text AND (level, bucket) IN (VALUES {pairs('OLD')})"
    remove = (f"UPDATE list_counts SET n = n - 1 WHERE {where};\n"
              f"            DELETE FROM list_counts WHERE {where} AND n <= 0;")
    add = (f"INSERT INTO list_counts (list, owner, level, bucket, n) SELECT '{list_name}', NEW.{owner}::text, "
           f"level, bucket, 1 FROM (VALUES {pairs('NEW')}) AS b (level, bucket)\n"
           "                ON CONFLICT (list, owner, level, bucket) DO UPDATE SET n = list_counts.n + 1;")
    return _trigger(table, name or f"{table}_counted", _on("OLD", when, remove) + _on("NEW", when, add), columns)


def bucket_counts(list_name: str, table: str, owner: str, key: str, bucket: Callable[[str, int], str],
                  where: str = "TRUE", levels: int = LEVELS) -> str:
    """Fills list_counts for the rows of table already there, as list_index.bucket_counts does."""
    return "".join(f"INSERT INTO list_counts (list, owner, level, bucket, n) SELECT '{list_name}', {owner}::text, "
                   f"{level}, {sql}, count(*) FROM {table} WHERE {where} GROUP BY {owner}"
                   f"{'' if level == 0 else ', 4'};\n"
                   for sql, level in [("0", 0)] + [(bucket(key, lv), lv) for lv in range(1, levels + 1)])


def drop_list_triggers(table: str) -> str:
    return f"DROP TRIGGER {table}_counted ON {table};\nDROP FUNCTION {table}_counted();\n"


def list_count_increments(table: str, list_name: str, owner: str, key: str, kind: str, rows: str) -> str:
    """What list_count_triggers' trigger adds for many inserted rows of table at once (those matching `rows`, an
    expression over the table's columns, with parameters): one upsert per bucket instead of one per row and
    level.  A row trigger run for each of many rows in one transaction updates the same few list_counts rows
    again and again, and each update must walk the versions the transaction has already left of that row, so
    such a load takes time quadratic in its rows."""
    bucket = BUCKETS[kind]
    pairs = ", ".join(["(0, 0::bigint)"] + [f"({level}, {bucket(f't.{key}', level)})"
                                            for level in range(1, LEVELS + 1)])
    return (f"INSERT INTO list_counts (list, owner, level, bucket, n) SELECT '{list_name}', t.{owner}::text, "
            f"b.level, b.bucket, count(*) FROM {table} t CROSS JOIN LATERAL (VALUES {pairs}) AS b (level, bucket) "
            f"WHERE {rows} GROUP BY t.{owner}, b.level, b.bucket "
            "ON CONFLICT (list, owner, level, bucket) DO UPDATE SET n = list_counts.n + excluded.n")


def list_total_triggers(table: str, list_name: str, owner: str, when: str = "TRUE", columns: str = "") -> str:
    """Keeps only each list's total (level 0), as list_index.total_triggers does."""
    remove = (f"UPDATE list_counts SET n = n - 1 WHERE list = '{list_name}' AND owner = OLD.{owner}::text "
              "AND level = 0 AND bucket = 0;")
    add = (f"INSERT INTO list_counts (list, owner, level, bucket, n) VALUES ('{list_name}', NEW.{owner}::text, 0, 0, 1)\n"
           "                ON CONFLICT (list, owner, level, bucket) DO UPDATE SET n = list_counts.n + 1;")
    return _trigger(table, f"{table}_counted", _on("OLD", when, remove) + _on("NEW", when, add), columns)


def end_device_view_triggers() -> str:
    """Keeps end_device_views: who sees an EndDevice in their list besides the device itself (its owner and the
    clients granted access), as SQLite's end_devices_* and end_device_access_* triggers do."""
    devices = """    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        DELETE FROM end_device_views WHERE end_device_id = OLD.id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        IF NEW.owner_lfdi != NEW.lfdi THEN
            INSERT INTO end_device_views (viewer, sfdi, end_device_id) VALUES (NEW.owner_lfdi, NEW.sfdi, NEW.id);
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        INSERT INTO end_device_views (viewer, sfdi, end_device_id)
            SELECT client_lfdi, NEW.sfdi, NEW.id FROM end_device_access
            WHERE end_device_id = NEW.id AND client_lfdi != NEW.lfdi AND client_lfdi != NEW.owner_lfdi;
    END IF;
"""
    access = """    IF TG_OP = 'INSERT' THEN
        INSERT INTO end_device_views (viewer, sfdi, end_device_id)
            SELECT NEW.client_lfdi, e.sfdi, e.id FROM end_devices e
            WHERE e.id = NEW.end_device_id AND NEW.client_lfdi != e.lfdi AND NEW.client_lfdi != e.owner_lfdi;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM end_device_views WHERE viewer = OLD.client_lfdi AND sfdi = (
            SELECT sfdi FROM end_devices WHERE id = OLD.end_device_id AND lfdi != OLD.client_lfdi
                AND owner_lfdi != OLD.client_lfdi);
    END IF;
"""
    return (_trigger("end_devices", "end_devices_viewed", devices, "lfdi, sfdi, owner_lfdi")
            + _trigger("end_device_access", "end_device_access_viewed", access, "", update=False))
