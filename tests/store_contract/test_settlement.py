"""Settlement's measurement intake in the store, on every backend: interval readings loaded idempotently per
service point, source and start, their batches, windows of them, and the raw telemetry of a service point's
devices."""

from __future__ import annotations

from decimal import Decimal

import pytest

from der_gateway.domain.refusals import InvalidRequest
from der_gateway.domain.settlement.interval_files import IntervalRow
from der_gateway.domain.settlement.series import IntervalReading

from .utility_world import NOW, build, customer_values, enrolled


def row(start: int, kwh: str, quality: str = "actual", point: str = "SP1", duration: int = 900) -> IntervalRow:
    return IntervalRow(point, IntervalReading(start, duration, Decimal(kwh), quality, "cis"),
                       f"line {start - NOW}")


async def test_loading_inserts_replaces_and_leaves_equal_readings_with_a_batch_only_when_something_changed(store):
    world = await build(store)
    first = await store.load_intervals("cis", "a.csv", "1" * 64, [row(NOW, "1.5"), row(NOW + 900, "0.25")], NOW)
    assert (first.created, first.rows, first.inserted, first.replaced, first.unchanged) == (True, 2, 2, 0, 0)
    batch = await store.interval_batch(first.batch_id)
    assert (batch.source, batch.name, batch.rows, batch.inserted, batch.replaced, batch.loaded_at, batch.sha256) \
        == ("cis", "a.csv", 2, 2, 0, NOW, "1" * 64)

    again = await store.load_intervals("cis", "a.csv", "1" * 64, [row(NOW, "1.50"), row(NOW + 900, "0.25")], NOW + 5)
    assert (again.batch_id, again.created, again.inserted, again.replaced, again.unchanged) == \
        (first.batch_id, False, 0, 0, 2)
    other = await store.load_intervals("cis", None, "2" * 64, [row(NOW + 900, "0.25")], NOW + 5)
    assert (other.batch_id, other.created, other.unchanged) == (None, False, 1)  # no batch of that content

    fixed = await store.load_intervals("cis", "b.csv", "3" * 64, [row(NOW, "1.5", "estimated"),
                                                                  row(NOW + 900, "0.3"), row(NOW + 1800, "-1")],
                                       NOW + 10)
    assert (fixed.created, fixed.inserted, fixed.replaced, fixed.unchanged) == (True, 1, 2, 0)
    assert fixed.batch_id == first.batch_id + 1
    assert await store.interval_readings(world.service_point, "cis", NOW, NOW + 2700) == [
        IntervalReading(NOW, 900, Decimal("1.5"), "estimated", "cis"),
        IntervalReading(NOW + 900, 900, Decimal("0.3"), "actual", "cis"),
        IntervalReading(NOW + 1800, 900, Decimal("-1"), "actual", "cis")]
    # a window lists the readings that overlap it; another source's are apart
    assert [r.start for r in await store.interval_readings(world.service_point, "cis", NOW + 899, NOW + 901)] == \
        [NOW, NOW + 900]
    assert await store.interval_readings(world.service_point, "telemetry", NOW, NOW + 2700) == []


async def test_an_unknown_service_point_refuses_the_load_and_stores_nothing(store):
    world = await build(store)
    other = await store.create_customer(customer_values("C2", "SP2"))
    sp2 = other.detail.accounts[0].service_points[0].id
    with pytest.raises(InvalidRequest) as refused:
        await store.load_intervals("cis", None, "4" * 64, [row(NOW, "1", point="SP2"), row(NOW, "1", point="SPX")],
                                   NOW)
    assert refused.value.errors == [{"field": "line 0.servicePoint", "reason": "no service point SPX"}]
    assert await store.interval_readings(sp2, "cis", NOW, NOW + 900) == []
    assert await store.interval_readings(world.service_point, "cis", NOW, NOW + 900) == []


async def test_a_service_points_telemetry_is_the_power_and_energy_meters_of_its_devices(store):
    world = await build(store)
    device = await enrolled(store, 1)
    lfdi = device.end_device.lfdi

    def mmr(mrid: str, reading_type: dict, value: int, start: int, flags: str | None = None) -> dict:
        reading = {"value": value, "timePeriod": {"start": start, "duration": 300}}
        if flags:
            reading["qualityFlags"] = flags
        return {"mRID": mrid, "ReadingType": reading_type, "Reading": reading}
    await store.upsert_mirror_usage_point(lfdi, {"mRID": "A" * 32, "roleFlags": "0009", "serviceCategoryKind": 0,
                                                 "status": 1, "deviceLFDI": lfdi},
                                          [mmr("B" * 32, {"uom": 38}, 1500, NOW), mmr("C" * 32, {"uom": 72}, 125, NOW,
                                                                                       "0002"),
                                           mmr("F" * 32, {"uom": 29}, 240, NOW)])  # volts: not energy
    found = await store.service_point_telemetry(world.service_point, NOW, NOW + 300)
    assert [(m.end_device_id, m.reading_type["uom"], m.readings) for m in found] == [
        (device.end_device.id, 38, [(NOW, 300, 1500, None)]), (device.end_device.id, 72, [(NOW, 300, 125, "0002")])]
    assert [m.readings for m in await store.service_point_telemetry(world.service_point, NOW + 300, NOW + 600)] \
        == [[], []]
    other = await store.create_customer(customer_values("C2", "SP2"))
    assert await store.service_point_telemetry(other.detail.accounts[0].service_points[0].id, NOW, NOW + 300) == []
