"""CSIP conformance, Basic Functions (BASIC): identification, groups, each control mode, event rules, alarms,
status and metering, from the server's side."""

from __future__ import annotations

from dataclasses import dataclass


from der_gateway.sep import codec, model
from der_gateway.sep.identity import sfdi_from_lfdi

from .. import documents
from . import support
from .conftest import PIN, T0
from .support import by_priority, controls, get, get_all, respond, walk


@dataclass
class Figure3:
    """The client's EndDevice (and two newer ones in its list), a topology FSA with the seven grid-level programs
    of Figure 3 (SY 10 ... SP 4) and a non-topology FSA with one program."""

    edev: int
    topology: int
    non_topology: int
    programs: dict[str, int]


async def figure_3(csip, lfdi: str) -> Figure3:
    op = csip.operator
    csip.clock.set(T0 - 60)  # before anything exists: the client's EndDevice, then two newer ones
    edev = await op.end_device(lfdi)
    csip.clock.set(T0 - 30)
    for n in (1, 2):
        await op.end_device(support.lfdi_of(100 + n), owner=lfdi)
    csip.clock.set(T0)
    topology, programs = await support.seven_levels(csip, edev)
    non_topology = await op.group("non-topology", edev)
    programs["NT"] = await op.program(20, "NT")
    await op.assign(non_topology, programs["NT"])
    return Figure3(edev, topology, non_topology, programs)


def program_id(program: model.DERProgram) -> int:
    return int(program.href.rsplit("/", 1)[1])


async def status_of(client, control: model.DERControl) -> tuple[int, int]:
    got = await get(client, control.href, model.DERControl)
    return got.EventStatus.currentStatus, got.EventStatus.dateTime


async def active(client, program: model.DERProgram) -> list[str]:
    listed = await get_all(client, program.ActiveDERControlListLink.href, model.DERControlList)
    return [c.mRID for c in listed.DERControl]


async def statuses(csip, event: dict) -> list[int]:
    """The operator's view of the responses to an event (one device)."""
    seen = await csip.operator.participation(event["id"])
    return [r["status"] for item in seen["items"] for r in item["responses"]]


# -- identification and groups ------------------------------------------------------------------

async def test_BASIC_001_der_identification(csip, identities):
    """The EndDevice the server presents carries the SFDI and LFDI of the client's certificate and the
    preregistered PIN; an aggregator finds the same for each EndDevice it manages."""
    me = identities["device1"]
    await csip.operator.end_device(me.lfdi)
    found = await walk(csip.client("device1"), me.lfdi)
    assert (found.edev.lFDI, found.edev.sFDI) == (me.lfdi, me.sfdi)
    assert len(found.edev.lFDI) == 40 and int(found.edev.lFDI, 16) >= 0
    assert found.edev.sFDI < 10 ** 12 and sum(map(int, str(found.edev.sFDI))) % 10 == 0
    assert found.registration.pIN == PIN and sum(map(int, str(PIN))) % 10 == 0

    fleet = await support.figure_15(csip, identities["aggregator"].lfdi)
    aggregator = csip.client("aggregator")
    listed = await get_all(aggregator, "/edev", model.EndDeviceList)
    assert {e.lFDI for e in listed.EndDevice} == {identities["aggregator"].lfdi, *fleet.lfdis.values()}
    for edev in listed.EndDevice:
        assert edev.sFDI == sfdi_from_lfdi(edev.lFDI)
        assert (await get(aggregator, edev.RegistrationLink.href, model.Registration)).pIN == PIN


async def test_BASIC_002_basic_group_management(csip, identities):
    """All seven topology programs and the non-topology one reach the client through two FSAs that link Time;
    the Service Point program (primacy 4) leads, with its DefaultDERControl and its event."""
    me = identities["device1"]
    plant = await figure_3(csip, me.lfdi)
    op = csip.operator
    await op.default_control(plant.programs["SP"], {"opModMaxLimW": 9000})
    await op.default_control(plant.programs["SY"], {"opModMaxLimW": 10000})
    event = await op.event(plant.programs["SP"], T0 + 120, 60, {"opModMaxLimW": 5000})
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    assert found.end_devices.all == 3 and len(found.fsas) == 2
    newer = {e.changedTime for e in found.end_devices.EndDevice if e.lFDI != me.lfdi}
    assert found.edev.changedTime == T0 - 60 and newer == {T0 - 30}
    assert all(f.TimeLink.href == found.dcap.TimeLink.href for f in found.fsas)
    await get(device, found.fsas[0].TimeLink.href, model.Time)
    assert sorted(p.primacy for p in found.all_programs()) == [4, 5, 6, 7, 8, 9, 10, 20]
    best = by_priority(found.all_programs())[0]
    assert best.description == "SP"
    dderc = await get(device, best.DefaultDERControlLink.href, model.DefaultDERControl)
    assert dderc.DERControlBase.opModMaxLimW == 9000
    assert list(await controls(device, best)) == [event["mRID"]]


