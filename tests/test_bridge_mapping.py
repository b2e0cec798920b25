"""SunSpec 700-series <-> 2030.5 mapping (der_gateway.bridge.sunspec_map): pure, no Modbus."""

from __future__ import annotations

import importlib.resources
import json
from fractions import Fraction

import pytest
from sunspec2 import device as sunspec_device

from der_gateway.bridge import sunspec_map as sm
from der_gateway.bridge.sunspec_map import Await, Write
from der_gateway.sep import codec
from der_gateway.sep import model as m
from der_gateway.xsd import load_schemas

from . import bridge_samples as b

NOW = b.NOW


@pytest.fixture(scope="module")
def schemas():
    return load_schemas("csip")


def assert_valid(schemas, obj) -> None:
    body = codec.encode(obj)
    assert schemas.errors(codec.parse_document(body)) == [], body.decode()
    assert codec.decode_bytes(body, type(obj)) == obj  # and it survives the round trip


def bits(*positions: int) -> str:
    return f"{sum(1 << p for p in positions):08X}"


def writes(steps) -> dict[tuple[int, str], int]:
    return {(s.model, s.point): s.value for s in steps if isinstance(s, Write)}


def order(steps) -> list[str]:
    return [s.point if isinstance(s, Write) else f"await {s.point}" for s in steps]


# -- point definitions -------------------------------------------------------------------------------

def test_point_definitions_come_from_pysunspec2():
    assert sm.point_def(704, "WMaxLimPct")["sf"] == "WMaxLimPct_SF"
    assert sm.point_def(705, "Crv[3].Pt[1].V")["sf"] == "V_SF"
    assert sm.point_def(704, "PFWInj.Ext")["type"] == "enum16"
    with pytest.raises(KeyError):
        sm.point_def(704, "WMaxLim")


def test_scale_factors_resolve_and_unimplemented_values_are_none():
    pv = b.pv_inverter()
    assert sm.quantity(pv, 702, "WMaxRtg") == (5000, 0)
    assert sm.scaled(pv, 701, "Hz") == Fraction(50012, 1000)
    assert sm.scaled(pv, 705, "Crv[2].Pt[1].V") == 92
    assert sm.value(pv, 702, "ReactSusceptRtg") is None  # not set
    raw = {702: dict(pv[702], WMaxRtg=0xFFFF)}  # the not-implemented pattern, as raw registers give it
    assert sm.value(raw, 702, "WMaxRtg") is None
    raw = {704: dict(pv[704], WMaxLimPct_SF=-0x8000)}  # an unimplemented SF counts as 0
    assert sm.scale_factor(raw, 704, "WMaxLimPct") == 0


def test_device_1547_test_data_maps_to_valid_resources(schemas):
    path = importlib.resources.files("sunspec2") / "tests" / "test_data" / "device_1547.json"
    if not path.is_file():
        pytest.skip("pysunspec2 test data not installed")
    data = {model["ID"]: model for model in json.loads(path.read_text())["models"]}
    models = {mid: sunspec_device.Model(mid, data=data[mid]).get_dict() for mid in (1, 701, 702, 703, 705)}
    capability = sm.der_capability(models)
    assert capability.rtgMaxW == m.ActivePower(value=10000, multiplier=0)
    assert capability.rtgMinPFOverExcited == m.PowerFactor(displacement=850, multiplier=-3)
    for resource in (capability, sm.der_settings(models, NOW), sm.der_status(models, NOW),
                     sm.der_availability(models, NOW)):
        assert_valid(schemas, resource)
    assert {t.key for t in sm.telemetry_readings(models[701], NOW)} >= {"W", "WL1", "VL1L2", "Hz", "TotWhInj"}


# -- DERCapability ----------------------------------------------------------------------------------------

def test_scale_factor_becomes_the_multiplier():
    models = b.pv_inverter(m702={"WMaxRtg": 10000, "W_SF": -1})
    assert sm.der_capability(models).rtgMaxW == m.ActivePower(value=10000, multiplier=-1)


def test_values_too_large_for_the_2030_5_type_are_coarsened():
    models = b.pv_inverter(m702={"WMaxRtg": 60000, "W_SF": 0, "VAMaxRtg": 60000})
    capability = sm.der_capability(models)
    assert capability.rtgMaxW == m.ActivePower(value=6000, multiplier=1)  # Int16
    assert capability.rtgMaxVA == m.ApparentPower(value=60000, multiplier=0)  # UInt16 holds it


