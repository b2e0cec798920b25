"""Baselines and kWh avoided (domain/settlement/baselines.py) against answers worked out by hand.

The history most tests share, in Australia/Sydney (AEST, UTC+10, no daylight saving in June 2026): one reading
per local hour, 1.000 kWh, from Monday 1 June 00:00 to the event's end, Wednesday 17 June 18:00, except the
hours listed in HISTORY (None: no reading, a gap).  Monday 8 June is a holiday; Thursday 11 June was an earlier
event day of the service point (excluded).  The event: Wednesday 17 June, 16:00-18:00.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from der_gateway.domain.settlement.baseline_parameters import (ComparableDay, HighXOfY, MeterBefore,
                                                               method_document, parse_method)
from der_gateway.domain.settlement.baselines import kwh_avoided, round_kwh
from der_gateway.domain.settlement.like_days import Calendar
from der_gateway.domain.settlement.series import Coverage, IntervalReading

SYDNEY = ZoneInfo("Australia/Sydney")
NEW_YORK = ZoneInfo("America/New_York")
HOUR = 3600
D = Decimal

HISTORY: dict[str, dict[int, str | None]] = {
    "2026-06-05": {16: "1.8", 17: "2.0"},                        # Fri
    "2026-06-06": {16: "3.0", 17: "3.0"},                        # Sat
    "2026-06-07": {16: "2.0", 17: "2.0"},                        # Sun
    "2026-06-08": {16: "4.0", 17: "4.0"},                        # Mon, holiday
    "2026-06-10": {13: "1.2", 14: "1.2", 16: "2.5", 17: "2.5"},  # Wed
    "2026-06-11": {16: "5.0", 17: "5.0"},                        # Thu, earlier event day
    "2026-06-12": {16: None},                                    # Fri, 16:00-17:00 missing
    "2026-06-13": {16: "2.4", 17: "2.6"},                        # Sat
    "2026-06-15": {13: "1.4", 14: "1.25", 16: "1.5", 17: "1.5"},  # Mon
    "2026-06-16": {16: "2.0", 17: "2.2"},                        # Tue
    "2026-06-17": {13: "1.3", 14: "1.3", 16: "0.9", 17: "0.8"},  # Wed, the event day
}
CALENDAR = Calendar(SYDNEY, holidays=frozenset({date(2026, 6, 8)}), excluded=frozenset({date(2026, 6, 11)}))


def at(day: str, hour: int, zone: ZoneInfo = SYDNEY, minute: int = 0) -> int:
    return int(datetime.combine(date.fromisoformat(day), time(hour, minute), zone).timestamp())


def hourly(table: dict[str, dict[int, str | None]], first: str, end: int, zone: ZoneInfo = SYDNEY,
           estimated: frozenset[tuple[str, int]] = frozenset()) -> list[IntervalReading]:
    """A reading per local hour from first 00:00 until end: table's value, else 1.000 kWh."""
    readings, day = [], date.fromisoformat(first)
    while True:
        for hour in range(24):
            start = at(day.isoformat(), hour, zone)
            if start >= end:
                return readings
            kwh = table.get(day.isoformat(), {}).get(hour, "1.000")
            if kwh is not None:
                quality = "estimated" if (day.isoformat(), hour) in estimated else "actual"
                readings.append(IntervalReading(start, HOUR, D(kwh), quality))
        day += timedelta(days=1)


START, END = at("2026-06-17", 16), at("2026-06-17", 18)
READINGS = hourly(HISTORY, "2026-06-01", END)
# 3 of 5 weekdays, adjusted by the ratio over 13:00-15:00 (2 hours ending 1 hour before the start)
HIGH_3_OF_5 = HighXOfY(weekday_highest=3, weekday_days=5, adjustment_hours=2, adjustment_gap_hours=1)


