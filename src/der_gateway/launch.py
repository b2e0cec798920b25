"""Starting and stopping a server: store, schemas, TLS and the listening socket."""

from __future__ import annotations

import gc
import socket
import time
import ssl
from dataclasses import dataclass

from aiohttp import web

from . import pki
from .admin import start_admin
from .clock import Clock, SystemClock
from .config import Config
from .listeners.limits import ConnectionLimits
from .listeners.redirect import start_redirect
from .listeners.site import serve
from .listeners.sockets import BoundListeners
from .observability.tracking import Tracking
from .server.app import create_app
from .server.background import Background
from .server.in_process import InProcessClient
from .server.duties import Duties
from .server.contacts import ContactLog
from .server.state import BACKGROUND, CONTACTS
from .store.leadership import Leadership
from .store.opening import admin_write_lock, is_shared, open_store
from .store.opening import leadership as store_leadership
from .store.sqlite import SQLiteStore
from .tls import server_context
from .xsd import load_schemas


TRACKING_DIR = "observability"  # each process's part of the connection and refusal views (observability/tracking.py)


@dataclass
class RunningServer:
    config: Config
    store: SQLiteStore
    runner: web.AppRunner
    port: int
    background: Background
    admin_runner: web.AppRunner | None = None
    admin_port: int | None = None
    redirect_runner: web.AppRunner | None = None
    redirect_port: int | None = None  # the plain-HTTP listener that redirects to TLS, if configured
    duties: Duties | None = None  # one of several workers: the background runs while this one leads
    in_process: InProcessClient | None = None  # the 2030.5 application asked as a client, for the admin API

    @property
    def url(self) -> str:
        scheme = "http" if self.config.proxy_mode else "https"
        return f"{scheme}://{self.config.host}:{self.port}"

    @property
    def admin_url(self) -> str | None:
        return f"http://{self.config.admin_host}:{self.admin_port}" if self.admin_port else None

    async def stop_background(self) -> None:
        """Stops the background duties (and, on a shared store, gives up leading them) while serving on; clients'
        contacts are kept in memory from then on, and written when the server stops."""
        if self.duties is not None:
            await self.duties.stop()
        else:
            await self.background.stop()
        contacts = self.runner.app[CONTACTS]
        if isinstance(contacts, ContactLog):
            await contacts.pause()

    async def stop(self) -> None:
        await self.stop_background()
        if self.redirect_runner is not None:
            await self.redirect_runner.cleanup()
        if self.admin_runner is not None:
            await self.admin_runner.cleanup()
        if self.in_process is not None:
            await self.in_process.close()
        await self.runner.cleanup()
        await self.store.close()


async def register_manifest_aggregators(config: Config, store: SQLiteStore) -> list[pki.IssuedCertificate]:
    """Aggregators issued by `der-gateway certs` are known to this server: those it does not know yet are
    added; those it knows keep what the operator set (name, status, customers)."""
    try:
        issued = pki.read_manifest(config.certs_dir)
    except pki.PKIError:
        return []
    aggregators = [c for c in issued if c.kind == "aggregator"]
    for cert in aggregators:
        await store.add_missing_aggregator(cert.lfdi, cert.name, int(time.time()))
    return aggregators


async def prepare(config: Config) -> None:
    """What the workers of one server would otherwise race to do, done once before they start: the schemas
    and the server certificate are checked (SchemaError, ssl.SSLError or OSError if bad), the store migrated
    and the aggregators of the certificate manifest registered."""
    load_schemas(config.profile, config.schema_dir)
    if not config.proxy_mode:
        server_context(config.certs_dir, config.server_cert, config.ciphers, config.tls_versions)
    store = await open_store(config.store, config.data_dir)
    try:
        await register_manifest_aggregators(config, store)
    finally:
        await store.close()


def freeze_startup_heap() -> None:
    """For a process that serves until it exits: what start-up made lives as long as the server.  Left to the
    cyclic collector, each full collection (about one a second while long lists are paged) walks all of it, holding
    the event loop some 20 ms; frozen, it is never walked (a process that starts many servers, as the tests do,
    would keep each one's cycles: they do not call this)."""
    gc.freeze()


async def start_server(config: Config, sock: socket.socket | None = None, clock: Clock | None = None, *,
                       listeners: BoundListeners | None = None, leadership: Leadership | None = None
                       ) -> RunningServer:
    """A server on config's listeners, or on sock (the 2030.5 listener) or listeners (all of them) bound
    already.  leadership: this is one of several workers on the store, which runs the background duties
    only while it leads; None: the only process, which runs them from the start."""
    schemas = load_schemas(config.profile, config.schema_dir)
    tls: ssl.SSLContext | None = None
    if not config.proxy_mode:
        tls = server_context(config.certs_dir, config.server_cert, config.ciphers, config.tls_versions)
    store = await open_store(config.store, config.data_dir)
    await register_manifest_aggregators(config, store)
    if leadership is None and is_shared(config.store):  # other servers may share the store: elect a leader
        leadership = store_leadership(config.store, config.data_dir)
    clock = clock or SystemClock()
    background = Background(store, config, clock)
    await background.sync.seed_endpoints()  # the configured endpoints are there at once, whichever process leads
    tracking = Tracking(config.data_dir / TRACKING_DIR)
    app = create_app(config, store, schemas, clock, tracking)
    app[BACKGROUND] = background
    if listeners is not None:
        sock = listeners.tls
    runner, port = await serve(app, ConnectionLimits.from_config(config), host=config.host, port=config.port,
                               sock=sock, ssl_context=tls, tracking=tracking)
    redirect_runner, redirect_port = None, None
    if config.http_redirect_port is not None:
        redirect_runner, redirect_port = await start_redirect(
            config, port, listeners.redirect if listeners is not None else None)
    admin_runner, admin_port, in_process = None, None, None
    if config.admin_enabled:
        in_process = InProcessClient(runner)  # the console's view of a device's 2030.5 tree
        await in_process.start()
        # one of several workers: admin writes run one at a time among them all, as within one process
        across = admin_write_lock(config.store, config.data_dir) if leadership is not None else None
        admin_runner, admin_port = await start_admin(config, store, schemas, clock, on_change=background.changed,
                                                     sock=listeners.admin if listeners is not None else None,
                                                     across_processes=across, device_view=in_process,
                                                     tracking=tracking)
        if config.sync_ack_base_url is None:  # receivers acknowledge on the admin listener
            background.sync.ack_base_url = f"http://{config.admin_host}:{admin_port}"
    background.delivery.destinations.serving_on(port, admin_port, redirect_port)  # never POST to ourselves
    duties = None
    if leadership is None:
        await background.start()
    else:
        duties = Duties(background, leadership, store, config.leader_poll)
        duties.start()
    return RunningServer(config, store, runner, port, background, admin_runner, admin_port, redirect_runner,
                         redirect_port, duties, in_process)
