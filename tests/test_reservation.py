"""Reservation on the real server: a stage with a kW target calls the best-scoring available devices its program
may call until their forecast meets the target, keeps why it called each device or not, tells operations, and
reaches only the reserved devices over 2030.5 (through a DERProgram and a group of its own); on each backend."""

from __future__ import annotations

from der_gateway.sep import codec, model

from .test_enrollment import T0, Site, add_sync_endpoint, open_site
from .test_participation_api import DAY, respond, telemetry, three_devices

MONDAY = T0 + 3 * DAY
BASE = {"opModFixedW": 5000}  # discharge at 50.00 % of setMaxW


async def controls_seen_by(site: Site, device: str, edev_id: int) -> set[str]:
    """The mRIDs of the DERControls the device finds through its FunctionSetAssignments."""
    client = site.harness.client(device)
    fsas = codec.decode((await client.get(f"/edev/{edev_id}/fsa?l=100")).element, model.FunctionSetAssignmentsList)
    seen = set()
    for fsa in fsas.FunctionSetAssignments:
        programs = codec.decode((await client.get(fsa.DERProgramListLink.href + "?l=100")).element,
                                model.DERProgramList)
        for program in programs.DERProgram:
            reply = await client.get(program.DERControlListLink.href + "?l=100")
            assert reply.status == 200, reply.reason
            seen |= {c.mRID for c in codec.decode(reply.element, model.DERControlList).DERControl}
    return seen


def stage(program: int, start: int, target_kw: float | None) -> dict:
    body = {"programId": program, "interval": {"start": start, "duration": 3600}, "DERControlBase": BASE}
    return body if target_kw is None else {**body, "targetKW": target_kw}


