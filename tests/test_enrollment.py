"""Registration, interconnection and enrollment end to end: the admin API, the aggregator's endpoint on
the 2030.5 TLS listener, service tasks, and what the device then sees over 2030.5."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any, AsyncIterator

import aiohttp
import pytest

from der_gateway.clock import ManualClock
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model
from der_gateway.sep.identity import sfdi_from_lfdi

PEN = Pen(40732)

TOKEN = "test-admin-token-0123456789"  # conftest's make_harness
T0 = 1_800_000_000  # 2027-01-15 08:00 UTC


@dataclass
class Answer:
    status: int
    body: Any

    def fields(self) -> dict[str | None, str]:
        return {e.get("field"): e["reason"] for e in self.body["errors"]}

    def reasons(self, field: str) -> list[str]:
        return [e["reason"] for e in self.body["errors"] if e.get("field") == field]


class Api:
    """JSON over HTTP(S): the admin API (bearer token) or the aggregator endpoint (client certificate)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, token: str | None = None) -> None:
        self.session, self.base, self.token = session, base, token

    async def call(self, method: str, path: str, body: Any = None, key: str | None = None) -> Answer:
        headers = {}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if key is not None:
            headers["Idempotency-Key"] = key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        async with self.session.request(method, self.base + path, data=data, headers=headers) as resp:
            raw = await resp.read()
            return Answer(resp.status, json.loads(raw) if raw else None)

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200, key: str | None = None) -> Any:
        answer = await self.call(method, path, body, key)
        assert answer.status == status, (method, path, answer.status, answer.body)
        return answer.body


def nameplate(watts: int = 5000, watt_hours_hundreds: int = 135, der_type: int = 80) -> dict:
    return {"type": der_type, "modesSupported": "00000001", "rtgMaxW": {"value": watts, "multiplier": 0},
            "rtgMaxWh": {"value": watt_hours_hundreds, "multiplier": 2},
            "rtgMaxVA": {"value": watts, "multiplier": 0}, "rtgVNom": {"value": 240, "multiplier": 0}}


def settings(watts: int = 4000) -> dict:
    return {"setMaxW": {"value": watts, "multiplier": 0}, "setGradW": 100}


def registration(lfdi: str, serial: str = "PW-0001", **extra) -> dict:
    body = {"customer": "C-1", "servicePoint": "SP-1",
            "device": {"lFDI": lfdi, "manufacturer": "Tesla", "model": "Powerwall 2", "serialNumber": serial,
                       "nameplate": nameplate(), "settings": settings()}}
    body.update(extra)
    return body


@dataclass
class Site:
    harness: Any
    admin: Api
    aggregator: Api
    ids: dict[str, Any]
    identities: dict

    @property
    def store(self):
        return self.harness.store

    def lfdi(self, name: str) -> str:
        return self.identities[name].lfdi

    async def process(self, task_id: int, state: str = "Completed") -> dict:
        task = await self.admin.ok("POST", f"/service-tasks/{task_id}/process")
        assert task["state"] == state, task
        return task

    async def programs_seen_by(self, device: str, edev_id: int) -> set[str]:
        """The mRIDs of the programs the device finds through its FunctionSetAssignments."""
        client = self.harness.client(device)
        reply = await client.get(f"/edev/{edev_id}/fsa?l=100")
        assert reply.status == 200, reply.reason
        fsas = codec.decode(reply.element, model.FunctionSetAssignmentsList)
        seen = set()
        for fsa in fsas.FunctionSetAssignments:
            reply = await client.get(fsa.DERProgramListLink.href + "?l=100")
            assert reply.status == 200, reply.reason
            seen |= {p.mRID for p in codec.decode(reply.element, model.DERProgramList).DERProgram}
        return seen

    async def sync_messages(self) -> list[tuple[str, int | None, dict]]:
        return [(kind, enrollment, json.loads(body)) for kind, enrollment, body in await self.store._rows(
            "SELECT kind, enrollment_id, body FROM sync_messages ORDER BY id")]


async def add_location_group(store, kind: str, name: str) -> int:
    """A network location and its group, as the network-location import makes them."""
    group = await store.create_group(new_mrid(PEN), f"{kind} {name}")
    await store._in_transaction(lambda c: c.execute(
        "INSERT INTO network_locations (kind, name, group_id) VALUES (?, ?, ?)", (kind, name, group)))
    return group


