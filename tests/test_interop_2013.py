"""Bodies written to IEEE 2030.5-2013, as EPRI's client sends them, over real TLS.

EPRI's client (v0.2.7) is generated from the 2013 schema: its namespace is
http://ieee.org/2030.5, EndDevice says loadShedDeviceCategory, DERCapability
carries rtgW/rtgVA/rtgA..., and the power-factor limits are rtgMinPF/rtgMinPFNeg
and setMinPF/setMinPFNeg.  The server maps such a body onto 2030.5-2018 before
validating it, and stores what the 2018 names mean.
"""

from __future__ import annotations

import pytest

from der_gateway.clock import ManualClock
from der_gateway.domain.identifiers import Pen, new_mrid
from der_gateway.sep import codec, model
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.services import der_controls

from . import documents

NS_2013 = "http://ieee.org/2030.5"
T0 = 1_800_000_000


def end_device_2013(lfdi: str) -> str:
    # 2013's AbstractDevice sequence: ... lFDI, LoadShedAvailabilityListLink, loadShedDeviceCategory, ... sFDI
    return (f'<EndDevice xmlns="{NS_2013}"><lFDI>{lfdi}</lFDI><loadShedDeviceCategory>00040000'
            f'</loadShedDeviceCategory><sFDI>{sfdi_from_lfdi(lfdi)}</sFDI><changedTime>{T0}</changedTime>'
            '</EndDevice>')


def quantity(name: str, value: int, multiplier: int = 0) -> str:
    return f"<{name}><multiplier>{multiplier}</multiplier><value>{value}</value></{name}>"


DER_CAPABILITY_2013 = (
    f'<DERCapability xmlns="{NS_2013}"><modesSupported>01fffd</modesSupported>{quantity("rtgA", 21)}'
    f'<rtgAbnormalCategory>2</rtgAbnormalCategory>{quantity("rtgAh", 40)}{quantity("rtgMaxChargeRateW", 3000)}'
    '<rtgMinPF><displacement>90</displacement><multiplier>-2</multiplier></rtgMinPF>'
    '<rtgMinPFNeg><displacement>-85</displacement><multiplier>-2</multiplier></rtgMinPFNeg>'
    f'<rtgNormalCategory>1</rtgNormalCategory>{quantity("rtgVA", 5000)}{quantity("rtgVar", 2200)}'
    f'{quantity("rtgVarNeg", -2200)}{quantity("rtgW", 5000)}{quantity("rtgWh", 13500)}<type>83</type>'
    '</DERCapability>')

DER_SETTINGS_2013 = (
    f'<DERSettings xmlns="{NS_2013}"><modesEnabled>1ffd</modesEnabled><setESDelay>600</setESDelay>'
    f'<setGradW>100</setGradW>{quantity("setMaxVA", 4800)}{quantity("setMaxW", 4600)}'
    '<setMinPF><displacement>95</displacement><multiplier>-2</multiplier></setMinPF>'
    '<setMinPFNeg><displacement>-90</displacement><multiplier>-2</multiplier></setMinPFNeg>'
    f'<setSoftGradW>50</setSoftGradW><updatedTime>{T0}</updatedTime></DERSettings>')

DER_STATUS_2013 = (
    f'<DERStatus xmlns="{NS_2013}"><genConnectStatus><dateTime>{T0}</dateTime><value>01</value>'
    f'</genConnectStatus><inverterStatus><dateTime>{T0}</dateTime><value>4</value></inverterStatus>'
    f'<readingTime>{T0}</readingTime><stateOfChargeStatus><dateTime>{T0}</dateTime><value>70</value>'
    '</stateOfChargeStatus></DERStatus>')


def response_2013(lfdi: str, subject: str, status: int) -> str:
    # a prefixed 2013 namespace, and xsi:type naming the 2013 type
    return (f'<s:DERControlResponse xmlns:s="{NS_2013}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<s:createdDateTime>{T0 + 1}</s:createdDateTime><s:endDeviceLFDI>{lfdi}</s:endDeviceLFDI>'
            f'<s:status>{status}</s:status><s:subject>{subject}</s:subject></s:DERControlResponse>')


