"""Load-reduction forecast: how many kW a control takes off the grid at a device, for a window.

Sign: P is a device's active power, positive when it delivers power (generation, discharge) and negative when
it draws power (charging, consumption).  The load the device puts on the grid is -P, so the load reduction a
control brings is L_baseline - L_event = P_event - P_baseline.

Telemetry (PowerSeries): each active-power MirrorMeterReading of the device (ReadingType uom 38, W) read as
value x 10^powerOfTenMultiplier; a ReadingType with flowDirection 1 (forward: delivered to the premises) is
the power the device draws and is negated; otherwise (no flowDirection, or 19 reverse) it is what the device
delivers, as DER telemetry (SunSpec 701 W) reports it.  Where a device has a total (phase 0 or absent)
reading, only its totals count; otherwise its per-phase readings add up.  A reading counts with its
timePeriod: weighted by its overlap with the window, or as one second if it has no duration; one without a
timePeriod carries no time and is not used.

Baseline: the windows of the same clock time (in the deployment's time zone) on the like days before the
window's day (like: both weekdays Monday-Friday, or both weekend days), most recent first, looking back at
most `lookback_days`; the first `days` of them that have telemetry are averaged (each day's mean is weighted
by its overlap, then the days count equally).  Without any, for a window that starts within RECENT_HORIZON
seconds of the moment the forecast is made: the device's mean P over the RECENT_SECONDS before that moment
(persistence; basis "recent").  Otherwise: no history, P_baseline = 0 (taken as idle), and the answer says so
(basis "no history").

The level the control imposes (DERControlBase, the standard's units):
  opModConnect or opModEnergize false: P_event = 0.
  opModFixedW (hundredths of a percent; positive: of max_w, negative: of max_charge_w, else max_w): a setpoint.
  opModTargetW (W): a setpoint.
  opModMaxLimW (hundredths of a percent of max_w), opModGenLimW and opModExpLimW (W): caps on output,
      P_event = min(P, cap) (opModExpLimW, a site export limit, is applied to the device's own output).
  opModLoadLimW and opModImpLimW (W): caps on what it draws, P_event = max(P, -cap).
  A setpoint replaces P_baseline, then every cap given applies.  Other modes (volt-var, curves, ...) do not
  change the active power forecast.
Bounded by capability: a setpoint lies within [-max_charge_w, max_w] (max_charge_w: the charge rate, else
max_w for storage, else 0); output is at most statWAvail where the device publishes one; a storage
device's output over the window is at most its stored energy (state of charge x energy_wh) spread over the
window's duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any, Mapping, Sequence

from .device_facts import DeviceFacts, quantity

WATTS = 38  # ReadingType uom
FLOW_FORWARD = 1
RECENT_SECONDS = 900  # the telemetry a persistence baseline averages, before the forecast is made
RECENT_HORIZON = 3600  # how soon a window must start for a persistence baseline to stand for it


@dataclass(frozen=True)
class Sample:
    start: int
    duration: int | None
    watts: float  # P: positive delivered, negative drawn


@dataclass(frozen=True)
class PowerSeries:
    """One active-power MirrorMeterReading of a device: its phase (0: total) and readings."""

    phase: int
    samples: tuple[Sample, ...]


def series_from_reading_type(reading_type: Mapping[str, Any] | None,
                             readings: Sequence[tuple[int | None, int | None, int | None]]) -> PowerSeries | None:
    """A PowerSeries from a ReadingType and its readings (start, duration, value), or None if it is not W."""
    rt = reading_type or {}
    if rt.get("uom") != WATTS:
        return None
    scale = 10.0 ** int(rt.get("powerOfTenMultiplier") or 0)
    sign = -1.0 if rt.get("flowDirection") == FLOW_FORWARD else 1.0
    return PowerSeries(int(rt.get("phase") or 0), tuple(
        Sample(start, duration, sign * value * scale) for start, duration, value in readings
        if start is not None and value is not None))


def like_day_windows(start: int, duration: int, zone: tzinfo, lookback_days: int) -> list[tuple[int, int]]:
    """The same clock-time window on each like day before start's day, most recent first."""
    local = datetime.fromtimestamp(start, zone)
    weekend = local.weekday() >= 5
    windows = []
    for back in range(1, lookback_days + 1):
        day = local - timedelta(days=back)  # wall-clock arithmetic: the same local time that day
        if (day.weekday() >= 5) == weekend:
            s = int(day.timestamp())
            windows.append((s, s + duration))
    return windows