def test_high_x_of_y_chooses_the_highest_like_days_and_caps_the_ratio_adjustment():
    result = kwh_avoided(READINGS, START, END, HIGH_3_OF_5, CALENDAR, interval_seconds=HOUR)
    # like days back from Wed 17: Tue 16 (2.0 + 2.2 = 4.2), Mon 15 (3.0), [Sun 14, Sat 13: weekend], Fri 12
    # (a gap: skipped), [Thu 11: excluded], Wed 10 (5.0), Tue 9 (2.0), [Mon 8: holiday, Sun 7, Sat 6], Fri 5 (3.8)
    # highest 3: Wed 10 (5.0), Tue 16 (4.2), Fri 5 (3.8)
    assert result.days_used == (date(2026, 6, 16), date(2026, 6, 10), date(2026, 6, 5))
    # 16:00 (2.0 + 2.5 + 1.8) / 3 = 2.1; 17:00 (2.2 + 2.5 + 2.0) / 3 = 6.7/3; total 13/3 = 4.333...
    assert result.unadjusted_baseline_kwh == D("4.333")
    # 13:00-15:00: chosen days (2.0 + 2.4 + 2.0) / 3 = 6.4/3; event day 2.6; 2.6 / (6.4/3) = 1.21875 -> cap 1.2
    assert result.adjustment == D("1.200000")
    # baseline 13/3 x 1.2 = 5.2: 2.1 x 1.2 = 2.52 and 6.7/3 x 1.2 = 2.68; measured 0.9 + 0.8 = 1.7
    assert result.baseline_kwh == D("5.200")
    assert result.measured_kwh == D("1.700")
    assert result.kwh_avoided == D("3.500")
    assert [(i.baseline_kwh, i.measured_kwh) for i in result.intervals] == [(D("2.520"), D("0.900")),
                                                                             (D("2.680"), D("0.800"))]
    assert [(i.start, i.end) for i in result.intervals] == [(START, START + HOUR), (START + HOUR, END)]
    assert result.quality == "complete" and result.missing == ()
    assert result.window_coverage == Coverage(2 * HOUR, 2 * HOUR, 0)
    # inputs: the 5 like days' window (2 h) and adjustment window (2 h) images, and the event day's 2 h
    assert result.baseline_coverage == Coverage(22 * HOUR, 22 * HOUR, 0)
    assert result.method_document()["name"] == "high-x-of-y"


def test_high_x_of_y_uncapped_ratio_is_rounded_only_at_the_end():
    result = kwh_avoided(READINGS, START, END, replace(HIGH_3_OF_5, adjustment_max=D("1.3")), CALENDAR,
                         interval_seconds=HOUR)
    # factor 1.21875 within [0.8, 1.3]: 13/3 x 1.21875 = 5.28125 -> 5.281 (half to even at the 4th place)
    assert result.adjustment == D("1.218750")
    assert result.baseline_kwh == D("5.281")
    assert result.kwh_avoided == D("3.581")  # 5.281 - 1.700
    # 2.1 x 1.21875 = 2.559375 -> 2.559; 6.7/3 x 1.21875 = 2.721875 -> 2.722
    assert [i.baseline_kwh for i in result.intervals] == [D("2.559"), D("2.722")]


def test_high_x_of_y_difference_adjustment_is_capped_in_proportion_to_the_baseline():
    result = kwh_avoided(READINGS, START, END, replace(HIGH_3_OF_5, adjustment="difference"), CALENDAR,
                         interval_seconds=HOUR)
    # 2.6 - 6.4/3 = 1.4/3, capped at (1.2 - 1) x 6.4/3 = 1.28/3 kWh over the 2 h adjustment window:
    # 0.64/3 = 0.213333 kW added to each hour of the window
    assert result.adjustment == D("0.213333")
    # 16:00 2.1 + 0.64/3 = 2.31333 -> 2.313; 17:00 6.7/3 + 0.64/3 = 7.34/3 = 2.44667 -> 2.447
    assert [i.baseline_kwh for i in result.intervals] == [D("2.313"), D("2.447")]
    assert result.baseline_kwh == D("4.760")  # 14.28/3
    assert result.kwh_avoided == D("3.060")


def test_high_x_of_y_prorates_readings_at_the_window_edges():
    method = replace(HIGH_3_OF_5, adjustment="none")
    start, end = at("2026-06-17", 16, minute=30), at("2026-06-17", 17, minute=30)
    result = kwh_avoided(READINGS, start, end, method, CALENDAR, interval_seconds=HOUR)
    # 16:30-17:30 takes half of each hourly reading: Tue 16 1.0 + 1.1 = 2.1, Mon 15 1.5, Wed 10 2.5,
    # Tue 9 1.0, Fri 5 0.9 + 1.0 = 1.9; highest 3: 2.5, 2.1, 1.9 -> 6.5/3 = 2.1667
    assert result.days_used == (date(2026, 6, 16), date(2026, 6, 10), date(2026, 6, 5))
    assert result.baseline_kwh == D("2.167")
    assert result.measured_kwh == D("0.850")  # 0.45 + 0.40
    assert result.kwh_avoided == D("1.317")
    assert result.window_coverage == Coverage(HOUR, HOUR, 0)


