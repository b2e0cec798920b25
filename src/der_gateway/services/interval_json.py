"""The JSON form of interval data: the admin API's answers.  kWh are strings holding the exact decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ..store.settlement_records import IntervalLoadRecord
from ..store.utility_records import ServicePointRecord
from .interval_intake import IntervalWindow


def _kwh(value: Decimal) -> str:
    return format(value, "f")  # the exact decimal, never in exponent form


def load(record: IntervalLoadRecord) -> dict[str, Any]:
    return {"batchId": record.batch_id, "rows": record.rows, "inserted": record.inserted,
            "replaced": record.replaced, "unchanged": record.unchanged}


def window(sp: ServicePointRecord, w: IntervalWindow) -> dict[str, Any]:
    return {
        "servicePointId": sp.id, "servicePoint": sp.external_id, "source": w.source, "from": w.start, "to": w.end,
        "readings": [{"start": r.start, "duration": r.duration, "kWh": _kwh(r.kwh), "quality": r.quality,
                      "estimated": r.quality == "estimated"} for r in w.readings],
        "gaps": [{"start": a, "end": b, "duration": b - a} for a, b in w.gaps],
        "estimatedCount": sum(1 for r in w.readings if r.quality == "estimated"),
        "totalKWh": _kwh(sum((r.kwh for r in w.readings), Decimal(0))),
        "coverage": {"seconds": w.coverage.window, "actual": w.coverage.actual, "estimated": w.coverage.estimated,
                     "missing": w.coverage.missing, "complete": w.coverage.complete}}
