"""Long list pages are built by a process of their own at the lowest priority, so that the serving loop never
waits on them (issue 10: no request waits on another); the answers are the same bytes the serving loop builds."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal

import pytest
from lxml import etree

from der_gateway.sep import codec, model
from der_gateway.server import page_process
from der_gateway.server.page_process import PAGES

from . import documents

LONG = page_process.INLINE_ITEMS + 1


@pytest.fixture
async def harness(make_harness):
    """A server without its response cache, so that every page asked for is built."""
    h = make_harness(response_cache_bytes=0)
    await h.start()
    yield h
    await h.stop()


def random_lfdi() -> str:
    return secrets.token_hex(20).upper()


def _list(reply) -> model.EndDeviceList:
    body = reply if isinstance(reply, bytes) else reply.body
    return codec.decode(etree.fromstring(body), model.EndDeviceList)


def _pages(harness) -> page_process.PageProcess:
    return harness.server.runner.app[PAGES]


async def _register(aggregator, n: int) -> None:
    for _ in range(n):
        assert (await aggregator.post("/edev", documents.end_device(random_lfdi()))).status == 201


async def _until_started(harness, client, path: str) -> bytes:
    """The page at path, asked for until the page process answers pages; the serving loop's answer meanwhile."""
    first = await client.get(path)
    for _ in range(400):
        if _pages(harness).pid is not None:
            return first.body
        await asyncio.sleep(0.05)
        assert (await client.get(path)).body == first.body
    raise AssertionError("the page process did not start")


async def _page_process_serving(harness):
    """An aggregator with a long list, its page path, the page, and the page process that now builds it."""
    aggregator = harness.client("aggregator")
    await _register(aggregator, LONG)
    path = f"/edev?l={LONG}"
    expected = await _until_started(harness, aggregator, path)
    return aggregator, path, expected, _pages(harness).pid


def _scheduling(pid: int) -> int:
    return os.sched_getscheduler(pid)


async def test_a_long_page_from_the_page_process_is_the_serving_loops_page(harness):
    aggregator = harness.client("aggregator")
    await _register(aggregator, LONG + 2)
    path = f"/edev?s=1&l={LONG}"
    built_here = await _until_started(harness, aggregator, path)
    pid = _pages(harness).pid
    assert pid is not None and pid != os.getpid()
    assert _scheduling(pid) == os.SCHED_IDLE
    built_there = (await aggregator.get(path)).body
    assert built_there == built_here
    page = _list(built_there)
    assert (page.all, page.results) == (LONG + 2, LONG)


async def test_a_long_mirror_usage_point_page_from_the_page_process_is_the_serving_loops_page(harness):
    aggregator = harness.client("aggregator")
    for i in range(LONG):
        lfdi = random_lfdi()
        assert (await aggregator.post("/edev", documents.end_device(lfdi))).status == 201
        mup = documents.mirror_usage_point(lfdi, mrid=f"{i:024X}000D8C5E")
        assert (await aggregator.post("/mup", mup)).status == 201
    path = f"/mup?l={LONG}"
    built_here = await _until_started(harness, aggregator, path)
    assert (await aggregator.get(path)).body == built_here
    page = codec.decode(etree.fromstring(built_here), model.MirrorUsagePointList)
    assert (page.all, page.results) == (LONG, LONG)
    assert all(len(m.MirrorMeterReading) == 1 for m in page.MirrorUsagePoint)


async def test_a_long_page_holds_every_write_acknowledged_before_it(harness):
    aggregator = harness.client("aggregator")
    await _register(aggregator, LONG)
    await _until_started(harness, aggregator, f"/edev?l={LONG + 5}")
    for n in range(LONG + 1, LONG + 5):
        lfdi = random_lfdi()
        assert (await aggregator.post("/edev", documents.end_device(lfdi))).status == 201
        page = _list(await aggregator.get(f"/edev?l={LONG + 5}"))
        assert page.all == n and lfdi in [d.lFDI for d in page.EndDevice]


async def test_short_pages_and_other_clients_pages_stay_their_own(harness, identities):
    aggregator, device = harness.client("aggregator"), harness.client("device1")
    await _register(aggregator, LONG)
    assert (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).status == 201
    await _until_started(harness, aggregator, f"/edev?l={LONG}")
    mine = _list(await device.get(f"/edev?l={LONG}"))
    assert [d.lFDI for d in mine.EndDevice] == [identities["device1"].lfdi]
    short = _list(await aggregator.get("/edev?l=2"))
    assert (short.all, short.results) == (LONG, 2)


async def test_pages_are_answered_when_the_page_process_dies_and_it_is_started_again(harness, monkeypatch):
    monkeypatch.setattr(page_process, "RESTART_SECONDS", 0.0)
    aggregator, path, expected, first = await _page_process_serving(harness)
    os.kill(first, signal.SIGKILL)
    for _ in range(5):
        reply = await aggregator.get(path)
        assert reply.status == 200 and reply.body == expected
    assert await _until_started(harness, aggregator, path) == expected
    assert _pages(harness).pid not in (None, first)


async def test_a_starved_page_process_hands_long_pages_back_to_the_serving_loop(harness, monkeypatch):
    monkeypatch.setattr(page_process, "PATIENCE_SECONDS", 0.2)
    aggregator, path, expected, pid = await _page_process_serving(harness)
    os.kill(pid, signal.SIGSTOP)
    try:
        waiting = asyncio.ensure_future(aggregator.get(path))
        await asyncio.sleep(0.3)
        assert not waiting.done()
        reply = await asyncio.wait_for(harness.client("aggregator").get(path), 5)
        assert reply.status == 200 and reply.body == expected
    finally:
        os.kill(pid, signal.SIGCONT)
    assert (await asyncio.wait_for(waiting, 10)).body == expected


async def test_the_page_process_ends_with_the_server(harness):
    pid = (await _page_process_serving(harness))[3]
    await harness.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_pages_are_answered_when_the_page_process_cannot_open_the_store(harness, monkeypatch, tmp_path):
    monkeypatch.setattr(page_process, "RESTART_SECONDS", 0.0)
    (tmp_path / "a-file").write_text("")
    _pages(harness)._location = (None, tmp_path / "a-file" / "data")
    aggregator = harness.client("aggregator")
    await _register(aggregator, LONG)
    path = f"/edev?l={LONG}"
    expected = (await aggregator.get(path)).body
    for _ in range(20):
        reply = await aggregator.get(path)
        assert reply.status == 200 and reply.body == expected
        await asyncio.sleep(0.1)
    assert _pages(harness).pid is None
