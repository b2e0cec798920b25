"""The SunSpec device simulators (device_sims/), over real Modbus TCP on loopback.

pysunspec2's own client scans and drives them, as a bridge would; pymodbus's
client checks the raw register behaviour (exceptions, unit ids).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sunspec2.device as ss_device
from pymodbus.client import AsyncModbusTcpClient
from sunspec2.modbus.client import SunSpecModbusClientDeviceTCP
from sunspec2.modbus.modbus import ModbusClientException

from device_sims import BASE_ADDR, Fleet, ManualClock, Nameplate, SunSpecInverter
from device_sims import profiles
from device_sims.inverter import build_models
from device_sims.registers import RegisterImage

PV_EXPECTED = {1, 701, 702, 703, 704, 705, 715}
BATTERY_EXPECTED = PV_EXPECTED | {713}
REPO = Path(__file__).resolve().parents[1]


def pv_plate(w: int = 5000, serial: str = "T-PV1") -> Nameplate:
    return Nameplate.pv(w, serial=serial)


def battery_plate(serial: str = "T-BT1") -> Nameplate:
    return Nameplate.battery(5000, 13500, serial=serial)


def start(nameplates, *, clock=None, tick=0.05, **kw):
    kw.setdefault("pv_profile", profiles.Constant(1.0))
    kw.setdefault("battery_profile", profiles.Constant(0.0))
    kw.setdefault("noise", 0.0)
    kw.setdefault("adopt_delay", 0.2)
    kw.setdefault("soc", 50.0)
    return Fleet.start(0, nameplates=nameplates, clock=clock, tick=tick, **kw)


def connect(port: int) -> SunSpecModbusClientDeviceTCP:
    dev = SunSpecModbusClientDeviceTCP(slave_id=1, ipaddr="127.0.0.1", ipport=port, timeout=5)
    dev.scan()
    return dev


def run(fn, *args):
    """pysunspec2's client is blocking: run it off the event loop that serves the simulators."""
    return asyncio.to_thread(fn, *args)


def socket_fds() -> int:
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


def free_port_block(n: int) -> int:
    """A base port with ``n`` consecutive free ports after it."""
    rnd = random.Random()
    for _ in range(200):
        base = rnd.randrange(20000, 60000 - n)
        held = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                held.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port block")


# --------------------------------------------------------------------------
# The register image


def test_register_image_is_pysunspec2_encoding_of_each_model():
    models = build_models(battery_plate(), unit_id=1)
    img = RegisterImage(models)
    assert img.regs[:2] == [0x5375, 0x6E53]  # "SunS"
    assert img.regs[-2:] == [0xFFFF, 0]
    offset = 2
    for model_id, data in models:
        base, length = img.models[model_id]
        assert base == offset and img.regs[base] == model_id and img.regs[base + 1] == length
        expected = ss_device.Model(model_id, data=data).get_mb()
        got = b"".join(r.to_bytes(2, "big") for r in img.regs[base : base + length + 2])
        assert got == expected
        offset += length + 2
    assert offset == img.size - 2
    # Addresses come from the definitions: pysunspec2's point offsets, not ours.
    m704 = ss_device.Model(704, data={})
    assert img.ref(704, "WMaxLimPct").offset == img.models[704][0] + m704.points["WMaxLimPct"].offset
    assert img.ref(704, "PFWInj.PF").offset == img.models[704][0] + m704.groups["PFWInj"].points["PF"].offset
    assert img.get(713, "SoC") == 500 and img.get_scaled(713, "SoC") == 50.0
    assert img.get(1, "SN") == "T-BT1"
    assert img.get(701, "TmpAmb") is None  # not implemented


# --------------------------------------------------------------------------
# Scanning and reading with pysunspec2's client


