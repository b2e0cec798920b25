"""Throughput on PostgreSQL, with one server and with two replicas, against SQLite, over mutual TLS.

    python bench/bench_pg_replicas.py [--seconds 8] [--warmup 2] [--connections 16] [--rounds 3]
                                      [--no-sqlite-workers] [--profile-dir DIR [--py-spy PROGRAM]]

One run:

1. makes a throw-away PKI, starts a private PostgreSQL 15 (tests/pg_server.py: unix socket, fsync on) and
   gives it one database; on SQLite's file and on that database, through a server of each, device1
   registers (POST /edev), writes its DERStatus, the aggregator registers 20 EndDevices and device1's group
   is given a program with five events (bench_server.register_device): the same data on both;
2. for each setup in turn, real `der-gateway serve` processes (the CLI):
     SQLite, 1 server        `serve --workers 1`, the baseline;
     SQLite, --workers 2     (unless --no-sqlite-workers) two processes on one file, for reference;
     PostgreSQL, 1 server    `serve --store DSN --workers 1`;
     PostgreSQL, 2 replicas  two `serve --store DSN --workers 1`, each on its own port, as two hosts
                             behind a TCP load balancer would be;
   runs bench_server's load generator (bench_workers' for the PUTs) as two processes, each with half the
   C keep-alive mutual-TLS connections as device1; for two replicas each process connects to one of them
   (half the connections to each, as a balancer spreading connections would), else both to the one port.
   Each connection sends the next request when the last is answered; every answer is checked; after a
   warm-up, answers are counted for T seconds.  Hot GETs: /dcap, /edev/{id}, /derp/{p}/derc?l=10 (the
   DERControlList); one write: PUT /edev/{id}/der/1/ders (204), every request a new DERStatus;
3. repeats 2 for R rounds, the setups in turn, and prints the median requests per second, the ratios
   (PostgreSQL 1 / SQLite 1, 2 replicas / PostgreSQL 1), and CPU: the der-gateway processes' and
   PostgreSQL's (all its processes), 100% being one core;
4. with --profile-dir, one more pass of SQLite 1 and PostgreSQL 1 (not counted in the figures) with py-spy
   recording the server (--idle --threads, raw): DIR/{sqlite,pg}-{scenario}.txt, for bench/profile_summary.py.

The two load processes, the servers and PostgreSQL share the machine's CPUs: on two cores the ratios say how
the setups compare on the same two cores, not what a second host would add.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import bench_server as bs  # noqa: E402
import bench_workers as bw  # noqa: E402

from tests.pg_server import PostgresServer  # noqa: E402

SCENARIOS = ("GET dcap", "GET edev", "GET derc", "PUT ders")


# -- PostgreSQL ------------------------------------------------------------------------------------------


def private_postgres(shared_buffers: str | None = None) -> PostgresServer:
    """tests/pg_server's private PostgreSQL; with shared_buffers, restarted with that much shared memory (the
    tests' 32 MB is small for a million rows; PostgreSQL's own default is 128 MB)."""
    server = PostgresServer.start()
    if shared_buffers:
        directory = server._directory
        assert directory is not None
        server._run("pg_ctl", "-D", str(directory / "data"), "-l", str(directory / "server.log"), "-w", "-t", "60",
                    "restart", "-m", "fast", "-o",
                    f"-c listen_addresses='' -c unix_socket_directories='{directory}' -p 5432 -c fsync=on "
                    f"-c synchronous_commit=on -c max_connections=200 -c shared_buffers={shared_buffers}")
    return server


def postgres_pids(server: PostgresServer) -> list[int]:
    """The postmaster and every process it forked (backends, writer, WAL writer, ...)."""
    directory = server._directory
    if directory is None:
        return []
    postmaster = int((directory / "data" / "postmaster.pid").read_text().split()[0])
    pids = [postmaster]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                pids.append(int(entry))
    return pids


def cpu_of(pids: list[int]) -> float:
    return sum(bs._cpu_seconds(pid) or 0.0 for pid in pids)


# -- setups ----------------------------------------------------------------------------------------------


@dataclass
class Setup:
    name: str
    servers: list[bw.Serve] = field(default_factory=list)

    @property
    def ports(self) -> list[int]:
        return [s.port for s in self.servers]

    def pids(self) -> list[int]:
        return [pid for s in self.servers for pid in s.pids]

    def stop(self) -> None:
        for s in self.servers:
            s.stop()


# -- load ------------------------------------------------------------------------------------------------


def _synced_get(conn: Any, barrier: Any, port: int, certs_dir: str, path: str, expected: bytes, connections: int,
                warmup: float, seconds: float) -> None:
    barrier.wait(120)
    bw._get_load(conn, port, certs_dir, path, expected, connections, warmup, seconds)


def _synced_put(conn: Any, barrier: Any, port: int, certs_dir: str, path: str, connections: int, warmup: float,
                seconds: float) -> None:
    barrier.wait(120)
    bw._put_load(conn, port, certs_dir, path, connections, warmup, seconds)


def measure(setup: Setup, pg_pids: Callable[[], list[int]], target: Callable[..., None],
            args_for: Callable[[int], tuple[Any, ...]], connections: int, warmup: float,
            seconds: float) -> dict[str, float]:
    """Two load processes, started together, each with half the connections: for two servers one to each."""
    ctx = mp.get_context("spawn")
    ports = setup.ports if len(setup.ports) == 2 else setup.ports * 2
    barrier = ctx.Barrier(len(ports) + 1)
    shares = [connections // 2, connections - connections // 2]
    pipes, processes = [], []
    for port, share in zip(ports, shares):
        parent, child = ctx.Pipe()
        process = ctx.Process(target=target, args=(child, barrier, *args_for(port), share, warmup, seconds),
                              daemon=True)
        process.start()
        child.close()
        pipes.append(parent)
        processes.append(process)
    barrier.wait(120)
    servers, database = setup.pids(), pg_pids()
    cpu0, db0, t0 = cpu_of(servers), cpu_of(database), time.perf_counter()
    try:
        results = []
        for parent in pipes:
            if not parent.poll(warmup + seconds + 120):
                raise RuntimeError("a load generator did not report")
            status, value = parent.recv()
            if status != "done":
                raise RuntimeError(f"the load generator failed: {value}")
            if value.get("errors"):
                raise RuntimeError(f"wrong answers: {value['errors']}")
            results.append(value)
    finally:
        for process in processes:
            process.join(10)
    elapsed = time.perf_counter() - t0
    return {"rps": sum(r["rps"] for r in results),
            "server_cpu_pct": 100 * (cpu_of(servers) - cpu0) / elapsed,  # over warm-up and measurement both
            "pg_cpu_pct": 100 * (cpu_of(database) - db0) / elapsed,
            "per_port": [r["rps"] for r in results]}


def expected_bodies(port: int, certs_dir: Path, targets: dict[str, tuple[str, str, bytes]]) -> dict[str, bytes]:
    """What this server answers for each GET now (the events' times are relative to the time of asking)."""
    from der_gateway.tls import client_context

    c = bs.Connection(client_context(certs_dir, bs.DEVICE), port)
    try:
        found = {}
        for name in ("dcap", "edev", "derc"):
            status, _, found[name] = c.request("GET", targets[name][0])
            assert status == 200 and found[name], (name, status)
        return found
    finally:
        c.close()


class Recording:
    """py-spy recording one process while a figure is measured (nothing when out is None)."""

    def __init__(self, program: str, pid: int, out: Path | None) -> None:
        self.process = None if out is None else subprocess.Popen(
            [program, "record", "--pid", str(pid), "--rate", "200", "--idle", "--threads", "--format", "raw",
             "--output", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(60)


def throughput(setup: Setup, pg_pids: Callable[[], list[int]], certs_dir: Path,
               targets: dict[str, tuple[str, str, bytes]], args: argparse.Namespace,
               profile_as: str | None = None) -> dict[str, dict[str, float]]:
    def recording(scenario: str) -> Recording:
        out = args.profile_dir / f"{profile_as}-{scenario.replace(' ', '-')}.txt" if profile_as else None
        return Recording(args.py_spy, setup.servers[0].proc.pid, out)

    bodies = {port: expected_bodies(port, certs_dir, targets) for port in setup.ports}
    for body in bodies.values():  # the replicas answer alike
        assert body == bodies[setup.ports[0]], "the replicas answered differently"
    results = {}
    for name in ("dcap", "edev", "derc"):
        with recording(f"GET {name}"):
            results[f"GET {name}"] = measure(
                setup, pg_pids, _synced_get,
                lambda port, name=name: (port, str(certs_dir), targets[name][0], bodies[port][name]),
                args.connections, args.warmup, args.seconds)
    with recording("PUT ders"):
        results["PUT ders"] = measure(setup, pg_pids, _synced_put,
                                      lambda port: (port, str(certs_dir), targets["ders"][0]),
                                      args.connections, args.warmup, args.seconds)
    return results


# -- the run ---------------------------------------------------------------------------------------------


LABELS = {"GET dcap": "GET /dcap", "GET edev": "GET /edev/{id}", "GET derc": "GET /derp/{p}/derc?l=10",
          "PUT ders": "PUT /edev/{id}/der/1/ders"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per figure (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every setup in turn (default 3)")
    parser.add_argument("--no-sqlite-workers", dest="sqlite_workers", action="store_false",
                        help="leave out SQLite with --workers 2")
    parser.add_argument("--profile-dir", type=Path, help="after the rounds, record SQLite 1 and PostgreSQL 1 "
                                                         "with py-spy into this directory")
    parser.add_argument("--py-spy", default="py-spy", help="the py-spy program (default %(default)s)")
    args = parser.parse_args(argv)

    from der_gateway import pki

    postgres = private_postgres()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pg-replicas-") as tmp:
            work = Path(tmp)
            certs_dir, sqlite_dir = work / "certs", work / "sqlite"
            pki.init_pki(certs_dir, devices=1)
            dsn = postgres.create_database()
            replica_dirs = [work / "replica-a", work / "replica-b"]

            setup = bw.Serve(work, certs_dir, sqlite_dir, 1, name="setup-sqlite")
            try:
                sqlite_targets = bs.register_device(certs_dir, setup.port, sqlite_dir)
            finally:
                setup.stop()
            setup = bw.Serve(work, certs_dir, replica_dirs[0], 1, name="setup-pg", store=dsn)
            try:
                pg_targets = bs.register_device(certs_dir, setup.port, replica_dirs[0], dsn)
            finally:
                setup.stop()

            def start(name: str) -> Setup:
                if name == "SQLite, 1 server":
                    return Setup(name, [bw.Serve(work, certs_dir, sqlite_dir, 1, name="sqlite-1")])
                if name == "SQLite, --workers 2":
                    return Setup(name, [bw.Serve(work, certs_dir, sqlite_dir, 2, name="sqlite-2")])
                if name == "PostgreSQL, 1 server":
                    return Setup(name, [bw.Serve(work, certs_dir, replica_dirs[0], 1, name="pg-1", store=dsn)])
                return Setup(name, [bw.Serve(work, certs_dir, d, 1, name=f"pg-replica-{i}", store=dsn)
                                    for i, d in enumerate(replica_dirs)])

            names = ["SQLite, 1 server"] + (["SQLite, --workers 2"] if args.sqlite_workers else []) + [
                "PostgreSQL, 1 server", "PostgreSQL, 2 replicas"]
            print(f"{os.cpu_count()} CPUs; {args.connections} connections from 2 load processes, {args.seconds:g} s "
                  f"per figure after {args.warmup:g} s of warm-up, {args.rounds} rounds", flush=True)
            figures: dict[str, list[dict[str, dict[str, float]]]] = {n: [] for n in names}
            for round_ in range(args.rounds):
                for name in names:
                    setup = start(name)
                    try:
                        targets = sqlite_targets if name.startswith("SQLite") else pg_targets
                        pg_pids = (lambda: postgres_pids(postgres)) if name.startswith("PostgreSQL") else list
                        figures[name].append(throughput(setup, pg_pids, certs_dir, targets, args))
                        print(f"  round {round_ + 1}, {name}: " + ", ".join(
                            f"{s} {figures[name][-1][s]['rps']:.0f}" for s in SCENARIOS), file=sys.stderr,
                            flush=True)
                    finally:
                        setup.stop()
            if args.profile_dir:
                args.profile_dir.mkdir(parents=True, exist_ok=True)
                for name, label in (("SQLite, 1 server", "sqlite"), ("PostgreSQL, 1 server", "pg")):
                    setup = start(name)
                    try:
                        throughput(setup, list, certs_dir, sqlite_targets if label == "sqlite" else pg_targets,
                                   args, profile_as=label)
                    finally:
                        setup.stop()
    finally:
        postgres.stop()

    if not args.rounds:  # only the profiles were asked for
        return 0

    def median_of(name: str, scenario: str, key: str) -> float:
        return statistics.median(r[scenario][key] for r in figures[name])

    print(f"\nreq/s, median of {args.rounds} rounds (der-gateway CPU% + PostgreSQL CPU%; 100% = one core)\n")
    print("| request | " + " | ".join(names) + " | PG 1 / SQLite 1 | 2 replicas / PG 1 |")
    print("|---|" + "---:|" * (len(names) + 2))
    for scenario in SCENARIOS:
        cells = []
        for name in names:
            cpu = f"{median_of(name, scenario, 'server_cpu_pct'):.0f}%"
            if name.startswith("PostgreSQL"):
                cpu += f" + {median_of(name, scenario, 'pg_cpu_pct'):.0f}%"
            cells.append(f"{median_of(name, scenario, 'rps'):.0f} ({cpu})")
        sqlite1 = median_of("SQLite, 1 server", scenario, "rps")
        pg1 = median_of("PostgreSQL, 1 server", scenario, "rps")
        pg2 = median_of("PostgreSQL, 2 replicas", scenario, "rps")
        print(f"| {LABELS[scenario]} | " + " | ".join(cells) + f" | {pg1 / sqlite1:.2f} | {pg2 / pg1:.2f} |")
    print("\nreq/s per replica (each round):")
    for scenario in SCENARIOS:
        print(f"  {LABELS[scenario]}: " + ", ".join(
            "/".join(f"{x:.0f}" for x in r[scenario]["per_port"]) for r in figures["PostgreSQL, 2 replicas"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
