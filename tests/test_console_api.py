"""The operator console's JSON API against a real server: devices over 2030.5 mutual TLS, the admin API over HTTP;
on each backend."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from der_gateway.clock import ManualClock
from der_gateway.sep import codec, model
from der_gateway.server.state import CONTACTS

from . import documents
from .conftest import Harness

T0 = 1_800_000_000
TOKEN = "test-admin-token-0123456789"  # conftest's make_harness


@dataclass
class Console:
    h: Harness
    clock: ManualClock
    session: aiohttp.ClientSession
    ids: dict[str, int]
    lfdis: dict[str, str]

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.h.server.admin_url + path, json=body) as resp:
            text = await resp.read()
            return resp.status, json.loads(text) if text else None

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, answer = await self.call(method, path, body)
        assert got == status, (method, path, got, answer)
        return answer

    async def flush_contacts(self) -> None:
        await self.h.server.runner.app[CONTACTS].flush()


@pytest.fixture
async def console(make_harness, identities):
    """device1, device2 and device3 registered over TLS; the server's background stopped (the test drives time)."""
    clock = ManualClock(T0)
    h = make_harness(clock=clock)
    await h.start()
    await h.server.stop_background()
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    ids, lfdis = {}, {}
    for name in ("device1", "device2", "device3"):
        lfdis[name] = identities[name].lfdi
        reply = await h.client(name).post("/edev", documents.end_device(identities[name].lfdi))
        ids[name] = int(reply.headers["Location"].rsplit("/", 1)[1])
    yield Console(h, clock, session, ids, lfdis)
    await session.close()
    await h.stop()


async def test_last_contact_is_recorded_in_batches_and_counted_by_age(console):
    c = console
    store = c.h.store
    assert await store.devices_by_contact_age(T0, [60, 3600]) == [0, 0, 3]  # nothing flushed yet
    await c.flush_contacts()
    assert await store.devices_by_contact_age(T0, [60, 3600]) == [3, 0, 0]
    c.clock.set(T0 + 600)
    assert (await c.h.client("device1").get("/dcap")).status == 200
    await c.flush_contacts()
    assert await store.devices_by_contact_age(T0 + 600, [60, 3600]) == [1, 2, 0]
    assert await store.devices_by_contact_age(T0 + 7200, [60, 3600]) == [0, 0, 3]
    assert await store.devices_by_contact_age(T0 + 7200, []) == [3]
    summary = await c.ok("GET", f"/end-devices/{c.ids['device1']}/summary")
    assert summary["last_contact"] == T0 + 600
    # an older contact never replaces a later one
    await store.record_contacts({c.lfdis["device1"]: T0})
    assert (await c.ok("GET", f"/end-devices/{c.ids['device1']}/summary"))["last_contact"] == T0 + 600
    # the server's stop writes what is still pending
    c.clock.set(T0 + 900)
    assert (await c.h.client("device2").get("/dcap")).status == 200
    await c.h.restart()
    await c.h.server.stop_background()
    assert (await c.ok("GET", f"/end-devices/{c.ids['device2']}/summary"))["last_contact"] == T0 + 900
