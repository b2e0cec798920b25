"""Profiles: what a PV array could give (irradiance) or what a battery is asked for (dispatch).

A profile is any callable ``profile(t) -> float`` where ``t`` is the clock's
time (epoch seconds). A PV profile returns the available fraction of the
rating (0..1); a battery profile returns the dispatched fraction of the rating,
signed as SunSpec's W is: positive discharges (injects), negative charges.
Noise is added by the simulator, not here.
"""

from __future__ import annotations

import math
import time
from bisect import bisect_right
from typing import Callable, Sequence

Profile = Callable[[float], float]


def _hour_of_day(t: float) -> float:
    lt = time.localtime(t)
    return lt.tm_hour + lt.tm_min / 60.0 + (t % 60.0) / 3600.0


class Constant:
    """The same value at every instant (tests, benchmarks)."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def __call__(self, t: float) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"Constant({self.value})"


class ClearSky:
    """A clear-sky day by local time: zero before sunrise and after sunset, a sine-shaped bell in between.

    ``hour`` lets a caller pin the time of day (e.g. ``hour=12`` for noon
    whatever the wall clock says); ``peak`` scales the whole curve.
    """

    def __init__(self, sunrise: float = 6.0, sunset: float = 18.0, peak: float = 1.0, hour: float | None = None) -> None:
        if not 0 <= sunrise < sunset <= 24:
            raise ValueError("need 0 <= sunrise < sunset <= 24")
        self.sunrise, self.sunset, self.peak, self.hour = sunrise, sunset, peak, hour
        self._cache_key = -1
        self._cache_val = 0.0

    def __call__(self, t: float) -> float:
        key = int(t)  # one evaluation per second serves the whole fleet
        if key != self._cache_key:
            h = self.hour if self.hour is not None else _hour_of_day(t)
            if h <= self.sunrise or h >= self.sunset:
                v = 0.0
            else:
                x = (h - self.sunrise) / (self.sunset - self.sunrise)
                v = self.peak * math.sin(math.pi * x) ** 1.3
            self._cache_key, self._cache_val = key, v
        return self._cache_val

    def __repr__(self) -> str:
        return f"ClearSky(sunrise={self.sunrise}, sunset={self.sunset}, peak={self.peak}, hour={self.hour})"


class Scripted:
    """Piecewise-constant steps over elapsed time: ``[(0, 1.0), (30, 0.2), ...]`` (seconds from the first call)."""

    def __init__(self, steps: Sequence[tuple[float, float]], repeat: bool = False) -> None:
        if not steps:
            raise ValueError("at least one step")
        self.times = [float(s[0]) for s in steps]
        self.values = [float(s[1]) for s in steps]
        self.repeat = repeat
        self.t0: float | None = None

    def __call__(self, t: float) -> float:
        if self.t0 is None:
            self.t0 = t
        e = t - self.t0
        if self.repeat and self.times[-1] > 0:
            e %= self.times[-1]
        i = bisect_right(self.times, e) - 1
        return self.values[max(i, 0)]


class DailyDispatch:
    """A household battery's day by local time: charge from midday solar, discharge in the evening peak.

    The schedule is ``[(start_hour, fraction), ...]``, each holding until the next.
    """

    DEFAULT = ((0.0, 0.1), (6.0, 0.0), (10.0, -0.6), (15.0, 0.0), (17.0, 0.7), (21.0, 0.2), (23.0, 0.1))

    def __init__(self, schedule: Sequence[tuple[float, float]] = DEFAULT, hour: float | None = None) -> None:
        self.hours = [float(h) for h, _ in schedule]
        self.values = [float(v) for _, v in schedule]
        self.hour = hour

    def __call__(self, t: float) -> float:
        h = self.hour if self.hour is not None else _hour_of_day(t)
        i = bisect_right(self.hours, h) - 1
        return self.values[i]


def parse(spec: str, kind: str) -> Profile:
    """A profile from a command-line spec: ``clear-sky``, ``clear-sky@12`` (pinned hour), ``constant:0.8``, ``daily``."""
    spec = spec.strip()
    if spec.startswith("constant:"):
        return Constant(float(spec.split(":", 1)[1]))
    if spec in ("clear-sky", "clearsky"):
        return ClearSky()
    if spec.startswith(("clear-sky@", "clearsky@")):
        return ClearSky(hour=float(spec.split("@", 1)[1]))
    if spec in ("daily", "dispatch"):
        return DailyDispatch()
    if spec.startswith(("daily@", "dispatch@")):
        return DailyDispatch(hour=float(spec.split("@", 1)[1]))
    raise ValueError(f"unknown {kind} profile {spec!r} (clear-sky, clear-sky@HOUR, daily, daily@HOUR, constant:X)")


def default_for(kind: str) -> Profile:
    return ClearSky() if kind == "pv" else DailyDispatch()
