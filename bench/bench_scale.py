"""der-gateway with many EndDevices: by-id GETs and list pages at 1k and at 1M, and whether a list page makes
anyone else wait.

    python bench/bench_scale.py [--sizes 1000,1000000] [--requests 1000] [--rounds 1] [--warm-rounds 0] [--cache]
                                [--store sqlite|postgresql|postgresql://...[,...]] [--pin] [--pager-nice 19]

For each store named by --store (default sqlite: a file in the data directory; postgresql: a new database on
a private PostgreSQL 15 started for the run, tests/pg_server.py with 128 MB of shared buffers; or a DSN, in which
a new database is made), and each size N:

1. makes a throw-away PKI (one device, device1, and one aggregator) and data directory, and loads N EndDevices
   in bulk through the store's own code (bulk_add_end_devices of SQLiteStore or PostgresStore, 100,000 a
   transaction), all owned
   by the aggregator, device1 among them: each with DER 1 and its DERStatus, all members of one group holding a
   program with one event;
2. starts the real der-gateway server (profile csip, response cache off unless --cache: the figures are the
   store's) in its own process, timing its start-up;
3. over one mutual-TLS keep-alive connection, one request at a time: GET /edev/{id} and
   /edev/{id}/der/1/ders for random ids and GET /edev?s=R&l=20 for random R, as the aggregator; then the
   aggregator pages through 10,000 of its devices (or all, if fewer), 100 a page; then GET /dcap as device1,
   idle and while another process pages the aggregator's whole list (--pager-limit a page, default 100)
   without pause, in alternate blocks of 100 (that process, a client sharing the server's machine, runs at
   --pager-nice, so that its own CPU does not delay the measuring client and the server);
4. repeats 3 (--warm-rounds, left out, then --rounds times), the rounds of every store and size alternating
   (all their servers are up), then reports (the median over the rounds of) p50/p99 of each,
   the paging's total seconds, the /dcap p99 ratio (busy / idle), the server's RSS with its page process's
   (now and peak), the data's size (the data directory's, or pg_database_size), the load time and the
   start-up time.

Every response is checked: 200, and a list page holds the EndDevices it should.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_server import HOST, Connection, ServerProcess  # noqa: E402

AGGREGATOR, DEVICE = "aggregator1", "device1"
BATCH = 100_000
SFDI_SPAN = (1 << 36) * 10
# GET /dcap requests per block, idle and busy blocks alternating
BLOCK = 100


def _quantiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
            "p999_ms": 1000 * ordered[min(len(ordered) - 1, int(0.999 * len(ordered)))],
            "max_ms": 1000 * ordered[-1], "n": len(ordered)}


async def load(data_dir: Path, n: int, aggregator_lfdi: str, device_lfdi: str, device_sfdi: int,
               seed: int, store_url: str | None = None) -> dict[str, Any]:
    from der_gateway.clock import SystemClock
    from der_gateway.domain.identifiers import Pen, new_mrid
    from der_gateway.sep import codec, model
    from der_gateway.services import der_controls
    from der_gateway.store import EndDeviceRecord
    from der_gateway.store.opening import open_store
    from tests import documents

    rng = random.Random(seed)
    pen = Pen(40732)
    started = time.perf_counter()
    store = await open_store(store_url, data_dir)
    try:
        await store.add_aggregator(aggregator_lfdi, "bench aggregator")
        group = await store.create_group(new_mrid(pen), "feeder")
        program = await store.create_program(new_mrid(pen), "export limits", 1)
        await store.set_group_program(group, program, True)
        clock = SystemClock()
        await der_controls.create_event(store, clock, pen, program, model.DERControl(
            mRID="", creationTime=0, interval=model.DateTimeInterval(start=clock.now() + 3600, duration=86400),
            EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
            DERControlBase=model.DERControlBase(opModExpLimW=model.ActivePower(multiplier=0, value=5000)),
            responseRequired="03"))
        status = {"ders": codec.to_data(documents.der_status())}
        sfdis = {device_sfdi}
        ids: list[int] = []
        now = int(time.time())
        for first in range(0, n, BATCH):
            batch = []
            for i in range(first, min(n, first + BATCH)):
                if i == 0:
                    lfdi, sfdi = device_lfdi, device_sfdi
                else:
                    lfdi = f"{rng.getrandbits(160):040X}"
                    sfdi = rng.randrange(SFDI_SPAN)
                    while sfdi in sfdis:
                        sfdi = rng.randrange(SFDI_SPAN)
                    sfdis.add(sfdi)
                batch.append(EndDeviceRecord(id=0, lFDI=lfdi, sFDI=sfdi, owner_lfdi=aggregator_lfdi,
                                             changedTime=now, pIN=111115, dateTimeRegistered=now,
                                             deviceCategory="00040000"))
            if hasattr(store, "bulk_add_end_devices"):
                ids.extend(await store.bulk_add_end_devices(batch, status, group))
            else:  # a der-gateway from before bulk_add_end_devices, for a baseline
                ids.extend(await store._in_transaction(lambda c: _bulk_insert(c, batch, status, group)))
            print(f"    loaded {len(ids):,} EndDevices, {time.perf_counter() - started:.0f} s",
                  file=sys.stderr, flush=True)
    finally:
        await store.close()
    return {"load_s": time.perf_counter() - started, "first_id": ids[0], "last_id": ids[-1]}


def _bulk_insert(c: Any, records: list, documents: dict[str, Any], group_id: int) -> range:
    before = c.execute("SELECT coalesce(max(id), 0) FROM end_devices").fetchone()[0]
    c.executemany("INSERT INTO end_devices (lfdi, sfdi, owner_lfdi, changed_time, pin, registered_at, "
                  "device_category) VALUES (?,?,?,?,?,?,?)",
                  [(r.lFDI, r.sFDI, r.owner_lfdi, r.changedTime, r.pIN, r.dateTimeRegistered, r.deviceCategory)
                   for r in records])
    c.execute("INSERT INTO ders (end_device_id, n) SELECT id, 1 FROM end_devices WHERE id > ?", (before,))
    for kind, body in documents.items():
        c.execute("INSERT INTO der_documents (end_device_id, n, kind, body) SELECT id, 1, ?, ? FROM end_devices "
                  "WHERE id > ?", (kind, json.dumps(body), before))
    c.execute("INSERT INTO group_members (group_id, end_device_id) SELECT ?, id FROM end_devices WHERE id > ?",
              (group_id, before))
    return range(before + 1, before + 1 + len(records))


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _status_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of the server and of its children (the page process), summed."""
    found = {"VmRSS": 0, "VmHWM": 0}
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for each in [pid, *(int(c) for c in children.read_text().split())] if children.exists() else [pid]:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in found:
                found[name] += int(value.split()[0])
    return found


