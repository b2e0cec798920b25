"""What /metrics and the console's event views read from the store at a million EndDevices (issue 14), checked
against an independent computation on seeded data: EndDevices by contact age (recent contacts by index, the rest
from a kept total), events by state (those not ended by index, the rest from kept totals), and how far each device
an event calls got (one grouped count, pages by EndDevice id)."""

from __future__ import annotations

import random

import pytest

from der_gateway.domain import progress
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.store.base import ControlRecord, EndDeviceRecord
from der_gateway.store.console_records import EventScope
from der_gateway.store.observability_records import EVENT_STATES
from der_gateway.store.stage_records import NewControl, NewStage, ReservationRecord

NOW = 2_000_000_000
BOUNDS = [300, 3600, 86400]


def mrid(n: int) -> str:
    return f"{n:032X}"


def lfdi(n: int) -> str:
    return f"{n:09X}{'A' * 31}"  # the SFDI is the first 36 bits: each its own


async def add_devices(store, first: int, n: int, group_id: int | None = None) -> list[int]:
    records = [EndDeviceRecord(0, lfdi(i), sfdi_from_lfdi(lfdi(i)), lfdi(i), 0, 111115, 0)
               for i in range(first, first + n)]
    return list(await store.bulk_add_end_devices(records, group_id=group_id))


def by_age(contacts: dict[int, int], devices: set[int], now: int) -> list[int]:
    ages = [now - at for end_device_id, at in contacts.items() if end_device_id in devices]
    within = [sum(1 for age in ages if (low is None or age > low) and age <= high)
              for low, high in zip([None, *BOUNDS], BOUNDS)]
    return [*within, len(devices) - sum(within)]


async def test_devices_by_contact_age_against_the_contacts_written(store):
    devices = set(await add_devices(store, 1, 40))
    rng = random.Random(14)
    offsets = [-5, 0, 10, 299, 300, 301, 3599, 3600, 3601, 86399, 86400, 86401, 10**6]
    contacts = {i: NOW - rng.choice(offsets) for i in sorted(devices)[:30]}
    await store.record_contacts({}, contacts)
    for now in (NOW, NOW + 3000, NOW + 90_000):
        assert await store.devices_by_contact_age(now, BOUNDS) == by_age(contacts, devices, now), now
    gone = sorted(devices)[::3]  # with and without a contact
    for end_device_id in gone:
        await store.delete_end_device(end_device_id)
    devices -= set(gone)
    more = set(await add_devices(store, 100, 5))
    devices |= more
    assert await store.devices_by_contact_age(NOW, BOUNDS) == by_age(contacts, devices, NOW)
    assert await store.devices_by_contact_age(NOW, []) == [len(devices)]


async def test_no_end_devices_all_counts_are_zero(store):
    assert await store.devices_by_contact_age(NOW, BOUNDS) == [0, 0, 0, 0]
    assert await store.events_by_state(NOW) == {"control": dict.fromkeys(EVENT_STATES, 0),
                                                "utility_event": dict.fromkeys(EVENT_STATES, 0)}


def control_state(c: ControlRecord, now: int) -> str:
    if c.cancelled_at is not None or c.status in (2, 3):
        return "cancelled"
    if c.start > now:
        return "scheduled"
    if c.start + c.duration > now and c.status != 4:
        return "active"
    return "completed"


async def expected_states(store, program_ids: list[int], event_ids: list[int], now: int) -> dict[str, dict[str, int]]:
    controls = dict.fromkeys(EVENT_STATES, 0)
    for program_id in program_ids:
        for c in await store.controls(program_id):
            controls[control_state(c, now)] += 1
    events = dict.fromkeys(EVENT_STATES, 0)
    for event_id in event_ids:
        event = await store.utility_event(event_id)
        if event.archived_at is not None:
            continue
        spans = [await store.control(s.control_id) for s in event.stages]
        if event.cancelled_at is not None:
            events["cancelled"] += 1
        elif min(c.start for c in spans) > now:
            events["scheduled"] += 1
        elif max(c.start + c.duration for c in spans) > now:
            events["active"] += 1
        else:
            events["completed"] += 1
    return {"control": controls, "utility_event": events}


