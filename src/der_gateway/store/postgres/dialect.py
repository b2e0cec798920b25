"""The store's SQL, written for sqlite3, as psycopg sends it to PostgreSQL: only rewrites that are mechanical.

- `?` becomes `%s`, and `?N` a named parameter (`%(pN)s`), outside string literals, quoted names and comments;
  every `%` becomes `%%`, since parameters are always passed.
- `INSERT OR IGNORE INTO t ...` becomes `INSERT INTO t ... ON CONFLICT DO NOTHING`.
- A blob literal `x'0A1B'` becomes `'\\x0A1B'::bytea`.
- `IN ()` and `NOT IN ()` (an empty list, which SQLite takes) become `= ANY('{}')` and `<> ALL('{}')`.
- `IS ?` and `IS NOT ?` become `IS NOT DISTINCT FROM %s` and `IS DISTINCT FROM %s`.
- An INSERT into a table with an identity `id` gets `RETURNING id`, which the cursor keeps as its lastrowid.

What needs judgement (sqlite_sequence, json_each, list_counts' untyped owner...) is listed in
/work/notes/pg_dialect.md for the store's SQL to be made portable instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

_INSERT = re.compile(r"^\s*INSERT\s+(OR\s+IGNORE\s+)?INTO\s+\"?(\w+)\"?", re.IGNORECASE)
_ON_CONFLICT = re.compile(r"\bON\s+CONFLICT\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_IS_PARAMETER = re.compile(r"\bIS(\s+NOT)?\s+$", re.IGNORECASE)
_EMPTY_IN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\bNOT\s+)?\bIN\s*\(\s*\)", re.IGNORECASE)


def _empty_lists(sql: str) -> str:
    def replace(match: re.Match) -> str:
        if match.group(0)[0] in "'\"":
            return match.group(0)
        return "<> ALL('{}')" if match.group(1) else "= ANY('{}')"
    return _EMPTY_IN.sub(replace, sql)


@dataclass(frozen=True)
class Statement:
    sql: str
    numbered: bool  # the parameters are ?N: pass them as a mapping (parameters())
    table: str | None  # the table an INSERT writes to
    returns_id: bool  # RETURNING id was added: the cursor takes it for its lastrowid

    def parameters(self, params: Sequence[Any] | dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        if self.numbered and not isinstance(params, dict):
            return {f"p{i}": value for i, value in enumerate(params, start=1)}
        return params


def _placeholders(sql: str) -> tuple[str, bool]:
    out: list[str] = []
    numbered = False
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "xX" and sql.startswith("'", i + 1) and not (i and (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            j = sql.index("'", i + 2)  # a blob literal: hex digits, then its closing quote
            out.append(f"'\\x{sql[i + 2:j]}'::bytea")
            i = j + 1
        elif ch in ("'", '"'):  # a literal or a quoted name, '' or "" standing for the quote itself
            j = i + 1
            while j < n:
                if sql[j] == ch:
                    if j + 1 < n and sql[j + 1] == ch:
                        j += 2
                        continue
                    break
                j += 1
            out.append(sql[i:j + 1].replace("%", "%%"))
            i = j + 1
        elif ch == "-" and sql.startswith("--", i):
            j = sql.find("\n", i)
            j = n if j < 0 else j
            out.append(sql[i:j].replace("%", "%%"))
            i = j
        elif ch == "?":
            j = i + 1
            while j < n and sql[j].isdigit():
                j += 1
            before = "".join(out)
            negated = _IS_PARAMETER.search(before)
            if negated:  # `x IS ?`: SQLite's null-safe equality
                out = [before[:negated.start()],
                       "IS DISTINCT FROM " if negated.group(1) else "IS NOT DISTINCT FROM "]
            if j > i + 1:
                numbered = True
                out.append(f"%(p{sql[i + 1:j]})s")
            else:
                out.append("%s")
            i = j
        elif ch == "%":
            out.append("%%")
            i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), numbered


# SQLite's hint naming the index a query must use: PostgreSQL's planner chooses alone
_INDEXED_BY = re.compile(r"\bINDEXED BY \w+\s*", re.IGNORECASE)


@lru_cache(maxsize=4096)
def translate(sql: str, identity_tables: frozenset[str]) -> Statement:
    """The PostgreSQL form of one of the store's statements; identity_tables: those with an identity id."""
    text, numbered = _placeholders(_empty_lists(_INDEXED_BY.sub("", sql)))
    insert = _INSERT.match(text)
    table = insert.group(2) if insert else None
    if insert and insert.group(1):
        text = text[:insert.start(1)] + text[insert.end(1):]
        if not _ON_CONFLICT.search(text):
            text = text.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"
    returns_id = bool(insert and table in identity_tables and not _RETURNING.search(text))
    if returns_id:
        text = text.rstrip().rstrip(";") + " RETURNING id"
    return Statement(text, numbered, table, returns_id)
