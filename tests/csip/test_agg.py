"""CSIP conformance, Aggregator Operation (AGG): Figure 15's four EndDevices under one aggregator, per device."""

from __future__ import annotations

import pytest

from der_gateway.sep import model

from .conftest import T0
from .fleet import Planned, run
from .support import SERVICE_POINT, by_priority, figure_15, get, get_all, lfdi_of, walk

PF = {"opModFixedPFInjectW": {"displacement": 95, "excitation": False, "multiplier": -2}}
PF_SY = {"opModFixedPFInjectW": {"displacement": 97, "excitation": False, "multiplier": -2}}
MAX_W = {"opModMaxLimW": 5000}
EDA, EDB = ("EDA1", "EDA2"), ("EDB1", "EDB2")


def runs(start: int, duration: int, received: int = T0) -> list[tuple[int, int]]:
    return [(received, 1), (start, 2), (start + duration, 3)]


@pytest.fixture
async def fleet(csip, identities):
    return await figure_15(csip, identities["aggregator"].lfdi)


async def test_AGG_001_aggregator_operation_subscription(csip, identities, fleet, receiver):
    aggregator = csip.client("aggregator")
    own = (await walk(aggregator, identities["aggregator"].lfdi)).edev
    listed = await get(aggregator, "/edev", model.EndDeviceList)
    assert listed.subscribable == 1
    reply = await aggregator.post(own.SubscriptionListLink.href, (
        b'<Subscription xmlns="urn:ieee:std:2030.5:ns"><subscribedResource>/edev</subscribedResource>'
        b"<encoding>0</encoding><level>-S1</level><limit>10</limit><notificationURI>"
        + receiver.uri.encode() + b"</notificationURI></Subscription>"))
    assert reply.status == 201
    added = await csip.operator.end_device(lfdi_of(0xED1A), owner=identities["aggregator"].lfdi)
    await csip.operator.ok("PUT", f"/groups/{fleet.groups['SPA1']}/members/{added}")
    await csip.settle()
    (note,) = receiver.take()
    assert f"/edev/{added}" in [e.href for e in note.Resource.EndDevice]


async def test_AGG_001_new_end_device_reaches_the_aggregator(csip, identities, fleet):
    """The part of AGG-001 that needs no EndDeviceList subscription: EDA1X, added at SPA1, is in the aggregator's
    EndDeviceList and reaches the SPA1 programs."""
    added = await csip.operator.end_device(lfdi_of(0xED1A), owner=identities["aggregator"].lfdi)
    for node in ("SPA1", "TFA", "SGA", "FDA", "SS", "ST", "SY"):
        await csip.operator.ok("PUT", f"/groups/{fleet.groups[node]}/members/{added}")
    aggregator = csip.client("aggregator")
    listed = await get_all(aggregator, "/edev", model.EndDeviceList)
    assert f"/edev/{added}" in [e.href for e in listed.EndDevice] and listed.all == 6
    found = await walk(aggregator, lfdi_of(0xED1A))
    assert by_priority(found.all_programs())[0].description == "SPA1"


async def test_AGG_002_two_programs_two_defaults_no_events(csip, fleet):
    """TFA and SY DefaultDERControls of the same kind: the highest-priority program with a default is TFA for
    EDA1/EDA2 and SY for EDB1/EDB2."""
    await csip.operator.default_control(fleet.programs["TFA"], PF)
    await csip.operator.default_control(fleet.programs["SY"], PF_SY)
    aggregator = csip.client("aggregator")
    for name in SERVICE_POINT:
        found = await walk(aggregator, fleet.lfdis[name])
        first = [p for p in by_priority(found.all_programs()) if p.DefaultDERControlLink is not None][0]
        assert first.description == ("TFA" if name in EDA else "SY"), name
        dderc = await get(aggregator, first.DefaultDERControlLink.href, model.DefaultDERControl)
        assert dderc.DERControlBase.opModFixedPFInjectW.displacement == (95 if name in EDA else 97)
        assert all(p.DERControlListLink.all == 0 for p in found.all_programs())


async def test_AGG_003_one_program_no_default_one_event(csip, fleet):
    """A TFA event reaches EDA1 and EDA2 only; their responses are kept per EndDevice."""
    await run(csip, fleet, {"TFA": Planned("TFA", T0 + 120, 60, MAX_W, responses={d: runs(T0 + 120, 60) for d in EDA})})