def _get(conn: Connection, path: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    status, headers, body = conn.request("GET", path)
    elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"GET {path} answered {status} {headers.get('x-reason', '')}")
    return elapsed, body


def _count_devices(body: bytes) -> int:
    return body.count(b"<EndDevice ") + body.count(b"<EndDevice>")


def _pager(port: int, certs_dir: str, total: int, limit: int, stop: Any, go: Any, inflight: Any,
           pages: Any, nice: int) -> None:
    """Pages the aggregator's whole list, limit a page, over and over while go is set, until stop is set."""
    from der_gateway.tls import client_context

    os.nice(nice)
    conn = Connection(client_context(Path(certs_dir), AGGREGATOR), port, timeout=600)
    start = 0
    try:
        while not stop.is_set():
            if not go.wait(0.05):
                continue
            inflight.value = 1
            conn.request("GET", f"/edev?s={start}&l={limit}")
            inflight.value = 0
            pages.value += 1
            start = (start + limit) % max(1, total)
    finally:
        conn.close()


def measure(port: int, certs_dir: Path, n: int, ids: range, requests: int, seed: int,
            pager_limit: int, pager_nice: int = 0) -> dict[str, Any]:
    from der_gateway.tls import client_context

    rng = random.Random(seed)
    agg = Connection(client_context(certs_dir, AGGREGATOR), port, timeout=600)
    device = Connection(client_context(certs_dir, DEVICE), port, timeout=600)
    result: dict[str, Any] = {}
    try:
        for warm in range(20):  # the first requests of a connection pay for imports and caches
            _get(agg, f"/edev/{rng.choice(ids)}")
            _get(device, "/dcap")
        result["GET /edev/{id}"] = _quantiles([_get(agg, f"/edev/{rng.choice(ids)}")[0] for _ in range(requests)])
        result["GET /edev/{id}/der/1/ders"] = _quantiles(
            [_get(agg, f"/edev/{rng.choice(ids)}/der/1/ders")[0] for _ in range(requests)])
        pages = []
        for _ in range(requests):
            start = rng.randrange(n)
            elapsed, body = _get(agg, f"/edev?s={start}&l=20")
            if _count_devices(body) != min(20, n - start) or f'all="{n}"'.encode() not in body:
                raise RuntimeError(f"/edev?s={start}&l=20 held {_count_devices(body)} EndDevices: {body[:300]!r}")
            pages.append(elapsed)
        result["GET /edev?s=R&l=20"] = _quantiles(pages)
        walked, started = 0, time.perf_counter()
        for start in range(0, min(n, 10_000), 100):
            walked += _count_devices(_get(agg, f"/edev?s={start}&l=100")[1])
        result["paging"] = {"devices": walked, "pages": (walked + 99) // 100,
                            "total_s": time.perf_counter() - started}
        if walked != min(n, 10_000):
            raise RuntimeError(f"paging saw {walked} EndDevices")
        device.close()  # it sat idle through the paging: the server may have closed it
        device = Connection(client_context(certs_dir, DEVICE), port, timeout=600)
        for warm in range(20):
            _get(device, "/dcap")
        # idle and busy in alternate blocks, so that both meet the same background load of the machine
        ctx = mp.get_context("spawn")
        stop, go, inflight, paged = ctx.Event(), ctx.Event(), ctx.Value("i", 0), ctx.Value("l", 0)
        pager = ctx.Process(target=_pager, args=(port, str(certs_dir), n, pager_limit, stop, go, inflight, paged,
                                                   pager_nice),
                            daemon=True)
        pager.start()
        idle: list[float] = []
        busy: list[float] = []
        pages_meanwhile = 0
        try:
            for block in range(max(1, requests // BLOCK)):
                go.clear()
                while inflight.value:  # the pager's page in progress ends
                    time.sleep(0.001)
                idle += [_get(device, "/dcap")[0] for _ in range(BLOCK)]
                before = paged.value
                go.set()
                while paged.value < before + 1:  # the pager is paging
                    time.sleep(0.001)
                before = paged.value
                busy += [_get(device, "/dcap")[0] for _ in range(BLOCK)]
                pages_meanwhile += paged.value - before
        finally:
            stop.set()
            go.set()
            pager.join(60)
            if pager.is_alive():
                pager.terminate()
                pager.join(5)
        result["GET /dcap idle"] = _quantiles(idle)
        result["GET /dcap while paging"] = _quantiles(busy)
        result["GET /dcap while paging"]["pages_meanwhile"] = pages_meanwhile
        result["dcap_p99_ratio"] = result["GET /dcap while paging"]["p99_ms"] / result["GET /dcap idle"]["p99_ms"]
    finally:
        agg.close()
        device.close()
    return result


def median_of(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure of measure(): the median of the rounds' (a p99 of a shared machine moves between rounds)."""
    if len(rounds) == 1:
        return rounds[0]
    merged: dict[str, Any] = {}
    for name, first in rounds[0].items():
        if isinstance(first, dict):
            merged[name] = {k: statistics.median(r[name][k] for r in rounds) for k in first}
        else:
            merged[name] = statistics.median(r[name] for r in rounds)
    return merged


class Databases:
    """New PostgreSQL databases for the run: on the server at a DSN, or on a private one started on first use."""

    def __init__(self, dsn: str | None) -> None:
        self.dsn = dsn
        self.server: Any = None

    def create(self) -> str:
        from tests.pg_server import PostgresServer

        if self.server is None:
            if self.dsn:
                from tests.pg_server import as_uri
                self.server = PostgresServer(dsn=as_uri(self.dsn))
            else:
                from bench_pg_replicas import private_postgres
                self.server = private_postgres(shared_buffers="128MB")
        return self.server.create_database()

    def size(self, dsn: str) -> int:
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as conn:
            return conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]

    def drop(self, dsn: str) -> None:
        self.server.drop_database(dsn)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


class Setup:
    """One store at one size: its data loaded and its server running (start), measured a round at a time
    (measure_round: the rounds of all setups alternate, so that each meets the machine's load alike), then
    stopped and reported (finish)."""

    def __init__(self, n: int, args: argparse.Namespace, store: str = "sqlite",
                 databases: Databases | None = None) -> None:
        self.n, self.args, self.store, self.databases = n, args, store, databases
        self.dsn = databases.create() if store != "sqlite" and databases is not None else None
        self.tmp = tempfile.TemporaryDirectory(prefix="der-gateway-scale-", dir=args.tmp)
        self.certs_dir, self.data_dir = Path(self.tmp.name) / "certs", Path(self.tmp.name) / "data"
        self.report: dict[str, Any] = {"store": "postgresql" if self.dsn else "sqlite", "n": n}
        self.rounds: list[dict[str, Any]] = []
        self.server: ServerProcess | None = None
        self.spy: subprocess.Popen | None = None

    def data_size(self) -> int:
        if self.dsn and self.databases:
            return self.databases.size(self.dsn)
        return _dir_bytes(self.data_dir)

    def start(self) -> None:
        from der_gateway import pki
        from der_gateway.sep.identity import sfdi_from_lfdi

        pki.init_pki(self.certs_dir, devices=1)
        aggregator = pki.issue(self.certs_dir, "aggregator", AGGREGATOR)
        device = next(c for c in pki.read_manifest(self.certs_dir) if c.name == DEVICE)
        print(f"  {self.store}, {self.n:,} EndDevices: loading", file=sys.stderr, flush=True)
        self.loaded = asyncio.run(load(self.data_dir, self.n, aggregator.lfdi, device.lfdi,
                                       sfdi_from_lfdi(device.lfdi), self.args.seed, self.dsn))
        self.report.update(load_s=self.loaded["load_s"], data_dir_bytes=self.data_size())
        started = time.perf_counter()
        self.server = ServerProcess(mp.get_context("spawn"), "der-gateway", self.args.server_cpu, None, {
            "host": HOST, "port": 0, "admin_port": 0, "profile": "csip", "data_dir": self.data_dir,
            "certs_dir": self.certs_dir, "response_cache_bytes": 64 * 1024 * 1024 if self.args.cache else 0,
            "store": self.dsn})
        self.report["startup_s"] = time.perf_counter() - started
        print(f"  {self.store}, {self.n:,} EndDevices: server pid {self.server.pid} up in "
              f"{self.report['startup_s']:.1f} s", file=sys.stderr, flush=True)
        if self.args.profile_dir:  # py-spy on the server while it is measured (a flame graph per store and size)
            self.args.profile_dir.mkdir(parents=True, exist_ok=True)
            self.spy = subprocess.Popen(
                [self.args.py_spy, "record", "--pid", str(self.server.pid), "--rate", "200", "--idle", "--threads",
                 "--format", "raw", "--output",
                 str(self.args.profile_dir / f"scale-{self.report['store']}-{self.n}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def measure_round(self, i: int) -> None:
        assert self.server is not None
        print(f"  {self.store}, {self.n:,} EndDevices: round {i + 1}", file=sys.stderr, flush=True)
        self.rounds.append(measure(self.server.port, self.certs_dir, self.n,
                                   range(self.loaded["first_id"], self.loaded["last_id"] + 1),
                                   self.args.requests, self.args.seed + i, self.args.pager_limit,
                                   self.args.pager_nice))

    def finish(self) -> dict[str, Any]:
        try:
            if self.server is not None:
                memory = _status_kib(self.server.pid)
                self.report["rss_mib"], self.report["peak_rss_mib"] = memory["VmRSS"] / 1024, memory["VmHWM"] / 1024
        finally:
            if self.spy is not None:
                self.spy.send_signal(signal.SIGINT)
                self.spy.wait(60)
            if self.server is not None:
                self.server.stop()
        if self.rounds:
            self.report.update(median_of(self.rounds[self.args.warm_rounds:] or self.rounds))
            self.report["rounds"] = self.rounds
        self.report["data_dir_bytes_after"] = self.data_size()
        self.tmp.cleanup()
        if self.dsn and self.databases is not None:
            self.databases.drop(self.dsn)
        return self.report


def print_report(reports: list[dict[str, Any]]) -> None:
    names = ["GET /edev/{id}", "GET /edev/{id}/der/1/ders", "GET /edev?s=R&l=20", "GET /dcap idle",
             "GET /dcap while paging"]
    sizes = [f"{r.get('store', 'sqlite')} {r['n']:,}" for r in reports]
    print(f"{'':28}" + "".join(f"{s:>22}" for s in sizes))
    for name in names:
        print(f"{name:28}" + "".join(f"{r[name]['p50_ms']:9.2f} /{r[name]['p99_ms']:8.2f} ms" for r in reports)
              + ("   p99 ratio %.2f" % (reports[-1][name]["p99_ms"] / reports[0][name]["p99_ms"])
                 if len(reports) > 1 and len({r.get("store") for r in reports}) == 1 else ""))
    rows = [("paging 10,000 by 100 (s)", lambda r: f"{r['paging']['total_s']:.2f}"),
            ("/dcap p99 busy/idle", lambda r: f"{r['dcap_p99_ratio']:.2f}"),
            ("server RSS now/peak (MiB)", lambda r: f"{r['rss_mib']:.0f} / {r['peak_rss_mib']:.0f}"),
            ("data (MiB)", lambda r: f"{r['data_dir_bytes'] / 2**20:.0f}"),
            ("bulk load (s)", lambda r: f"{r['load_s']:.1f}"),
            ("server start-up (s)", lambda r: f"{r['startup_s']:.2f}")]
    for label, cell in rows:
        print(f"{label:28}" + "".join(f"{cell(r):>22}" for r in reports))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,1000000", help="EndDevice counts (default %(default)s)")
    parser.add_argument("--requests", type=int, default=1000, help="requests per measured kind (default 1000)")
    parser.add_argument("--cache", action="store_true", help="run with the response cache (64 MiB)")
    parser.add_argument("--pager-limit", type=int, default=100,
                        help="page size of the pager that runs beside GET /dcap (default 100)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="measure this many times on the same server, and report each figure's median")
    parser.add_argument("--warm-rounds", type=int, default=0,
                        help="rounds measured first and left out of the figures: a server that has run a while has "
                             "its page caches warm (default 0)")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--tmp", type=Path, help="where to put the data directories (default the system's)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--store", default="sqlite",
                        help="where the data lives, a comma-separated list run in turn: sqlite, postgresql (a "
                             "private PostgreSQL started for the run) or a PostgreSQL DSN (default %(default)s)")
    parser.add_argument("--profile-dir", type=Path, help="record the server with py-spy into this directory")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy program (default %(default)s)")
    parser.add_argument("--pin", action="store_true", help="the servers on the last CPU, the clients on the others "
                        "(default: left to the OS's scheduling)")
    parser.add_argument("--pager-nice", type=int, default=19,
                        help="the pager's niceness: its own CPU, a client's, yields to the server's and to the "
                             "measuring client's (default %(default)s; 0 to compete with them)")
    args = parser.parse_args(argv)
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    args.server_cpu = None
    if args.pin and len(cpus) >= 2:  # the clients (this process, the pager) never take the servers' CPU
        args.server_cpu = cpus[-1]
        os.sched_setaffinity(0, set(cpus[:-1]))
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    stores = [s.strip() for s in args.store.split(",") if s.strip()]
    for store in stores:
        if store not in ("sqlite", "postgresql") and not store.startswith(("postgresql://", "postgres://")):
            parser.error(f"--store: {store!r} is neither sqlite, postgresql nor a postgresql:// DSN")
    dsns = [s for s in stores if s.startswith(("postgresql://", "postgres://"))]
    databases = Databases(dsns[0] if dsns else None)
    setups = [Setup(n, args, store, databases) for n in sizes for store in stores]
    try:
        for setup in setups:
            setup.start()
        for i in range(args.warm_rounds + args.rounds):
            for setup in setups:
                setup.measure_round(i)
    finally:
        reports = [setup.finish() for setup in setups]
        databases.stop()
    print_report(reports)
    if args.json:
        args.json.write_text(json.dumps({"command": " ".join(["python", "bench/bench_scale.py",
                                                               *(sys.argv[1:] if argv is None else argv)]),
                                         "cache": args.cache, "reports": reports}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
