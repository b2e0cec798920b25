"""Behind a TLS-terminating proxy: cached GET /edev/{id} with the forwarded client certificate validated on
every request, against remembered once per header value; and what RSA-2048 and P-384 clients get.

    python bench/bench_proxy_identity.py [--seconds 8] [--connections 8] [--warmup 2] [--rounds 3]
                                         [--json FILE] [--no-pin]

One run:

1. makes a throw-away PKI (der_gateway.pki.init_pki) and data directory, and under its SERCA and MICA a
   client certificate with an RSA-2048 key and one with a P-384 key (tests/certificates.py);
2. starts two der-gateway servers in proxy mode (trusted_proxies 127.0.0.1/32, plain HTTP) on the same data,
   each in its own process: "per request" with proxy_verified_certificates = 0 (the chain is validated on
   every request, as before issue 9) and "remembered" with the default 10 000;
3. registers device1's EndDevice (POST /edev, device1's certificate and MICA in X-SSL-Client-Cert, as nginx's
   $ssl_client_escaped_cert) and fetches it back;
4. for each round and each server in turn (never both at once) runs a load generator in its own process: N
   keep-alive HTTP/1.1 connections on one epoll thread, each sending GET /edev/{id} with the header and
   checking every answer is 200 with the same bytes; after a warm-up, answers are counted for T seconds;
5. starts a third server over direct TLS and tries the RSA-2048, P-384 and a P-256 client certificate in
   both modes, reporting what each got: a TLS alert in the handshake, or an HTTP status and reason.

Prints the figures (medians over rounds) and the table; exits 1 if an answer was wrong.  Servers are pinned to
CPU 0 and the load to CPU 1 when there are two or more (--no-pin to leave that to the OS).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import socket
import ssl
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import quote

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (HERE, ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from bench_server import SERVER_CPU, LOAD_CPU, HttpError, ServerProcess, _cpu_seconds, _end, _pin  # noqa: E402

SEP_XML = "application/sep+xml"
HOST = "127.0.0.1"
HEADER = "X-SSL-Client-Cert"
MODES = {"per request": 0, "remembered": 10_000}


def header_value(pem_path: Path) -> str:
    return quote(pem_path.read_text())  # as nginx's $ssl_client_escaped_cert


def http(port: int, method: str, path: str, header: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One plain HTTP/1.1 exchange on a new connection (setup and the outcome table)."""
    with socket.create_connection((HOST, port), timeout=30) as sock:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", f"Accept: {SEP_XML}", f"{HEADER}: {header}",
                 "Connection: close"]
        if body:
            lines += [f"Content-Type: {SEP_XML}", f"Content-Length: {len(body)}"]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {n.strip().lower(): v.strip() for n, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split(" ", 2)[1]), headers, payload


# ---------------------------------------------------------------------------------------------
# The load generator, in its own process.

def _load(conn: Any, cpu: int | None, port: int, path: str, header: str, expected: bytes, connections: int,
          warmup: float, seconds: float, server_pid: int) -> None:
    _pin(cpu)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        conn.send(("done", _run_load(port, path, header, expected, connections, warmup, seconds, server_pid)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))


