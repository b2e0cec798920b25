"""Which devices a stage calls: the reservation.

Candidates are the devices the stage may call (eligible under the program's rules, by enrollment), each with its
standing (score, availability and the reasons it is unavailable) and its forecast reduction in W for the stage's
window and control.  The reservation takes the available candidates best score first (ties: the larger forecast
first, then the lower EndDevice id) until their forecasts add up to the target; without a target it takes every
available candidate.  A candidate that cannot help (a forecast of 0 W or less, while a target is being met) is
passed over.  Every candidate gets a decision with its reason, so that operations can be told why a device was or
was not called.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Candidate:
    end_device_id: int
    score: float  # 0..100
    available: bool
    unavailable_reasons: tuple[str, ...]
    forecast_w: float  # the forecast reduction during the stage


@dataclass(frozen=True)
class Decision:
    end_device_id: int
    reserved: bool
    reason: str
    score: float
    forecast_w: float


@dataclass(frozen=True)
class Reservation:
    decisions: tuple[Decision, ...]  # in the order considered
    target_w: float | None
    forecast_w: float  # of the reserved devices

    @property
    def reserved(self) -> list[int]:
        return [d.end_device_id for d in self.decisions if d.reserved]

    @property
    def met(self) -> bool:
        return self.target_w is None or self.forecast_w >= self.target_w


def reserve(candidates: Sequence[Candidate], target_w: float | None) -> Reservation:
    ranked = sorted(candidates, key=lambda c: (not c.available, -c.score, -c.forecast_w, c.end_device_id))
    decisions: list[Decision] = []
    total = 0.0
    for c in ranked:
        if not c.available:
            reason = "unavailable: " + ("; ".join(c.unavailable_reasons) or "no reason given")
            decisions.append(Decision(c.end_device_id, False, reason, c.score, c.forecast_w))
        elif target_w is None:
            total += c.forecast_w
            decisions.append(Decision(c.end_device_id, True, "available (no target: every available device)",
                                      c.score, c.forecast_w))
        elif total >= target_w:
            decisions.append(Decision(c.end_device_id, False, f"not needed: the target of {target_w:g} W was met",
                                      c.score, c.forecast_w))
        elif c.forecast_w <= 0:
            decisions.append(Decision(c.end_device_id, False, "no reduction forecast for this stage",
                                      c.score, c.forecast_w))
        else:
            total += c.forecast_w
            decisions.append(Decision(c.end_device_id, True, f"score {c.score:g}, forecast {c.forecast_w:g} W "
                                      f"({total:g} of {target_w:g} W)", c.score, c.forecast_w))
    return Reservation(tuple(decisions), target_w, total)