async def test_events_by_state_against_each_event_classified(store):
    rng = random.Random(10)
    program = await store.create_program(mrid(1), "p", 1)
    staged = await store.create_program(mrid(2), "stages", 1)
    ids = []
    for n in range(40):
        start = NOW + rng.randint(-5000, 5000)
        ids.append(await store.add_control(program, mrid(100 + n), NOW - 9000, start, rng.choice([0, 60, 600, 6000]),
                                           {}, rng.choice([0, 1, 2, 3, 4, 5, 6]), NOW - 9000))
    for control_id in ids[::7]:
        await store.cancel_control(control_id, NOW - 100, ())
    await store.set_control_states([(i, 4, NOW, None) for i in ids[1::9]] + [(i, 1, NOW, None) for i in ids[2::9]])
    events = []
    for n, (first, second) in enumerate([(-4000, -3000), (-500, 400), (300, 900), (-100, 2000), (-9000, -8000)]):
        stages = [NewStage(NewControl(staged, mrid(1000 + 10 * n + k), NOW - 9000, NOW + offset, 600, {}, 0,
                                      NOW - 9000), None, ((7, "AA" * 20),), {})
                  for k, offset in enumerate((first, second))]
        events.append(await store.add_utility_event(mrid(500 + n), None, NOW - 9000, stages, (), ()))
    await store.cancel_utility_event(events[1], NOW - 50)
    archived = await store.utility_event(events[4])
    await store.archive_controls([s.control_id for s in archived.stages], NOW, event_id=events[4])
    assert (await store.utility_event(events[4])).archived_at is not None
    for now in (NOW - 10_000, NOW - 1000, NOW, NOW + 500, NOW + 20_000):
        assert await store.events_by_state(now) == await expected_states(store, [program, staged], events, now), now
    assert await store.clear_controls(program) == 40  # the kept totals follow deletions
    assert await store.events_by_state(NOW) == await expected_states(store, [program, staged], events, NOW)


def independent_progress(called: list[tuple[int, str]], reserved: set[int],
                         statuses: dict[str, list[int]]) -> dict[int, tuple[str, str]]:
    return {end_device_id: (name, progress.progress(statuses.get(name.upper(), ()), end_device_id in reserved))
            for end_device_id, name in called}


async def statuses_of(store, control_id: int) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for r in await store.responses(control_id):
        found.setdefault(r.end_device_lfdi.upper(), []).append(r.status)
    return found


async def all_pages(store, scope: EventScope, now: int, size: int) -> list[tuple[int, str, str]]:
    rows, start = [], 0
    while True:
        page = await store.event_device_page(scope, now, start, size)
        assert len(page) <= size
        rows += [(d.end_device_id, d.lfdi, d.progress) for d in page]
        if len(page) < size:
            return rows
        start += size


def tally(devices: dict[int, tuple[str, str]]) -> dict[str, int]:
    return progress.counts(p for _, p in devices.values())


STATUS_CHOICES = [(), (1,), (2,), (3,), (1, 3), (4,), (2, 10), (12,), (253,), (200,), (1, 200), (5, 14), (6, 7)]


async def test_a_control_s_targeted_devices_counted_and_paged(store):
    group = await store.create_group(mrid(2), "g")
    program = await store.create_program(mrid(1), "p", 1)
    ids = await add_devices(store, 1, 57, group_id=group)
    await store.set_group_program(group, program, True)
    control = await store.add_control(program, mrid(3), NOW, NOW + 600, 600, {}, 0, NOW)
    empty_program = await store.create_program(mrid(4), "nobody", 1)
    empty = await store.add_control(empty_program, mrid(5), NOW, NOW + 600, 600, {}, 0, NOW)
    rng = random.Random(57)
    for end_device_id in ids:
        for status in rng.choice(STATUS_CHOICES):
            name = lfdi(end_device_id - ids[0] + 1)
            await store.add_response(control, rng.choice([name, name.lower()]), status, NOW, NOW, {})
    called = await store.targeted_end_devices(program)
    expected = independent_progress(called, set(), await statuses_of(store, control))
    scope = EventScope("control", control)
    assert await store.event_device_counts(scope, NOW) == tally(expected)
    assert sum(tally(expected).values()) == 57 and len(set(p for _, p in expected.values())) >= 4
    listed = [(i, name, p) for i, (name, p) in sorted(expected.items())]
    for size in (1, 10, 57, 100):
        assert await all_pages(store, scope, NOW, size) == listed, size
    assert await store.event_device_page(scope, NOW, 57, 10) == []  # past the end
    assert await store.event_device_page(scope, NOW, 1000, 10) == []
    assert [d.end_device_id for d in await store.event_device_page(scope, NOW, 50, 10)] == [i for i, _, _ in listed[50:]]
    assert await store.event_device_page(scope, NOW, 0, 0) == []
    nobody = EventScope("control", empty)
    assert await store.event_device_counts(nobody, NOW) == dict.fromkeys(progress.PROGRESS, 0)
    assert await store.event_device_page(nobody, NOW, 0, 10) == []
    missing = EventScope("control", 10**9)
    assert await store.event_device_counts(missing, NOW) == dict.fromkeys(progress.PROGRESS, 0)


