"""The operator console's JSON API against a real server: devices over 2030.5 mutual TLS, the admin API over HTTP;
on each backend."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from der_gateway.clock import ManualClock
from der_gateway.domain.identifiers import new_mrid
from der_gateway.sep import codec, model
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.sep.walk import fetched_href
from der_gateway.server.enrollment_sync import SyncDelivery
from der_gateway.server.identity import AS_LFDI
from der_gateway.server.state import CONTACTS

from . import documents
from .conftest import Harness
from .test_enrollment import PEN, open_site
from .test_participation_api import register
from .test_utility_journey import eventually

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

    async def respond(self, name: str, subject: str, status: int, at: int) -> None:
        body = codec.encode(model.DERControlResponse(createdDateTime=at, endDeviceLFDI=self.lfdis[name],
                                                     status=status, subject=subject))
        assert (await self.h.client(name).post("/rsps/1/rsp", body)).status == 201

    async def program_for(self, *names: str) -> int:
        """A program reaching the named devices through a group of their own."""
        group = (await self.ok("POST", "/groups", {"description": "console"}, 201))["id"]
        await self.ok("POST", f"/groups/{group}/members", {"endDevices": [self.ids[n] for n in names]})
        program = (await self.ok("POST", "/programs", {"primacy": 10, "description": "peak"}, 201))["id"]
        assert (await self.call("PUT", f"/groups/{group}/programs/{program}"))[0] == 204
        return program

    async def post_power(self, name: str, start: int, hectowatts: int) -> None:
        """The device's active power (W x 10^2) as twelve 5-minute readings from start."""
        mup = model.MirrorUsagePoint(
            mRID=new_mrid(PEN), roleFlags="0009", serviceCategoryKind=0, status=1, deviceLFDI=self.lfdis[name],
            MirrorMeterReading=[model.MirrorMeterReading(
                mRID=new_mrid(PEN), description="site power", MirrorReadingSet=[model.MirrorReadingSet(
                    mRID=new_mrid(PEN), timePeriod=model.DateTimeInterval(duration=3600, start=start),
                    Reading=[model.Reading(value=hectowatts, timePeriod=model.DateTimeInterval(
                        duration=300, start=start + 300 * i)) for i in range(12)])],
                ReadingType=model.ReadingType(commodity=1, dataQualifier=2, intervalLength=300, kind=37,
                                              powerOfTenMultiplier=2, uom=38))])
        reply = await self.h.client(name).post("/mup", codec.encode(mup))
        assert reply.status == 201, reply.reason


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


async def test_the_tree_is_what_the_device_itself_gets(console):
    c = console
    program = await c.program_for("device1")
    await c.ok("POST", f"/programs/{program}/controls", {"interval": {"start": T0 + 600, "duration": 600},
                                                         "DERControlBase": {"opModMaxLimW": 2000}}, 201)
    device = c.h.client("device1")
    assert (await device.put(f"/edev/{c.ids['device1']}/der/1/dercap",
                             codec.encode(documents.der_capability()))).status in (201, 204)
    tree = await c.ok("GET", f"/end-devices/{c.ids['device1']}/tree")
    assert tree["lfdi"] == c.lfdis["device1"]
    resources = tree["resources"]
    hrefs = [r["href"] for r in resources]
    assert hrefs[0] == "/dcap" and resources[0]["type"] == "DeviceCapability" and resources[0]["depth"] == 0
    assert len(hrefs) == len(set(hrefs))
    types = {r["type"] for r in resources}
    assert {"EndDeviceList", "EndDevice", "FunctionSetAssignmentsList", "DERProgramList", "DERControlList",
            "DERControl", "DERCapability", "Time"} <= types
    assert f"/edev/{c.ids['device2']}" not in hrefs  # another device's EndDevice is not in its tree
    for r in resources:
        is_list = r["type"].endswith("List") or (r["status"] != 200 and "List" in r["type"])
        got = await device.get(fetched_href(r["href"], is_list))
        assert (got.status, got.body.decode()) == (r["status"], r["xml"]), r["href"]
    # as another device sees it
    other = await c.ok("GET", f"/end-devices/{c.ids['device2']}/tree")
    assert "DERControl" not in {r["type"] for r in other["resources"]}
    assert (await c.call("GET", "/end-devices/999999/tree"))[0] == 404
    # the header that names the LFDI on the server's own socket means nothing over TLS
    spoofed = await c.h.client("device2").get(f"/edev/{c.ids['device1']}",
                                              headers={AS_LFDI: c.lfdis["device1"]})
    assert spoofed.status == 404