def _mean_in(series: Sequence[PowerSeries], window: tuple[int, int]) -> float | None:
    """The device's mean P over one window: the sum over its series of each one's weighted mean."""
    totals = [s for s in series if s.phase == 0] or list(series)
    lo, hi = window
    found, power = False, 0.0
    for one in totals:
        weight = weighted = 0.0
        for sample in one.samples:
            if sample.duration:
                overlap = min(hi, sample.start + sample.duration) - max(lo, sample.start)
                w = float(overlap) if overlap > 0 else 0.0
            else:
                w = 1.0 if lo <= sample.start < hi else 0.0
            weight += w
            weighted += w * sample.watts
        if weight:
            found = True
            power += weighted / weight
    return power if found else None


@dataclass(frozen=True)
class Baseline:
    watts: float
    days: int  # like days with telemetry that were averaged; 0: no history


def baseline(series: Sequence[PowerSeries], windows: Sequence[tuple[int, int]], days: int) -> Baseline:
    means: list[float] = []
    for window in windows:
        if len(means) == days:
            break
        mean = _mean_in(series, window)
        if mean is not None:
            means.append(mean)
    return Baseline(sum(means) / len(means), len(means)) if means else Baseline(0.0, 0)


@dataclass(frozen=True)
class DeviceForecast:
    baseline_w: float
    event_w: float
    reduction_w: float
    days: int
    basis: str  # "history", "recent" or "no history"


def _pct(value: Any) -> float | None:
    return value / 10_000 if isinstance(value, int) and not isinstance(value, bool) else None


def event_power(base: Mapping[str, Any], baseline_w: float, facts: DeviceFacts, duration: int) -> float:
    """P_event: the level the control imposes on P, bounded by the device's capability."""
    max_w = facts.max_w or 0.0
    charge_w = facts.max_charge_w if facts.max_charge_w is not None else (max_w if facts.storage else 0.0)
    p = baseline_w
    if base.get("opModConnect") is False or base.get("opModEnergize") is False:
        return 0.0
    fixed = _pct(base.get("opModFixedW"))
    target = quantity(base.get("opModTargetW"))
    if fixed is not None:
        p = fixed * (max_w if fixed >= 0 else (facts.max_charge_w or max_w))
    elif target is not None:
        p = target
    if fixed is not None or target is not None:
        p = min(max(p, -charge_w), max_w)
    caps = [c for c in (_pct(base.get("opModMaxLimW")),) if c is not None]
    output_caps = [c * max_w for c in caps] + [c for c in (quantity(base.get("opModGenLimW")),
                                                           quantity(base.get("opModExpLimW"))) if c is not None]
    for cap in output_caps:
        p = min(p, cap)
    for load_cap in (quantity(base.get("opModLoadLimW")), quantity(base.get("opModImpLimW"))):
        if load_cap is not None:
            p = max(p, -load_cap)
    if p > 0 and facts.available_w is not None:
        p = min(p, facts.available_w)
    if p > 0 and facts.storage and facts.energy_wh is not None and facts.state_of_charge is not None \
            and duration > 0:
        p = min(p, facts.energy_wh * facts.state_of_charge / 100 * 3600 / duration)
    return p


def recent_window(start: int, now: int | None) -> tuple[int, int] | None:
    """The window a persistence baseline averages for a forecast made at now of a window starting at start, if
    it is soon enough for one."""
    if now is None or not now <= start <= now + RECENT_HORIZON:
        return None
    return now - RECENT_SECONDS, now


def forecast(base: Mapping[str, Any], facts: DeviceFacts, series: Sequence[PowerSeries],
             windows: Sequence[tuple[int, int]], days: int, duration: int,
             recent: tuple[int, int] | None = None) -> DeviceForecast:
    b = baseline(series, windows, days)
    basis = "history" if b.days else "no history"
    if not b.days and recent is not None:
        mean = _mean_in(series, recent)
        if mean is not None:
            b, basis = Baseline(mean, 0), "recent"
    p = event_power(base, b.watts, facts, duration)
    return DeviceForecast(b.watts, p, p - b.watts, b.days, basis)
