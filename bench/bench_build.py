"""Microseconds to build and encode the hot GET answers, in-process, without HTTP, TLS or the cache.

    python bench/bench_build.py [--calls 2000]

What the server does for a GET its cache cannot answer, minus the request itself: the representation
built by services.resources from a fresh SQLite store (WAL), then encoded as the deployment writes it.
The store holds what bench_server.py sets up: device1's EndDevice with a DER, a group holding it with
a program of five events (two active, three scheduled), and 20 EndDevices of an aggregator.  Being
in-process and single-threaded, it is far less sensitive to other load on the machine than
bench_server.py; run it against two checkouts (PYTHONPATH=OTHER/src) to compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.documents

from bench_server import plant_program  # noqa: E402  (bench/ is on sys.path when run as a script)


async def main(calls: int) -> None:
    from der_gateway.clock import SystemClock
    from der_gateway.config import Config
    from der_gateway.domain.clients import Client
    from der_gateway.sep import codec
    from der_gateway.sep.identity import sfdi_from_lfdi
    from der_gateway.services import resources
    from der_gateway.store.base import EndDeviceRecord
    from der_gateway.store.sqlite import SQLiteStore
    from tests import documents

    with tempfile.TemporaryDirectory(prefix="der-gateway-build-") as tmp:
        store = await SQLiteStore.open(Path(tmp) / "data")
        try:
            device, aggregator = "A" * 40, "B" * 40
            await store.add_aggregator(aggregator, "aggregator")

            async def end_device(lfdi: str, owner: str) -> EndDeviceRecord:
                return await store.create_end_device(EndDeviceRecord(
                    id=0, lFDI=lfdi, sFDI=sfdi_from_lfdi(lfdi), owner_lfdi=owner, changedTime=1700000000,
                    pIN=111115, dateTimeRegistered=1700000000, deviceCategory="00040000"))

            record = await end_device(device, device)
            await store.put_der_document(record.id, 1, "ders", codec.to_data(documents.der_status()))
            for _ in range(20):
                await end_device(secrets.token_hex(20).upper(), aggregator)
            group, program = await plant_program(store, record.id)
            config, clock = Config(profile="csip"), SystemClock()

            def viewer(lfdi: str, is_aggregator: bool = False) -> Any:
                return resources.Viewer(store, config, clock, Client(lfdi, is_aggregator))

            async def build(make: Callable[[], Any]) -> bytes:
                return codec.encode(await make(), csipaus=False)

            async def timed(name: str, make: Callable[[], Any]) -> None:
                await build(make)
                start = time.perf_counter()
                for _ in range(calls):
                    await build(make)
                print(f"{(time.perf_counter() - start) / calls * 1e6:8.1f} us  {name}")

            await timed(f"EndDevice /edev/{record.id}", lambda: resources.end_device(viewer(device), record))
            await timed("FunctionSetAssignmentsList", lambda: resources.fsa_list(viewer(device), record, 0, 10))
            await timed("DERProgramList (1 program)", lambda: resources.program_list(viewer(device), group, 0, 10))
            await timed("DERControlList (5 events)", lambda: resources.control_list(viewer(device), program, 0, 10))
            await timed("ActiveDERControlList", lambda: resources.control_list(viewer(device), program, 0, 10,
                                                                              active_only=True))
            await timed("EndDeviceList (aggregator, 20)", lambda: resources.end_device_list(
                viewer(aggregator, True), 0, 20))
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    asyncio.run(main(parser.parse_args().calls))