async def open_site(make_harness, identities, *, background: bool = False, **config) -> Site:
    h = make_harness(clock=ManualClock(T0), **config)
    await h.start()
    if not background:  # every change in these tests is the test's own doing
        await h.server.stop_background()
    session = aiohttp.ClientSession()
    h.sessions.append(session)
    admin = Api(session, h.server.admin_url, TOKEN)
    aggregator = Api(h.client("aggregator").session, h.server.url + "/api/v1")
    ids: dict[str, Any] = {}
    program = await admin.ok("POST", "/programs", {"primacy": 1, "description": "battery storage"}, 201)
    ids["program"], ids["program_mrid"] = program["id"], program["mRID"]
    await admin.ok("PUT", f"/programs/{program['id']}/rules",
                   {"code": "STORAGE", "eligibility": {"derTypes": [80, 83], "capacityW": {"min": 1000,
                                                                                          "max": 20000}}})
    customer = await admin.ok("POST", "/customers", {
        "externalId": "C-1", "name": "Ada", "accounts": [{"externalId": "A-1", "servicePoints": [
            {"externalId": "SP-1", "address": "1 Volta St", "substation": "S1", "feeder": "F7",
             "transformer": "T3"}]}]}, 201)
    ids["customer"] = customer["id"]
    ids["sp"] = customer["accounts"][0]["servicePoints"][0]["id"]
    other = await admin.ok("POST", "/customers", {
        "externalId": "C-2", "name": "Bob", "accounts": [{"externalId": "A-2", "servicePoints": [
            {"externalId": "SP-2"}]}]}, 201)
    ids["other_customer"] = other["id"]
    asset_type = await admin.ok("POST", "/asset-types", {"code": "BATTERY", "derType": 80,
                                                         "defaultProgramId": program["id"]}, 201)
    ids["asset_type"] = asset_type["id"]
    device_model = await admin.ok("POST", "/device-models", {
        "assetTypeId": asset_type["id"], "manufacturer": "Tesla", "model": "Powerwall 2",
        "spec": {"rtgMaxW": {"min": 1000, "max": 10000, "required": True}, "rtgMaxWh": {"max": 15000},
                 "interconnection": {"exportLimitW": {"max": 10000}, "inverterCount": {"max": 2}}}}, 201)
    ids["model"] = device_model["id"]
    await admin.ok("PUT", f"/aggregators/{identities['aggregator'].lfdi}/customers/{customer['id']}", status=204)
    return Site(h, admin, aggregator, ids, identities)


@pytest.fixture
async def site(make_harness, identities) -> AsyncIterator[Site]:
    s = await open_site(make_harness, identities)
    yield s
    await s.harness.stop()


async def add_sync_endpoint(store) -> None:
    await store._in_transaction(lambda c: c.execute(
        "INSERT INTO sync_endpoints (name, url) VALUES ('derms', 'http://127.0.0.1:9/derms')"))


# -- the whole journey -------------------------------------------------------------------------------------

async def test_an_aggregator_registers_and_the_device_sees_the_program_until_unenrolled(site):
    await add_sync_endpoint(site.store)
    feeder = await add_location_group(site.store, "feeder", "F7")
    lfdi = site.lfdi("device1")
    answer = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi))
    assert answer.status == 201, answer.body
    edev = answer.body["endDevice"]
    assert edev["owner"] == site.lfdi("aggregator") and edev["enabled"] is False
    assert edev["sFDI"] == sfdi_from_lfdi(lfdi)
    task = answer.body["serviceTask"]
    assert task["kind"] == "enroll" and task["state"] == "Pending"
    assert answer.body["enrollment"]["status"] == "Pending"
    assert answer.body["enrollment"]["programId"] == site.ids["program"]  # the asset type's default program

    # the device sees its EndDevice, with the nameplate and settings as DERCapability and DERSettings ...
    device = site.harness.client("device1")
    reply = await device.get(f"/edev/{edev['id']}")
    assert reply.status == 200 and codec.decode(reply.element, model.EndDevice).enabled is False
    dercap = codec.decode((await device.get(f"/edev/{edev['id']}/der/1/dercap")).element, model.DERCapability)
    assert codec.to_data(dercap) == {"href": f"/edev/{edev['id']}/der/1/dercap", **nameplate()}
    derg = codec.decode((await device.get(f"/edev/{edev['id']}/der/1/derg")).element, model.DERSettings)
    assert codec.to_data(derg) == {"href": f"/edev/{edev['id']}/der/1/derg", **settings(), "updatedTime": T0}
    # ... but no program until the enrollment completes
    assert await site.programs_seen_by("device1", edev["id"]) == set()

    # the aggregator can follow its task; the utility processes it
    followed = await site.aggregator.ok("GET", f"/service-tasks/{task['id']}")
    assert followed["state"] == "Pending"
    done = await site.process(task["id"])
    assert done["reasons"] == []
    enrollment = await site.admin.ok("GET", f"/enrollments/{answer.body['enrollment']['id']}")
    assert enrollment["status"] == "Enrolled" and enrollment["syncStatus"] == "Pending"
    assert (await site.admin.ok("GET", f"/end-devices/{edev['id']}"))["enabled"] is True
    assert await site.programs_seen_by("device1", edev["id"]) == {site.ids["program_mrid"]}
    rules = await site.admin.ok("GET", f"/programs/{site.ids['program']}/rules")
    groups = (await site.admin.ok("GET", f"/end-devices/{edev['id']}"))["groups"]
    assert sorted(groups) == sorted([rules["groupId"], feeder])  # the program's group and its feeder's
    changes = [r[0] for r in await site.store._rows("SELECT resource FROM changes")]
    assert f"/edev/{edev['id']}/fsa" in changes
    # and so the program's events
    await site.admin.ok("POST", f"/programs/{site.ids['program']}/controls",
                        {"interval": {"start": T0 + 3600, "duration": 1800},
                         "DERControlBase": {"opModMaxLimW": 3000}}, 201)
    reply = await device.get(f"/derp/{site.ids['program']}/derc?l=10")
    assert reply.status == 200 and codec.decode(reply.element, model.DERControlList).all == 1

    # the enrollment went out to the operational endpoint, in 2030.5 terms
    messages = await site.sync_messages()
    assert [m[0] for m in messages] == ["enrollment"]
    kind, enrollment_id, body = messages[-1]
    assert enrollment_id == enrollment["id"]
    assert body["subscription"]["program"]["mRID"] == site.ids["program_mrid"]
    assert body["subscription"]["customer"]["externalId"] == "C-1"
    assert body["subscription"]["servicePoint"]["feeder"] == "F7"
    assert body["device"]["lFDI"] == lfdi and body["device"]["aggregator"] == site.lfdi("aggregator")
    assert body["nameplate"]["DERCapability"] == nameplate()
    assert body["nameplate"]["DERSettings"]["setMaxW"] == {"value": 4000, "multiplier": 0}

    # unenrollment takes it away again
    unenroll = await site.admin.ok("POST", f"/enrollments/{enrollment['id']}/unenroll", status=201)
    assert (await site.admin.call("POST", f"/enrollments/{enrollment['id']}/unenroll")).status == 409
    await site.process(unenroll["serviceTask"]["id"])
    assert await site.programs_seen_by("device1", edev["id"]) == set()
    assert (await device.get(f"/derp/{site.ids['program']}/derc?l=10")).status == 404
    assert (await site.admin.ok("GET", f"/enrollments/{enrollment['id']}"))["status"] == "Unenrolled"
    assert (await site.admin.ok("GET", f"/end-devices/{edev['id']}"))["groups"] == []
    assert (await site.sync_messages())[-1][0] == "unenrollment"


