"""Cached GET answers are per caller and never outlive a change to the store."""

from __future__ import annotations

import asyncio
import sqlite3

from der_gateway.sep import codec, model

from . import documents


async def test_cached_answers_are_per_caller(harness, identities):
    one, two = harness.client("device1"), harness.client("device2")
    edev = (await one.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    assert (await one.get(edev)).status == 200
    assert (await one.get(edev)).status == 200
    assert (await two.get(edev)).status == 404


async def test_a_write_is_seen_at_once(harness, identities):
    device = harness.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    first = await device.get(edev)
    assert (await device.get(edev)).body == first.body
    await device.put(edev, documents.end_device(identities["device1"].lfdi, changed=1700009999))
    assert codec.decode((await device.get(edev)).element, model.EndDevice).changedTime == 1700009999


async def test_a_write_from_another_process_is_seen(harness, identities):
    device = harness.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    assert codec.decode((await device.get(edev)).element, model.EndDevice).enabled is True
    conn = sqlite3.connect(harness.server.store.path)
    with conn:
        conn.execute("UPDATE end_devices SET enabled = 0")
    conn.close()
    assert codec.decode((await device.get(edev)).element, model.EndDevice).enabled is False


async def test_time_is_never_cached(harness):
    device = harness.client("device1")
    first = codec.decode((await device.get("/tm")).element, model.Time)
    await asyncio.sleep(1.1)
    second = codec.decode((await device.get("/tm")).element, model.Time)
    assert second.currentTime > first.currentTime