def test_capability_of_the_pv_inverter(schemas):
    capability = sm.der_capability(b.pv_inverter())
    assert capability.type == sm.DER_TYPE_PV
    assert capability.rtgNormalCategory == 2  # CAT_B (1) + 1
    assert capability.rtgAbnormalCategory == 3  # CAT_3 (2) + 1
    assert capability.rtgVNom == m.VoltageRMS(value=2300, multiplier=-1)
    assert capability.rtgMaxA == m.CurrentRMS(value=217, multiplier=-1)
    assert capability.rtgMaxVar == m.ReactivePower(value=2200, multiplier=0)
    assert capability.rtgMaxVarNeg == m.ReactivePower(value=-2200, multiplier=0)
    assert capability.rtgOverExcitedPF == m.PowerFactor(displacement=90, multiplier=-2)
    assert capability.rtgMaxWh is None
    # MAX_W, FIXED_W (+TargetW), FIXED_VAR (+TargetVar), FIXED_PF, VOLT_VAR; connect and energize (703/715)
    assert capability.modesSupported == bits(20, 7, 22, 6, 21, 4, 5, 23, 2, 3)
    assert_valid(schemas, capability)


def test_capability_of_the_battery_inverter(schemas):
    capability = sm.der_capability(b.battery_inverter())
    assert capability.type == sm.DER_TYPE_STORAGE
    assert capability.rtgMaxWh == m.WattHour(value=13500, multiplier=0)
    assert capability.rtgMaxChargeRateW == m.ActivePower(value=5000, multiplier=0)
    assert capability.modesSupported == bits(0, 1, 20, 7, 22, 6, 21, 4, 5, 23, 2, 3)
    assert_valid(schemas, capability)


def test_storage_with_a_pv_port_is_pv_and_storage():
    models = b.battery_inverter(m714={"NPrt": 2, "Prt": [{"PrtTyp": 0}, {"PrtTyp": 1}]})
    assert sm.der_capability(models).type == sm.DER_TYPE_PV_STORAGE
    assert sm.der_capability(models, type=81).type == 81


@pytest.mark.parametrize("ctrl_modes, present, expected", [
    (1 << 0, {}, (20,)),  # MAX_W
    (1 << 3, {}, (4, 5)),  # FIXED_PF: absorb and inject
    (1 << 4, {"m705": None}, ()),  # VOLT_VAR claimed but no 705: not supported
    (1 << 5, {"m711": b.FREQ_DROOP}, (8,)),  # FREQ_WATT -> FreqDroop
    (1 << 7, {"m707": b.TRIP_LV}, (17, 18, 19)),  # LV_TRIP
    (0, {}, ()),
])
def test_modes_supported_from_ctrl_modes(ctrl_modes, present, expected):
    models = b.pv_inverter(m702={"CtrlModes": ctrl_modes}, m703=None, m715=None, **present)
    assert int(sm.der_capability(models).modesSupported, 16) == sum(1 << p for p in expected)


def test_modes_supported_without_ctrl_modes_follows_the_models():
    models = b.pv_inverter(m702={"CtrlModes": None}, m711=b.FREQ_DROOP)
    assert int(sm.der_capability(models).modesSupported, 16) == sum(
        1 << p for p in (20, 7, 22, 6, 21, 4, 5, 23, 8, 2, 3))


def test_capability_needs_702():
    with pytest.raises(sm.MappingError):
        sm.der_capability(b.pv_inverter(m702=None))


# -- DERSettings ------------------------------------------------------------------------------------------

def test_settings(schemas):
    settings = sm.der_settings(b.pv_inverter(), NOW)
    assert settings.setMaxW == m.ActivePower(value=5000, multiplier=0)
    assert settings.setMaxVarNeg == m.ReactivePower(value=-2200, multiplier=0)
    assert settings.setVNom == m.VoltageRMS(value=2300, multiplier=-1)
    assert settings.setESDelay == 6000  # 60 s in hundredths
    assert settings.setESRandomDelay == 12000
    assert settings.setESRampTms == 30000
    assert settings.setESHighVolt == 11000  # 110.0 % in hundredths
    assert settings.setESLowVolt == 8800
    assert settings.setESHighFreq == 5015  # 50.15 Hz in hundredths
    assert settings.setESLowFreq == 4700
    assert settings.setGradW == 1000  # WRmp 10 %/s
    assert settings.modesEnabled == "00000000"
    assert settings.updatedTime == NOW
    assert_valid(schemas, settings)


def test_set_max_w_falls_back_to_the_rating():
    settings = sm.der_settings(b.pv_inverter(m702={"WMax": None}), NOW)
    assert settings.setMaxW == m.ActivePower(value=5000, multiplier=0)