async def test_replacement_hands_the_enrollment_to_the_new_device(site):
    await add_sync_endpoint(site.store)
    old_lfdi, new_lfdi = site.lfdi("device1"), site.lfdi("device2")
    answer = await site.admin.ok("POST", "/registerDERDevice",
                                 registration(old_lfdi, aggregator=site.lfdi("aggregator")), 201)
    old_edev, old_asset = answer["endDevice"]["id"], answer["derAsset"]["id"]
    await site.process(answer["serviceTask"]["id"])
    assert await site.programs_seen_by("device1", old_edev) == {site.ids["program_mrid"]}

    bad = await site.admin.call("POST", f"/der-assets/{old_asset}/replace",
                                {"lFDI": old_lfdi, "serialNumber": "PW-0002",
                                 "nameplate": nameplate(watts=12000)})
    assert bad.status == 400
    assert set(bad.fields()) == {"lFDI", "nameplate.rtgMaxW"}, bad.body
    task = (await site.admin.ok("POST", f"/der-assets/{old_asset}/replace",
                                {"lFDI": new_lfdi, "serialNumber": "PW-0002"}, 201))["serviceTask"]
    assert task["kind"] == "replace" and task["state"] == "Pending"
    again = await site.admin.call("POST", f"/der-assets/{old_asset}/replace",
                                  {"lFDI": new_lfdi, "serialNumber": "PW-0003"})
    assert again.status == 409  # one replacement at a time
    done = await site.process(task["id"])
    new_asset = await site.admin.ok("GET", f"/der-assets/{done['payload']['newDerAssetId']}")
    new_edev = new_asset["endDeviceId"]
    assert new_asset["lFDI"] == new_lfdi and new_asset["replaces"] == old_asset
    assert new_asset["enrollments"] == [answer["enrollment"]["id"]]
    assert new_asset["nameplate"] == nameplate()  # kept from the old device

    # the new LFDI sees the program; the old one does not, though its records are kept
    assert await site.programs_seen_by("device2", new_edev) == {site.ids["program_mrid"]}
    assert await site.programs_seen_by("device1", old_edev) == set()
    old = await site.admin.ok("GET", f"/der-assets/{old_asset}")
    assert old["status"] == "retired" and old["replacedBy"] == new_asset["id"] and old["enrollments"] == []
    old_device = await site.admin.ok("GET", f"/end-devices/{old_edev}")
    assert old_device["enabled"] is False and old_device["groups"] == []
    new_device = await site.admin.ok("GET", f"/end-devices/{new_edev}")
    assert new_device["owner"] == site.lfdi("aggregator")  # the aggregator still acts for it
    derg = codec.decode((await site.harness.client("device2").get(f"/edev/{new_edev}/der/1/derg")).element,
                        model.DERSettings)
    assert derg.setMaxW.value == 4000
    kind, enrollment_id, body = (await site.sync_messages())[-1]
    assert kind == "replacement" and enrollment_id == answer["enrollment"]["id"]
    assert body["device"]["lFDI"] == new_lfdi and body["replaced"]["lFDI"] == old_lfdi
    # a retired asset cannot be replaced again
    assert (await site.admin.call("POST", f"/der-assets/{old_asset}/replace",
                                  {"lFDI": site.lfdi("device3"), "serialNumber": "X"})).status == 409


