"""der-gateway serve: run the 2030.5 server."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from .. import pki
from ..config import Config
from ..xsd import PROFILES, SchemaError


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("serve", help="run the 2030.5 server over mutual TLS")
    p.add_argument("--config", type=Path, help="a TOML file of settings (see der_gateway/config.py)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--profile", choices=PROFILES)
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--certs-dir", type=Path)
    p.add_argument("--schema-dir", type=Path, help="directory holding the 2030.5 and CSIP-AUS XSDs")
    p.add_argument("--ciphers", help="OpenSSL cipher list (default ECDHE-ECDSA-AES128-CCM8)")
    p.add_argument("--workers", type=int,
                   help="server processes sharing the listeners (default: one per core); 1: a single process")
    p.add_argument("--store", metavar="URL",
                   help="a PostgreSQL URL (postgresql://...) that several servers may share; default: SQLite in "
                        "the data directory")
    p.add_argument("--log-format", choices=("human", "json"),
                   help="log lines as plain text (default) or one JSON object a line")
    p.set_defaults(run=run)


def config_from(args: argparse.Namespace) -> Config:
    return Config.load(args.config, host=args.host, port=args.port, profile=args.profile,
                       data_dir=args.data_dir, certs_dir=args.certs_dir, schema_dir=args.schema_dir,
                       ciphers=args.ciphers, workers=args.workers, store=args.store, log_format=args.log_format)


def connection_help(url: str, config: Config) -> str:
    certs = config.certs_dir
    lines = [f"der-gateway serving 2030.5 ({config.profile}) at {url}/dcap",
             f"  TLS {config.tls_versions[0]}..{config.tls_versions[1]}, ciphers {config.ciphers}, "
             "client certificate required",
             f"  a device needs: the trust anchor {certs / 'serca.pem'}, and its own certificate chain and key "
             f"(e.g. {certs / 'device1.pem'} and {certs / 'device1.key'})",
             f"  try: curl --cacert {certs / 'serca.pem'} --cert {certs / 'device1.pem'} --key {certs / 'device1.key'} "
             f"--ciphers {config.ciphers} --tlsv1.2 --tls-max 1.2 -k {url}/dcap"]
    try:
        for cert in pki.read_manifest(certs):
            if cert.kind != "server":
                lines.append(f"  {cert.kind:<10} {cert.name:<12} LFDI {cert.lfdi} SFDI {cert.sfdi}")
    except pki.PKIError:
        pass
    return "\n".join(lines)


def announce(config: Config, url: str, redirect_port: int | None, admin_url: str | None) -> None:
    print(connection_help(url, config), flush=True)
    if redirect_port is not None:
        print(f"plain HTTP on http://{config.host}:{redirect_port} answers 301 to {url}", flush=True)
    if admin_url:
        token = "the configured admin_token" if config.admin_token else f"the token in {config.data_dir / 'admin-token'}"
        print(f"admin API at {admin_url} (GET /openapi.json), with Authorization: Bearer and {token}",
              flush=True)
        print(f"operator console at {admin_url}/console/ (sign in with {token})", flush=True)


def ensure_pki(config: Config) -> None:
    if not config.proxy_mode and pki.ensure_pki(config.certs_dir):
        print(f"generated a test PKI in {config.certs_dir}/ (der-gateway certs init)")


async def serve(config: Config) -> None:
    from ..launch import freeze_startup_heap, start_server

    ensure_pki(config)
    server = await start_server(config)
    freeze_startup_heap()
    announce(config, server.url, server.redirect_port, server.admin_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def serve_workers(config: Config) -> int:
    """The server as config.worker_count processes (cli/supervisor.py)."""
    from ..launch import prepare
    from ..listeners.sockets import bind_listeners, port_of
    from .supervisor import Supervisor, worker_config

    ensure_pki(config)
    asyncio.run(prepare(config))
    try:
        listeners = bind_listeners(config)
    except OSError as exc:
        print(f"der-gateway: cannot listen: {exc}", file=sys.stderr)
        return 1
    scheme = "http" if config.proxy_mode else "https"
    url = f"{scheme}://{config.host}:{port_of(listeners.tls)}"
    redirect_port = port_of(listeners.redirect) if listeners.redirect is not None else None
    admin_url = f"http://{config.admin_host}:{port_of(listeners.admin)}" if listeners.admin is not None else None

    def started(pids: list[int]) -> None:
        announce(config, url, redirect_port, admin_url)
        print(f"{len(pids)} worker processes: {', '.join(map(str, pids))}", flush=True)

    return Supervisor(worker_config(config), listeners, config.worker_count).run(started)


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from(args)
    except ValueError as exc:  # a setting Config refuses
        print(f"der-gateway: {exc}", file=sys.stderr)
        return 2
    if config.log_format == "json":
        from ..observability.logs import configure
        configure("json")
    try:
        if config.worker_count > 1:
            return serve_workers(config)
        asyncio.run(serve(config))
    except SchemaError as exc:
        print(f"der-gateway: {exc}", file=sys.stderr)
        return 2
    return 0