def test_high_x_of_y_on_a_weekend_takes_weekend_days_and_holidays_with_the_defaults():
    start, end = at("2026-06-14", 16), at("2026-06-14", 18)
    result = kwh_avoided(READINGS, start, end, HighXOfY(), CALENDAR, interval_seconds=HOUR)
    # defaults: 4 of 4 weekend-like days: Sat 13, Mon 8 (holiday), Sun 7, Sat 6 (Fri 12 .. Tue 9: weekdays)
    assert result.days_used == (date(2026, 6, 13), date(2026, 6, 8), date(2026, 6, 7), date(2026, 6, 6))
    # 16:00 (2.4 + 4 + 2 + 3) / 4 = 2.85; 17:00 (2.6 + 4 + 2 + 3) / 4 = 2.9
    # ratio over 12:00-15:00 (3 h ending 1 h before): every day 3.0, so 3.0 / 3.0 = 1
    assert result.adjustment == D("1.000000")
    assert [i.baseline_kwh for i in result.intervals] == [D("2.850"), D("2.900")]
    assert result.baseline_kwh == D("5.750")
    assert result.kwh_avoided == D("3.750")  # measured 1.0 + 1.0
    assert result.quality == "complete"


def test_like_days_of_a_holiday_are_weekend_days_and_other_holidays():
    calendar = Calendar(SYDNEY, holidays=frozenset({date(2026, 6, 8), date(2026, 6, 1)}))
    assert list(calendar.like_days(date(2026, 6, 8), 8)) == [date(2026, 6, 7), date(2026, 6, 6), date(2026, 6, 1),
                                                             date(2026, 5, 31)]
    assert list(CALENDAR.like_days(date(2026, 6, 17), 9)) == [
        date(2026, 6, 16), date(2026, 6, 15), date(2026, 6, 12), date(2026, 6, 10), date(2026, 6, 9)]


def test_a_gap_in_the_window_makes_the_result_incomplete_and_gives_no_measured_energy():
    gap = {**HISTORY, "2026-06-17": {**HISTORY["2026-06-17"], 17: None}}
    result = kwh_avoided(hourly(gap, "2026-06-01", END), START, END, HIGH_3_OF_5, CALENDAR, interval_seconds=HOUR)
    assert result.quality == "incomplete"
    assert result.window_coverage.missing == HOUR
    assert result.missing == (f"window [{START}, {END}): 3600 s without readings",)
    assert result.measured_kwh is None and result.kwh_avoided is None
    assert result.baseline_kwh == D("5.200")  # the baseline does not need the window's readings
    assert [i.measured_kwh for i in result.intervals] == [D("0.900"), None]


def test_estimated_readings_make_the_result_estimated():
    in_window = hourly(HISTORY, "2026-06-01", END, estimated=frozenset({("2026-06-17", 16)}))
    result = kwh_avoided(in_window, START, END, HIGH_3_OF_5, CALENDAR, interval_seconds=HOUR)
    assert result.quality == "estimated"
    assert result.window_coverage == Coverage(2 * HOUR, HOUR, HOUR)
    assert result.kwh_avoided == D("3.500")
    # Tue 9 is one of the 5 like days compared (not one of the 3 chosen): its estimate counts as an input
    in_history = hourly(HISTORY, "2026-06-01", END, estimated=frozenset({("2026-06-09", 17)}))
    result = kwh_avoided(in_history, START, END, HIGH_3_OF_5, CALENDAR, interval_seconds=HOUR)
    assert result.quality == "estimated"
    assert result.baseline_coverage.estimated == HOUR
    assert result.window_coverage == Coverage(2 * HOUR, 2 * HOUR, 0)