@pytest.mark.parametrize("changes, expected", [
    ({"m704": {"WMaxLimPctEna": 1}}, (20,)),
    ({"m704": {"WSetEna": 1, "WSetMod": 0}}, (7,)),
    ({"m704": {"WSetEna": 1, "WSetMod": 1}}, (22,)),
    ({"m704": {"VarSetEna": 1, "VarSetMod": 1}}, (6,)),
    ({"m704": {"VarSetEna": 1, "VarSetMod": 4}}, (21,)),
    ({"m704": {"PFWInjEna": 1, "PFWAbsEna": 1}}, (4, 5)),
    ({"m705": {"Ena": 1}}, (23,)),
])
def test_modes_enabled_from_enable_points(changes, expected):
    settings = sm.der_settings(b.pv_inverter(**changes), NOW)
    assert int(settings.modesEnabled, 16) == sum(1 << p for p in expected)


# -- DERStatus and DERAvailability ----------------------------------------------------------------------

def test_status_of_a_running_inverter(schemas):
    status = sm.der_status(b.pv_inverter(), NOW)
    assert status.operationalModeStatus.value == 2  # St ON (1) + 1
    assert status.inverterStatus.value == 4  # RUNNING (3) + 1: MPPT
    assert status.genConnectStatus.value == "05"  # connected, operating
    assert status.alarmStatus == "00000000"
    assert status.localControlModeStatus.value == 1  # SunSpec REMOTE (0) -> 2030.5 remote (1)
    assert status.stateOfChargeStatus is None and status.storageModeStatus is None
    assert status.readingTime == NOW and status.inverterStatus.dateTime == NOW
    assert_valid(schemas, status)


def test_status_with_faults_and_alarms(schemas):
    alarms = 1 << 10 | 1 << 9 | 1 << 16  # AC_OVER_VOLT, UNDER_FREQUENCY, MANUFACTURER_ALRM
    models = b.pv_inverter(m701={"InvSt": 6, "ConnSt": 0, "Alrm": alarms, "MnAlrmInfo": "ERR-1234-DC-bus"},
                           m715={"LocRemCtl": 1})
    status = sm.der_status(models, NOW)
    assert status.inverterStatus.value == 7  # FAULT (6) + 1
    assert status.genConnectStatus.value == "10"  # fault only
    assert int(status.alarmStatus, 16) == 1 << 1 | 1 << 4  # over voltage, under frequency
    assert status.manufacturerStatus.value == "ERR-12"
    assert status.localControlModeStatus.value == 0  # local
    assert_valid(schemas, status)


@pytest.mark.parametrize("w, mode", [(2000, 1), (-2000, 0), (0, 2)])
def test_storage_status(schemas, w, mode):
    status = sm.der_status(b.battery_inverter(m701={"W": w}), NOW)
    assert status.stateOfChargeStatus.value == 5000  # 50.0 % in hundredths
    assert status.storageModeStatus.value == mode
    assert status.storConnectStatus == status.genConnectStatus
    assert_valid(schemas, status)


def test_availability(schemas):
    availability = sm.der_availability(b.pv_inverter(), NOW)
    assert availability.statWAvail == m.ActivePower(value=3000, multiplier=0)
    assert availability.statVarAvail == m.ReactivePower(value=2200, multiplier=0)
    assert availability.reservePercent is None
    assert_valid(schemas, availability)
    throttled = sm.der_availability(b.pv_inverter(m701={"InvSt": 4, "ThrotPct": 40}), NOW)
    assert throttled.statWAvail == m.ActivePower(value=5000, multiplier=0)  # 3000 / (1 - 0.4)


def test_storage_availability(schemas):
    availability = sm.der_availability(b.battery_inverter(), NOW)
    assert availability.reservePercent == 10000
    assert availability.availabilityDuration == 6750 * 3600 // 5000  # at WDisChaRteMax
    assert availability.reserveChargePercent == 10000
    assert availability.maxChargeDuration == 6750 * 3600 // 4000  # half of 13.5 kWh at WChaRteMax
    assert_valid(schemas, availability)


# -- telemetry -----------------------------------------------------------------------------------------

