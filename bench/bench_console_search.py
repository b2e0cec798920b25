"""The console's device search at 1k and at 100k EndDevices, in-process at the store (SQLite).

    python bench/bench_console_search.py [--sizes 1000,100000] [--queries 300]

A fresh store per size gets N EndDevices with random LFDIs (bulk_add_end_devices); then `--queries` searches of
each kind are run, with prefixes taken from stored devices: an LFDI prefix of 6 hex digits (by=lfdi), an SFDI
prefix of 6 digits (by=sfdi), and the same LFDI prefix over every field (no by).  p50/p99 per size and kind, and the
ratio of the largest size's p50 to the smallest's: with index range scans it stays near 1, where a scan would grow
with N.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.store import EndDeviceRecord
from der_gateway.store.sqlite import SQLiteStore

LIMIT = 50


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return 1e3 * ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))]


async def _store(directory: Path, n: int, rng: random.Random) -> tuple[SQLiteStore, list[str]]:
    store = await SQLiteStore.open(directory)
    lfdis: set[str] = set()
    sfdis: set[int] = set()
    while len(lfdis) < n:
        lfdi = f"{rng.getrandbits(160):040X}"
        if sfdi_from_lfdi(lfdi) not in sfdis:
            lfdis.add(lfdi)
            sfdis.add(sfdi_from_lfdi(lfdi))
    ordered = sorted(lfdis)
    for i in range(0, n, 50_000):
        await store.bulk_add_end_devices([EndDeviceRecord(0, lfdi, sfdi_from_lfdi(lfdi), lfdi, 0, 111115, 0)
                                          for lfdi in ordered[i:i + 50_000]])
    return store, ordered


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(7)
    kinds = {"lfdi": lambda lfdi: (lfdi[:6].lower(), "lfdi"),
             "sfdi": lambda lfdi: (str(sfdi_from_lfdi(lfdi))[:6], "sfdi"),
             "any": lambda lfdi: (lfdi[:6], None)}
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for n in sizes:
            started = time.perf_counter()
            stores[n] = await _store(Path(tmp) / str(n), n, rng)
            print(f"loaded {n} EndDevices in {time.perf_counter() - started:.1f} s")
        p50: dict[tuple[str, int], float] = {}
        for kind, query in kinds.items():
            samples: dict[int, list[float]] = {n: [] for n in sizes}
            for _ in range(args.queries):
                for n in sizes:  # alternately, so that a shared machine's load falls on every size alike
                    store, lfdis = stores[n]
                    q, by = query(rng.choice(lfdis))
                    started = time.perf_counter()
                    found = await store.search_end_devices(q, by, LIMIT)
                    samples[n].append(time.perf_counter() - started)
                    assert found, (kind, q)
            for n in sizes:
                p50[kind, n] = _p(samples[n], 0.5)
                print(f"{kind:5} n={n:>8}  p50 {p50[kind, n]:.3f} ms  p99 {_p(samples[n], 0.99):.3f} ms")
            print(f"{kind:5} ratio p50 n={sizes[-1]} / n={sizes[0]}: {p50[kind, sizes[-1]] / p50[kind, sizes[0]]:.2f}")
        for store, _ in stores.values():
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