async def test_the_deployment_pin_goes_to_devices_registered_and_replaced(make_harness, identities):
    site = await open_site(make_harness, identities, registration_pin=111115)
    try:
        answer = await site.admin.ok("POST", "/registerDERDevice",
                                     registration(site.lfdi("device1"), aggregator=site.lfdi("aggregator")), 201)
        edev = answer["endDevice"]["id"]
        assert (await site.admin.ok("GET", f"/end-devices/{edev}"))["pIN"] == 111115
        await site.process(answer["serviceTask"]["id"])
        task = (await site.admin.ok("POST", f"/der-assets/{answer['derAsset']['id']}/replace",
                                    {"lFDI": site.lfdi("device2"), "serialNumber": "PW-0002"}, 201))["serviceTask"]
        done = await site.process(task["id"])
        new_asset = await site.admin.ok("GET", f"/der-assets/{done['payload']['newDerAssetId']}")
        assert (await site.admin.ok("GET", f"/end-devices/{new_asset['endDeviceId']}"))["pIN"] == 111115
    finally:
        await site.harness.stop()


# -- refusals -----------------------------------------------------------------------------------------------------

async def test_every_problem_is_named_at_once_and_nothing_is_created(site):
    lfdi = site.lfdi("device1")
    before = site.harness.snapshot()
    # the body's shape: every problem at once
    body = registration("not-an-lfdi", extra_field=1)
    del body["device"]["serialNumber"]
    body["device"]["nameplate"]["rtgMaxW"] = {"value": "5000", "multiplier": 0}
    body["device"]["settings"]["updatedTime"] = 5
    answer = await site.admin.call("POST", "/registerDERDevice", body)
    assert answer.status == 400
    assert set(answer.fields()) == {"extra_field", "device.lFDI", "device.serialNumber",
                                    "device.nameplate.rtgMaxW.value", "device.settings.updatedTime"}, answer.body

    # the facts: customer/service point, catalog spec, settings within the nameplate, eligibility
    body = registration(lfdi, servicePoint="SP-2")
    body["device"]["nameplate"]["rtgMaxW"] = {"value": 12, "multiplier": 3}
    body["device"]["nameplate"]["type"] = 4
    body["device"]["settings"]["setMaxW"] = {"value": 13, "multiplier": 3}
    answer = await site.admin.call("POST", "/registerDERDevice", body)
    assert answer.status == 400
    fields = answer.fields()
    assert "does not belong to customer C-1" in fields["servicePoint"]
    assert fields["device.nameplate.rtgMaxW"].startswith("rule catalog: 12000 W is above the maximum of 10000 W")
    assert fields["device.settings.setMaxW"] == "13000 W exceeds the nameplate's rtgMaxW (12000 W)"
    assert [r.split(":")[0] for r in answer.reasons("device.nameplate.type")] == [
        "rule catalog", "program STORAGE rule deviceTypes"]
    assert len(answer.body["errors"]) == 5

    # an unknown model names the manufacturer's models; an unknown program
    body = registration(lfdi, program="NOPE")
    body["device"]["model"] = "Powerwall 9"
    answer = await site.admin.call("POST", "/registerDERDevice", body)
    assert answer.status == 400
    assert answer.fields()["device.model"] == ("rule catalog: 'Tesla' has no model 'Powerwall 9'; its models: "
                                               "Powerwall 2")
    assert answer.fields()["program"] == "no program NOPE"

    # a tariff the program requires, not accepted
    tariff = await site.admin.ok("POST", "/tariffs", {"code": "DER-EXPORT", "description": "export tariff"}, 201)
    await site.admin.ok("PUT", f"/programs/{site.ids['program']}/rules",
                        {"code": "STORAGE", "eligibility": {"tariffId": tariff["id"], "feeders": ["F9"]}})
    before = site.harness.snapshot()
    answer = await site.admin.call("POST", "/registerDERDevice", registration(lfdi))
    assert answer.status == 400
    assert answer.fields() == {
        "customer": "program STORAGE rule tariff: the customer has not accepted tariff DER-EXPORT",
        "servicePoint": "program STORAGE rule location: the service point's feeder (F7) is not one of F9"}
    assert site.harness.snapshot() == before
    await site.admin.ok("PUT", f"/customers/{site.ids['customer']}/tariffs/{tariff['id']}", status=204)
    await site.admin.ok("PATCH", f"/service-points/{site.ids['sp']}", {"feeder": "F9"})
    assert (await site.admin.call("POST", "/registerDERDevice", registration(lfdi))).status == 201

    # an lFDI registered already
    before = site.harness.snapshot()
    answer = await site.admin.call("POST", "/registerDERDevice", registration(lfdi, serial="PW-0009"))
    assert answer.status == 400 and "registered already" in answer.fields()["device.lFDI"]
    answer = await site.admin.call("POST", "/registerDERDevice", registration(site.lfdi("device2")))
    assert answer.status == 400 and "registered already (DER asset" in answer.fields()["device.serialNumber"]
    assert site.harness.snapshot() == before


