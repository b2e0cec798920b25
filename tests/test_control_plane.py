"""Programs reach devices through their FSAs; events move through their lifecycle on a controlled clock."""

from __future__ import annotations

import pytest

from der_gateway.clock import ManualClock
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model
from der_gateway.services import der_controls

from . import documents

PEN = Pen(40732)

T0 = 1_800_000_000


def doc(reply, cls):
    assert reply.status == 200, (reply.status, reply.reason)
    return codec.decode(reply.element, cls)


def control(start: int, duration: int, **base) -> model.DERControl:
    return model.DERControl(
        mRID="", creationTime=0, interval=model.DateTimeInterval(start=start, duration=duration),
        EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
        DERControlBase=model.DERControlBase(**(base or {"opModMaxLimW": 5000})), responseRequired="03")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
async def plant(make_harness, clock, identities):
    """A server with device1 and device2 registered, a group holding both, and a program assigned to it."""
    h = make_harness(clock=clock, notification_allow=("http://127.0.0.1",),
                     notification_allow_addresses=("127.0.0.1/32",))
    await h.start()
    store = h.store
    ids = {}
    for name in ("device1", "device2"):
        reply = await h.client(name).post("/edev", documents.end_device(identities[name].lfdi))
        ids[name] = int(reply.headers["Location"].rsplit("/", 1)[1])
    group = await store.create_group(new_mrid(PEN), "feeder 7")
    await store.set_membership(group, list(ids.values()), True)
    program = await store.create_program(new_mrid(PEN), "curtailment", 1)
    await store.set_group_program(group, program, True)
    yield h, ids, group, program
    await h.stop()


async def create(h, program, ctl) -> model.DERControl:
    record = await der_controls.create_event(h.store, h.clock, PEN, program, ctl)
    await h.server.background.settle()
    return record


async def test_programs_reach_members_through_fsas(plant):
    h, ids, group, program = plant
    device = h.client("device1")
    edev = doc(await device.get(f"/edev/{ids['device1']}"), model.EndDevice)
    fsas = doc(await device.get(edev.FunctionSetAssignmentsListLink.href + "?l=10"), model.FunctionSetAssignmentsList)
    assert fsas.all == 1 and fsas.FunctionSetAssignments[0].href == f"/fsa/{group}"
    programs = doc(await device.get(fsas.FunctionSetAssignments[0].DERProgramListLink.href + "?l=10"),
                   model.DERProgramList)
    assert [p.primacy for p in programs.DERProgram] == [1]
    derp = programs.DERProgram[0]
    assert derp.DERControlListLink.href == f"/derp/{program}/derc"
    assert doc(await device.get(derp.href), model.DERProgram).description == "curtailment"

    # an EndDevice outside the group sees none of it
    await h.store.set_membership(group, [ids["device2"]], False)
    other = h.client("device2")
    assert doc(await other.get(f"/edev/{ids['device2']}/fsa"), model.FunctionSetAssignmentsList).all == 0
    assert (await other.get(f"/fsa/{group}")).status == 404
    assert (await other.get(f"/derp/{program}/derc")).status == 404
    await h.store.set_membership(group, [ids["device2"]], True)
    assert doc(await other.get(f"/edev/{ids['device2']}/fsa"), model.FunctionSetAssignmentsList).all == 1


async def test_one_control_per_program_for_every_member(plant):
    h, ids, group, program = plant
    await create(h, program, control(T0 + 60, 300))
    seen = []
    for name in ("device1", "device2"):
        controls = doc(await h.client(name).get(f"/derp/{program}/derc?l=10"), model.DERControlList)
        seen.append([(c.href, c.mRID) for c in controls.DERControl])
    assert seen[0] == seen[1] and len(seen[0]) == 1
    assert seen[0][0][1].endswith("00009F1C")  # PEN 40732


async def test_lifecycle_on_a_controlled_clock(plant, clock):
    h, ids, group, program = plant
    device = h.client("device1")
    await create(h, program, control(T0 + 60, 300))
    listed = doc(await device.get(f"/derp/{program}/derc?l=10"), model.DERControlList)
    event = listed.DERControl[0]
    assert (event.EventStatus.currentStatus, event.EventStatus.dateTime) == (0, T0)
    assert event.creationTime == T0 and event.replyTo == "/rsps/1/rsp" and event.responseRequired == "03"
    assert doc(await device.get(f"/derp/{program}/actderc"), model.DERControlList).all == 0

    clock.set(T0 + 60)
    await h.server.background.settle()
    event = doc(await device.get(event.href), model.DERControl)
    assert (event.EventStatus.currentStatus, event.EventStatus.dateTime) == (1, T0 + 60)
    active = doc(await device.get(f"/derp/{program}/actderc?l=10"), model.DERControlList)
    assert [c.href for c in active.DERControl] == [event.href]
    stored = await h.store.control(int(event.href.rsplit("/", 1)[1]))
    assert (stored.status, stored.status_time) == (1, T0 + 60)

    clock.set(T0 + 359)
    assert doc(await device.get(f"/derp/{program}/actderc"), model.DERControlList).all == 1
    clock.set(T0 + 360)
    await h.server.background.settle()
    assert doc(await device.get(f"/derp/{program}/actderc"), model.DERControlList).all == 0
    assert doc(await device.get(f"/derp/{program}/derc"), model.DERControlList).all == 0


