"""How long one transaction adding n EndDevices to a group takes on PostgreSQL (a private server of the tests'
kind, tests/pg_server.py): bulk-load n EndDevices, then time store.set_membership(group, ids, True).

    python bench/bench_pg_membership.py 5000 20000
    PYTHONPATH=<other checkout>/src python bench/bench_pg_membership.py 5000 20000     (a baseline)
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.pg_server import server_for_tests  # noqa: E402


async def measure(dsn: str, n: int) -> float:
    from der_gateway.store import EndDeviceRecord
    from der_gateway.store.postgres.store import PostgresStore

    store = await PostgresStore.open_dsn(dsn)
    try:
        group = await store.create_group("00" * 16, "feeder")
        ids = await store.bulk_add_end_devices([
            EndDeviceRecord(id=0, lFDI=f"{i:040X}", sFDI=i + 1, owner_lfdi="A" * 40, changedTime=0, pIN=111115,
                            dateTimeRegistered=0) for i in range(n)])
        started = time.perf_counter()
        await store.set_membership(group, list(ids), True)
        return time.perf_counter() - started
    finally:
        await store.close()


def main() -> None:
    server = server_for_tests()
    try:
        for n in [int(a) for a in sys.argv[1:]] or [5000, 20000]:
            dsn = server.create_database()
            print(f"{n:>7,} members in one transaction: {asyncio.run(measure(dsn, n)):.2f} s", flush=True)
            server.drop_database(dsn)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
