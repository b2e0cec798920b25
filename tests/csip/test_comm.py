"""CSIP conformance, Communication Fundamentals (COMM): the server's side of discovery and TLS."""

from __future__ import annotations

import asyncio
import shutil
import ssl
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from der_gateway.pki.profile import Issued, _ca_builder, _ca_name, _new_key, der, der_oid, make_leaf
from der_gateway.pki.store import CertStore
from der_gateway.sep import model
from der_gateway.sep.identity import lfdi_from_certificate
from der_gateway.tls import client_context

from .support import get

REFUSED = (aiohttp.ClientError, ssl.SSLError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
           asyncio.IncompleteReadError)


async def test_COMM_002_out_of_band_discovery(csip):
    """The server answers GET on the configured dcap path, and on the resources DeviceCapability links to."""
    client = csip.client("device1")
    assert csip.harness.server.url == f"https://{csip.harness.config.host}:{csip.harness.server.port}"
    dcap = await get(client, "/dcap", model.DeviceCapability)
    linked = {dcap.TimeLink.href: model.Time, dcap.EndDeviceListLink.href: model.EndDeviceList,
              dcap.MirrorUsagePointListLink.href: model.MirrorUsagePointList,
              dcap.ResponseSetListLink.href: model.ResponseSetList}
    for href, cls in linked.items():
        await get(client, href, cls)


async def test_COMM_003_basic_security(csip, certs_dir):
    """TLS 1.2 with TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, the server's ECC (P-256) certificate, then DeviceCapability."""
    ctx = client_context(certs_dir, "device1")
    reader, writer = await asyncio.open_connection(csip.harness.config.host, csip.harness.server.port, ssl=ctx)
    try:
        tls = writer.get_extra_info("ssl_object")
        assert tls.version() == "TLSv1.2"
        assert tls.cipher()[0] == "ECDHE-ECDSA-AES128-CCM8"
        server_cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
        assert server_cert.public_key().curve.name == "secp256r1"
        writer.write(b"GET /dcap HTTP/1.1\r\nHost: server\r\nAccept: application/sep+xml\r\nConnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Type: application/sep+xml" in head
    assert body.startswith(b"<DeviceCapability")
    # a client offering only other suites is refused
    other = client_context(certs_dir, "device1", "ECDHE-ECDSA-AES128-GCM-SHA256")
    with pytest.raises(REFUSED):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=other)) as session:
            async with session.get(csip.harness.server.url + "/dcap") as resp:
                pytest.fail(f"served {resp.status} over a suite 2030.5 does not allow")


# -- COMM-004: the client certificate chains the server accepts and refuses --------------------------

