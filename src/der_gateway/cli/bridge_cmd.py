"""der-gateway bridge: run the aggregator bridge for the Modbus devices of an inventory."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import time
from pathlib import Path

from ..wakeups import woken


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser(
        "bridge", help="act for SunSpec Modbus devices as a 2030.5 aggregator client",
        description="Registers one EndDevice per device of the inventory (as written by "
                    "`python -m device_sims fleet`), mirrors its nameplate, settings, status and telemetry, "
                    "and writes the DER controls in force to it over Modbus, until interrupted.")
    p.add_argument("--inventory", type=Path, required=True, help="JSON list of devices (name, host, port, serial...)")
    p.add_argument("--url", default="https://127.0.0.1:8443", help="the 2030.5 server (default %(default)s)")
    p.add_argument("--certs-dir", type=Path, default=Path("certs"), help="trust anchor and client certificate")
    p.add_argument("--cert", default="aggregator", help="NAME.pem / NAME.key in --certs-dir (default %(default)s)")
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                   help="where to receive notifications (default %(default)s: any free port; the server must "
                        "allow a loopback or private address: notification_allow_addresses)")
    p.add_argument("--notify-url", help="the base URL the server reaches the listener at, if not --listen's")
    p.add_argument("--listen-http", action="store_true",
                   help="receive notifications over plain http (the server must allow it: notification_allow); "
                        "by default they come over https with --cert, as the server allows by default")
    p.add_argument("--data-dir", type=Path, default=Path("var/bridge"),
                   help="per-device state kept across restarts (default %(default)s)")
    p.add_argument("--status-every", type=float, default=10.0, metavar="SECONDS",
                   help="print a status line this often (0: never)")
    p.add_argument("--no-subscribe", action="store_true", help="poll at pollRate instead of subscribing")
    p.add_argument("--verbose", "-v", action="store_true", help="log each device's registration and controls")
    p.set_defaults(run=run)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"--listen wants HOST:PORT, not {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def status_line(summary: dict) -> str:
    return (f"{time.strftime('%H:%M:%S')} devices {summary['devices']}: registered {summary['registered']}, "
            f"modbus ok {summary['modbus_ok']}, events in force {summary['events_in_force']}, "
            f"responses {summary['responses']}, readings {summary['readings_posted']}, "
            f"total {summary['total_w'] / 1000:.1f} kW, server {'up' if summary['server_up'] else 'DOWN'}")


async def bridge(args: argparse.Namespace) -> int:
    from ..bridge.identity import InventoryError
    from ..bridge.runtime import Bridge

    try:
        listen = parse_listen(args.listen)
        starting = Bridge.start(args.inventory, args.url, args.certs_dir, cert=args.cert, listen=listen,
                                data_dir=args.data_dir, notify_url=args.notify_url,
                                notify_tls=not args.listen_http and args.url.startswith("https:"),
                                subscribe=not args.no_subscribe)
    except (InventoryError, ValueError, OSError) as exc:
        print(f"der-gateway bridge: {exc}", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not on this platform
            pass
    async with starting as running:
        print(f"der-gateway bridge: {len(running)} devices from {args.inventory} -> {args.url} "
              f"(as {args.cert}); notifications at {running.listen_url}/notify/<device>", flush=True)
        while not stop.is_set():
            timeout = args.status_every if args.status_every > 0 else None
            if not await woken(stop, timeout):
                print(status_line(running.summary()), flush=True)
        print(status_line(running.summary()), flush=True)
    print("der-gateway bridge: stopped", flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return asyncio.run(bridge(args))
    except KeyboardInterrupt:  # pragma: no cover - a second ^C
        return 130
