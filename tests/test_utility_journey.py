"""Issue 4's whole journey, with the server's background work running: an aggregator interconnects,
registers and enrolls a customer's battery with one call each; the utility sees the service tasks
complete and the enrollment synchronized; the device receives the program's events."""

from __future__ import annotations

import asyncio
import time

from aiohttp import ClientSession, web

from der_gateway.sep import codec, model

from .test_enrollment import TOKEN, open_site, registration
from .test_notifications import free_port


class OperationalSystem:
    """An operational endpoint (a DERMS, say) that acknowledges each enrollment message it is sent."""

    def __init__(self) -> None:
        self.port = free_port()
        self.messages: list[dict] = []
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/enroll"

    async def start(self) -> None:
        async def receive(request: web.Request) -> web.Response:
            message = await request.json()
            self.messages.append(message)
            asyncio.get_running_loop().create_task(self.acknowledge(message))
            return web.Response(status=202)

        app = web.Application()
        app.router.add_post("/enroll", receive)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def acknowledge(self, message: dict) -> None:
        async with ClientSession() as session:
            async with session.post(message["acknowledgeUrl"], json={"ok": True},
                                    headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
                assert resp.status == 200, await resp.text()

    async def stop(self) -> None:
        await self.runner.cleanup()


async def eventually(check, timeout: float = 15.0):
    """Polls check() until it returns something truthy; the background task works in real time."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_interconnect_register_enroll_synchronize_and_receive_events(make_harness, identities):
    derms = OperationalSystem()
    await derms.start()
    site = await open_site(make_harness, identities, background=True, service_task_interval=0.1,
                           sync_endpoints={"derms": derms.url})
    try:
        admin, aggregator, lfdi = site.admin, site.aggregator, site.lfdi("device1")
        await admin.ok("PATCH", f"/asset-types/{site.ids['asset_type']}", {"requiresInterconnection": True})

        # one call: interconnection; engineering approves it
        interconnection = await aggregator.ok("POST", "/interconnectDER", {
            "customer": "C-1", "servicePoint": "SP-1",
            "device": {"manufacturer": "Tesla", "model": "Powerwall 2", "serialNumber": "PW-0001", "lFDI": lfdi},
            "interconnection": {"exportLimitW": 5000, "inverterCount": 1}}, 201, key="ic-1")
        task = interconnection["serviceTask"]
        assert task["state"] == "Pending"
        approved = await admin.ok("POST", f"/service-tasks/{task['id']}/approve", {"reason": "study done"})
        assert approved["state"] == "Completed"

        # one call: registration and enrollment; the monitor completes the task
        registered = await aggregator.ok("POST", "/registerDERDevice", registration(lfdi), 201, key="reg-1")
        assert registered["serviceTask"]["state"] == "Pending"
        enrollment_id = registered["enrollment"]["id"]
        edev_id = registered["endDevice"]["id"]

        async def completed():
            t = await admin.ok("GET", f"/service-tasks/{registered['serviceTask']['id']}")
            return t if t["state"] == "Completed" else None
        await eventually(completed)

        # the operational system is told, acknowledges, and the enrollment is Synchronized
        async def synchronized():
            e = await admin.ok("GET", f"/enrollments/{enrollment_id}")
            return e if e["syncStatus"] == "Synchronized" else None
        enrollment = await eventually(synchronized)
        assert enrollment["status"] == "Enrolled"
        assert {m["kind"] for m in derms.messages} >= {"program-rules", "aggregator", "enrollment"}
        (message,) = [m for m in derms.messages if m["kind"] == "enrollment"]
        assert message["device"]["lFDI"] == lfdi

        # the utility dispatches an event; the device finds it through its FSAs
        start = site.harness.clock.now() + 3600
        await admin.ok("POST", f"/programs/{site.ids['program']}/controls", {
            "interval": {"start": start, "duration": 1800},
            "DERControlBase": {"opModMaxLimW": 5000}}, 201)
        device = site.harness.client("device1")
        fsas = codec.decode((await device.get(f"/edev/{edev_id}/fsa?l=10")).element, model.FunctionSetAssignmentsList)
        found = []
        for fsa in fsas.FunctionSetAssignments:
            programs = codec.decode((await device.get(fsa.DERProgramListLink.href + "?l=10")).element,
                                    model.DERProgramList)
            for program in programs.DERProgram:
                controls = codec.decode((await device.get(program.DERControlListLink.href + "?l=10")).element,
                                        model.DERControlList)
                found += [(program.mRID, c.interval.start) for c in controls.DERControl]
        assert found == [(site.ids["program_mrid"], start)]
    finally:
        await site.harness.stop()
        await derms.stop()