@pytest.fixture
async def server(make_harness):
    h = make_harness(clock=ManualClock(T0), notification_allow_addresses=("127.0.0.1/32",))
    await h.start()
    yield h
    await h.stop()


def decoded(reply, cls):
    assert reply.status == 200, (reply.status, reply.reason)
    return codec.decode(reply.element, cls)


async def test_a_2013_client_registers_writes_its_der_documents_and_responds(server, identities):
    h, lfdi = server, identities["device1"].lfdi
    device = h.client("device1")

    registered = await device.post("/edev", end_device_2013(lfdi))
    assert registered.status == 201, registered.reason
    edev = registered.headers["Location"]
    got = decoded(await device.get(edev), model.EndDevice)
    assert (got.lFDI, got.sFDI, got.deviceCategory, got.changedTime) == (lfdi, sfdi_from_lfdi(lfdi), "00040000", T0)

    der = f"{edev}/der/1"
    for kind, body in (("dercap", DER_CAPABILITY_2013), ("derg", DER_SETTINGS_2013), ("ders", DER_STATUS_2013)):
        put = await device.put(f"{der}/{kind}", body)
        assert put.status == 204, (kind, put.reason)

    capability = decoded(await device.get(f"{der}/dercap"), model.DERCapability)
    assert (capability.rtgMaxW.value, capability.rtgMaxVA.value, capability.rtgMaxA.value) == (5000, 5000, 21)
    assert (capability.rtgMaxVar.value, capability.rtgMaxVarNeg.value) == (2200, -2200)
    assert (capability.rtgMaxAh.value, capability.rtgMaxWh.value) == (40, 13500)
    assert capability.rtgMaxChargeRateW.value == 3000
    assert (capability.rtgAbnormalCategory, capability.rtgNormalCategory, capability.type) == (2, 1, 83)
    assert capability.rtgMinPFOverExcited == model.PowerFactor(displacement=90, multiplier=-2)
    # 2013's negative displacement for the under-excited limit is 2018's positive one
    assert capability.rtgMinPFUnderExcited == model.PowerFactor(displacement=85, multiplier=-2)

    settings = decoded(await device.get(f"{der}/derg"), model.DERSettings)
    assert (settings.setMaxW.value, settings.setMaxVA.value) == (4600, 4800)
    assert (settings.setGradW, settings.setESDelay) == (100, 600)
    assert settings.setMinPFOverExcited == model.PowerFactor(displacement=95, multiplier=-2)
    assert settings.setMinPFUnderExcited == model.PowerFactor(displacement=90, multiplier=-2)

    status = decoded(await device.get(f"{der}/ders"), model.DERStatus)
    assert (status.readingTime, status.inverterStatus.value, status.stateOfChargeStatus.value) == (T0, 4, 70)

    # an event for its group, and its response to it
    store = h.store
    group = await store.create_group(new_mrid(Pen(40732)), "feeder 2013")
    await store.set_membership(group, [int(edev.rsplit("/", 1)[1])], True)
    program = await store.create_program(new_mrid(Pen(40732)), "curtailment", 1)
    await store.set_group_program(group, program, True)
    event = await der_controls.create_event(store, h.clock, Pen(40732), program, model.DERControl(
        mRID="", creationTime=0, interval=model.DateTimeInterval(start=T0 + 60, duration=300),
        EventStatus=model.EventStatus(currentStatus=0, dateTime=0, potentiallySuperseded=False),
        DERControlBase=model.DERControlBase(opModMaxLimW=5000), responseRequired="03"))
    answered = await device.post("/rsps/1/rsp", response_2013(lfdi, event.mRID, 1))
    assert answered.status == 201 and answered.headers["Location"].startswith("/rsps/1/rsp/"), answered.reason
    [stored] = await store.responses(event.id)
    assert (stored.status, stored.end_device_lfdi.upper()) == (1, lfdi.upper())