async def test_BASIC_003_advanced_group_management(csip, identities):
    """The server moves the device to another feeder before its event: its FSAList changes, the old feeder's FSA
    and programs are no longer there for it, the new feeder's default and event are."""
    op, me = csip.operator, identities["device1"]
    edev = await op.end_device(me.lfdi)
    feeders = {}
    for name, limit in (("FDA", 6000), ("FDB", 7000)):
        group = await op.group(name, *([edev] if name == "FDA" else []))
        program = await op.program(7, name)
        await op.assign(group, program)
        await op.default_control(program, {"opModMaxLimW": limit + 1000})
        feeders[name] = (group, program, await op.event(program, T0 + 600, 60, {"opModMaxLimW": limit}))
    device = csip.client("device1")
    before = await walk(device, me.lfdi)
    (old,) = before.all_programs()
    assert old.description == "FDA" and list(await controls(device, old)) == [feeders["FDA"][2]["mRID"]]

    csip.clock.advance(60)
    await op.ok("DELETE", f"/groups/{feeders['FDA'][0]}/members/{edev}")
    await op.ok("PUT", f"/groups/{feeders['FDB'][0]}/members/{edev}")
    after = await walk(device, me.lfdi)
    (new,) = after.all_programs()
    assert new.description == "FDB" and [f.href for f in after.fsas] == [f"/fsa/{feeders['FDB'][0]}"]
    assert (await device.get(before.fsas[0].href)).status == 404
    assert (await device.get(old.DERControlListLink.href)).status == 404
    dderc = await get(device, new.DefaultDERControlLink.href, model.DefaultDERControl)
    assert dderc.DERControlBase.opModMaxLimW == 8000
    assert list(await controls(device, new)) == [feeders["FDB"][2]["mRID"]]


# -- one control mode each: BASIC-004 .. BASIC-014 ----------------------------------------------------

async def exercise_control(csip, identities, base: dict, curves: dict[str, tuple] | None = None,
                           default: dict | None = None) -> None:
    """The common procedure of the control tests, server side: the Service Point program's DefaultDERControl and
    its event (start +2 min, 1 min, responseRequired 07, replyTo) are served as set, curves with their points;
    the event is Scheduled, Active from its start and gone at its end; the client's responses 1, 2, 3 are kept."""
    op, me = csip.operator, identities["device1"]
    plant = await figure_3(csip, me.lfdi)
    sp = plant.programs["SP"]
    base = dict(base)
    curve_points = {}
    for mode, (curve_type, points, extra) in (curves or {}).items():
        base[mode] = {"href": await op.curve(sp, curve_type, points, **extra)}
        curve_points[mode] = (curve_type, points, extra)
    default = default or {"opModConnect": True}
    await op.default_control(sp, default)
    event = await op.event(sp, T0 + 120, 60, base)

    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    best = by_priority(found.all_programs())[0]
    assert best.description == "SP"
    dderc = await get(device, best.DefaultDERControlLink.href, model.DefaultDERControl)
    assert dderc.DERControlBase == codec.from_data(model.DERControlBase, default)
    (control,) = (await controls(device, best)).values()
    assert control.mRID == event["mRID"] and control.DERControlBase == codec.from_data(model.DERControlBase, base)
    assert (control.interval.start, control.interval.duration) == (T0 + 120, 60)
    assert (control.responseRequired, control.replyTo) == ("07", "/rsps/1/rsp")
    for mode, (curve_type, points, extra) in curve_points.items():
        curve = await get(device, getattr(control.DERControlBase, mode).href, model.DERCurve)
        assert curve.curveType == curve_type and [(p.xvalue, p.yvalue) for p in curve.CurveData] == points
        for name, value in extra.items():
            assert getattr(curve, name) == value, (mode, name)

    await respond(device, control, me.lfdi, 1, T0)
    assert await status_of(device, control) == (0, T0)
    await csip.at(T0 + 120)
    assert await status_of(device, control) == (1, T0 + 120)
    assert await active(device, best) == [control.mRID]
    await respond(device, control, me.lfdi, 2, T0 + 120)
    await csip.at(T0 + 180)
    assert await active(device, best) == []
    assert (await get(device, best.DERControlListLink.href, model.DERControlList)).all == 0
    await respond(device, control, me.lfdi, 3, T0 + 180)
    assert await statuses(csip, event) == [1, 2, 3]
    assert (await get(device, best.DefaultDERControlLink.href, model.DefaultDERControl)) == dderc


RIDE_THROUGH = [(0, 50), (16, 50), (200, 70), (2000, 88)]  # hundredths of a second, percent of nominal


async def test_BASIC_004_low_high_voltage_ride_through(csip, identities):
    await exercise_control(csip, identities, {}, curves={
        "opModLVRTMustTrip": (10, RIDE_THROUGH, {}), "opModHVRTMustTrip": (5, [(0, 120), (16, 120), (1300, 110)], {}),
        "opModLVRTMomentaryCessation": (9, [(0, 50), (100, 50)], {}),
        "opModHVRTMomentaryCessation": (4, [(0, 110), (100, 110)], {})})