def test_telemetry_reading_types():
    readings = {t.key: t for t in sm.telemetry_readings(b.pv_inverter()[701], NOW)}
    w = readings["W"]
    assert (w.value, w.reading_type.uom, w.reading_type.kind, w.reading_type.dataQualifier) == (3000, 38, 37, 2)
    assert w.reading_type.powerOfTenMultiplier == 0 and w.time == NOW
    assert readings["Hz"].value == 50012 and readings["Hz"].reading_type.powerOfTenMultiplier == -3
    assert readings["Hz"].amount == Fraction(50012, 1000)
    assert readings["PF"].reading_type.uom == 65 and readings["PF"].reading_type.powerOfTenMultiplier == -2
    assert readings["A"].reading_type.uom == 5
    assert readings["Var"].reading_type.uom == 63 and readings["VA"].reading_type.uom == 61
    assert readings["LNV"].reading_type.uom == 29 and readings["LNV"].reading_type.phase is None
    assert readings["VL1"].reading_type.phase == 129
    inj, absorbed = readings["TotWhInj"].reading_type, readings["TotWhAbs"].reading_type
    assert (inj.uom, inj.kind, inj.flowDirection, inj.dataQualifier) == (72, 12, 19, None)
    assert (absorbed.uom, absorbed.flowDirection) == (72, 1)
    assert readings["TotVarhInj"].reading_type.uom == 73
    assert "WL2" not in readings  # not implemented on this single-phase device


def test_three_phase_codes():
    models = b.pv_inverter(m701={"ACType": 2, "WL1": 1000, "WL2": 1000, "WL3": 1000, "VL2": 2300, "VL3": 2300,
                                 "VL1L2": 4000, "VL2L3": 4000, "VL3L1": 4000})
    phases = {t.key: t.reading_type.phase for t in sm.telemetry_readings(models[701], NOW)}
    assert (phases["WL1"], phases["WL2"], phases["WL3"]) == (128, 64, 32)
    assert (phases["VL1"], phases["VL2"], phases["VL3"]) == (129, 65, 33)
    assert (phases["VL1L2"], phases["VL2L3"], phases["VL3L1"]) == (132, 66, 40)


def test_mirror_usage_point_and_readings_are_valid(schemas):
    telemetry = sm.telemetry_readings(b.pv_inverter()[701], NOW)
    mup = sm.mirror_usage_point(b.LFDI, telemetry, pen=b.PEN, description="PV0001")
    assert mup.roleFlags == "0009" and mup.deviceLFDI == b.LFDI
    assert len({r.mRID for r in mup.MirrorMeterReading}) == len(telemetry)
    assert all(r.mRID.endswith(f"{b.PEN:08X}") for r in mup.MirrorMeterReading)
    assert_valid(schemas, mup)
    readings = sm.mirror_meter_reading_list(telemetry, lfdi=b.LFDI, pen=b.PEN, period=300)
    assert [r.mRID for r in readings.MirrorMeterReading] == [r.mRID for r in mup.MirrorMeterReading]
    assert readings.MirrorMeterReading[0].Reading.timePeriod == m.DateTimeInterval(duration=300, start=NOW - 300)
    assert_valid(schemas, readings)
    assert_valid(schemas, sm.mirror_meter_reading(telemetry[0], lfdi=b.LFDI, pen=b.PEN))


def test_average_telemetry():
    first = sm.telemetry_readings(b.pv_inverter()[701], NOW)
    second = sm.telemetry_readings(b.pv_inverter(m701={"W": 4000, "TotWhInj": 1234600})[701], NOW + 60)
    averaged = {t.key: t for t in sm.average_telemetry([first, second])}
    assert averaged["W"].value == 3500 and averaged["W"].time == NOW + 60
    assert averaged["TotWhInj"].value == 1234600  # a counter: the latest


# -- control writes -----------------------------------------------------------------------------------

@pytest.fixture
def pv():
    return b.pv_inverter()


@pytest.fixture
def settings(pv):
    return sm.der_settings(pv, NOW)


def test_max_lim_w_is_a_percentage_with_its_scale_factor(pv, settings):
    steps = sm.control_writes(m.DERControlBase(opModMaxLimW=5000), settings, pv)
    assert order(steps) == ["WMaxLimPctRvrtTms", "WMaxLimPct", "WMaxLimPctEna"]
    assert writes(steps) == {(704, "WMaxLimPct"): 500, (704, "WMaxLimPctEna"): 1, (704, "WMaxLimPctRvrtTms"): 0}
    unscaled = b.pv_inverter(m704={"WMaxLimPct_SF": None})  # device_1547 leaves it unimplemented
    assert writes(sm.control_writes(m.DERControlBase(opModMaxLimW=5050), settings, unscaled))[
        (704, "WMaxLimPct")] == 51


