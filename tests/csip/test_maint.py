"""CSIP conformance, Maintenance of the Model (MAINT): the server changes the aggregator's world and says so."""

from __future__ import annotations

import pytest

from der_gateway.sep import model

from .conftest import T0
from .support import FIGURE_15, ancestry, by_priority, figure_15, get, get_all, lfdi_of, subscribe, walk

PF_TF = {"opModFixedPFInjectW": {"displacement": 95, "excitation": False, "multiplier": -2}}
PF_SG = {"opModFixedPFInjectW": {"displacement": 98, "excitation": False, "multiplier": -2}}


@pytest.fixture
async def fleet(csip, identities):
    return await figure_15(csip, identities["aggregator"].lfdi)


async def eda1x(csip, identities, fleet) -> tuple[int, str]:
    """AGG-001's result: EDA1X, a further EndDevice the aggregator manages at SPA1."""
    lfdi = lfdi_of(0xED1A)
    added = await csip.operator.end_device(lfdi, owner=identities["aggregator"].lfdi)
    for node in ancestry("SPA1"):
        await csip.operator.ok("PUT", f"/groups/{fleet.groups[node]}/members/{added}")
    return added, lfdi


async def test_MAINT_001_inverter_maintenance_out_of_band(csip, identities, fleet, receiver):
    """The server deletes EDA1X (agreed out of band): the aggregator's subscription to that EndDevice gets a
    Notification that it was deleted (status 4), the EndDeviceList no longer holds it, a GET of it answers 404."""
    added, lfdi = await eda1x(csip, identities, fleet)
    aggregator = csip.client("aggregator")
    own = (await walk(aggregator, identities["aggregator"].lfdi)).edev
    target = (await walk(aggregator, lfdi)).edev
    on_instance = await subscribe(aggregator, own, target.href, receiver.uri)
    assert (await get_all(aggregator, "/edev", model.EndDeviceList)).all == 6

    await csip.operator.ok("DELETE", f"/end-devices/{added}")
    (note,) = receiver.take()
    assert (note.status, note.subscribedResource, note.subscriptionURI) == (4, target.href, on_instance)
    listed = await get_all(aggregator, "/edev", model.EndDeviceList)
    assert listed.all == 5 and target.href not in [e.href for e in listed.EndDevice]
    assert (await aggregator.get(target.href)).status == 404
    assert (await aggregator.get(on_instance)).status == 404


async def test_MAINT_002_inverter_maintenance_in_band(csip, identities, fleet, receiver):
    """The aggregator DELETEs EDA1X itself: 204, its subscribers are told it was deleted (status 4), 404 after."""
    added, lfdi = await eda1x(csip, identities, fleet)
    aggregator = csip.client("aggregator")
    own = (await walk(aggregator, identities["aggregator"].lfdi)).edev
    target = (await walk(aggregator, lfdi)).edev
    on_instance = await subscribe(aggregator, own, target.href, receiver.uri)
    on_fsa = await subscribe(aggregator, own, target.FunctionSetAssignmentsListLink.href, receiver.uri)
    assert (await aggregator.delete(target.href)).status == 204
    await csip.settle()
    notes = {n.subscriptionURI: n.status for n in receiver.take()}
    assert notes == {on_instance: 4, on_fsa: 4}
    assert (await aggregator.get(target.href)).status == 404
    assert (await get_all(aggregator, "/edev", model.EndDeviceList)).all == 5


async def test_MAINT_003_group_maintenance(csip, identities, fleet, receiver):
    """EDB1 moves from SPB1 to SPA1: only EDB1's FSAList subscription is notified, and the list it is sent (and
    reads) now leads to SPA1's programs, so TFA's default rather than TFB's applies to it."""
    op = csip.operator
    await op.default_control(fleet.programs["TFA"], PF_TF)
    await op.default_control(fleet.programs["TFB"], PF_SG)
    aggregator = csip.client("aggregator")
    own = (await walk(aggregator, identities["aggregator"].lfdi)).edev
    subs = {}
    for name in ("EDA1", "EDA2", "EDB1", "EDB2"):
        found = await walk(aggregator, fleet.lfdis[name])
        subs[name] = await subscribe(aggregator, own, found.edev.FunctionSetAssignmentsListLink.href, receiver.uri)
        for fsa in found.fsas:
            await subscribe(aggregator, own, fsa.DERProgramListLink.href, receiver.uri)
    before = await walk(aggregator, fleet.lfdis["EDB1"])
    assert [p.description for p in by_priority(before.all_programs()) if p.DefaultDERControlLink][0] == "TFB"

    edb1 = fleet.devices["EDB1"]
    for node in ("SPB1", "TFB", "SGB", "FDB"):
        await op.ok("DELETE", f"/groups/{fleet.groups[node]}/members/{edb1}")
    for node in ("SPA1", "TFA", "SGA", "FDA"):
        await op.ok("PUT", f"/groups/{fleet.groups[node]}/members/{edb1}")
    notes = receiver.take()
    assert {n.subscriptionURI for n in notes} == {subs["EDB1"]}
    after = await walk(aggregator, fleet.lfdis["EDB1"])
    assert notes[-1].Resource == await get(aggregator, f"{after.edev.FunctionSetAssignmentsListLink.href}?l=255",
                                           model.FunctionSetAssignmentsList)
    assert {p.description for p in after.all_programs()} == set(ancestry("SPA1"))
    first_default = [p for p in by_priority(after.all_programs()) if p.DefaultDERControlLink][0]
    assert first_default.description == "TFA"
    assert (await get(aggregator, first_default.DefaultDERControlLink.href,
                      model.DefaultDERControl)).DERControlBase.opModFixedPFInjectW.displacement == 95


