"""Behind a TLS-terminating proxy: the client certificate arrives in a header, from trusted addresses only."""

from __future__ import annotations

import asyncio
import datetime
import time
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
from der_gateway.server import identity

from . import certificates as c
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


def chain_header(*chain: c.Issued) -> dict[str, str]:
    return {HEADER: escaped(c.pem(*chain))}


REFUSED_KEYS = ("rsa2048", "p384", "p256-sha384", "p256-under-rsa-mica", "p256-under-p384-mica")
WEAK_CHAINS = ("signed by a device certificate", "signed by a named device certificate",
               "signed by a CA beyond the MICA's pathLen 0", "signed by a CA without basicConstraints",
               "expired", "not yet valid", *REFUSED_KEYS)


@pytest.fixture(scope="module")
def weak_chains(certs_dir: Path, odd_certs_dir: Path) -> dict[str, dict[str, str]]:
    """Forwarded chains a direct TLS handshake refuses, each signed under the real SERCA."""
    serca, mica = c.load(certs_dir, "serca"), c.load(certs_dir, "mica")
    device = c.load(certs_dir, "device2")
    named_device = c.issue(mica, "named device", subject=True)
    sub_ca = c.issue(mica, "CA under a pathLen 0 MICA", ca=True)
    no_constraints = c.issue(serca, "MICA without basicConstraints", ca=True, basic_constraints=False)
    now = datetime.datetime.now(datetime.timezone.utc)
    day = datetime.timedelta(days=1)
    headers = {
        "signed by a device certificate": chain_header(c.issue(device, "under device2"), device),
        "signed by a named device certificate": chain_header(c.issue(named_device, "under a device"), named_device),
        "signed by a CA beyond the MICA's pathLen 0": chain_header(c.issue(sub_ca, "too deep"), sub_ca),
        "signed by a CA without basicConstraints": chain_header(c.issue(no_constraints, "x"), no_constraints),
        "expired": chain_header(c.issue(mica, "expired", not_before=now - 10 * day, not_after=now - day)),
        "not yet valid": chain_header(c.issue(mica, "early", not_before=now + day)),
    }
    for name in REFUSED_KEYS:
        headers[name] = {HEADER: escaped((odd_certs_dir / f"{name}.pem").read_text())}
    assert set(headers) == set(WEAK_CHAINS)
    return headers


@pytest.mark.parametrize("label", WEAK_CHAINS)
async def test_a_forwarded_chain_is_validated_as_fully_as_direct_tls(proxied, plain, weak_chains, identities,
                                                                     label):
    before = proxied.snapshot()
    headers = weak_chains[label]
    got = await plain.get("/dcap", headers=headers)
    assert got.status == 403, f"{label}: GET /dcap gave {got.status} {got.reason}"
    if label in REFUSED_KEYS:
        assert "IEEE 2030.5 requires" in got.reason, got.reason
    posted = await plain.post("/edev", documents.end_device(identities["device1"].lfdi), headers=headers)
    assert posted.status == 403, f"{label}: POST /edev gave {posted.status} {posted.reason}"
    assert proxied.snapshot() == before


async def test_forwarded_chains_2030_5_accepts(proxied, plain, certs_dir, odd_certs_dir):
    """The leaf alone (as nginx forwards it: the configured MICA completes the chain), the leaf with its MICA,
    a certificate made like the refused ones but P-256 / SHA-256, and one valid until 99991231235959Z."""
    mica = c.load(certs_dir, "mica")
    leaf = x509.load_pem_x509_certificates((certs_dir / "device1.pem").read_bytes())[0]
    assert leaf.not_valid_after_utc.year == 9999
    for label, headers in {
        "leaf alone": {HEADER: escaped(leaf.public_bytes(Encoding.PEM))},
        "leaf and MICA": header_for(certs_dir, "device1"),
        "P-256 made in the test": {HEADER: escaped((odd_certs_dir / "p256.pem").read_text())},
        "valid for a minute": chain_header(c.issue(mica, "brief", not_after=datetime.datetime.now(
            datetime.timezone.utc) + datetime.timedelta(minutes=1)), mica),
    }.items():
        got = await plain.get("/dcap", headers=headers)
        assert got.status == 200, f"{label}: {got.status} {got.reason}"


def count_validations(monkeypatch) -> list[int]:
    """Counts the chain validations (each builds a cryptography verifier), letting them run."""
    calls: list[int] = []
    real = identity.PolicyBuilder

    def counting():
        calls.append(1)
        return real()
    monkeypatch.setattr(identity, "PolicyBuilder", counting)
    return calls


async def test_a_forwarded_certificate_is_validated_once(proxied, plain, certs_dir, monkeypatch):
    validations = count_validations(monkeypatch)
    for _ in range(5):
        assert (await plain.get("/dcap", headers=header_for(certs_dir, "device1"))).status == 200
    assert len(validations) == 1
    for _ in range(3):
        assert (await plain.get("/dcap", headers=header_for(certs_dir, "device2"))).status == 200
        assert (await plain.get("/dcap", headers=header_for(certs_dir, "device1"))).status == 200
    assert len(validations) == 2


async def test_without_memory_each_request_validates(make_harness, certs_dir, monkeypatch):
    harness = make_harness(trusted_proxies=("127.0.0.1/32",), proxy_verified_certificates=0)
    await harness.start()
    try:
        validations = count_validations(monkeypatch)
        async with aiohttp.ClientSession() as session:
            client = SepClient(session, harness.server.url, harness.config.profile)
            for _ in range(3):
                assert (await client.get("/dcap", headers=header_for(certs_dir, "device1"))).status == 200
        assert len(validations) == 3
    finally:
        await harness.stop()


async def test_a_remembered_verdict_is_checked_again_when_a_validity_window_opens_or_ends(proxied, plain,
                                                                                          certs_dir):
    mica = c.load(certs_dir, "mica")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    ending = chain_header(c.issue(mica, "ending", not_after=now + datetime.timedelta(seconds=2)), mica)
    starting = chain_header(c.issue(mica, "starting", not_before=now + datetime.timedelta(seconds=2)), mica)
    assert (await plain.get("/dcap", headers=ending)).status == 200
    assert (await plain.get("/dcap", headers=starting)).status == 403
    await asyncio.sleep((now + datetime.timedelta(seconds=3.2)).timestamp() - time.time())
    late = await plain.get("/dcap", headers=ending)
    assert late.status == 403 and "not valid at validation time" in late.reason, late.reason
    assert (await plain.get("/dcap", headers=starting)).status == 200


async def test_remembered_verdicts_are_bounded(make_harness, certs_dir, monkeypatch):
    """With room for two, a third certificate makes the least recently seen one be validated again."""
    harness = make_harness(trusted_proxies=("127.0.0.1/32",), proxy_verified_certificates=2)
    await harness.start()
    try:
        validations = count_validations(monkeypatch)
        async with aiohttp.ClientSession() as session:
            client = SepClient(session, harness.server.url, harness.config.profile)
            for name, total in (("device1", 1), ("device2", 2), ("device1", 2), ("device3", 3), ("device1", 3),
                                ("device2", 4)):
                assert (await client.get("/dcap", headers=header_for(certs_dir, name))).status == 200
                assert len(validations) == total, f"after {name}: {len(validations)} validations"
    finally:
        await harness.stop()
