"""Interval files from the customer-billing system, read and checked without a store
(domain/settlement/interval_files.py), and a service point's telemetry turned into interval energy
(domain/settlement/telemetry.py), each against values worked out by hand."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from der_gateway.domain.settlement import interval_files
from der_gateway.domain.settlement.interval_files import (IntervalRow, parse, parse_file, parse_start,
                                                          unknown_point_problems)
from der_gateway.domain.settlement.series import IntervalReading
from der_gateway.domain.settlement.telemetry import DeviceMeter, gaps, telemetry_intervals

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z


def fields(problems: list[dict[str, str]]) -> dict[str | None, str]:
    return {p.get("field"): p["reason"] for p in problems}


def test_a_csv_file_reads_exactly_with_its_defaults_offsets_and_export():
    text = ("servicePoint,start,duration,kWh,quality,flow\n"
            "SP-1,2027-01-15T18:00:00+10:00,1800,1.25,,\n"
            "SP-1,1800001800,1800,0.10,estimated,export\n"
            "\n"
            "SP-2,2027-01-15T08:00:00Z,900,-0.333333333,actual,\n")
    rows, problems = parse(text.encode(), "csv", 100)
    assert problems == []
    assert rows == [
        IntervalRow("SP-1", IntervalReading(T0, 1800, Decimal("1.25"), "actual", "cis"), "line 2"),
        IntervalRow("SP-1", IntervalReading(T0 + 1800, 1800, Decimal("-0.10"), "estimated", "cis"), "line 3"),
        IntervalRow("SP-2", IntervalReading(T0, 900, Decimal("-0.333333333"), "actual", "cis"), "line 5")]
    assert str(rows[1].reading.kwh) == "-0.10"  # the decimal as written, no float on the way


def test_columns_may_come_in_any_order_in_any_case_and_quality_and_flow_are_optional():
    rows, problems = parse("KWH,Duration,servicepoint,START\r\n2.5,3600,SP-9,1800000000\r\n", "csv", 10)
    assert problems == []
    assert rows == [IntervalRow("SP-9", IntervalReading(T0, 3600, Decimal("2.5")), "line 2")]


def test_a_json_file_reads_numbers_as_exact_decimals():
    body = ('{"readings": [{"servicePoint": "SP-1", "start": 1800000000, "duration": 900, "kWh": 0.1}, '
            '{"servicePoint": "SP-1", "start": "2027-01-15T08:15:00+00:00", "duration": 900, "kWh": "0.2", '
            '"quality": "estimated"}, {"servicePoint": "SP-1", "start": 1800001800, "duration": 900, "kWh": 3, '
            '"flow": "export"}]}')
    rows, problems = parse(body, "json", 10)
    assert problems == []
    assert [r.reading for r in rows] == [IntervalReading(T0, 900, Decimal("0.1")),
                                         IntervalReading(T0 + 900, 900, Decimal("0.2"), "estimated"),
                                         IntervalReading(T0 + 1800, 900, Decimal("-3"))]
    assert sum(r.reading.kwh for r in rows) == Decimal("-2.7")  # 0.1 + 0.2 - 3 exactly
    assert [r.where for r in rows] == ["readings[0]", "readings[1]", "readings[2]"]


def test_every_bad_row_is_named_with_its_line_field_and_reason():
    text = ("servicePoint,start,duration,kWh,quality,flow\n"
            "SP-1,1800000000,900,1.0,,\n"                   # line 2: fine
            ",2027-01-15T08:00:00,900,1,,\n"                # line 3: no service point; no offset
            "SP-1,1800000900,901,1e400x,maybe,,\n"          # line 4: 7 values for 6 columns
            "SP-1,1800000900,30,abc,maybe,sideways\n"       # line 5: duration, kWh, quality, flow
            "SP-1,1800001800,86400,-1,,export\n"            # line 6: export with a negative kWh
            "SP-1,1800000000,900,2,,\n"                     # line 7: line 2's interval again
            "SP-3,1800000000,7200,1.0000000001,,\n"         # line 8: too many places
            "SP-3,1800003600,3600,1000000000,,\n")           # line 9: too large; overlaps line 8
    rows, problems = parse(text, "csv", 100)
    assert fields(problems) == {
        "line 3.servicePoint": "required",
        "line 3.start": "must be ISO 8601 with a UTC offset (2027-01-15T08:00:00+10:00) or Unix seconds",
        "line 4": "7 values for 6 columns",
        "line 5.duration": "must be 60 to 86400 seconds and divide a day evenly (300, 900, 1800, 3600, ...)",
        "line 5.kWh": "must be a decimal number",
        "line 5.quality": "must be one of actual, estimated",
        "line 5.flow": "must be one of import, export",
        "line 6.kWh": "with a flow, kWh is a magnitude and must not be negative",
        "line 7.start": "service point SP-1 has an interval starting at 1800000000 in line 2 already",
        "line 8.kWh": "at most 9 digits after the point",
        "line 9.kWh": "must be less than 1000000000 in magnitude",
    }
    assert len(problems) == 11


def test_overlapping_intervals_of_one_service_point_are_refused_but_not_across_points():
    text = ("servicePoint,start,duration,kWh\n"
            "SP-1,1800000000,3600,1\n"
            "SP-1,1800001800,1800,1\n"
            "SP-2,1800001800,1800,1\n")
    _, problems = parse(text, "csv", 10)
    assert problems == [{"field": "line 3.start", "reason": "overlaps the interval of service point SP-1 in line 2"}]


def test_json_problems_name_the_index_and_field():
    body = json.dumps({"readings": [
        {"servicePoint": "SP-1", "start": T0, "duration": 900, "kWh": "1"},
        {"servicePoint": "SP-1", "start": T0 + 900, "duration": 900.5, "kWh": True, "extra": 1},
        "not an object",
        {"start": "yesterday", "duration": 0},
    ]})
    rows, problems = parse(body, "json", 10)
    assert fields(problems) == {
        "readings[1].extra": "unknown field (the fields are servicePoint, start, duration, kWh, quality, flow)",
        "readings[1].kWh": "must be a number",
        "readings[1].duration": "must be a whole number of seconds",
        "readings[2]": "must be a JSON object",
        "readings[3].servicePoint": "required",
        "readings[3].kWh": "required",
        "readings[3].start": "must be ISO 8601 with a UTC offset (2027-01-15T08:00:00+10:00) or Unix seconds",
        "readings[3].duration": "must be 60 to 86400 seconds and divide a day evenly (300, 900, 1800, 3600, ...)",
    }
    assert len(rows) == 1


@pytest.mark.parametrize("body, reason", [
    ("[]", 'must be a JSON object {"readings": [...]}'),
    ('{"readings": {}}', 'must be a JSON object {"readings": [...]}'),
    ('{"readings": [1', "malformed JSON"),
    ('{"readings": [], "readings": []}', "malformed JSON: duplicate key 'readings'"),
    ('{"readings": [{"kWh": NaN}]}', "malformed JSON: NaN is not a JSON number"),
    ('{"readings": []}', "the file has no readings"),
])
def test_a_json_file_that_is_not_one_is_refused(body, reason):
    rows, problems = parse(body, "json", 10)
    assert rows == [] and len(problems) == 1 and problems[0]["reason"].startswith(reason), problems


@pytest.mark.parametrize("text, reason", [
    ("", "the file needs a header line"),
    ("servicePoint,start,kWh\n", "missing column duration"),
    ("servicePoint,start,duration,kWh,colour\n", "unknown column 'colour'"),
    ("servicePoint,start,duration,kWh,kwh\n", "column kWh appears more than once"),
    ("servicePoint,start,duration,kWh\n", "the file has no readings"),
])
def test_a_csv_header_that_is_wrong_is_refused(text, reason):
    rows, problems = parse(text, "csv", 10)
    assert rows == [] and problems[0]["reason"].startswith(reason), problems


def test_not_utf8_and_too_many_rows_are_refused():
    assert parse(b"\xff\xfe", "csv", 10)[1][0]["reason"].startswith("the file is not UTF-8")
    text = "servicePoint,start,duration,kWh\n" + "".join(f"SP-1,{T0 + 900 * i},900,1\n" for i in range(4))
    assert parse(text, "csv", 4)[1] == []
    assert fields(parse(text, "csv", 3)[1]) == {"line 5": "the file has more than 3 readings; split it"}
    body = json.dumps({"readings": [{"servicePoint": "SP-1", "start": T0 + 900 * i, "duration": 900, "kWh": 1}
                                    for i in range(4)]})
    assert parse(body, "json", 3)[1] == [{"field": "readings", "reason": "the file has 4 readings, more than 3; "
                                                                           "split it"}]


def test_starts_read_as_unix_seconds_or_iso_8601_with_an_offset_only():
    assert parse_start("1800000000") == T0
    assert parse_start("2027-01-15T08:00:00Z") == T0
    assert parse_start("2027-01-15T09:30:00+01:30") == T0
    assert parse_start("2027-01-15T08:00:00") is None  # no offset: which 08:00?
    assert parse_start("2027-01-15T08:00:00.5Z") is None
    assert parse_start("soon") is None


def test_unknown_service_points_are_named_by_row():
    parsed = parse_file("servicePoint,start,duration,kWh\nSP-1,1800000000,900,1\nSP-X,1800000000,900,1\n"
                        "SP-X,later,900,1\n", "csv", 9)
    assert len(parsed.rows) == 2  # line 4 has a problem of its own, and names SP-X too
    assert parsed.named == [("SP-1", "line 2"), ("SP-X", "line 3"), ("SP-X", "line 4")]
    assert unknown_point_problems(parsed.named, {"SP-X"}) == [
        {"field": "line 3.servicePoint", "reason": "no service point SP-X"},
        {"field": "line 4.servicePoint", "reason": "no service point SP-X"}]
    assert interval_files.format_of("March.CSV") == "csv" and interval_files.format_of("a.txt") is None


# -- telemetry as interval energy --------------------------------------------------------------------------------

def watts(*, multiplier: int = 0, flow: int | None = None, phase: int | None = None) -> dict:
    return {"uom": 38, "powerOfTenMultiplier": multiplier, "flowDirection": flow, "phase": phase}


def watt_hours(*, multiplier: int = 0, flow: int | None = None, accumulation: int | None = None) -> dict:
    return {"uom": 72, "powerOfTenMultiplier": multiplier, "flowDirection": flow,
            "accumulationBehaviour": accumulation}


def test_power_readings_become_energy_with_the_delivered_power_negative():
    # 15 x 10^2 W = 1500 W delivered for 900 s: 1500 x 900 / 3 600 000 = 0.375 kWh taken off the point;
    # 4 x 10^2 W = 400 W drawn (flowDirection 1) for 900 s: 0.1 kWh onto it
    meters = [DeviceMeter(1, watts(multiplier=2), [(T0, 900, 15, None), (T0 + 900, 900, -5, "02")]),
              DeviceMeter(2, watts(multiplier=2, flow=1), [(T0, 900, 4, None), (T0 + 900, 900, 4, None)])]
    assert telemetry_intervals(meters) == [
        IntervalReading(T0, 900, Decimal("-0.275"), "actual", "telemetry"),  # -0.375 + 0.1
        # device 1 draws 500 W (estimated, qualityFlags bit 1): +0.125; device 2 +0.1
        IntervalReading(T0 + 900, 900, Decimal("0.225"), "estimated", "telemetry")]


def test_energy_readings_count_in_place_of_power_and_registers_do_not():
    # device 1 posts both W and Wh for the same intervals: only its Wh count (1234 x 10^-1 Wh = 0.1234 kWh)
    meters = [DeviceMeter(1, watts(), [(T0, 300, 2000, None)]),
              DeviceMeter(1, watt_hours(multiplier=-1), [(T0, 300, 1234, None)]),
              DeviceMeter(1, watt_hours(accumulation=9), [(T0, 300, 99999, None)])]
    assert telemetry_intervals(meters) == [IntervalReading(T0, 300, Decimal("-0.1234"), "actual", "telemetry")]


def test_phases_add_up_only_without_a_total_and_energy_is_rounded_to_a_milliwatt_hour():
    # 1 W for 300 s = 300 / 3 600 000 kWh = 0.0000833... -> 0.000083 each phase; the three phases -0.000249
    phases = [DeviceMeter(1, watts(phase=p), [(T0, 300, 1, None)]) for p in (129, 65, 33)]
    assert telemetry_intervals(phases) == [IntervalReading(T0, 300, Decimal("-0.000249"), "actual", "telemetry")]
    with_total = phases + [DeviceMeter(1, watts(phase=0), [(T0, 300, 3, None)])]  # 900/3.6e6 = 0.00025
    assert telemetry_intervals(with_total) == [IntervalReading(T0, 300, Decimal("-0.000250"), "actual",
                                                               "telemetry")]


def test_an_interval_not_every_device_reported_is_a_gap_and_unusable_readings_are_skipped():
    meters = [DeviceMeter(1, watts(), [(T0, 900, 1000, None), (T0 + 900, 900, 1000, None),
                                       (T0 + 1800, None, 1000, None),        # no duration: no energy
                                       (T0 + 2700, 900, 1000, "20")]),      # projected: not a measurement
              DeviceMeter(2, watts(), [(T0 + 900, 900, 2000, None), (T0 + 1800, 900, None, None)]),
              DeviceMeter(3, {"uom": 33}, [(T0, 900, 5, None)])]  # amperes: not energy
    readings = telemetry_intervals(meters)
    assert readings == [IntervalReading(T0 + 900, 900, Decimal("-0.75"), "actual", "telemetry")]
    assert gaps(readings, T0, T0 + 3600) == [(T0, T0 + 900), (T0 + 1800, T0 + 3600)]


def test_gaps_are_the_spans_no_reading_covers():
    r = [IntervalReading(T0 - 300, 600, Decimal(1)), IntervalReading(T0 + 600, 300, Decimal(1)),
         IntervalReading(T0 + 900, 900, Decimal(1))]
    assert gaps(r, T0, T0 + 3600) == [(T0 + 300, T0 + 600), (T0 + 1800, T0 + 3600)]
    assert gaps([], T0, T0 + 60) == [(T0, T0 + 60)]
    assert gaps(r, T0 + 900, T0 + 1800) == []
