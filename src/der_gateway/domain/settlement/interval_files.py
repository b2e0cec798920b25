"""Interval files from the customer-billing system (CIS): energy per service point and interval.

CSV, a header line then one reading a line (columns in any order, names case-insensitive):

    servicePoint,start,duration,kWh,quality,flow
    SP-1001,2027-01-15T08:00:00+10:00,1800,1.25,actual,import

or JSON, {"readings": [{"servicePoint": ..., "start": ..., "duration": ..., "kWh": ..., "quality": ...,
"flow": ...}, ...]}.  servicePoint: the service point's external id.  start: ISO 8601 with a UTC offset (or
Z), or Unix seconds.  duration: seconds, from 60 to 86400, dividing a day evenly.  kWh: a decimal, read
exactly as written (in JSON a number or a string).  quality: actual (the default) or estimated.  flow
(optional): import (drawn from the grid, the default) or export (delivered to it), with kWh then a
magnitude (not negative); without flow, a negative kWh is an export.

This module only reads and checks a file; it knows nothing of the store.  Every problem comes back at once,
each as {"field": ..., "reason": ...}: the field is "line N.column" for CSV (N counting the header as line 1)
and "readings[i].key" for JSON (i from 0).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from ...sep.json_form import Plain
from ..refusals import Problem, problem
from .series import QUALITIES, IntervalReading, Quality

FORMATS = ("csv", "json")
FLOWS = ("import", "export")
DAY = 86_400
MIN_DURATION = 60
MAX_ID = 64
# a reading: a JSON file's {"readings": [reading, ...]}, or a CSV line under a header naming these columns (every
# value then text); in JSON a number stands for its text
READING = {
    "servicePoint": Plain((str, float), required=True, max_length=MAX_ID, description="the service point's "
                          "externalId"),
    "start": Plain((str, int), required=True, description="ISO 8601 with a UTC offset (or Z), or Unix seconds"),
    "duration": Plain((int, str), required=True, minimum=MIN_DURATION, maximum=DAY, description="seconds (or "
                      "their digits), dividing a day evenly: 300, 900, 1800, 3600, ..."),
    "kWh": Plain((float, str), required=True, description="a decimal, read exactly as written; without flow, "
                 "negative is energy delivered to the grid"),
    "quality": Plain(str, nullable=True, choices=QUALITIES, description="default actual"),
    "flow": Plain(str, nullable=True, choices=FLOWS, description="import (drawn from the grid, the default) or "
                  "export (delivered to it), kWh then a magnitude")}
FILE = {"readings": Plain(list, required=True, min_items=1, description="at most interval_file_max_rows")}
KEYS = tuple(READING)
REQUIRED = tuple(key for key, rule in READING.items() if rule.required)
MAX_KWH = Decimal(10) ** 9  # no interval at one service point comes near a TWh
MAX_PLACES = 9  # digits after the point
MAX_PROBLEMS = 1000  # a file this wrong is listed up to here
_NOT_ALLOWED = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_UNIX = re.compile(r"-?[0-9]{1,12}")
_DECIMAL = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")


@dataclass(frozen=True)
class IntervalRow:
    """One reading of a file: the service point's external id, the reading, and where the file has it."""

    service_point: str
    reading: IntervalReading
    where: str  # "line 3" or "readings[2]"

    def field(self, key: str) -> str:
        return f"{self.where}.{key}"


def _text(raw: Any, field: str, errors: list[Problem]) -> str | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, (int, Decimal)) and not isinstance(raw, bool):
        return str(raw)
    if not isinstance(raw, str):
        errors.append(problem("must be a string or a number", field))
        return None
    return raw.strip()


def parse_start(value: str) -> int | None:
    """Unix seconds from Unix seconds or ISO 8601 with a UTC offset; None if it is neither (or has no offset)."""
    if _UNIX.fullmatch(value):
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    return int(moment.timestamp()) if moment.microsecond == 0 else None


def parse_kwh(value: str) -> Decimal | None:
    """The exact decimal written, or None unless it is a finite decimal number."""
    if not _DECIMAL.fullmatch(value):
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        return None


