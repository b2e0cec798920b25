"""Every list the server serves, paged at random: a page of 20 at 1k and at 1M rows, in-process at the store.

    python bench/bench_lists.py [--sizes 1000,1000000] [--pages 300] [--kinds log,responses,...]

For each kind, a fresh store gets N rows of one list, loaded by one executemany in one transaction (the
store's triggers run as for any write), then `--pages` pages of 20 at uniformly random starts are read through
the store's list method, one at a time (after a WAL checkpoint, as on a server that has run a while); p50/p99
per size and the ratio of the largest size to the smallest.  Every size's store is loaded first, then the pages of
the sizes are read in alternation, so that a shared machine's load falls on all sizes alike.

Kinds: log (one EndDevice's LogEvents), responses (the Responses an aggregator sees, from 1,000 EndDevices it
owns), asub (an aggregator's own SubscriptionList), mmr (a mirror's MeterReadings), rset (a MeterReading's
ReadingSets), sread (the Readings of one ReadingSet), controls (a program's events still listed, beside N
ended ones: not paged by index, but bounded by the live events).

Runs against older code too (PYTHONPATH=<old src>): where the store has no subscription_page, the page is cut
from aggregator_subscriptions() as the route then did.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import tempfile
import time
from pathlib import Path

AGGREGATOR = "A" * 40
NOW = 1_800_000_000
PAGE = 20


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return 1e3 * ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


async def _load(store, fn) -> None:
    await store._in_transaction(fn)


async def setup_log(store, n: int, rng: random.Random):
    from der_gateway.store import EndDeviceRecord
    [edev] = await store.bulk_add_end_devices([EndDeviceRecord(0, "B" * 40, 1, AGGREGATOR, 0, 111115, 0)])
    rows = [(edev, NOW - rng.randrange(0, 30 * 86400), rng.randrange(0, 1 << 16), '{"logEventID": 1}')
            for _ in range(n)]
    await _load(store, lambda c: c.executemany(
        "INSERT INTO log_events (end_device_id, created, log_event_id, body) VALUES (?, ?, ?, ?)", rows))
    return lambda s: store.log_events(edev, s, PAGE)


async def setup_responses(store, n: int, rng: random.Random):
    from der_gateway.store import EndDeviceRecord
    devices = [f"{rng.getrandbits(160):040X}" for _ in range(1000)]
    await store.bulk_add_end_devices([EndDeviceRecord(0, lfdi, i + 1, AGGREGATOR, 0, 111115, 0)
                                      for i, lfdi in enumerate(devices)])
    program = await store.create_program("11" * 16, "p", 1)
    control = await store.add_control(program, "22" * 16, 0, 0, 60, {}, 0, 0)
    # a burst: the responses to one event come within a few minutes
    rows = [(control, rng.choice(devices), NOW + rng.randrange(0, 300), '{"status": 1}') for _ in range(n)]
    await _load(store, lambda c: c.executemany(
        "INSERT INTO responses (control_id, end_device_lfdi, status, created, received, body) "
        "VALUES (?, ?, 1, ?, 0, ?)", rows))
    return lambda s: store.responses_visible_to(AGGREGATOR, s, PAGE)


async def setup_asub(store, n: int, rng: random.Random):
    rows = [(AGGREGATOR, f"/edev/{i}/derp", '{"encoding": 0}') for i in range(n)]
    await _load(store, lambda c: c.executemany(
        "INSERT INTO subscriptions (end_device_id, client_lfdi, resource, body) VALUES (NULL, ?, ?, ?)", rows))
    if hasattr(store, "subscription_page"):
        return lambda s: store.subscription_page(None, AGGREGATOR, s, PAGE)

    async def cut(s):  # what the route did before subscription_page
        return (await store.aggregator_subscriptions(AGGREGATOR))[s:s + PAGE]
    return cut


async def setup_mmr(store, n: int, rng: random.Random):
    mup_id, _ = await store.upsert_mirror_usage_point(AGGREGATOR, {"mRID": "AB" * 16}, [])
    rows = [(mup_id, f"{rng.getrandbits(128):032X}", "{}") for _ in range(n)]
    await _load(store, lambda c: c.executemany(
        "INSERT INTO mirror_meter_readings (mup_id, mrid, body) VALUES (?, ?, ?)", rows))
    return lambda s: store.meter_readings(mup_id, s, PAGE)


async def _mmr(store) -> int:
    mup_id, _ = await store.upsert_mirror_usage_point(AGGREGATOR, {"mRID": "AB" * 16}, [])
    return await store._in_transaction(lambda c: c.execute(
        "INSERT INTO mirror_meter_readings (mup_id, mrid, body) VALUES (?, 'CD', '{}')", (mup_id,)).lastrowid)


async def setup_rset(store, n: int, rng: random.Random):
    mmr = await _mmr(store)
    rows = [(mmr, f"{rng.getrandbits(128):032X}", NOW - 300 * i, "{}") for i in range(n)]
    await _load(store, lambda c: c.executemany(
        "INSERT INTO reading_sets (mmr_id, mrid, start, body) VALUES (?, ?, ?, ?)", rows))
    return lambda s: store.reading_sets(mmr, s, PAGE)


async def setup_sread(store, n: int, rng: random.Random):
    mmr = await _mmr(store)
    set_id = await store._in_transaction(lambda c: c.execute(
        "INSERT INTO reading_sets (mmr_id, mrid, start, body) VALUES (?, 'EF', ?, '{}')", (mmr, NOW)).lastrowid)
    rows = [(mmr, set_id, NOW + 60 * i, '{"value": 1}') for i in range(n)]
    await _load(store, lambda c: c.executemany(
        "INSERT INTO readings (mmr_id, reading_set_id, reading_set_mrid, start, duration, value, body, received, "
        "current) VALUES (?, ?, 'EF', ?, 60, 1, ?, 0, 1)", rows))
    return lambda s: store.set_readings(set_id, s, PAGE)


async def setup_controls(store, n: int, rng: random.Random):
    program = await store.create_program("33" * 16, "p", 1)
    # n events long over (history), then 20 still listed
    rows = [(program, f"{i:032X}", NOW - 7200 - 10 * (n - i), 60) for i in range(n)]
    rows += [(program, f"{n + i:032X}", NOW + 600 * i, 3600) for i in range(20)]
    await _load(store, lambda c: c.executemany(
        "INSERT INTO controls (program_id, mrid, creation_time, start, duration, body, status, status_time) "
        "VALUES (?, ?, 0, ?, ?, '{}', 0, 0)", rows))

    async def live(s):
        return await store.controls(program, ending_after=NOW - 3600)
    return live


KINDS = {"log": setup_log, "responses": setup_responses, "asub": setup_asub, "mmr": setup_mmr,
         "rset": setup_rset, "sread": setup_sread, "controls": setup_controls}


async def measure(kind: str, sizes: list[int], pages: int) -> dict[int, tuple[float, float, float]]:
    """p50, p99 (seconds) and load time of each size; every size's store loaded first, then their pages read
    in alternation, so that each size meets the machine's load alike."""
    from der_gateway.store.sqlite import SQLiteStore
    with contextlib.ExitStack() as dirs:
        stores, fetches, loaded, rngs = [], [], [], []
        try:
            for n in sizes:
                rng = random.Random(n)
                store = await SQLiteStore.open(Path(dirs.enter_context(
                    tempfile.TemporaryDirectory(prefix="der-gateway-lists-"))))
                stores.append(store)
                started = time.perf_counter()
                fetches.append(await KINDS[kind](store, n, rng))
                loaded.append(time.perf_counter() - started)
                # as a server that has run a while: the bulk load's WAL written back to the database file
                await store._write(lambda: store._writer.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall())
                rngs.append(rng)
            for fetch, n, rng in zip(fetches, sizes, rngs):
                for _ in range(min(20, pages)):
                    await fetch(rng.randrange(max(1, n - PAGE)))
            samples: list[list[float]] = [[] for _ in sizes]
            for _ in range(pages):
                for i, (fetch, n, rng) in enumerate(zip(fetches, sizes, rngs)):
                    start = rng.randrange(max(1, n - PAGE))
                    began = time.perf_counter()
                    await fetch(start)
                    samples[i].append(time.perf_counter() - began)
        finally:
            for store in stores:
                await store.close()
    return {n: (_p(samples[i], 0.5), _p(samples[i], 0.99), loaded[i]) for i, n in enumerate(sizes)}


async def main_async(sizes: list[int], pages: int, kinds: list[str]) -> None:
    print(f"{'list':10} {'rows':>9} {'p50 ms':>9} {'p99 ms':>9} {'load s':>8}")
    for kind in kinds:
        results = await measure(kind, sizes, pages)
        for n in sizes:
            p50, p99, loaded = results[n]
            print(f"{kind:10} {n:9d} {p50:9.3f} {p99:9.3f} {loaded:8.1f}", flush=True)
        small, large = results[min(sizes)], results[max(sizes)]
        print(f"{kind:10} {'ratio':>9} {large[0] / small[0]:9.2f} {large[1] / small[1]:9.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    asyncio.run(main_async([int(s) for s in args.sizes.split(",")], args.pages, args.kinds.split(",")))


if __name__ == "__main__":
    main()