@pytest.mark.parametrize("body, named", [
    # a root element neither edition has
    (f'<DERCapabilities xmlns="{NS_2013}"><type>4</type></DERCapabilities>', "DERCapabilities"),
    # a DERSettings element no edition defines
    (f'<DERSettings xmlns="{NS_2013}"><setGenConnect>true</setGenConnect><setGradW>100</setGradW>'
     f'{quantity("setMaxW", 4600)}<updatedTime>{T0}</updatedTime></DERSettings>', "setGenConnect"),
    # 2013's Int16 displacement with no 2018 meaning: a positive under-excited limit must stay below 1
    (f'<DERCapability xmlns="{NS_2013}"><modesSupported>01</modesSupported>'
     '<rtgMinPF><displacement>-70000</displacement><multiplier>-2</multiplier></rtgMinPF>'
     f'{quantity("rtgW", 5000)}<type>4</type></DERCapability>', "displacement"),
], ids=["unknown root", "unknown element", "value out of range"])
async def test_unmappable_2013_bodies_are_refused_with_the_reason(server, identities, body, named):
    h = server
    device = h.client("device1")
    edev = (await device.post("/edev", end_device_2013(identities["device1"].lfdi))).headers["Location"]
    target = f"{edev}/der/1/derg" if "DERSettings" in body else f"{edev}/der/1/dercap"
    before = h.snapshot()
    reply = await device.put(target, body)
    assert reply.status == 400
    assert "IEEE 2030.5-2013" in reply.reason and named in reply.reason, reply.reason
    assert h.snapshot() == before


async def test_a_2018_body_with_2013_names_is_not_mapped(server, identities):
    """Only the 2013 namespace is mapped: a 2018 body must use the 2018 names."""
    h = server
    device = h.client("device1")
    edev = (await device.post("/edev", end_device_2013(identities["device1"].lfdi))).headers["Location"]
    body = DER_CAPABILITY_2013.replace(NS_2013, "urn:ieee:std:2030.5:ns")
    reply = await device.put(f"{edev}/der/1/dercap", body)
    assert reply.status == 400 and "rtgA" in reply.reason and "2013" not in reply.reason, reply.reason


def in_2013(body: bytes) -> bytes:
    """A 2018 body of a resource whose shape 2013 shares, in 2013's namespace."""
    return body.replace(b'xmlns="urn:ieee:std:2030.5:ns"', f'xmlns="{NS_2013}"'.encode())


async def test_2013_telemetry_logs_and_subscriptions(server, identities):
    h, lfdi = server, identities["device1"].lfdi
    device = h.client("device1")
    edev = (await device.post("/edev", end_device_2013(lfdi))).headers["Location"]
    mup = await device.post("/mup", in_2013(documents.mirror_usage_point(lfdi, readings=2)))
    assert mup.status == 201, mup.reason
    readings = decoded(await device.get(mup.headers["Location"]), model.MirrorUsagePoint).MirrorMeterReading
    assert [r.Reading.value for r in readings] == [3000, 3001]
    logged = await device.post(f"{edev}/lel", in_2013(documents.log_event(7, T0)))
    assert logged.status == 201, logged.reason
    assert decoded(await device.get(logged.headers["Location"]), model.LogEvent).logEventID == 7
    subscription = in_2013(codec.encode(model.Subscription(
        subscribedResource=f"{edev}/fsa", encoding=0, level="-S1", limit=1, notificationURI="https://127.0.0.1:9/n")))
    subscribed = await device.post(f"{edev}/sub", subscription)
    assert subscribed.status == 201, subscribed.reason
    got = decoded(await device.get(subscribed.headers["Location"]), model.Subscription)
    assert got.subscribedResource == f"{edev}/fsa"
