"""`der-gateway serve --workers 1` against `--workers N` on one SQLite file, over mutual TLS.

    python bench/bench_workers.py [--workers 2] [--seconds 8] [--warmup 2] [--connections 16] [--samples 30]
                                  [--rounds 3]

One run:

1. makes a throw-away PKI and data directory; a `--workers 1` server registers device1 (POST /edev), its
   DERStatus, the aggregator's 20 EndDevices and a program with five events for device1's group (as
   bench/bench_server.py does, with its register_device);
2. for each server in turn, `der-gateway serve --workers 1` then `--workers N` (real processes, the CLI),
   runs bench_server's load generator in a process of its own: C keep-alive mutual-TLS connections as
   device1, each sending the next request when the last is answered, checking every answer; after a
   warm-up, answers are counted for T seconds.  Hot GETs: /dcap, /edev/{id}, /derp/{p}/derc?l=10 (the
   DERControlList); one write: PUT /edev/{id}/der/1/ders (204), every request a new DERStatus;
3. measures the delay from a change to its notification: the aggregator, on a connection served by a
   worker that does not lead (read from /proc), is subscribed to its EndDeviceList with a receiver on
   loopback, registers an EndDevice, and the time from sending the POST to the notification's arrival is
   taken, S times; with --workers 1 (the change wakes the duties in-process), with N workers (the leader
   sees the follower's commit by polling the store's version every leader_poll seconds) and with N
   workers and leader_poll 10 s (only the background loop's own quarter-second poll);
4. repeats 2 for R rounds, the two servers alternately, and prints the median requests per second, the
   ratio N/1, the servers' CPU (all their processes; 100% is one core), how the load's connections were
   shared among the workers, and the delays (median, p90, max).

The load generator shares the machine with the servers: on two cores, N workers and the load generator
compete for the same CPUs, so the ratio is a floor for what N workers give on a machine with spare cores.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import multiprocessing as mp
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

import bench_server as bs  # noqa: E402  (its client, its load generator and its setup)

HOST = "127.0.0.1"


# -- a server, through the CLI ----------------------------------------------------------------------------


class Serve:
    def __init__(self, workdir: Path, certs_dir: Path, data_dir: Path, workers: int, name: str | None = None,
                 **settings: Any) -> None:
        name = name or str(workers)  # several servers at once need names of their own
        lines = ['admin_port = 0', 'admin_token = "bench-admin-token-0123456789"',
                 'notification_allow = ["http://127.0.0.1:"]', 'notification_allow_addresses = ["127.0.0.1/32"]']
        lines += [f"{k} = {v!r}" for k, v in settings.items()]
        config = workdir / f"serve-{name}.toml"
        config.write_text("\n".join(lines) + "\n")
        self.out = workdir / f"serve-{name}.out"
        self.err = workdir / f"serve-{name}.err"
        self.data_dir = data_dir
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "der_gateway", "serve", "--workers", str(workers), "--port", "0",
             "--config", str(config), "--data-dir", str(data_dir), "--certs-dir", str(certs_dir)],
            stdout=self.out.open("wb"), stderr=self.err.open("wb"))
        last = "worker processes:" if workers > 1 else "admin API at"
        deadline = time.monotonic() + 120
        while last not in (text := self.out.read_text()):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"serve --workers {workers} did not start:\n{text}{self.err.read_text()}")
            time.sleep(0.05)
        self.port = int(re.search(r"at https://127\.0\.0\.1:([0-9]+)/dcap", text).group(1))
        if workers > 1:
            time.sleep(1.0)  # the leader takes its lock just after the workers serve

    @property
    def pids(self) -> list[int]:
        """The processes serving: the workers, or the one server."""
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == self.proc.pid and fields[0] != "Z":
                    found.append(int(entry))
        return found or [self.proc.pid]

    @property
    def leader(self) -> int | None:
        try:
            return int((self.data_dir / "leader.lock").read_text())
        except (OSError, ValueError):
            return None

    def cpu_seconds(self) -> float:
        return sum(bs._cpu_seconds(pid) or 0.0 for pid in self.pids)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


# -- throughput -------------------------------------------------------------------------------------------


def _put_load(conn: Any, port: int, certs_dir: str, path: str, connections: int, warmup: float,
              seconds: float) -> None:
    """Like bench_server's GET load, for PUTs of DERStatus: every answer must be 204."""
    import selectors
    import ssl

    from der_gateway.sep import codec
    from der_gateway.tls import client_context
    from tests import documents

    try:
        ctx = client_context(Path(certs_dir), bs.DEVICE)
        conns = [bs.Connection(ctx, port) for _ in range(connections)]
        sel = selectors.DefaultSelector()
        bufs: dict[Any, bytes] = {}
        for c in conns:
            c.sock.setblocking(False)
            sel.register(c.sock, selectors.EVENT_READ)
            bufs[c.sock] = b""
        status = documents.der_status()
        counter = [1700000000]

        def send(sock: Any) -> None:
            counter[0] += 1
            status.readingTime = counter[0]
            body = codec.encode(status)
            request = (f"PUT {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: {bs.SEP_XML}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
            sock.setblocking(True)
            sock.sendall(request)
            sock.setblocking(False)

        done, marks = 0, {}
        start = time.perf_counter()
        for c in conns:
            send(c.sock)
        while True:
            now = time.perf_counter()
            if "t0" not in marks and now >= start + warmup:
                marks.update(n0=done, t0=now)
            elif "t0" in marks and now >= marks["t0"] + seconds:
                marks.update(n1=done, t1=now)
                break
            for key, _ in sel.select(0.5):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                if not chunk:
                    raise bs.HttpError("the server closed a connection")
                buf = bufs[sock] + chunk
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    bufs[sock] = buf
                    continue
                if buf[9:13] != b"204 " or len(buf) != end + 4:
                    raise bs.HttpError(f"unexpected response {buf[:80]!r}")
                bufs[sock] = b""
                done += 1
                send(sock)
        for c in conns:
            c.close()
        conn.send(("done", {"requests": marks["n1"] - marks["n0"],
                            "rps": (marks["n1"] - marks["n0"]) / (marks["t1"] - marks["t0"])}))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        conn.send(("error", repr(exc)))


def _get_load(conn: Any, port: int, certs_dir: str, path: str, expected: bytes, connections: int, warmup: float,
              seconds: float) -> None:
    try:
        conn.send(("done", bs._run_load(port, Path(certs_dir), path, expected, connections, warmup, seconds,
                                        os.getpid())))
    except BaseException as exc:  # noqa: BLE001
        conn.send(("error", repr(exc)))


def connection_split(server: Serve) -> list[int]:
    """How many established connections to the 2030.5 listener each serving process holds, most first."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == server.port and parts[3] == "01":
                inodes.add(f"socket:[{parts[9]}]")
    counts = []
    for pid in server.pids:
        held = 0
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                held += os.readlink(f"/proc/{pid}/fd/{fd}") in inodes
            except OSError:
                continue
        counts.append(held)
    return sorted(counts, reverse=True)


def measure(server: Serve, target: Callable[..., None], args: tuple[Any, ...], timeout: float,
            warmup: float) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    child.close()
    cpu0, t0 = server.cpu_seconds(), time.perf_counter()
    split: list[int] = []
    try:
        if parent.poll(warmup + 1.0):  # the connections are open by now: who holds them
            pass
        split = connection_split(server)
        if not parent.poll(timeout):
            raise RuntimeError("the load generator did not report")
        status, value = parent.recv()
    finally:
        process.join(10)
    cpu = 100 * (server.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
    if status != "done":
        raise RuntimeError(f"the load generator failed: {value}")
    if value.get("errors"):
        raise RuntimeError(f"wrong answers: {value['errors']}")
    value["server_cpu_pct"] = cpu  # over warm-up and measurement both
    value["split"] = split
    return value


def throughput(server: Serve, certs_dir: Path, targets: dict[str, tuple[str, str, bytes]],
               args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    from der_gateway.tls import client_context

    bodies = {}
    c = bs.Connection(client_context(certs_dir, bs.DEVICE), server.port)
    try:
        for name in ("dcap", "edev", "derc"):
            status, _, bodies[name] = c.request("GET", targets[name][0])
            assert status == 200 and bodies[name], (name, status)
    finally:
        c.close()
    results = {}
    for name, body in bodies.items():
        results[f"GET {name}"] = measure(server, _get_load, (server.port, str(certs_dir), targets[name][0], body,
                                                             args.connections, args.warmup, args.seconds),
                                         args.warmup + args.seconds + 120, args.warmup)
    results["PUT ders"] = measure(server, _put_load, (server.port, str(certs_dir), targets["ders"][0],
                                                      args.connections, args.warmup, args.seconds),
                                  args.warmup + args.seconds + 120, args.warmup)
    return results


# -- change to notification -----------------------------------------------------------------------------


class Receiver(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.arrived:
                    receiver.arrivals.append(time.perf_counter())
                    receiver.arrived.notify_all()
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__((HOST, 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30.0) -> float:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.arrivals) >= count, timeout):
                raise RuntimeError("no notification arrived")
            return self.arrivals[count - 1]


def _server_end_holder(pids: list[int], server_port: int, client_port: int) -> int | None:
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            if (int(parts[1].rsplit(":", 1)[1], 16), int(parts[2].rsplit(":", 1)[1], 16)) == (server_port,
                                                                                               client_port):
                inode = parts[9]
    for pid in pids:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
            except OSError:
                continue
    return None


def notification_delays(server: Serve, certs_dir: Path, samples: int) -> list[float]:
    """Seconds from sending a POST /edev, through a worker that does not lead, to its notification's arrival."""
    from der_gateway import pki
    from der_gateway.sep import codec, model
    from der_gateway.tls import client_context
    from tests import documents

    ctx = client_context(certs_dir, bs.AGGREGATOR)
    opened = []
    try:
        for _ in range(64):
            agg = bs.Connection(ctx, server.port)
            opened.append(agg)
            agg.request("GET", "/dcap")
            pids = server.pids
            worker = _server_end_holder(pids, server.port, agg.sock.getsockname()[1])
            if len(pids) == 1 or worker != server.leader:
                break
        else:
            raise RuntimeError("no connection was accepted by a worker that does not lead")
        receiver = Receiver()
        me = next(c for c in pki.read_manifest(certs_dir) if c.name == bs.AGGREGATOR)
        status, headers, _ = agg.request("POST", "/edev", documents.end_device(me.lfdi))
        own = headers["location"]
        uri = f"http://{HOST}:{receiver.server_address[1]}/n"
        status, _, _ = agg.request("POST", f"{own}/sub", codec.encode(model.Subscription(
            subscribedResource="/edev", encoding=0, level="-S1", limit=1, notificationURI=uri)))
        assert status == 201, status
        time.sleep(0.5)
        delays = []
        for n in range(samples):
            time.sleep(secrets.randbelow(100) / 1000)  # at any phase of the polls
            heard = len(receiver.arrivals)
            sent = time.perf_counter()
            status, _, _ = agg.request("POST", "/edev", documents.end_device(secrets.token_hex(20).upper()))
            assert status == 201, status
            delays.append(receiver.wait_for(heard + 1) - sent)
        receiver.shutdown()
        return delays
    finally:
        for c in opened:
            c.close()


# -- the run ----------------------------------------------------------------------------------------------


def summary(delays: list[float]) -> str:
    ms = sorted(d * 1000 for d in delays)
    return f"{statistics.median(ms):.1f} / {ms[int(0.9 * (len(ms) - 1))]:.1f} / {ms[-1]:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="N, the workers compared with one (default 2)")
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per figure (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument("--samples", type=int, default=30, help="changes timed per server (default 30)")
    parser.add_argument("--rounds", type=int, default=3, help="alternate rounds of 1 and N workers (default 3)")
    args = parser.parse_args(argv)

    from der_gateway import pki

    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        work = Path(tmp)
        certs_dir, data_dir = work / "certs", work / "var"
        pki.init_pki(certs_dir, devices=1)
        setup = Serve(work, certs_dir, data_dir, 1)
        try:
            targets = bs.register_device(certs_dir, setup.port, data_dir)
        finally:
            setup.stop()

        print(f"{os.cpu_count()} CPUs; {args.connections} connections, {args.seconds:g} s per figure after "
              f"{args.warmup:g} s of warm-up, {args.rounds} rounds", flush=True)
        figures: dict[int, list[dict[str, dict[str, Any]]]] = {1: [], args.workers: []}
        delays: dict[str, list[float]] = {}
        for round_ in range(args.rounds):
            for workers in (1, args.workers):  # alternately, so that the machine's other load falls on both
                server = Serve(work, certs_dir, data_dir, workers)
                try:
                    figures[workers].append(throughput(server, certs_dir, targets, args))
                    if round_ == args.rounds - 1:
                        delays[f"--workers {workers}"] = notification_delays(server, certs_dir, args.samples)
                finally:
                    server.stop()
        server = Serve(work, certs_dir, data_dir, args.workers, leader_poll=10.0)
        try:
            delays[f"--workers {args.workers}, leader_poll 10 s"] = notification_delays(server, certs_dir,
                                                                                          args.samples)
        finally:
            server.stop()

    n = args.workers

    def median_of(workers: int, name: str, key: str) -> float:
        return statistics.median(r[name][key] for r in figures[workers])

    print(f"\n| request ({args.connections} connections), median of {args.rounds} | --workers 1 req/s (CPU%) "
          f"| --workers {n} req/s (CPU%) | ratio | connections per worker |")
    print("|---|---:|---:|---:|---|")
    for name in figures[1][0]:
        one, many = median_of(1, name, "rps"), median_of(n, name, "rps")
        splits = ", ".join("/".join(map(str, r[name]["split"])) for r in figures[n])
        print(f"| {name} | {one:.0f} ({median_of(1, name, 'server_cpu_pct'):.0f}%) | {many:.0f} "
              f"({median_of(n, name, 'server_cpu_pct'):.0f}%) | {many / one:.2f} | {splits} |")
    print(f"\n| change to notification ({args.samples} samples) | median / p90 / max (ms) |")
    print("|---|---:|")
    for name, values in delays.items():
        print(f"| {name} | {summary(values)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
