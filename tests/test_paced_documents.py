"""A long document is built and written in turns of the event loop, so that one client's big list page does not
hold the loop while other clients wait (issue 10: no request waits on another)."""

from __future__ import annotations

import asyncio

from der_gateway.config import Config
from der_gateway.sep import codec, model
from der_gateway.services.documents import encode_paced
from der_gateway.services.pacing import Turns
from der_gateway.services.resources import built_paced

EVERY_ITEM = 0.0  # a turn ends after each item
NEVER = 3600.0  # one turn for the whole document


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


async def test_a_page_of_100_end_devices_is_written_an_item_a_turn_when_each_takes_a_turn():
    page = _page(100)
    work = asyncio.ensure_future(encode_paced(Config(), page, Turns(EVERY_ITEM)))
    turns = await _turns_while(work)
    assert work.result() == codec.encode(page)
    assert turns >= 100


async def test_a_document_is_written_at_once_within_one_turn():
    for n in (3, 100):
        page = _page(n)
        work = asyncio.ensure_future(encode_paced(Config(), page, Turns(NEVER)))
        turns = await _turns_while(work)
        assert work.result() == codec.encode(page)
        assert turns <= 1  # the task's first step


async def test_a_long_list_is_built_in_turns():
    for seconds, most, least in ((EVERY_ITEM, None, 100), (NEVER, 1, 0)):
        work = asyncio.ensure_future(built_paced(range(100), lambda n: n * n, Turns(seconds)))
        turns = await _turns_while(work)
        assert work.result() == [n * n for n in range(100)]
        assert turns >= least and (most is None or turns <= most)


async def test_a_turn_ends_when_its_time_has_run():
    long = Turns(NEVER)
    began = long.began
    await long.between()
    assert long.began == began  # not yet
    short = Turns(0.05)
    began = short.began
    await asyncio.sleep(0.1)
    await short.between()
    assert short.began > began


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
