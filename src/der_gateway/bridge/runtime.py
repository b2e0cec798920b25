"""The bridge process: one aggregator client, a notification listener, and one agent per Modbus device.

Python API (the demo, tests)::

    async with Bridge.start("fleet.json", "https://127.0.0.1:8443", "certs", cert="aggregator",
                            listen=("127.0.0.1", 0)) as bridge:
        await bridge.wait_ready()
        state = bridge["pv-0001"]          # DeviceState: edev, decision, applied, responses, last_w, ...

What is shared by all devices: the mutual-TLS HTTP client (one aiohttp session
and connection pool), DeviceCapability (read once), the program cache
(``programs.ProgramCache``: each program's events and default are fetched and
subscribed to once), the Modbus thread pool, and the notification listener.
What is each device's own: its identity, EndDevice, DER documents,
MirrorUsagePoint, FSA list, decision and responses (``agent.DeviceAgent``).
Agents start staggered (``stagger`` seconds apart, at most ``max_spread`` in
all) so a large fleet does not scan and register all at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from der_gateway.config import DEFAULT_CIPHERS
from der_gateway.sep import model
from der_gateway.sep.identity import lfdi_from_certificate
from der_gateway.tls import client_context, server_context

from .agent import DeviceAgent, DeviceState
from .client import ClientError, HttpError, SepClient
from .identity import DEFAULT_PEN, DeviceSpec, load_inventory
from .modbus import ModbusPool
from .notifications import NotificationListener
from .programs import ProgramCache
from ..wakeups import woken

log = logging.getLogger(__name__)


@dataclass
class BridgeOptions:
    pen: int = DEFAULT_PEN  # scopes device LFDIs and names telemetry mRIDs and LogEvents
    ciphers: str = DEFAULT_CIPHERS
    # Modbus
    modbus_workers: int = 32  # threads doing Modbus I/O: at most this many exchanges at once
    modbus_timeout: float = 3.0
    modbus_backoff: float = 1.0  # first wait before scanning a lost device again; doubles
    modbus_max_backoff: float = 60.0
    # 2030.5
    http_limit: int = 32  # connections, and requests under way at once
    http_timeout: float = 10.0
    http_retries: int = 2
    server_backoff: float = 1.0
    server_max_backoff: float = 60.0
    list_limit: int = 100
    subscribe: bool = True
    resubscribe_after: float = 600.0  # after the server refused subscriptions, wait this long to try again
    min_poll: float = 1.0  # never poll faster than this, whatever pollRate says
    notify_url: str | None = None  # the base of notificationURIs, when the listener is reached by another name
    notify_tls: bool = False  # receive notifications over https (the bridge's certificate; the server's required)
    # telemetry
    sample_interval: float | None = None  # None: postRate / samples_per_post, within [min_sample_interval, 60]
    samples_per_post: int = 5
    min_sample_interval: float = 0.5
    full_read_interval: float = 300.0
    max_samples: int = 1000
    telemetry_backlog: int = 288  # periods kept while the server is unreachable
    # scheduling
    stagger: float | None = None  # seconds between agents' starts; None: 0.02, or max_spread / devices
    max_spread: float = 30.0
    max_sleep: float = 60.0
    min_sleep: float = 0.01  # each device loop sleeps at least this long between turns
    max_clock_skew: float = 2.0  # seconds the server's clock may differ from ours before we follow it

    @classmethod
    def with_overrides(cls, base: BridgeOptions | None = None, **overrides: Any) -> BridgeOptions:
        known = {f.name for f in fields(cls)}
        unknown = set(overrides) - known
        if unknown:
            raise TypeError(f"unknown bridge options: {', '.join(sorted(unknown))}")
        values = {f.name: getattr(base, f.name) for f in fields(cls)} if base is not None else {}
        values.update(overrides)
        return cls(**values)


class _Starting:
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    def __await__(self):
        return self._start().__await__()

    async def _start(self) -> Bridge:
        await self._bridge._start()
        return self._bridge

    async def __aenter__(self) -> Bridge:
        return await self._start()

    async def __aexit__(self, *exc: object) -> None:
        await self._bridge.stop()


class Bridge:
    def __init__(self, devices: Iterable[DeviceSpec], server_url: str, certs_dir: str | os.PathLike | None,
                 cert: str | None = "aggregator", listen: tuple[str, int] = ("127.0.0.1", 0),
                 data_dir: str | os.PathLike | None = None, options: BridgeOptions | None = None) -> None:
        self.specs = list(devices)
        self.server_url = server_url.rstrip("/")
        self.options = options or BridgeOptions()
        self.data_dir = Path(data_dir) if data_dir is not None else None
        tls = None
        self.lfdi: str | None = None  # the bridge's certificate's, as the server knows it
        if self.server_url.startswith("https:"):
            if certs_dir is None:
                raise ValueError("an https server needs certs_dir (the trust anchor and the client certificate)")
            tls = client_context(Path(certs_dir), cert, self.options.ciphers)
            if cert is not None:
                pem = (Path(certs_dir) / f"{cert}.pem").read_bytes()
                self.lfdi = lfdi_from_certificate(x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER))
        o = self.options
        self.client = SepClient(self.server_url, tls, limit=o.http_limit, timeout=o.http_timeout,
                                retries=o.http_retries, backoff=min(0.25, o.server_backoff),
                                max_backoff=o.server_max_backoff, list_limit=o.list_limit)
        self.pool = ModbusPool(o.modbus_workers)
        listener_tls = None
        if o.notify_tls:
            if certs_dir is None or cert is None:
                raise ValueError("notifications over https need certs_dir and cert")
            listener_tls = server_context(Path(certs_dir), cert, o.ciphers)
        self.listener = NotificationListener(self._on_notification, listen[0], listen[1], advertise=o.notify_url,
                                             ssl_context=listener_tls)
        self.cache = ProgramCache(self.client, subscribe=self._subscribe_shared, verify=self._subscription_exists,
                                  on_change=self._programs_changed, min_poll=o.min_poll)
        self.agents: dict[str, DeviceAgent] = {}
        self.dcap: model.DeviceCapability | None = None
        self.clock_offset = 0.0  # the server's clock minus ours, when they differ by more than max_clock_skew
        self._dcap_lock = asyncio.Lock()
        self._fsa_watch: dict[str, DeviceAgent] = {}
        self._subs_blocked_until = 0.0
        self.subscriptions_made = 0
        self._own_subscription_list: str | None = None
        self.subscription_failures = 0
        self.notifications = 0
        self._poller: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._poll_wake = asyncio.Event()
        self.started_at: float | None = None
        self.client.on_up.append(self._server_back)

    # -- starting and stopping ----------------------------------------------------------------------

    @classmethod
    def start(cls, inventory: str | os.PathLike | Iterable[Mapping[str, Any] | DeviceSpec], server_url: str,
              certs_dir: str | os.PathLike | None = "certs", *, cert: str | None = "aggregator",
              listen: tuple[str, int] = ("127.0.0.1", 0), data_dir: str | os.PathLike | None = None,
              options: BridgeOptions | None = None, **option_overrides: Any) -> _Starting:
        """Start a bridge for the devices of an inventory (a JSON file or a list of entries)."""
        if isinstance(inventory, (str, os.PathLike)):
            specs = load_inventory(inventory)
        else:
            items = list(inventory)
            specs = [i for i in items if isinstance(i, DeviceSpec)] + load_inventory(
                [i for i in items if not isinstance(i, DeviceSpec)])
        opts = BridgeOptions.with_overrides(options, **option_overrides)
        return _Starting(cls(specs, server_url, certs_dir, cert, listen, data_dir, opts))

    async def _start(self) -> None:
        self.started_at = time.time()
        await self.client.open()
        await self.listener.start()
        n = len(self.specs)
        o = self.options
        stagger = o.stagger if o.stagger is not None else (min(0.02, o.max_spread / n) if n else 0.0)
        try:
            for i, spec in enumerate(self.specs):
                agent = DeviceAgent(self, spec, spec.identity(o.pen), start_delay=i * stagger)
                self.agents[spec.name] = agent
            for agent in self.agents.values():
                agent.start()
            self._poller = asyncio.create_task(self._poll_programs(), name="bridge-program-poll")
        except BaseException:
            await self.stop()
            raise
        log.info("bridge: %d devices, notifications at %s, server %s", n, self.listener.base_url, self.server_url)

    async def stop(self) -> None:
        poller, self._poller = self._poller, None
        tasks = [t for t in (poller, *self._background) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(a.stop() for a in self.agents.values()), return_exceptions=True)
        await self.cache.close()
        await self.listener.stop()
        await self.client.close()
        self.pool.close()

    # -- what it holds --------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> DeviceState:
        return self.agents[name].state

    def __len__(self) -> int:
        return len(self.agents)

    @property
    def states(self) -> list[DeviceState]:
        return [a.state for a in self.agents.values()]

    @property
    def listen_url(self) -> str:
        return self.listener.base_url

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every device is registered, follows its programs, and has been scanned (or found lost)."""
        deadline = time.monotonic() + timeout
        while True:
            waiting = [a.name for a in self.agents.values() if not a.ready]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(waiting)} devices not ready: {', '.join(waiting[:5])}")
            await asyncio.sleep(0.05)

    def summary(self) -> dict[str, Any]:
        states = self.states
        return {
            "devices": len(states),
            "registered": sum(s.registered for s in states),
            "modbus_ok": sum(s.modbus_ok for s in states),
            "events_in_force": sum(1 for s in states if s.applied and s.applied[0] == "event"),
            "responses": sum(len(s.responses) for s in states),
            "readings_posted": sum(s.readings_posted for s in states),
            "total_w": sum(s.last_w or 0.0 for s in states),
            "server_up": self.client.available,
            "notifications": self.notifications,
            "subscriptions": self.subscriptions_made,
            "http_requests": self.client.requests,
        }

    # -- shared 2030.5 resources ------------------------------------------------------------------------

    async def discover(self) -> model.DeviceCapability | None:
        """DeviceCapability, read once for all devices (None while the server cannot be reached)."""
        if self.dcap is None:
            async with self._dcap_lock:
                if self.dcap is None:
                    try:
                        self.dcap = await self.client.get("/dcap", model.DeviceCapability)
                    except ClientError as exc:
                        log.warning("bridge: discovery failed: %s", exc)
                        return None
                    await self.sync_time()
        return self.dcap

    async def sync_time(self) -> None:
        """Read the server's Time: events run by the server's clock, so a skewed local clock is corrected."""
        if self.dcap is None or self.dcap.TimeLink is None:
            return
        try:
            before = time.time()
            server = await self.client.get(self.dcap.TimeLink.href, model.Time)
            local = (before + time.time()) / 2
        except ClientError as exc:
            log.warning("bridge: cannot read the server's time: %s", exc)
            return
        skew = server.currentTime - local  # currentTime is whole seconds: within a second is no skew
        self.clock_offset = skew if abs(skew) > self.options.max_clock_skew else 0.0
        if self.clock_offset:
            log.warning("bridge: the server's clock is %.0f s %s ours; following it", abs(skew),
                        "ahead of" if skew > 0 else "behind")

    async def end_device_list(self) -> str | None:
        dcap = await self.discover()
        return dcap.EndDeviceListLink.href if dcap and dcap.EndDeviceListLink else None

    async def mirror_usage_point_list(self) -> str | None:
        dcap = await self.discover()
        return dcap.MirrorUsagePointListLink.href if dcap and dcap.MirrorUsagePointListLink else None

    # -- subscriptions and notifications -------------------------------------------------------------------

    async def subscribe(self, agent: DeviceAgent | None, resource: str) -> str | None:
        """Subscribe (through the agent's EndDevice) to a resource; its Location, or None if not now."""
        o = self.options
        if not o.subscribe or time.time() < self._subs_blocked_until:
            return None
        if agent is None:
            agent = self._subscriber()
        if agent is None or agent.end_device is None:
            return None
        link = agent.end_device.SubscriptionListLink
        subscriptions = link.href if link is not None else await self.own_subscription_list()
        if subscriptions is None:
            return None
        body = model.Subscription(subscribedResource=resource, encoding=0, level="-S1", limit=1,
                                  notificationURI=self.listener.uri_for(agent.name))
        try:
            location = await self.client.post(subscriptions, body)
        except HttpError as exc:
            self.subscription_failures += 1
            reason = exc.reason.lower()
            if exc.status == 400 and ("notificationuri" in reason or "subscriptions" in reason):
                # refused for every resource (the URI, or the client's limit): poll, and try again later
                if time.time() >= self._subs_blocked_until:
                    log.warning("bridge: subscriptions refused (%s); polling at pollRate", exc.reason)
                self._subs_blocked_until = time.time() + o.resubscribe_after
            return None
        if location:
            self.subscriptions_made += 1
        return location

    async def own_subscription_list(self) -> str | None:
        """CSIP-AUS: the SubscriptionList of the bridge's own EndDevice (its certificate's lFDI, first in its
        EndDeviceList), where an aggregator's subscriptions live; None where there is none (plain 2030.5)."""
        if self._own_subscription_list is None and self.lfdi is not None:
            href = await self.end_device_list()
            if href is None:
                return None
            first = await self.client.get(f"{href}?l=1", model.EndDeviceList)
            own = [link for e in first.EndDevice
                   if (e.lFDI or "").upper() == self.lfdi and (link := e.SubscriptionListLink)]
            self._own_subscription_list = own[0].href if own else ""
        return self._own_subscription_list or None

    def _subscriber(self) -> DeviceAgent | None:
        for agent in self.agents.values():
            if agent.state.registered and agent.end_device is not None:
                return agent
        return None

    async def _subscribe_shared(self, resource: str) -> str | None:
        return await self.subscribe(None, resource)

    async def _subscription_exists(self, href: str) -> bool:
        try:
            return await self.client.get_optional(href, model.Subscription) is not None
        except HttpError:
            return True

    def watch_fsa(self, agent: DeviceAgent, href: str) -> None:
        self._fsa_watch[href] = agent

    def forget_fsa(self, agent: DeviceAgent) -> None:
        for href in [h for h, a in self._fsa_watch.items() if a is agent]:
            del self._fsa_watch[href]

    def _on_notification(self, device: str, note: model.Notification) -> bool:
        self.notifications += 1
        try:
            resource = self.client.path(note.subscribedResource)
        except ClientError:
            return device in self.agents
        subscription = None
        if note.subscriptionURI:
            try:
                subscription = self.client.path(note.subscriptionURI)
            except ClientError:
                pass
        if not self.cache.notified(resource, note.status, subscription):
            agent = self._fsa_watch.get(resource)
            if agent is not None:
                agent.fsa_notified(note.status, subscription)
            else:
                log.debug("bridge: notification about %s, which nothing follows", resource)
        return device in self.agents

    def _programs_changed(self, devices: set[str]) -> None:
        for name in devices:
            agent = self.agents.get(name)
            if agent is not None:
                agent.wake()
        self._poll_wake.set()

    def _server_back(self, since: float) -> None:
        for agent in self.agents.values():
            agent.server_outage_over(since)
        self.cache.refresh_all()
        if self.dcap is not None:
            self._spawn_time_sync()
        self._poll_wake.set()

    def _spawn_time_sync(self) -> None:
        task = asyncio.create_task(self.sync_time())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _poll_programs(self) -> None:
        """The safety net: refetch each program resource every pollRate."""
        while True:
            next_poll = self.cache.next_poll()
            delay = 5.0 if next_poll is None else min(5.0, max(0.05, next_poll - time.time()))
            self._poll_wake.clear()
            await woken(self._poll_wake, delay)
            if self.client.available:
                try:
                    await self.cache.poll_due(time.time())
                except Exception:  # pragma: no cover - poll_due reports its own failures
                    log.exception("bridge: program poll failed")
