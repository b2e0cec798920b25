"""Answers built from the clock (event states) are cached until the instant they next change, never past it."""

from __future__ import annotations

import sqlite3

import pytest

from der_gateway.clock import ManualClock
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model
from der_gateway.services import der_controls
from der_gateway.server.state import RESPONSE_CACHE

from . import documents

PEN = Pen(40732)
T0 = 1_800_000_000


def doc(reply, cls):
    assert reply.status == 200, (reply.status, reply.reason)
    return codec.decode(reply.element, cls)


def control(start: int, duration: int, **extra) -> model.DERControl:
    return model.DERControl(
        mRID="", creationTime=0, interval=model.DateTimeInterval(start=start, duration=duration),
        EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
        DERControlBase=model.DERControlBase(opModMaxLimW=5000), **extra)


@pytest.fixture
async def plant(make_harness, identities):
    """device1 in a group holding one program; the background scheduler stopped, so that nothing but
    the clock moves between requests (the store's version stays put)."""
    clock = ManualClock(T0)
    h = make_harness(clock=clock)
    await h.start()
    reply = await h.client("device1").post("/edev", documents.end_device(identities["device1"].lfdi))
    assert reply.status == 201
    edev = int(reply.headers["Location"].rsplit("/", 1)[1])
    group = await h.store.create_group(new_mrid(PEN), "feeder 7")
    await h.store.set_membership(group, [edev], True)
    program = await h.store.create_program(new_mrid(PEN), "curtailment", 1)
    await h.store.set_group_program(group, program, True)
    yield h, clock, group, program, edev
    await h.stop()


class Probe:
    """GETs one path and tells whether the answer came from the cache, with the store unchanged."""

    def __init__(self, h) -> None:
        self.h, self.device, self.cache = h, h.client("device1"), h.server.runner.app[RESPONSE_CACHE]

    async def get(self, path: str, cls) -> tuple[object, bool]:
        version, hits = await self.h.store.version(), self.cache.hits
        reply = doc(await self.device.get(path), cls)
        if self.h.config.store is None:  # PostgreSQL's version also moves with any writer in its cluster
            assert await self.h.store.version() == version
        return reply, self.cache.hits == hits + 1


async def test_event_documents_are_served_from_the_cache_until_the_event_starts_and_ends(plant):
    h, clock, group, program, edev_id = plant
    event = await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 100, 600))
    await h.server.stop_background()
    probe = Probe(h)
    paths = {
        f"/derp/{program}/derc?l=10": model.DERControlList,
        f"/derp/{program}/actderc?l=10": model.DERControlList,
        f"/derp/{program}/derc/{event.id}": model.DERControl,
        f"/derp/{program}": model.DERProgram,
        f"/fsa/{group}/derp?l=10": model.DERProgramList,
    }

    def status(path, answer):
        if isinstance(answer, model.DERControl):
            return answer.EventStatus.currentStatus
        if isinstance(answer, model.DERControlList):
            return [c.EventStatus.currentStatus for c in answer.DERControl]
        programs = answer.DERProgram if isinstance(answer, model.DERProgramList) else [answer]
        return [(p.ActiveDERControlListLink.all, p.DERControlListLink.all) for p in programs]

    scheduled = {f"/derp/{program}/derc?l=10": [0], f"/derp/{program}/actderc?l=10": [],
                 f"/derp/{program}/derc/{event.id}": 0, f"/derp/{program}": [(0, 1)],
                 f"/fsa/{group}/derp?l=10": [(0, 1)]}
    active = {f"/derp/{program}/derc?l=10": [1], f"/derp/{program}/actderc?l=10": [1],
              f"/derp/{program}/derc/{event.id}": 1, f"/derp/{program}": [(1, 1)],
              f"/fsa/{group}/derp?l=10": [(1, 1)]}
    over = {f"/derp/{program}/derc?l=10": [], f"/derp/{program}/actderc?l=10": [],
            f"/derp/{program}/derc/{event.id}": 1, f"/derp/{program}": [(0, 0)],
            f"/fsa/{group}/derp?l=10": [(0, 0)]}

    for path, cls in paths.items():
        answer, cached = await probe.get(path, cls)
        assert status(path, answer) == scheduled[path] and not cached
    for when, expected, from_cache in ((T0 + 1, scheduled, True), (T0 + 99, scheduled, True),
                                       (T0 + 100, active, False), (T0 + 101, active, True),
                                       (T0 + 699, active, True), (T0 + 700, over, False),
                                       (T0 + 5000, over, None)):
        clock.set(when)
        for path, cls in paths.items():
            answer, cached = await probe.get(path, cls)
            assert status(path, answer) == expected[path], (when, path)
            if from_cache is not None:
                assert cached == from_cache, (when, path)


async def test_a_clock_set_back_is_not_served_a_later_answer(plant):
    h, clock, group, program, edev_id = plant
    await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 100, 600))
    await h.server.stop_background()
    probe = Probe(h)
    clock.set(T0 + 150)
    answer, _ = await probe.get(f"/derp/{program}/actderc", model.DERControlList)
    assert answer.all == 1
    clock.set(T0 + 50)
    answer, cached = await probe.get(f"/derp/{program}/actderc", model.DERControlList)
    assert answer.all == 0 and not cached