async def test_BASIC_005_low_high_frequency_ride_through(csip, identities):
    await exercise_control(csip, identities, {}, curves={
        "opModLFRTMustTrip": (7, [(0, 5650), (16, 5650), (30000, 5880)], {"xMultiplier": -2, "yMultiplier": -2}),
        "opModHFRTMustTrip": (2, [(0, 6200), (16, 6200), (30000, 6120)], {"xMultiplier": -2, "yMultiplier": -2})})


async def test_BASIC_006_volt_var(csip, identities):
    """Figure 6: curveType 11, multipliers -2, openLoopTms 5, (9100, 4000) (9570, 0) (10400, 0) (10600, -4000)."""
    await exercise_control(csip, identities, {}, curves={
        "opModVoltVar": (11, [(9100, 4000), (9570, 0), (10400, 0), (10600, -4000)],
                         {"xMultiplier": -2, "yMultiplier": -2, "openLoopTms": 5, "autonomousVRefEnable": False,
                          "autonomousVRefTimeConstant": 0})})


async def test_BASIC_007_ramp_rates(csip, identities):
    """Default-only: the Service Point program's DefaultDERControl carries setGradW 9000 and setSoftGradW 400; there
    is no event."""
    op, me = csip.operator, identities["device1"]
    plant = await figure_3(csip, me.lfdi)
    await op.default_control(plant.programs["SP"], {"opModConnect": True}, setGradW=9000, setSoftGradW=400)
    await op.default_control(plant.programs["SY"], {"opModConnect": True}, setGradW=10000, setSoftGradW=200)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    best = by_priority(found.all_programs())[0]
    dderc = await get(device, best.DefaultDERControlLink.href, model.DefaultDERControl)
    assert (best.description, dderc.setGradW, dderc.setSoftGradW) == ("SP", 9000, 400)
    assert [(await get(device, p.DERControlListLink.href, model.DERControlList)).all
            for p in found.all_programs()] == [0] * 8


async def test_BASIC_008_fixed_power_factor(csip, identities):
    await exercise_control(csip, identities, {"opModFixedPFInjectW": {"displacement": 95, "excitation": True,
                                                                      "multiplier": -2}})


async def test_BASIC_009_connect_disconnect(csip, identities):
    await exercise_control(csip, identities, {"opModEnergize": False, "opModConnect": False},
                           default={"opModEnergize": True, "opModConnect": True})


async def test_BASIC_010_limit_maximum_active_power(csip, identities):
    await exercise_control(csip, identities, {"opModMaxLimW": 5000})


async def test_BASIC_011_volt_watt(csip, identities):
    await exercise_control(csip, identities, {}, curves={
        "opModVoltWatt": (12, [(10600, 10000), (11000, 0)], {"xMultiplier": -2, "yMultiplier": -2, "yRefType": 3})})


async def test_BASIC_012_frequency_watt_and_droop(csip, identities):
    await exercise_control(csip, identities, {"opModFreqDroop": {"dBOF": 36, "dBUF": 36, "kOF": 50, "kUF": 50,
                                                                 "openLoopTms": 500}},
                           curves={"opModFreqWatt": (0, [(6036, 10000), (6200, 0)], {"xMultiplier": -2})})


async def test_BASIC_013_set_active_power_percent(csip, identities):
    await exercise_control(csip, identities, {"opModFixedW": 5000})


async def test_BASIC_014_set_active_power_watts(csip, identities):
    await exercise_control(csip, identities, {"opModTargetW": {"multiplier": 0, "value": 3000}})


# -- event rules ----------------------------------------------------------------------------------------

async def test_BASIC_015_advanced_control_24_events_and_cancellation(csip, identities):
    """Twenty-four successive Service Point events and one Transformer event are all served (l=255, by start);
    after the first starts the server cancels the rest: they show Cancelled (2), the first runs on."""
    op, me = csip.operator, identities["device1"]
    plant = await figure_3(csip, me.lfdi)
    await op.default_control(plant.programs["SP"], {"opModMaxLimW": 10000})
    made = [await op.event(plant.programs["SP"], T0 + 120 + 60 * n, 60, {"opModMaxLimW": 3000 + 100 * n})
            for n in range(24)]
    transformer = await op.event(plant.programs["TF"], T0 + 300, 300, {"opModFixedPFInjectW": {
        "displacement": 97, "excitation": False, "multiplier": -2}})
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    sp = found.program("SP")
    listed = await get_all(device, sp.DERControlListLink.href, model.DERControlList)
    assert [c.mRID for c in listed.DERControl] == [e["mRID"] for e in made]
    assert [c.interval.start for c in listed.DERControl] == sorted(c.interval.start for c in listed.DERControl)
    assert list(await controls(device, found.program("TF"))) == [transformer["mRID"]]

    await csip.at(T0 + 120)
    for event in made[1:]:
        await op.cancel(event["id"])
    await csip.settle()
    served = await controls(device, sp)
    assert served[made[0]["mRID"]].EventStatus.currentStatus == 1
    assert {served[e["mRID"]].EventStatus.currentStatus for e in made[1:]} == {2}
    assert {served[e["mRID"]].EventStatus.dateTime for e in made[1:]} == {T0 + 120}
    await csip.at(T0 + 180)
    assert await active(device, sp) == []