def test_too_few_like_days_is_incomplete_and_fewer_than_x_gives_no_baseline():
    method = replace(HIGH_3_OF_5, adjustment="none", lookback_days=8)
    result = kwh_avoided(READINGS, START, END, method, CALENDAR, interval_seconds=HOUR)
    # 8 days back: Tue 16, Mon 15, Wed 10, Tue 9 (Fri 12 has a gap, Thu 11 excluded): 4 of 5
    # highest 3: Wed 10 (5.0), Tue 16 (4.2), Mon 15 (3.0): 12.2/3 = 4.0667
    assert result.quality == "incomplete"
    assert result.missing == ("like days: 4 of 5 with complete readings in the 8 days before",)
    assert result.days_used == (date(2026, 6, 16), date(2026, 6, 15), date(2026, 6, 10))
    assert result.baseline_kwh == D("4.067")
    assert result.kwh_avoided == D("2.367")
    result = kwh_avoided(READINGS, START, END, replace(method, lookback_days=3), CALENDAR, interval_seconds=HOUR)
    assert result.missing == ("like days: 2 of 5 with complete readings in the 3 days before",)
    assert result.baseline_kwh is None and result.kwh_avoided is None and result.days_used == ()
    assert result.measured_kwh == D("1.700")
    assert [i.baseline_kwh for i in result.intervals] == [None, None]


def test_a_gap_in_the_adjustment_window_leaves_only_the_unadjusted_baseline():
    gap = {**HISTORY, "2026-06-17": {**HISTORY["2026-06-17"], 14: None}}
    result = kwh_avoided(hourly(gap, "2026-06-01", END), START, END, HIGH_3_OF_5, CALENDAR, interval_seconds=HOUR)
    adj_start, adj_end = at("2026-06-17", 13), at("2026-06-17", 15)
    assert result.missing == (f"adjustment window [{adj_start}, {adj_end}): 3600 s without readings",)
    assert result.quality == "incomplete"
    assert result.baseline_kwh is None and result.adjustment is None
    assert result.unadjusted_baseline_kwh == D("4.333")


def test_like_days_keep_the_local_clock_time_across_a_daylight_saving_change():
    # New York leaves daylight saving on Sunday 1 November 2026.  Every local 14:00-15:00 hour holds 3.0 kWh,
    # other hours 1.0; the event: Wednesday 4 November 14:00-15:00 EST (19:00 UTC), measured 1.2
    load: dict[str, dict[int, str | None]] = {
        (date(2026, 10, 26) + timedelta(days=n)).isoformat(): {14: "3.0"} for n in range(9)}
    load["2026-11-04"] = {14: "1.2"}
    start, end = at("2026-11-04", 14, NEW_YORK), at("2026-11-04", 15, NEW_YORK)
    readings = hourly(load, "2026-10-26", end, NEW_YORK)
    calendar = Calendar(NEW_YORK)
    method = HighXOfY(weekday_highest=3, weekday_days=3, adjustment="none")
    result = kwh_avoided(readings, start, end, method, calendar, interval_seconds=HOUR)
    # Tue 3 and Mon 2 Nov (EST) and Fri 30 Oct (EDT: 14:00 is 18:00 UTC), each 3.0
    assert result.days_used == (date(2026, 11, 3), date(2026, 11, 2), date(2026, 10, 30))
    assert calendar.same_clock(start, date(2026, 11, 4), date(2026, 10, 30)) == start - 5 * 24 * HOUR - HOUR
    assert result.baseline_kwh == D("3.000")  # a fixed 24 h shift would read Fri 30 Oct's 15:00 EDT, 1.0
    assert result.kwh_avoided == D("1.800")


def test_a_window_across_midnight_reads_the_like_day_and_the_day_after_it():
    # the event: Tue 16 June 23:00 to Wed 17 June 01:00; its one like day (Y = 1) is Mon 15: 23:00 to Tue 00:59
    night = {**HISTORY, "2026-06-15": {**HISTORY["2026-06-15"], 23: "2.0"},
             "2026-06-16": {**HISTORY["2026-06-16"], 0: "3.0"}}
    start, end = at("2026-06-16", 23), at("2026-06-17", 1)
    method = HighXOfY(weekday_highest=1, weekday_days=1, adjustment="none")
    result = kwh_avoided(hourly(night, "2026-06-01", end), start, end, method, CALENDAR, interval_seconds=HOUR)
    assert result.days_used == (date(2026, 6, 15),)
    assert [i.baseline_kwh for i in result.intervals] == [D("2.000"), D("3.000")]
    assert result.kwh_avoided == D("3.000")  # 5.0 - (1.0 + 1.0)


