"""Throughput of der-gateway against a bare aiohttp handler serving the same bytes over the same TLS.

    python bench/bench_server.py [--seconds 10] [--connections 8] [--warmup 2] [--rounds 1]
                                 [--paths dcap,ders,...] [--no-cache] [--json FILE] [--profile DIR]
                                 [--py-spy DIR] [--no-pin]

One run:

1. makes a throw-away PKI (der_gateway.pki.init_pki) and data directory;
2. starts the real der-gateway server (start_server, profile "csip") in its own process, registers
   device1's EndDevice (POST /edev) and writes its DERStatus (PUT /edev/{id}/der/1/ders) with
   device1's certificate; the aggregator registers 20 EndDevices; then, through the store's own
   code on the same SQLite file, a group holding device1 is assigned a program with five events
   (two active all day, three scheduled for the coming days, so that no answer changes during the
   run); then it fetches each measured resource back with the certificate that will load it:
     dcap      /dcap                       ders      /edev/{id}/der/1/ders
     edev      /edev/{id}                  fsa       /edev/{id}/fsa?l=10
     derp      /fsa/{g}/derp?l=10          derc      /derp/{p}/derc?l=10 (DERControlList)
     actderc   /derp/{p}/actderc?l=10      edevlist  /edev?l=20, as the aggregator
3. starts a baseline server in its own process: a bare aiohttp application behind the same TLS
   context (der_gateway.tls.server_context: TLS 1.2, ECDHE-ECDSA-AES128-CCM8, client certificate
   required) whose handlers return exactly the bytes fetched in step 2, as application/sep+xml;
4. for each path, and for each server in turn (never both at once), runs the same load generator in
   a separate process: N mutual-TLS keep-alive HTTP/1.1 connections (the fetching certificate), driven
   by one thread on epoll (non-blocking ssl sockets, no GIL hand-offs); each connection sends a GET,
   reads the head up to CRLFCRLF and Content-Length body bytes, checks the status is 200 and the
   body is the expected bytes (every response: a length test and a memcmp), and sends the next;
   after a warm-up, completed responses are counted for T seconds;
5. prints the figures (and writes them with --json); exits 1 only if a response was wrong.

On a machine with two or more CPUs the servers are pinned to one CPU and the load generator to
another (--no-pin to leave scheduling to the OS), and the CPU time each side used during the
measured window is reported, so one can see which side was saturated.

--profile DIR runs both servers under cProfile and writes DIR/der-gateway.prof and
DIR/baseline.prof (the req/s figures of such a run are depressed by the profiler).
--py-spy DIR samples each server with py-spy (from $PY_SPY or PATH; `pip install py-spy`) during
each measured window, writing collapsed stacks for bench/profile_summary.py; its overhead is small.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # for tests.documents, the request bodies the test-suite sends

SEP_XML = "application/sep+xml"
HOST = "127.0.0.1"
DEVICE = "device1"
SERVER_CPU, LOAD_CPU = 0, 1


# ---------------------------------------------------------------------------------------------
# A lean HTTP/1.1 client over a blocking TLS socket (used both for setup and for the load).

class HttpError(Exception):
    pass


class Connection:
    """One keep-alive HTTP/1.1 connection; responses must carry Content-Length (aiohttp's do)."""

    def __init__(self, ctx: ssl.SSLContext, port: int, timeout: float = 30.0) -> None:
        raw = socket.create_connection((HOST, port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw)  # the handshake happens here
        self.port = port
        self.buf = b""

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise HttpError("the server closed the connection")
        self.buf += chunk

    def read_response(self) -> tuple[bytes, bytes]:
        """(head, body): head is everything before CRLFCRLF."""
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill()
        head = self.buf[:end]
        self.buf = self.buf[end + 4:]
        if head[9:12] in (b"204", b"304"):  # no body, and no Content-Length to say so
            return head, b""
        at = head.find(b"\r\nContent-Length:")
        if at < 0:
            at = head.lower().find(b"\r\ncontent-length:")
            if at < 0:
                raise HttpError(f"no Content-Length in {head[:200]!r}")
        stop = head.find(b"\r\n", at + 2)
        length = int(head[at + 17:stop if stop >= 0 else len(head)])
        while len(self.buf) < length:
            self._fill()
        body = self.buf[:length]
        self.buf = self.buf[length:]
        return head, body

    def request(self, method: str, path: str, body: bytes = b"",
                content_type: str = SEP_XML) -> tuple[int, dict[str, str], bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}", f"Accept: {SEP_XML}"]
        if body or method in ("POST", "PUT"):
            lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        head, payload = self.read_response()
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status_line.split(" ", 2)[1]), headers, payload


# ---------------------------------------------------------------------------------------------
# Server processes.  Each reports ("ready", port) or ("error", text) on its pipe, then serves
# until it reads "stop" (or the pipe closes because the parent is gone).

def _pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def _serve(kind: str, conn: Any, cpu: int | None, profile_to: str | None, args: dict[str, Any]) -> None:
    _pin(cpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and stops us
    profiler = None
    if profile_to:
        import cProfile
        profiler = cProfile.Profile()
    try:
        asyncio.run(_serve_async(kind, conn, profiler, args))
    except BaseException:
        try:
            conn.send(("error", traceback.format_exc()))
        except OSError:
            pass
        raise
    finally:
        if profiler is not None:
            profiler.dump_stats(profile_to)


async def _serve_async(kind: str, conn: Any, profiler: Any, args: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    if kind == "der-gateway":
        from der_gateway.config import Config
        from der_gateway import launch

        server = await launch.start_server(Config(**args))
        freeze = getattr(launch, "freeze_startup_heap", None)  # as `serve` does (absent from older code)
        if freeze is not None and os.environ.get("BENCH_GC") != "collect":
            freeze()
        port, stop = server.port, server.stop
    else:
        from aiohttp import web

        from der_gateway.tls import server_context

        def handler(body: bytes):
            async def handle(request: web.Request) -> web.Response:
                return web.Response(body=body, content_type=SEP_XML)
            return handle

        app = web.Application()
        for path, body in args["documents"].items():
            app.router.add_get(path, handler(body))
        runner = web.AppRunner(app, access_log=None)  # as start_server does
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0, ssl_context=server_context(Path(args["certs_dir"])),
                           reuse_address=True)
        await site.start()
        port, stop = site._server.sockets[0].getsockname()[1], runner.cleanup

    stopped = loop.create_future()

    def wait_for_stop() -> None:
        try:
            while conn.recv() != "stop":
                pass
        except (EOFError, OSError):
            pass
        loop.call_soon_threadsafe(lambda: stopped.done() or stopped.set_result(None))

    threading.Thread(target=wait_for_stop, daemon=True).start()
    if profiler is not None:
        profiler.enable()
    conn.send(("ready", port))
    try:
        await stopped
    finally:
        if profiler is not None:
            profiler.disable()
        await stop()


class ServerProcess:
    def __init__(self, ctx: Any, kind: str, cpu: int | None, profile_to: str | None, args: dict[str, Any]) -> None:
        self.kind = kind
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(kind, child, cpu, profile_to, args),
                                   name=f"bench-{kind}", daemon=True)
        self.process.start()
        child.close()
        try:
            if not self.conn.poll(120):
                raise RuntimeError(f"the {kind} server did not start within 120 s")
            status, value = self.conn.recv()
            if status != "ready":
                raise RuntimeError(f"the {kind} server failed to start:\n{value}")
        except BaseException:
            self.stop()
            raise
        self.port: int = value

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                self.conn.send("stop")
            except OSError:
                pass
            self.process.join(15)
        _end(self.process)
        self.conn.close()


def _end(process: Any) -> None:
    """Terminate, then kill, one process we started."""
    if process.is_alive():
        process.terminate()
        process.join(5)
    if process.is_alive():
        process.kill()
        process.join(5)


# ---------------------------------------------------------------------------------------------
# The load generator, in its own process: one thread per connection.

def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds a process (all its threads) has used, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _load(conn: Any, cpu: int | None, port: int, certs_dir: str, path: str, expected: bytes,
          connections: int, warmup: float, seconds: float, server_pid: int, client: str = DEVICE) -> None:
    _pin(cpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(("done", _run_load(port, Path(certs_dir), path, expected, connections, warmup, seconds,
                                     server_pid, lambda: conn.send(("measuring", None)), client)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))


def _run_load(port: int, certs_dir: Path, path: str, expected: bytes, connections: int, warmup: float,
              seconds: float, server_pid: int, measuring: Any = None, client: str = DEVICE) -> dict[str, Any]:
    """One thread, non-blocking sockets on epoll: no GIL hand-offs between connections."""
    import selectors

    from der_gateway.tls import client_context

    ctx = client_context(certs_dir, client)
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: {SEP_XML}\r\n\r\n".encode()
    expected_len = len(expected)
    conns = [Connection(ctx, port) for _ in range(connections)]  # handshakes before the clock starts
    sel = selectors.DefaultSelector()
    bufs = {}
    for c in conns:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ)
        bufs[c.sock] = b""
    bad: list[str] = []
    done = 0

    def send(sock: ssl.SSLSocket) -> None:
        try:
            if sock.send(request) == len(request):
                return
        except ssl.SSLWantWriteError:
            pass
        sock.setblocking(True)  # never seen for a 100-byte request; be correct anyway
        sock.sendall(request)
        sock.setblocking(False)

    def parse(sock: ssl.SSLSocket, buf: bytes) -> bytes | None:
        """The rest of the buffer after one complete response, or None if it is not complete."""
        nonlocal done
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return None
        at = buf.find(b"\r\nContent-Length:", 0, end)
        if at < 0:
            at = buf[:end].lower().find(b"\r\ncontent-length:")
            if at < 0:
                raise HttpError(f"no Content-Length in {buf[:200]!r}")
        length = int(buf[at + 17:buf.find(b"\r\n", at + 2, end + 2)])
        if len(buf) < end + 4 + length:
            return None
        body = buf[end + 4:end + 4 + length]
        if buf[9:13] != b"200 " or length != expected_len or body != expected:
            raise HttpError(f"unexpected response {buf[:60]!r} body {body[:60]!r}")
        done += 1
        return buf[end + 4 + length:]

    select, perf = sel.select, time.perf_counter
    start = perf()
    marks: dict[str, Any] = {}
    measure_at, stop_at = start + warmup, start + warmup + seconds
    for c in conns:
        send(c.sock)
    try:
        while True:
            now = perf()
            if not marks and now >= measure_at:
                marks.update(n0=done, t0=now, cpu0=time.process_time(), srv0=_cpu_seconds(server_pid))
                if measuring is not None:
                    measuring()
            elif marks and now >= stop_at:
                marks.update(n1=done, t1=now, cpu1=time.process_time(), srv1=_cpu_seconds(server_pid))
                break
            for key, _ in select(0.5):
                sock = key.fileobj
                try:
                    chunk = sock.recv(65536)
                except ssl.SSLWantReadError:
                    continue
                if not chunk:
                    raise HttpError("the server closed a connection")
                buf = bufs[sock] + chunk
                rest = parse(sock, buf)
                if rest is None:
                    bufs[sock] = buf
                    continue
                if rest:
                    raise HttpError(f"unrequested bytes after a response: {rest[:60]!r}")
                bufs[sock] = b""
                send(sock)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        bad.append(repr(exc))
        marks.setdefault("n0", done), marks.setdefault("t0", perf())
        marks.setdefault("cpu0", time.process_time()), marks.setdefault("srv0", None)
        marks.update(n1=done, t1=perf(), cpu1=time.process_time(), srv1=None)
    finally:
        sel.close()
        for c in conns:
            c.close()
    elapsed = max(marks["t1"] - marks["t0"], 1e-9)
    srv0, srv1 = marks["srv0"], marks["srv1"]
    return {
        "requests": marks["n1"] - marks["n0"],
        "elapsed_s": elapsed,
        "rps": (marks["n1"] - marks["n0"]) / elapsed,
        "errors": bad[:10],
        "error_count": len(bad),
        "load_cpu_pct": 100 * (marks["cpu1"] - marks["cpu0"]) / elapsed,
        "server_cpu_pct": 100 * (srv1 - srv0) / elapsed if srv0 is not None and srv1 is not None else None,
    }


def run_load(ctx: Any, cpu: int | None, server: ServerProcess, certs_dir: Path, path: str, expected: bytes,
             args: argparse.Namespace, live: list[Any], client: str = DEVICE) -> dict[str, Any]:
    """One measurement in a fresh load process; with --py-spy, samples the server during the window."""
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_load, name="bench-load", daemon=True, args=(
        child, cpu, server.port, str(certs_dir), path, expected, args.connections, args.warmup, args.seconds,
        server.pid, client))
    live.append(process)
    process.start()
    child.close()
    spy = None
    try:
        while True:
            if not parent.poll(args.warmup + args.seconds + 120):
                raise RuntimeError("the load generator did not report")
            status, value = parent.recv()
            if status == "measuring":
                if args.py_spy:
                    spy = start_py_spy(args, cpu, server, path)
                continue
            if status != "done":
                raise RuntimeError(f"the load generator failed:\n{value}")
            return value
    finally:
        if spy is not None:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.terminate()
                spy.wait(5)
        process.join(15)
        _end(process)
        live.remove(process)
        parent.close()


