"""The load-reduction forecast (domain/participation/forecast.py) on synthetic histories with known answers."""

from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from der_gateway.domain.participation.device_facts import DeviceFacts
from der_gateway.domain.participation.forecast import (PowerSeries, Sample, baseline, event_power, forecast,
                                                       like_day_windows, recent_window, series_from_reading_type)

DAY = 86_400
WED = 1_799_859_600  # Wednesday 2027-01-13 17:00 UTC
HOUR = 3600


def facts(**overrides) -> DeviceFacts:
    values = dict(max_w=4000.0, max_charge_w=None, energy_wh=None, storage=False, connected=True, fault=False,
                  off=False, state_of_charge=None, status_time=None, available_w=None, availability_time=None,
                  settings_time=None)
    values.update(overrides)
    return DeviceFacts(**values)


def flat(start: int, end: int, watts: float, step: int = 300) -> list[Sample]:
    """Readings of `step` seconds each, all `watts`, covering [start, end)."""
    return [Sample(t, step, watts) for t in range(start, end, step)]


def test_like_days_are_the_same_clock_time_on_earlier_weekdays_or_weekend_days():
    # Tuesday, Monday, (the weekend skipped), Friday, Thursday, Wednesday
    assert like_day_windows(WED, HOUR, timezone.utc, 7) == [
        (WED - d * DAY, WED - d * DAY + HOUR) for d in (1, 2, 5, 6, 7)]
    saturday = WED + 3 * DAY
    assert like_day_windows(saturday, HOUR, timezone.utc, 8) == [
        (saturday - d * DAY, saturday - d * DAY + HOUR) for d in (6, 7)]  # Sunday, Saturday before


def test_like_days_keep_the_local_clock_time_across_a_daylight_saving_change():
    sydney = ZoneInfo("Australia/Sydney")
    wednesday = 1_807_081_200  # 2027-04-07 17:00 AEST; daylight saving ended on Sunday 4 April
    windows = like_day_windows(wednesday, HOUR, sydney, 5)
    friday_aedt = 1_806_645_600  # 2027-04-02 17:00 AEDT: an hour earlier in UTC than 5 x 24 h before
    assert [w[0] for w in windows] == [wednesday - DAY, wednesday - 2 * DAY, friday_aedt]


def test_readings_are_watts_by_their_multiplier_and_forward_flow_is_drawn_power():
    rt = {"uom": 38, "powerOfTenMultiplier": 2, "phase": 0}
    series = series_from_reading_type(rt, [(WED, 300, 25), (WED + 300, 300, None), (None, 300, 9)])
    assert series == PowerSeries(0, (Sample(WED, 300, 2500.0),))
    drawn = series_from_reading_type({"uom": 38, "flowDirection": 1, "phase": 128}, [(WED, 300, 1500)])
    assert drawn == PowerSeries(128, (Sample(WED, 300, -1500.0),))
    assert series_from_reading_type({"uom": 72}, [(WED, 300, 1)]) is None  # Wh: not power