def _check_row(values: dict[str, Any], where: str, errors: list[Problem], named: list[tuple[str, str]],
               prior: list[Problem] | None = None) -> IntervalRow | None:
    """The row, or None with its problems added to errors (prior: those found already, of fields set to None);
    named gets (service point, where) of a row that names one well, valid or not."""
    found: list[Problem] = list(prior or ())

    def field(key: str) -> str:
        return f"{where}.{key}"

    texts = {key: _text(values.get(key), field(key), found) for key in KEYS}
    for key in REQUIRED:
        if texts[key] is None and not any(p.get("field") == field(key) for p in found):
            found.append(problem("required", field(key)))
    service_point = texts["servicePoint"]
    if service_point is not None:
        if len(service_point) > MAX_ID:
            found.append(problem(f"at most {MAX_ID} characters", field("servicePoint")))
        elif _NOT_ALLOWED.search(service_point):
            found.append(problem("contains a control character", field("servicePoint")))
        else:
            named.append((service_point, where))
    start = None
    if texts["start"] is not None:
        start = parse_start(texts["start"])
        if start is None:
            found.append(problem("must be ISO 8601 with a UTC offset (2027-01-15T08:00:00+10:00) or Unix seconds",
                                 field("start")))
    duration = None
    if texts["duration"] is not None:
        raw = texts["duration"]
        if not re.fullmatch(r"[0-9]{1,6}", raw):
            found.append(problem("must be a whole number of seconds", field("duration")))
        elif not MIN_DURATION <= int(raw) <= DAY or DAY % int(raw):
            found.append(problem(f"must be {MIN_DURATION} to {DAY} seconds and divide a day evenly "
                                 "(300, 900, 1800, 3600, ...)", field("duration")))
        else:
            duration = int(raw)
    kwh = None
    if texts["kWh"] is not None:
        kwh = parse_kwh(texts["kWh"])
        if kwh is None:
            found.append(problem("must be a decimal number", field("kWh")))
        elif abs(kwh) >= MAX_KWH:
            found.append(problem(f"must be less than {MAX_KWH} in magnitude", field("kWh")))
            kwh = None
        elif _places(kwh) > MAX_PLACES:
            found.append(problem(f"at most {MAX_PLACES} digits after the point", field("kWh")))
            kwh = None
    quality = texts["quality"] or "actual"
    if quality not in QUALITIES:
        found.append(problem(f"must be one of {', '.join(QUALITIES)}", field("quality")))
    flow = texts["flow"]
    if flow is not None and flow not in FLOWS:
        found.append(problem(f"must be one of {', '.join(FLOWS)}", field("flow")))
    elif flow is not None and kwh is not None and kwh < 0:
        found.append(problem("with a flow, kWh is a magnitude and must not be negative", field("kWh")))
    errors += found
    if found or service_point is None or start is None or duration is None or kwh is None:
        return None
    signed = -kwh if flow == "export" else kwh
    return IntervalRow(service_point, IntervalReading(start, duration, signed, _quality(quality), "cis"), where)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _quality(value: str) -> Quality:
    return "estimated" if value == "estimated" else "actual"


