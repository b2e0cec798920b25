"""The notification outbox: delivery rate, and repeats after kill -9, marking each item vs each batch.

    python bench/bench_delivery.py [--rounds 2] [--kills 4] [--json FILE]

Both modes run in the same run, on the same machine, alternating:
- "item" (the server's behaviour): each acknowledged notification is committed as delivered before
  the next one to its URI is POSTed; commits of items acknowledged on different URIs meanwhile are
  grouped into one.
- "batch" (the baseline, as before issue 9): up to 100 items of a URI are POSTed, then marked
  delivered together (NotificationDelivery(batch_marking=True)).

1. Rate: a real SQLite outbox (WAL, synchronous=FULL) in a temporary directory is filled with
   notifications; NotificationDelivery (the background task, over real HTTP) sends them to a receiver
   on 127.0.0.1 running in its own process (aiohttp, answers 201), and the time until the outbox is
   empty is measured.  Shapes: 1 URI x 2,000 items (one queue, nothing to group), 200 URIs x 10 items,
   and 2,000 URIs x 1 item.
2. kill -9: the outbox holds 8 URIs x 300 numbered notifications; a delivery process (this script with
   --deliver) is started, SIGKILLed once the receiver (in this process) has had another 1/(kills+2) of
   them, restarted, ..., and finally left to finish.  Per URI: POSTs that repeat a notification already
   received, and POSTs of a lower number than the one before (a subscriber going back in time).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing as mp
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from der_gateway.clock import SystemClock
from der_gateway.config import Config
from der_gateway.server.delivery import NotificationDelivery
from der_gateway.store.sqlite import SQLiteStore

MODES = {"item": False, "batch": True}  # name -> batch_marking
SHAPES = [(1, 2000), (200, 10), (2000, 1)]  # (URIs, items per URI)
LOOPBACK = ("127.0.0.1/32",)


def body(n: int) -> bytes:
    return f'<Notification xmlns="urn:ieee:std:2030.5:ns"><n>{n}</n></Notification>'.encode()


# -- the receiver of the rate runs, in its own process ----------------------------------------------


def _receive(port_out: mp.Queue) -> None:
    async def main() -> None:
        async def handle(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=201)

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_out.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def rate(port: int, uris: int, per_uri: int, batch_marking: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        store = await SQLiteStore.open(Path(tmp))
        try:
            await store.fan_out([], [(u + 1, f"http://127.0.0.1:{port}/u/{u}", body(n))
                                     for n in range(per_uri) for u in range(uris)])
            delivery = NotificationDelivery(store, Config(notification_allow_addresses=LOOPBACK), SystemClock(),
                                            batch_marking=batch_marking)
            total = uris * per_uri
            started = time.perf_counter()
            await delivery.start()
            while delivery.delivered_total < total:
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
            await delivery.stop()
            assert await store.outbox_size() == 0 and delivery.failed_total == 0
            return total / elapsed
        finally:
            await store.close()


# -- kill -9 -----------------------------------------------------------------------------------------


async def deliver_forever(data_dir: Path, batch_marking: bool) -> None:
    """The delivery process that is killed: the outbox in data_dir, sent as the server sends it."""
    store = await SQLiteStore.open(data_dir)
    delivery = NotificationDelivery(store, Config(notification_allow_addresses=LOOPBACK), SystemClock(),
                                    batch_marking=batch_marking)
    await delivery.start()
    await asyncio.Event().wait()


async def kill_run(batch_marking: bool, kills: int, uris: int = 8, per_uri: int = 300) -> dict:
    seen: dict[str, list[int]] = {}
    count = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal count
        number = int(re.search(rb"<n>(\d+)</n>", await request.read()).group(1))
        seen.setdefault(request.path, []).append(number)
        count += 1
        await asyncio.sleep(0.001)  # a receiver doing a little work: POSTs are in flight when the kill comes
        return web.Response(status=201)

    app = web.Application()
    app.router.add_post("/u/{n}", handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    total = uris * per_uri
    with tempfile.TemporaryDirectory() as tmp:
        store = await SQLiteStore.open(Path(tmp))
        await store.fan_out([], [(u + 1, f"http://127.0.0.1:{port}/u/{u}", body(n))
                                 for n in range(per_uri) for u in range(uris)])
        await store.close()
        try:
            for run in range(kills + 1):
                command = [sys.executable, __file__, "--deliver", tmp] + (["--batch-marking"] if batch_marking else [])
                proc = subprocess.Popen(command)
                try:
                    target = count + total // (kills + 2)
                    deadline = time.monotonic() + 120
                    while (count < target if run < kills else
                           any(len(set(seen.get(f"/u/{u}", ()))) < per_uri for u in range(uris))):
                        if proc.poll() is not None or time.monotonic() > deadline:
                            raise RuntimeError(f"delivery process ended or stalled (run {run}, {count} POSTs)")
                        await asyncio.sleep(0.002)
                finally:
                    proc.kill()
                    proc.wait()
        finally:
            await runner.cleanup()
    repeats = {path: len(sequence) - len(set(sequence)) for path, sequence in seen.items()}
    regressions = {path: sum(b < a for a, b in zip(sequence, sequence[1:])) for path, sequence in seen.items()}
    lost = sum(per_uri - len(set(sequence)) for sequence in seen.values()) + per_uri * (uris - len(seen))
    return {"kills": kills, "uris": uris, "notifications": total, "posts": count,
            "repeated": sum(repeats.values()), "max_repeated_per_uri": max(repeats.values()),
            "uris_going_back": sum(1 for r in regressions.values() if r), "lost": lost}


async def main(args: argparse.Namespace) -> dict:
    queue: mp.Queue = mp.Queue()
    receiver = mp.Process(target=_receive, args=(queue,), daemon=True)
    receiver.start()
    port = queue.get(timeout=30)
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
                     "rate": {}, "kill": {}}
    try:
        for uris, per_uri in SHAPES:
            shape = f"{uris} URIs x {per_uri}"
            figures: dict[str, list[float]] = {m: [] for m in MODES}
            for _ in range(args.rounds):
                for mode, batch_marking in MODES.items():
                    figures[mode].append(await rate(port, uris, per_uri, batch_marking))
            results["rate"][shape] = {m: round(max(v)) for m, v in figures.items()}
            print(f"{shape:>18}: item {results['rate'][shape]['item']:>6}/s   "
                  f"batch {results['rate'][shape]['batch']:>6}/s   (best of {args.rounds})", flush=True)
    finally:
        receiver.kill()
    for mode, batch_marking in MODES.items():
        results["kill"][mode] = outcome = await kill_run(batch_marking, args.kills)
        print(f"kill -9 x{args.kills}, {mode:>5} marking: {outcome}", flush=True)
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kills", type=int, default=4)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--deliver", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch-marking", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if options.deliver is not None:
        asyncio.run(deliver_forever(options.deliver, options.batch_marking))
    else:
        outcome = asyncio.run(main(options))
        if options.json is not None:
            options.json.write_text(json.dumps(outcome, indent=2))