async def test_MAINT_004_maintenance_of_controls(csip, identities, fleet, receiver):
    """Subscribed to every DERProgramList and DERControlList (limit: the list's all), the aggregator is sent the
    TFA DERControlList with the new control (start +15 min, 5 min), and nothing else; EDA1 and EDA2 reach it."""
    aggregator = csip.client("aggregator")
    own = (await walk(aggregator, identities["aggregator"].lfdi)).edev
    control_lists = {}
    for name in ("EDA1", "EDA2", "EDB1", "EDB2"):
        found = await walk(aggregator, fleet.lfdis[name])
        for fsa in found.fsas:
            control_lists.setdefault(fsa.DERProgramListLink.href, fsa.DERProgramListLink.all)
        for program in found.all_programs():
            control_lists.setdefault(program.DERControlListLink.href, program.DERControlListLink.all)
    subs = {href: await subscribe(aggregator, own, href, receiver.uri, limit=max(count, 1))
            for href, count in control_lists.items()}
    event = await csip.operator.event(fleet.programs["TFA"], T0 + 900, 300, {"opModMaxLimW": 6000},
                                      randomizeStart=0, randomizeDuration=0)
    notes = receiver.take()
    tfa = f"/derp/{fleet.programs['TFA']}/derc"
    assert {n.subscriptionURI for n in notes} == {subs[tfa]}
    (control,) = notes[-1].Resource.DERControl
    assert (control.mRID, control.interval.start, control.interval.duration) == (event["mRID"], T0 + 900, 300)
    assert control == await get(aggregator, control.href, model.DERControl)
    for name in ("EDA1", "EDA2"):
        found = await walk(aggregator, fleet.lfdis[name])
        assert found.program("TFA").DERControlListLink.all == 1


async def test_MAINT_005_maintenance_of_programs(csip, identities, fleet, receiver):
    """Setup 5: TFA/TFB primacy 1, SGA/SGB primacy 2, with different defaults; their primacies are swapped: the
    DERProgramList subscriptions of those four nodes are notified with the new primacy, and SGA's default now
    comes first for EDA1."""
    op = csip.operator
    for node, primacy, default in (("TFA", 1, PF_TF), ("TFB", 1, PF_TF), ("SGA", 2, PF_SG), ("SGB", 2, PF_SG)):
        await op.ok("PATCH", f"/programs/{fleet.programs[node]}", {"primacy": primacy})
        await op.default_control(fleet.programs[node], default)
    aggregator = csip.client("aggregator")
    own = (await walk(aggregator, identities["aggregator"].lfdi)).edev
    subs = {node: await subscribe(aggregator, own, f"/fsa/{fleet.groups[node]}/derp", receiver.uri, limit=100)
            for node in FIGURE_15}
    first = by_priority((await walk(aggregator, fleet.lfdis["EDA1"])).all_programs())[0]
    assert first.description == "TFA"

    for node, primacy in (("TFA", 2), ("TFB", 2), ("SGA", 1), ("SGB", 1)):
        await op.ok("PATCH", f"/programs/{fleet.programs[node]}", {"primacy": primacy})
    notes = receiver.take()
    assert {n.subscriptionURI for n in notes} == {subs[n] for n in ("TFA", "TFB", "SGA", "SGB")}
    latest = {n.subscriptionURI: n.Resource for n in notes}
    assert {node: [p.primacy for p in latest[subs[node]].DERProgram] for node in ("TFA", "TFB", "SGA", "SGB")} == {
        "TFA": [2], "TFB": [2], "SGA": [1], "SGB": [1]}
    first = by_priority((await walk(aggregator, fleet.lfdis["EDA1"])).all_programs())[0]
    assert first.description == "SGA"
    assert (await get(aggregator, first.DefaultDERControlLink.href,
                      model.DefaultDERControl)).DERControlBase.opModFixedPFInjectW.displacement == 98
