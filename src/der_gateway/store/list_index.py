"""Order statistics for long lists: the row at index s of a sorted list, found without walking the rows before it.

2030.5 pages lists by index (s, l), and SQLite's OFFSET walks every row it skips.  So each long list keeps, in
the table list_counts, the number of its rows in nested buckets of its sort key: level 0 the whole list (its
`all`), then three levels of ever finer buckets, each bucket splitting into the buckets of the next level whose
numbers lie in [b << width, (b + 1) << width).  Triggers (migrations.py) keep the counts in the transaction of
every write.  Finding index s reads one short row set per level, then walks at most one deepest bucket's rows.

Sort keys are hash-uniform in practice (sFDIs, hex mRIDs), so the buckets stay even; any key stays correct.
Lists in time order (LogEvents, Responses, Readings, ReadingSets) and by id (Subscriptions) are bucketed on a
64-bit integer packed from the time and a tie-break (WideBuckets: seven levels of eight bits), so that a deepest
bucket holds at most 256 keys however the times cluster; the packed key is a column SQLite computes.
"""

from __future__ import annotations

from typing import Any, Callable

from .sqlite_plumbing import Conn


class KeyBuckets:
    """How a sort key maps to its buckets: level k's bucket of a key, and the least key of a deepest bucket."""
    width = 0  # bits a level adds to a bucket number
    levels = 3  # levels below the whole list

    def bucket(self, key: Any, level: int) -> int:
        raise NotImplementedError

    def least_key(self, bucket: int) -> Any:
        raise NotImplementedError


class IntegerBuckets(KeyBuckets):
    """An integer key (an sFDI, at most 40 bits): level k's bucket is the key's top bits."""
    SHIFTS = (34, 28, 22)
    width = 6

    def bucket(self, key: int, level: int) -> int:
        return key >> self.SHIFTS[level - 1]

    def least_key(self, bucket: int) -> int:
        return bucket << self.SHIFTS[-1]

    @classmethod
    def sql(cls, key: str, level: int) -> str:
        return f"({key} >> {cls.SHIFTS[level - 1]})"


class TextBuckets(KeyBuckets):
    """A text key in SQLite's binary order: level k's bucket is the code points of the first k characters,
    21 bits each (a code point plus one; 0 where the text has ended)."""

    width = 21

    @staticmethod
    def _code(key: str, i: int) -> int:
        return ord(key[i]) + 1 if i < len(key) else 0

    def bucket(self, key: str, level: int) -> int:
        number = 0
        for i in range(level):
            number = (number << 21) | self._code(key, i)
        return number

    def least_key(self, bucket: int) -> str:
        codes = [(bucket >> 42) & 0x1FFFFF, (bucket >> 21) & 0x1FFFFF, bucket & 0x1FFFFF]
        chars = []
        for code in codes:
            if code == 0:
                break
            chars.append(chr(code - 1))
        return "".join(chars)

    @staticmethod
    def sql(key: str, level: int) -> str:
        codes = [f"coalesce(unicode(substr({key}, {i}, 1)) + 1, 0)" for i in range(1, level + 1)]
        return "(" + " | ".join(f"({c} << {21 * (level - 1 - i)})" for i, c in enumerate(codes)) + ")"


class WideBuckets(KeyBuckets):
    """A signed 64-bit key packed from a time and a tie-break (see the *_key_sql functions): seven levels of
    eight bits, so a deepest bucket spans 256 keys however the keys cluster (many rows in one second)."""

    width = 8

    def __init__(self, shifts: tuple[int, ...]) -> None:
        self.shifts = shifts
        self.levels = len(shifts)

    def bucket(self, key: int, level: int) -> int:
        return key >> self.shifts[level - 1]

    def least_key(self, bucket: int) -> int:
        return bucket << self.shifts[-1]

    def sql(self, key: str, level: int) -> str:
        return f"({key} >> {self.shifts[level - 1]})"


LEVELS = 3
SFDI = IntegerBuckets()
MRID = TextBuckets()
WIDE = WideBuckets((56, 48, 40, 32, 24, 16, 8))  # keys packed from a time and a row id
TIME = WideBuckets((24, 16, 8))  # a time alone, as the 32-bit signed high half of a wide key