async def test_the_aggregator_endpoint_admits_only_active_authorised_aggregators(site):
    lfdi = site.lfdi("device1")
    before = site.harness.snapshot()
    other = Api(site.harness.client("aggregator2").session, site.harness.server.url + "/api/v1")
    answer = await other.call("POST", "/registerDERDevice", registration(lfdi))
    assert answer.status == 403 and answer.fields() == {
        "customer": "rule aggregator: this aggregator is not authorised for customer C-1"}
    answer = await other.call("POST", "/registerDERDevice", registration(lfdi, customer="C-404"))
    assert answer.status == 403  # an unknown customer looks the same
    device = Api(site.harness.client("device1").session, site.harness.server.url + "/api/v1")
    answer = await device.call("POST", "/registerDERDevice", registration(lfdi))
    assert answer.status == 403 and "only an aggregator" in answer.body["errors"][0]["reason"]
    answer = await site.aggregator.call("POST", "/registerDERDevice",
                                        registration(lfdi, aggregator=site.lfdi("aggregator2")))
    assert answer.status == 400 and answer.fields() == {"aggregator": "set from the client certificate; leave it out"}
    async with site.aggregator.session.post(site.aggregator.base + "/registerDERDevice", data=b"{}",
                                            headers={"Content-Type": "text/plain"}) as resp:
        assert resp.status == 415
    assert site.harness.snapshot() == before

    # suspended: refused until reinstated (and each change is synced)
    await add_sync_endpoint(site.store)
    await site.admin.ok("PATCH", f"/aggregators/{site.lfdi('aggregator')}", {"status": "suspended"})
    before = site.harness.snapshot()
    answer = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi))
    assert answer.status == 403
    assert answer.body["errors"][0]["reason"] == "rule aggregator: this aggregator is suspended"
    answer = await site.admin.call("POST", "/registerDERDevice", registration(lfdi, aggregator=site.lfdi("aggregator")))
    assert answer.status == 400 and answer.fields()["aggregator"].endswith("is suspended")
    assert site.harness.snapshot() == before
    await site.admin.ok("PATCH", f"/aggregators/{site.lfdi('aggregator')}", {"status": "active"})
    assert (await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi))).status == 201
    synced = [body["aggregator"]["status"] for kind, _, body in await site.sync_messages() if kind == "aggregator"]
    assert synced == ["suspended", "active"]


async def test_retries_under_one_idempotency_key_create_once(site):
    lfdi = site.lfdi("device1")
    # a refused request keeps nothing, not even its key
    bad = registration(lfdi, customer="C-404")
    assert (await site.aggregator.call("POST", "/registerDERDevice", bad, key="k-1")).status == 403
    first = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi), key="k-1")
    assert first.status == 201
    before = site.harness.snapshot()
    for _ in range(2):
        again = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi), key="k-1")
        assert (again.status, again.body) == (first.status, first.body)
    assert site.harness.snapshot() == before
    changed = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi, serial="PW-0002"),
                                         key="k-1")
    assert changed.status == 409 and "Idempotency-Key" in changed.fields()
    # the key is the caller's own: the admin's k-1 is another request (refused: the lFDI is taken)
    assert (await site.admin.call("POST", "/registerDERDevice", registration(lfdi), key="k-1")).status == 400
    # and the operation's: interconnectDER under k-1 is new
    interconnect = {"customer": "C-1", "servicePoint": "SP-1",
                    "device": {"manufacturer": "Tesla", "model": "Powerwall 2", "serialNumber": "PW-0007"},
                    "interconnection": {"exportLimitW": 5000}}
    one = await site.aggregator.call("POST", "/interconnectDER", interconnect, key="k-1")
    two = await site.aggregator.call("POST", "/interconnectDER", interconnect, key="k-1")
    assert one.status == two.status == 201 and one.body == two.body
    assert len((await site.admin.ok("GET", "/service-tasks?kind=interconnect"))["items"]) == 1
    assert len((await site.admin.ok("GET", "/der-assets"))["items"]) == 1
    # unenrollment and replacement take keys too
    await site.process(first.body["serviceTask"]["id"])
    enrollment = first.body["enrollment"]["id"]
    a = await site.admin.ok("POST", f"/enrollments/{enrollment}/unenroll", status=201, key="u-1")
    b = await site.admin.ok("POST", f"/enrollments/{enrollment}/unenroll", status=201, key="u-1")
    assert a == b and len((await site.admin.ok("GET", "/service-tasks?kind=unenroll"))["items"]) == 1
    assert (await site.admin.call("POST", "/registerDERDevice", registration(lfdi),
                                  key="x" * 201)).fields() == {"Idempotency-Key": "must be 1 to 200 printable "
                                                                                  "characters"}