@pytest.mark.parametrize("kind", ["pv", "battery"])
async def test_pysunspec2_scans_each_type_and_reads_sane_values(kind):
    plate = pv_plate(7600, "T-SCAN") if kind == "pv" else battery_plate("T-SCAN")
    async with start([plate]) as fleet:
        port = fleet[0].port

        def client():
            d = connect(port)
            try:
                found = {m for m in d.models if isinstance(m, int)}
                for mid in found:
                    assert d.models[mid][0].error_info == "", (mid, d.models[mid][0].error_info)
                c = d.models[1][0]
                m701, m702 = d.models[701][0], d.models[702][0]
                out = {
                    "models": found, "sn": c.SN.cvalue, "mn": c.Mn.cvalue, "md": c.Md.cvalue,
                    "w": m701.W.cvalue, "va": m701.VA.cvalue, "var": m701.Var.cvalue, "pf": m701.PF.cvalue,
                    "a": m701.A.cvalue, "v": m701.LNV.cvalue, "hz": m701.Hz.cvalue, "wl1": m701.WL1.cvalue,
                    "st": m701.St.value, "conn": m701.ConnSt.value, "inv": m701.InvSt.value,
                    "wmaxrtg": m702.WMaxRtg.cvalue, "wmax": m702.WMax.cvalue, "vnom": m702.VNomRtg.cvalue,
                    "ctrlmodes": m702.CtrlModes.value, "vv_rslt": d.models[705][0].AdptCrvRslt.value,
                }
                if 713 in found:
                    m713 = d.models[713][0]
                    out.update(soc=m713.SoC.cvalue, whrtg=m713.WHRtg.cvalue, whavail=m713.WHAvail.cvalue)
                return out
            finally:
                d.close()

        r = await run(client)
    assert r["models"] == (BATTERY_EXPECTED if kind == "battery" else PV_EXPECTED)
    assert r["sn"] == "T-SCAN" and r["mn"] == "DERSim" and r["md"] == plate.model
    assert r["wmaxrtg"] == plate.w_max and r["wmax"] == plate.w_max
    assert r["vnom"] == 240.0 and 59.9 < r["hz"] < 60.1 and 235 < r["v"] < 250
    assert r["st"] == 1 and r["conn"] == 1 and r["ctrlmodes"] & 0b11111 == 0b11111
    assert r["vv_rslt"] == 1
    if kind == "pv":
        assert 0.8 * plate.w_max <= r["w"] <= plate.w_max and r["inv"] == 3
        # Measurements agree with each other.
        assert r["w"] == r["wl1"] and r["var"] == 0 and r["pf"] == 1.0
        assert math.isclose(r["a"], r["va"] / r["v"], rel_tol=0.01)
    else:
        assert r["soc"] == 50.0 and r["whrtg"] == 13500 and r["whavail"] == 6750
        assert r["w"] == 0  # dispatch profile 0


# --------------------------------------------------------------------------
# Controls


async def test_wmaxlimpct_caps_w_within_ticks_and_reversion_undoes_it():
    clock = ManualClock()
    plate = pv_plate(8000, "T-LIM")
    async with start([plate], clock=clock) as fleet:
        port = fleet[0].port

        def curtail():
            d = connect(port)
            try:
                m701, m704 = d.models[701][0], d.models[704][0]
                before = m701.W.cvalue
                m704.WMaxLimPctRvrtTms.cvalue = 5
                m704.WMaxLimPct.cvalue = 50
                m704.WMaxLimPctEna.cvalue = 1
                m704.write()
                m701.read()
                m704.read()
                return before, m701.W.cvalue, m701.InvSt.value, m701.ThrotSrc.value, m704.WMaxLimPctRvrtRem.cvalue
            finally:
                d.close()

        before, capped, inv_st, src, rem = await run(curtail)
        assert before > 0.8 * 8000
        assert capped <= 4000 and capped >= 3990
        assert inv_st == 4 and src & 1  # THROTTLED by MAX_W
        assert rem == 5

        # Refreshing inside the reversion time restarts it.
        clock.advance(4)

        def refresh():
            d = connect(port)
            try:
                m704 = d.models[704][0]
                m704.WMaxLimPctEna.cvalue = 1
                m704.write()
                m704.read()
                return m704.WMaxLimPctRvrtRem.cvalue
            finally:
                d.close()

        assert await run(refresh) == 5
        clock.advance(4)

        def read_state():
            d = connect(port)
            try:
                return d.models[701][0].W.cvalue, d.models[704][0].WMaxLimPctEna.value, d.models[704][0].WMaxLimPct.cvalue
            finally:
                d.close()

        w, ena, pct = await run(read_state)
        assert w <= 4000 and ena == 1 and pct == 50
        clock.advance(1.5)  # past the refreshed 5 s
        w, ena, pct = await run(read_state)
        assert ena == 0 and pct == 100.0  # WMaxLimPctEnaRvrt=0, WMaxLimPctRvrt=100
        assert w > 0.8 * 8000


