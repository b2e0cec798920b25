"""Each client sees and writes only what it may: its own EndDevice, or those it registered."""

from __future__ import annotations

import aiohttp

from der_gateway.sep import codec, model

from . import documents


async def register(client, lfdi: str) -> str:
    reply = await client.post("/edev", documents.end_device(lfdi))
    assert reply.status == 201, reply.reason
    return reply.headers["Location"]


async def test_two_devices_are_isolated(harness, identities):
    one, two = harness.client("device1"), harness.client("device2")
    edev1 = await register(one, identities["device1"].lfdi)
    edev2 = await register(two, identities["device2"].lfdi)
    await one.put(f"{edev1}/der/1/ders", codec.encode(documents.der_status()))
    mup1 = (await one.post("/mup", documents.mirror_usage_point(identities["device1"].lfdi))).headers["Location"]

    listed = codec.decode((await two.get("/edev?l=10")).element, model.EndDeviceList)
    assert [e.href for e in listed.EndDevice] == [edev2]
    dcap = codec.decode((await two.get("/dcap")).element, model.DeviceCapability)
    assert dcap.EndDeviceListLink.all == 1 and dcap.MirrorUsagePointListLink.all == 0

    before = harness.snapshot()
    for path in (edev1, f"{edev1}/rg", f"{edev1}/der", f"{edev1}/der/1", f"{edev1}/der/1/ders",
                 f"{edev1}/lel", f"{edev1}/fsa", mup1):
        assert (await two.get(path)).status == 404, path
    assert (await two.put(f"{edev1}/der/1/ders", codec.encode(documents.der_status()))).status == 404
    assert (await two.put(edev1, documents.end_device(identities["device1"].lfdi))).status == 404
    assert (await two.delete(edev1)).status == 404
    assert (await two.post(f"{edev1}/lel", documents.log_event(1, 1700000000))).status == 404
    assert (await two.post(mup1, codec.encode(documents.mirror_meter_reading("AB" * 16, 1)))).status == 404
    assert (await two.delete(mup1)).status == 404
    assert harness.snapshot() == before


async def test_a_device_cannot_register_another_device(harness, identities):
    device = harness.client("device1")
    before = harness.snapshot()
    refused = await device.post("/edev", documents.end_device(identities["device2"].lfdi))
    assert refused.status == 403 and "aggregator" in refused.reason
    assert harness.snapshot() == before


async def test_a_device_cannot_mirror_for_another(harness, identities):
    device = harness.client("device1")
    before = harness.snapshot()
    refused = await device.post("/mup", documents.mirror_usage_point(identities["device2"].lfdi))
    assert refused.status == 403
    assert harness.snapshot() == before


async def test_aggregators_own_what_they_register(harness, identities):
    agg1, agg2 = harness.client("aggregator"), harness.client("aggregator2")
    own1 = await register(agg1, identities["aggregator"].lfdi)
    dev1 = await register(agg1, identities["device1"].lfdi)
    dev2 = await register(agg2, identities["device2"].lfdi)

    seen1 = codec.decode((await agg1.get("/edev?l=10")).element, model.EndDeviceList)
    assert sorted(e.href for e in seen1.EndDevice) == sorted([own1, dev1])
    seen2 = codec.decode((await agg2.get("/edev?l=10")).element, model.EndDeviceList)
    assert [e.href for e in seen2.EndDevice] == [dev2]

    # agg1 acts for its device: DER documents, log events, mirrors on its behalf
    assert (await agg1.put(f"{dev1}/der/1/dercap", codec.encode(documents.der_capability()))).status == 204
    assert (await agg1.post(f"{dev1}/lel", documents.log_event(7, 1700000000))).status == 201
    assert (await agg1.post("/mup", documents.mirror_usage_point(identities["device1"].lfdi))).status == 201

    before = harness.snapshot()
    assert (await agg2.get(dev1)).status == 404
    assert (await agg2.put(f"{dev1}/der/1/dercap", codec.encode(documents.der_capability()))).status == 404
    assert (await agg2.delete(dev1)).status == 404
    # agg2 cannot take over agg1's device by registering it again
    taken = await agg2.post("/edev", documents.end_device(identities["device1"].lfdi))
    assert taken.status == 403 and "another client" in taken.reason
    assert (await agg2.post("/mup", documents.mirror_usage_point(identities["device1"].lfdi))).status == 403
    assert harness.snapshot() == before

    # the device itself sees its own EndDevice, registered by its aggregator
    device = harness.client("device1")
    mine = codec.decode((await device.get("/edev?l=10")).element, model.EndDeviceList)
    assert [e.href for e in mine.EndDevice] == [dev1]
    assert (await device.get(f"{dev1}/der/1/dercap")).status == 200
    # but only the aggregator that registered it may delete it
    assert (await device.delete(dev1)).status == 403
    assert (await agg1.delete(dev1)).status == 204
    assert (await agg1.get(dev1)).status == 404