async def test_randomized_events_stay_listed_until_their_randomization_is_over(plant):
    h, clock, group, program, edev_id = plant
    await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 100, 600, randomizeDuration=120))
    await h.server.stop_background()
    probe = Probe(h)
    clock.set(T0 + 700)
    answer, _ = await probe.get(f"/derp/{program}/derc", model.DERControlList)
    assert answer.all == 1
    clock.set(T0 + 819)
    answer, cached = await probe.get(f"/derp/{program}/derc", model.DERControlList)
    assert answer.all == 1 and cached
    clock.set(T0 + 820)
    answer, cached = await probe.get(f"/derp/{program}/derc", model.DERControlList)
    assert answer.all == 0 and not cached


async def test_a_new_event_is_seen_at_once(plant):
    h, clock, group, program, edev_id = plant
    probe = Probe(h)
    answer, _ = await probe.get(f"/derp/{program}/derc", model.DERControlList)
    assert answer.all == 0
    await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 100, 600))
    assert doc(await h.client("device1").get(f"/derp/{program}/derc"), model.DERControlList).all == 1


async def test_a_device_uploading_its_status_or_a_response_leaves_other_answers_cached(plant, identities):
    h, clock, group, program, edev_id = plant
    event = await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 100, 600))
    await h.server.stop_background()
    device = h.client("device1")
    edev = f"/edev/{edev_id}"
    cache = h.server.runner.app[RESPONSE_CACHE]
    shown = [f"/derp/{program}/derc?l=10", f"/fsa/{group}/derp?l=10", "/edev?l=10", "/dcap"]
    for path in shown:
        assert (await device.get(path)).status == 200
    assert (await device.put(f"{edev}/der/1/ders", codec.encode(documents.der_status()))).status == 204
    assert doc(await device.get(f"{edev}/der/1/ders"), model.DERStatus).genConnectStatus is not None
    reply = await device.post("/rsps/1/rsp", codec.encode(model.DERControlResponse(
        createdDateTime=T0 + 1, endDeviceLFDI=identities["device1"].lfdi, status=1, subject=event.mRID)))
    assert reply.status == 201
    hits = cache.hits
    for path in shown:
        assert (await device.get(path)).status == 200
    assert cache.hits == hits + len(shown)

    # a second status is seen at once, by the device and from another process alike
    status = documents.der_status()
    status.genConnectStatus.value = "02"
    assert (await device.put(f"{edev}/der/1/ders", codec.encode(status))).status == 204
    assert doc(await device.get(f"{edev}/der/1/ders"), model.DERStatus).genConnectStatus.value == "02"
    h.execute_elsewhere("DELETE FROM der_documents WHERE kind = 'ders'")
    assert (await device.get(f"{edev}/der/1/ders")).status == 404
    assert doc(await device.get("/rsps/1/rsp?l=10"), model.ResponseList).all == 1


async def test_a_write_to_what_a_list_shows_is_seen_at_once(plant, identities):
    h, clock, group, program, edev_id = plant
    device = h.client("device1")
    fsas = f"/edev/{edev_id}/fsa"
    assert doc(await device.get(fsas), model.FunctionSetAssignmentsList).all == 1
    assert doc(await device.get(f"/fsa/{group}/derp"), model.DERProgramList).all == 1
    other = await h.store.create_program(new_mrid(PEN), "volt-var", 2)
    await h.store.set_group_program(group, other, True)
    assert doc(await device.get(f"/fsa/{group}/derp"), model.DERProgramList).all == 2
    await h.store.set_membership(group, [edev_id], False)
    assert doc(await device.get(fsas), model.FunctionSetAssignmentsList).all == 0
    assert (await device.get(f"/fsa/{group}/derp")).status == 404

    # readings leave DeviceCapability cached, but a new mirror is counted at once
    assert doc(await device.get("/dcap"), model.DeviceCapability).MirrorUsagePointListLink.all == 0
    mup = (await device.post("/mup", documents.mirror_usage_point(identities["device1"].lfdi))).headers["Location"]
    assert doc(await device.get("/dcap"), model.DeviceCapability).MirrorUsagePointListLink.all == 1
    assert doc(await device.get(mup), model.MirrorUsagePoint).MirrorMeterReading[0].Reading.value == 3000
    reading = documents.mirror_meter_reading("00" * 12 + "000D8C5E", 7, start=1700000300)
    assert (await device.post(mup, codec.encode(reading))).status in (201, 204)
    cache = h.server.runner.app[RESPONSE_CACHE]
    hits = cache.hits
    assert doc(await device.get("/dcap"), model.DeviceCapability).MirrorUsagePointListLink.all == 1
    assert cache.hits == hits + 1
    assert doc(await device.get(mup), model.MirrorUsagePoint).MirrorMeterReading[0].Reading.value == 7


async def test_every_table_a_resource_may_show_bumps_a_counter(plant):
    """Each table has its triggers, but the notifier's and the sync's queues and the clients' last contacts, which no
    resource shows, and the indexes of lists, which move only with the tables they index."""
    h, clock, group, program, edev_id = plant
    if h.config.store is not None:
        pytest.skip("SQLite's triggers; tests/test_pg_schema.py compares PostgreSQL's with them")
    conn = sqlite3.connect(h.store.path)
    try:
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")}
        triggered = {r[0] for r in conn.execute(
            "SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'cache_generation_%'")}
        before = dict(conn.execute("SELECT topic, generation FROM cache_generations"))
        with conn:
            conn.execute("INSERT INTO changes (resource, status) VALUES ('/edev', 0)")
        assert dict(conn.execute("SELECT topic, generation FROM cache_generations")) == before
    finally:
        conn.close()
    assert tables - triggered == {"changes", "outbox", "sync_messages", "cache_generations", "list_counts",
                                  "end_device_views", "response_views", "end_device_contacts"}