async def test_cap_takes_effect_with_real_ticks():
    async with start([pv_plate(5000, "T-TICK")], tick=0.05, noise=0.02) as fleet:
        port = fleet[0].port
        inv = fleet[0].inverter

        def write_cap():
            d = connect(port)
            try:
                m704 = d.models[704][0]
                m704.WMaxLimPct.cvalue = 30
                m704.WMaxLimPctEna.cvalue = 1
                m704.write()
            finally:
                d.close()

        await run(write_cap)
        await fleet.wait_ticks(2)
        # The ticks keep the cap while noise moves the array's output.
        assert 0 < inv.w <= 1500.0
        w = await run(lambda: connect(port).models[701][0].W.cvalue)
        assert 0 < w <= 1500


async def test_energize_and_connect_drop_output_to_zero():
    plate = pv_plate(6000, "T-ES")
    async with start([plate]) as fleet:
        port = fleet[0].port

        def sequence():
            d = connect(port)
            try:
                m701, m703, m715 = d.models[701][0], d.models[703][0], d.models[715][0]
                seen = {}

                def snap(label):
                    m701.read()
                    seen[label] = (m701.W.cvalue, m701.St.value, m701.InvSt.value, m701.ConnSt.value)

                snap("start")
                m703.ES.cvalue = 0
                m703.write()
                snap("es0")
                m703.ES.cvalue = 1
                m703.write()
                snap("es1")
                m715.OpCtl.cvalue = 0  # STOP
                m715.write()
                snap("stop")
                m715.OpCtl.cvalue = 1  # START
                m715.write()
                snap("start2")
                return seen
            finally:
                d.close()

        seen = await run(sequence)
    assert seen["start"][0] > 0 and seen["start"][3] == 1
    assert seen["es0"] == (0, 1, 7, 0)  # W 0, St ON, InvSt STANDBY, ConnSt DISCONNECTED
    assert seen["es1"][0] > 0 and seen["es1"][3] == 1
    assert seen["stop"] == (0, 0, 0, 0)  # W 0, St OFF, InvSt OFF, ConnSt DISCONNECTED
    assert seen["start2"][0] > 0 and seen["start2"][2] == 3


async def test_enter_service_delay_after_es():
    clock = ManualClock()
    async with start([pv_plate(5000, "T-ESD")], clock=clock) as fleet:
        port = fleet[0].port

        def go():
            d = connect(port)
            m701, m703 = d.models[701][0], d.models[703][0]
            m703.ESDlyTms.cvalue = 10
            m703.ES.cvalue = 0
            m703.write()
            m703.ES.cvalue = 1
            m703.write()
            m701.read()
            m703.read()
            out = (m701.W.cvalue, m701.InvSt.value, m703.ESDlyRemTms.cvalue)
            d.close()
            return out

        assert await run(go) == (0, 2, 10)  # STARTING, 10 s to go
        clock.advance(10.5)
        w = await run(lambda: connect(port).models[701][0].W.cvalue)
        assert w > 4000


async def test_fixed_power_factor_and_consistent_measurements():
    async with start([pv_plate(5000, "T-PF")]) as fleet:
        port = fleet[0].port

        def go():
            d = connect(port)
            try:
                m701, m704 = d.models[701][0], d.models[704][0]
                m704.PFWInj.PF.cvalue = 0.9
                m704.PFWInj.Ext.cvalue = 1  # under-excited: absorb vars
                m704.PFWInjEna.cvalue = 1
                m704.write()
                m701.read()
                return {p: getattr(m701, p).cvalue for p in ("W", "VA", "Var", "PF", "A", "LNV", "WL1", "VarL1", "ThrotSrc")}
            finally:
                d.close()

        r = await run(go)
    assert r["Var"] < 0 and math.isclose(abs(r["PF"]), 0.9, abs_tol=0.002) and r["PF"] < 0
    assert math.isclose(r["VA"], math.hypot(r["W"], r["Var"]), abs_tol=2)
    assert math.isclose(abs(r["PF"]), r["W"] / r["VA"], abs_tol=0.002)
    assert math.isclose(r["A"], r["VA"] / r["LNV"], rel_tol=0.01)
    assert r["WL1"] == r["W"] and r["VarL1"] == r["Var"]
    assert int(r["ThrotSrc"]) & (1 << 3)  # FIXED_PF