def parse_csv(text: str, max_rows: int,
              named: list[tuple[str, str]] | None = None) -> tuple[list[IntervalRow], list[Problem]]:
    named = [] if named is None else named
    errors: list[Problem] = []
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return [], [problem(f"malformed CSV: {exc}", "line 1")]
    if header is None or not any(h.strip() for h in header):
        return [], [problem(f"the file needs a header line: {','.join(KEYS)} (quality and flow optional)",
                            "line 1")]
    by_lower = {k.lower(): k for k in KEYS}
    names = [by_lower.get(h.strip().lower(), "") for h in header]
    for raw, name in zip(header, names):
        if not name:
            errors.append(problem(f"unknown column {raw.strip()!r}; the columns are {', '.join(KEYS)}", "line 1"))
    for key in KEYS:
        if names.count(key) > 1:
            errors.append(problem(f"column {key} appears more than once", "line 1"))
        elif key in REQUIRED and key not in names:
            errors.append(problem(f"missing column {key}", "line 1"))
    if errors:
        return [], errors
    rows: list[IntervalRow] = []
    count = 0
    try:
        for cells in reader:
            where = f"line {reader.line_num}"
            if not any(c.strip() for c in cells):
                continue
            count += 1
            if count > max_rows:
                errors.append(problem(f"the file has more than {max_rows} readings; split it", where))
                break
            if len(cells) != len(names):
                errors.append(problem(f"{len(cells)} values for {len(names)} columns", where))
                continue
            row = _check_row(dict(zip(names, cells)), where, errors, named)
            if row is not None:
                rows.append(row)
            if len(errors) >= MAX_PROBLEMS:
                break
    except csv.Error as exc:
        errors.append(problem(f"malformed CSV: {exc}", f"line {reader.line_num}"))
    return rows, errors


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, max_rows: int,
               named: list[tuple[str, str]] | None = None) -> tuple[list[IntervalRow], list[Problem]]:
    named = [] if named is None else named
    try:  # numbers as exact decimals: 0.1 stays 0.1
        data = json.loads(text, parse_float=Decimal, object_pairs_hook=_no_duplicates,
                          parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        return [], [problem(f"malformed JSON: {exc}", "(body)")]
    if not isinstance(data, dict) or not isinstance(data.get("readings"), list):
        return [], [problem('must be a JSON object {"readings": [...]}', "(body)")]
    errors = [problem("unknown field", key) for key in data if key not in FILE]
    items = data["readings"]
    if len(items) > max_rows:
        return [], errors + [problem(f"the file has {len(items)} readings, more than {max_rows}; split it",
                                     "readings")]
    rows: list[IntervalRow] = []
    for i, item in enumerate(items):
        where = f"readings[{i}]"
        if not isinstance(item, dict):
            errors.append(problem("must be a JSON object", where))
            continue
        errors += [problem(f"unknown field (the fields are {', '.join(KEYS)})", f"{where}.{key}")
                   for key in item if key not in KEYS]
        prior: list[Problem] = []
        for key in ("start", "duration", "kWh"):
            if isinstance(item.get(key), bool):
                prior.append(problem("must be a number" if key != "start" else "must be a string or a number",
                                     f"{where}.{key}"))
                item = {**item, key: None}
        if isinstance(item.get("duration"), Decimal):
            prior.append(problem("must be a whole number of seconds", f"{where}.duration"))
            item = {**item, "duration": None}
        row = _check_row(item, where, errors, named, prior)
        if row is not None:
            rows.append(row)
        if len(errors) >= MAX_PROBLEMS:
            break
    return rows, errors


def check_rows(rows: Iterable[IntervalRow]) -> list[Problem]:
    """What is wrong with the rows taken together: a service point's interval given twice, or two of its
    intervals overlapping."""
    errors: list[Problem] = []
    by_point: dict[str, list[IntervalRow]] = {}
    for row in rows:
        by_point.setdefault(row.service_point, []).append(row)
    for point, mine in by_point.items():
        mine.sort(key=lambda r: (r.reading.start, r.reading.duration))
        for before, row in zip(mine, mine[1:]):
            if row.reading.start == before.reading.start:
                errors.append(problem(f"service point {point} has an interval starting at {row.reading.start} "
                                      f"in {before.where} already", row.field("start")))
            elif row.reading.start < before.reading.end:
                errors.append(problem(f"overlaps the interval of service point {point} in {before.where}",
                                      row.field("start")))
    return errors


@dataclass(frozen=True)
class ParsedFile:
    rows: list[IntervalRow]  # the rows without a problem of their own
    problems: list[Problem]
    named: list[tuple[str, str]]  # (service point, where) of every row naming one, so that an unknown one is
    # reported even in a row with other problems


def parse(raw: bytes | str, fmt: str, max_rows: int) -> tuple[list[IntervalRow], list[Problem]]:
    parsed = parse_file(raw, fmt, max_rows)
    return parsed.rows, parsed.problems


def parse_file(raw: bytes | str, fmt: str, max_rows: int) -> ParsedFile:
    """Reads a file in `fmt` ("csv" or "json") and checks every row and the rows together; a file with any
    problem is to be refused whole."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return ParsedFile([], [problem(f"the file is not UTF-8: {exc}", "(body)")], [])
    else:
        text = raw
    named: list[tuple[str, str]] = []
    if fmt == "csv":
        rows, errors = parse_csv(text, max_rows, named)
    elif fmt == "json":
        rows, errors = parse_json(text, max_rows, named)
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if not rows and not errors:
        errors.append(problem("the file has no readings", "(body)"))
    return ParsedFile(rows, (errors + check_rows(rows))[:MAX_PROBLEMS], named)


def unknown_point_problems(named: Iterable[tuple[str, str]], unknown: set[str]) -> list[Problem]:
    """A problem for each (service point, where) naming one of the unknown."""
    return [problem(f"no service point {point}", f"{where}.servicePoint") for point, where in named
            if point in unknown]


def format_of(filename: str) -> str | None:
    """The format a file name implies, if any."""
    lower = filename.lower()
    return "csv" if lower.endswith(".csv") else "json" if lower.endswith(".json") else None
