"""Microseconds per call of the store and codec steps behind GET /dcap and GET .../der/1/ders.

    python bench/bench_parts.py [--calls 20000]

In-process and single-threaded, on a fresh SQLite store (WAL) holding device1's EndDevice and
DERStatus, as bench_server.py sets up; complements its py-spy profile with absolute costs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.documents


async def main(calls: int) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    from der_gateway import pki
    from der_gateway.sep import codec, model
    from der_gateway.sep.identity import lfdi_from_certificate
    from der_gateway.store.base import EndDeviceRecord
    from der_gateway.store.sqlite import SQLiteStore
    from tests import documents

    with tempfile.TemporaryDirectory(prefix="der-gateway-parts-") as tmp:
        issued = pki.init_pki(Path(tmp) / "certs", devices=1)
        me = next(c for c in issued if c.name == "device1")
        store = await SQLiteStore.open(Path(tmp) / "data")
        try:
            record = await store.create_end_device(EndDeviceRecord(
                id=0, lFDI=me.lfdi, sFDI=me.sfdi, owner_lfdi=me.lfdi, changedTime=1700000000, pIN=111115,
                dateTimeRegistered=1700000000, deviceCategory="00040000", postRate=None))
            await store.put_der_document(record.id, 1, "ders", codec.to_data(documents.der_status()))
            cert = x509.load_pem_x509_certificates(me.cert_path.read_bytes())[0].public_bytes(Encoding.DER)
            data = await store.der_document(record.id, 1, "ders")
            status = codec.from_data(model.DERStatus, data)
            status.href = f"/edev/{record.id}/der/1/ders"
            dcap = model.DeviceCapability(
                href="/dcap", pollRate=900, TimeLink=model.Link(href="/tm"),
                EndDeviceListLink=model.ListLink(href="/edev", all=1),
                MirrorUsagePointListLink=model.ListLink(href="/mup", all=0))

            async def timed(name: str, fn: Callable[[], Any], awaited: bool = True) -> None:
                start = time.perf_counter()
                for _ in range(calls):
                    result = fn()
                    if awaited:
                        await result
                print(f"{(time.perf_counter() - start) / calls * 1e6:7.2f} us  {name}")

            print("both paths (identify middleware):")
            await timed("lfdi_from_certificate(DER)", lambda: lfdi_from_certificate(cert), awaited=False)
            await timed("store.is_aggregator(lfdi)", lambda: store.is_aggregator(me.lfdi))
            print("GET /dcap:")
            await timed("store.end_devices_visible_to(lfdi, 0, 0)", lambda: store.end_devices_visible_to(me.lfdi, 0, 0))
            await timed("store.mirror_usage_points(lfdi, 0, 0)", lambda: store.mirror_usage_points(me.lfdi, 0, 0))
            await timed("codec.encode(DeviceCapability)", lambda: codec.encode(dcap), awaited=False)
            print("GET /edev/1/der/1/ders:")
            await timed("store.end_device(id)", lambda: store.end_device(record.id))
            await timed("store.der_numbers(id)", lambda: store.der_numbers(record.id))
            await timed("store.der_document(id, 1, 'ders')", lambda: store.der_document(record.id, 1, "ders"))
            await timed("codec.from_data(DERStatus, data)", lambda: codec.from_data(model.DERStatus, data),
                        awaited=False)
            await timed("codec.encode(DERStatus)", lambda: codec.encode(status), awaited=False)
            print("for scale:")
            reader = store._reader
            await timed("raw sqlite3 execute().fetchone() of is_aggregator's SQL", lambda: reader.execute(
                "SELECT 1 FROM aggregators WHERE lfdi = ?", (me.lfdi,)).fetchone(), awaited=False)
        finally:
            await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20000)
    asyncio.run(main(parser.parse_args().calls))