async def test_BASIC_016_two_programs_two_defaults_no_events(csip, identities):
    """Both programs' DefaultDERControls are served; the Service Point one has the higher priority; no events."""
    op, me = csip.operator, identities["device1"]
    plant = await figure_3(csip, me.lfdi)
    await op.default_control(plant.programs["SP"], {"opModFixedPFInjectW": {"displacement": 90, "excitation": False,
                                                                            "multiplier": -2}})
    await op.default_control(plant.programs["SY"], {"opModFixedPFInjectW": {"displacement": 98, "excitation": False,
                                                                            "multiplier": -2}})
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    with_default = [p for p in by_priority(found.all_programs()) if p.DefaultDERControlLink is not None]
    assert [p.description for p in with_default] == ["SP", "SY"]
    served = [await get(device, p.DefaultDERControlLink.href, model.DefaultDERControl) for p in with_default]
    assert [d.DERControlBase.opModFixedPFInjectW.displacement for d in served] == [90, 98]
    assert sum([(await get(device, p.DERControlListLink.href, model.DERControlList)).all
                for p in found.all_programs()]) == 0


async def one_event(csip, identities, with_default: bool) -> None:
    op, me = csip.operator, identities["device1"]
    edev = await op.end_device(me.lfdi)
    group = await op.group("service point", edev)
    program = await op.program(4, "SP")
    await op.assign(group, program)
    if with_default:
        await op.default_control(program, {"opModMaxLimW": 10000})
    event = await op.event(program, T0 + 120, 60, {"opModMaxLimW": 4000})
    device = csip.client("device1")
    (derp,) = (await walk(device, me.lfdi)).all_programs()
    if with_default:
        assert (await get(device, derp.DefaultDERControlLink.href, model.DefaultDERControl)).DERControlBase.opModMaxLimW \
            == 10000
    else:
        assert derp.DefaultDERControlLink is None
        assert (await device.get(f"{derp.href}/dderc")).status == 404
    (control,) = (await controls(device, derp)).values()
    await respond(device, control, me.lfdi, 1, T0)
    await csip.at(T0 + 120)
    assert await status_of(device, control) == (1, T0 + 120)
    await respond(device, control, me.lfdi, 2, T0 + 120)
    await csip.at(T0 + 180)
    await respond(device, control, me.lfdi, 3, T0 + 180)
    assert await statuses(csip, event) == [1, 2, 3]
    assert await active(device, derp) == []


async def test_BASIC_017_one_program_no_default_one_event(csip, identities):
    await one_event(csip, identities, with_default=False)


async def test_BASIC_018_one_program_one_default_one_event(csip, identities):
    await one_event(csip, identities, with_default=True)


async def test_BASIC_019_two_non_overlapping_similar_events_one_program(csip, identities):
    """Both events run in turn: neither supersedes the other (no overlap), the default holds in between."""
    op, me = csip.operator, identities["device1"]
    plant = await figure_3(csip, me.lfdi)
    sp = plant.programs["SP"]
    await op.default_control(sp, {"opModMaxLimW": 10000})
    first = await op.event(sp, T0 + 120, 60, {"opModMaxLimW": 4000})
    second = await op.event(sp, T0 + 240, 60, {"opModMaxLimW": 3000})
    device = csip.client("device1")
    derp = (await walk(device, me.lfdi)).program("SP")
    served = await controls(device, derp)
    assert not any(c.EventStatus.potentiallySuperseded for c in served.values())
    for event, start in ((first, T0 + 120), (second, T0 + 240)):
        control = served[event["mRID"]]
        await respond(device, control, me.lfdi, 1, T0)
        await csip.at(start)
        assert await active(device, derp) == [event["mRID"]]
        await respond(device, control, me.lfdi, 2, start)
        await csip.at(start + 60)
        assert await active(device, derp) == []
        await respond(device, control, me.lfdi, 3, start + 60)
    assert [await statuses(csip, e) for e in (first, second)] == [[1, 2, 3], [1, 2, 3]]


async def test_BASIC_020_two_programs_two_defaults_two_non_overlapping_events(csip, identities):
    op, me = csip.operator, identities["device1"]
    plant = await figure_3(csip, me.lfdi)
    await op.default_control(plant.programs["SP"], {"opModMaxLimW": 9000})
    await op.default_control(plant.programs["SY"], {"opModMaxLimW": 10000})
    made = {"SP": await op.event(plant.programs["SP"], T0 + 120, 60, {"opModMaxLimW": 4000}),
            "SY": await op.event(plant.programs["SY"], T0 + 240, 60, {"opModMaxLimW": 5000})}
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    for name, start in (("SP", T0 + 120), ("SY", T0 + 240)):
        derp = found.program(name)
        (control,) = (await controls(device, derp)).values()
        await respond(device, control, me.lfdi, 1, T0)
        await csip.at(start)
        assert await active(device, derp) == [made[name]["mRID"]]
        other = found.program("SY" if name == "SP" else "SP")
        assert await active(device, other) == []
        await respond(device, control, me.lfdi, 2, start)
        await csip.at(start + 60)
        await respond(device, control, me.lfdi, 3, start + 60)
    assert [await statuses(csip, made[n]) for n in ("SP", "SY")] == [[1, 2, 3], [1, 2, 3]]
    assert [(await get(device, found.program(n).DefaultDERControlLink.href, model.DefaultDERControl))
            .DERControlBase.opModMaxLimW for n in ("SP", "SY")] == [9000, 10000]


