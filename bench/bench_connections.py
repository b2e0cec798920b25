"""Idle connections and slow clients against der-gateway: this checkout against a baseline checkout.

    python bench/bench_connections.py [--idle 10000] [--stalled 2000] [--requests 200]
                                      --baseline-src DIR [--trickle-cap 90] [--json FILE]

One run:

1. makes a throw-away PKI (der_gateway.pki.init_pki) and, for each of the two servers in turn (the
   baseline: the der_gateway package under --baseline-src, e.g. `git worktree add /tmp/before df03d38` and
   /tmp/before/src for the code before issue 9;
   then this checkout's src), starts the real server (start_server, TLS, profile "csip") in its own
   process with PYTHONPATH set to that source tree;
2. times --requests well-behaved mutual-TLS clients, one after another, each on a new connection
   (TCP, TLS handshake, GET /dcap, read to the end), with no other connection open;
3. opens --idle plain TCP connections to the TLS port that never start TLS (never send a byte),
   waits until the server's RSS stops growing, reads the RSS (VmRSS in /proc), and times the same
   well-behaved clients again while the idle connections stay open; then closes them and stops it.
   This checkout's server runs with max_connections and max_connections_per_address above --idle
   (every idle connection comes from 127.0.0.1) and a 120 s handshake timeout, so that it holds
   them all as the baseline does;
4. for each server in turn, again in a new process with the same settings, opens --stalled
   connections that each send a TLS ClientHello and nothing more (a handshake under way), and
   reads the RSS growth the same way;
5. starts both servers again with their default settings, and at once against each: 20 idle TCP
   connections, a client that completes TLS and sends a request's headers one line every 5 s, and
   one that sends its headers and then its body one byte every 5 s; it reports when the server
   closed each (not closed within --trickle-cap seconds: "open").
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import resource
import select
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
GET_DCAP = b"GET /dcap HTTP/1.1\r\nHost: localhost\r\nAccept: application/sep+xml\r\nConnection: close\r\n\r\n"

SERVER = r"""
import asyncio, json, os, resource, sys
from pathlib import Path
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
import der_gateway
from der_gateway.config import Config
from der_gateway.launch import start_server