async def test_an_approved_interconnection_must_precede_registration_when_the_flag_says_so(site):
    await site.admin.ok("PATCH", f"/asset-types/{site.ids['asset_type']}", {"requiresInterconnection": True})
    lfdi = site.lfdi("device1")
    answer = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi))
    assert answer.status == 400
    assert answer.fields()["device"].startswith("rule interconnection: asset type BATTERY requires an approved "
                                                "interconnection")

    before = site.harness.snapshot()
    bad = {"customer": "C-1", "servicePoint": "SP-1",
           "device": {"manufacturer": "Tesla", "model": "Megapack", "serialNumber": "PW-0001"},
           "interconnection": {"exportLimitW": 5000, "inverterCount": 0, "colour": "red"}}
    answer = await site.aggregator.call("POST", "/interconnectDER", bad)
    assert answer.status == 400
    assert set(answer.fields()) == {"interconnection.inverterCount", "interconnection.colour"}
    bad["interconnection"] = {"exportLimitW": 25000, "inverterCount": 2}
    answer = await site.aggregator.call("POST", "/interconnectDER", bad)
    assert answer.fields() == {"device.model": "rule catalog: 'Tesla' has no model 'Megapack'; its models: "
                                               "Powerwall 2"}
    bad["device"]["model"] = "Powerwall 2"
    answer = await site.aggregator.call("POST", "/interconnectDER", bad)
    assert answer.reasons("interconnection.exportLimitW") == [
        "rule catalog: 25000 is above the maximum of 10000 for Tesla Powerwall 2",
        "rule catalog: 25000 W exceeds what 2 Tesla Powerwall 2 inverter(s) can rate (20000 W)"]
    assert len(answer.body["errors"]) == 2
    assert site.harness.snapshot() == before

    good = {**bad, "device": {"manufacturer": "Tesla", "model": "Powerwall 2", "serialNumber": "PW-0001",
                              "lFDI": lfdi},
            "interconnection": {"exportLimitW": 5000, "inverterCount": 1, "phases": 1}}
    task = (await site.aggregator.ok("POST", "/interconnectDER", good, 201))["serviceTask"]
    assert task["kind"] == "interconnect" and task["state"] == "Pending" and task["approval"] is None
    assert (await site.admin.call("POST", "/interconnectDER", good)).status == 400  # one open request per device
    processed = await site.admin.call("POST", f"/service-tasks/{task['id']}/process")
    assert processed.status == 409 and "awaits engineering approval" in processed.body["errors"][0]["reason"]
    assert await site.store.due_service_tasks(T0 + 10) == []  # the monitor leaves it be
    answer = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi))
    assert f"interconnection task {task['id']} is Pending" in answer.fields()["device"]

    # a rejection ends it in Error, with engineering's reason
    other = (await site.admin.ok("POST", "/interconnectDER", {
        **good, "device": {"manufacturer": "Tesla", "model": "Powerwall 2", "serialNumber": "PW-0099"}},
        201))["serviceTask"]
    assert (await site.admin.call("POST", f"/service-tasks/{other['id']}/reject", {})).fields() == {
        "reason": "required"}
    rejected = await site.admin.ok("POST", f"/service-tasks/{other['id']}/reject", {"reason": "feeder at capacity"})
    assert rejected["state"] == "Error" and rejected["approval"]["decision"] == "rejected"
    assert rejected["reasons"] == [{"field": "approval", "reason": "rejected by engineering: feeder at capacity"}]

    approved = await site.admin.ok("POST", f"/service-tasks/{task['id']}/approve", {"reason": "study done"})
    assert approved["state"] == "Completed" and approved["approval"]["decision"] == "approved"
    assert (await site.admin.call("POST", f"/service-tasks/{task['id']}/approve")).status == 409
    answer = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi))
    assert answer.status == 201, answer.body
    assert answer.body["derAsset"]["interconnection"] == {"exportLimitW": 5000, "inverterCount": 1, "phases": 1}


async def test_program_event_constraints_refuse_events_naming_the_rule(make_harness, identities):
    s = await open_site(make_harness, identities, timezone="Australia/Sydney")
    try:
        program = s.ids["program"]
        await s.admin.ok("PUT", f"/programs/{program}/rules", {"constraints": {
            "maxDurationSeconds": 3600, "minNoticeSeconds": 600, "allowedHours": {"start": 14, "end": 20},
            "maxEvents": {"count": 2, "periodSeconds": 86400}}})
        # T0 is 19:00 in Sydney (UTC+11); the allowed window opens at 14:00 the next day, 03:00 UTC
        window = T0 + 19 * 3600

        async def event(start: int, duration: int = 1800):
            return await s.admin.call("POST", f"/programs/{program}/controls",
                                      {"interval": {"start": start, "duration": duration},
                                       "DERControlBase": {"opModMaxLimW": 5000}})

        answer = await event(window, 7200)
        assert answer.status == 400 and answer.fields() == {"interval.duration": "rule maxDuration: at most 3600 s"}
        answer = await event(T0 + 60)
        assert answer.status == 400
        assert answer.fields()["interval.start"].startswith("rule minNotice: must be created at least 600 s")
        answer = await event(window - 3600)
        assert answer.fields() == {"interval": "rule allowedHours: must lie within 14:00-20:00 local time "
                                               "(Australia/Sydney)"}
        answer = await event(window + 5 * 3600 + 1800, 3600)  # 19:30 to 20:30
        assert answer.fields() == {"interval": "rule allowedHours: must lie within 14:00-20:00 local time "
                                               "(Australia/Sydney)"}
        first = await s.admin.ok("POST", f"/programs/{program}/controls",
                                 {"interval": {"start": window, "duration": 3600},
                                  "DERControlBase": {"opModMaxLimW": 5000}}, 201)
        assert (await event(window + 3600)).status == 201
        answer = await event(window + 7200)
        assert answer.fields() == {"interval.start": "rule maxEvents: at most 2 events in any 86400 s"}
        # a cancelled event does not count
        await s.admin.ok("POST", f"/controls/{first['id']}/cancel")
        assert (await event(window + 7200)).status == 201
        # every broken rule at once, with the schema's own objections
        answer = await s.admin.call("POST", f"/programs/{program}/controls",
                                    {"interval": {"start": T0 + 60, "duration": 7200},
                                     "DERControlBase": {"opModMaxLimW": 5000}, "responseRequired": "zz"})
        assert set(answer.fields()) == {"interval.duration", "interval.start", "interval", "responseRequired"}
        # and without rules, anything goes
        await s.admin.ok("DELETE", f"/programs/{program}/rules", status=204)
        assert (await event(T0 + 60, 7200)).status == 201
    finally:
        await s.harness.stop()


