"""/metrics' store readings at 1k and at 1M EndDevices, in-process at the store (SQLite), against the queries they
replaced (issue 14), run on the same stores in the same run.

    python bench/bench_metrics.py [--sizes 1000,1000000] [--scrapes 30] [--recent 0.01]

A fresh store per size gets N EndDevices (bulk_add_end_devices); a fraction `--recent` of them made contact in the
last day (spread over it), a tenth of the rest days ago, the others never; N/50 DERControls over the past year and
the next day (one in 20 cancelled) and N/1000 utility events of two stages.  One scrape reads what
admin/routes_observability.store_readings reads: both outboxes' depth and head, events by state, EndDevices by
contact age.  The baseline scrape runs the replaced SQL (count the EndDevices, classify every control and every
utility event) on the same store; both must give the same readings.  p50 per size, the ratio of 1M's to 1k's, and
the baseline's p50 over the new one's.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from der_gateway.observability.metrics import CONTACT_AGES
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.store import EndDeviceRecord
from der_gateway.store.observability_records import EVENT_STATES
from der_gateway.store.sqlite import SQLiteStore
from der_gateway.store.stage_records import NewControl, NewStage

NOW = 1_900_000_000
BOUNDS = [seconds for _, seconds in CONTACT_AGES]
CHUNK = 50_000

_CONTROL_STATE = """CASE WHEN cancelled_at IS NOT NULL OR status IN (2, 3) THEN 'cancelled'
    WHEN start > ? THEN 'scheduled' WHEN start + duration > ? AND status <> 4 THEN 'active' ELSE 'completed' END"""


def _p50(samples: list[float]) -> float:
    return 1e3 * sorted(samples)[len(samples) // 2]


async def _store(directory: Path, n: int, recent: float, rng: random.Random) -> SQLiteStore:
    store = await SQLiteStore.open(directory)
    ids: list[int] = []
    for first in range(0, n, CHUNK):
        lfdis = [f"{i + 1:09X}{'A' * 31}" for i in range(first, min(n, first + CHUNK))]  # SFDIs: 36 bits
        ids += await store.bulk_add_end_devices([EndDeviceRecord(0, lfdi, sfdi_from_lfdi(lfdi), lfdi, 0, 111115, 0)
                                                 for lfdi in lfdis])
    contacts: dict[int, int] = {}
    for end_device_id in ids:
        draw = rng.random()
        if draw < recent:
            contacts[end_device_id] = NOW - rng.randrange(86_400)
        elif draw < recent + (1 - recent) / 10:
            contacts[end_device_id] = NOW - 86_400 - rng.randrange(30 * 86_400)
    for first in range(0, len(contacts), CHUNK):
        await store.record_contacts({}, dict(list(contacts.items())[first:first + CHUNK]))
    program = await store.create_program("0" * 31 + "1", "bench", 1)
    staged = await store.create_program("0" * 31 + "2", "stages", 1)
    rows = [(program, f"{i + 16:032X}", NOW - 400 * 86_400, NOW - rng.randrange(-86_400, 365 * 86_400),
             rng.choice([300, 1800, 3600]), "{}", rng.choice([0, 1, 5, 6]) if i % 20 else 2, NOW,
             NOW - 100 if i % 20 == 0 else None) for i in range(n // 50)]
    await store._in_transaction(lambda c: c.executemany(
        "INSERT INTO controls (program_id, mrid, creation_time, start, duration, body, status, status_time, "
        "cancelled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows))
    for i in range(max(1, n // 1000)):
        start = NOW - rng.randrange(-86_400, 365 * 86_400)
        stages = [NewStage(NewControl(staged, f"{10**9 + 2 * i + k:032X}", NOW, start + 3600 * k, 1800, {}, 0, NOW),
                           None, ((1, "0" * 39 + "1"),), {}) for k in range(2)]
        await store.add_utility_event(f"{2 * 10**9 + i:032X}", None, NOW, stages, (), ())
    return store


async def scrape(store: SQLiteStore) -> tuple[Any, ...]:
    notifications, sync, events = await asyncio.gather(
        store.notification_outbox_state(failing=False), store.sync_outbox_state(failing=False),
        store.events_by_state(NOW))
    ages = await store.devices_by_contact_age(NOW, BOUNDS)
    return notifications.depth, sync.depth, events, ages


def _baseline_read(c: Any) -> tuple[Any, ...]:
    """The readings as main computed them before issue 14's change."""
    outbox = c.execute("SELECT count(*) FROM outbox").fetchone()[0]
    c.execute("SELECT queued_at FROM outbox ORDER BY id LIMIT 1").fetchone()
    sync = c.execute("SELECT count(*) FROM sync_messages WHERE state = 'queued'").fetchone()[0]
    c.execute("SELECT created FROM sync_messages WHERE state = 'queued' ORDER BY id LIMIT 1").fetchone()
    controls = dict(c.execute(f"SELECT state, count(*) FROM (SELECT {_CONTROL_STATE} AS state FROM controls) t "
                              "GROUP BY state", (NOW, NOW)).fetchall())
    events = dict(c.execute(
        "SELECT state, count(*) FROM (SELECT CASE WHEN e.cancelled_at IS NOT NULL THEN 'cancelled' "
        "WHEN min(c.start) > ? THEN 'scheduled' WHEN max(c.start + c.duration) > ? THEN 'active' "
        "ELSE 'completed' END AS state FROM utility_events e JOIN event_stages s ON s.event_id = e.id "
        "JOIN controls c ON c.id = s.control_id WHERE e.archived_at IS NULL GROUP BY e.id, e.cancelled_at) t "
        "GROUP BY state", (NOW, NOW)).fetchall())
    within = [c.execute("SELECT count(*) FROM end_device_contacts WHERE at >= ?", (NOW - bound,)).fetchone()[0]
              for bound in BOUNDS]
    cumulative = [*within, c.execute("SELECT count(*) FROM end_devices").fetchone()[0]]
    ages = [cumulative[0], *(b - a for a, b in zip(cumulative, cumulative[1:]))]
    states = {kind: {state: found.get(state, 0) for state in EVENT_STATES}
              for kind, found in (("control", controls), ("utility_event", events))}
    return outbox, sync, states, ages


