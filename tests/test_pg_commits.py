"""On PostgreSQL the store reads nothing on the event loop, learns of other replicas' commits by LISTEN/NOTIFY
(store/postgres/commits.py: its version()), and reads the cache's counters once for all the requests that ask
while a read is under way; on a real server."""

from __future__ import annotations

import asyncio
import time
from typing import AsyncIterator, Awaitable, Callable

import psycopg
import pytest

from der_gateway.store import EndDeviceRecord
from der_gateway.store.postgres import commits
from der_gateway.store.postgres.store import PostgresStore
from der_gateway.store.topics import GLOBAL


@pytest.fixture
async def two(postgres_dsn: str) -> AsyncIterator[tuple[PostgresStore, PostgresStore]]:
    first = await PostgresStore.open_dsn(postgres_dsn)
    second = await PostgresStore.open_dsn(postgres_dsn)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.01)


def bump_silently(dsn: str, topic: str) -> None:
    """What no store write does: change a counter without the commit notification."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE cache_generations SET generation = generation + 1 WHERE topic = %s", (topic,))


async def test_a_write_through_one_replica_moves_the_others_counters_and_version(
        two: tuple[PostgresStore, PostgresStore]) -> None:
    first, second = two
    before, version = await second.generations([GLOBAL]), await second.version()
    await first.add_aggregator("A" * 40, "one")

    async def moved() -> bool:
        return await second.generations([GLOBAL]) != before and await second.version() != version
    await eventually(moved)
    # and the writer sees its own write as soon as it is acknowledged
    assert (await first.generations([GLOBAL]))[0] == (await second.generations([GLOBAL]))[0]


async def test_a_counter_changed_by_anyone_is_read_at_once(postgres_dsn: str,
                                                           two: tuple[PostgresStore, PostgresStore]) -> None:
    first, second = two
    await first.add_aggregator("A" * 40, "one")
    seen = await second.generations([GLOBAL])
    await asyncio.to_thread(bump_silently, postgres_dsn, GLOBAL)
    # not announced, not waited for: the read that follows began after the commit
    assert await second.generations([GLOBAL]) == (seen[0] + 1,)


async def test_the_requests_waiting_for_the_counters_share_one_read(
        two: tuple[PostgresStore, PostgresStore]) -> None:
    _, second = two
    reads = 0
    read = second._read_counters

    async def counted() -> dict[str, int]:
        nonlocal reads
        reads += 1
        return await read()
    second._counters = type(second._counters)(counted)
    answers = await asyncio.gather(*(second.generations([GLOBAL]) for _ in range(50)))
    assert len(set(answers)) == 1
    assert 1 <= reads <= 2  # the first caller's read, and one shared by all who asked while it ran


async def _equal(first: PostgresStore, second: PostgresStore) -> bool:
    return await first.generations([GLOBAL]) == await second.generations([GLOBAL])


async def test_without_the_listener_every_read_asks_and_the_listener_comes_back(
        postgres_dsn: str, two: tuple[PostgresStore, PostgresStore]) -> None:
    first, second = two
    await first.add_aggregator("A" * 40, "one")
    seen = await second.generations([GLOBAL])
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        killed = conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                              "WHERE application_name LIKE 'der-gateway commits %'").fetchone()
    assert killed == (2,)

    async def deaf() -> bool:
        second._commits.poll()
        return not second._commits.live
    await eventually(deaf)
    await asyncio.to_thread(bump_silently, postgres_dsn, GLOBAL)
    if not second._commits.live:  # (unless it came back already: then the reconnection itself moved the epoch)
        assert (await second.generations([GLOBAL]))[0] == seen[0] + 1

    async def back() -> bool:
        second._commits.poll()
        return second._commits.live
    await eventually(back, within=commits.RETRY + 5)
    assert (await second.generations([GLOBAL]))[0] == seen[0] + 1
    await first.add_aggregator("B" * 40, "two")
    await eventually(lambda: _equal(first, second))
    assert (await second.generations([GLOBAL]))[0] == seen[0] + 2


async def test_a_slow_lookup_does_not_hold_the_event_loop(two: tuple[PostgresStore, PostgresStore]) -> None:
    first, _ = two
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1
    ticker = asyncio.create_task(tick())
    try:
        began = time.monotonic()
        assert await first._one("SELECT 1 FROM pg_sleep(0.5)") == (1,)
        assert time.monotonic() - began >= 0.5
    finally:
        ticker.cancel()
    assert ticks >= 20  # the loop ran the ticker meanwhile (about 50 times); on the loop it would have run once


async def test_a_transaction_bumps_a_topic_once_however_many_rows_it_writes(postgres_dsn: str) -> None:
    store = await PostgresStore.open_dsn(postgres_dsn)
    try:
        group = await store.create_group("00" * 16, "feeder")
        devices = await store.bulk_add_end_devices([
            EndDeviceRecord(id=0, lFDI=f"{n:040X}", sFDI=n + 1, owner_lfdi="A" * 40, changedTime=0, pIN=111115,
                            dateTimeRegistered=0) for n in range(300)])
        (before,) = await store.generations([GLOBAL])
        await store.set_membership(group, list(devices), True)  # 300 rows in one transaction
        assert await store.count_group_members(group) == 300
        assert await store.generations([GLOBAL]) == (before + 1,)
        await store.set_membership(group, list(devices)[:10], False)
        await store.set_membership(group, list(devices)[10:20], False)
        assert await store.generations([GLOBAL]) == (before + 3,)
    finally:
        await store.close()