async def test_aggregator_added_from_the_command_line(harness, identities):
    import asyncio

    from der_gateway.cli.main import main

    client = harness.client("device3")
    body = documents.end_device(identities["device2"].lfdi)
    assert (await client.post("/edev", body)).status == 403
    command = ["aggregators", "add", identities["device3"].lfdi.lower(), "--name", "acme", *harness.store_args()]
    assert await asyncio.to_thread(main, command) == 0
    assert (await client.post("/edev", body)).status == 201


async def test_an_mrid_of_another_clients_mirror_is_refused(harness, identities):
    """S-ALL-05: client A re-posts its MirrorUsagePoint naming a MirrorMeterReading of client B's."""
    a, b = harness.client("device1"), harness.client("device2")
    lfdi_a, lfdi_b = identities["device1"].lfdi, identities["device2"].lfdi
    def mup(lfdi: str, mrid: str) -> model.MirrorUsagePoint:
        return codec.decode_bytes(documents.mirror_usage_point(lfdi, mrid=mrid), model.MirrorUsagePoint)
    mup_a, mup_b = mup(lfdi_a, "AA" * 12 + "00028547"), mup(lfdi_b, "BB" * 12 + "00028547")
    mup_a.MirrorMeterReading[0].mRID = "A1" * 12 + "00028547"
    taken = "ABCDEF0123456789ABCDEF0100028547"
    mup_b.MirrorMeterReading[0].mRID = taken
    href_a = (await a.post("/mup", codec.encode(mup_a))).headers["Location"]
    assert (await b.post("/mup", codec.encode(mup_b))).status == 201

    before = harness.snapshot()
    mup_a.MirrorMeterReading[0].mRID = taken
    refused = await a.post("/mup", codec.encode(mup_a))
    assert refused.status == 409 and taken in refused.reason
    refused = await a.post(href_a, codec.encode(documents.mirror_meter_reading(taken, 7)))
    assert refused.status == 409 and taken in refused.reason
    mup_a.mRID, mup_a.MirrorMeterReading[0].mRID = mup_b.mRID, "A1" * 12 + "00028547"
    assert (await a.post("/mup", codec.encode(mup_a))).status == 409  # B's MirrorUsagePoint mRID
    assert harness.snapshot() == before

    # A's own mRIDs are A's to reuse
    mup_a.mRID = "AA" * 12 + "00028547"
    assert (await a.post("/mup", codec.encode(mup_a))).headers["Location"] == href_a
    assert (await a.post(href_a, codec.encode(documents.mirror_meter_reading("A1" * 12 + "00028547", 7)))).status == 204


async def test_the_operator_revokes_and_restores_a_client_certificate(harness, identities):
    """cactus set-client-access granted=false (S-ALL-05): every request of that certificate gets 403."""
    one, two = harness.client("device1"), harness.client("device2")
    lfdi = identities["device1"].lfdi
    edev1 = await register(one, lfdi)
    await register(two, identities["device2"].lfdi)
    url = f"{harness.server.admin_url}/clients/{lfdi.lower()}/access"
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer test-admin-token-0123456789"}) as admin:
        async def access(method: str, body: dict | None = None) -> tuple[int, dict]:
            async with admin.request(method, url, json=body) as resp:
                return resp.status, await resp.json()

        assert await access("GET") == (200, {"lfdi": lfdi, "granted": True, "revokedAt": None})
        status, body = await access("PUT", {"granted": False})
        assert status == 200 and body["granted"] is False and isinstance(body["revokedAt"], int)

        await harness.server.background.settle()  # the registrations' changes, fanned out
        before = harness.snapshot()
        for method, path, doc in (("GET", "/edev", None), ("GET", "/dcap", None), ("GET", edev1, None),
                                  ("POST", "/mup", documents.mirror_usage_point(lfdi)),
                                  ("POST", "/edev", documents.end_device(lfdi))):
            refused = await one.request(method, path, doc)
            assert refused.status == 403 and "revoked" in refused.reason, path
            assert codec.decode(refused.element, model.Error) is not None
        assert harness.snapshot() == before
        assert (await two.get("/edev")).status == 200  # others are not affected

        assert (await access("PUT", {"granted": True}))[1]["granted"] is True
        mine = codec.decode((await one.get("/edev?l=5")).element, model.EndDeviceList)
        assert [e.href for e in mine.EndDevice] == [edev1]  # what it had is still there

        assert (await access("PUT", {"granted": "no", "extra": 1}))[0] == 400
        async with admin.put(f"{harness.server.admin_url}/clients/xyz/access", json={"granted": False}) as resp:
            assert resp.status == 400
