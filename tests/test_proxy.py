"""Behind a TLS-terminating proxy: the client certificate arrives in a header, from trusted addresses only."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import AsyncIterator
from urllib.parse import quote

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from der_gateway.sep import codec, model

from . import documents
from .conftest import SepClient

HEADER = "X-SSL-Client-Cert"


def escaped(pem: bytes | str) -> str:
    """The header value, as nginx's $ssl_client_escaped_cert."""
    return quote(pem.decode() if isinstance(pem, bytes) else pem)


def header_for(certs_dir: Path, name: str) -> dict[str, str]:
    return {HEADER: escaped((certs_dir / f"{name}.pem").read_text())}


def forged_chain(certs_dir: Path, with_mica: bool) -> str:
    """An attacker's self-signed root named like the real SERCA (and optionally a MICA named like the real
    one), and a leaf signed under it."""
    real_serca = x509.load_pem_x509_certificate((certs_dir / "serca.pem").read_bytes())
    real_mica = x509.load_pem_x509_certificate((certs_dir / "mica.pem").read_bytes())
    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject, issuer, key, signer, ca: bool) -> x509.Certificate:
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                .sign(signer, hashes.SHA256()))

    root_key = ec.generate_private_key(ec.SECP256R1())
    fake_root = cert(real_serca.subject, real_serca.subject, root_key, root_key, True)
    chain = [fake_root]
    issuer_name, issuer_key = real_serca.subject, root_key
    if with_mica:
        mica_key = ec.generate_private_key(ec.SECP256R1())
        chain.insert(0, cert(real_mica.subject, real_serca.subject, mica_key, root_key, True))
        issuer_name, issuer_key = real_mica.subject, mica_key
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = cert(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "intruder")]), issuer_name,
                leaf_key, issuer_key, False)
    return escaped(b"".join(c.public_bytes(Encoding.PEM) for c in [leaf, *chain]))


@pytest.fixture
async def proxied(make_harness) -> AsyncIterator:
    h = make_harness(trusted_proxies=("127.0.0.1/32",))
    await h.start()
    yield h
    await h.stop()


@pytest.fixture
async def plain(proxied) -> AsyncIterator[SepClient]:
    assert proxied.server.url.startswith("http://")
    async with aiohttp.ClientSession() as session:
        yield SepClient(session, proxied.server.url, proxied.config.profile)


async def test_identity_comes_from_the_forwarded_certificate(proxied, plain, certs_dir, identities):
    me = header_for(certs_dir, "device1")
    dcap = await plain.get("/dcap", headers=me)
    assert dcap.status == 200, dcap.reason
    assert codec.decode(dcap.element, model.DeviceCapability).EndDeviceListLink.all == 0

    posted = await plain.post("/edev", documents.end_device(identities["device1"].lfdi), headers=me)
    assert posted.status == 201, posted.reason
    listed = codec.decode((await plain.get("/edev?l=10", headers=me)).element, model.EndDeviceList)
    assert [e.lFDI for e in listed.EndDevice] == [identities["device1"].lfdi]
    assert (await plain.get(posted.headers["Location"], headers=me)).status == 200

    # another forwarded certificate is another client, who does not see device1's EndDevice
    other = codec.decode((await plain.get("/edev?l=10", headers=header_for(certs_dir, "device2"))).element,
                         model.EndDeviceList)
    assert other.all == 0


def refusal_headers(certs_dir: Path, foreign_certs_dir: Path) -> dict[str, dict[str, str]]:
    return {
        "no header": {},
        "empty header": {HEADER: ""},
        "garbage": {HEADER: "not%20a%20certificate"},
        "garbage PEM": {HEADER: escaped("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")},
        "foreign PKI": header_for(foreign_certs_dir, "device1"),
        "forged root": {HEADER: forged_chain(certs_dir, with_mica=False)},
        "forged root and MICA": {HEADER: forged_chain(certs_dir, with_mica=True)},
        "the MICA itself": {HEADER: escaped((certs_dir / "mica.pem").read_text())},
        "the SERCA itself": {HEADER: escaped((certs_dir / "serca.pem").read_text())},
    }


async def test_refused_without_a_valid_forwarded_certificate(proxied, plain, certs_dir, foreign_certs_dir,
                                                             identities):
    before = proxied.snapshot()
    for label, headers in refusal_headers(certs_dir, foreign_certs_dir).items():
        got = await plain.get("/dcap", headers=headers)
        assert got.status == 403, f"{label}: GET /dcap gave {got.status} {got.reason}"
        posted = await plain.post("/edev", documents.end_device(identities["device1"].lfdi), headers=headers)
        assert posted.status == 403, f"{label}: POST /edev gave {posted.status} {posted.reason}"
        assert "Location" not in posted.headers
        assert proxied.snapshot() == before, f"{label}: a refused request changed the store"


async def test_header_ignored_from_an_untrusted_address(make_harness, certs_dir, identities):
    harness = make_harness(trusted_proxies=("10.9.9.9/32",))
    await harness.start()
    try:
        before = harness.snapshot()
        async with aiohttp.ClientSession() as session:
            client = SepClient(session, harness.server.url, harness.config.profile)
            me = header_for(certs_dir, "device1")
            assert (await client.get("/dcap", headers=me)).status == 403
            posted = await client.post("/edev", documents.end_device(identities["device1"].lfdi), headers=me)
            assert posted.status == 403
        assert harness.snapshot() == before
    finally:
        await harness.stop()


async def test_a_forwarded_chain_with_name_constraints_or_policy_mappings_is_refused(proxied, plain, certs_dir):
    """IEEE 2030.5 SEC.100/101: however well it chains to the SERCA."""
    from cryptography.hazmat.primitives import serialization

    from der_gateway.pki.profile import Issued, _ca_builder, _ca_name, _new_key, make_leaf

    serca = Issued(x509.load_pem_x509_certificate((certs_dir / "serca.pem").read_bytes()),
                   serialization.load_pem_private_key((certs_dir / "serca.key").read_bytes(), password=None))
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    key = _new_key()
    mica = Issued(_ca_builder(_ca_name("constrained MICA"), serca.certificate.subject, key, 0, serca.key)
                  .add_extension(constraints, critical=False).sign(serca.key, hashes.SHA256()), key)
    leaf = make_leaf(mica, "constrained")
    header = {HEADER: escaped(b"".join(c.public_bytes(Encoding.PEM) for c in (leaf.certificate, mica.certificate)))}
    got = await plain.get("/dcap", headers=header)
    assert got.status == 403 and "name constraints" in got.reason