async def test_a_stage_with_a_target_reserves_the_best_devices_and_only_they_receive_it(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        await add_sync_endpoint(site.store)
        ids = await three_devices(site)  # standings: device1 78.75, device3 50, device2 27.5 and disconnected
        program = site.ids["program"]
        # device1 charged at 1-2 kW on the like days before Monday 08:00 (its forecast there: 3.5 kW less load)
        reply = await site.harness.client("aggregator").post("/mup", telemetry(site.lfdi("device1").upper(), [
            (T0, -10), (T0 - DAY, -20)]))
        assert reply.status == 201, reply.reason
        created = await site.admin.ok("POST", "/utility-events", {"description": "winter peak", "stages": [
            stage(program, MONDAY, 3), stage(program, MONDAY + 7200, 4), stage(program, MONDAY + 14400, 50)]}, 201)
        one, two, three = created["stages"]
        path = f"/utility-events/{created['id']}"

        # stage 1, 3 kW: device1 alone (3.5 kW) meets it
        first = await site.admin.ok("GET", f"{path}/stages/1/reservation")
        assert (first["targetKW"], first["forecastKW"], first["met"], first["reservedEndDevices"]) == (
            3.0, 3.5, True, 1)
        assert [(d["endDeviceId"], d["reserved"], d["reason"]) for d in first["devices"]] == [
            (ids["device1"], True, "score 78.75, forecast 3500 W (3500 of 3000 W)"),
            (ids["device3"], False, "not needed: the target of 3000 W was met"),
            (ids["device2"], False, "unavailable: DERStatus: disconnected")]
        assert first["devices"][0] == {"endDeviceId": ids["device1"], "endDeviceLFDI": site.lfdi("device1").upper(),
                                       "reserved": True, "reason": first["devices"][0]["reason"], "score": 78.75,
                                       "available": True, "forecastKW": 3.5}
        # stage 2, 4 kW at 10:00 (no history then: 2 kW each): device1 then device3
        second = await site.admin.ok("GET", f"{path}/stages/2/reservation")
        assert [d["endDeviceId"] for d in second["devices"] if d["reserved"]] == [ids["device1"], ids["device3"]]
        assert (second["forecastKW"], second["met"]) == (4.0, True)
        # stage 3, 50 kW: every available device, and operations are told the target is not met
        third = await site.admin.ok("GET", f"{path}/stages/3/reservation")
        assert (third["reservedEndDevices"], third["forecastKW"], third["met"]) == (2, 4.0, False)
        assert (one["calledEndDevices"], two["calledEndDevices"], three["calledEndDevices"]) == (1, 2, 2)

        # each stage's DERControl is in a DERProgram of its own, with the program's primacy, that only the
        # reserved devices find through their FunctionSetAssignments; the program's own list does not hold it
        assert len({one["dispatchProgramId"], two["dispatchProgramId"], three["dispatchProgramId"]}) == 3
        assert one["controlHref"] == f"/derp/{one['dispatchProgramId']}/derc/{one['controlId']}"
        parent = await site.admin.ok("GET", f"/programs/{program}")
        dispatch = await site.admin.ok("GET", f"/programs/{one['dispatchProgramId']}")
        assert dispatch["primacy"] == parent["primacy"]
        assert await controls_seen_by(site, "device1", ids["device1"]) == {one["mRID"], two["mRID"], three["mRID"]}
        assert await controls_seen_by(site, "device3", ids["device3"]) == {two["mRID"], three["mRID"]}
        assert await controls_seen_by(site, "device2", ids["device2"]) == set()
        reply = await site.harness.client("device1").get(f"/derp/{program}/derc?l=100")
        assert {c.mRID for c in codec.decode(reply.element, model.DERControlList).DERControl} & {
            one["mRID"], two["mRID"], three["mRID"]} == set()
        history = await site.admin.ok("GET", f"/groups/{one['dispatchGroupId']}/history")
        assert [(h["endDeviceId"], h["change"], h["actor"]) for h in history["items"]] == [
            (ids["device1"], "joined", "reservation")]

        # the reservation goes to operations through the sync outbox, one message per stage
        messages = (await site.admin.ok("GET", "/sync/messages?kind=stage-reservation"))["items"]
        assert sorted((m["body"]["stagePosition"], m["body"]["reservedEndDevices"], m["body"]["met"])
                      for m in messages) == [(1, 1, True), (2, 2, True), (3, 2, False)]
        assert messages[0]["body"]["eventMRID"] == created["mRID"]
        assert messages[0]["body"]["devices"] == first["devices"]

        # the participation record holds the reserved devices only, and so do the outcomes
        site.harness.clock.set(MONDAY + 60)
        await respond(site, "device1", one["mRID"], 2)
        site.harness.clock.set(MONDAY + 3600 + 60)
        await site.harness.server.background.scheduler.run_once()
        outcomes = await site.admin.ok("GET", f"{path}/stages/1/outcomes")
        assert [(d["endDeviceId"], d["outcome"]) for d in outcomes["devices"]] == [(ids["device1"], "participated")]

        # archived once every stage has ended: the stages' groups go (the devices' FunctionSetAssignments no
        # longer lead to them), the record stays
        site.harness.clock.set(MONDAY + 5 * 3600)
        await site.harness.server.background.scheduler.run_once()
        fsas_before = (await site.harness.client("device1").get(f"/edev/{ids['device1']}/fsa")).element
        await site.admin.ok("POST", f"{path}/archive")
        assert await controls_seen_by(site, "device1", ids["device1"]) == set()
        assert await controls_seen_by(site, "device3", ids["device3"]) == set()
        fsas = codec.decode((await site.harness.client("device1").get(f"/edev/{ids['device1']}/fsa")).element,
                            model.FunctionSetAssignmentsList)
        assert fsas.all == codec.decode(fsas_before, model.FunctionSetAssignmentsList).all - 3
        assert (await site.admin.call("GET", f"/groups/{one['dispatchGroupId']}")).status == 404
        assert await site.admin.ok("GET", f"{path}/stages/1/reservation") == first
        assert await site.admin.ok("GET", f"{path}/stages/1/outcomes") == outcomes
        archived = await site.admin.ok("GET", path)
        assert archived["stages"][0]["dispatchGroupId"] is None
        assert archived["stages"][0]["dispatchProgramId"] == one["dispatchProgramId"]
    finally:
        await site.harness.stop()


async def test_a_stage_without_a_target_calls_every_eligible_device_in_its_program(make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        ids = await three_devices(site)
        program = site.ids["program"]
        created = await site.admin.ok("POST", "/utility-events", {"stages": [stage(program, MONDAY, None)]}, 201)
        (one,) = created["stages"]
        assert one["dispatchProgramId"] is None and one["calledEndDevices"] == 3
        reservation = await site.admin.ok("GET", f"/utility-events/{created['id']}/stages/1/reservation")
        assert reservation["met"] and reservation["targetKW"] is None
        assert [(d["endDeviceId"], d["reserved"], d["reason"]) for d in reservation["devices"]] == [
            (ids["device1"], True, "no target: every eligible device is called"),
            (ids["device3"], True, "no target: every eligible device is called"),
            (ids["device2"], True, "no target: every eligible device is called (unavailable: DERStatus: "
                                   "disconnected)")]
        for device in ("device1", "device2", "device3"):
            assert one["mRID"] in await controls_seen_by(site, device, ids[device])
    finally:
        await site.harness.stop()


async def test_cancelling_a_reserved_stage_reaches_its_devices_and_scores_count_only_who_was_called(
        make_harness, identities):
    site = await open_site(make_harness, identities)
    try:
        ids = await three_devices(site)
        program = site.ids["program"]
        # no telemetry: 2 kW from device1 (the best score) meets each 2 kW target
        ran = await site.admin.ok("POST", "/utility-events", {"stages": [stage(program, MONDAY, 2)]}, 201)
        called = await site.admin.ok("POST", "/utility-events", {"stages": [stage(program, MONDAY + 7200, 2)]}, 201)
        (one,) = called["stages"]
        cancelled = await site.admin.ok("POST", f"/utility-events/{called['id']}/cancel")
        assert cancelled["stages"][0]["status"] == "CANCELED"
        reply = await site.harness.client("device1").get(f"/derp/{one['dispatchProgramId']}/derc/{one['controlId']}")
        assert codec.decode(reply.element, model.DERControl).EventStatus.currentStatus == 2  # cancelled

        # the stage that ran called device1 alone: its silence counts against it, device3 was never asked
        site.harness.clock.set(MONDAY + 3 * 3600)
        await site.harness.server.background.scheduler.run_once()
        outcomes = await site.admin.ok("GET", f"/utility-events/{ran['id']}/stages/1/outcomes")
        assert [(d["endDeviceId"], d["outcome"]) for d in outcomes["devices"]] == [(ids["device1"], "no response")]
        scores = {s["endDeviceId"]: s for s in (await site.admin.ok("POST", f"/programs/{program}/scores"))["items"]}
        assert scores[ids["device1"]]["events"]["counted"] == 2 and scores[ids["device1"]]["events"]["silent"] == 1
        assert scores[ids["device3"]]["events"]["counted"] == 1  # the event of three_devices only
    finally:
        await site.harness.stop()
