"""A long document is built and written a batch at a time, so that one client's big list page does not hold
the event loop while other clients wait (issue 10: no request waits on another)."""

from __future__ import annotations

import asyncio

from der_gateway.config import Config
from der_gateway.sep import codec, model
from der_gateway.services.documents import encode_paced


def _page(n: int) -> model.EndDeviceList:
    return model.EndDeviceList(href="/edev", all=n, results=n, EndDevice=[
        model.EndDevice(href=f"/edev/{i}", sFDI=i, lFDI=f"{i:040X}", changedTime=0) for i in range(n)])


async def _turns_while(work: asyncio.Future | asyncio.Task) -> int:
    """How many times another task ran while work was being done."""
    turns = 0
    while not work.done():
        turns += 1
        await asyncio.sleep(0)
    return turns


async def test_a_page_of_100_end_devices_lets_others_run_between_batches():
    page = _page(100)
    work = asyncio.ensure_future(encode_paced(Config(), page))
    turns = await _turns_while(work)
    assert work.result() == codec.encode(page)
    assert turns >= 100 // 10


async def test_a_short_document_is_written_at_once():
    page = _page(3)
    work = asyncio.ensure_future(encode_paced(Config(), page))
    turns = await _turns_while(work)
    assert work.result() == codec.encode(page)
    assert turns <= 1


async def test_a_long_list_is_built_letting_others_run_between_batches():
    from der_gateway.services.resources import PACE, built_paced

    work = asyncio.ensure_future(built_paced(range(100), lambda n: n * n))
    turns = await _turns_while(work)
    assert work.result() == [n * n for n in range(100)]
    assert turns >= 100 // PACE - 1


async def test_a_page_of_end_devices_is_built_paced_and_in_order(tmp_path):
    from der_gateway.clock import SystemClock
    from der_gateway.domain.clients import Client
    from der_gateway.services import resources
    from der_gateway.store import EndDeviceRecord
    from der_gateway.store.sqlite import SQLiteStore

    aggregator = "A" * 40
    store = await SQLiteStore.open(tmp_path)
    try:
        await store.add_aggregator(aggregator, "aggregator")
        await store.bulk_add_end_devices([EndDeviceRecord(0, f"{n:040X}", 1000 + n, aggregator, 0, 111115, 0)
                                          for n in range(1, 101)])
        viewer = resources.Viewer(store, Config(), SystemClock(), Client(aggregator, True))
        page = await store.end_devices_visible_to(aggregator, 0, 100)
        built = await resources.end_devices(viewer, list(page.items))
        assert [e.sFDI for e in built] == [r.sFDI for r in page.items] and len(page.items) == 100
    finally:
        await store.close()
