"""The JSON form of interval data: the admin API's answers.  kWh are strings holding the exact decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, TypedDict

from ..domain.settlement.series import Quality, Source
from .json_view import Id, Js, doc
from ..store.settlement_records import IntervalLoadRecord
from ..store.utility_records import ServicePointRecord
from .interval_intake import IntervalWindow as Window

Kwh = Annotated[str, Js(pattern="^-?[0-9]", description="kWh, the exact decimal as a string; positive: drawn from "
                        "the grid at the service point, negative: delivered to it")]


class IntervalLoad(TypedDict):
    batchId: Annotated[Id | None, doc("the batch recorded; when nothing changed, an earlier batch of the same "
                                      "content (null if none)")]
    rows: int
    inserted: int
    replaced: Annotated[int, doc("readings whose duration, kWh or quality changed")]
    unchanged: int


class Reading(TypedDict):
    start: int
    duration: int
    kWh: Kwh
    quality: Quality
    estimated: bool


class Gap(TypedDict):
    start: int
    end: int
    duration: int


class Coverage(TypedDict):
    """seconds of the window covered"""

    seconds: int
    actual: int
    estimated: int
    missing: int
    complete: bool


IntervalWindow = TypedDict("IntervalWindow", {
    "servicePointId": Id, "servicePoint": str, "source": Source, "from": int, "to": int,
    "readings": Annotated[list[Reading], doc("those that overlap the window, by start")],
    "gaps": Annotated[list[Gap], doc("the spans of the window no reading covers (nothing is invented for them)")],
    "estimatedCount": int,
    "totalKWh": Annotated[Kwh, doc("the sum of the readings listed (each whole)")],
    "coverage": Coverage})


def _kwh(value: Decimal) -> str:
    return format(value, "f")  # the exact decimal, never in exponent form


def load(record: IntervalLoadRecord) -> IntervalLoad:
    return {"batchId": record.batch_id, "rows": record.rows, "inserted": record.inserted,
            "replaced": record.replaced, "unchanged": record.unchanged}


def window(sp: ServicePointRecord, w: Window) -> IntervalWindow:
    return {
        "servicePointId": sp.id, "servicePoint": sp.external_id, "source": w.source, "from": w.start, "to": w.end,
        "readings": [{"start": r.start, "duration": r.duration, "kWh": _kwh(r.kwh), "quality": r.quality,
                      "estimated": r.quality == "estimated"} for r in w.readings],
        "gaps": [{"start": a, "end": b, "duration": b - a} for a, b in w.gaps],
        "estimatedCount": sum(1 for r in w.readings if r.quality == "estimated"),
        "totalKWh": _kwh(sum((r.kwh for r in w.readings), Decimal(0))),
        "coverage": {"seconds": w.coverage.window, "actual": w.coverage.actual, "estimated": w.coverage.estimated,
                     "missing": w.coverage.missing, "complete": w.coverage.complete}}