def test_reversion_timer_is_the_events_remaining_time(pv, settings):
    steps = sm.control_writes(m.DERControlBase(opModMaxLimW=2500), settings, pv, remaining=900)
    assert order(steps) == ["WMaxLimPctEnaRvrt", "WMaxLimPctRvrtTms", "WMaxLimPct", "WMaxLimPctEna"]
    assert writes(steps)[(704, "WMaxLimPctRvrtTms")] == 900
    assert writes(steps)[(704, "WMaxLimPctEnaRvrt")] == 0  # nothing to go back to: disabled
    # the default control's limit is what the device falls back to
    fallback = m.DERControlBase(opModMaxLimW=8000)
    steps = sm.control_writes(m.DERControlBase(opModMaxLimW=2500), settings, pv, remaining=900, fallback=fallback)
    assert order(steps) == ["WMaxLimPctRvrt", "WMaxLimPctEnaRvrt", "WMaxLimPctRvrtTms", "WMaxLimPct", "WMaxLimPctEna"]
    assert writes(steps)[(704, "WMaxLimPctRvrt")] == 800
    assert writes(steps)[(704, "WMaxLimPctEnaRvrt")] == 1
    # or, with no default, the state before the bridge took control
    before = b.pv_inverter(m704={"WMaxLimPctEna": 1, "WMaxLimPct": 900})
    steps = sm.control_writes(m.DERControlBase(opModMaxLimW=2500), settings, pv, remaining=900, before=before)
    assert writes(steps)[(704, "WMaxLimPctRvrt")] == 900 and writes(steps)[(704, "WMaxLimPctEnaRvrt")] == 1


def test_no_reversion_points_no_reversion_writes(settings):
    bare = b.pv_inverter(m704={"WMaxLimPctRvrtTms": None, "WMaxLimPctRvrt": None, "WMaxLimPctEnaRvrt": None})
    steps = sm.control_writes(m.DERControlBase(opModMaxLimW=2500), settings, bare, remaining=900)
    assert order(steps) == ["WMaxLimPct", "WMaxLimPctEna"]


def test_fixed_w(pv, settings):
    steps = sm.control_writes(m.DERControlBase(opModFixedW=4000), settings, pv)
    assert order(steps) == ["WSetRvrtTms", "WSetMod", "WSetPct", "WSetEna"]
    assert writes(steps)[(704, "WSetMod")] == 0 and writes(steps)[(704, "WSetPct")] == 400  # 40.0 %, SF -1


def test_negative_fixed_w_is_watts_of_the_charge_rate():
    battery = b.battery_inverter()
    steps = sm.control_writes(m.DERControlBase(opModFixedW=-5000), sm.der_settings(battery, NOW), battery)
    assert writes(steps)[(704, "WSetMod")] == 1  # WATTS
    assert writes(steps)[(704, "WSet")] == -2000  # 50 % of setMaxChargeRateW 4000 W


def test_target_w(pv, settings):
    steps = sm.control_writes(m.DERControlBase(opModTargetW=m.ActivePower(value=25, multiplier=2)), settings, pv)
    assert writes(steps)[(704, "WSetMod")] == 1 and writes(steps)[(704, "WSet")] == 2500


@pytest.mark.parametrize("ref_type, mode", [(1, 0), (2, 1), (3, 2)])
def test_fixed_var(pv, settings, ref_type, mode):
    base = m.DERControlBase(opModFixedVar=m.FixedVar(refType=ref_type, value=-2500))
    steps = sm.control_writes(base, settings, pv)
    assert order(steps)[-3:] == ["VarSetMod", "VarSetPct", "VarSetEna"]
    assert writes(steps)[(704, "VarSetMod")] == mode and writes(steps)[(704, "VarSetPct")] == -250


def test_target_var(pv, settings):
    steps = sm.control_writes(m.DERControlBase(opModTargetVar=m.ReactivePower(value=-800, multiplier=0)),
                              settings, pv)
    assert writes(steps)[(704, "VarSetMod")] == 4 and writes(steps)[(704, "VarSet")] == -800


@pytest.mark.parametrize("mode, group, excitation, ext", [
    ("opModFixedPFInjectW", "PFWInj", False, 0),  # over-excited
    ("opModFixedPFAbsorbW", "PFWAbs", True, 1),  # under-excited
])
def test_fixed_power_factor(pv, settings, mode, group, excitation, ext):
    pf = m.PowerFactorWithExcitation(displacement=950, excitation=excitation, multiplier=-3)
    steps = sm.control_writes(m.DERControlBase(**{mode: pf}), settings, pv, remaining=60)
    assert order(steps) == [f"{group}EnaRvrt", f"{group}RvrtTms", f"{group}.PF", f"{group}.Ext", f"{group}Ena"]
    assert writes(steps)[(704, f"{group}.PF")] == 95  # 0.95 with PF_SF -2
    assert writes(steps)[(704, f"{group}.Ext")] == ext