async def test_volt_var_curve_adoption_and_effect():
    async with start([pv_plate(5000, "T-VV")], adopt_delay=0.2) as fleet:
        port = fleet[0].port
        inv = fleet[0].inverter
        inv.grid_v_pu = 1.06  # a high-voltage feeder

        def write_and_adopt():
            d = connect(port)
            try:
                m705 = d.models[705][0]
                crv = m705.Crv[1]  # the second curve: curve 1 (index 0) is the active, read-only one
                crv.ActPt.cvalue = 4
                crv.DeptRef.cvalue = 1  # VAR_MAX_PCT
                for pt, (v, q) in zip(crv.Pt, ((90, 30), (97, 0), (103, 0), (110, -30))):
                    pt.V.cvalue = v
                    pt.Var.cvalue = q
                m705.write()
                m705.AdptCrvReq.cvalue = 2
                m705.write()
                m705.read()
                return m705.AdptCrvRslt.value
            finally:
                d.close()

        assert await run(write_and_adopt) == 0  # IN_PROGRESS
        await asyncio.sleep(0.3)

        def check_and_enable():
            d = connect(port)
            try:
                m701, m705 = d.models[701][0], d.models[705][0]
                rslt = m705.AdptCrvRslt.value
                active = [(p.V.cvalue, p.Var.cvalue) for p in m705.Crv[0].Pt]
                var_off = m701.Var.cvalue
                m705.Ena.cvalue = 1
                m705.write()
                m701.read()
                return rslt, active, var_off, m701.Var.cvalue, m701.LNV.cvalue
            finally:
                d.close()

        rslt, active, var_off, var_on, v = await run(check_and_enable)
    assert rslt == 1  # COMPLETED
    assert active == [(90, 30), (97, 0), (103, 0), (110, -30)]
    assert var_off == 0
    # ~107 % of VNom on the adopted curve: -30 % * (107-103)/(110-103) of VarMaxAbs (2200 var).
    v_pct = v / 240 * 100
    expected = -0.30 * (v_pct - 103) / 7 * 2200
    assert var_on < 0 and math.isclose(var_on, expected, abs_tol=30)


async def test_volt_var_bad_curve_fails_and_active_curve_is_read_only():
    async with start([pv_plate(5000, "T-VVF")], adopt_delay=0.1) as fleet:
        port = fleet[0].port

        def go():
            d = connect(port)
            try:
                m705 = d.models[705][0]
                crv = m705.Crv[2]
                for pt, v in zip(crv.Pt, (100, 95, 105, 110)):  # V not increasing
                    pt.V.cvalue = v
                m705.write()
                m705.AdptCrvReq.cvalue = 3
                m705.write()
                time.sleep(0.25)
                m705.read()
                failed = m705.AdptCrvRslt.value
                m705.Crv[0].Pt[0].V.cvalue = 80
                try:
                    m705.write()
                    refused = None
                except ModbusClientException as exc:
                    refused = str(exc)
                m705.read()
                return failed, refused, m705.Crv[0].Pt[0].V.cvalue
            finally:
                d.close()

        failed, refused, v1 = await run(go)
    assert failed == 2  # FAILED
    assert refused is not None and "exception: 2" in refused
    assert v1 == 92.0  # the default curve is untouched


async def test_battery_soc_follows_charge_and_discharge():
    clock = ManualClock()
    async with start([battery_plate("T-SOC")], clock=clock) as fleet:
        port = fleet[0].port
        inv = fleet[0].inverter

        def set_w(watts, pct=None):
            d = connect(port)
            try:
                m704 = d.models[704][0]
                if pct is None:
                    m704.WSetMod.cvalue = 1  # WATTS
                    m704.WSet.cvalue = watts
                else:
                    m704.WSetMod.cvalue = 0  # W_MAX_PCT
                    m704.WSetPct.cvalue = pct
                m704.WSetEna.cvalue = 1
                m704.write()
                m701, m713 = d.models[701][0], d.models[713][0]
                m701.read()
                m713.read()
                return m701.W.cvalue, m713.SoC.cvalue
            finally:
                d.close()

        def read():
            d = connect(port)
            try:
                return d.models[701][0].W.cvalue, d.models[713][0].SoC.cvalue, d.models[701][0].TotWhAbs.cvalue
            finally:
                d.close()

        w, soc0 = await run(set_w, -2700)
        assert w == -2700 and soc0 == 50.0
        clock.advance(1800)  # half an hour at 2.7 kW: 1350 Wh = 10 % of 13.5 kWh
        w, soc, wh_abs = await run(read)
        assert w == -2700 and soc == 60.0 and wh_abs == 1350
        w, _ = await run(set_w, None, 40)  # discharge at 40 % of WMax
        assert w == 2000
        clock.advance(3600)  # 2000 Wh = 14.8 %
        _, soc, _ = await run(read)
        assert math.isclose(soc, 60.0 - 2000 / 13500 * 100, abs_tol=0.15)
        # Charging stops at 100 %.
        inv.soc = 99.0
        await run(set_w, -5000)
        clock.advance(3600)
        w, soc, _ = await run(read)
        assert soc == 100.0 and w == 0


