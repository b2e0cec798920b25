"""Device scores and load-reduction forecasts on the real server (admin API, 2030.5 over TLS, sync outbox and
export files), on each store backend."""

from __future__ import annotations

import csv
import json
from typing import Any

from der_gateway.domain.identifiers import new_mrid
from der_gateway.sep import codec, model
from der_gateway.services import participation

from .test_enrollment import PEN, T0, Site, add_sync_endpoint, open_site, registration, settings
from .test_utility_journey import OperationalSystem, eventually

DAY = 86_400


def power(watts: int, multiplier: int = 0) -> model.ActivePower:
    return model.ActivePower(multiplier=multiplier, value=watts)


async def register(site: Site, device: str, serial: str, set_max_w: int, service_point: str = "SP-1") -> int:
    body = registration(site.lfdi(device), serial=serial, servicePoint=service_point)
    body["device"]["settings"] = settings(set_max_w)
    answer = await site.aggregator.ok("POST", "/registerDERDevice", body, 201)
    await site.process(answer["serviceTask"]["id"])
    return answer["endDevice"]["id"]


async def put_status(site: Site, edev: int, connect: str, soc: int | None = None, at: int = T0) -> None:
    status = model.DERStatus(genConnectStatus=model.ConnectStatusType(dateTime=at, value=connect), readingTime=at,
                             stateOfChargeStatus=None if soc is None else model.StateOfChargeStatusType(
                                 dateTime=at, value=soc))
    reply = await site.harness.client("aggregator").put(f"/edev/{edev}/der/1/ders", codec.encode(status))
    assert reply.status in (201, 204), reply.reason


async def respond(site: Site, device: str, subject: str, status: int) -> None:
    body = model.DERControlResponse(createdDateTime=site.harness.clock.now(), endDeviceLFDI=site.lfdi(device),
                                    status=status, subject=subject)
    reply = await site.harness.client("aggregator").post("/rsps/1/rsp", codec.encode(body))
    assert reply.status == 201, reply.reason


def telemetry(lfdi: str, days: list[tuple[int, int]]) -> bytes:
    """The device's active power (W, x 10^2) as 5-minute readings: one MirrorReadingSet per (start, hectowatts)
    hour."""
    mrid = new_mrid(PEN)
    sets = [model.MirrorReadingSet(
        mRID=new_mrid(PEN), timePeriod=model.DateTimeInterval(duration=3600, start=start),
        Reading=[model.Reading(value=value, timePeriod=model.DateTimeInterval(duration=300, start=start + 300 * i))
                 for i in range(12)]) for start, value in days]
    return codec.encode(model.MirrorUsagePoint(
        mRID=new_mrid(PEN), roleFlags="0009", serviceCategoryKind=0, status=1, deviceLFDI=lfdi,
        MirrorMeterReading=[model.MirrorMeterReading(
            mRID=mrid, description="W", MirrorReadingSet=sets,
            ReadingType=model.ReadingType(commodity=1, dataQualifier=2, intervalLength=300, kind=37,
                                          powerOfTenMultiplier=2, uom=38))]))


async def three_devices(site: Site) -> dict[str, int]:
    """device1 and device2 at SP-1, device3 at SP-3; an event they answered in three ways, now over."""
    customer = await site.admin.ok("GET", f"/customers/{site.ids['customer']}")
    await site.admin.ok("POST", f"/accounts/{customer['accounts'][0]['id']}/service-points", {"externalId": "SP-3"},
                        201)
    ids = {"device1": await register(site, "device1", "PW-0001", 4000),
           "device2": await register(site, "device2", "PW-0002", 2000),
           "device3": await register(site, "device3", "PW-0003", 4000, "SP-3")}
    await put_status(site, ids["device1"], "07", soc=5000)  # connected, available, operating; 50.00 %
    availability = model.DERAvailability(readingTime=T0, statWAvail=power(3000))
    reply = await site.harness.client("aggregator").put(f"/edev/{ids['device1']}/der/1/dera",
                                                          codec.encode(availability))
    assert reply.status in (201, 204), reply.reason
    await put_status(site, ids["device2"], "00")  # disconnected
    await put_status(site, ids["device3"], "01")
    event = await site.admin.ok("POST", f"/programs/{site.ids['program']}/controls", {
        "interval": {"start": T0 + 60, "duration": 600}, "DERControlBase": {"opModMaxLimW": 5000}}, 201)
    site.harness.clock.advance(700)  # the event is over
    await respond(site, "device1", event["mRID"], 3)  # completed
    await respond(site, "device3", event["mRID"], 4)  # opted out; device2 never answers
    site.harness.clock.advance(2900)  # an hour after T0
    return ids