def _run_load(port: int, path: str, header: str, expected: bytes, connections: int, warmup: float,
              seconds: float, server_pid: int) -> dict[str, Any]:
    import selectors

    request = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: {SEP_XML}\r\n{HEADER}: {header}\r\n\r\n"
               .encode())
    socks = []
    for _ in range(connections):
        sock = socket.create_connection((HOST, port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        socks.append(sock)
    sel = selectors.DefaultSelector()
    bufs = {}
    for sock in socks:
        sel.register(sock, selectors.EVENT_READ)
        bufs[sock] = b""
    done, bad = 0, []

    def complete(buf: bytes) -> bool:
        nonlocal done
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        at = buf.lower().find(b"\r\ncontent-length:", 0, end)
        if at < 0:
            raise HttpError(f"no Content-Length in {buf[:200]!r}")
        length = int(buf[at + 17:buf.find(b"\r\n", at + 2, end + 2)])
        if len(buf) < end + 4 + length:
            return False
        if buf[9:13] != b"200 " or buf[end + 4:] != expected:
            raise HttpError(f"unexpected response {buf[:120]!r}")
        done += 1
        return True

    perf = time.perf_counter
    start = perf()
    marks: dict[str, Any] = {}
    for sock in socks:
        sock.sendall(request)
    try:
        while True:
            now = perf()
            if not marks and now >= start + warmup:
                marks.update(n0=done, t0=now, srv0=_cpu_seconds(server_pid))
            elif marks and now >= start + warmup + seconds:
                marks.update(n1=done, t1=now, srv1=_cpu_seconds(server_pid))
                break
            for key, _ in sel.select(0.5):
                sock = key.fileobj
                chunk = sock.recv(65536)
                if not chunk:
                    raise HttpError("the server closed a connection")
                bufs[sock] += chunk
                if complete(bufs[sock]):
                    bufs[sock] = b""
                    sock.sendall(request)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        bad.append(repr(exc))
        marks.setdefault("n0", done), marks.setdefault("t0", perf()), marks.setdefault("srv0", None)
        marks.update(n1=done, t1=perf(), srv1=None)
    finally:
        sel.close()
        for sock in socks:
            sock.close()
    elapsed = max(marks["t1"] - marks["t0"], 1e-9)
    srv0, srv1 = marks["srv0"], marks["srv1"]
    return {"requests": marks["n1"] - marks["n0"], "rps": (marks["n1"] - marks["n0"]) / elapsed, "errors": bad,
            "server_cpu_pct": 100 * (srv1 - srv0) / elapsed if srv0 is not None and srv1 is not None else None}


def run_load(ctx: Any, cpu: int | None, server: ServerProcess, path: str, header: str, expected: bytes,
             args: argparse.Namespace) -> dict[str, Any]:
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_load, name="bench-load", daemon=True, args=(
        child, cpu, server.port, path, header, expected, args.connections, args.warmup, args.seconds, server.pid))
    process.start()
    child.close()
    try:
        if not parent.poll(args.warmup + args.seconds + 120):
            raise RuntimeError("the load generator did not report")
        status, value = parent.recv()
        if status != "done":
            raise RuntimeError(f"the load generator failed:\n{value}")
        return value
    finally:
        process.join(15)
        _end(process)
        parent.close()


def _cpu_per_request(runs: list[dict[str, Any]]) -> float | None:
    """Median server CPU milliseconds per answer: the cost, whatever else shares the server's CPU."""
    values = [s["server_cpu_pct"] * 10 / s["rps"] for s in runs if s["server_cpu_pct"] is not None and s["rps"]]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# What other client keys get, in both modes.

def odd_certificates(certs_dir: Path, out: Path) -> dict[str, Path]:
    from tests import certificates as c
    mica = c.load(certs_dir, "mica")
    made = {"RSA-2048": c.rsa2048(), "P-384": c.p384(), "P-256 (control)": c.p256()}
    return {label: c.write(out, label.split()[0].lower(), c.issue(mica, label, key=key), mica)[0]
            for label, key in made.items()}


def direct_outcome(port: int, certs_dir: Path, pem: Path) -> str:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-CCM8")
    ctx.load_verify_locations(certs_dir / "serca.pem")
    ctx.load_cert_chain(pem, pem.with_suffix(".key"))
    try:
        with socket.create_connection((HOST, port), timeout=10) as raw, ctx.wrap_socket(raw) as tls:
            tls.sendall(f"GET /dcap HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    except ssl.SSLError as exc:
        return f"handshake fails, alert {exc.reason}"
    except OSError as exc:
        return f"handshake fails, {type(exc).__name__}"
    status_line = data.split(b"\r\n", 1)[0].decode("latin-1")
    return f"served: {status_line.split(' ', 1)[1]}"


def proxy_outcome(port: int, pem: Path) -> str:
    status, headers, _ = http(port, "GET", "/dcap", header_value(pem))
    reason = headers.get("x-reason") or ""
    return f"{status}" + (f" {reason}" if reason else "")


# ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run (default 8)")
    parser.add_argument("--connections", type=int, default=8, help="keep-alive connections (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before counting (default 2)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode (default 3)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures here")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and the load to CPUs")
    args = parser.parse_args(argv)

    from der_gateway import pki
    from tests import documents

    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    server_cpu, load_cpu = (SERVER_CPU, LOAD_CPU) if pin else (None, None)
    ctx = mp.get_context("spawn")
    servers: list[ServerProcess] = []
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        certs_dir, data_dir = Path(tmp) / "certs", Path(tmp) / "var"
        pki.init_pki(certs_dir, devices=1)
        me = {c.name: c for c in pki.read_manifest(certs_dir)}["device1"]
        header = header_value(certs_dir / "device1.pem")
        common = dict(host=HOST, port=0, admin_enabled=False, data_dir=data_dir, certs_dir=certs_dir)
        try:
            proxied = {mode: ServerProcess(ctx, "der-gateway", server_cpu, None, dict(
                common, trusted_proxies=("127.0.0.1/32",), proxy_verified_certificates=entries))
                for mode, entries in MODES.items()}
            servers += proxied.values()
            first = proxied["remembered"].port
            status, headers, _ = http(first, "POST", "/edev", header, documents.end_device(me.lfdi))
            if status != 201:
                raise RuntimeError(f"POST /edev answered {status} {headers.get('x-reason', '')}")
            path = headers["location"]
            status, _, expected = http(first, "GET", path, header)
            if status != 200:
                raise RuntimeError(f"GET {path} answered {status}")

            samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
            for _ in range(args.rounds):
                for mode, server in proxied.items():
                    samples[mode].append(run_load(ctx, load_cpu, server, path, header, expected, args))

            direct = ServerProcess(ctx, "der-gateway", server_cpu, None, common)
            servers.append(direct)
            odd = odd_certificates(certs_dir, Path(tmp) / "odd")
            outcomes = {label: {"direct TLS": direct_outcome(direct.port, certs_dir, pem),
                                "proxy": proxy_outcome(proxied["remembered"].port, pem)}
                        for label, pem in odd.items()}
        finally:
            for server in servers:
                server.stop()

    report = {
        "command": " ".join(["python bench/bench_proxy_identity.py", *(argv if argv is not None else sys.argv[1:])]),
        "python": sys.version.split()[0], "openssl": ssl.OPENSSL_VERSION, "cpus": os.cpu_count(), "pinned": pin,
        "path": path, "body_bytes": len(expected), "header_bytes": len(header),
        "throughput": {mode: {"rps_median": statistics.median(s["rps"] for s in runs),
                              "rps_runs": [round(s["rps"]) for s in runs],
                              "server_cpu_pct": [None if s["server_cpu_pct"] is None else round(s["server_cpu_pct"])
                                                 for s in runs],
                              "server_cpu_ms_per_request": _cpu_per_request(runs),
                              "errors": [e for s in runs for e in s["errors"]]}
                       for mode, runs in samples.items()},
        "outcomes": outcomes,
    }
    before, after = (report["throughput"][m]["rps_median"] for m in MODES)
    report["ratio"] = after / before if before else None
    print(f"{report['command']}\nPython {report['python']}, {report['openssl']}, {report['cpus']} CPUs, "
          f"pinned: {pin}; GET {path} ({len(expected)} bytes), header {len(header)} bytes, "
          f"{args.connections} connections, {args.rounds} x {args.seconds:g} s per mode\n")
    print("| proxy identity | req/s (median) | runs | server CPU % | server CPU ms / request (median) |\n"
          "|---|---:|---|---|---:|")
    for mode, row in report["throughput"].items():
        cpu = row["server_cpu_ms_per_request"]
        print(f"| {mode} | {row['rps_median']:.0f} | {row['rps_runs']} | {row['server_cpu_pct']} | "
              f"{'n/a' if cpu is None else f'{cpu:.3f}'} |")
    print(f"\nremembered / per request: {report['ratio']:.2f}x\n")
    print("| client certificate | direct TLS | proxy |\n|---|---|---|")
    for label, row in outcomes.items():
        print(f"| {label} | {row['direct TLS']} | {row['proxy']} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if any(row["errors"] for row in report["throughput"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