def test_energize_and_connect(pv, settings):
    on = sm.control_writes(m.DERControlBase(opModEnergize=True, opModConnect=True, opModMaxLimW=5000), settings, pv)
    assert order(on)[-2:] == ["ES", "OpCtl"]  # turning on comes after the setpoints
    assert writes(on)[(703, "ES")] == 1 and writes(on)[(715, "OpCtl")] == 1
    off = sm.control_writes(m.DERControlBase(opModConnect=False, opModMaxLimW=5000), settings, pv)
    assert order(off)[0] == "OpCtl" and writes(off)[(715, "OpCtl")] == 0  # turning off comes first
    # without 715, connect falls back to 703 ES; both on one point: on only if both are
    no715 = b.pv_inverter(m715=None)
    both = sm.control_writes(m.DERControlBase(opModEnergize=True, opModConnect=False), settings, no715)
    assert [s for s in both] == [Write(703, "ES", 0)]


def test_volt_var_curve_is_written_adopted_then_enabled(pv, settings):
    curve = b.volt_var_curve(openLoopTms=1000, vRef=10100)
    base = m.DERControlBase(opModVoltVar=m.Link(href="/derp/1/dc/1"))
    steps = sm.control_writes(base, settings, pv, curves={"/derp/1/dc/1": curve})
    assert order(steps) == [
        "Crv[2].ActPt", "Crv[2].DeptRef", "Crv[2].VRef", "Crv[2].RspTms",
        "Crv[2].Pt[1].V", "Crv[2].Pt[1].Var", "Crv[2].Pt[2].V", "Crv[2].Pt[2].Var",
        "Crv[2].Pt[3].V", "Crv[2].Pt[3].Var", "Crv[2].Pt[4].V", "Crv[2].Pt[4].Var",
        "AdptCrvReq", "await AdptCrvRslt", "RvrtTms", "Ena"]
    w = writes(steps)
    assert w[(705, "Crv[2].DeptRef")] == 1  # yRefType 2 %setMaxVar -> VAR_MAX_PCT
    assert w[(705, "Crv[2].VRef")] == 1010  # 101.0 %
    assert w[(705, "Crv[2].RspTms")] == 10  # openLoopTms 1000 hundredths -> 10 s
    assert (w[(705, "Crv[2].Pt[1].V")], w[(705, "Crv[2].Pt[1].Var")]) == (920, 300)  # 92.0 %, 30.0 %
    assert w[(705, "Crv[2].Pt[4].Var")] == -300
    assert w[(705, "AdptCrvReq")] == 2  # the first writable curve; indices start at 1
    assert Await(705, "AdptCrvRslt", 1, failed=2) in steps
    assert w[(705, "Ena")] == 1


def test_volt_var_reversion_uses_a_second_slot(pv, settings):
    base = m.DERControlBase(opModVoltVar=m.Link(href="/c/1"))
    fallback = m.DERControlBase(opModVoltVar=m.Link(href="/c/2"))
    curves = {"/c/1": b.volt_var_curve(), "/c/2": b.volt_var_curve([(9000, 4000), (11000, -4000)])}
    steps = sm.control_writes(base, settings, pv, curves=curves, remaining=300, fallback=fallback)
    w = writes(steps)
    assert w[(705, "Crv[3].ActPt")] == 2 and w[(705, "Crv[3].Pt[1].Var")] == 400
    assert w[(705, "RvrtCrv")] == 3 and w[(705, "RvrtTms")] == 300
    assert order(steps).index("RvrtTms") < order(steps).index("Ena")


def test_volt_var_without_a_curve_to_go_back_to_reverts_to_disabled(pv, settings):
    base = m.DERControlBase(opModVoltVar=m.Link(href="/c/1"))
    steps = sm.control_writes(base, settings, pv, curves={"/c/1": b.volt_var_curve()}, remaining=300)
    assert order(steps)[-3:] == ["RvrtCrv", "RvrtTms", "Ena"]
    assert writes(steps)[(705, "RvrtCrv")] == 0 and writes(steps)[(705, "RvrtTms")] == 300