async def test_an_event_starting_now_begins_active(plant):
    h, ids, group, program = plant
    await create(h, program, control(T0 - 10, 300))
    event = doc(await h.client("device1").get(f"/derp/{program}/derc"), model.DERControlList).DERControl[0]
    assert (event.EventStatus.currentStatus, event.EventStatus.dateTime) == (1, T0)


async def test_supersession_and_partial_overlap(plant, clock):
    h, ids, group, program = plant
    device = h.client("device1")
    old = await create(h, program, control(T0 + 100, 300))
    clock.advance(10)
    partial = await create(h, program, control(T0 + 150, 300, opModMaxLimW=4000, opModFixedVar=None,
                                               opModConnect=True))
    clock.advance(10)
    new = await create(h, program, control(T0 + 200, 300))  # same modes as old, overlapping
    events = {c.mRID: c for c in doc(await device.get(f"/derp/{program}/derc?l=10"),
                                     model.DERControlList).DERControl}
    flagged = events[old.mRID].EventStatus
    assert flagged.currentStatus == 0 and flagged.potentiallySuperseded and flagged.potentiallySupersededTime == T0 + 10

    clock.set(T0 + 200)
    await h.server.background.settle()
    events = {c.mRID: c for c in doc(await device.get(f"/derp/{program}/derc?l=10"),
                                     model.DERControlList).DERControl}
    assert (events[old.mRID].EventStatus.currentStatus, events[old.mRID].EventStatus.dateTime) == (4, T0 + 200)
    assert events[new.mRID].EventStatus.currentStatus == 1
    assert events[partial.mRID].EventStatus.currentStatus == 1
    active = {c.mRID for c in doc(await device.get(f"/derp/{program}/actderc?l=10"), model.DERControlList).DERControl}
    assert active == {new.mRID, partial.mRID}


async def test_cancelling(plant, clock):
    h, ids, group, program = plant
    device = h.client("device1")
    plain = await create(h, program, control(T0 + 100, 300))
    randomized_control = control(T0 + 100, 300, opModConnect=False)
    randomized_control.randomizeStart = 60
    randomized = await create(h, program, randomized_control)
    clock.advance(5)
    await der_controls.cancel_event(h.store, clock, plain.id)
    await der_controls.cancel_event(h.store, clock, randomized.id)
    with pytest.raises(der_controls.CannotCancel):
        await der_controls.cancel_event(h.store, clock, plain.id)
    clock.set(T0 + 150)
    await h.server.background.settle()
    events = {c.mRID: c.EventStatus for c in doc(await device.get(f"/derp/{program}/derc?l=10"),
                                                 model.DERControlList).DERControl}
    assert (events[plain.mRID].currentStatus, events[plain.mRID].dateTime) == (2, T0 + 5)
    assert events[randomized.mRID].currentStatus == 3
    assert doc(await device.get(f"/derp/{program}/actderc"), model.DERControlList).all == 0


async def test_restart_in_the_middle_of_an_event(plant, clock):
    h, ids, group, program = plant
    event = await create(h, program, control(T0 + 60, 300))
    clock.set(T0 + 120)
    await h.server.background.settle()
    await h.restart()
    device = h.client("device1")
    got = doc(await device.get(f"/derp/{program}/derc/{event.id}"), model.DERControl)
    assert (got.EventStatus.currentStatus, got.EventStatus.dateTime) == (1, T0 + 60)
    clock.set(T0 + 400)  # the end passed while nobody looked
    await h.server.background.settle()
    assert doc(await device.get(f"/derp/{program}/actderc"), model.DERControlList).all == 0
    stored = await h.store.control(event.id)
    assert (stored.status, stored.status_time) == (1, T0 + 60)


