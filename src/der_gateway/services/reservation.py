"""Reservation of the devices a stage calls (the rule: domain/participation/reservation.py).

When a stage with a target is scheduled, each device its program may call (utility_events.called_devices) is
considered with its standing in the program at that instant (participation.scores_at: score, availability and
why not) and its forecast load reduction for the stage's window and DERControlBase
(participation.forecast_devices).  Every decision is kept with the stage and sent to operations.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..config import Config
from ..domain.participation.reservation import Candidate, Reservation, reserve
from ..store.interface import Store
from ..store.stage_records import ReservationRecord
from . import participation

NOT_SCORED = "not scored in the program"


async def reserve_devices(store: Store, config: Config, program_id: int, eligible: Sequence[tuple[int, str]],
                          start: int, duration: int, base: Mapping[str, Any], target_w: int | None,
                          now: int) -> tuple[Reservation, tuple[ReservationRecord, ...]]:
    """The reservation among the eligible devices, (EndDevice id, lFDI), and its record, in the order
    considered."""
    standings = {s.end_device_id: s for s in await participation.scores_at(store, config, program_id, now)}
    forecast = await participation.forecast_devices(store, config, [e for e, _ in eligible], start, duration, base,
                                                    now)
    reduction = {d.end_device_id: d.forecast.reduction_w for d in forecast.devices}
    candidates = []
    for edev, _ in eligible:
        s = standings.get(edev)
        candidates.append(Candidate(edev, s.score if s else 0.0, s.available if s else False,
                                    s.reasons if s else (NOT_SCORED,), reduction.get(edev, 0.0)))
    result = reserve(candidates, target_w)
    lfdis, available = dict(eligible), {c.end_device_id: c.available for c in candidates}
    records = tuple(ReservationRecord(d.end_device_id, lfdis[d.end_device_id], d.reserved, d.reason,
                                      round(d.score, 3), available[d.end_device_id], round(d.forecast_w, 1), rank)
                    for rank, d in enumerate(result.decisions, start=1))
    return result, records