def test_freq_droop():
    models = b.pv_inverter(m711=b.FREQ_DROOP)
    droop = m.FreqDroopType(dBOF=36, dBUF=36, kOF=40, kUF=40, openLoopTms=500)
    steps = sm.control_writes(m.DERControlBase(opModFreqDroop=droop), sm.der_settings(models, NOW), models)
    w = writes(steps)
    assert (w[(711, "Ctl[2].DbOf")], w[(711, "Ctl[2].KOf")], w[(711, "Ctl[2].RspTms")]) == (36, 40, 50)
    assert order(steps)[-4:] == ["AdptCtlReq", "await AdptCtlRslt", "RvrtTms", "Ena"]
    assert w[(711, "AdptCtlReq")] == 2


def test_trip_curve_keeps_the_other_curves_of_its_set():
    models = b.pv_inverter(m707=b.TRIP_LV)
    curve = m.DERCurve(mRID=b.mrid(9), creationTime=NOW, curveType=10, xMultiplier=0, yMultiplier=0, yRefType=0,
                       CurveData=[m.CurveData(xvalue=1, yvalue=45), m.CurveData(xvalue=10, yvalue=65)])
    base = m.DERControlBase(opModLVRTMustTrip=m.Link(href="/c/t"))
    steps = sm.control_writes(base, sm.der_settings(models, NOW), models, curves={"/c/t": curve})
    w = writes(steps)
    assert w[(707, "Crv[2].MustTrip.ActPt")] == 2
    assert (w[(707, "Crv[2].MustTrip.Pt[2].V")], w[(707, "Crv[2].MustTrip.Pt[2].Tms")]) == (65, 1000)
    assert w[(707, "Crv[2].MayTrip.Pt[3].V")] == 88  # copied from the active set
    assert order(steps)[-3:] == ["AdptCrvReq", "await AdptCrvRslt", "Ena"]


def test_ramp_time_sets_wrmp_first(pv, settings):
    steps = sm.control_writes(m.DERControlBase(opModMaxLimW=5000, rampTms=2000), settings, pv)
    assert steps[0] == Write(704, "WRmp", 5)  # 100 % over 20 s


def test_writes_name_real_points_and_encode(pv, settings):
    """Every write lands on a pysunspec2 point that takes the value."""
    curve = b.volt_var_curve()
    base = m.DERControlBase(opModMaxLimW=5000, opModFixedW=2000, opModFixedVar=m.FixedVar(refType=2, value=100),
                            opModFixedPFInjectW=m.PowerFactorWithExcitation(displacement=90, excitation=False,
                                                                            multiplier=-2),
                            opModEnergize=True, opModConnect=True, opModVoltVar=m.Link(href="/c/1"), rampTms=100)
    steps = sm.control_writes(base, settings, pv, curves={"/c/1": curve}, remaining=120, before=pv)
    instances = {mid: sunspec_device.Model(mid, data=pv[mid]) for mid in pv}
    for step in steps:
        point = sm.resolve_point(instances[step.model], step.point)
        if isinstance(step, Write):
            assert point.pdef.get("access") == "RW", step
            point.value = step.value
    for instance in instances.values():
        instance.get_mb()  # every value fits its register


def test_applying_the_plan_shows_the_modes_enabled(pv, settings):
    base = m.DERControlBase(opModMaxLimW=3000, opModVoltVar=m.Link(href="/c/1"))
    steps = sm.control_writes(base, settings, pv, curves={"/c/1": b.volt_var_curve()})
    after = sm.apply_plan(pv, steps)
    assert sm.scaled(after, 704, "WMaxLimPct") == 30
    assert int(sm.der_settings(after, NOW).modesEnabled, 16) == 1 << 20 | 1 << 23
    assert sm.scaled(pv, 704, "WMaxLimPct") == 100  # the snapshot itself is untouched


def test_revert_restores_the_state_before(pv, settings):
    before = pv
    base = m.DERControlBase(opModMaxLimW=3000, opModConnect=False, opModVoltVar=m.Link(href="/c/1"))
    during = sm.apply_plan(pv, sm.control_writes(base, settings, pv, curves={"/c/1": b.volt_var_curve()},
                                                 remaining=60))
    steps = sm.revert_writes(base, during, before=before, settings=settings)
    assert steps[0] == Write(704, "WMaxLimPctRvrtTms", 0)  # stop the timer first
    after = sm.apply_plan(during, steps)
    for mid, point in ((704, "WMaxLimPct"), (704, "WMaxLimPctEna"), (705, "Ena"), (715, "OpCtl"),
                       (705, "Crv[2].Pt[1].V")):
        assert sm.value(after, mid, point) == sm.value(before, mid, point), point
    assert Await(705, "AdptCrvRslt", 1, failed=2) in steps  # the old curve adopted again