async def test_default_control_and_curves(plant):
    h, ids, group, program = plant
    device = h.client("device1")
    assert (await device.get(f"/derp/{program}/dderc")).status == 404
    await h.store.set_default_control(program, new_mrid(PEN), codec.to_data(model.DefaultDERControl(
        mRID=new_mrid(PEN), DERControlBase=model.DERControlBase(opModMaxLimW=10000), setGradW=500)))
    curve = model.DERCurve(mRID=new_mrid(PEN), creationTime=T0, curveType=11, xMultiplier=0, yMultiplier=0,
                           yRefType=3, CurveData=[model.CurveData(xvalue=9200, yvalue=3000),
                                                  model.CurveData(xvalue=10700, yvalue=-3000)])
    curve_id = await h.store.add_curve(program, curve.mRID, codec.to_data(curve))
    derp = doc(await device.get(f"/derp/{program}"), model.DERProgram)
    dderc = doc(await device.get(derp.DefaultDERControlLink.href), model.DefaultDERControl)
    assert dderc.DERControlBase.opModMaxLimW == 10000 and dderc.setGradW == 500
    curves = doc(await device.get(derp.DERCurveListLink.href + "?l=5"), model.DERCurveList)
    assert curves.all == 1 and curves.DERCurve[0].href == f"/derp/{program}/dc/{curve_id}"
    assert doc(await device.get(curves.DERCurve[0].href), model.DERCurve).CurveData[1].yvalue == -3000


async def test_responses_are_checked_and_kept(plant, identities):
    h, ids, group, program = plant
    event = await create(h, program, control(T0 + 60, 300))
    device = h.client("device1")

    def response(status, lfdi=identities["device1"].lfdi, subject=event.mRID):
        return codec.encode(model.DERControlResponse(createdDateTime=T0 + 1, endDeviceLFDI=lfdi,
                                                     status=status, subject=subject))

    for status in (1, 2, 3):
        reply = await device.post("/rsps/1/rsp", response(status))
        assert reply.status == 201 and reply.headers["Location"].startswith("/rsps/1/rsp/")
    before = h.snapshot()
    assert (await device.post("/rsps/1/rsp", response(99))).status == 400
    assert (await device.post("/rsps/1/rsp", response(0))).status == 400
    assert (await device.post("/rsps/1/rsp", response(1, subject="AB" * 16))).status == 404
    assert (await device.post("/rsps/1/rsp", response(1, lfdi=identities["device2"].lfdi))).status == 403
    outsider = h.client("device3")
    await outsider.post("/edev", documents.end_device(identities["device3"].lfdi))
    before = h.snapshot()
    assert (await outsider.post("/rsps/1/rsp", response(1, lfdi=identities["device3"].lfdi))).status == 404
    assert h.snapshot() == before

    stored = await h.store.responses(event.id)
    assert [r.status for r in stored] == [1, 2, 3]
    listed = doc(await device.get("/rsps/1/rsp?l=10"), model.ResponseList)
    assert listed.all == 3
    assert (await h.client("device2").get(listed.Response[0].href)).status == 404
    assert doc(await device.get("/rsps?l=5"), model.ResponseSetList).ResponseSet[0].ResponseListLink.href == "/rsps/1/rsp"


async def test_poll_and_post_rates_per_resource(plant):
    h, ids, group, program = plant
    device = h.client("device1")
    assert doc(await device.get(f"/fsa/{group}/derp"), model.DERProgramList).pollRate == 900
    await h.store.set_rate("derp", 60, None)
    await h.store.set_rate("dcap", 30, None)
    await h.store.set_rate("edev", None, 120)
    assert doc(await device.get(f"/fsa/{group}/derp"), model.DERProgramList).pollRate == 60
    assert doc(await device.get("/dcap"), model.DeviceCapability).pollRate == 30
    assert doc(await device.get(f"/edev/{ids['device1']}"), model.EndDevice).postRate == 120


async def test_history_is_not_read_to_work_out_current_states(plant, clock):
    h, ids, group, program = plant
    past = [await create(h, program, control(T0 - 100_000 + i * 400, 300)) for i in range(20)]
    clock.set(T0 + 1000)
    overlapping = await create(h, program, control(T0 + 900, 300))  # began before now
    upcoming = await create(h, program, control(T0 + 1100, 300))
    window = await der_controls.live_controls(h.store, program, clock.now())
    assert {r.id for r in window} == {overlapping.id, upcoming.id}
    assert not {r.id for r in window} & {r.id for r in past}
    # the window still holds what a live event's state depends on: an older overlapping event
    clock.set(T0 + 1150)
    newer = await create(h, program, control(T0 + 1150, 100))
    listed = doc(await h.client("device1").get(f"/derp/{program}/derc?l=50"), model.DERControlList)
    states = {c.href.rsplit("/", 1)[1]: c.EventStatus.currentStatus for c in listed.DERControl}
    assert states[str(upcoming.id)] == 4 and states[str(newer.id)] == 1


async def test_time_follows_the_server_clock(plant, clock):
    h, ids, group, program = plant
    clock.set(T0 + 12345)
    assert doc(await h.client("device1").get("/tm"), model.Time).currentTime == T0 + 12345
