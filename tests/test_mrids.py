"""The mRIDs the server makes carry its PEN as the profile wants it; clients' mRIDs are taken as sent."""

from __future__ import annotations

import re
import time

import aiohttp
import pytest

from der_gateway.config import Config
from der_gateway.domain.identifiers import Pen, new_mrid, numbered_mrid
from der_gateway.sep import codec, model

from . import documents

ADMIN_TOKEN = "test-admin-token-0123456789"  # conftest's make_harness


def test_the_pen_is_binary_under_2030_5_and_decimal_digits_under_csip_aus():
    assert Pen(40732).suffix == "00009F1C"
    assert Pen(40732, decimal=True).suffix == "00040732"
    assert new_mrid(Pen(12345, decimal=True)).endswith("00012345")
    assert numbered_mrid(1, Pen(12345)) == "0" * 23 + "1" + "00003039"
    assert Config(profile="csip", pen=12345).mrid_pen == Pen(12345)
    assert Config(profile="csip-aus", pen=12345).mrid_pen == Pen(12345, decimal=True)
    assert Pen(99_999_999, decimal=True).suffix == "99999999"
    with pytest.raises(ValueError, match="8 decimal digits"):
        Pen(100_000_000, decimal=True)
    with pytest.raises(ValueError, match="8 decimal digits"):
        Config(profile="csip-aus", pen=123_456_789)
    assert Config(profile="csip", pen=123_456_789).mrid_pen.suffix == "075BCD15"


def made_by(mrid: str, pen: int) -> bool:
    """SA TS 5573 §4.2 as CSIP-AUS test tools read it: upper-case hex, at most 32 characters, an even
    number of them, the last 8 being the PEN in decimal digits."""
    return (re.fullmatch(r"[0-9A-F]{2,32}", mrid) is not None and len(mrid) % 2 == 0
            and mrid[-8:].isdigit() and int(mrid[-8:]) == pen)


async def server_made_mrids(harness, identities) -> list[str]:
    """Every kind of server-made mRID, as a device finds them over 2030.5."""
    device = harness.client("device1")
    edev = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    edev_id = int(edev.rsplit("/", 1)[1])
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        async def ok(method: str, path: str, body: dict | None = None) -> dict:
            async with admin.request(method, harness.server.admin_url + path, json=body) as resp:
                assert resp.status < 300, (path, await resp.text())
                return await resp.json() if resp.status != 204 else {}
        program = await ok("POST", "/programs", {"primacy": 1})
        group = await ok("POST", "/groups", {"description": "feeder"})
        await ok("POST", f"/groups/{group['id']}/members", {"endDevices": [edev_id]})
        await ok("PUT", f"/groups/{group['id']}/programs/{program['id']}")
        await ok("PUT", f"/programs/{program['id']}/default-control", {"DERControlBase": {"opModMaxLimW": 9000}})
        start = int(time.time()) + 600
        await ok("POST", f"/programs/{program['id']}/controls",
                 {"interval": {"start": start, "duration": 600}, "DERControlBase": {"opModMaxLimW": 5000}})
    fsa = codec.decode((await device.get(f"{edev}/fsa?l=5")).element, model.FunctionSetAssignmentsList)
    derp = codec.decode((await device.get(fsa.FunctionSetAssignments[0].DERProgramListLink.href + "?l=5")).element,
                        model.DERProgramList).DERProgram[0]
    controls = codec.decode((await device.get(derp.DERControlListLink.href + "?l=5")).element, model.DERControlList)
    default = codec.decode((await device.get(derp.DefaultDERControlLink.href)).element, model.DefaultDERControl)
    response_set = codec.decode((await device.get("/rsps/1")).element, model.ResponseSet)
    return [fsa.FunctionSetAssignments[0].mRID, derp.mRID, controls.DERControl[0].mRID, default.mRID,
            response_set.mRID]


async def test_csip_aus_mrids_end_in_the_pens_decimal_digits(make_harness, identities):
    h = make_harness(profile="csip-aus", pen=12345)
    await h.start()
    try:
        mrids = await server_made_mrids(h, identities)
    finally:
        await h.stop()
    assert len(mrids) == 5
    assert all(made_by(m, 12345) for m in mrids), mrids


async def test_csip_mrids_end_in_the_pen_in_binary(make_harness, identities):
    h = make_harness(profile="csip", pen=12345)
    await h.start()
    try:
        mrids = await server_made_mrids(h, identities)
    finally:
        await h.stop()
    assert all(len(m) == 32 and m.endswith("00003039") for m in mrids), mrids


@pytest.mark.parametrize("profile", ["csip", "csip-aus"])
async def test_client_mrids_are_not_judged_by_the_servers_pen(make_harness, identities, profile):
    """A client writes its own PEN into its mRIDs, in whichever form its profile uses."""
    h = make_harness(profile=profile, pen=12345)
    await h.start()
    try:
        me = identities["device1"]
        device = h.client("device1")
        for mup_mrid, mmr_suffix in (("ABCDEF0123456789ABCDEF0100028547", "00028547"),
                                     ("0A" * 12 + "00006F83", "00006F83")):
            mup = codec.decode_bytes(documents.mirror_usage_point(me.lfdi, mrid=mup_mrid), model.MirrorUsagePoint)
            mup.MirrorMeterReading[0].mRID = mup_mrid[:24] + mmr_suffix
            created = await device.post("/mup", codec.encode(mup))
            assert created.status == 201, created.reason
            back = codec.decode((await device.get(created.headers["Location"])).element, model.MirrorUsagePoint)
            assert back.mRID == mup_mrid and back.MirrorMeterReading[0].mRID == mup_mrid[:24] + mmr_suffix
    finally:
        await h.stop()