def test_comparable_day_takes_the_like_day_whose_pre_event_load_matches_best():
    method = ComparableDay(days=5, match_hours=2, match_gap_hours=1)
    result = kwh_avoided(READINGS, START, END, method, CALENDAR, interval_seconds=HOUR)
    # matching 13:00 and 14:00 against the event day's 1.3, 1.3, over Tue 16, Mon 15, Wed 10, Tue 9, Fri 5:
    # Tue 16, Tue 9, Fri 5 (1.0, 1.0): 0.3^2 + 0.3^2 = 0.18; Mon 15 (1.4, 1.25): 0.1^2 + 0.05^2 = 0.0125;
    # Wed 10 (1.2, 1.2): 0.1^2 + 0.1^2 = 0.02.  Mon 15 is the closest; its 16:00-18:00 is 1.5 + 1.5
    assert result.days_used == (date(2026, 6, 15),)
    assert [i.baseline_kwh for i in result.intervals] == [D("1.500"), D("1.500")]
    assert result.baseline_kwh == D("3.000")
    assert result.kwh_avoided == D("1.300")  # 3.0 - 1.7
    assert result.quality == "complete" and result.adjustment is None


def test_comparable_day_needs_the_event_days_matching_window():
    gap = {**HISTORY, "2026-06-17": {**HISTORY["2026-06-17"], 13: None}}
    method = ComparableDay(days=5, match_hours=2, match_gap_hours=1)
    result = kwh_avoided(hourly(gap, "2026-06-01", END), START, END, method, CALENDAR, interval_seconds=HOUR)
    assert result.quality == "incomplete" and result.baseline_kwh is None
    assert result.missing == (f"matching window [{at('2026-06-17', 13)}, {at('2026-06-17', 15)}): "
                              "3600 s without readings",)


T = 1_780_000_000  # the event's start, for the seconds-long events of meter-before


def test_meter_before_weights_second_readings_by_their_overlap():
    # 20 s readings from T-70: [T-70, T-50) 0.010, [T-50, T-30) 0.012, [T-30, T-10) 0.014, [T-10, T+10) 0.008,
    # [T+10, T+30) 0.004, [T+30, T+50) 0.006
    readings = [IntervalReading(T - 70 + 20 * n, 20, D(kwh))
                for n, kwh in enumerate(["0.010", "0.012", "0.014", "0.008", "0.004", "0.006"])]
    result = kwh_avoided(readings, T, T + 45, MeterBefore(minutes=D(1)), CALENDAR)
    # the minute before: 0.010 x 10/20 + 0.012 + 0.014 + 0.008 x 10/20 = 0.035 kWh over 60 s
    # baseline over 45 s: 0.035 x 45/60 = 0.02625 -> 0.026 (half to even)
    # measured: 0.008 x 10/20 + 0.004 + 0.006 x 15/20 = 0.0125 -> 0.012 (half to even)
    assert result.baseline_kwh == D("0.026")
    assert result.measured_kwh == D("0.012")
    assert result.kwh_avoided == D("0.014")
    assert result.quality == "complete" and result.days_used == ()
    assert result.baseline_coverage == Coverage(60, 60, 0)
    assert [(i.start, i.end) for i in result.intervals] == [(T, T + 45)]


def test_meter_before_with_hourly_readings_and_the_default_quarter_hour():
    readings = [IntervalReading(T - HOUR, HOUR, D("2.0")), IntervalReading(T, HOUR, D("1.0"))]
    result = kwh_avoided(readings, T, T + 1800, MeterBefore(), CALENDAR)
    # 15 min before: 2.0 / 4 = 0.5 kWh, constant over the window: 0.5 per 15-minute interval;
    # measured 1.0 / 4 = 0.25 per interval
    assert [(i.baseline_kwh, i.measured_kwh) for i in result.intervals] == [(D("0.500"), D("0.250"))] * 2
    assert result.baseline_kwh == D("1.000") and result.measured_kwh == D("0.500")
    assert result.kwh_avoided == D("0.500")


def test_meter_before_without_enough_history_gives_no_baseline():
    readings = [IntervalReading(T - 30 + 10 * n, 10, D("0.001")) for n in range(6)]
    result = kwh_avoided(readings, T, T + 30, MeterBefore(minutes=D(1)), CALENDAR)
    assert result.quality == "incomplete" and result.baseline_kwh is None and result.kwh_avoided is None
    assert result.missing == (f"meter-before window [{T - 60}, {T}): 30 s without readings",)
    assert result.measured_kwh == D("0.003")