async def test_eligibility_is_judged_again_when_the_task_is_processed(site):
    answer = await site.admin.ok("POST", "/registerDERDevice", registration(site.lfdi("device1")), 201)
    await site.admin.ok("PUT", f"/programs/{site.ids['program']}/rules",
                        {"code": "STORAGE", "eligibility": {"capacityW": {"max": 3000}, "substations": ["S9"]}})
    task = await site.process(answer["serviceTask"]["id"], "Error")
    reasons = {r["reason"] for r in task["reasons"]}
    assert reasons == {"program STORAGE rule capacity: 5000 W is outside 0 W to 3000 W",
                       "program STORAGE rule location: the service point's substation (S1) is not one of S9"}
    enrollment = await site.admin.ok("GET", f"/enrollments/{answer['enrollment']['id']}")
    assert enrollment["status"] == "Error"
    assert (await site.admin.ok("GET", f"/end-devices/{answer['endDevice']['id']}"))["enabled"] is False
    assert (await site.admin.call("POST", f"/service-tasks/{task['id']}/process")).status == 409

    # enrolling the asset in another program checks eligibility at once
    program = await site.admin.ok("POST", "/programs", {"primacy": 2, "description": "solar"}, 201)
    await site.admin.ok("PUT", f"/programs/{program['id']}/rules",
                        {"code": "SOLAR", "eligibility": {"derTypes": [4]}})
    refused = await site.admin.call("POST", f"/der-assets/{answer['derAsset']['id']}/enrollments",
                                    {"program": "SOLAR"})
    assert refused.status == 400 and refused.fields()["program"].startswith("program SOLAR rule deviceTypes")
    await site.admin.ok("PUT", f"/programs/{program['id']}/rules", {"code": "SOLAR"})
    created = await site.admin.ok("POST", f"/der-assets/{answer['derAsset']['id']}/enrollments",
                                  {"program": "SOLAR"}, 201)
    # a Pending task can be cancelled, and then not processed
    cancelled = await site.admin.ok("POST", f"/service-tasks/{created['serviceTask']['id']}/cancel")
    assert cancelled["state"] == "Cancelled"
    assert (await site.admin.ok("GET", f"/enrollments/{created['enrollment']['id']}"))["status"] == "Cancelled"
    assert (await site.admin.call("POST", f"/service-tasks/{cancelled['id']}/cancel")).status == 409
    assert (await site.admin.call("POST", f"/service-tasks/{cancelled['id']}/process")).status == 409


async def test_the_monitor_processes_pending_tasks(make_harness, identities):
    s = await open_site(make_harness, identities, background=True)
    try:
        s.harness.server.background.service_tasks.interval = 0.05
        answer = await s.aggregator.ok("POST", "/registerDERDevice", registration(s.lfdi("device1")), 201)
        task_id = answer["serviceTask"]["id"]
        for _ in range(200):
            task = await s.admin.ok("GET", f"/service-tasks/{task_id}")
            if task["state"] == "Completed":
                break
            await asyncio.sleep(0.02)
        assert task["state"] == "Completed"
        assert await s.programs_seen_by("device1", answer["endDevice"]["id"]) == {s.ids["program_mrid"]}
    finally:
        await s.harness.stop()


# -- the records behind it ------------------------------------------------------------------------------------

