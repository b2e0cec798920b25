"""A write acknowledged (its awaited call returned) is there for a new store opened on the same data after
close; version() moves on with every committed write, whoever made it, and stays put otherwise."""

from __future__ import annotations

import asyncio

import pytest

from der_gateway.domain.refusals import Conflict
from der_gateway.store.base import MridTaken

from .conftest import device, lfdi_of
from .utility_world import build, enrolled


async def test_everything_acknowledged_survives_close_and_reopen(store, open_store):
    agg = lfdi_of(0xA66)
    await store.add_aggregator(agg, "Acme")
    edev = await store.create_end_device(device(1, owner=agg), changed=["/edev"])
    await store.put_der_document(edev.id, 1, "ders", {"x": 1})
    log_id = await store.add_log_event(edev.id, {"createdDateTime": 5, "logEventID": 2})
    mup_id, _ = await store.upsert_mirror_usage_point(agg, {"mRID": "M1"}, [
        {"mRID": "R1", "ReadingType": {"uom": 38}, "Reading": {"value": 7}}])
    pid = await store.create_program("A" * 32, "p", 3)
    cid = await store.add_control(pid, "B" * 32, 1, 100, 60, {"y": 2}, 0, 1)
    group = await store.create_group("C" * 32, "g")
    await store.set_membership(group, [edev.id], True)
    await store.set_access(edev.id, lfdi_of(0xA67), True)
    sub = await store.add_subscription(edev.id, agg, "/edev/1", {"limit": 1})
    await store.fan_out([], [(sub, "http://n/", b"<x/>")])
    endpoint = await store.create_sync_endpoint("ops", "https://ops/")
    customer = await store.create_customer({"externalId": "C9", "name": "n", "status": "active", "accounts": []})

    before = {
        "aggregators": await store.aggregators(), "edev": await store.end_device(edev.id),
        "ders": await store.der_document(edev.id, 1, "ders"), "log": await store.log_event(edev.id, log_id),
        "mup": await store.mirror_usage_point(mup_id), "mmrs": await store.mirror_meter_readings(mup_id),
        "program": await store.program(pid), "control": await store.control(cid),
        "members": await store.group_members(group), "grants": await store.access_grants(edev.id),
        "sub": await store.subscription(sub), "outbox": await store.outbox_queue("http://n/", 10),
        "changes": await store.pending_changes(), "endpoint": await store.sync_endpoint(endpoint),
        "customer": await store.customer(customer.id),
    }
    await store.close()
    reopened = await open_store()
    after = {
        "aggregators": await reopened.aggregators(), "edev": await reopened.end_device(edev.id),
        "ders": await reopened.der_document(edev.id, 1, "ders"), "log": await reopened.log_event(edev.id, log_id),
        "mup": await reopened.mirror_usage_point(mup_id), "mmrs": await reopened.mirror_meter_readings(mup_id),
        "program": await reopened.program(pid), "control": await reopened.control(cid),
        "members": await reopened.group_members(group), "grants": await reopened.access_grants(edev.id),
        "sub": await reopened.subscription(sub), "outbox": await reopened.outbox_queue("http://n/", 10),
        "changes": await reopened.pending_changes(), "endpoint": await reopened.sync_endpoint(endpoint),
        "customer": await reopened.customer(customer.id),
    }
    assert after == before
    assert all(v not in (None, []) for v in after.values())


async def test_the_utility_s_state_survives_reopen(store, open_store):
    await store.create_sync_endpoint("ops", "https://ops/")
    await build(store)
    body = await enrolled(store, 1)
    before = (await store.der_assets(), await store.enrollments(), await store.service_tasks(),
              await store.sync_messages(), await store.end_device(body.end_device.id))
    await store.close()
    reopened = await open_store()
    after = (await reopened.der_assets(), await reopened.enrollments(), await reopened.service_tasks(),
             await reopened.sync_messages(), await reopened.end_device(body.end_device.id))
    assert after == before


async def test_a_second_store_sees_the_first_s_writes_at_once(store, open_store):
    other = await open_store()
    edev = await store.create_end_device(device(1))
    assert await other.end_device(edev.id) == edev
    await other.put_der_document(edev.id, 1, "dercap", {"type": 4})
    assert await store.der_document(edev.id, 1, "dercap") == {"type": 4}


async def test_version_moves_on_with_every_committed_write(store):
    v = await store.version()
    writes = [
        lambda: store.add_aggregator(lfdi_of(1), "a"),
        lambda: store.create_end_device(device(2)),
        lambda: store.create_program("A" * 32, "p", 1),
        lambda: store.create_group("B" * 32, "g"),
        lambda: store.set_rate("/dcap", 1, 1),
        lambda: store.upsert_mirror_usage_point(lfdi_of(3), {"mRID": "M"}, []),
        lambda: store.create_sync_endpoint("e", "https://e/"),
        lambda: store.create_tariff({"code": "T"}),
    ]
    for write in writes:
        await write()
        now = await store.version()
        assert now != v
        v = now


async def test_version_stays_put_when_nothing_is_committed(store):
    edev = await store.create_end_device(device(1))
    await store.upsert_mirror_usage_point(lfdi_of(1), {"mRID": "M"}, [])
    v = await store.version()
    await store.end_device(edev.id)
    await store.end_devices_visible_to(edev.lFDI, 0, 10)
    await store.mirror_usage_points(lfdi_of(1), 0, 10)
    await store.programs()
    assert await store.version() == v
    assert await store.version() == v
    with pytest.raises(MridTaken):  # a refused write commits nothing
        await store.upsert_mirror_usage_point(lfdi_of(2), {"mRID": "M"}, [])
    assert await store.version() == v
    await store.create_tariff({"code": "T"})
    v = await store.version()
    with pytest.raises(Conflict):
        await store.create_tariff({"code": "T"})
    assert await store.version() == v


async def _moved_from(store, version: int) -> int:
    """The store's version once it has moved from version: at once on SQLite, as soon as the commit's notification
    arrives on PostgreSQL (well under the time a client takes to hear one process and ask another)."""
    for _ in range(500):
        now = await store.version()
        if now != version:
            return now
        await asyncio.sleep(0.01)
    raise AssertionError("the version did not move within 5 s")


async def test_version_moves_on_with_a_write_from_another_store(store, open_store):
    other = await open_store()
    v = await store.version()
    await other.create_end_device(device(1))
    v2 = await _moved_from(store, v)
    await other.add_aggregator(lfdi_of(9), "x")
    await _moved_from(store, v2)


async def test_concurrent_writes_from_two_stores_all_land(store, open_store):
    other = await open_store()
    made = await asyncio.gather(*[(store if n % 2 else other).create_end_device(device(n)) for n in range(1, 21)])
    assert len({r.id for r in made}) == 20
    for s in (store, other):
        assert sorted(r.id for r in await s.all_end_devices()) == sorted(r.id for r in made)


async def test_a_refused_create_leaves_nothing_and_logs_no_change(store):
    first = await store.create_end_device(device(1), changed=["/edev"])
    pending = await store.pending_changes()
    with pytest.raises(Exception):  # the lFDI is taken
        await store.create_end_device(device(1, sfdi=999), changed=["/edev/other"])
    with pytest.raises(Exception):  # the sFDI is taken
        await store.create_end_device(device(2, sfdi=first.sFDI), changed=["/edev/other"])
    assert await store.all_end_devices() == [first]
    assert await store.pending_changes() == pending