async def overlapping(csip, identities, first: str, sy_base: dict, sp_base: dict) -> tuple:
    """A System event and a Service Point event over the same two minutes, created in the order given, both
    before they start. The server applies no supersession across programs (that is the client's rule): both
    are Active at their start, and the client's responses, whatever its rules make them, are kept."""
    op, me = csip.operator, identities["device1"]
    plant = await figure_3(csip, me.lfdi)
    await op.default_control(plant.programs["SP"], {"opModMaxLimW": 9000})
    await op.default_control(plant.programs["SY"], {"opModMaxLimW": 10000})
    bases = {"SY": sy_base, "SP": sp_base}
    second = "SP" if first == "SY" else "SY"
    made = {first: await op.event(plant.programs[first], T0 + 120, 120, bases[first])}
    csip.clock.advance(5)
    made[second] = await op.event(plant.programs[second], T0 + 120, 120, bases[second])
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    served = {name: (await controls(device, found.program(name)))[made[name]["mRID"]] for name in made}
    for control in served.values():
        assert control.EventStatus.potentiallySuperseded is False
    return found, made, served


async def test_BASIC_021_overlapping_similar_sy_then_sp(csip, identities):
    """SY first, then an overlapping SP event of the same mode, both known before they start: the client runs SP
    and supersedes SY (7); the server keeps both responses and shows both events Active at the start."""
    me = identities["device1"]
    found, made, served = await overlapping(csip, identities, "SY", {"opModMaxLimW": 5000}, {"opModMaxLimW": 4000})
    device = csip.client("device1")
    for name in ("SY", "SP"):
        await respond(device, served[name], me.lfdi, 1, T0 + 5)
    await respond(device, served["SY"], me.lfdi, 7, T0 + 5)
    await csip.at(T0 + 120)
    assert [await status_of(device, served[n]) for n in ("SY", "SP")] == [(1, T0 + 120), (1, T0 + 120)]
    await respond(device, served["SP"], me.lfdi, 2, T0 + 120)
    await csip.at(T0 + 240)
    await respond(device, served["SP"], me.lfdi, 3, T0 + 240)
    assert [await statuses(csip, made[n]) for n in ("SY", "SP")] == [[1, 7], [1, 2, 3]]


async def test_BASIC_022_overlapping_similar_sp_then_sy(csip, identities):
    me = identities["device1"]
    found, made, served = await overlapping(csip, identities, "SP", {"opModMaxLimW": 5000}, {"opModMaxLimW": 4000})
    device = csip.client("device1")
    for name in ("SP", "SY"):
        await respond(device, served[name], me.lfdi, 1, T0 + 5)
    await respond(device, served["SY"], me.lfdi, 7, T0 + 5)
    await csip.at(T0 + 120)
    assert await active(device, found.program("SP")) == [made["SP"]["mRID"]]
    assert await active(device, found.program("SY")) == [made["SY"]["mRID"]]
    await respond(device, served["SP"], me.lfdi, 2, T0 + 120)
    await csip.at(T0 + 240)
    await respond(device, served["SP"], me.lfdi, 3, T0 + 240)
    assert [await statuses(csip, made[n]) for n in ("SP", "SY")] == [[1, 2, 3], [1, 7]]


async def test_BASIC_023_overlapping_similar_sp_created_after_sy_started(csip, identities):
    """SY runs from its start; the SP event is created after that; at the SP start the client supersedes the
    running SY event (7) and runs SP. The server keeps SY Active and serves SP as a new Scheduled event."""
    me = identities["device1"]
    op = csip.operator
    plant = await figure_3(csip, me.lfdi)
    await op.default_control(plant.programs["SP"], {"opModMaxLimW": 9000})
    sy = await op.event(plant.programs["SY"], T0 + 120, 180, {"opModMaxLimW": 5000})
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    (sy_control,) = (await controls(device, found.program("SY"))).values()
    await respond(device, sy_control, me.lfdi, 1, T0)
    await csip.at(T0 + 120)
    await respond(device, sy_control, me.lfdi, 2, T0 + 120)
    await csip.at(T0 + 150)
    sp = await op.event(plant.programs["SP"], T0 + 180, 60, {"opModMaxLimW": 4000})
    (sp_control,) = (await controls(device, found.program("SP"))).values()
    assert sp_control.mRID == sp["mRID"] and await status_of(device, sp_control) == (0, T0 + 150)
    await respond(device, sp_control, me.lfdi, 1, T0 + 150)
    await csip.at(T0 + 180)
    assert await status_of(device, sy_control) == (1, T0 + 120)
    assert await status_of(device, sp_control) == (1, T0 + 180)
    await respond(device, sy_control, me.lfdi, 7, T0 + 180)
    await respond(device, sp_control, me.lfdi, 2, T0 + 180)
    await csip.at(T0 + 240)
    await respond(device, sp_control, me.lfdi, 3, T0 + 240)
    assert [await statuses(csip, e) for e in (sy, sp)] == [[1, 2, 7], [1, 2, 3]]