def test_the_baseline_averages_the_most_recent_like_days_with_telemetry():
    windows = like_day_windows(WED, HOUR, timezone.utc, 14)
    tue, mon, fri = windows[0][0], windows[1][0], windows[2][0]
    # Tuesday 2000 W, Monday nothing, Friday 3000 W for the first half hour and 1000 W for the second,
    # and readings outside the windows that must not count
    samples = (flat(tue, tue + HOUR, 2000) + flat(fri, fri + HOUR // 2, 3000) + flat(fri + HOUR // 2, fri + HOUR, 1000)
               + flat(tue + HOUR, tue + 2 * HOUR, 9999) + flat(mon - HOUR, mon, 9999))
    series = [PowerSeries(0, tuple(samples))]
    assert baseline(series, windows, 10).watts == (2000 + 2000) / 2
    assert baseline(series, windows, 10).days == 2
    assert baseline(series, windows, 1).watts == 2000 and baseline(series, windows, 1).days == 1
    assert baseline([], windows, 10).days == 0 and baseline([], windows, 10).watts == 0


def test_a_reading_counts_by_its_overlap_and_totals_win_over_phases():
    window = [(WED, WED + HOUR)]
    # one 15-minute reading 3000 W half inside the window (450 s) and one 4000 W reading wholly inside (900 s)
    partial = PowerSeries(0, (Sample(WED - 450, 900, 3000), Sample(WED + 600, 900, 4000)))
    assert baseline([partial], window, 1).watts == pytest.approx((450 * 3000 + 900 * 4000) / 1350)
    # per-phase readings add up, unless a total is there
    a, b = PowerSeries(128, tuple(flat(WED, WED + HOUR, 1000))), PowerSeries(64, tuple(flat(WED, WED + HOUR, 500)))
    assert baseline([a, b], window, 1).watts == 1500
    total = PowerSeries(0, tuple(flat(WED, WED + HOUR, 1400)))
    assert baseline([a, b, total], window, 1).watts == 1400
    # an instantaneous reading counts as one second
    assert baseline([PowerSeries(0, (Sample(WED + 10, None, 700), Sample(WED + 20, 0, 900)))], window, 1).watts == 800


@pytest.mark.parametrize("base, baseline_w, device, expected", [
    # opModMaxLimW 50.00% of setMaxW 4000 caps output at 2000: a PV at 3000 W loses 1000 W (more load)
    ({"opModMaxLimW": 5000}, 3000.0, facts(), 2000.0),
    ({"opModMaxLimW": 5000}, 1500.0, facts(), 1500.0),  # under the cap: unchanged
    ({"opModGenLimW": {"value": 12, "multiplier": 2}}, 3000.0, facts(), 1200.0),
    ({"opModExpLimW": {"value": 0, "multiplier": 0}}, 3000.0, facts(), 0.0),
    # a battery told to discharge at 100.00%: its 5000 W, but 50% of 13.5 kWh spread over 2 h is 3375 W
    ({"opModFixedW": 10000}, -1000.0, facts(max_w=5000.0, storage=True, energy_wh=13500.0, state_of_charge=50.0),
     3375.0),
    # charging at 50.00% of its charge rate 3000 W
    ({"opModFixedW": -5000}, 0.0, facts(max_w=5000.0, max_charge_w=3000.0, storage=True), -1500.0),
    # a PV cannot be told to draw power
    ({"opModFixedW": -5000}, 1000.0, facts(), 0.0),
    # a target above what DERAvailability offers
    ({"opModTargetW": {"value": 3, "multiplier": 3}}, 0.0, facts(available_w=2500.0), 2500.0),
    # an EV charger drawing 7 kW, limited to 1 kW (opModLoadLimW), or 2 kW import (opModImpLimW)
    ({"opModLoadLimW": {"value": 1000, "multiplier": 0}}, -7000.0, facts(max_w=7000.0), -1000.0),
    ({"opModImpLimW": {"value": 2, "multiplier": 3}}, -7000.0, facts(max_w=7000.0), -2000.0),
    ({"opModConnect": False}, -500.0, facts(), 0.0),
    ({"opModEnergize": False, "opModFixedW": 10000}, 2000.0, facts(), 0.0),
    ({"opModFixedVar": {"refType": 1, "value": {"value": 10, "multiplier": 0}}}, 1234.0, facts(), 1234.0),
    # a setpoint, then a cap
    ({"opModFixedW": 10000, "opModMaxLimW": 2500}, 0.0, facts(), 1000.0),
])
def test_the_level_each_mode_imposes(base, baseline_w, device, expected):
    assert event_power(base, baseline_w, device, 2 * HOUR) == pytest.approx(expected)


def test_a_forecast_is_the_event_power_less_the_baseline():
    windows = like_day_windows(WED, 2 * HOUR, timezone.utc, 28)
    battery = facts(max_w=5000.0, storage=True, energy_wh=13500.0, state_of_charge=80.0)
    charging = [PowerSeries(0, tuple(flat(s, e, -1200))) for s, e in windows[:3]]
    result = forecast({"opModFixedW": 6000}, battery, charging, windows, 10, 2 * HOUR)
    # discharging at 60% of 5000 W = 3000 W instead of charging at 1200 W: 4200 W less load
    assert (result.baseline_w, result.event_w, result.reduction_w, result.days, result.basis) == (
        -1200.0, 3000.0, 4200.0, 3, "history")
    # without telemetry the device is taken as idle
    bare = forecast({"opModFixedW": 6000}, battery, [], windows, 10, 2 * HOUR)
    assert (bare.baseline_w, bare.reduction_w, bare.days, bare.basis) == (0.0, 3000.0, 0, "no history")


def test_without_like_days_a_window_soon_takes_the_last_quarter_hour_as_its_baseline():
    windows = like_day_windows(WED, HOUR, timezone.utc, 28)
    pv = facts(max_w=5000.0)
    now = WED - 600  # ten minutes before the window
    # 4000 W for the last 15 minutes (the 5 minutes before that, at 1000 W, are out of the window)
    producing = [PowerSeries(0, tuple(flat(now - 1200, now - 900, 1000) + flat(now - 900, now, 4000)))]
    recent = recent_window(WED, now)
    assert recent == (now - 900, now)
    result = forecast({"opModMaxLimW": 3000}, pv, producing, windows, 10, HOUR, recent)
    # capped at 30 % of 5000 W = 1500 W while it delivered 4000 W: 2500 W more load (a negative reduction)
    assert (result.baseline_w, result.event_w, result.reduction_w, result.basis) == (4000.0, 1500.0, -2500.0,
                                                                                   "recent")
    # like days win over recent telemetry; a window more than an hour away, or past, gets no persistence
    history = producing + [PowerSeries(0, tuple(flat(s, e, 2000))) for s, e in windows[:1]]
    assert forecast({"opModMaxLimW": 3000}, pv, history, windows, 10, HOUR, recent).basis == "history"
    assert recent_window(WED, WED - HOUR - 1) is None and recent_window(WED, WED + 1) is None
    assert forecast({"opModMaxLimW": 3000}, pv, producing, windows, 10, HOUR, None).basis == "no history"
