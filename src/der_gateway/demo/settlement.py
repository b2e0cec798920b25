"""The demo's money: each stage settled from the telemetry the bridge posted (kWh avoided and credits per device),
the unbilled credits sent to a billing endpoint that acknowledges them, and the customer's statement."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from aiohttp import web

from .utility_event import Admin, StageResult


@dataclass
class Settlement:
    credits: dict[int, dict[str, dict[str, Any]]] = field(default_factory=dict)  # stage position -> name -> credit
    total: dict[str, str] = field(default_factory=dict)  # currency -> credited
    billed: dict[str, str] = field(default_factory=dict)
    batches: int = 0
    statement: Path | None = None

    @property
    def ok(self) -> bool:
        return bool(self.credits) and self.batches > 0 and self.billed == self.total and self.statement is not None


class BillingSystem:
    """A stand-in for the customer-billing system: takes each message and acknowledges it at once."""

    def __init__(self, admin: Admin, admin_url: str) -> None:
        self.admin, self.admin_url = admin, admin_url
        self.received: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _take(self, request: web.Request) -> web.Response:
        message = await request.json()
        self.received.append(message)
        ack = urlsplit(message["acknowledgeUrl"]).path  # on the admin API, wherever it listens
        asyncio.get_running_loop().create_task(self.admin("POST", ack, {"ok": True}))
        return web.Response(status=202)

    async def __aenter__(self) -> BillingSystem:
        app = web.Application()
        app.router.add_post("/bills", self._take)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/bills"  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def settle(admin: Admin, admin_url: str, event: dict[str, Any], stages: list[StageResult],
                 names: dict[str, str], customer_id: int, data_dir: Path, patience: float,
                 say: Callable[[str], None]) -> Settlement:
    result = Settlement()
    for stage in stages:
        settled = await admin("POST", f"/utility-events/{event['id']}/stages/{stage.position}/settlement")
        result.credits[stage.position] = {names[c["endDeviceLFDI"]]: c for c in settled["credits"]}
    say(f"settled  {'device':<12} " + " ".join(f"{'stage ' + str(s.position) + ' kWh paid, credit':<28}"
                                               for s in stages))
    for name in sorted(names.values()):
        cells = []
        for s in stages:
            c = result.credits[s.position].get(name)
            cells.append(f"{'-':<28}" if c is None else
                         f"{(c['paidKWh'] + ' kWh'):<13} {c['total'] + ' ' + c['currency']:<14}")
        say(f"         {name:<12} " + " ".join(cells))
    async with BillingSystem(admin, admin_url) as billing:
        await admin("POST", "/sync/endpoints", {"name": "demo-billing", "url": billing.url, "purpose": "billing"},
                    201)
        batches = (await admin("POST", "/billing/run", {}))["batches"]
        deadline = time.monotonic() + patience
        while True:
            states = [(await admin("GET", f"/billing/batches/{b['id']}"))["state"] for b in batches]
            if all(s == "billed" for s in states) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        result.batches = sum(1 for s in states if s == "billed")
        for b, state in zip(batches, states):
            say(f"billing  batch {b['id']}: {b['amount']} {b['currency']} for account {b['accountId']} "
                f"({b['credits']} credits) sent to the billing system: {state}")
    start = min(s["start"] for s in event["stages"]) - 3600
    period = f"?from={start}&to={int(time.time()) + 60}"
    statement = await admin("GET", f"/customers/{customer_id}/statement{period}")
    result.total, result.billed = statement["credits"], statement["billed"]
    page = await admin.text("GET", f"/customers/{customer_id}/statement.html{period}")
    result.statement = data_dir / f"statement-{statement['customer']['externalId']}.html"
    result.statement.write_text(page)
    avoided = Decimal(statement["avoidedKWh"])
    say(f"statement {statement['customer']['name']}: {len(statement['events'])} device-stages, "
        f"{avoided} kWh avoided, credits {_money(statement['credits'])}, billed {_money(statement['billed'])} "
        f"-> {result.statement}")
    return result


def _money(amounts: dict[str, str]) -> str:
    return ", ".join(f"{v} {k}" for k, v in amounts.items()) or "0"
