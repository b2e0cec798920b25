"""Server memory while one client tries to fill the response cache, against the same server with no cache.

    python bench/bench_cache_memory.py [--requests 6000] [--log-events 500] [--before]

--before measures the code on sys.path as it was before issue 9 (its cache counted 10,000 entries,
`response_cache_entries`): run it with PYTHONPATH pointing at such a checkout's src/.

For each configuration (the default cache of 64 MiB; no cache at all, the baseline), in a fresh
server process: device1 registers and posts N LogEvents, so that `GET /edev/1/lel?l=500` is a large
answer (~130 KB).  Then, on one keep-alive mutual-TLS connection:

1. `junk`: R GETs of `/edev/1/lel?l=500&junk=<n>`, a new query string each time that changes nothing;
2. `distinct`: R GETs of `/edev/1/lel?s=<n mod N>&l=<500 - n div N>`, answers that really differ (most
   of them ~100 KB), each cacheable: together far more than the cache may hold.

The server's RSS (VmRSS) is read before and after each phase; the cache's own count of bytes is
not visible from outside, so RSS is what is compared.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
from pathlib import Path

from bench_server import DEVICE, Connection, ServerProcess  # type: ignore[import-not-found]

from der_gateway import pki
from der_gateway.tls import client_context
from tests import documents


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def run(cache: dict[str, int], requests: int, log_events: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp) / "certs"
        pki.init_pki(certs)
        server = ServerProcess(mp.get_context("spawn"), "der-gateway", None, None, dict(
            port=0, certs_dir=certs, data_dir=Path(tmp) / "var", admin_enabled=False, **cache))
        try:
            me = next(c for c in pki.read_manifest(certs) if c.name == DEVICE)
            c = Connection(client_context(certs, DEVICE), server.port)
            status, headers, _ = c.request("POST", "/edev", documents.end_device(me.lfdi))
            assert status == 201, headers
            for n in range(1, log_events + 1):
                assert c.request("POST", "/edev/1/lel", documents.log_event(n, 1700000000 + n))[0] == 201
            status, _, body = c.request("GET", "/edev/1/lel?l=500")
            assert status == 200
            figures = {"answer_kb": len(body) / 1024, "start": rss_mb(server.pid)}
            for n in range(requests):
                assert c.request("GET", f"/edev/1/lel?l=500&junk={n}")[0] == 200
            figures["junk"] = rss_mb(server.pid)
            for n in range(requests):
                assert c.request("GET", f"/edev/1/lel?s={n % log_events}&l={500 - n // log_events}")[0] == 200
            figures["distinct"] = rss_mb(server.pid)
            c.close()
            return figures
        finally:
            server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--log-events", type=int, default=500)
    parser.add_argument("--before", action="store_true", help="the code before issue 9 (see above)")
    args = parser.parse_args()
    if args.before:
        rows = {"before: 10,000 entries": run({"response_cache_entries": 10_000}, args.requests, args.log_events),
                "no cache (baseline)": run({"response_cache_entries": 0}, args.requests, args.log_events)}
    else:
        rows = {"cache 64 MiB": run({"response_cache_bytes": 64 * 1024 * 1024}, args.requests, args.log_events),
                "no cache (baseline)": run({"response_cache_bytes": 0}, args.requests, args.log_events)}
    base = rows["no cache (baseline)"]
    print(f"answer of GET /edev/1/lel?l=500: {base['answer_kb']:.0f} KB; {args.requests} GETs per phase")
    print(f"{'configuration':22} {'RSS start':>10} {'after junk':>11} {'after distinct':>15} {'vs baseline':>12}")
    for name, f in rows.items():
        print(f"{name:22} {f['start']:8.0f} MB {f['junk']:8.0f} MB {f['distinct']:12.0f} MB "
              f"{f['distinct'] - base['distinct']:+9.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
