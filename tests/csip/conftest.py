"""A server under the csip profile for the SunSpec CSIP conformance procedures, on a manual clock.

The test takes the roles the procedures give the test client ([TC]/[C]) and the operator who
configures the server ([S] setup): it configures through the admin API, as an operator would, and
speaks 2030.5 over mutual TLS with the session's device and aggregator certificates.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from lxml import etree

from der_gateway.clock import ManualClock
from der_gateway.sep import codec, model
from der_gateway.xsd import load_schemas

from ..conftest import Harness, SepClient

T0 = 1_800_000_000  # the manual clock's start
PIN = 111115  # the Registration pIN every CSIP procedure preregisters (11111 and its check digit 5)
ADMIN_TOKEN = "test-admin-token-0123456789"  # tests/conftest.py make_harness


@dataclass
class Operator:
    """The utility operator: the admin API (JSON over HTTP on its own listener)."""

    session: aiohttp.ClientSession
    url: str
    after_write: Callable[[], Awaitable[None]]

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with self.session.request(method, self.url + path, json=body, headers=headers) as resp:
            raw = await resp.read()
            answer = await resp.json() if raw else None
        if method != "GET" and resp.status < 300:
            await self.after_write()  # what the background does on the admin API's change signal
        return resp.status, answer

    async def ok(self, method: str, path: str, body: Any = None) -> Any:
        status, answer = await self.call(method, path, body)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    async def end_device(self, lfdi: str, pin: int = PIN, owner: str | None = None) -> int:
        body = {"lFDI": lfdi, "pIN": pin, **({"owner": owner} if owner else {})}
        return (await self.ok("POST", "/end-devices", body))["id"]

    async def group(self, description: str, *members: int) -> int:
        group = (await self.ok("POST", "/groups", {"description": description}))["id"]
        if members:
            await self.ok("POST", f"/groups/{group}/members", {"endDevices": list(members)})
        return group

    async def program(self, primacy: int, description: str) -> int:
        return (await self.ok("POST", "/programs", {"primacy": primacy, "description": description}))["id"]

    async def assign(self, group: int, program: int) -> None:
        await self.ok("PUT", f"/groups/{group}/programs/{program}")

    async def default_control(self, program: int, base: dict, **extra) -> dict:
        return await self.ok("PUT", f"/programs/{program}/default-control", {"DERControlBase": base, **extra})

    async def curve(self, program: int, curve_type: int, points: list[tuple[int, int]], **extra) -> str:
        body = {"curveType": curve_type, "xMultiplier": extra.pop("xMultiplier", 0),
                "yMultiplier": extra.pop("yMultiplier", 0), "yRefType": extra.pop("yRefType", 3),
                "CurveData": [{"xvalue": x, "yvalue": y} for x, y in points], **extra}
        return (await self.ok("POST", f"/programs/{program}/curves", body))["href"]

    async def event(self, program: int, start: int, duration: int, base: dict, **extra) -> dict:
        body = {"interval": {"start": start, "duration": duration}, "DERControlBase": base,
                "responseRequired": "07", **extra}
        return await self.ok("POST", f"/programs/{program}/controls", body)

    async def cancel(self, control: int) -> dict:
        return await self.ok("POST", f"/controls/{control}/cancel")

    async def participation(self, control: int) -> dict:
        return await self.ok("GET", f"/controls/{control}/participation")


@dataclass
class Csip:
    harness: Harness
    clock: ManualClock
    operator: Operator

    def client(self, name: str) -> SepClient:
        return self.harness.client(name)

    async def settle(self) -> None:
        """Event states, then notifications, then their delivery, as of the clock now."""
        await self.harness.server.background.settle()

    async def at(self, when: int) -> None:
        self.clock.set(when)
        await self.settle()

    async def restart(self) -> None:
        await self.harness.restart()
        await self.harness.server.background.stop()
        self.operator.url = self.harness.server.admin_url


@pytest.fixture
async def csip(make_harness) -> AsyncIterator[Csip]:
    clock = ManualClock(T0)
    harness = make_harness(clock=clock, notification_allow=("http://127.0.0.1:",),
                           notification_allow_addresses=("127.0.0.1/32",), time_quality=7)
    await harness.start()
    # time moves only when a test moves it, and settle() does the background's work then (also after each
    # operator write): a background pass running beside it would race it for the same changes
    await harness.server.background.stop()
    session = aiohttp.ClientSession()

    async def settle() -> None:
        await harness.server.background.settle()

    try:
        yield Csip(harness, clock, Operator(session, harness.server.admin_url, settle))
    finally:
        await session.close()
        await harness.stop()


@dataclass
class Receiver:
    """A client's notificationURI: records every Notification POSTed to it and answers `status`."""

    port: int = 0  # known once started
    status: int = 201
    received: list[bytes] = field(default_factory=list)
    runner: web.AppRunner | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/note"

    async def start(self) -> None:
        async def handle(request: web.Request) -> web.Response:
            assert request.content_type == "application/sep+xml"
            self.received.append(await request.read())
            return web.Response(status=self.status)

        app = web.Application()
        app.router.add_post("/note", handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    def notifications(self) -> list[model.Notification]:
        notes = []
        for body in self.received:
            element = etree.fromstring(body)
            assert load_schemas("csip").errors(element) == [], body
            notes.append(codec.decode(element, model.Notification))
        return notes

    def take(self) -> list[model.Notification]:
        """The notifications received since the last take."""
        notes = self.notifications()
        self.received.clear()
        return notes


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.runner.cleanup()
    await asyncio.sleep(0)