async def baseline(store: SQLiteStore) -> tuple[Any, ...]:
    return await store._read(_baseline_read)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--scrapes", type=int, default=30)
    parser.add_argument("--recent", type=float, default=0.01, help="the fraction of EndDevices seen in the last day")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(14)
    with tempfile.TemporaryDirectory() as tmp:
        stores = {}
        for n in sizes:
            started = time.perf_counter()
            stores[n] = await _store(Path(tmp) / str(n), n, args.recent, rng)
            print(f"loaded {n} EndDevices in {time.perf_counter() - started:.1f} s")
        samples: dict[tuple[str, int], list[float]] = {(kind, n): [] for kind in ("new", "baseline") for n in sizes}
        for _ in range(args.scrapes):
            for n in sizes:  # alternately, so that a shared machine's load falls on every size and kind alike
                for kind, read in (("new", scrape), ("baseline", baseline)):
                    started = time.perf_counter()
                    got = await read(stores[n])
                    samples[kind, n].append(time.perf_counter() - started)
                    if kind == "new":
                        readings = got
                    else:
                        assert readings == got, (n, readings, got)
        p50 = {key: _p50(values) for key, values in samples.items()}
        for n in sizes:
            print(f"n={n:>8}  scrape p50 {p50['new', n]:8.3f} ms   baseline p50 {p50['baseline', n]:8.3f} ms   "
                  f"baseline / new {p50['baseline', n] / p50['new', n]:6.1f}")
        first, last = sizes[0], sizes[-1]
        for kind in ("new", "baseline"):
            print(f"{kind:8} ratio p50 n={last} / n={first}: {p50[kind, last] / p50[kind, first]:.2f}")
        for store in stores.values():
            await store.close()


if __name__ == "__main__":
    asyncio.run(main())