async def test_ders_telemetry_responses_participation_and_power_of_a_control(console):
    c = console
    d1, d2 = c.ids["device1"], c.ids["device2"]
    device = c.h.client("device1")
    for kind, document in (("dercap", documents.der_capability(6000)), ("derg", documents.der_settings(4000))):
        assert (await device.put(f"/edev/{d1}/der/1/{kind}", codec.encode(document))).status in (201, 204)
    ders = await c.ok("GET", f"/end-devices/{d1}/ders")
    assert [i["href"] for i in ders["items"]] == [f"/edev/{d1}/der/1"]
    docs = ders["items"][0]["documents"]
    assert docs["DERCapability"]["rtgMaxW"] == {"value": 6000, "multiplier": 0}
    assert docs["DERSettings"]["setMaxW"] == {"value": 4000, "multiplier": 0}
    assert docs["DERStatus"] is None and docs["DERAvailability"] is None

    program = await c.program_for("device1", "device2")
    control = await c.ok("POST", f"/programs/{program}/controls", {
        "interval": {"start": T0 + 600, "duration": 1200}, "DERControlBase": {"opModMaxLimW": 2000}}, 201)
    await c.post_power("device1", T0, 20)
    await c.post_power("device2", T0, 10)
    await c.respond("device1", control["mRID"], 1, T0 + 1)
    await c.respond("device1", control["mRID"], 2, T0 + 600)
    await c.respond("device2", control["mRID"], 4, T0 + 2)

    telemetry = await c.ok("GET", f"/end-devices/{d1}/telemetry?since={T0 - 60}")
    (series,) = telemetry["series"]
    assert (series["uom"], series["power_of_ten"], series["description"]) == (38, 2, "site power")
    assert series["mup"].startswith("/mup/")
    assert series["points"] == [[T0 + 300 * i, 2000] for i in range(12)]
    later = await c.ok("GET", f"/end-devices/{d1}/telemetry?since={T0 + 3000}")
    assert later["series"][0]["points"] == [[T0 + 3000, 2000], [T0 + 3300, 2000]]
    assert (await c.ok("GET", f"/end-devices/{d1}/telemetry"))["series"][0]["points"][0] == [T0, 2000]

    responses = await c.ok("GET", f"/end-devices/{d1}/responses")
    assert [(r["status"], r["status_name"], r["created_at"], r["subject"], r["control_id"])
            for r in responses["items"]] == [(2, "started", T0 + 600, control["mRID"], control["id"]),
                                             (1, "received", T0 + 1, control["mRID"], control["id"])]
    assert len((await c.ok("GET", f"/end-devices/{d1}/responses?limit=1"))["items"]) == 1

    summary = await c.ok("GET", f"/controls/{control['id']}/participation-summary")
    assert summary["as_of"] == T0
    assert summary["devices"] == [{"end_device_id": d1, "lfdi": c.lfdis["device1"], "status": "started"},
                                  {"end_device_id": d2, "lfdi": c.lfdis["device2"], "status": "opted_out"}]
    assert summary["counts"] == {"reserved": 0, "received": 0, "started": 1, "completed": 0, "opted_out": 1,
                                 "no_response": 0}

    c.clock.set(T0 + 7200)
    power = await c.ok("GET", f"/controls/{control['id']}/power")
    assert (power["unit"], power["start"], power["end"]) == ("W", T0 + 600 - 3600, T0 + 1800 + 3600)
    assert power["points"] == [[T0 + 300 * i, 3000] for i in range(12)]
    c.clock.set(T0 + 900)  # during the event: up to now
    assert (await c.ok("GET", f"/controls/{control['id']}/power"))["points"] == [
        [T0 + 300 * i, 3000] for i in range(3)]

    for path in (f"/end-devices/{d1}/telemetry?since=yesterday", f"/end-devices/{d1}/responses?limit=0",
                 f"/end-devices/{d1}/responses?limit=100000", f"/end-devices/{d1}/responses?color=red"):
        status, answer = await c.call("GET", path)
        assert status == 400 and answer["errors"][0]["field"], path
    for path in ("/end-devices/999999/ders", "/end-devices/999999/telemetry", "/end-devices/999999/responses",
                 "/end-devices/999999/summary", "/end-devices/999999/enrollments",
                 "/controls/999999/participation-summary", "/controls/999999/power",
                 "/utility-events/999999/participation", "/utility-events/999999/power",
                 "/sync/messages/999999/retry"):
        method = "POST" if path.endswith("retry") else "GET"
        status, answer = await c.call(method, path)
        assert status == 404 and answer["errors"], path



