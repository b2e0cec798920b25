"""CSIP conformance, Utility Server Aggregator Model (UTIL): the topology of Figure 15 as an aggregator sees it."""

from __future__ import annotations

from der_gateway.sep import codec, model

from .. import documents
from .conftest import T0
from .fleet import Planned, run, under
from .support import FIGURE_15, SERVICE_POINT, ancestry, figure_15, get, get_all, subscribe, walk


async def test_UTIL_001_startup_group_assignment(csip, identities):
    """Five EndDevices for the aggregator (its own, with SubscriptionList and LogEventList, and EDA1..EDB2 with
    FSAs, DERs and LogEvents); each managed one reaches, through its FSAs, exactly the programs of the nodes above
    it, primacy 4 (its service point) to 10 (the system)."""
    me = identities["aggregator"]
    fleet = await figure_15(csip, me.lfdi)
    aggregator = csip.client("aggregator")
    dcap = await get(aggregator, "/dcap", model.DeviceCapability)
    listed = await get_all(aggregator, dcap.EndDeviceListLink.href, model.EndDeviceList)
    assert len(listed.EndDevice) == 5
    own = [e for e in listed.EndDevice if e.lFDI == me.lfdi][0]
    assert own.SubscriptionListLink is not None and own.LogEventListLink is not None
    for name, service_point in SERVICE_POINT.items():
        found = await walk(aggregator, fleet.lfdis[name])
        assert found.edev.DERListLink is not None and found.edev.LogEventListLink is not None
        programs = {p.description: p.primacy for p in found.all_programs()}
        assert programs == {node: FIGURE_15[node][1] for node in ancestry(service_point)}, name
        assert sorted(programs.values()) == [4, 5, 6, 7, 8, 9, 10]


async def test_UTIL_002_aggregator_commissioning(csip, identities):
    """The aggregator finds its own EndDevice and PIN, and PUTs DERCapability, DERSettings, DERStatus and
    DERAvailability for each EndDevice it manages; each reads back as written."""
    me = identities["aggregator"]
    fleet = await figure_15(csip, me.lfdi)
    aggregator = csip.client("aggregator")
    own = await walk(aggregator, me.lfdi)
    assert own.edev.href == f"/edev/{fleet.aggregator}"
    for name in SERVICE_POINT:
        found = await walk(aggregator, fleet.lfdis[name])
        (der,) = (await get_all(aggregator, found.edev.DERListLink.href, model.DERList)).DER
        for href, document in ((der.DERCapabilityLink.href, documents.der_capability()),
                               (der.DERSettingsLink.href, documents.der_settings()),
                               (der.DERStatusLink.href, documents.der_status()),
                               (der.DERAvailabilityLink.href, documents.der_availability())):
            assert (await aggregator.put(href, codec.encode(document))).status in (201, 204)
            got = await get(aggregator, href, type(document))
            got.href = None
            assert got == document, (name, href)


async def test_UTIL_003_group_assignment_retrieval(csip, identities, receiver):
    """The aggregator reads every FSA and program of each managed EndDevice, and subscribes to every DERProgramList
    and DERControlList it found (201 each); a new control on one program is then notified to that list's
    subscription, and a primacy change to that program's DERProgramList subscription."""
    me = identities["aggregator"]
    fleet = await figure_15(csip, me.lfdi)
    aggregator = csip.client("aggregator")
    own = (await walk(aggregator, me.lfdi)).edev
    lists, control_lists = set(), set()
    for name in SERVICE_POINT:
        found = await walk(aggregator, fleet.lfdis[name])
        lists |= {f.DERProgramListLink.href for f in found.fsas}
        control_lists |= {p.DERControlListLink.href for p in found.all_programs()}
    assert len(lists) == len(control_lists) == len(FIGURE_15)
    subscriptions = {}
    for href in sorted(lists | control_lists):
        subscriptions[href] = await subscribe(aggregator, own, href, receiver.uri)
    event = await csip.operator.event(fleet.programs["TFA"], T0 + 600, 60, {"opModMaxLimW": 5000})
    await csip.operator.ok("PATCH", f"/programs/{fleet.programs['SGB']}", {"primacy": 3})
    await csip.settle()
    notes = {n.subscriptionURI: n for n in receiver.take()}
    tfa_controls = f"/derp/{fleet.programs['TFA']}/derc"
    sgb_list = f"/fsa/{fleet.groups['SGB']}/derp"
    assert set(notes) == {subscriptions[tfa_controls], subscriptions[sgb_list]}
    assert [c.mRID for c in notes[subscriptions[tfa_controls]].Resource.DERControl] == [event["mRID"]]
    assert [p.primacy for p in notes[subscriptions[sgb_list]].Resource.DERProgram] == [3]


async def test_UTIL_004_der_retrieval_and_event_fan_out(csip, identities, receiver):
    """Events at a service point (SPA1), a feeder (FDA) and the system (SY): each is notified to the aggregator's
    subscription to that program's DERControlList, reaches exactly the EndDevices under its node, and the
    responses the aggregator posts for them (1, 2, 3) are kept per EndDevice."""
    me = identities["aggregator"]
    fleet = await figure_15(csip, me.lfdi)
    aggregator = csip.client("aggregator")
    own = (await walk(aggregator, me.lfdi)).edev
    for node in ("SPA1", "FDA", "SY"):
        await subscribe(aggregator, own, f"/derp/{fleet.programs[node]}/derc", receiver.uri)

    def lifecycle(node: str, start: int) -> Planned:
        return Planned(node, start, 60, {"opModMaxLimW": 5000},
                       responses={d: [(T0, 1), (start, 2), (start + 60, 3)] for d in sorted(under(node))})

    await run(csip, fleet, {"SPA1": lifecycle("SPA1", T0 + 120), "FDA": lifecycle("FDA", T0 + 240),
                            "SY": lifecycle("SY", T0 + 360)})
    notified = {n.subscribedResource for n in receiver.take()}
    assert notified == {f"/derp/{fleet.programs[n]}/derc" for n in ("SPA1", "FDA", "SY")}
    assert [len(under(n)) for n in ("SPA1", "FDA", "SY")] == [1, 2, 4]