async def test_a_utility_event_s_stages_counted_by_each_device_s_furthest(store):
    program = await store.create_program(mrid(1), "p", 1)
    rng = random.Random(3)
    first = [(i, lfdi(i)) for i in range(1, 41)]
    second = [(i, lfdi(i)) for i in range(20, 61)]  # devices 20..40 are called by both stages

    def reservation(called: list[tuple[int, str]]) -> tuple[ReservationRecord, ...]:
        return tuple(ReservationRecord(i, name, i % 3 == 0, "reserved" if i % 3 == 0 else "not needed", 1.0, True,
                                       100.0, rank) for rank, (i, name) in enumerate(called, start=1))

    stages = [NewStage(NewControl(program, mrid(10 + k), NOW, NOW + start, 600, {}, 0, NOW), 5000, tuple(called), {},
                       reservation=reservation(called))
              for k, (start, called) in enumerate(((-300, first), (900, second)))]
    event_id = await store.add_utility_event(mrid(2), "peak", NOW, stages, (), ())
    event = await store.utility_event(event_id)
    controls = [s.control_id for s in event.stages]
    for control_id, called in zip(controls, (first, second)):
        for end_device_id, name in called:
            for status in rng.choice(STATUS_CHOICES):
                await store.add_response(control_id, rng.choice([name, name.lower()]), status, NOW, NOW, {})
    scope = EventScope("utility_event", event_id)
    for now in (NOW, NOW + 400, NOW + 2000):  # both stages open; the first ended; both ended (nobody reserved)
        merged: dict[int, tuple[str, str]] = {}
        for stage, control_id in zip(event.stages, controls):
            control = await store.control(control_id)
            called = [(p.end_device_id, p.lfdi) for p in await store.participation(control_id)]
            reserved = ({r.end_device_id for r in await store.reservation(stage.id) if r.reserved}
                        if now < control.start + control.duration else set())
            for i, (name, p) in independent_progress(called, reserved, await statuses_of(store, control_id)).items():
                merged[i] = (name, progress.furthest(merged[i][1], p) if i in merged else p)
        assert await store.event_device_counts(scope, now) == tally(merged), now
        assert await all_pages(store, scope, now, 7) == [(i, n, p) for i, (n, p) in sorted(merged.items())], now
        for control_id, stage in zip(controls, event.stages):  # each stage's DERControl on its own
            control = await store.control(control_id)
            called = [(p.end_device_id, p.lfdi) for p in await store.participation(control_id)]
            reserved = ({r.end_device_id for r in await store.reservation(stage.id) if r.reserved}
                        if now < control.start + control.duration else set())
            alone = independent_progress(called, reserved, await statuses_of(store, control_id))
            assert await store.event_device_counts(EventScope("control", control_id), now) == tally(alone)
    assert sum((await store.event_device_counts(scope, NOW)).values()) == 60


