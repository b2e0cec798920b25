"""Prices per kWh over an event's timeline (domain/settlement/prices.py): parsing, validation and the window."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from der_gateway.domain.settlement.prices import (PricePoint, Pricing, PricingError, Segment, parse_prices,
                                                  parse_pricing, price_segments)

H = 3600
T0 = 1_800_000_000 - 1_800_000_000 % H  # on an hour


def test_pricing_is_checked_field_by_field():
    assert parse_pricing({"kind": "fixed", "pricePerKWh": "0.125"}) == Pricing("fixed", "USD", Decimal("0.125"))
    assert parse_pricing({"kind": "hourly", "currency": "AUD"}) == Pricing("hourly", "AUD", None)
    # a JSON number is read from its text: 0.1 is one tenth, not the float nearest it
    assert parse_pricing({"kind": "fixed", "pricePerKWh": 0.1}).fixed_price == Decimal("0.1")
    for body, fields in (({"kind": "daily"}, {"kind"}), ({"kind": "fixed"}, {"pricePerKWh"}),
                         ({"kind": "fixed", "pricePerKWh": "1e3"}, {"pricePerKWh"}),
                         ({"kind": "fixed", "pricePerKWh": True}, {"pricePerKWh"}),
                         ({"kind": "fixed", "pricePerKWh": "200000"}, {"pricePerKWh"}),
                         ({"kind": "hourly", "pricePerKWh": "1"}, {"pricePerKWh"}),
                         ({"kind": "hourly", "currency": "usd", "x": 1}, {"currency", "x"})):
        with pytest.raises(PricingError) as refused:
            parse_pricing(body)
        assert {p.get("field") for p in refused.value.problems} == fields, body


def test_a_csv_and_a_json_file_give_the_same_prices():
    csv_text = f"start,duration,pricePerKWh\n{T0},3600,0.21\n2027-01-15T09:00:00Z,3600,-0.05\n"
    json_text = ('{"prices": [{"start": %d, "duration": 3600, "pricePerKWh": "0.21"},'
                 ' {"start": "2027-01-15T10:00:00+01:00", "duration": 3600, "pricePerKWh": -0.05}]}' % T0)
    expected = [PricePoint(T0, H, Decimal("0.21")), PricePoint(1_800_003_600 - 1_800_003_600 % H, H,
                                                                Decimal("-0.05"))]
    assert parse_prices(csv_text, "csv", "hourly") == expected
    assert parse_prices(json_text, "json", "hourly") == expected


def test_every_bad_row_is_named():
    text = (f"start,duration,pricePerKWh\n{T0},3600,abc\n{T0 + 60},3600,1\n{T0 + H},900,1\n"
            f"yesterday,3600,1\n{T0 + 2 * H},3600,\n{T0 + 3 * H},3600,1\n{T0 + 3 * H},3600,2\n")
    with pytest.raises(PricingError) as refused:
        parse_prices(text, "csv", "hourly")
    assert sorted((p["field"], p["reason"]) for p in refused.value.problems) == sorted([
        ("line 2.pricePerKWh", "must be a decimal number"),
        ("line 3.start", "must be on a 3600 s boundary"),
        ("line 4.duration", "must be one of 3600 seconds for hourly prices"),
        ("line 5.start", "must be Unix seconds or ISO 8601 with a UTC offset"),
        ("line 6.pricePerKWh", "required"),
        ("line 8.start", f"overlaps the price from {T0 + 3 * H}")])
    with pytest.raises(PricingError, match="the header must be start,duration,pricePerKWh"):
        parse_prices("when,price\n1,2\n", "csv", "market")
    with pytest.raises(PricingError, match="fixed pricing has no prices to load"):
        parse_prices(text, "csv", "fixed")
    # market intervals may be 5 minutes
    assert parse_prices(f"start,duration,pricePerKWh\n{T0 + 300},300,0.5\n", "csv", "market") == [
        PricePoint(T0 + 300, 300, Decimal("0.5"))]


def test_a_window_is_cut_where_its_price_changes_and_gaps_stay_gaps():
    points = [PricePoint(T0, H, Decimal("0.20")), PricePoint(T0 + H, H, Decimal("0.30")),
              PricePoint(T0 + 3 * H, H, Decimal("0.40"))]
    hourly = Pricing("hourly", "USD")
    # 00:30 to 03:30: half an hour at 0.20, an hour at 0.30, no price for the third hour, half an hour at 0.40
    assert price_segments(hourly, points, T0 + 1800, T0 + 3 * H + 1800) == [
        Segment(T0 + 1800, T0 + H, Decimal("0.20")), Segment(T0 + H, T0 + 2 * H, Decimal("0.30")),
        Segment(T0 + 2 * H, T0 + 3 * H, None), Segment(T0 + 3 * H, T0 + 3 * H + 1800, Decimal("0.40"))]
    assert price_segments(Pricing("fixed", "USD", Decimal("0.15")), [], T0, T0 + 60) == [
        Segment(T0, T0 + 60, Decimal("0.15"))]
    assert price_segments(hourly, [], T0, T0 + 60) == [Segment(T0, T0 + 60, None)]


@pytest.mark.parametrize("field", ["start", "duration"])
def test_digits_other_than_ascii_are_refused_not_read(field: str):
    row = {"start": T0, "duration": 3600, "pricePerKWh": "0.1", field: "\u00b2"}  # "²".isdigit(), but int() refuses it
    with pytest.raises(PricingError) as refused:
        parse_prices(json.dumps({"prices": [row]}), "json", "hourly")
    assert [p["field"] for p in refused.value.problems] == [f"prices[0].{field}"]