async def test_wset_reversion_for_battery():
    clock = ManualClock()
    async with start([battery_plate("T-WSR")], clock=clock) as fleet:
        port = fleet[0].port

        def go():
            d = connect(port)
            try:
                m704 = d.models[704][0]
                m704.WSetRvrtTms.cvalue = 30
                m704.WSetMod.cvalue = 1
                m704.WSet.cvalue = 3000
                m704.WSetEna.cvalue = 1
                m704.write()
                d.models[701][0].read()
                return d.models[701][0].W.cvalue
            finally:
                d.close()

        assert await run(go) == 3000
        clock.advance(31)
        w = await run(lambda: connect(port).models[701][0].W.cvalue)
        assert w == 0  # back to the dispatch profile (0 here)


async def test_refused_writes_and_unit_ids_with_pymodbus_client():
    async with start([pv_plate(5000, "T-VAL")]) as fleet:
        dev = fleet[0]
        img = dev.inverter.image
        client = AsyncModbusTcpClient("127.0.0.1", port=dev.port)
        await client.connect()
        try:
            rr = await client.read_holding_registers(BASE_ADDR, count=2, device_id=1)
            assert not rr.isError() and rr.registers == [0x5375, 0x6E53]
            # A read-only point (a measurement) and a scale factor: ILLEGAL ADDRESS.
            w_addr = img.ref(701, "W").address
            rr = await client.write_register(w_addr, 1, device_id=1)
            assert rr.isError() and rr.exception_code == 2
            rr = await client.write_register(img.ref(704, "WMaxLimPct_SF").address, 0, device_id=1)
            assert rr.isError() and rr.exception_code == 2
            # A value out of range or outside an enum: ILLEGAL VALUE, and nothing changes.
            pct = img.ref(704, "WMaxLimPct")
            rr = await client.write_register(pct.address, 1500, device_id=1)  # 150.0 %
            assert rr.isError() and rr.exception_code == 3
            rr = await client.write_register(img.ref(704, "WMaxLimPctEna").address, 7, device_id=1)
            assert rr.isError() and rr.exception_code == 3
            rr = await client.read_holding_registers(pct.address, count=1, device_id=1)
            assert rr.registers == [1000]
            # A multi-register write that strays onto a read-only register is refused whole.
            rem = img.ref(704, "WMaxLimPctRvrtRem")
            rr = await client.write_registers(rem.address - 2, [0, 9, 0, 0], device_id=1)
            assert rr.isError() and rr.exception_code == 2
            assert img.get(704, "WMaxLimPctRvrtTms") == 0
            # Outside the image: ILLEGAL ADDRESS.
            rr = await client.read_holding_registers(BASE_ADDR + img.size + 5, count=1, device_id=1)
            assert rr.isError()
            # A good write through pymodbus takes effect.
            rr = await client.write_registers(pct.address, [300], device_id=1)
            assert not rr.isError()
            rr = await client.write_register(img.ref(704, "WMaxLimPctEna").address, 1, device_id=1)
            assert not rr.isError()
            rr = await client.read_holding_registers(img.ref(701, "W").address, count=1, device_id=1)
            assert 0 < rr.registers[0] <= 1500
        finally:
            client.close()