async def independent_power(store, end_device_ids: list[int], lo: int, hi: int) -> dict[int, float]:
    """The sums as the console summed each device's series before issue 14, but of a device's total series when it
    has one (a series with no phase), else of its phases."""
    sums: dict[int, float] = {}
    watts = [s for s in await store.power_history(end_device_ids, [(lo, hi)]) if s.reading_type.get("uom") == 38]
    with_total = {s.end_device_id for s in watts if not s.reading_type.get("phase")}
    for series in watts:
        if series.end_device_id in with_total and series.reading_type.get("phase"):
            continue
        scale = 10 ** int(series.reading_type.get("powerOfTenMultiplier") or 0)
        for at, _, value in series.readings:
            if at is not None and value is not None and lo <= at < hi:
                sums[at] = sums.get(at, 0) + value * scale
    return sums


async def test_fleet_power_is_summed_per_reading_start_in_the_store(store):
    group = await store.create_group(mrid(2), "g")
    program = await store.create_program(mrid(1), "p", 1)
    called = await add_devices(store, 1, 6, group_id=group)
    (phases_only,) = await add_devices(store, 60, 1, group_id=group)
    (outsider,) = await add_devices(store, 50, 1)
    await store.set_group_program(group, program, True)
    control = await store.add_control(program, mrid(3), NOW, NOW + 600, 1200, {}, 0, NOW)
    rng = random.Random(6)
    serial = iter(range(100, 10_000))
    names = {i: lfdi(i - called[0] + 1) for i in called} | {outsider: lfdi(50)}

    def reading_set(name: str, start: int, values: list[int]) -> dict:
        return {"mRID": name, "timePeriod": {"start": start, "duration": 300 * len(values)},
                "Reading": [{"value": v, "timePeriod": {"start": start + 300 * k, "duration": 300}}
                            for k, v in enumerate(values)]}

    async def mirror(owner: str, flags: str, reading_type: dict, start: int, values: list[int],
                     names: tuple[str, str, str] | None = None) -> None:
        mup, mmr, readings = names or (mrid(next(serial)), mrid(next(serial)), mrid(next(serial)))
        await store.upsert_mirror_usage_point(owner, {
            "mRID": mup, "roleFlags": flags, "serviceCategoryKind": 0, "status": 1,
            "deviceLFDI": owner.lower() if rng.random() < 0.5 else owner},
            [{"mRID": mmr, "ReadingType": reading_type, "MirrorReadingSet": [reading_set(readings, start, values)]}])

    for end_device_id, owner in names.items():
        watts = {"uom": 38, "powerOfTenMultiplier": rng.choice([0, 2, -1])}
        start = NOW - 3600 + 300 * rng.randrange(6)
        again = (mrid(next(serial)), mrid(next(serial)), mrid(next(serial)))
        flags = rng.choice(["0009", "08", "1", ""])
        # the set sent again replaces its readings: the first ones are history, not power
        await mirror(owner, flags, watts, start, [rng.randrange(-50, 500) for _ in range(30)], again)
        await mirror(owner, flags, watts, start, [rng.randrange(-50, 500) for _ in range(30)], again)
        await mirror(owner, "0009", {"uom": 38}, NOW, [rng.randrange(100) for _ in range(4)])
        await mirror(owner, "0003", {"uom": 38}, NOW, [9000, 9000])  # the site's own meter
        await mirror(owner, "000B", {"uom": 38}, NOW, [7, 7])  # a premises point that is a DER as well
        await mirror(owner, "0009", {"uom": 29}, NOW, [240, 240])  # volts
        await mirror(owner, "0009", {"uom": 38, "phase": 128}, NOW, [5000, 5000])  # phase A, within the total
    for phase, value in ((128, 11), (64, 13), (32, 17)):  # a device that reports each phase and no total
        await mirror(lfdi(60), "0009", {"uom": 38, "phase": phase}, NOW, [value, value])
    devices = [i for i, _ in await store.targeted_end_devices(program)]
    assert devices == called + [phases_only]
    lo, hi = NOW - 3000, NOW + 4800
    expected = await independent_power(store, devices, lo, hi)
    got = dict(await store.fleet_power(EventScope("control", control), NOW, lo, hi))
    assert sorted(got) == sorted(expected) and len(got) > 10
    assert all(got[at] == pytest.approx(expected[at]) for at in got)
    assert await store.fleet_power(EventScope("control", control), NOW, NOW + 20_000, NOW + 21_000) == []
    assert await store.fleet_power(EventScope("control", 10**9), NOW, lo, hi) == []
