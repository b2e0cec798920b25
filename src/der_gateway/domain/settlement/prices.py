"""Prices of energy over an event's timeline, per program.

A program's pricing is one of:
  fixed   one price per kWh for every event;
  hourly  a price per kWh for each hour, loaded ahead (a tariff's time-of-use or a day-ahead schedule);
  market  a price per kWh for each market interval (5 to 60 minutes), loaded after the fact.
Prices are exact decimals in the pricing's currency (ISO 4217) per kWh; a market price given per MWh is divided
by 1000 by whoever loads it.  `price_segments` lays a window over the prices and reports, never fills, the
stretches no price covers.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Sequence

from ...sep.json_form import Plain, check_plain

Kind = Literal["fixed", "hourly", "market"]
KINDS: tuple[Kind, ...] = ("fixed", "hourly", "market")
# the interval lengths each kind's prices may have, in seconds
DURATIONS: dict[str, tuple[int, ...]] = {"hourly": (3600,), "market": (300, 900, 1800, 3600)}
MAX_PRICE = Decimal(100_000)  # per kWh, either sign
MAX_ROWS = 100_000
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$")

Problem = dict[str, str]


class PricingError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p["reason"] for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Pricing:
    kind: Kind
    currency: str
    fixed_price: Decimal | None = None  # per kWh, for "fixed"


@dataclass(frozen=True)
class PricePoint:
    start: int
    duration: int
    price: Decimal  # per kWh

    @property
    def end(self) -> int:
        return self.start + self.duration


@dataclass(frozen=True)
class Segment:
    """A stretch of a window and its price per kWh; None where no price covers it."""

    start: int
    end: int
    price: Decimal | None


def problem(reason: str, field: str | None = None) -> Problem:
    return {"reason": reason, **({"field": field} if field else {})}


def decimal(raw: Any, field: str, problems: list[Problem]) -> Decimal | None:
    """An exact decimal from a string or a JSON number (read from its text, never through a float's error)."""
    text = raw if isinstance(raw, str) else repr(raw) if type(raw) in (int, float) else None
    if text is None or not _DECIMAL.match(text.strip()):
        problems.append(problem("must be a decimal number", field))
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover (the pattern admits only what Decimal reads)
        problems.append(problem("must be a decimal number", field))
        return None
    if abs(value) > MAX_PRICE:
        problems.append(problem(f"must lie within ±{MAX_PRICE} per kWh", field))
        return None
    return value


PRICING = {
    "kind": Plain(str, required=True, choices=KINDS),
    "currency": Plain(str, pattern="[A-Z]{3}", reason="must be an ISO 4217 code, three capital letters",
                      description="ISO 4217 (default USD)"),
    "pricePerKWh": Plain(Decimal, description="fixed pricing only (required for it)")}


# a price file: {"prices": [row, ...]} in JSON, or these columns in CSV (every value then text)
PRICE_ROW = {
    "start": Plain((int, str), required=True, description="Unix seconds, or ISO 8601 with a UTC offset; on a "
                   "duration boundary"),
    "duration": Plain((int, str), required=True, description="seconds (a JSON integer or its digits): hourly "
                      "3600; market " + ", ".join(map(str, DURATIONS["market"]))),
    "pricePerKWh": Plain(Decimal, required=True, description=f"per kWh, within ±{MAX_PRICE}")}
PRICE_FILE = {"prices": Plain(list, required=True, min_items=1, max_items=MAX_ROWS)}
CSV_COLUMNS = tuple(PRICE_ROW)
_DIGITS = re.compile("[0-9]+")


def parse_pricing(body: Any) -> Pricing:
    """A program's pricing from its JSON form; PricingError naming each problem."""
    values, problems = check_plain(body, PRICING)
    kind, currency = values.get("kind"), values.get("currency", "USD")
    fixed = None
    if kind == "fixed":
        if "pricePerKWh" not in body:
            problems.append(problem("required for fixed pricing", "pricePerKWh"))
        elif "pricePerKWh" in values:
            fixed = decimal(values["pricePerKWh"], "pricePerKWh", problems)
    elif kind is not None and "pricePerKWh" in values:
        problems.append(problem("only fixed pricing has one price; load the others' prices", "pricePerKWh"))
    if problems:
        raise PricingError(problems)
    return Pricing(kind, currency, fixed)  # type: ignore[arg-type]


def _start(raw: Any, field: str, problems: list[Problem]) -> int | None:
    if type(raw) is int:
        return raw
    if isinstance(raw, str):
        text = raw.strip()
        if _DIGITS.fullmatch(text):
            return int(text)
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return int(moment.timestamp())
    problems.append(problem("must be Unix seconds or ISO 8601 with a UTC offset", field))
    return None


def _duration(raw: Any, kind: Kind, field: str, problems: list[Problem]) -> int | None:
    value = int(raw) if isinstance(raw, str) and _DIGITS.fullmatch(raw.strip()) else raw if type(raw) is int else None
    allowed = DURATIONS.get(kind, ())
    if value is None or value not in allowed:
        problems.append(problem(f"must be one of {', '.join(map(str, allowed))} seconds for {kind} prices", field))
        return None
    return value


def _point(row: dict[str, Any], kind: Kind, where: str, problems: list[Problem]) -> PricePoint | None:
    mine: list[Problem] = [problem("unknown field", f"{where}.{k}") for k in row if k not in PRICE_ROW]
    for column, rule in PRICE_ROW.items():
        if rule.required and row.get(column) in (None, ""):
            mine.append(problem("required", f"{where}.{column}"))
    if mine:
        problems.extend(mine)
        return None
    start = _start(row["start"], f"{where}.start", mine)
    duration = _duration(row["duration"], kind, f"{where}.duration", mine)
    price = decimal(row["pricePerKWh"], f"{where}.pricePerKWh", mine)
    if start is not None and duration is not None and start % duration:
        mine.append(problem(f"must be on a {duration} s boundary", f"{where}.start"))
    problems.extend(mine)
    if mine or start is None or duration is None or price is None:
        return None
    return PricePoint(start, duration, price)


def parse_prices(raw: bytes | str, fmt: str, kind: Kind) -> list[PricePoint]:
    """The rows of a CSV (header: start,duration,pricePerKWh) or JSON ({"prices": [...]}) price file, in order;
    PricingError naming every bad row (CSV: "line N", JSON: "prices[i]") if any is."""
    if kind not in DURATIONS:
        raise PricingError([problem(f"{kind} pricing has no prices to load: it has one price")])
    text = raw.decode("utf-8-sig", errors="strict") if isinstance(raw, bytes) else raw
    rows: list[tuple[str, dict[str, Any]]] = []
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or [f.strip() for f in reader.fieldnames] != list(CSV_COLUMNS):
            raise PricingError([problem(f"the header must be {','.join(CSV_COLUMNS)}", "line 1")])
        rows = [(f"line {reader.line_num}", {k.strip(): v for k, v in r.items() if k is not None})
                for r in reader]
    elif fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PricingError([problem(f"not JSON: {exc}")]) from None
        if not isinstance(data, dict) or set(data) != set(PRICE_FILE) or not isinstance(data["prices"], list):
            raise PricingError([problem('must be {"prices": [...]}')])
        for i, row in enumerate(data["prices"]):
            if not isinstance(row, dict):
                raise PricingError([problem("must be an object", f"prices[{i}]")])
            rows.append((f"prices[{i}]", row))
    else:
        raise PricingError([problem("the format must be csv or json")])
    if not rows:
        raise PricingError([problem("no prices")])
    if len(rows) > MAX_ROWS:
        raise PricingError([problem(f"at most {MAX_ROWS} prices a file")])
    problems: list[Problem] = []
    points: list[tuple[str, PricePoint]] = []
    for where, row in rows:
        point = _point(row, kind, where, problems)
        if point is not None:
            points.append((where, point))
    ordered = sorted(points, key=lambda item: item[1].start)
    for (_, before), (where, after) in zip(ordered, ordered[1:]):
        if after.start < before.end:
            problems.append(problem(f"overlaps the price from {before.start}", f"{where}.start"))
    if problems:
        raise PricingError(problems)
    return [p for _, p in points]


def price_segments(pricing: Pricing, points: Sequence[PricePoint], start: int, end: int) -> list[Segment]:
    """The window [start, end) cut where its price changes, in time order, gaps included (price None)."""
    if pricing.kind == "fixed":
        return [Segment(start, end, pricing.fixed_price)]
    segments: list[Segment] = []
    at = start
    for p in sorted(points, key=lambda p: p.start):
        if p.end <= at or p.start >= end:
            continue
        if p.start > at:
            segments.append(Segment(at, p.start, None))
        segments.append(Segment(max(at, p.start), min(end, p.end), p.price))
        at = min(end, p.end)
    if at < end:
        segments.append(Segment(at, end, None))
    return segments
