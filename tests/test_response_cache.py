"""Cached GET answers are per caller and never outlive a change to the store."""

from __future__ import annotations

import asyncio

from aiohttp import web

from der_gateway.sep import codec, model
from der_gateway.server.cache import ENTRY_OVERHEAD, ResponseCache
from der_gateway.server.state import RESPONSE_CACHE

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
    harness.execute_elsewhere("UPDATE end_devices SET enabled = 0")
    assert codec.decode((await device.get(edev)).element, model.EndDevice).enabled is False


async def test_time_is_never_cached(harness):
    device = harness.client("device1")
    first = codec.decode((await device.get("/tm")).element, model.Time)
    await asyncio.sleep(1.1)
    second = codec.decode((await device.get("/tm")).element, model.Time)
    assert second.currentTime > first.currentTime


def _cache(harness):
    return harness.server.runner.app[RESPONSE_CACHE]


async def test_query_parameters_that_change_nothing_share_one_entry(harness, identities):
    device = harness.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    for n in range(300):
        assert (await device.get(f"{edev}/lel?l=500&junk={n}")).status == 200
    for alias in ("l=500", "l=0500", "l=9999&s=0", "s=00&l=500"):  # l is capped at max_list_limit (500)
        assert (await device.get(f"{edev}/lel?{alias}")).status == 200
    assert len(_cache(harness)) == 1


async def test_one_client_filling_the_cache_evicts_its_own_answers(make_harness, identities):
    harness = make_harness(response_cache_bytes=64 * 1024)
    await harness.start()
    try:
        one, two = harness.client("device1"), harness.client("device2")
        edev = (await one.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
        await two.post("/edev", documents.end_device(identities["device2"].lfdi))
        cache = _cache(harness)
        assert (await one.get(edev)).status == 200
        held = cache.held_by(identities["device1"].lfdi)
        assert held > 0
        for s in range(400):  # every start index is a different answer, each kept
            assert (await two.get(f"/edev/2/lel?s={s}&l=5")).status == 200
        assert cache.bytes <= cache.max_bytes
        assert cache.held_by(identities["device1"].lfdi) == held  # still there: two gave way to itself
        assert cache.held_by(identities["device2"].lfdi) > cache.max_bytes // 2
        assert len(cache) < 400
    finally:
        await harness.stop()


def test_eviction_takes_from_the_largest_holder_first():
    cache = ResponseCache(max_bytes=10 * (1000 + ENTRY_OVERHEAD + 20))

    def answer(size: int) -> web.Response:
        return web.Response(body=b"x" * size, content_type="application/sep+xml")

    for n in range(3):
        cache.keep("small", f"/edev/{n}?s=0&a=&l=1", 1, answer(1000))
    for n in range(40):
        cache.keep("greedy", f"/edev/1/lel?s={n}&a=&l=1", 1, answer(1000))
        assert cache.bytes <= cache.max_bytes
    assert cache.held_by("small") == 3 * (1000 + ENTRY_OVERHEAD + len("/edev/0?s=0&a=&l=1"))
    assert cache.lookup("small", "/edev/0?s=0&a=&l=1", 1) is not None
    assert cache.lookup("greedy", "/edev/1/lel?s=39&a=&l=1", 1) is not None  # its newest stay
    assert cache.lookup("greedy", "/edev/1/lel?s=0&a=&l=1", 1) is None
    assert cache.lookup("small", "/edev/0?s=0&a=&l=1", 2) is None  # another store version: not served


async def test_a_revocation_from_another_process_is_seen_at_once(harness, identities):
    device = harness.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    assert (await device.get(edev)).status == 200
    assert (await device.get(edev)).status == 200  # from the cache, with the caller's access as last read
    harness.execute_elsewhere("INSERT INTO revoked_clients (lfdi, revoked) VALUES (?, 1700000000)",
                              (identities["device1"].lfdi,))
    refused = await device.get(edev)
    assert refused.status == 403 and "revoked" in refused.reason
