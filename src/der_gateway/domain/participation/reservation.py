"""Which devices a stage calls: the reservation.

Candidates are the devices the stage may call (eligible under the program's rules, by enrollment), each with its
standing (score, availability and the reasons it is unavailable) and its forecast load reduction in W for the
stage's window and control (forecast.py: positive when the device takes load off the grid, negative when it
adds some, as a curtailed generator does).

The target is a load reduction in W with the same sign: positive to take load off the grid, negative to add load
(curtailing generation, charging storage).  The reservation takes the available candidates best score first
(ties: the larger contribution first, then the lower EndDevice id) until their forecasts add up to the target; a
candidate whose forecast does not move the total toward the target (0 W, or of the other sign) is passed over.
Without a target every eligible candidate is called, available or not, as the whole program would be.  Every
candidate gets a decision with its reason, so that operations can be told why a device was or was not called.
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
        return target_met(self.target_w, self.forecast_w)


def target_met(target_w: float | None, forecast_w: float) -> bool:
    """Whether a forecast reaches the target (as far below zero as a negative one): always, without a target."""
    if target_w is None:
        return True
    return forecast_w <= target_w if target_w < 0 else forecast_w >= target_w


def reserve(candidates: Sequence[Candidate], target_w: float | None) -> Reservation:
    if target_w is None:
        decisions = [Decision(c.end_device_id, True, "no target: every eligible device is called"
                              + ("" if c.available else " (unavailable: " + ("; ".join(c.unavailable_reasons)
                                                                            or "no reason given") + ")"),
                              c.score, c.forecast_w)
                     for c in sorted(candidates, key=lambda c: (not c.available, -c.score, c.end_device_id))]
        return Reservation(tuple(decisions), None, sum(c.forecast_w for c in candidates))
    sign = -1.0 if target_w < 0 else 1.0
    ranked = sorted(candidates, key=lambda c: (not c.available, -c.score, -sign * c.forecast_w, c.end_device_id))
    decisions = []
    total = 0.0
    for c in ranked:
        if not c.available:
            reason = "unavailable: " + ("; ".join(c.unavailable_reasons) or "no reason given")
            decisions.append(Decision(c.end_device_id, False, reason, c.score, c.forecast_w))
        elif sign * total >= sign * target_w:
            decisions.append(Decision(c.end_device_id, False, f"not needed: the target of {target_w:g} W was met",
                                      c.score, c.forecast_w))
        elif sign * c.forecast_w <= 0:
            decisions.append(Decision(c.end_device_id, False, "no forecast toward the target for this stage"
                                      f" ({c.forecast_w:g} W)", c.score, c.forecast_w))
        else:
            total += c.forecast_w
            decisions.append(Decision(c.end_device_id, True, f"score {c.score:g}, forecast {c.forecast_w:g} W "
                                      f"({total:g} of {target_w:g} W)", c.score, c.forecast_w))
    return Reservation(tuple(decisions), target_w, total)