async def main():
    settings = json.loads(sys.argv[1])
    for name in ("certs_dir", "data_dir"):
        settings[name] = Path(settings[name])
    server = await start_server(Config(**settings))
    print(json.dumps({"port": server.port, "package": der_gateway.__file__}), flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Server:
    def __init__(self, label: str, src: Path, settings: dict) -> None:
        self.label = label
        env = dict(os.environ, PYTHONPATH=str(src))
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, json.dumps(settings)], env=env,
                                        stdout=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {label} server did not start")
        started = json.loads(line)
        self.port: int = started["port"]
        self.package: str = started["package"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def client_ctx(certs: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ciphers = "ECDHE-ECDSA-AES128-CCM8" + (":@SECLEVEL=0" if ssl.OPENSSL_VERSION_INFO >= (3, 2) else "")
    ctx.set_ciphers(ciphers)
    ctx.load_verify_locations(certs / "serca.pem")
    ctx.load_cert_chain(certs / "device1.pem", certs / "device1.key")
    return ctx


def get_dcap_ms(ctx: ssl.SSLContext, port: int) -> float:
    start = time.perf_counter()
    with socket.create_connection((HOST, port), timeout=30) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(GET_DCAP)
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(f"GET /dcap answered {data[:100]!r}")
    return (time.perf_counter() - start) * 1000


def latencies(ctx: ssl.SSLContext, port: int, n: int) -> dict:
    get_dcap_ms(ctx, port)  # warm-up
    samples = [get_dcap_ms(ctx, port) for _ in range(n)]
    return {"median_ms": statistics.median(samples), "mean_ms": statistics.fmean(samples), "max_ms": max(samples)}


def open_idle(port: int, n: int, in_flight: int = 256) -> list[socket.socket]:
    """n TCP connections, up to in_flight connects under way at once (each connect alone waits on
    the server's accept, about a millisecond)."""
    held: list[socket.socket] = []
    pending: dict[int, socket.socket] = {}
    poller = select.poll()
    started = 0
    while len(held) < n:
        while started < n and len(pending) < in_flight:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            err = s.connect_ex((HOST, port))
            if err not in (0, errno.EINPROGRESS):
                raise OSError(err, os.strerror(err))
            pending[s.fileno()] = s
            poller.register(s, select.POLLOUT)
            started += 1
        for fd, _ in poller.poll(30_000):
            s = pending.pop(fd)
            poller.unregister(fd)
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            s.setblocking(True)
            held.append(s)
    return held


def settled_rss(pid: int, quiet: float = 1.5, limit: float = 60.0) -> int:
    """The RSS once it has not grown for `quiet` seconds."""
    deadline = time.monotonic() + limit
    last, since = rss_kib(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = rss_kib(pid)
        if now > last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


def client_hello(ctx: ssl.SSLContext) -> bytes:
    """The first flight of a TLS client: what a connection that stalls in its handshake sends."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def memory_run(label: str, src: Path, settings: dict, ctx: ssl.SSLContext, idle: int, requests: int) -> dict:
    server = Server(label, src, settings)
    try:
        quiet = latencies(ctx, server.port, requests)
        base = settled_rss(server.process.pid)
        started = time.perf_counter()
        held = open_idle(server.port, idle)
        opened_s = time.perf_counter() - started
        loaded = settled_rss(server.process.pid)
        alive = still_open_count(held)
        busy = latencies(ctx, server.port, requests)
        for s in held:
            s.close()
        return {"server": label, "package": server.package, "rss_before_mib": base / 1024,
                "rss_with_idle_mib": loaded / 1024, "kib_per_idle_connection": (loaded - base) / idle,
                "idle_open_at_measure": alive, "open_seconds": opened_s,
                "get_dcap_no_idle": quiet, "get_dcap_with_idle": busy,
                "latency_ratio": busy["median_ms"] / quiet["median_ms"]}
    finally:
        server.stop()


def stalled_run(label: str, src: Path, settings: dict, ctx: ssl.SSLContext, n: int) -> dict:
    """n connections that send a ClientHello and nothing more (the server's handshake under way)."""
    server = Server(label, src, settings)
    try:
        get_dcap_ms(ctx, server.port)
        base = settled_rss(server.process.pid)
        hello = client_hello(ctx)
        held = open_idle(server.port, n)
        for s in held:
            s.sendall(hello)
        loaded = settled_rss(server.process.pid)
        alive = still_open_count(held)
        for s in held:
            s.close()
        return {"server": label, "stalled": n, "rss_before_mib": base / 1024, "rss_with_stalled_mib": loaded / 1024,
                "kib_per_stalled_handshake": (loaded - base) / n, "stalled_open_at_measure": alive}
    finally:
        server.stop()


def still_open_count(held: list[socket.socket]) -> int:
    alive = 0
    for s in held:
        s.setblocking(False)
        try:
            alive += s.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
        s.setblocking(True)
    return alive


async def closed_after(reader: asyncio.StreamReader, started: float, cap: float) -> float | None:
    try:
        while await asyncio.wait_for(reader.read(65536), max(0.0, cap - (time.monotonic() - started))):
            pass
    except asyncio.TimeoutError:
        return None
    except OSError:
        pass
    return time.monotonic() - started


async def idle_close(port: int, cap: float, n: int = 20) -> list[float | None]:
    async def one() -> float | None:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            return await closed_after(reader, started, cap)
        finally:
            writer.close()
    return list(await asyncio.gather(*(one() for _ in range(n))))


async def trickle_close(port: int, ctx: ssl.SSLContext, cap: float, body: bool) -> float | None:
    reader, writer = await asyncio.open_connection(HOST, port, ssl=ctx)
    started = time.monotonic()
    document = b"<EndDevice xmlns=\"urn:ieee:std:2030.5:ns\"><changedTime>0</changedTime></EndDevice>"
    if body:
        writer.write(b"POST /edev HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/sep+xml\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(document))
        pieces = [bytes([b]) for b in document]
    else:
        writer.write(b"GET /dcap HTTP/1.1\r\n")
        pieces = [b"X-Slow-%d: y\r\n" % i for i in range(1000)]

    async def trickle() -> None:
        for piece in pieces:
            await asyncio.sleep(5)
            writer.write(piece)

    task = asyncio.create_task(trickle())
    try:
        return await closed_after(reader, started, cap)
    finally:
        task.cancel()
        writer.close()


async def slow_clients(port: int, ctx: ssl.SSLContext, cap: float) -> dict:
    idle, header, body = await asyncio.gather(idle_close(port, cap), trickle_close(port, ctx, cap, False),
                                              trickle_close(port, ctx, cap, True))
    closed = [t for t in idle if t is not None]
    return {"idle_closed": f"{len(closed)} of {len(idle)}",
            "idle_close_s": (min(closed), max(closed)) if closed else None,
            "header_trickle_close_s": header, "body_trickle_close_s": body}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--stalled", type=int, default=2000)
    parser.add_argument("--baseline-src", type=Path, required=True,
                        help="the src/ directory of the checkout to compare with")
    parser.add_argument("--trickle-cap", type=float, default=90.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < args.idle + 256:
        sys.exit(f"the hard open-file limit {hard} is below --idle + 256")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    sys.path.insert(0, str(ROOT / "src"))
    from der_gateway import pki

    results: dict = {"idle": args.idle, "requests": args.requests}
    with tempfile.TemporaryDirectory() as tmp:
        certs = Path(tmp) / "certs"
        pki.init_pki(certs, devices=1)
        ctx = client_ctx(certs)
        common = {"port": 0, "admin_enabled": False, "certs_dir": str(certs)}
        this_src = ROOT / "src"
        wide = {"max_connections": args.idle + 1000, "max_connections_per_address": args.idle + 1000,
                "tls_handshake_timeout": 120.0}
        runs = [("baseline", args.baseline_src, {}), ("this", this_src, wide)]
        results["memory"] = []
        for label, src, extra in runs:
            settings = {**common, "data_dir": f"{tmp}/var-{label}-memory", **extra}
            result = memory_run(label, src, settings, ctx, args.idle, args.requests)
            results["memory"].append(result)
            print(json.dumps(result), flush=True)
        results["stalled"] = []
        for label, src, extra in runs:
            settings = {**common, "data_dir": f"{tmp}/var-{label}-stalled", **extra}
            result = stalled_run(label, src, settings, ctx, args.stalled)
            results["stalled"].append(result)
            print(json.dumps(result), flush=True)

        servers = [Server(label, src, {**common, "data_dir": f"{tmp}/var-{label}-slow"})
                   for label, src, _ in runs]
        try:
            async def both() -> list[dict]:
                return list(await asyncio.gather(*(slow_clients(s.port, ctx, args.trickle_cap) for s in servers)))
            slow = asyncio.run(both())
        finally:
            for s in servers:
                s.stop()
        results["slow_clients"] = {s.label: r for s, r in zip(servers, slow)}
        print(json.dumps(results["slow_clients"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