async def test_AGG_004_one_program_one_default_one_event(csip, fleet):
    await csip.operator.default_control(fleet.programs["TFA"], PF)
    await run(csip, fleet, {"TFA": Planned("TFA", T0 + 120, 60, MAX_W, responses={d: runs(T0 + 120, 60) for d in EDA})})
    found = await walk(csip.client("aggregator"), fleet.lfdis["EDA1"])
    assert found.program("TFA").DefaultDERControlLink is not None


async def test_AGG_005_two_non_overlapping_similar_events_one_program(csip, fleet):
    await run(csip, fleet, {
        "first": Planned("TFA", T0 + 120, 60, MAX_W, responses={d: runs(T0 + 120, 60) for d in EDA}),
        "second": Planned("TFA", T0 + 240, 60, {"opModMaxLimW": 4000},
                          responses={d: runs(T0 + 240, 60) for d in EDA})})


async def test_AGG_006_two_programs_two_defaults_two_non_overlapping_events(csip, fleet):
    """Errata seq 26's setup: TFA event at +2 min and SY event at +4 min, one minute each."""
    await csip.operator.default_control(fleet.programs["TFA"], PF)
    await csip.operator.default_control(fleet.programs["SY"], PF_SY)
    await run(csip, fleet, {
        "TFA": Planned("TFA", T0 + 120, 60, MAX_W, responses={d: runs(T0 + 120, 60) for d in EDA}),
        "SY": Planned("SY", T0 + 240, 60, MAX_W, responses={d: runs(T0 + 240, 60) for d in SERVICE_POINT})})


def superseded_sy(tfa_first: bool, status: int) -> dict[str, Planned]:
    """Overlapping similar events known before they start: EDA1/EDA2 run TFA and answer SY with `status`; EDB1/EDB2
    run SY."""
    sy = Planned("SY", T0 + 120, 120, MAX_W, created=T0 + (5 if tfa_first else 0),
                 responses={**{d: [(T0 + 5, 1), (T0 + 5, status)] for d in EDA},
                            **{d: runs(T0 + 120, 120, T0 + 5) for d in EDB}})
    tfa = Planned("TFA", T0 + 120, 120, {"opModMaxLimW": 4000}, created=T0 + (0 if tfa_first else 5),
                  responses={d: runs(T0 + 120, 120, T0 + 5) for d in EDA})
    return {"SY": sy, "TFA": tfa}


async def test_AGG_007_overlapping_similar_sy_then_tfa(csip, fleet):
    """Errata seq 5: EDA1/EDA2 answer the SY event 14 (aborted for another program's event)."""
    await run(csip, fleet, superseded_sy(tfa_first=False, status=14))


async def test_AGG_008_overlapping_similar_tfa_then_sy(csip, fleet):
    """Errata seq 6: 14 again."""
    await run(csip, fleet, superseded_sy(tfa_first=True, status=14))


async def test_AGG_009_overlapping_similar_tfa_created_after_sy_started(csip, fleet):
    """All four start SY; the TFA event is created after that, and at its start EDA1/EDA2 supersede SY (7)."""
    await run(csip, fleet, {
        "SY": Planned("SY", T0 + 120, 180, MAX_W, responses={
            **{d: [(T0, 1), (T0 + 120, 2), (T0 + 180, 7)] for d in EDA},
            **{d: runs(T0 + 120, 180) for d in EDB}}),
        "TFA": Planned("TFA", T0 + 180, 60, {"opModMaxLimW": 4000}, created=T0 + 150,
                       responses={d: runs(T0 + 180, 60, T0 + 150) for d in EDA})})


def independent(tfa_first: bool, tfa_created: int = T0, tfa_start: int = T0 + 120) -> dict[str, Planned]:
    """Different modes: EDA1/EDA2 run both events, EDB1/EDB2 the SY one."""
    sy = Planned("SY", T0 + 120, 180, PF_SY, created=T0 + (5 if tfa_first else 0),
                 responses={d: runs(T0 + 120, 180, T0 + 5) for d in SERVICE_POINT})
    tfa = Planned("TFA", tfa_start, 60, MAX_W, created=tfa_created,
                  responses={d: runs(tfa_start, 60, max(tfa_created, T0 + 5)) for d in EDA})
    return {"SY": sy, "TFA": tfa}


async def test_AGG_010_overlapping_independent_sy_then_tfa(csip, fleet):
    await run(csip, fleet, independent(tfa_first=False, tfa_created=T0 + 5))


async def test_AGG_011_overlapping_independent_tfa_then_sy(csip, fleet):
    await run(csip, fleet, independent(tfa_first=True))


async def test_AGG_012_overlapping_independent_tfa_created_after_sy_started(csip, fleet):
    await run(csip, fleet, independent(tfa_first=False, tfa_created=T0 + 150, tfa_start=T0 + 180))