INDEPENDENT = ({"opModFixedPFInjectW": {"displacement": 95, "excitation": False, "multiplier": -2}},
               {"opModMaxLimW": 4000})


async def run_both(csip, identities, found, made, served, starts: dict[str, int], ends: dict[str, int]) -> None:
    me = identities["device1"]
    device = csip.client("device1")
    for name in served:
        await respond(device, served[name], me.lfdi, 1, csip.clock.now())
    for moment in sorted(set(starts.values()) | set(ends.values())):
        await csip.at(moment)
        for name in served:
            if starts[name] == moment:
                assert await active(device, found.program(name)) == [made[name]["mRID"]]
                await respond(device, served[name], me.lfdi, 2, moment)
            if ends[name] == moment:
                assert await active(device, found.program(name)) == []
                await respond(device, served[name], me.lfdi, 3, moment)
    for name in served:
        assert await statuses(csip, made[name]) == [1, 2, 3], name


async def test_BASIC_024_overlapping_independent_scheduled_ahead(csip, identities):
    """Different modes (fixed PF on SY, max W on SP), both known before they start: both are served, Active
    together, and completed; all six responses are kept."""
    found, made, served = await overlapping(csip, identities, "SY", *INDEPENDENT)
    await run_both(csip, identities, found, made, served, {"SY": T0 + 120, "SP": T0 + 120},
                   {"SY": T0 + 240, "SP": T0 + 240})


async def test_BASIC_025_overlapping_independent_sp_first(csip, identities):
    found, made, served = await overlapping(csip, identities, "SP", *INDEPENDENT)
    await run_both(csip, identities, found, made, served, {"SY": T0 + 120, "SP": T0 + 120},
                   {"SY": T0 + 240, "SP": T0 + 240})


async def test_BASIC_026_overlapping_independent_sp_created_after_sy_started(csip, identities):
    me = identities["device1"]
    op = csip.operator
    plant = await figure_3(csip, me.lfdi)
    device = csip.client("device1")
    sy = await op.event(plant.programs["SY"], T0 + 120, 180, INDEPENDENT[0])
    found = await walk(device, me.lfdi)
    (sy_control,) = (await controls(device, found.program("SY"))).values()
    await respond(device, sy_control, me.lfdi, 1, T0)
    await csip.at(T0 + 120)
    await respond(device, sy_control, me.lfdi, 2, T0 + 120)
    await csip.at(T0 + 150)
    sp = await op.event(plant.programs["SP"], T0 + 180, 60, INDEPENDENT[1])
    (sp_control,) = (await controls(device, found.program("SP"))).values()
    await respond(device, sp_control, me.lfdi, 1, T0 + 150)
    await csip.at(T0 + 180)
    assert await active(device, found.program("SY")) == [sy["mRID"]]
    assert await active(device, found.program("SP")) == [sp["mRID"]]
    await respond(device, sp_control, me.lfdi, 2, T0 + 180)
    await csip.at(T0 + 240)
    await respond(device, sp_control, me.lfdi, 3, T0 + 240)
    await csip.at(T0 + 300)
    await respond(device, sy_control, me.lfdi, 3, T0 + 300)
    assert [await statuses(csip, e) for e in (sy, sp)] == [[1, 2, 3], [1, 2, 3]]


# -- alarms, status, metering -------------------------------------------------------------------------

async def test_BASIC_027_alarms(csip, identities):
    """Five LogEvents POSTed to the EndDevice's LogEventList: each 201 with a Location that reads it back; the list
    (l=255) holds all five, newest first."""
    me = identities["device1"]
    await csip.operator.end_device(me.lfdi)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    assert found.edev.LogEventListLink.all == 0
    href = found.edev.LogEventListLink.href
    locations = []
    for n in range(5):
        event = model.LogEvent(createdDateTime=T0 + 10 * n, details=f"inverter software fault {n}", functionSet=0,
                               logEventCode=0, logEventID=n + 1, logEventPEN=40732, profileID=2)
        reply = await device.post(href, codec.encode(event))
        assert reply.status == 201 and reply.headers["Location"].startswith(href + "/")
        locations.append(reply.headers["Location"])
        kept = await get(device, reply.headers["Location"], model.LogEvent)
        assert (kept.logEventID, kept.createdDateTime, kept.functionSet) == (n + 1, T0 + 10 * n, 0)
    listed = await get_all(device, href, model.LogEventList)
    assert listed.all == 5 and [e.logEventID for e in listed.LogEvent] == [5, 4, 3, 2, 1]
    assert [e.href for e in listed.LogEvent] == locations[::-1]
    assert (await get(device, found.edev.href, model.EndDevice)).LogEventListLink.all == 5