# Times (TimeType, any Int64) are clamped to [0, 2**32) to fit 32 bits.  A clamped time takes the low half that
# keeps the key in order (the least above the range, the greatest below it), and rows whose keys tie are put in
# order by the list's full ORDER BY within their bucket: the order is exact for any time, and only the bound on a
# bucket's size is lost for times before 1970 or after 2106.


def sqlite_clamp(value: str, high: int) -> str:
    return f"min(max({value}, 0), {high})"


def newest_first_sql(time: str, clamp: Callable[[str, int], str] = sqlite_clamp) -> str:
    """A key's high half that sorts later times first, in [-2**31, 2**31).  clamp: the dialect's
    min(max(value, 0), high)."""
    return f"(2147483647 - {clamp(time, 4294967295)})"


def newest_first_key_sql(time: str, low: str, clamp: Callable[[str, int], str] = sqlite_clamp) -> str:
    """A wide key: later times first, then low (clamped to [0, 2**32)) ascending."""
    return (f"(({newest_first_sql(time, clamp)} << 32) | CASE WHEN {time} > 4294967295 THEN 0 "
            f"WHEN {time} < 0 THEN 4294967295 ELSE {clamp(low, 4294967295)} END)")


def oldest_first_key_sql(time: str, low: str, clamp: Callable[[str, int], str] = sqlite_clamp) -> str:
    """A wide key: earlier times first (a NULL time before every other), then low (clamped) ascending."""
    high = f"(CASE WHEN {time} IS NULL THEN -2147483648 ELSE {clamp(time, 4294967294)} - 2147483647 END)"
    return (f"(({high} << 32) | CASE WHEN {time} < 0 THEN 0 WHEN {time} > 4294967294 THEN 4294967295 "
            f"ELSE {clamp(low, 4294967295)} END)")


def newest_first(time: int) -> int:
    return 2147483647 - min(max(time, 0), 4294967295)


def counting_triggers(table: str, list_name: str, owner: str, key: str, sql_bucket: Any,
                      when: str = "1", columns: str = "", levels: int = LEVELS, name: str = "") -> str:
    """Triggers that keep list_counts for the rows of table: owner and key are column names; a row counts
    while `when` (an expression over the row's columns, as new.x / old.x) holds.  The triggers are named
    after name (default: the table), so that one table can keep two lists."""
    def counts(row: str) -> list[tuple[int, str]]:
        return [(0, "0")] + [(level, sql_bucket(f"{row}.{key}", level)) for level in range(1, levels + 1)]

    def cond(row: str) -> str:
        return when.replace("ROW.", f"{row}.")

    added = ", ".join(f"('{list_name}', new.{owner}, {level}, {bucket}, 1)" for level, bucket in counts("new"))
    add = (f"INSERT INTO list_counts (list, owner, level, bucket, n) SELECT * FROM (VALUES {added}) "
           f"WHERE {cond('new')} ON CONFLICT DO UPDATE SET n = n + 1;")
    remove = "".join(
        f"UPDATE list_counts SET n = n - 1 WHERE list = '{list_name}' AND owner = old.{owner} AND level = {level} "
        f"AND bucket = {bucket} AND {cond('old')}; "
        f"DELETE FROM list_counts WHERE list = '{list_name}' AND owner = old.{owner} AND level = {level} "
        f"AND bucket = {bucket} AND n <= 0; " for level, bucket in counts("old"))
    of = f" OF {columns}" if columns else ""
    name = name or table
    return (f"CREATE TRIGGER {name}_counted AFTER INSERT ON {table} BEGIN {add} END;\n"
            f"CREATE TRIGGER {name}_uncounted AFTER DELETE ON {table} BEGIN {remove} END;\n"
            f"CREATE TRIGGER {name}_recounted AFTER UPDATE{of} ON {table} BEGIN {remove} {add} END;\n")