async def test_participation_counts_every_device_and_lists_a_page(console):
    c = console
    program = await c.program_for("device1", "device2", "device3")
    control = await c.ok("POST", f"/programs/{program}/controls", {
        "interval": {"start": T0 + 600, "duration": 1200}, "DERControlBase": {"opModMaxLimW": 2000}}, 201)
    await c.respond("device2", control["mRID"], 3, T0 + 1)
    await c.respond("device3", control["mRID"], 12, T0 + 2)
    path = f"/controls/{control['id']}/participation-summary"
    whole = await c.ok("GET", path)
    ids = sorted(c.ids.values())
    status = {c.ids["device1"]: "no_response", c.ids["device2"]: "completed", c.ids["device3"]: "opted_out"}
    assert (whole["all"], whole["s"]) == (3, 0)
    assert [(d["end_device_id"], d["status"]) for d in whole["devices"]] == [(i, status[i]) for i in ids]
    assert whole["counts"] == {"reserved": 0, "received": 0, "started": 0, "completed": 1, "opted_out": 1,
                               "no_response": 1}
    pages = [await c.ok("GET", f"{path}?s={s}&l=1") for s in range(3)]
    assert [p["devices"][0]["end_device_id"] for p in pages] == ids
    assert all(p["counts"] == whole["counts"] and p["all"] == 3 for p in pages)
    assert (await c.ok("GET", f"{path}?s=2&l=5"))["devices"] == whole["devices"][2:]
    past = await c.ok("GET", f"{path}?s=3")
    assert (past["devices"], past["all"], past["s"]) == ([], 3, 3)
    assert (await c.ok("GET", f"{path}?l=0"))["devices"] == []
    for query, field in (("s=-1", "s"), ("s=x", "s"), ("l=1001", "l"), ("l=", "l"), ("l=1.5", "l"),
                         ("s=1&size=2", "size")):
        got, answer = await c.call("GET", f"{path}?{query}")
        assert got == 400 and answer["errors"][0]["field"] == field and answer["errors"][0]["reason"], query
    # a program that reaches nobody: an empty summary, and no power
    group = (await c.ok("POST", "/groups", {"description": "empty"}, 201))["id"]
    lonely = (await c.ok("POST", "/programs", {"primacy": 11, "description": "nobody"}, 201))["id"]
    assert (await c.call("PUT", f"/groups/{group}/programs/{lonely}"))[0] == 204
    nobody = await c.ok("POST", f"/programs/{lonely}/controls", {
        "interval": {"start": T0 + 600, "duration": 600}, "DERControlBase": {"opModMaxLimW": 1000}}, 201)
    empty = await c.ok("GET", f"/controls/{nobody['id']}/participation-summary")
    assert (empty["all"], empty["devices"], set(empty["counts"].values())) == (0, [], {0})
    assert (await c.ok("GET", f"/controls/{nobody['id']}/power"))["points"] == []

