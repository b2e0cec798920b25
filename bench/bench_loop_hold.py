"""How long one list page holds the event loop: the CPU time of each callback the loop runs while an aggregator's
EndDeviceList pages of 100 are built and encoded without pause, beside a task that wakes every millisecond.

    python bench/bench_loop_hold.py [--devices 5000] [--seconds 4]
    PYTHONPATH=<other checkout>/src python bench/bench_loop_hold.py     (the same on other code, for a baseline)

A request waiting behind a page waits for the callback that holds the loop; CPU time per callback (thread time)
is what the code decides, where wall-clock lag on a shared machine also counts other processes.  Prints p50,
p99, p99.9 and the longest callback, and the page rate.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

AGGREGATOR = "A" * 40


async def run(devices: int, seconds: float) -> tuple[list[float], int]:
    from der_gateway.clock import SystemClock
    from der_gateway.config import Config
    from der_gateway.domain.clients import Client
    from der_gateway.services import documents, resources
    from der_gateway.store import EndDeviceRecord
    from der_gateway.store.sqlite import SQLiteStore

    encode = getattr(documents, "encode_paced", None)
    rng = random.Random(1)
    with tempfile.TemporaryDirectory(prefix="der-gateway-loop-") as tmp:
        store = await SQLiteStore.open(Path(tmp))
        try:
            await store.add_aggregator(AGGREGATOR, "aggregator")
            await store.bulk_add_end_devices([EndDeviceRecord(0, f"{rng.getrandbits(160):040X}", s, AGGREGATOR, 0,
                                                              111115, 0) for s in rng.sample(range(10**11), devices)])
            config = Config()
            held: list[float] = []
            original = asyncio.events.Handle._run

            def timed(handle: asyncio.events.Handle) -> None:
                started = time.thread_time()
                original(handle)
                held.append(time.thread_time() - started)

            asyncio.events.Handle._run = timed  # type: ignore[method-assign]
            pages = 0
            deadline = time.monotonic() + seconds

            async def pager() -> None:
                nonlocal pages
                while time.monotonic() < deadline:
                    viewer = resources.Viewer(store, config, SystemClock(), Client(AGGREGATOR, True))
                    page = await resources.end_device_list(viewer, rng.randint(0, devices - 100), 100)
                    if encode is not None:
                        await encode(config, page)
                    else:
                        documents.encode(config, page)
                    pages += 1

            async def ticker() -> None:
                while time.monotonic() < deadline:
                    await asyncio.sleep(0.001)

            try:
                await asyncio.gather(pager(), ticker())
            finally:
                asyncio.events.Handle._run = original  # type: ignore[method-assign]
            return held, pages
        finally:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    held, pages = asyncio.run(run(args.devices, args.seconds))
    held.sort()

    def at(q: float) -> float:
        return 1000 * held[min(len(held) - 1, int(q * len(held)))]
    print(f"{len(held)} callbacks, {pages / args.seconds:.0f} pages of 100 a second; CPU ms per callback: "
          f"p50 {at(0.5):.3f}  p99 {at(0.99):.3f}  p99.9 {at(0.999):.3f}  max {1000 * held[-1]:.3f}")


if __name__ == "__main__":
    main()