async def test_customers_catalog_tariffs_and_aggregators(site):
    admin = site.admin
    await add_sync_endpoint(site.store)
    before = site.harness.snapshot()
    answer = await admin.call("POST", "/customers", {
        "externalId": "C-1", "name": "", "status": "gone", "accounts": [
            {"externalId": "A-9", "servicePoints": [{"externalId": "SP-9"}, {"externalId": "SP-9", "x": 1}]}]})
    assert answer.status == 400
    assert set(answer.fields()) == {"name", "status", "accounts[0].servicePoints[1].x",
                                    "accounts[0].servicePoints[1].externalId"}
    answer = await admin.call("POST", "/customers", {"externalId": "C-1", "name": "Again", "accounts": [
        {"externalId": "A-1", "servicePoints": [{"externalId": "SP-1"}]}]})
    assert answer.status == 409
    assert set(answer.fields()) == {"externalId", "accounts[0].externalId", "accounts[0].servicePoints[0].externalId"}
    answer = await admin.call("POST", "/device-models", {"assetTypeId": 999, "manufacturer": "X", "model": "Y",
                                                         "spec": {"rtgMaxW": {"min": 5, "max": 1}, "rtgFoo": {},
                                                                  "interconnection": {"colour": {}}}})
    assert set(answer.fields()) == {"spec.rtgMaxW", "spec.rtgFoo", "spec.interconnection.colour"}
    answer = await admin.call("POST", "/asset-types", {"code": "PV", "derType": 7})
    assert answer.fields()["derType"].startswith("must be a DERType")
    answer = await admin.call("PUT", f"/programs/{site.ids['program']}/rules", {
        "eligibility": {"derTypes": [99], "capacityW": {"min": 10, "max": 1}, "tariffId": 77},
        "constraints": {"maxEvents": {"count": 0}, "allowedHours": {"start": 5, "end": 5}}})
    assert set(answer.fields()) == {"eligibility.derTypes[0]", "eligibility.capacityW",
                                    "constraints.maxEvents.count", "constraints.maxEvents.periodSeconds",
                                    "constraints.allowedHours"}
    assert site.harness.snapshot() == before

    customer = await admin.ok("GET", f"/customers/{site.ids['customer']}")
    assert customer["aggregators"] == [site.lfdi("aggregator")]
    account = customer["accounts"][0]
    sp = await admin.ok("POST", f"/accounts/{account['id']}/service-points", {"externalId": "SP-3",
                                                                            "transformer": "T9"}, 201)
    assert sp["customerId"] == site.ids["customer"] and sp["transformer"] == "T9"
    assert (await admin.ok("PATCH", f"/service-points/{sp['id']}", {"transformer": None}))["transformer"] is None
    await admin.ok("DELETE", f"/service-points/{sp['id']}", status=204)
    assert (await admin.call("GET", f"/service-points/{sp['id']}")).status == 404
    assert (await admin.ok("PATCH", f"/customers/{site.ids['other_customer']}", {"status": "inactive"}))["status"] == \
        "inactive"
    assert [c["externalId"] for c in (await admin.ok("GET", "/customers"))["items"]] == ["C-1", "C-2"]

    new_aggregator = "AB" * 20
    created = await admin.ok("POST", "/aggregators", {"lFDI": new_aggregator.lower(), "name": "VPP Co",
                                                      "customers": ["C-1", site.ids["other_customer"]]}, 201)
    assert created["lFDI"] == new_aggregator and created["customers"] == sorted([site.ids["customer"],
                                                                                 site.ids["other_customer"]])
    assert (await admin.call("POST", "/aggregators", {"lFDI": new_aggregator, "name": "dup"})).status == 409
    answer = await admin.call("PATCH", f"/aggregators/{new_aggregator}", {"customers": ["C-404"], "status": "x"})
    assert set(answer.fields()) == {"status"}
    answer = await admin.call("PATCH", f"/aggregators/{new_aggregator}", {"customers": ["C-404"]})
    assert answer.fields() == {"customers[0]": "no customer C-404"}
    await admin.ok("DELETE", f"/aggregators/{new_aggregator}/customers/{site.ids['other_customer']}", status=204)
    assert (await admin.ok("GET", f"/aggregators/{new_aggregator}"))["customers"] == [site.ids["customer"]]

    rules = await admin.ok("PUT", f"/programs/{site.ids['program']}/rules",
                           {"code": "STORAGE", "constraints": {"maxDurationSeconds": 900}})
    assert rules["constraints"] == {"maxDurationSeconds": 900} and rules["eligibility"] == {}
    kinds = [(kind, body.get("aggregator", {}).get("name") or body.get("program", {}).get("id"))
             for kind, _, body in await site.sync_messages()]
    assert kinds == [("aggregator", "VPP Co"), ("aggregator", "VPP Co"), ("program-rules", site.ids["program"])]

    tariff = await admin.ok("POST", "/tariffs", {"code": "T1", "terms": {"exportCapW": 5000}}, 201)
    await admin.ok("PUT", f"/programs/{site.ids['program']}/rules", {"eligibility": {"tariffId": tariff["id"]}})
    assert (await admin.call("DELETE", f"/tariffs/{tariff['id']}")).status == 409
    await admin.ok("PUT", f"/customers/{site.ids['customer']}/tariffs/{tariff['id']}", status=204)
    assert (await admin.ok("GET", f"/customers/{site.ids['customer']}"))["tariffs"][0]["code"] == "T1"
    assert (await admin.call("DELETE", f"/asset-types/{site.ids['asset_type']}")).status == 409
    models = await admin.ok("GET", "/device-models?manufacturer=Tesla")
    assert [m["model"] for m in models["items"]] == ["Powerwall 2"]
    assert (await admin.call("POST", "/device-models", {"assetTypeId": site.ids["asset_type"],
                                                        "manufacturer": "Tesla", "model": "Powerwall 2",
                                                        "spec": {}})).status == 409

    # a customer with DER assets stays
    await admin.ok("POST", "/registerDERDevice", registration(site.lfdi("device1")), 201)
    assert (await admin.call("DELETE", f"/customers/{site.ids['customer']}")).status == 409
    assert (await admin.call("DELETE", f"/device-models/{site.ids['model']}")).status == 409
    await admin.ok("DELETE", f"/customers/{site.ids['other_customer']}", status=204)
