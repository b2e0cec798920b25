"""The bridge end to end: a real server (mutual TLS), real Modbus simulators, the bridge between them.

An event created on the server reaches the simulators' registers within the
notification (or poll) latency and is undone at its end; the server records
the responses and the telemetry; a mode the devices cannot carry out is
rejected (252); losing a simulator or the server does not stop the bridge.
Everything runs on the wall clock, so events start a couple of seconds ahead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import pytest

from der_gateway.bridge import sunspec_map as sm
from der_gateway.bridge.agent import LOG_MODBUS_LOST, LOG_MODBUS_RESTORED, LOG_SERVER_UNREACHABLE
from der_gateway.bridge.identity import DeviceIdentity, device_lfdi, load_inventory
from der_gateway.bridge.runtime import Bridge
from der_gateway.clock import SystemClock
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model, paths
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.services import der_controls
from device_sims import Fleet, profiles

PEN = Pen(40732)
FAST = dict(modbus_backoff=0.2, modbus_max_backoff=0.5, server_backoff=0.2, server_max_backoff=0.5,
            http_timeout=3.0, modbus_timeout=1.0, min_poll=0.5)


async def until(predicate: Callable[[], bool], timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, what: str) -> None:
    """Like until, for a check that has to await (the server's store)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


def edev_id(state) -> int:
    return int(state.edev.rsplit("/", 1)[1])


def event(start: int, duration: int, **base) -> model.DERControl:
    return model.DERControl(
        mRID="", creationTime=0, interval=model.DateTimeInterval(start=start, duration=duration),
        EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
        DERControlBase=model.DERControlBase(**base), responseRequired="03")


async def enroll(h, bridge: Bridge, default: model.DERControlBase | None = None) -> int:
    """A program in a group holding all of the bridge's EndDevices; waits until every device follows it."""
    store = h.store
    ids = [edev_id(s) for s in bridge.states]
    program = await store.create_program(new_mrid(PEN), "curtailment", 1)
    if default is not None:
        dderc = model.DefaultDERControl(mRID=new_mrid(PEN), description="default", DERControlBase=default)
        await store.set_default_control(program, dderc.mRID, codec.to_data(dderc),
                                        changed=[paths.default_control(program)])
    group = await store.create_group(new_mrid(PEN), "bridge fleet")
    await store.set_group_program(group, program, True, changed=[paths.program_list(group)])
    await store.set_membership(group, ids, True, changed=[paths.fsa_list(i) for i in ids])
    h.server.background.changed()
    href = paths.program(program)
    await until(lambda: all(any(v.key == href for v in (a.programs() or ())) for a in bridge.agents.values()),
                8, "every device to follow the program")
    return program


async def create_event(h, program: int, control: model.DERControl):
    record = await der_controls.create_event(h.store, SystemClock(), PEN, program, control)
    h.server.background.changed()
    return record


def w_of(fleet: Fleet, name: str) -> tuple[float, float]:
    inverter = fleet[name].inverter
    return inverter.w, inverter.nameplate.w_max


@contextlib.asynccontextmanager
async def started(make_harness, *, notify_tls: bool = False, profile: str = "csip"):
    """A server (post rate 2 s), three simulators and a bridge, all ready.

    Notifications come over plain http (which the server is told to allow), or with ``notify_tls`` over https
    as the server allows by default: the bridge's listener presents the aggregator's certificate.
    """
    allow = ("https://",) if notify_tls else ("http://127.0.0.1:",)
    h = make_harness(notification_allow=allow, notification_allow_addresses=("127.0.0.1/32",), post_rate=2,
                     profile=profile)
    await h.start()
    try:
        async with Fleet.start(3, kinds=("pv", "battery"), tick=0.1, noise=0.0, pv_profile=profiles.ClearSky(hour=12),
                               battery_profile=profiles.Constant(0.8), soc=60.0) as fleet:
            async with Bridge.start(fleet.inventory(), h.server.url, h.config.certs_dir, cert="aggregator",
                                    notify_tls=notify_tls, **FAST) as bridge:
                await bridge.wait_ready(10)
                yield h, fleet, bridge
    finally:
        await h.stop()


@pytest.fixture
async def world(make_harness):
    async with started(make_harness) as w:
        yield w


@pytest.fixture
async def tls_world(make_harness):
    async with started(make_harness, notify_tls=True) as w:
        yield w


async def test_an_event_curtails_the_simulators_and_reverts(world):
    h, fleet, bridge = world
    store = h.store
    names = list(bridge.agents)
    assert all(s.registered and s.modbus_ok for s in bridge.states)
    # each device is its own EndDevice, registered by the aggregator with an identity of its own
    lfdis = {s.lfdi for s in bridge.states}
    assert len(lfdis) == 3
    for name in names:
        record = await store.end_device(edev_id(bridge[name]))
        assert record.lFDI == bridge[name].lfdi and record.sFDI == bridge[name].sfdi
        assert record.deviceCategory in ("00200000", "02000000")
        # DERCapability and DERSettings come from Modbus: the nameplate's WMax
        cap = await store.der_document(record.id, 1, "dercap")
        settings = await store.der_document(record.id, 1, "derg")
        w_max = fleet[name].nameplate.w_max
        assert cap["rtgMaxW"]["value"] * 10 ** cap["rtgMaxW"]["multiplier"] == w_max
        assert settings["setMaxW"]["value"] * 10 ** settings["setMaxW"]["multiplier"] == w_max
        assert await store.der_document(record.id, 1, "ders") is not None
        assert await store.der_document(record.id, 1, "dera") is not None
        assert w_of(fleet, name)[0] > 0.6 * w_max  # full output before the event

    # the program's DefaultDERControl holds the devices at 80 % when no event runs
    program = await enroll(h, bridge, default=model.DERControlBase(opModMaxLimW=8000))
    await until(lambda: all(bridge[n].applied and bridge[n].applied[0] == "default" for n in names), 2,
                "the default control to be written")
    for name in names:
        inverter = fleet[name].inverter
        assert inverter.get(704, "WMaxLimPct") == 800 and inverter.get(704, "WMaxLimPctEna") == 1
        assert 0.6 * w_of(fleet, name)[1] < w_of(fleet, name)[0] <= 0.8 * w_of(fleet, name)[1] + 1
    start = int(time.time()) + 2
    record = await create_event(h, program, event(start, 3, opModMaxLimW=5000))  # 50 % of setMaxW
    mrid = record.mRID

    await until(lambda: all(1 in bridge[n].statuses(mrid) for n in names), 3, "responses 'received'")
    assert all(w_of(fleet, n)[0] > 0.6 * w_of(fleet, n)[1] for n in names)  # not before its start

    await until(lambda: all(w_of(fleet, n)[0] <= 0.5 * w_of(fleet, n)[1] + 1 for n in names), start + 2 - time.time(),
                "the simulators to be capped at 50 %")
    assert time.time() >= start - 0.1
    key = ("event", paths.program(program), mrid)
    await until(lambda: all(bridge[n].applied == key for n in names), 1, "the bridge to record what it wrote")
    for name in names:
        state = bridge[name]
        assert state.decision.source == "event"
        # the reversion timer is the event's remaining time: the device goes back to the default by itself
        # if the bridge is gone
        assert sm.Write(704, "WMaxLimPct", 500) in state.last_plan
        assert 0 < fleet[name].inverter.get(704, "WMaxLimPctRvrtTms") <= 3
        assert fleet[name].inverter.get(704, "WMaxLimPctRvrt") == 800
        assert fleet[name].inverter.get(704, "WMaxLimPctEnaRvrt") == 1

    end = start + 3
    await until(lambda: all(w_of(fleet, n)[0] > 0.6 * w_of(fleet, n)[1] for n in names), end + 2.5 - time.time(),
                "the simulators to return to full output")
    assert time.time() >= end - 0.1
    await until(lambda: all(bridge[n].statuses(mrid) == [1, 2, 3] for n in names), 2, "responses 1, 2 and 3")

    # the server recorded them, each under its device's LFDI
    responses = await store.responses(record.id)
    by_device = {}
    for r in responses:
        by_device.setdefault(r.end_device_lfdi, []).append(r.status)
    assert by_device == {lfdi: [1, 2, 3] for lfdi in lfdis}
    for name in names:  # back to the default
        inverter = fleet[name].inverter
        assert inverter.get(704, "WMaxLimPct") == 800 and inverter.get(704, "WMaxLimPctEna") == 1
        assert bridge[name].applied[0] == "default"

    # telemetry: a MirrorUsagePoint per device, with averaged readings at the post rate
    aggregator = await h.store.aggregators()
    owner = next(lfdi for lfdi, n in aggregator if n == "aggregator")
    mups = await store.mirror_usage_points(owner, 0, 10)
    assert {m.data["deviceLFDI"] for m in mups.items} == lfdis
    for mup in mups.items:
        readings = await store.readings(mup.id, sm.telemetry_mrid(mup.data["deviceLFDI"], "W", PEN.number))
        assert len(readings) >= 2
        assert readings[-1]["timePeriod"]["duration"] == 2
    assert all(s.readings_posted >= 2 for s in bridge.states)


async def test_a_curve_is_adopted_and_an_unsupported_mode_rejected_with_252(tls_world):
    h, fleet, bridge = tls_world
    names = list(bridge.agents)
    program = await enroll(h, bridge)
    # (this bridge hears of changes over https)
    assert bridge.listen_url.startswith("https://") and bridge.subscriptions_made >= 3 and bridge.notifications >= 3
    # a volt-var curve: the bridge fetches it, writes it to a free 705 slot, adopts it (AdptCrvReq) and enables it
    curve = model.DERCurve(mRID=new_mrid(PEN), creationTime=int(time.time()), curveType=11, xMultiplier=-2,
                           yMultiplier=-2, yRefType=2, CurveData=[model.CurveData(xvalue=x, yvalue=y) for x, y in (
                               (9200, 3000), (9670, 0), (10300, 0), (10700, -3000))])
    curve_id = await h.store.add_curve(program, curve.mRID, codec.to_data(curve))
    start = int(time.time()) + 1
    # (events of 6 s: the checks below run while volt-var is still on, even with both cores busy)
    rejected = await create_event(h, program, event(start, 6, opModWattPF=model.Link(href=paths.curve(program, 1))))
    volt_var = await create_event(h, program, event(start, 6, opModVoltVar=model.Link(href=paths.curve(program,
                                                                                                      curve_id))))
    await until(lambda: all(bridge[n].statuses(rejected.mRID) == [252] for n in names), 3, "252 from every device")
    by_device = {r.end_device_lfdi: r.status for r in await h.store.responses(rejected.id)}
    assert by_device == {s.lfdi: 252 for s in bridge.states}

    await until(lambda: all(fleet[n].inverter.get(705, "Ena") == 1 for n in names), start + 5 - time.time(),
                "volt-var to be enabled")
    for name in names:
        inverter = fleet[name].inverter
        assert inverter.get(705, "Crv[1].ActPt") == 4 and inverter.get(705, "AdptCrvRslt") == 1
        assert [inverter.get(705, f"Crv[1].Pt[{i}].V") for i in (1, 4)] == [920, 1070]  # % VNom, V_SF -1
        assert sm.Await(705, "AdptCrvRslt", 1, failed=2) in bridge[name].last_plan
    await until(lambda: all(bridge[n].statuses(volt_var.mRID) == [1, 2, 3] for n in names), start + 9 - time.time(),
                "the volt-var event to complete")
    assert all(fleet[n].inverter.get(705, "Ena") == 0 for n in names)  # back as it was found
    assert all(w_of(fleet, n)[0] > 0.6 * w_of(fleet, n)[1] for n in names)


async def test_under_csip_aus_the_bridge_subscribes_through_its_own_end_device(make_harness):
    """CSIP-AUS keeps an aggregator's subscriptions on its own EndDevice (/edev/0): the bridge finds it there,
    hears of an event, and the simulators follow it."""
    async with started(make_harness, profile="csip-aus") as (h, fleet, bridge):
        names = list(bridge.agents)
        program = await enroll(h, bridge)
        assert await bridge.own_subscription_list() == paths.subscription_list(None)
        assert bridge.subscriptions_made >= 1 and bridge.subscription_failures == 0
        assert await h.store.aggregator_subscriptions(bridge.lfdi)
        start = int(time.time()) + 1
        record = await create_event(h, program, event(start, 2, opModMaxLimW=1000))
        await until(lambda: all(bridge[n].statuses(record.mRID) == [1, 2, 3] for n in names), start + 6 - time.time(),
                    "every device to run the event")
        assert bridge.notifications >= 1


async def test_losing_a_simulator_is_reported_and_survived(world):
    h, fleet, bridge = world
    name = list(bridge.agents)[0]
    device, state = fleet[name], bridge[name]
    edev = edev_id(state)
    program = await enroll(h, bridge)

    await device.server.stop()
    await until(lambda: not state.modbus_ok, 3, "the bridge to notice the loss")

    async def reported() -> tuple[dict | None, list[int]]:
        status = await h.store.der_document(edev, 1, "ders")
        logs = await h.store.log_events(edev, 0, 10)
        return status, [d["logEventCode"] for _, d in logs.items]

    async def loss_reported() -> bool:
        # DERStatus says so, and a LogEvent
        status, codes = await reported()
        return (status.get("manufacturerStatus", {}).get("value") == "COMLOS"
                and status["operationalModeStatus"]["value"] == 0 and codes == [LOG_MODBUS_LOST])
    await eventually(loss_reported, 3, "the loss to reach the server")

    # an event arrives while the device cannot be reached: written once it is back
    start = int(time.time())
    record = await create_event(h, program, event(start, 20, opModMaxLimW=4000))
    others = [n for n in bridge.agents if n != name]
    await until(lambda: all(bridge[n].statuses(record.mRID) == [1, 2] for n in others), 3, "the others to start")
    assert state.statuses(record.mRID) == [1]  # received, not started: nothing could be written
    await asyncio.sleep(0.5)
    device.server.requested_port = device.port
    await device.server.start()
    # (the event lasts long enough for these waits to allow for both cores being busy)
    await until(lambda: state.modbus_ok, 5, "the bridge to reconnect")
    await until(lambda: device.inverter.w <= 0.4 * device.nameplate.w_max + 1, 6, "the control to be written")
    await until(lambda: state.statuses(record.mRID) == [1, 2], 4, "'started' once written")
    assert all(a.running for a in bridge.agents.values())
    await until(lambda: any(c == LOG_MODBUS_RESTORED for c, _ in state.log_events), 4, "the restoration log")

    async def back() -> bool:
        status, codes = await reported()
        return status.get("manufacturerStatus", {}).get("value") != "COMLOS" and LOG_MODBUS_RESTORED in codes
    await eventually(back, 3, "the server to hear the device is back")


async def test_losing_the_server_is_survived_and_logged(world):
    h, fleet, bridge = world
    names = list(bridge.agents)
    posted = {n: bridge[n].readings_posted for n in names}
    port = h.server.port
    await h.stop()
    await until(lambda: not bridge.client.available, 5, "the bridge to notice the server is gone")
    await asyncio.sleep(0.5)
    h.config.port = port
    await h.start()
    await until(lambda: bridge.client.available, 5, "the bridge to reach the server again")
    # each device logs the outage on its EndDevice, and carries on posting telemetry
    for name in names:
        edev = edev_id(bridge[name])

        async def logged() -> bool:
            logs = await h.store.log_events(edev, 0, 10)
            return any(d["logEventCode"] == LOG_SERVER_UNREACHABLE for _, d in logs.items)
        await eventually(logged, 4, f"{name} to log the outage")
    await until(lambda: all(bridge[n].readings_posted > posted[n] for n in names), 5, "telemetry to resume")
    assert all(a.running for a in bridge.agents.values())
    # and events still get through
    program = await enroll(h, bridge)
    record = await create_event(h, program, event(int(time.time()) + 1, 2, opModMaxLimW=5000))
    await until(lambda: all(bridge[n].statuses(record.mRID)[:2] == [1, 2] for n in names), 4, "the event to start")


async def test_without_notifications_the_bridge_polls(make_harness):
    h = make_harness(post_rate=2)  # notificationURIs must be https: the bridge's http listener is refused
    await h.start()
    try:
        for resource in ("fsa", "derp"):
            await h.store.set_rate(resource, 1, None)
        async with Fleet.start(2, kinds=("pv",), tick=0.1, noise=0.0, pv_profile=profiles.Constant(1.0)) as fleet:
            async with Bridge.start(fleet.inventory(), h.server.url, h.config.certs_dir, **FAST) as bridge:
                await bridge.wait_ready(10)
                assert bridge.subscriptions_made == 0 and bridge.subscription_failures >= 1
                program = await enroll(h, bridge)
                start = int(time.time()) + 2
                record = await create_event(h, program, event(start, 2, opModMaxLimW=3000))
                names = list(bridge.agents)
                await until(lambda: all(w_of(fleet, n)[0] <= 0.3 * w_of(fleet, n)[1] + 1 for n in names),
                            start + 2 - time.time(), "the cap, found by polling")
                await until(lambda: all(bridge[n].statuses(record.mRID) == [1, 2, 3] for n in names),
                            start + 4 - time.time(), "responses 1, 2 and 3")
                assert bridge.notifications == 0
    finally:
        await h.stop()


def test_device_identity_is_deterministic_and_scoped():
    a = DeviceIdentity.of("DERSim", "SIM-PV00001", "pv")
    assert a == DeviceIdentity.of("DERSim", "SIM-PV00001", "pv")
    assert len(a.lfdi) == 40 and a.lfdi == a.lfdi.upper() and a.sfdi == sfdi_from_lfdi(a.lfdi)
    assert a.lfdi != device_lfdi("DERSim", "SIM-PV00002") != device_lfdi("Other", "SIM-PV00001")
    assert device_lfdi("DERSim", "SIM-PV00001", pen=1) != a.lfdi
    assert a.category_hex == "00200000" and DeviceIdentity.of("X", "1", "battery").category_hex == "02000000"


def test_inventory_is_checked():
    entry = {"name": "pv-1", "kind": "pv", "host": "127.0.0.1", "port": 1502, "serial": "S1", "manufacturer": "M"}
    (spec,) = load_inventory([entry])
    assert (spec.port, spec.unit_id) == (1502, 1)
    for bad in ([entry, entry], [{**entry, "port": 0}], [{**entry, "serial": ""}], [{"host": "x"}]):
        with pytest.raises(ValueError):
            load_inventory(bad)


def test_cli_arguments(tmp_path, capsys):
    from der_gateway.cli import bridge_cmd
    from der_gateway.cli.main import main

    assert bridge_cmd.parse_listen("0.0.0.0:8080") == ("0.0.0.0", 8080)
    assert bridge_cmd.parse_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(ValueError):
        bridge_cmd.parse_listen("8080")
    assert main(["bridge", "--inventory", str(tmp_path / "missing.json"), "--certs-dir", str(tmp_path)]) == 2
    assert "cannot read inventory" in capsys.readouterr().err