async def test_scores_are_computed_on_demand_stored_exported_and_sent_to_operations(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        await add_sync_endpoint(site.store)
        ids = await three_devices(site)
        program = site.ids["program"]
        assert await site.admin.ok("GET", f"/programs/{program}/scores") == {
            "programId": program, "computed": None, "items": []}

        run = await site.admin.ok("POST", f"/programs/{program}/scores")
        now = T0 + 3600
        assert run["computed"] == now and run["syncMessagesQueued"] == 1
        by_device = {item["endDeviceId"]: item for item in run["items"]}
        # by hand (docs/participation.md; weights 25/25/20/15/15, reference 10 kW):
        # device1 capacity 0.4, availability 3000/4000, completed its event, heard from 2900 s ago:
        #   25*0.4 + 25*0.75 + 20 + 15 + 15 = 78.75
        # device2 capacity 0.2, disconnected (0), silent: participation 0, opt-outs 1, communication (1 + 0)/2
        #   25*0.2 + 15 + 7.5 = 27.5, unavailable
        # device3 capacity 0.4, connected (1), opted out: participation 0, opt-outs 0, communication 1
        #   10 + 25 + 15 = 50
        assert [(i["endDeviceId"], i["score"], i["available"]) for i in run["items"]] == [
            (ids["device1"], 78.75, True), (ids["device3"], 50.0, True), (ids["device2"], 27.5, False)]
        assert by_device[ids["device2"]]["reasons"] == ["DERStatus: disconnected"]
        assert by_device[ids["device1"]]["components"] == {
            "capacity": 0.4, "availability": 0.75, "participation": 1.0, "opt_outs": 1.0, "communication": 1.0}
        assert by_device[ids["device3"]]["events"] == {
            "counted": 1, "participated": 0, "declined": 1, "acknowledged": 0, "silent": 0}
        assert by_device[ids["device3"]]["servicePoint"] == "SP-3"
        assert by_device[ids["device1"]]["lFDI"] == site.lfdi("device1").upper()

        # stored: the same answer later, and per device
        stored = await site.admin.ok("GET", f"/programs/{program}/scores")
        assert stored == {"programId": program, "computed": now, "items": run["items"]}
        assert await site.admin.ok("GET", f"/programs/{program}/scores/{ids['device3']}") == by_device[ids["device3"]]

        # the files for operations
        exports = site.harness.config.data_dir / "exports" / "scores"
        document = json.loads((exports / f"program-{program}.json").read_text())
        assert document == {**stored, "programMRID": site.ids["program_mrid"]}
        rows = list(csv.DictReader((exports / f"program-{program}.csv").read_text().splitlines()))
        assert [(int(r["endDeviceId"]), float(r["score"]), r["available"], r["reasons"]) for r in rows] == [
            (ids["device1"], 78.75, "true", ""), (ids["device3"], 50.0, "true", ""),
            (ids["device2"], 27.5, "false", "DERStatus: disconnected")]
        assert not [p for p in exports.iterdir() if p.name.startswith(".")]  # no temporary file left

        # the message to operations, in the sync outbox, acknowledged like an enrollment's
        page = await site.admin.ok("GET", "/sync/messages?kind=device-scores")
        (message,) = page["items"]
        assert message["state"] == "queued" and message["enrollmentId"] is None
        assert message["body"]["programMRID"] == site.ids["program_mrid"]
        assert [(d["endDeviceId"], d["score"], d["available"], d["reasons"]) for d in message["body"]["devices"]] \
            == [(i["endDeviceId"], i["score"], i["available"], i["reasons"]) for i in run["items"]]
        acked = await site.admin.ok("POST", f"/sync/messages/{message['id']}/ack", {"ok": True})
        assert acked["state"] == "acknowledged"

        # a device that reconnects and answers scores again; the run replaces the last one
        await put_status(site, ids["device2"], "07", at=now)
        site.harness.clock.advance(60)
        again = await site.admin.ok("POST", f"/programs/{program}/scores")
        item = {i["endDeviceId"]: i for i in again["items"]}[ids["device2"]]
        assert item["available"] and item["reasons"] == [] and item["components"]["availability"] == 1.0
        assert len((await site.admin.ok("GET", f"/programs/{program}/scores"))["items"]) == 3
        assert (await site.admin.ok("GET", "/sync/messages?kind=device-scores"))["all"] == 2
    finally:
        await site.harness.stop()


async def test_score_requests_that_name_nothing_are_refused(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        edev = await register(site, "device1", "PW-0001", 4000)
        before = site.harness.snapshot()
        for method, path, status in (("GET", "/programs/999/scores", 404), ("POST", "/programs/999/scores", 404),
                                     ("GET", f"/programs/{site.ids['program']}/scores/{edev}", 404),
                                     ("GET", f"/programs/999/scores/{edev}", 404),
                                     ("POST", "/programs/999/forecast", 404)):
            answer = await site.admin.call(method, path, {} if path.endswith("forecast") else None)
            assert answer.status == status and answer.body["errors"], (method, path, answer.body)
        assert site.harness.snapshot() == before
    finally:
        await site.harness.stop()


async def test_the_forecast_per_device_service_point_and_in_all(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        ids = await three_devices(site)
        program = site.ids["program"]
        # device1 charged on the two like days before Monday's window: 1000 W on Friday, 2000 W on Thursday
        # (T0 is Friday 08:00 UTC); 5000 W the hour after Friday's window, which must not count
        monday = T0 + 3 * DAY
        reply = await site.harness.client("aggregator").post("/mup", telemetry(site.lfdi("device1").upper(), [
            (T0, -10), (T0 - DAY, -20), (T0 + 3600, 50)]))
        assert reply.status == 201, reply.reason
        base = {"opModFixedW": 5000}  # discharge at 50.00 % of setMaxW
        answer = await site.admin.ok("POST", f"/programs/{program}/forecast", {
            "interval": {"start": monday, "duration": 3600}, "DERControlBase": base})
        # device1: baseline -1500 W; 50 % of 4000 W = 2000 W (under statWAvail 3000 W and what 50 % of 13.5 kWh
        #   gives over an hour): 3.5 kW less load
        # device2: no telemetry (idle): 50 % of 2000 W = 1 kW; device3: 50 % of 4000 W = 2 kW
        devices = {d["endDeviceId"]: d for d in answer["endDevices"]}
        assert devices[ids["device1"]] == {
            "endDeviceId": ids["device1"], "lFDI": site.lfdi("device1").upper(), "servicePointId": site.ids["sp"],
            "servicePoint": "SP-1", "kW": 3.5, "baselineKW": -1.5, "eventKW": 2.0, "likeDays": 2,
            "basis": "history"}
        assert (devices[ids["device2"]]["kW"], devices[ids["device2"]]["basis"]) == (1.0, "no history")
        assert devices[ids["device3"]]["kW"] == 2.0
        assert answer["totalKW"] == 6.5 and answer["interval"] == {"start": monday, "duration": 3600}
        assert [(sp["servicePoint"], sp["kW"], sorted(sp["endDevices"])) for sp in answer["servicePoints"]] == [
            ("SP-1", 4.5, sorted([ids["device1"], ids["device2"]])), ("SP-3", 2.0, [ids["device3"]])]

        # what reservation will use: the forecast kW of a set of devices, and the standings at an instant
        config = site.harness.config
        assert await participation.forecast_kw(site.store, config, [ids["device1"], ids["device3"]], monday, 3600,
                                               base) == 5.5
        standings = await participation.standings(site.store, config, program, site.harness.clock.now())
        assert [(r.end_device_id, r.score, r.available) for r in standings] == [
            (ids["device1"], 78.75, True), (ids["device3"], 50.0, True), (ids["device2"], 27.5, False)]
        assert (await site.admin.ok("GET", f"/programs/{program}/scores"))["computed"] is None  # nothing stored

        # the devices given only: disconnecting device1 stops its 1.5 kW of charging
        disconnect = await site.admin.ok("POST", f"/programs/{program}/forecast", {
            "interval": {"start": monday, "duration": 3600}, "DERControlBase": {"opModConnect": False},
            "endDevices": [ids["device1"]]})
        assert disconnect["totalKW"] == 1.5 and [d["endDeviceId"] for d in disconnect["endDevices"]] == [ids["device1"]]

        # bad input: every problem named, 400, nothing stored
        before = site.harness.snapshot()
        window = {"start": monday, "duration": 3600}
        for body, fields in (
                ({}, {"interval", "DERControlBase"}),
                ({"interval": window, "DERControlBase": base, "extra": 1}, {"extra"}),
                ({"interval": window, "DERControlBase": {}}, {"DERControlBase"}),
                ({"interval": {"start": monday, "duration": 0}, "DERControlBase": base}, {"interval.duration"}),
                ({"interval": {"start": monday, "duration": 86_401}, "DERControlBase": base}, {"interval.duration"}),
                ({"interval": window, "DERControlBase": {"opModMaxLimW": 70000}}, {"DERControlBase.opModMaxLimW"}),
                ({"interval": window, "DERControlBase": {"opModFixedW": "half"}}, {"DERControlBase.opModFixedW"}),
                ({"interval": window, "DERControlBase": base, "endDevices": [0, "x"]},
                 {"endDevices[0]", "endDevices[1]"}),
                ({"interval": window, "DERControlBase": base, "endDevices": 5}, {"endDevices"}),
                ({"interval": window, "DERControlBase": base, "endDevices": [ids["device1"], 999]},
                 {"endDevices[1]"})):
            answer = await site.admin.call("POST", f"/programs/{program}/forecast", body)
            assert answer.status == 400, (body, answer.body)
            assert sorted(e.get("field") for e in answer.body["errors"]) == sorted(fields), (body, answer.body)
        assert site.harness.snapshot() == before
    finally:
        await site.harness.stop()


async def test_the_leader_scores_active_programs_periodically_and_operations_acknowledge(make_harness, identities):
    derms = OperationalSystem()
    await derms.start()
    site = await open_site(make_harness, identities, background=True, service_task_interval=0.1, score_interval=0.2,
                           sync_endpoints={"derms": derms.url})
    try:
        answer = await site.aggregator.ok("POST", "/registerDERDevice", registration(site.lfdi("device1")), 201)
        edev = answer["endDevice"]["id"]

        async def scored():
            scores = await site.admin.ok("GET", f"/programs/{site.ids['program']}/scores")
            return scores if scores["items"] else None
        scores = await eventually(scored)
        (item,) = scores["items"]
        assert item["endDeviceId"] == edev and 0 <= item["score"] <= 100

        async def acknowledged():
            page = await site.admin.ok("GET", "/sync/messages?kind=device-scores&state=acknowledged")
            return page["items"] or None
        first = (await eventually(acknowledged))[0]
        assert [m for m in derms.messages if m["kind"] == "device-scores"][0]["messageId"] == first["id"]
        assert first["body"]["devices"][0]["endDeviceId"] == edev
    finally:
        await site.harness.stop()
        await derms.stop()