async def test_timeline_utility_event_participation_power_and_sync_retry(console):
    c = console
    program = await c.program_for("device1", "device2")
    await c.ok("POST", "/sync/endpoints", {"name": "dacs", "url": "http://127.0.0.1:9/events"}, 201)
    plain = await c.ok("POST", f"/programs/{program}/controls", {
        "interval": {"start": T0 + 7200, "duration": 600}, "DERControlBase": {"opModMaxLimW": 3000}}, 201)
    event = await c.ok("POST", "/utility-events", {"description": "evening peak", "stages": [
        {"programId": program, "interval": {"start": T0 + 600, "duration": 600},
         "DERControlBase": {"opModMaxLimW": 2000}},
        {"programId": program, "interval": {"start": T0 + 1800, "duration": 600},
         "DERControlBase": {"opModMaxLimW": 1000}}]}, 201)
    one, two = event["stages"]
    # device3 joins the program after the event was made: the stages did not call it
    late = (await c.ok("POST", "/groups", {"description": "late"}, 201))["id"]
    await c.ok("POST", f"/groups/{late}/members", {"endDevices": [c.ids["device3"]]})
    assert (await c.call("PUT", f"/groups/{late}/programs/{program}"))[0] == 204
    timeline = await c.ok("GET", f"/timeline?from={T0}&to={T0 + 86400}")
    assert [(i["kind"], i["id"]) for i in timeline["items"]] == [("utility-event", event["id"]),
                                                                 ("control", plain["id"])]
    item = timeline["items"][0]
    assert (item["program_id"], item["program"], item["description"]) == (program, "peak", "evening peak")
    assert (item["start"], item["end"], item["status"]) == (T0 + 600, T0 + 2400, "SCHEDULED")
    assert item["stages"] == [
        {"position": 1, "start": T0 + 600, "end": T0 + 1200, "control_id": one["controlId"], "status": "SCHEDULED"},
        {"position": 2, "start": T0 + 1800, "end": T0 + 2400, "control_id": two["controlId"],
         "status": "SCHEDULED"}]
    assert timeline["items"][1]["stages"] == [] and timeline["items"][1]["end"] == T0 + 7800
    only_plain = await c.ok("GET", f"/timeline?from={T0 + 3000}&to={T0 + 9000}")
    assert [i["id"] for i in only_plain["items"]] == [plain["id"]]
    for query in ("", f"?from={T0}", f"?from={T0 + 10}&to={T0}", f"?from={T0}&to={T0 + 10}&x=1"):
        status, answer = await c.call("GET", "/timeline" + query)
        assert status == 400 and answer["errors"], query

    await c.post_power("device1", T0, 20)
    await c.post_power("device2", T0 + 3600, 10)
    await c.respond("device1", one["mRID"], 1, T0 + 1)
    await c.respond("device1", two["mRID"], 3, T0 + 2400)
    summary = await c.ok("GET", f"/utility-events/{event['id']}/participation")
    assert [(d["end_device_id"], d["status"]) for d in summary["devices"]] == [
        (c.ids["device1"], "completed"), (c.ids["device2"], "reserved")]  # called, silent, the stages to come
    assert summary["counts"]["completed"] == 1 and summary["counts"]["reserved"] == 1
    second = await c.ok("GET", f"/utility-events/{event['id']}/participation?s=1&l=1")
    assert (second["all"], second["counts"]) == (2, summary["counts"])
    assert second["devices"] == summary["devices"][1:]
    stage = await c.ok("GET", f"/controls/{one['controlId']}/participation-summary")
    assert [d["status"] for d in stage["devices"]] == ["received", "reserved"]

    c.clock.set(T0 + 86400)
    ended = await c.ok("GET", f"/utility-events/{event['id']}/participation")
    assert [d["status"] for d in ended["devices"]] == ["completed", "no_response"] and ended["as_of"] == T0 + 86400
    power = await c.ok("GET", f"/utility-events/{event['id']}/power")
    assert (power["start"], power["end"]) == (T0 + 600 - 3600, T0 + 2400 + 3600)
    assert power["points"] == ([[T0 + 300 * i, 2000] for i in range(12)]
                               + [[T0 + 3600 + 300 * i, 1000] for i in range(8)])  # to an hour after its end

    # the stage reports go to an endpoint nobody listens on: they fail, and a retry sends them now
    delivery = SyncDelivery(c.h.store, c.h.config, c.clock)
    try:
        await delivery.deliver_due()
    finally:
        await delivery.stop()
    messages = (await c.ok("GET", "/sync/messages"))["items"]
    failing = [m for m in messages if m["lastError"]]
    assert failing and all(m["nextAttempt"] > c.clock.now() for m in failing)
    retried = await c.ok("POST", f"/sync/messages/{failing[0]['id']}/retry")
    assert retried["id"] == failing[0]["id"] and retried["nextAttempt"] == c.clock.now()
    assert retried["state"] == "queued"
    rejected = await c.ok("POST", f"/sync/messages/{failing[0]['id']}/ack", {"ok": False, "reason": "unknown"})
    assert rejected["state"] == "rejected"
    again = await c.ok("POST", f"/sync/messages/{failing[0]['id']}/retry")
    assert again["state"] == "queued" and again["ackReason"] is None
    accepted = await c.ok("POST", f"/sync/messages/{messages[-1]['id']}/ack", {"ok": True})
    assert accepted["state"] == "acknowledged"
    status, answer = await c.call("POST", f"/sync/messages/{messages[-1]['id']}/retry")
    assert status == 409 and answer["errors"]


