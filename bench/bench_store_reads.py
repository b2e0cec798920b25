"""Where a store read should run: a point lookup on the event loop's connection, or on a reader thread.

    python bench/bench_store_reads.py [--devices 100000] [--reads 5000] [--mirrors 1000,200000]

Loads N EndDevices (SQLiteStore.bulk_add_end_devices), then times, one at a time, the same point lookup
(an EndDevice by id) run on the loop (SQLiteStore._one, as end_device() does) and run on a reader thread
(SQLiteStore._read), and a 20-device EndDeviceList page run on the loop and on a reader thread; prints p50/p99
in microseconds.  The hop to a thread costs a wake-up and a return through the loop; a list page pays it
once, and in return never holds up the loop while it steps.

Then, for each --mirrors count M, one client's M MirrorUsagePoints (random 32-hex-digit mRIDs, inserted in
one transaction) and random MirrorUsagePointList pages of 20 of them (SQLiteStore.mirror_usage_points).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

AGGREGATOR = "A" * 40


def _quantiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    return (f"p50 {1e6 * statistics.median(ordered):8.1f} us   "
            f"p99 {1e6 * ordered[int(0.99 * (len(ordered) - 1))]:8.1f} us")


async def main_async(devices: int, reads: int) -> None:
    from der_gateway.store import EndDeviceRecord
    from der_gateway.store.sqlite import _END_DEVICE_COLUMNS, SQLiteStore, _visible_page

    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="der-gateway-reads-") as tmp:
        store = await SQLiteStore.open(Path(tmp))
        try:
            sfdis = rng.sample(range((1 << 36) * 10), devices)
            for first in range(0, devices, 100_000):
                await store.bulk_add_end_devices([
                    EndDeviceRecord(0, f"{rng.getrandbits(160):040X}", s, AGGREGATOR, 0, 111115, 0)
                    for s in sfdis[first:first + 100_000]])
            sql = f"SELECT {_END_DEVICE_COLUMNS} FROM end_devices WHERE id = ?"

            def on_thread(c, i):
                return c.execute(sql, (i,)).fetchone()

            async def point_on_loop() -> None:
                await store._one(sql, (rng.randint(1, devices),))

            async def point_on_thread() -> None:
                await store._read(on_thread, rng.randint(1, devices))

            async def page_on_loop() -> None:
                _visible_page(store._reader, AGGREGATOR, rng.randrange(devices), 20)

            async def page_on_thread() -> None:
                await store._read(_visible_page, AGGREGATOR, rng.randrange(devices), 20)

            for name, fn in (("point lookup, on the loop", point_on_loop),
                             ("point lookup, on a reader thread", point_on_thread),
                             ("EndDeviceList page of 20, on the loop", page_on_loop),
                             ("EndDeviceList page of 20, on a reader thread", page_on_thread)):
                for _ in range(200):
                    await fn()
                samples = []
                for _ in range(reads):
                    started = time.perf_counter()
                    await fn()
                    samples.append(time.perf_counter() - started)
                print(f"{name:48} {_quantiles(samples)}")
        finally:
            await store.close()


async def mirrors_async(mirrors: int, reads: int) -> None:
    from der_gateway.store.sqlite import SQLiteStore

    rng = random.Random(2)
    with tempfile.TemporaryDirectory(prefix="der-gateway-mirrors-") as tmp:
        store = await SQLiteStore.open(Path(tmp))
        try:
            rows = [(AGGREGATOR, f"{rng.getrandbits(128):032X}", "{}") for _ in range(mirrors)]
            await store._in_transaction(lambda c: c.executemany(
                "INSERT INTO mirror_usage_points (owner_lfdi, mrid, body) VALUES (?, ?, ?)", rows))
            for _ in range(200):
                await store.mirror_usage_points(AGGREGATOR, rng.randrange(mirrors), 20)
            samples = []
            for _ in range(reads):
                start = rng.randrange(mirrors)
                started = time.perf_counter()
                page = await store.mirror_usage_points(AGGREGATOR, start, 20)
                samples.append(time.perf_counter() - started)
                assert page.all == mirrors and len(page.items) == min(20, mirrors - start)
            print(f"{f'MirrorUsagePointList page of 20 of {mirrors:,}':48} {_quantiles(samples)}")
        finally:
            await store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--mirrors", default="1000,200000", help="MirrorUsagePoint counts (default %(default)s)")
    args = parser.parse_args()
    asyncio.run(main_async(args.devices, args.reads))
    for mirrors in (int(m) for m in args.mirrors.split(",") if m.strip()):
        asyncio.run(mirrors_async(mirrors, args.reads))
    return 0


if __name__ == "__main__":
    sys.exit(main())