async def test_BASIC_028_inverter_status(csip, identities):
    """The DER's documents read back as last written; a PUT of a new DERStatus (inverter, then storage fields)
    answers 204 and is what the EndDevice's DERStatus shows."""
    me = identities["device1"]
    await csip.operator.end_device(me.lfdi)
    device = csip.client("device1")
    found = await walk(device, me.lfdi)
    (der,) = (await get_all(device, found.edev.DERListLink.href, model.DERList)).DER
    for href, document in ((der.DERCapabilityLink.href, documents.der_capability()),
                           (der.DERSettingsLink.href, documents.der_settings()),
                           (der.DERStatusLink.href, documents.der_status())):
        await device.put(href, codec.encode(document))
        got = await get(device, href, type(document))
        got.href = None
        assert got == document
    inverter = model.DERStatus(
        genConnectStatus=model.ConnectStatusType(dateTime=T0, value="07"),
        inverterStatus=model.InverterStatusType(dateTime=T0, value=4),
        localControlModeStatus=model.LocalControlModeStatusType(dateTime=T0, value=1),
        manufacturerStatus=model.ManufacturerStatusType(dateTime=T0, value="OK"),
        operationalModeStatus=model.OperationalModeStatusType(dateTime=T0, value=2), readingTime=T0)
    storage = model.DERStatus(
        localControlModeStatus=model.LocalControlModeStatusType(dateTime=T0 + 60, value=1),
        manufacturerStatus=model.ManufacturerStatusType(dateTime=T0 + 60, value="OK"),
        operationalModeStatus=model.OperationalModeStatusType(dateTime=T0 + 60, value=2), readingTime=T0 + 60,
        stateOfChargeStatus=model.StateOfChargeStatusType(dateTime=T0 + 60, value=6550),
        storageModeStatus=model.StorageModeStatusType(dateTime=T0 + 60, value=1),
        storConnectStatus=model.ConnectStatusType(dateTime=T0 + 60, value="07"))
    for status in (inverter, storage):
        assert (await device.put(der.DERStatusLink.href, codec.encode(status))).status == 204
        got = await get(device, der.DERStatusLink.href, model.DERStatus)
        got.href = None
        assert got == status


READING_TYPES = {  # description: (uom, kind) -- Real Power W, Reactive Power var, Frequency Hz, Voltage V
    "Real Power(W)": (38, 37), "Reactive Power(VAr)": (63, 37), "Frequency(Hz)": (33, 12), "Voltage(V)": (29, 12)}


def meter_reading(n: int, description: str, value: int | None, when: int = T0) -> model.MirrorMeterReading:
    uom, kind = READING_TYPES[description]
    mrid = f"{n:02X}" * 12 + "00009F1C"
    if value is None:  # the definition only: ReadingType, no data
        return model.MirrorMeterReading(mRID=mrid, description=description, ReadingType=model.ReadingType(
            accumulationBehaviour=12, commodity=1, dataQualifier=0, flowDirection=1, kind=kind, phase=0,
            powerOfTenMultiplier=0, uom=uom))
    return model.MirrorMeterReading(mRID=mrid, description=description, Reading=model.Reading(
        value=value, timePeriod=model.DateTimeInterval(duration=300, start=when)))


async def test_BASIC_029_inverter_meter_reading(csip, identities):
    """A MirrorUsagePoint defined with its Real Power ReadingType (201 + Location); the other ReadingTypes (201,
    step 6) and then the readings (204, step 8) POSTed to it; its postRate is served; what was posted reads back."""
    me = identities["device1"]
    await csip.operator.end_device(me.lfdi)
    await csip.operator.ok("PUT", "/rates", {"resource": "mup", "postRate": 60})
    device = csip.client("device1")
    dcap = await get(device, "/dcap", model.DeviceCapability)
    mup = model.MirrorUsagePoint(mRID="AB" * 12 + "00009F1C", description="inverter", roleFlags="49",
                                 serviceCategoryKind=0, status=1, deviceLFDI=me.lfdi,
                                 MirrorMeterReading=[meter_reading(1, "Real Power(W)", None)])
    created = await device.post(dcap.MirrorUsagePointListLink.href, codec.encode(mup))
    assert created.status == 201
    location = created.headers["Location"]
    for n, description in enumerate(list(READING_TYPES)[1:], 2):
        reply = await device.post(location, codec.encode(meter_reading(n, description, None)))
        assert reply.status == 201, (description, reply.status, reply.reason)
    got = await get(device, location, model.MirrorUsagePoint)
    assert got.postRate == 60 and got.deviceLFDI == me.lfdi
    values = {"Real Power(W)": 4200, "Reactive Power(VAr)": -300, "Frequency(Hz)": 60, "Voltage(V)": 241}
    for n, (description, value) in enumerate(values.items(), 1):
        reply = await device.post(location, codec.encode(meter_reading(n, description, value, T0 + 60)))
        assert reply.status == 204, (description, reply.status, reply.reason)
    got = await get(device, location, model.MirrorUsagePoint)
    read = {m.description: (m.ReadingType.uom, m.Reading.value) for m in got.MirrorMeterReading}
    assert read == {d: (READING_TYPES[d][0], v) for d, v in values.items()}