async def test_tick_advances_devices_without_requests():
    clock = ManualClock()
    async with start([pv_plate(4000, "T-T1"), battery_plate("T-T2")], clock=clock, tick=0.02) as fleet:
        pv = fleet[0].inverter
        before = pv.wh_inj
        clock.advance(3600)
        await fleet.wait_ticks(2)
        assert pv.requests == 0
        assert math.isclose(pv.wh_inj - before, pv.w, rel_tol=0.01)  # an hour at W watts
        tot = await run(lambda: connect(fleet[0].port).models[701][0].TotWhInj.cvalue)
        assert tot == int(pv.wh_inj)
        hb = await run(lambda: connect(fleet[0].port).models[715][0].DERHb.value)
        assert hb >= 3600


# --------------------------------------------------------------------------
# The fleet launcher


async def test_fleet_of_twenty_writes_a_correct_inventory(tmp_path):
    base = free_port_block(20)
    inventory = tmp_path / "fleet.json"
    async with Fleet.start(20, base_port=base, kinds="pv,battery", tick=0.5, inventory=inventory) as fleet:
        entries = json.loads(inventory.read_text())
        assert len(entries) == 20
        assert [e["port"] for e in entries] == list(range(base, base + 20))
        assert {e["kind"] for e in entries} == {"pv", "battery"}
        assert sum(e["kind"] == "battery" for e in entries) == 10
        assert len({e["serial"] for e in entries}) == 20 and len({e["name"] for e in entries}) == 20
        for e in entries:
            assert e["host"] == "127.0.0.1" and e["unit_id"] == 1 and e["manufacturer"] == "DERSim"
            plate = e["nameplate"]
            if e["kind"] == "pv":
                assert 3000 <= plate["w_max"] <= 10000 and 713 not in plate["models"]
            else:
                assert plate["wh_max"] >= 10000 and 713 in plate["models"]
        assert len({e["nameplate"]["w_max"] for e in entries if e["kind"] == "pv"}) > 1  # ratings vary

        # Every device answers, and is who the inventory says it is.
        async def serial_of(e):
            c = AsyncModbusTcpClient(e["host"], port=e["port"])
            await c.connect()
            try:
                img = fleet[e["name"]].inverter.image
                sn = img.ref(1, "SN")
                rr = await c.read_holding_registers(sn.address, count=sn.size, device_id=e["unit_id"])
                return b"".join(r.to_bytes(2, "big") for r in rr.registers).rstrip(b"\0").decode()
            finally:
                c.close()

        serials = await asyncio.gather(*(serial_of(e) for e in entries))
        assert serials == [e["serial"] for e in entries]
        # And pysunspec2 finds the right models on one of each kind.
        for e in entries[:2]:
            found = await run(lambda: {m for m in connect(e["port"]).models if isinstance(m, int)})
            assert found == (BATTERY_EXPECTED if e["kind"] == "battery" else PV_EXPECTED)


async def test_teardown_leaves_no_sockets_open():
    before = socket_fds()
    fleet = await Fleet.start(5, tick=0.05)
    ports = [d.port for d in fleet.devices]
    assert socket_fds() >= before + 5
    # Leave clients connected at teardown.
    clients = [AsyncModbusTcpClient("127.0.0.1", port=p) for p in ports[:3]]
    for c in clients:
        await c.connect()
        assert not (await c.read_holding_registers(BASE_ADDR, count=2, device_id=1)).isError()
    await fleet.stop()
    for c in clients:
        c.close()
    await asyncio.sleep(0.05)
    assert socket_fds() == before
    for p in ports:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", p), timeout=1).close()


async def test_port_in_use_is_reported_and_nothing_left_running():
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    before = socket_fds()
    try:
        with pytest.raises(OSError):
            await Fleet.start(3, base_port=port - 1 if port > 1024 else port)
        assert socket_fds() == before
    finally:
        blocker.close()


def test_cli_fleet_runs_writes_inventory_and_stops_on_sigterm(tmp_path):
    base = free_port_block(3)
    inventory = tmp_path / "inv.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "device_sims", "fleet", "--count", "3", "--base-port", str(base),
         "--inventory", str(inventory), "--kinds", "battery,pv", "--tick", "0.2"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not inventory.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        entries = json.loads(inventory.read_text())
        assert [e["kind"] for e in entries] == ["battery", "pv", "battery"]
        d = connect(entries[0]["port"])
        assert 713 in d.models and d.models[1][0].SN.cvalue == entries[0]["serial"]
        d.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "3 simulators" in out and "stopped" in out


