"""Network-location files: which transformer, feeder and substation each service point sits on.

An import file maps service points (by their external id) to a transformer, a
feeder and a substation, as CSV:

    service_point,transformer,feeder,substation
    SP-1001,T-17,F12,SUB-NORTH

or as JSON: [{"servicePoint": "SP-1001", "transformer": "T-17", "feeder": "F12",
"substation": "SUB-NORTH"}, ...].  The file also states the network's hierarchy:
each transformer hangs off one feeder, each feeder off one substation, so a file
naming a feeder under two substations (or a transformer under two feeders) is
refused.  An `initial` load replaces every location; an `incremental` one adds
or updates the given rows and leaves the rest.

This module only reads and checks a file; it knows nothing of the store.  Every
problem comes back at once, each as {"field": ..., "reason": ...}: the field
is "line N.column" for CSV (N counting the header as line 1) and "[i].key" for
JSON (i from 0).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

from ..sep.json_form import Plain

KINDS = ("substation", "feeder", "transformer")  # top down: each kind's parent is the one before it
PARENT_KIND = {"feeder": "substation", "transformer": "feeder"}
MODES = ("initial", "incremental")
FORMATS = ("csv", "json")

MAX_NAME = 64
# a row of a JSON file (an array of them); a CSV file has the same columns, servicePoint as service_point
ROW = {"servicePoint": Plain(str, required=True, max_length=MAX_NAME, description="the service point's externalId"),
       **{kind: Plain(str, required=True, max_length=MAX_NAME) for kind in reversed(KINDS)}}
MIN_ROWS = 1
WRAPPED = "items"  # a JSON file may also be {"items": [row, ...]}, the shape the admin API lists with

CSV_COLUMNS = ("service_point", "transformer", "feeder", "substation")
JSON_KEYS = tuple(ROW)
_KEY_OF_COLUMN = dict(zip(CSV_COLUMNS, JSON_KEYS))

DESCRIPTION_MAX = 32  # FunctionSetAssignments.description is a String32
_NOT_ALLOWED = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

Problem = dict[str, str]


@dataclass(frozen=True)
class LocationRow:
    service_point: str
    transformer: str
    feeder: str
    substation: str
    where: str  # how errors name this row: "line 3" or "[2]"

    def field(self, key: str) -> str:
        """The error field for one of this row's values, by its JSON key."""
        if self.where.startswith("["):
            return f"{self.where}.{key}"
        column = {v: k for k, v in _KEY_OF_COLUMN.items()}[key]
        return f"{self.where}.{column}"


def problem(reason: str, field: str | None = None) -> Problem:
    return {"field": field, "reason": reason} if field is not None else {"reason": reason}


def description(kind: str, name: str) -> str:
    """The FSA group's description, e.g. "feeder F12", cut to the schema's 32 characters."""
    return f"{kind} {name}"[:DESCRIPTION_MAX]


def _value(raw: Any, field: str, errors: list[Problem], rule: Plain) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        errors.append(problem("required", field))
        return ""
    if not isinstance(raw, str):
        errors.append(problem("must be a string", field))
        return ""
    value = raw.strip()
    if rule.max_length is not None and len(value) > rule.max_length:
        errors.append(problem(f"at most {rule.max_length} characters", field))
    elif _NOT_ALLOWED.search(value):
        errors.append(problem("contains a control character", field))
    return value


def parse_csv(text: str) -> tuple[list[LocationRow], list[Problem]]:
    """Rows of a CSV file with a header naming the four columns (in any order); blank lines are skipped."""
    errors: list[Problem] = []
    text = text.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [problem(f"malformed CSV: {exc}", "line 1")]
    if header is None or not any(h.strip() for h in header):
        return [], [problem(f"the file needs a header line: {','.join(CSV_COLUMNS)}", "line 1")]
    names = [h.strip().lower() for h in header]
    for name in names:
        if name not in CSV_COLUMNS:
            errors.append(problem(f"unknown column {name!r}; the columns are {', '.join(CSV_COLUMNS)}", "line 1"))
    for column in CSV_COLUMNS:
        if names.count(column) > 1:
            errors.append(problem(f"column {column} appears more than once", "line 1"))
        elif column not in names:
            errors.append(problem(f"missing column {column}", "line 1"))
    if errors:
        return [], errors
    rows: list[LocationRow] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            where = f"line {line}"
            if len(cells) != len(names):
                errors.append(problem(f"{len(cells)} values for {len(names)} columns", where))
                continue
            found = dict(zip(names, cells))
            values = {column: _value(found[column], f"{where}.{column}", errors, ROW[_KEY_OF_COLUMN[column]])
                      for column in CSV_COLUMNS}
            rows.append(LocationRow(values["service_point"], values["transformer"], values["feeder"],
                                    values["substation"], where))
    except csv.Error as exc:
        errors.append(problem(f"malformed CSV: {exc}", f"line {reader.line_num}"))
    return rows, errors


