"""sep.legacy: bodies written to 2030.5-2013 or CSIP-AUS v1.1, mapped onto the current schemas."""

from __future__ import annotations

import pytest
from lxml import etree

from der_gateway import xsd
from der_gateway.sep import codec, model
from der_gateway.sep.fields import CSIPAUS_NS, SEP_NS
from der_gateway.sep.legacy import EDITION_2013, EDITION_CSIPAUS_11, SEP_2013_NS, XSI_TYPE, upgrade

from . import documents


@pytest.fixture(scope="module")
def schemas() -> dict[str, xsd.SchemaSet]:
    return {profile: xsd.load_schemas(profile) for profile in ("csip", "csip-aus")}


def test_a_current_body_is_left_as_it_is():
    element = codec.parse_document(codec.encode(documents.der_capability()))
    upgraded = upgrade(element)
    assert upgraded.element is element and upgraded.edition is None


def test_a_2013_end_device_takes_the_2018_names_and_order(schemas):
    lfdi = "3E4F45AB31EDFE5B67E343E5E4562E31984E23E5"
    body = (f'<EndDevice xmlns="{SEP_2013_NS}" href="/edev/9"><lFDI>{lfdi}</lFDI>'
            '<loadShedDeviceCategory>0040</loadShedDeviceCategory><sFDI>167261211391</sFDI>'
            '<changedTime>1</changedTime><enabled>true</enabled></EndDevice>')
    upgraded = upgrade(codec.parse_document(body.encode()))
    assert upgraded.edition == EDITION_2013
    assert [etree.QName(c).localname for c in upgraded.element] == ["deviceCategory", "lFDI", "sFDI", "changedTime",
                                                                    "enabled"]
    assert schemas["csip"].errors(upgraded.element) == []
    device = codec.decode(upgraded.element, model.EndDevice)
    assert (device.href, device.deviceCategory, device.lFDI, device.enabled) == ("/edev/9", "0040", lfdi, True)


def test_prefixes_xsi_types_and_csipaus_elements_survive(schemas):
    body = (f'<s:Response xmlns:s="{SEP_2013_NS}" xmlns:x="http://www.w3.org/2001/XMLSchema-instance" '
            'x:type="s:DERControlResponse"><s:createdDateTime>1</s:createdDateTime>'
            '<s:endDeviceLFDI>3E4F45AB31EDFE5B67E343E5E4562E31984E23E5</s:endDeviceLFDI><s:status>1</s:status>'
            '<s:subject>0A0B0C0D0E0F00010203040506070809</s:subject></s:Response>')
    upgraded = upgrade(codec.parse_document(body.encode()))
    assert upgraded.element.tag == f"{{{SEP_NS}}}Response"
    assert upgraded.element.get(XSI_TYPE) == "DERControlResponse"
    assert schemas["csip"].errors(upgraded.element) == []

    capability = (f'<DERCapability xmlns="{SEP_2013_NS}" xmlns:c="{CSIPAUS_NS}"><modesSupported>01</modesSupported>'
                  '<rtgW><multiplier>0</multiplier><value>5000</value></rtgW><type>4</type>'
                  '<c:doeModesSupported>03</c:doeModesSupported></DERCapability>')
    upgraded = upgrade(codec.parse_document(capability.encode()))
    assert schemas["csip-aus"].errors(upgraded.element) == []
    decoded = codec.decode(upgraded.element, model.DERCapability)
    assert (decoded.rtgMaxW.value, decoded.doeModesSupported) == (5000, "03")


def test_a_2013_under_excited_power_factor_becomes_positive():
    body = (f'<DERSettings xmlns="{SEP_2013_NS}"><setGradW>1</setGradW>'
            '<setMaxW><multiplier>0</multiplier><value>1</value></setMaxW>'
            '<setMinPF><displacement>95</displacement><multiplier>-2</multiplier></setMinPF>'
            '<setMinPFNeg><displacement>-90</displacement><multiplier>-2</multiplier></setMinPFNeg>'
            '<updatedTime>1</updatedTime></DERSettings>')
    settings = codec.decode(upgrade(codec.parse_document(body.encode())).element, model.DERSettings)
    assert settings.setMinPFOverExcited == model.PowerFactor(displacement=95, multiplier=-2)
    assert settings.setMinPFUnderExcited == model.PowerFactor(displacement=90, multiplier=-2)


def test_a_csip_aus_v11_connection_point(schemas):
    body = f'<ConnectionPoint xmlns="{CSIPAUS_NS}"><id>NMI1</id></ConnectionPoint>'
    upgraded = upgrade(codec.parse_document(body.encode()))
    assert upgraded.edition == EDITION_CSIPAUS_11 and schemas["csip-aus"].errors(upgraded.element) == []
    assert codec.decode(upgraded.element, model.ConnectionPoint).connectionPointId == "NMI1"