async def test_search_summaries_and_enrollments_of_a_registered_site(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        admin = site.admin
        customer = await admin.ok("GET", f"/customers/{site.ids['customer']}")
        await admin.ok("POST", f"/accounts/{customer['accounts'][0]['id']}/service-points",
                       {"externalId": "SP-3", "feeder": "F9"}, 201)
        d1 = await register(site, "device1", "PW-0001", 4000)
        d2 = await register(site, "device2", "PW-0002", 2000, "SP-3")
        lfdi1, lfdi2 = site.lfdi("device1"), site.lfdi("device2")

        async def found(query: str) -> list[int]:
            return [d["end_device_id"] for d in (await admin.ok("GET", "/devices/search?" + query))["items"]]

        assert await found(f"q={lfdi1[:6].lower()}&by=lfdi") == [d1]
        assert await found(f"q={str(sfdi_from_lfdi(lfdi2))[:7]}&by=sfdi") == [d2]
        assert sorted(await found("q=ADA&by=customer")) == [d1, d2]
        assert sorted(await found("q=c-1&by=customer")) == [d1, d2]
        assert await found("q=bob&by=customer") == []
        assert await found("q=sp-3&by=service-point") == [d2]
        assert await found("q=volta&by=service-point") == [d1]
        assert await found("q=f7&by=feeder") == [d1]
        assert await found(f"q={lfdi2[:8]}") == [d2]
        assert sorted(await found("q=sp-")) == [d1, d2]
        assert len(await found("q=sp-&limit=1")) == 1
        assert await found("q=50%25") == []  # a LIKE wildcard is only a character

        summary = await admin.ok("GET", f"/end-devices/{d1}/summary")
        assert summary == {"end_device_id": d1, "lfdi": lfdi1, "sfdi": sfdi_from_lfdi(lfdi1), "enabled": True,
                           "aggregator_lfdi": site.lfdi("aggregator"),
                           "customer": {"id": site.ids["customer"], "name": "Ada"},
                           "service_point": {"id": site.ids["sp"], "name": "SP-1"}, "feeder": "F7",
                           "last_contact": None}
        assert (await admin.ok("GET", f"/devices/search?q={lfdi1}"))["items"] == [summary]

        for query in ("", "q=", "q=x&by=colour", "q=x&limit=0", "q=x&limit=many", "q=x&sort=id", "q=" + "x" * 101):
            answer = await admin.call("GET", "/devices/search?" + query)
            assert answer.status == 400 and answer.body["errors"], query

        enrollments = (await admin.ok("GET", f"/end-devices/{d1}/enrollments"))["items"]
        assert [(e["program_id"], e["program"], e["state"]) for e in enrollments] == [
            (site.ids["program"], "battery storage", "Enrolled")]
        listed = (await admin.ok("GET", "/enrollments"))["items"]
        overview = await admin.ok("GET", "/enrollments/summary")
        assert [e["id"] for e in overview["items"]] == sorted((e["id"] for e in listed), reverse=True)
        assert overview["items"][0] == listed[-1]
        assert sum(overview["by_sync_state"].values()) == len(listed)

        tasks = (await admin.ok("GET", "/service-tasks"))["items"]
        task_summary = await admin.ok("GET", "/service-tasks/summary")
        assert task_summary["by_state"] == {"Completed": len(tasks)}
        assert task_summary["awaiting_approval"] == []
    finally:
        await site.harness.stop()


async def test_a_running_server_writes_contacts_by_itself(make_harness, identities):
    h = make_harness()
    await h.start()
    try:
        reply = await h.client("device1").post("/edev", documents.end_device(identities["device1"].lfdi))
        assert reply.status == 201
        await eventually(lambda: _counted(h), timeout=60)  # flushed every few seconds, with no one asking
    finally:
        await h.stop()


async def _counted(h: Harness) -> bool:
    return (await h.store.devices_by_contact_age(int(time.time()) + 1, [3600]))[0] == 1


async def test_an_aggregator_acting_for_a_device_is_its_contact(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        h = site.harness
        d1 = await register(site, "device1", "PW-0001", 4000)
        d2 = await register(site, "device2", "PW-0002", 2000)
        assert (await h.client("aggregator").get(f"/edev/{d1}")).status == 200
        assert (await h.client("device3").get(f"/edev/{d2}")).status in (403, 404)  # not its device: no contact
        await h.server.runner.app[CONTACTS].flush()
        assert (await site.admin.ok("GET", f"/end-devices/{d1}/summary"))["last_contact"] == T0
        assert (await site.admin.ok("GET", f"/end-devices/{d2}/summary"))["last_contact"] is None
    finally:
        await h.stop()