def test_revert_without_a_baseline_disables(pv):
    base = m.DERControlBase(opModMaxLimW=3000, opModFixedVar=m.FixedVar(refType=1, value=10), opModEnergize=False)
    w = writes(sm.revert_writes(base, pv))
    assert w[(704, "WMaxLimPctEna")] == 0 and w[(704, "VarSetEna")] == 0
    assert w[(703, "ES")] == 1


def test_transition_reverts_only_what_the_next_control_does_not_set(pv, settings):
    old = m.DERControlBase(opModMaxLimW=3000, opModFixedVar=m.FixedVar(refType=1, value=10))
    new = m.DERControlBase(opModMaxLimW=8000)
    steps = sm.transition_writes(old, new, settings, pv)
    w = writes(steps)
    assert w[(704, "VarSetEna")] == 0
    assert w[(704, "WMaxLimPct")] == 800 and w[(704, "WMaxLimPctEna")] == 1
    assert Write(704, "WMaxLimPctEna", 0) not in steps
    assert sm.transition_writes(old, None, settings, pv) == sm.revert_writes(old, pv, settings=settings)


def test_enter_service_writes(pv):
    default = m.DefaultDERControl(mRID=b.mrid(1), DERControlBase=m.DERControlBase(), setESDelay=30000,
                                  setESHighVolt=10800, setESLowFreq=4750, setGradW=2000)
    assert writes(sm.enter_service_writes(default, pv)) == {
        (703, "ESDlyTms"): 300, (703, "ESVHi"): 1080, (703, "ESHzLo"): 4750, (704, "WRmp"): 20}


def test_heartbeat_wraps_before_the_unimplemented_value():
    assert sm.heartbeat_write(5) == Write(715, "ControllerHb", 5)
    assert sm.heartbeat_write(0xFFFFFFFF) == Write(715, "ControllerHb", 0)


def test_batches_group_writes_per_model():
    steps = [Write(704, "a", 1), Write(704, "b", 2), Write(705, "c", 3), Await(705, "d", 1), Write(705, "e", 1)]
    assert sm.batches(steps) == [(704, steps[:2]), (705, [steps[2]]), steps[3], (705, [steps[4]])]


# -- unsupported modes ---------------------------------------------------------------------------------------

def test_unsupported_modes(pv):
    supported = sm.der_capability(pv).modesSupported
    assert sm.unsupported_modes(m.DERControlBase(opModMaxLimW=5000, opModConnect=True), supported) == set()
    assert sm.unsupported_modes(m.DERControlBase(opModMaxLimW=5000, opModFreqDroop=m.FreqDroopType(
        dBOF=1, dBUF=1, kOF=1, kUF=1, openLoopTms=1)), supported) == {"opModFreqDroop"}
    assert sm.unsupported_modes(m.DERControlBase(opModFreqWatt=m.Link(href="/c")), 0xFFFFFFF) == {"opModFreqWatt"}
    assert sm.unsupported_modes(m.DERControlBase(opModExpLimW=m.ActivePower(value=0, multiplier=0)),
                                supported) == {"opModExpLimW"}
    assert sm.unsupported_modes(m.DERControlBase(opModFixedVar=m.FixedVar(refType=4, value=10)),
                                supported) == {"opModFixedVar"}
    assert sm.unsupported_modes(m.DERControlBase(opModMaxLimW=1), "00") == {"opModMaxLimW"}


def test_unsupported_curves(pv):
    supported = sm.der_capability(pv).modesSupported
    base = m.DERControlBase(opModVoltVar=m.Link(href="/c/1"))
    fine = {"/c/1": b.volt_var_curve()}
    assert sm.unsupported_modes(base, supported, curves=fine, models=pv) == set()
    for curves in ({}, {"/c/1": b.volt_var_curve(curveType=12)}, {"/c/1": b.volt_var_curve(yRefType=4)},
                   {"/c/1": b.volt_var_curve([(9000 + i, 0) for i in range(5)])}):  # 5 points, NPt 4
        assert sm.unsupported_modes(base, supported, curves=curves, models=pv) == {"opModVoltVar"}
    read_only = b.pv_inverter(m705={"Crv": [dict(c, ReadOnly=1) for c in b.VOLT_VAR["Crv"]]})
    assert sm.unsupported_modes(base, supported, curves=fine, models=read_only) == {"opModVoltVar"}