def parse_json(data: Any) -> tuple[list[LocationRow], list[Problem]]:
    """Rows of a JSON array of {"servicePoint", "transformer", "feeder", "substation"} objects."""
    if isinstance(data, dict) and set(data) == {WRAPPED}:
        data = data[WRAPPED]
    if not isinstance(data, list):
        return [], [problem("must be a JSON array of {servicePoint, transformer, feeder, substation} objects",
                            "(body)")]
    errors: list[Problem] = []
    rows: list[LocationRow] = []
    for i, item in enumerate(data):
        where = f"[{i}]"
        if not isinstance(item, dict):
            errors.append(problem("must be a JSON object", where))
            continue
        for key in item:
            if key not in JSON_KEYS:
                errors.append(problem("unknown field", f"{where}.{key}"))
        values = {key: _value(item.get(key), f"{where}.{key}", errors, rule) for key, rule in ROW.items()}
        rows.append(LocationRow(values["servicePoint"], values["transformer"], values["feeder"],
                                values["substation"], where))
    return rows, errors


def parse(raw: bytes | str, fmt: str) -> tuple[list[LocationRow], list[Problem]]:
    """Reads a file in `fmt` ("csv" or "json") and checks it as a whole (see check_rows)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return [], [problem(f"the file is not UTF-8: {exc}", "(body)")]
    else:
        text = raw
    if fmt == "csv":
        rows, errors = parse_csv(text)
    elif fmt == "json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return [], [problem(f"malformed JSON: {exc}", "(body)")]
        rows, errors = parse_json(data)
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    return rows, errors + check_rows(rows)


def format_of(filename: str) -> str | None:
    """The format a file name implies, if any."""
    lower = filename.lower()
    return "csv" if lower.endswith(".csv") else "json" if lower.endswith(".json") else None


def check_rows(rows: list[LocationRow]) -> list[Problem]:
    """What is wrong with the rows taken together: no rows, a service point twice, a feeder under two
    substations, a transformer under two feeders."""
    if len(rows) < MIN_ROWS:
        return [problem("the file has no rows", "(body)")]
    errors: list[Problem] = []
    first_row: dict[str, LocationRow] = {}
    parent_of: dict[tuple[str, str], tuple[str, LocationRow]] = {}
    for row in rows:
        if row.service_point:
            seen = first_row.setdefault(row.service_point, row)
            if seen is not row:
                errors.append(problem(f"service point {row.service_point} is also in {seen.where}",
                                      row.field("servicePoint")))
        for kind, name, parent in (("transformer", row.transformer, row.feeder),
                                   ("feeder", row.feeder, row.substation)):
            if not name or not parent:
                continue
            known = parent_of.setdefault((kind, name), (parent, row))
            if known[0] != parent:
                parent_kind = PARENT_KIND[kind]
                errors.append(problem(
                    f"{kind} {name} is under {parent_kind} {known[0]} in {known[1].where}; "
                    f"a {kind} has one {parent_kind}", row.field(parent_kind)))
    return errors


@dataclass(frozen=True)
class Hierarchy:
    """The locations a set of rows names, each with its parent's name (None for a substation)."""

    substations: frozenset[str]
    feeders: dict[str, str]  # feeder -> substation
    transformers: dict[str, str]  # transformer -> feeder


def hierarchy(rows: list[LocationRow]) -> Hierarchy:
    """The hierarchy of rows that passed check_rows."""
    return Hierarchy(frozenset(r.substation for r in rows), {r.feeder: r.substation for r in rows},
                     {r.transformer: r.feeder for r in rows})