class Chains:
    """Client certificates built on the session's SERCA, each written with the chain a client sends."""

    def __init__(self, certs_dir: Path, into: Path) -> None:
        store = CertStore(certs_dir)
        serca_key = serialization.load_pem_private_key(store.serca_key.read_bytes(), password=None)
        self.serca = Issued(x509.load_pem_x509_certificate(store.serca_cert.read_bytes()), serca_key)
        self.dir = into
        into.mkdir(exist_ok=True)
        shutil.copy(store.serca_cert, into / "serca.pem")

    def ca(self, role: str, issuer: Issued, path_length: int | None, extension=None, critical=False) -> Issued:
        key = _new_key()
        builder = _ca_builder(_ca_name(role), issuer.certificate.subject, key, path_length, issuer.key)
        if extension is not None:
            builder = builder.add_extension(extension, critical=critical)
        return Issued(builder.sign(issuer.key, hashes.SHA256()), key)

    def client(self, name: str, leaf: Issued, *intermediates: Issued) -> str:
        """Writes NAME.pem (the leaf, then the intermediates) and NAME.key; returns the leaf's LFDI."""
        chain = [leaf.certificate, *(i.certificate for i in intermediates)]
        (self.dir / f"{name}.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
        (self.dir / f"{name}.key").write_bytes(leaf.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return lfdi_from_certificate(leaf.certificate.public_bytes(serialization.Encoding.DER))


@pytest.fixture
def chains(certs_dir, tmp_path) -> Chains:
    return Chains(certs_dir, tmp_path / "chains")


async def served_dcap(csip, chains: Chains, name: str) -> model.DeviceCapability:
    client = csip.harness.client(name, certs=chains.dir)
    return await get(client, "/dcap", model.DeviceCapability)


async def assert_refused(csip, chains: Chains, name: str) -> None:
    """No TLS session, or (errata seq 7) a 403: the certificate gets nothing served."""
    ctx = client_context(chains.dir, name)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            async with session.get(csip.harness.server.url + "/dcap") as resp:
                assert resp.status == 403, f"served {resp.status} to an invalid certificate chain"
    except REFUSED:
        return


async def test_COMM_004A_chain_of_two(csip, chains):
    """SERCA -> device certificate."""
    leaf = make_leaf(chains.serca, "chain2")
    chains.client("chain2", leaf)
    await served_dcap(csip, chains, "chain2")


async def test_COMM_004B_chain_of_three(csip, chains):
    """SERCA -> MICA -> device certificate."""
    mica = chains.ca("MICA", chains.serca, 0)
    chains.client("chain3", make_leaf(mica, "chain3"), mica)
    await served_dcap(csip, chains, "chain3")


async def test_COMM_004C_chain_of_four(csip, chains):
    """SERCA -> MCA -> MICA -> device certificate."""
    mca = chains.ca("MCA", chains.serca, 1)
    mica = chains.ca("MICA", mca, 0)
    chains.client("chain4", make_leaf(mica, "chain4"), mica, mca)
    await served_dcap(csip, chains, "chain4")


async def test_COMM_004D_invalid_mica_extended_key_usage_critical(csip, chains):
    """A MICA whose critical extendedKeyUsage does not allow client authentication."""
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING])
    mica = chains.ca("MICA", chains.serca, 0, eku, critical=True)
    chains.client("bad_eku", make_leaf(mica, "bad_eku"), mica)
    await assert_refused(csip, chains, "bad_eku")


async def test_COMM_004E_invalid_mica_name_constraints_non_critical(csip, chains):
    """SEC.101: name constraints are not supported and MUST be rejected (OpenSSL alone would accept these)."""
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName("example.com")], excluded_subtrees=None)
    mica = chains.ca("MICA", chains.serca, 0, constraints, critical=False)
    chains.client("bad_names", make_leaf(mica, "bad_names"), mica)
    await assert_refused(csip, chains, "bad_names")


async def test_COMM_004F_invalid_mica_policy_mapping_non_critical(csip, chains):
    """SEC.100: policy mapping is not supported and MUST be rejected (OpenSSL alone would accept it)."""
    mapping = x509.UnrecognizedExtension(x509.ObjectIdentifier("2.5.29.33"), _policy_mappings_der())
    mica = chains.ca("MICA", chains.serca, 0, mapping, critical=False)
    chains.client("bad_policy", make_leaf(mica, "bad_policy"), mica)
    await assert_refused(csip, chains, "bad_policy")


async def test_COMM_004G_self_signed_device_certificate(csip, chains):
    """A device certificate issued by itself, with the extensions of a proper one (but no authority key id)."""
    leaf = make_leaf(chains.serca, "selfsigned")
    self_signed = x509.CertificateBuilder().subject_name(leaf.certificate.subject).issuer_name(
        leaf.certificate.subject).public_key(leaf.key.public_key()).serial_number(2).not_valid_before(
        leaf.certificate.not_valid_before_utc).not_valid_after(leaf.certificate.not_valid_after_utc)
    for ext in leaf.certificate.extensions:
        if ext.oid != x509.ExtensionOID.AUTHORITY_KEY_IDENTIFIER:
            self_signed = self_signed.add_extension(ext.value, ext.critical)
    chains.client("selfsigned", Issued(self_signed.sign(leaf.key, hashes.SHA256()), leaf.key))
    await assert_refused(csip, chains, "selfsigned")


def _policy_mappings_der() -> bytes:
    """PolicyMappings ::= SEQUENCE OF SEQUENCE { issuerDomainPolicy, subjectDomainPolicy } (RFC 5280 4.2.1.5)."""
    issuer_policy, subject_policy = (x509.ObjectIdentifier(f"1.3.6.1.4.1.40732.{n}.1") for n in (1, 2))
    pair = der_oid(issuer_policy) + der_oid(subject_policy)
    return der(0x30, der(0x30, pair))