def bucket_counts(list_name: str, table: str, owner: str, key: str, sql_bucket: Any, where: str = "1",
                  levels: int = LEVELS) -> str:
    """SQL that fills list_counts for the rows of table already there (a migration's back-fill)."""
    return "".join(f"INSERT INTO list_counts (list, owner, level, bucket, n) SELECT '{list_name}', {owner}, {level}, "
                   f"{bucket}, count(*) FROM {table} WHERE {where} GROUP BY {owner}{'' if level == 0 else ', 4'};\n"
                   for bucket, level in [("0", 0)] + [(sql_bucket(key, lv), lv) for lv in range(1, levels + 1)])


def total_triggers(table: str, list_name: str, owner: str, when: str = "1", columns: str = "") -> str:
    """Triggers that keep only the `all` (level 0) of the lists of table's rows, per owner column."""
    def cond(row: str) -> str:
        return when.replace("ROW.", f"{row}.")
    add = (f"INSERT INTO list_counts (list, owner, level, bucket, n) SELECT '{list_name}', new.{owner}, 0, 0, 1 "
           f"WHERE {cond('new')} ON CONFLICT DO UPDATE SET n = n + 1;")
    remove = (f"UPDATE list_counts SET n = n - 1 WHERE list = '{list_name}' AND owner = old.{owner} AND level = 0 "
              f"AND bucket = 0 AND {cond('old')};")
    of = f" OF {columns}" if columns else ""
    return (f"CREATE TRIGGER {table}_counted AFTER INSERT ON {table} BEGIN {add} END;\n"
            f"CREATE TRIGGER {table}_uncounted AFTER DELETE ON {table} BEGIN {remove} END;\n"
            f"CREATE TRIGGER {table}_recounted AFTER UPDATE{of} ON {table} BEGIN {remove} {add} END;\n")


def total(conn: Conn, list_name: str, owner: Any) -> int:
    row = conn.execute("SELECT n FROM list_counts WHERE list = ? AND owner = ? AND level = 0 AND bucket = 0",
                       (list_name, str(owner))).fetchone()
    return row[0] if row else 0


def locate(conn: Conn, list_name: str, owner: Any, index: int,
           buckets: KeyBuckets) -> tuple[Any, int] | None:
    """The least key of the deepest bucket holding the row at index, and that row's index within the bucket;
    None past the end."""
    remaining, parent = index, None
    for level in range(1, buckets.levels + 1):
        if parent is None:
            rows = conn.execute("SELECT bucket, n FROM list_counts WHERE list = ? AND owner = ? AND level = ? "
                                "ORDER BY bucket", (list_name, str(owner), level))
        else:
            rows = conn.execute("SELECT bucket, n FROM list_counts WHERE list = ? AND owner = ? AND level = ? "
                                "AND bucket >= ? AND bucket < ? ORDER BY bucket",
                                (list_name, str(owner), level, parent << buckets.width,
                                 (parent + 1) << buckets.width))
        for bucket, n in rows:
            if remaining < n:
                parent = bucket
                break
            remaining -= n
        else:
            return None
    assert parent is not None  # every level (there is at least one) chose a bucket
    return buckets.least_key(parent), remaining


def rank(conn: Conn, list_name: str, owner: Any, key: Any, buckets: KeyBuckets,
         count_from: str) -> int:
    """How many rows of the list have a key below key.  count_from is a query counting the list's rows with
    keys in [?, ?) (the least key of key's deepest bucket, then key), parameters (owner, low, high)."""
    before, parent = 0, None
    for level in range(1, buckets.levels + 1):
        bucket = buckets.bucket(key, level)
        low = 0 if parent is None else parent << buckets.width
        if parent is None:
            row = conn.execute("SELECT sum(n) FROM list_counts WHERE list = ? AND owner = ? AND level = ? "
                               "AND bucket < ?", (list_name, str(owner), level, bucket)).fetchone()
        else:
            row = conn.execute("SELECT sum(n) FROM list_counts WHERE list = ? AND owner = ? AND level = ? "
                               "AND bucket >= ? AND bucket < ?", (list_name, str(owner), level, low,
                                                                  bucket)).fetchone()
        before += row[0] or 0
        parent = bucket
    return before + conn.execute(count_from, (owner, buckets.least_key(bucket), key)).fetchone()[0]
