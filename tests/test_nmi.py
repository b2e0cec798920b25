"""NMIs, the CSIP-AUS connectionPointId: AEMO's format and checksum, and the ConnectionPoint that checks them."""

from __future__ import annotations

import pytest

from der_gateway.domain.nmi import checksum, nmi_problem
from der_gateway.sep import codec, model

from . import documents


@pytest.mark.parametrize("nmi", ["41020000002", "41020000026", "4102000000", "QB01234567", "VAAA0000657",
                                 "QCDWW000102"])
def test_valid_nmis(nmi):
    assert nmi_problem(nmi) is None


def test_the_checksum_is_aemos():
    # the harness's valid_nmi_1 and valid_nmi_2, and AEMO's worked examples
    assert checksum("4102000000") == 2 and checksum("4102000002") == 6
    examples = {"QAAAVZZZZZ": 3, "2001985732": 8, "QCDWW00010": 2, "SMVEW00085": 8, "VAAA000065": 7,
                "VCCCX00009": 1, "VKTS876150": 3, "VKTS786150": 2}
    assert {nmi: checksum(nmi) for nmi in examples} == examples


@pytest.mark.parametrize("value, why", [
    ("NOTAVALIDID", "capital letters other than I and O"),  # S-OPT-02
    ("41020000003", "checksum digit of NMI 4102000000 is 2"),
    ("410200000", "has 9"),
    ("410200000026", "has 12"),
    ("4102o00000", "capital letters"),
    ("41020000 0", "capital letters"),
    ("410200000X", None),
])
def test_invalid_nmis(value, why):
    if why is None:
        assert nmi_problem(value) is None  # X is a letter NMIs may use
    else:
        assert why in nmi_problem(value)


async def test_connection_point_takes_only_an_nmi(aus_harness, identities):
    device = aus_harness.client("device1")
    href = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
    before = aus_harness.snapshot()
    refused = await device.put(f"{href}/cp", codec.encode(model.ConnectionPoint(connectionPointId="NOTAVALIDID")))
    assert refused.status == 400 and "connectionPointId" in refused.reason
    assert codec.decode(refused.element, model.Error).reasonCode == 1  # invalid request values
    assert aus_harness.snapshot() == before
    assert (await device.put(f"{href}/cp", codec.encode(model.ConnectionPoint(connectionPointId="41020000002")))
            ).status in (201, 204)
    cp = codec.decode((await device.get(f"{href}/cp")).element, model.ConnectionPoint)
    assert cp.connectionPointId == "41020000002"


async def test_nmi_validation_is_a_setting(make_harness, identities):
    h = make_harness(profile="csip-aus", nmi_validation=False)
    await h.start()
    try:
        device = h.client("device1")
        href = (await device.post("/edev", documents.end_device(identities["device1"].lfdi))).headers["Location"]
        body = codec.encode(model.ConnectionPoint(connectionPointId="SITE-7"))
        assert (await device.put(f"{href}/cp", body)).status in (201, 204)
    finally:
        await h.stop()