async def test_BASIC_029_reading_locations_under_usage_point(csip, identities):
    """Steps 6 and 10 with errata seq 36 and MUP.010/013/015: each MirrorMeterReading POSTed to the
    MirrorUsagePoint answers with the Location of its MeterReading under the mirrored UsagePoint (201 when it
    defines a new one, 204 with the same Location when it brings a reading); the test client GETs those
    locations and finds the ReadingTypes and the readings posted. A MirrorMeterReadingList answers with the
    MeterReadingList (MUP.011); a new mRID without ReadingType is refused (MUP.016); the UsagePoint is reached
    from DeviceCapability, by its own client only."""
    me = identities["device1"]
    await csip.operator.end_device(me.lfdi)
    device = csip.client("device1")
    mup = model.MirrorUsagePoint(mRID="AC" * 12 + "00009F1C", description="inverter", roleFlags="49",
                                 serviceCategoryKind=0, status=1, deviceLFDI=me.lfdi,
                                 MirrorMeterReading=[meter_reading(1, "Real Power(W)", None)])
    location = (await device.post("/mup", codec.encode(mup))).headers["Location"]
    locations = {}
    for n, description in enumerate(list(READING_TYPES)[1:], 2):
        reply = await device.post(location, codec.encode(meter_reading(n, description, None)))
        assert reply.status == 201 and reply.headers["Location"].startswith("/upt/"), (description, reply.status)
        locations[description] = reply.headers["Location"]
    assert len(set(locations.values())) == 3
    values = {"Real Power(W)": 4200, "Reactive Power(VAr)": -300, "Frequency(Hz)": 60, "Voltage(V)": 241}
    for n, (description, value) in enumerate(values.items(), 1):
        reply = await device.post(location, codec.encode(meter_reading(n, description, value, T0 + 60)))
        assert reply.status == 204, (description, reply.status, reply.reason)
        assert reply.headers["Location"] == locations.setdefault(description, reply.headers["Location"])

    for description, href in locations.items():  # step 10, by the test client
        found = await get(device, href, model.MeterReading)
        n = list(READING_TYPES).index(description) + 1
        assert (found.mRID, found.description) == (f"{n:02X}" * 12 + "00009F1C", description)
        reading_type = await get(device, found.ReadingTypeLink.href, model.ReadingType)
        assert (reading_type.uom, reading_type.kind) == READING_TYPES[description]
        reading = await get(device, found.ReadingLink.href, model.Reading)
        assert (reading.value, reading.timePeriod.start) == (values[description], T0 + 60)
    newer = await device.post(location, codec.encode(meter_reading(4, "Voltage(V)", 239, T0 + 360)))
    assert newer.status == 204
    voltage = await get(device, locations["Voltage(V)"], model.MeterReading)
    assert (await get(device, voltage.ReadingLink.href, model.Reading)).value == 239  # MUP.013: replaced

    dcap = await get(device, "/dcap", model.DeviceCapability)
    points = await get(device, f"{dcap.UsagePointListLink.href}?l=10", model.UsagePointList)
    assert points.all == 1 and points.UsagePoint[0].mRID == mup.mRID and points.UsagePoint[0].deviceLFDI == me.lfdi
    mr_list = points.UsagePoint[0].MeterReadingListLink
    listed = await get(device, f"{mr_list.href}?l=10", model.MeterReadingList)
    assert mr_list.all == listed.all == 4 and {m.href for m in listed.MeterReading} == set(locations.values())
    batch = model.MirrorMeterReadingList(all=2, results=2, MirrorMeterReading=[
        meter_reading(1, "Real Power(W)", 4100, T0 + 360), meter_reading(2, "Reactive Power(VAr)", -200, T0 + 360)])
    reply = await device.post(location, codec.encode(batch))
    assert reply.status == 204 and reply.headers["Location"] == mr_list.href

    before = csip.harness.snapshot()
    undefined = meter_reading(9, "Voltage(V)", 240, T0 + 360)  # a new mRID, a reading but no ReadingType
    refused = await device.post(location, codec.encode(undefined))
    assert refused.status == 400 and undefined.mRID in refused.reason
    another = model.MirrorUsagePoint(mRID="AD" * 12 + "00009F1C", roleFlags="49", serviceCategoryKind=0, status=1,
                                     deviceLFDI=me.lfdi, MirrorMeterReading=[undefined])
    assert (await device.post("/mup", codec.encode(another))).status == 400
    assert csip.harness.snapshot() == before
    other = csip.client("device2")
    assert (await get(other, "/upt", model.UsagePointList)).all == 0
    assert (await other.get(locations["Voltage(V)"])).status == 404