def start_py_spy(args: argparse.Namespace, cpu: int | None, server: ServerProcess, path: str) -> subprocess.Popen:
    """py-spy (a sampling profiler, no tracing overhead) on the server for the measured seconds.

    Writes collapsed stacks (one "frame;frame;... count" per line, busy samples only) to
    DIR/KIND-PATH.txt; bench/profile_summary.py turns them into per-function shares.
    """
    name = path.partition("?")[0].strip("/").replace("/", "_") or "root"
    out = args.py_spy / f"{server.kind}-{name}.txt"
    exe = os.environ.get("PY_SPY") or shutil.which("py-spy") or "py-spy"
    return subprocess.Popen(
        [exe, "record", "--pid", str(server.pid), "--duration", str(max(1, int(args.seconds))),
         "--rate", "500", "--nonblocking", "--idle", "--threads", "--format", "raw", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)


# ---------------------------------------------------------------------------------------------

AGGREGATOR = "aggregator"
AGGREGATED = 20  # EndDevices the aggregator registers
PATHS = ("dcap", "ders", "edev", "fsa", "derp", "derc", "actderc", "edevlist")


async def _plant_program(data_dir: Path, edev_id: int, store_url: str | None = None) -> tuple[int, int]:
    """In the server's store (its SQLite file, or the database at store_url): see plant_program.  Returns
    (group id, program id)."""
    from der_gateway.store.opening import open_store

    store = await open_store(store_url, data_dir)
    try:
        return await plant_program(store, edev_id)
    finally:
        await store.close()


async def plant_program(store: Any, edev_id: int) -> tuple[int, int]:
    """Through the store's own code: a group holding the EndDevice, assigned a program with five events
    (two active, three scheduled), none changing state for a day.  Returns (group id, program id)."""
    from der_gateway.clock import SystemClock
    from der_gateway.domain.identifiers import Pen, new_mrid
    from der_gateway.sep import model
    from der_gateway.services import der_controls

    pen, clock = Pen(40732), SystemClock()
    group = await store.create_group(new_mrid(pen), "feeder 7")
    await store.set_membership(group, [edev_id], True)
    program = await store.create_program(new_mrid(pen), "curtailment", 1)
    await store.set_group_program(group, program, True)
    now, day = clock.now(), 86400
    for start, duration, base in ((now - 600, 2 * day, {"opModMaxLimW": 5000}),
                                  (now - 600, 2 * day, {"opModConnect": True}),
                                  (now + 3 * day, 3600, {"opModMaxLimW": 3000}),
                                  (now + 4 * day, 3600, {"opModFixedW": 50}),
                                  (now + 5 * day, 3600, {"opModEnergize": False})):
        await der_controls.create_event(store, clock, pen, program, model.DERControl(
            mRID="", creationTime=0, interval=model.DateTimeInterval(start=start, duration=duration),
            EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
            DERControlBase=model.DERControlBase(**base), responseRequired="03",
            randomizeStart=60 if start > now else None))
    return group, program


def register_device(certs_dir: Path, port: int, data_dir: Path | None = None,
                    store_url: str | None = None) -> dict[str, tuple[str, str, bytes]]:
    """device1 registers and writes its DERStatus, the aggregator registers its EndDevices, device1 is
    given a program with events (data_dir: the server's, store_url: its --store if it has one); returns
    {name: (path, client, bytes returned)}."""
    import secrets

    from der_gateway import pki
    from der_gateway.sep import codec
    from der_gateway.tls import client_context
    from tests import documents

    me = next(c for c in pki.read_manifest(certs_dir) if c.name == DEVICE)
    c = Connection(client_context(certs_dir, DEVICE), port)
    agg = Connection(client_context(certs_dir, AGGREGATOR), port)
    try:
        status, headers, _ = c.request("POST", "/edev", documents.end_device(me.lfdi))
        if status != 201:
            raise RuntimeError(f"POST /edev answered {status} {headers.get('x-reason', '')}")
        edev = headers["location"]
        ders = f"{edev}/der/1/ders"
        status, headers, _ = c.request("PUT", ders, codec.encode(documents.der_status()))
        if status != 204:
            raise RuntimeError(f"PUT {ders} answered {status} {headers.get('x-reason', '')}")
        targets = {"dcap": ("/dcap", DEVICE), "ders": (ders, DEVICE)}
        if data_dir is not None:
            for _ in range(AGGREGATED):
                status, headers, _ = agg.request("POST", "/edev", documents.end_device(secrets.token_hex(20).upper()))
                if status != 201:
                    raise RuntimeError(f"POST /edev as the aggregator answered {status} {headers.get('x-reason')}")
            group, program = asyncio.run(_plant_program(data_dir, int(edev.rsplit("/", 1)[1]), store_url))
            targets.update({
                "edev": (edev, DEVICE), "fsa": (f"{edev}/fsa?l=10", DEVICE),
                "derp": (f"/fsa/{group}/derp?l=10", DEVICE), "derc": (f"/derp/{program}/derc?l=10", DEVICE),
                "actderc": (f"/derp/{program}/actderc?l=10", DEVICE),
                "edevlist": (f"/edev?l={AGGREGATED}", AGGREGATOR)})
        found = {}
        for name, (path, client) in targets.items():
            status, headers, body = (c if client == DEVICE else agg).request("GET", path)
            if status != 200 or not headers.get("content-type", "").startswith(SEP_XML) or not body:
                raise RuntimeError(f"GET {path} answered {status} {headers}")
            found[name] = (path, client, body)
        return found
    finally:
        c.close()
        agg.close()


def check_baseline(certs_dir: Path, port: int, expected: dict[str, bytes]) -> None:
    from der_gateway.tls import client_context

    c = Connection(client_context(certs_dir, DEVICE), port)
    try:
        for path, body in expected.items():
            status, headers, got = c.request("GET", path)
            if status != 200 or got != body or headers.get("content-type") != SEP_XML:
                raise RuntimeError(f"the baseline answered {status} {headers} {got!r} for {path}")
    finally:
        c.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent keep-alive connections (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before counting (default 2)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat every measurement, alternating which server goes first; the median is "
                             "reported (default 1)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="run the servers under cProfile, stats to DIR")
    parser.add_argument("--py-spy", type=Path, metavar="DIR",
                        help="sample each server with py-spy (PY_SPY or PATH) during each measured window; "
                             "collapsed stacks to DIR")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help=f"which of {','.join(PATHS)} to measure (default all)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and the load to CPUs")
    parser.add_argument("--no-cache", action="store_true",
                        help="run der-gateway without its response cache (every GET rebuilt from the store)")
    args = parser.parse_args(argv)
    if args.connections < 1 or args.seconds <= 0 or args.rounds < 1:
        parser.error("--connections, --seconds and --rounds must be positive")

    from der_gateway import pki

    pin = not args.no_pin and hasattr(os, "sched_getaffinity") and len(os.sched_getaffinity(0)) >= 2
    if pin:
        cpus = sorted(os.sched_getaffinity(0))
        server_cpu, load_cpu = cpus[SERVER_CPU], cpus[LOAD_CPU]
    else:
        server_cpu = load_cpu = None
    for directory in (args.profile, args.py_spy):
        if directory:
            directory.mkdir(parents=True, exist_ok=True)
    wanted = [p.strip() for p in args.paths.split(",") if p.strip()]
    if not wanted or set(wanted) - set(PATHS):
        parser.error(f"--paths takes a comma-separated list of {', '.join(PATHS)}")

    ctx = mp.get_context("spawn")
    servers: list[ServerProcess] = []
    live: list[Any] = []
    tmp = tempfile.TemporaryDirectory(prefix="der-gateway-bench-")
    previous_term = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        certs_dir, data_dir = Path(tmp.name) / "certs", Path(tmp.name) / "data"
        pki.init_pki(certs_dir, devices=1)

        real = ServerProcess(ctx, "der-gateway", server_cpu,
                             str(args.profile / "der-gateway.prof") if args.profile else None,
                             {"host": HOST, "port": 0, "profile": "csip", "data_dir": data_dir,
                              "certs_dir": certs_dir,
                              "response_cache_bytes": 0 if args.no_cache else 64 * 1024 * 1024})
        servers.append(real)
        fetched = register_device(certs_dir, real.port, data_dir)
        print(f"  der-gateway server pid {real.pid}, port {real.port}", file=sys.stderr)
        documents = {path: body for path, _, body in fetched.values()}

        base = ServerProcess(ctx, "baseline", server_cpu,
                             str(args.profile / "baseline.prof") if args.profile else None,
                             {"documents": {p.partition("?")[0]: b for p, b in documents.items()},
                              "certs_dir": str(certs_dir)})
        servers.append(base)
        check_baseline(certs_dir, base.port, documents)
        print(f"  baseline server pid {base.pid}, port {base.port}", file=sys.stderr, flush=True)
        measured = {fetched[name][0]: (fetched[name][1], fetched[name][2]) for name in wanted}

        samples: dict[str, dict[str, list[dict[str, Any]]]] = {
            p: {"der-gateway": [], "baseline": []} for p in measured}
        failed = False
        for r in range(args.rounds):
            for path, (client, body) in measured.items():
                order = (real, base) if r % 2 == 0 else (base, real)
                for server in order:
                    result = run_load(ctx, load_cpu, server, certs_dir, path, body, args, live, client)
                    samples[path][server.kind].append(result)
                    errors = (f"  ERRORS {result['error_count']}: {result['errors'][:2]}"
                              if result["error_count"] else "")
                    print(f"  round {r + 1} {server.kind:11} GET {path:26} {result['rps']:9.0f} req/s  "
                          f"server CPU {_pct(result['server_cpu_pct'])}  load CPU {_pct(result['load_cpu_pct'])}"
                          + errors, file=sys.stderr, flush=True)
                    failed |= result["error_count"] > 0
        report = build_report(args, argv, samples, documents, pin)
        print_report(report)
        if args.json:
            args.json.write_text(json.dumps(report, indent=2) + "\n")
        return 1 if failed else 0
    finally:
        for process in live:
            _end(process)
        for server in reversed(servers):
            server.stop()
        tmp.cleanup()
        signal.signal(signal.SIGTERM, previous_term)
        if args.profile:
            print(f"cProfile stats in {args.profile}/ (python -m pstats FILE)", file=sys.stderr)


def _pct(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:5.0f}%"


def build_report(args: argparse.Namespace, argv: list[str] | None, samples: dict, documents: dict[str, bytes],
                 pinned: bool) -> dict[str, Any]:
    import aiohttp

    rows = []
    for path, by_server in samples.items():
        row: dict[str, Any] = {"path": path, "body_bytes": len(documents[path])}
        for kind, results in by_server.items():
            key = "der_gateway" if kind == "der-gateway" else kind
            row[f"{key}_rps"] = statistics.median(r["rps"] for r in results)
            row[f"{key}_server_cpu_pct"] = _median_or_none([r["server_cpu_pct"] for r in results])
            row[f"{key}_load_cpu_pct"] = statistics.median(r["load_cpu_pct"] for r in results)
            row[f"{key}_samples"] = results
        # each round measures the two servers one after the other: the median of those pairs' ratios follows the
        # machine's drift between rounds less than a ratio of the two medians would
        row["ratio_pct"] = statistics.median(100 * g["rps"] / b["rps"]
                                             for g, b in zip(by_server["der-gateway"], by_server["baseline"]))
        rows.append(row)
    return {
        "command": " ".join(["python", "bench/bench_server.py", *(sys.argv[1:] if argv is None else argv)]),
        "seconds": args.seconds, "warmup_s": args.warmup, "connections": args.connections, "rounds": args.rounds,
        "cpus": os.cpu_count(), "pinned": pinned, "profiled": bool(args.profile or args.py_spy),
        "python": platform.python_version(), "implementation": platform.python_implementation(),
        "openssl": ssl.OPENSSL_VERSION, "aiohttp": aiohttp.__version__, "platform": platform.platform(),
        "rows": rows,
    }


def _median_or_none(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def print_report(report: dict[str, Any]) -> None:
    print(f"command:  {report['command']}")
    print(f"python:   {report['implementation']} {report['python']}, aiohttp {report['aiohttp']}, "
          f"{report['openssl']}")
    print(f"machine:  {report['cpus']} CPUs, {report['platform']}; servers and load "
          f"{'pinned to separate CPUs' if report['pinned'] else 'not pinned'}")
    print(f"load:     {report['connections']} mutual-TLS keep-alive connections (device1; the aggregator for /edev), "
          f"{report['warmup_s']:g} s warm-up, {report['seconds']:g} s measured, "
          f"{report['rounds']} round(s), median" + ("; SERVERS PROFILED" if report["profiled"] else ""))
    print()
    header = ("path", "der-gateway req/s", "baseline req/s", "ratio", "gw CPU", "base CPU", "load CPU")
    lines = [header]
    for row in report["rows"]:
        lines.append((f"GET {row['path']}", f"{row['der_gateway_rps']:.0f}", f"{row['baseline_rps']:.0f}",
                      f"{row['ratio_pct']:.1f}%", _pct(row["der_gateway_server_cpu_pct"]).strip(),
                      _pct(row["baseline_server_cpu_pct"]).strip(),
                      f"{max(row['der_gateway_load_cpu_pct'], row['baseline_load_cpu_pct']):.0f}%"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for n, line in enumerate(lines):
        print("| " + " | ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                                for i, (cell, w) in enumerate(zip(line, widths))) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths)) + "|")


if __name__ == "__main__":
    sys.exit(main())