def test_inverter_without_network_python_api():
    clock = ManualClock()
    inv = SunSpecInverter(battery_plate("T-API"), clock=clock, profile=profiles.Constant(0.5), noise=0.0)
    assert inv.read(701, "W") == 2500.0  # dispatch: half of WMax, discharging
    clock.advance(3600)
    assert math.isclose(inv.read(713, "SoC"), 50.0 - 2500 / 13500 * 100, abs_tol=0.1)
    inv.inject_fault()
    assert inv.read(701, "W") == 0 and inv.get(701, "InvSt") == 6
    reset = inv.image.ref(715, "AlarmReset")
    assert inv.write(reset.offset, [1]) is None
    assert inv.get(715, "AlarmReset") == 0 and inv.get(701, "InvSt") == 3


def _write(inv: SunSpecInverter, model_id: int, path: str, value: float, scaled: bool = True):
    """Write one point the way a client's register write would (raw value computed from the device's SF)."""
    ref = inv.image.ref(model_id, path)
    raw = round(value / 10.0 ** (inv.image.sf_of(ref) or 0)) if scaled else int(value)
    regs = [(raw >> (16 * (ref.size - 1 - i))) & 0xFFFF for i in range(ref.size)]
    return inv.write(ref.offset, regs)


def test_fixed_var_modes():
    inv = SunSpecInverter(pv_plate(5000, "T-VAR"), clock=ManualClock(), profile=profiles.Constant(0.5), noise=0.0)
    assert _write(inv, 704, "VarSetMod", 1) is None  # % of VarMaxInj / VarMaxAbs
    assert _write(inv, 704, "VarSetPct", -50) is None
    assert _write(inv, 704, "VarSetEna", 1) is None
    assert inv.read(701, "Var") == -1100.0  # 50 % of 2200 var, absorbing
    assert _write(inv, 704, "VarSetMod", 4) is None  # VARS
    assert _write(inv, 704, "VarSet", 800) is None
    assert inv.read(701, "Var") == 800.0
    assert _write(inv, 704, "VarSet", 99999) == 3  # beyond VarMaxInj: ILLEGAL VALUE


def test_volt_var_reversion_disables_the_function():
    clock = ManualClock()
    inv = SunSpecInverter(pv_plate(5000, "T-VVR"), clock=clock, profile=profiles.Constant(1.0), noise=0.0)
    inv.grid_v_pu = 0.93
    assert _write(inv, 705, "RvrtTms", 20, scaled=False) is None
    assert _write(inv, 705, "Ena", 1, scaled=False) is None
    assert inv.read(701, "Var") > 0  # low voltage: inject vars on the default curve
    clock.advance(15)
    assert inv.read(705, "RvrtRem") == 5
    clock.advance(6)
    assert inv.get(705, "Ena") == 0 and inv.read(701, "Var") == 0


def test_controller_heartbeat_timeout_reverts_controls():
    clock = ManualClock()
    inv = SunSpecInverter(pv_plate(5000, "T-HB"), clock=clock, profile=profiles.Constant(1.0), noise=0.0,
                          hb_timeout=10)
    assert _write(inv, 704, "WMaxLimPct", 20) is None
    assert _write(inv, 704, "WMaxLimPctEna", 1, scaled=False) is None
    assert inv.read(701, "W") == 1000.0
    for beat in range(1, 4):  # a live controller: no reversion
        assert _write(inv, 715, "ControllerHb", beat, scaled=False) is None
        clock.advance(8)
        assert inv.read(701, "W") == 1000.0
    clock.advance(3)  # 11 s since the last beat
    assert inv.get(704, "WMaxLimPctEna") == 0 and inv.read(701, "W") == 5000.0


def test_three_phase_measurements_per_phase():
    plate = Nameplate.pv(9000, serial="T-3PH", phases=3, v_nom=230.0)
    inv = SunSpecInverter(plate, clock=ManualClock(), profile=profiles.Constant(1.0), noise=0.0)
    w = inv.read(701, "W")
    assert inv.get(701, "ACType") == 2
    assert [inv.read(701, f"W{p}") for p in ("L1", "L2", "L3")] == [w / 3] * 3
    assert math.isclose(inv.read(701, "LLV"), inv.read(701, "LNV") * math.sqrt(3), rel_tol=0.002)
    assert math.isclose(inv.read(701, "A"), 3 * inv.read(701, "AL1"), rel_tol=0.01)