def test_rounding_is_half_to_even_at_three_places():
    assert round_kwh(Fraction("0.0125")) == D("0.012")
    assert round_kwh(Fraction("0.0135")) == D("0.014")
    assert round_kwh(Fraction("-0.0125")) == D("-0.012")
    assert round_kwh(Fraction(1, 3)) == D("0.333")


def test_the_method_is_read_from_a_program_document_with_its_defaults():
    assert parse_method({"name": "high-x-of-y"}) == HighXOfY()
    assert method_document(HighXOfY()) == {
        "name": "high-x-of-y", "weekdayHighest": 5, "weekdayDays": 10, "weekendHighest": 4, "weekendDays": 4,
        "lookbackDays": 45, "adjustment": "ratio", "adjustmentHours": 3, "adjustmentGapHours": 1,
        "adjustmentMin": "0.8", "adjustmentMax": "1.2"}
    assert method_document(ComparableDay()) == {"name": "comparable-day", "days": 10, "lookbackDays": 45,
                                                "matchHours": 4, "matchGapHours": 1, "matchIntervalMinutes": 60}
    assert parse_method({"name": "meter-before", "minutes": 0.5}) == MeterBefore(minutes=D("0.5"))
    custom = parse_method({"name": "high-x-of-y", "weekdayHighest": 3, "adjustment": "difference",
                           "adjustmentMax": "1.25"})
    assert custom == HighXOfY(weekday_highest=3, adjustment="difference", adjustment_max=D("1.25"))
    assert parse_method(method_document(custom)) == custom


@pytest.mark.parametrize("document, message", [
    ("high-x-of-y", "baselineMethod: must be an object"),
    ({}, "name: must be one of high-x-of-y, comparable-day, meter-before, got None"),
    ({"name": "average"}, "name: must be one of high-x-of-y, comparable-day, meter-before, got 'average'"),
    ({"name": "high-x-of-y", "highest": 3}, "highest: not a parameter of high-x-of-y"),
    ({"name": "high-x-of-y", "weekdayHighest": 11}, "weekdayHighest: must be at most weekdayDays (10), got 11"),
    ({"name": "high-x-of-y", "weekendDays": 0}, "weekendDays: must be at least 1, got 0"),
    ({"name": "high-x-of-y", "weekdayDays": 2.5}, "weekdayDays: must be an integer, got 2.5"),
    ({"name": "high-x-of-y", "weekdayDays": True}, "weekdayDays: must be an integer, got True"),
    ({"name": "high-x-of-y", "adjustment": "scaled"}, "adjustment: must be one of ratio, difference, none"),
    ({"name": "high-x-of-y", "adjustmentMin": "1.1"}, "adjustmentMin: must be at most 1, got 1.1"),
    ({"name": "high-x-of-y", "adjustmentMax": "0.9"}, "adjustmentMax: must be at least 1, got 0.9"),
    ({"name": "high-x-of-y", "adjustmentMin": "x"}, "adjustmentMin: must be a decimal number, got 'x'"),
    ({"name": "high-x-of-y", "adjustmentGapHours": -1}, "adjustmentGapHours: must be at least 0, got -1"),
    ({"name": "high-x-of-y", "lookbackDays": 400}, "lookbackDays: must be at most 366, got 400"),
    ({"name": "comparable-day", "matchIntervalMinutes": 45}, "matchIntervalMinutes: must divide matchHours"),
    ({"name": "meter-before", "minutes": 0}, "minutes: must be a number greater than 0, got 0"),
    ({"name": "meter-before", "minutes": "Infinity"}, "minutes: must be a number greater than 0"),
    ({"name": "meter-before", "minutes": "0.001"}, "minutes: must be a whole number of seconds, got 0.001"),
])
def test_bad_parameters_are_refused_naming_the_field(document, message):
    with pytest.raises(ValueError) as refused:
        parse_method(document)
    assert str(refused.value).startswith(message)


def test_bad_windows_and_overlapping_readings_are_refused():
    with pytest.raises(ValueError, match="window: end"):
        kwh_avoided(READINGS, END, START, HIGH_3_OF_5, CALENDAR)
    with pytest.raises(ValueError, match="interval_seconds"):
        kwh_avoided(READINGS, START, END, HIGH_3_OF_5, CALENDAR, interval_seconds=0)
    with pytest.raises(ValueError, match="readings overlap"):
        kwh_avoided([IntervalReading(T, 60, D(1)), IntervalReading(T + 30, 60, D(1))], T, T + 60, MeterBefore(),
                    CALENDAR)
