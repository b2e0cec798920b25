"""The test PKI: IEEE 2030.5 certificate profile, identities, TLS acceptance by OpenSSL, and the certs CLI."""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import stat
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from cryptography.x509.oid import ExtensionOID
from py20305.security.identity import compute_lfdi, compute_sfdi

from der_gateway.cli import certs_cmd
from der_gateway.pki import PKIError, ensure_pki, init_pki, issue, read_manifest
from der_gateway.sep.certificates import certificate_problem
from der_gateway.sep.identity import lfdi_from_certificate, sfdi_from_lfdi

NOT_AFTER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
CRITICAL = {
    ExtensionOID.KEY_USAGE,
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
}
HARDWARE_MODULE_NAME = "1.3.6.1.5.5.7.8.4"
CIPHER = "ECDHE-ECDSA-AES128-CCM8"
# OpenSSL 3.2 moved the CCM8 suites (64-bit tag) down to security level 0.
CIPHER_STRING = CIPHER + (":@SECLEVEL=0" if ssl.OPENSSL_VERSION_INFO >= (3, 2) else "")


@pytest.fixture
def certs(tmp_path: Path) -> Path:
    init_pki(tmp_path / "certs", devices=2)
    return tmp_path / "certs"


def load_chain(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes())


def parse_der(data: bytes) -> tuple[int, bytes, bytes]:
    """(tag, content, rest) of the first TLV in data."""
    tag, length = data[0], data[1]
    offset = 2
    if length & 0x80:
        size = length & 0x7F
        length = int.from_bytes(data[2 : 2 + size], "big")
        offset += size
    return tag, data[offset : offset + length], data[offset + length :]


def decode_oid(content: bytes) -> str:
    arcs, value = [], 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return ".".join(map(str, [arcs[0] // 40, arcs[0] % 40, *arcs[1:]]))


def hardware_module_name(cert: x509.Certificate) -> tuple[str, bytes]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    (other,) = [n for n in san if isinstance(n, x509.OtherName)]
    assert other.type_id.dotted_string == HARDWARE_MODULE_NAME
    tag, sequence, rest = parse_der(other.value)
    assert (tag, rest) == (0x30, b"")
    oid_tag, oid, after = parse_der(sequence)
    serial_tag, serial, end = parse_der(after)
    assert (oid_tag, serial_tag, end) == (0x06, 0x04, b"")
    return decode_oid(oid), serial


# --- identities -----------------------------------------------------------------------------------------------


def test_lfdi_and_sfdi_match_py20305(certs: Path) -> None:
    issued = read_manifest(certs)
    assert [c.name for c in issued] == ["server", "aggregator", "device1", "device2"]
    for cert in issued:
        leaf = load_chain(cert.cert_path)[0]
        pem = leaf.public_bytes(Encoding.PEM).decode()
        assert compute_lfdi(pem).upper() == cert.lfdi == lfdi_from_certificate(leaf.public_bytes(Encoding.DER))
        assert compute_sfdi(cert.lfdi) == cert.sfdi


@pytest.mark.parametrize(
    ("lfdi", "expected"),
    [
        ("3E4F45AB31EDFE5B67E343E5E4562E31984E23E5", 167261211391),  # the IEEE 2030.5 example
        ("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", 687194767357),
        ("0000000010000000000000000000000000000000", 19),
    ],
)
def test_sfdi_known_vectors(lfdi: str, expected: int) -> None:
    assert sfdi_from_lfdi(lfdi) == compute_sfdi(lfdi) == compute_sfdi(lfdi.lower()) == expected


# --- certificate profile --------------------------------------------------------------------------------------


def assert_common(cert: x509.Certificate) -> None:
    assert cert.not_valid_after_utc == NOT_AFTER
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(cert.public_key().curve, ec.SECP256R1)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    assert certificate_problem(cert) is None  # what a 2030.5 server (tls.py, server/identity.py) accepts
    assert cert.extensions.get_extension_for_class(x509.CertificatePolicies).critical
    assert not cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).critical


def test_device_profile(certs: Path) -> None:
    leaf, mica = load_chain(certs / "device1.pem")
    assert mica == load_chain(certs / "mica.pem")[0]
    assert_common(leaf)
    assert leaf.subject == x509.Name([])
    assert (datetime.now(timezone.utc) - leaf.not_valid_before_utc).total_seconds() > 60
    assert {e.oid for e in leaf.extensions if e.critical} == CRITICAL
    assert leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).critical
    assert hardware_module_name(leaf) == ("1.3.6.1.4.1.40732.100.1", b"device1")

    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.key_agreement
    assert not (usage.key_cert_sign or usage.crl_sign or usage.key_encipherment)
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    policies = {p.policy_identifier.dotted_string for p in leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value}
    assert {"1.3.6.1.4.1.40732.1.1", "1.3.6.1.4.1.40732.2.1"} <= policies

    leaf.verify_directly_issued_by(mica)
    key = load_pem_private_key((certs / "device1.key").read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()


def test_server_san_names_localhost(certs: Path) -> None:
    leaf = load_chain(certs / "server.pem")[0]
    assert leaf.subject == x509.Name([])
    assert {e.oid for e in leaf.extensions if e.critical} <= CRITICAL
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert san.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert {str(ip) for ip in san.value.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    assert hardware_module_name(leaf) == ("1.3.6.1.4.1.40732.100.1", b"server")


def test_ca_profile(certs: Path) -> None:
    (serca,) = load_chain(certs / "serca.pem")
    (mica,) = load_chain(certs / "mica.pem")
    for ca in (serca, mica):
        assert_common(ca)
        assert ca.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        assert {e.oid for e in ca.extensions if e.critical} == CRITICAL - {ExtensionOID.SUBJECT_ALTERNATIVE_NAME}
        usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
        assert usage.key_cert_sign and usage.crl_sign and not usage.digital_signature
        assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert mica.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    serca.verify_directly_issued_by(serca)
    mica.verify_directly_issued_by(serca)


def test_files_and_modes(certs: Path) -> None:
    for name in ("serca", "mica", "server", "aggregator", "device1", "device2"):
        assert stat.S_IMODE((certs / f"{name}.key").stat().st_mode) == 0o600
    manifest = json.loads((certs / "manifest.json").read_text())
    device = manifest["certificates"][2]
    assert device == {
        "name": "device1", "kind": "device", "lfdi": device["lfdi"], "sfdi": device["sfdi"],
        "cert": "device1.pem", "key": "device1.key",
    }


# --- OpenSSL accepts the chain in a real TLS 1.2 handshake ---------------------------------------------------


def tls_context(protocol: int, certs: Path, name: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(protocol)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(CIPHER_STRING)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    ctx.load_verify_locations(certs / "serca.pem")
    ctx.load_cert_chain(certs / f"{name}.pem", certs / f"{name}.key")
    return ctx


def test_tls_handshake_with_client_certificate(certs: Path) -> None:
    server_ctx = tls_context(ssl.PROTOCOL_TLS_SERVER, certs, "server")
    client_ctx = tls_context(ssl.PROTOCOL_TLS_CLIENT, certs, "device1")
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(10)
    client_sock.settimeout(10)
    seen: dict[str, object] = {}

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(server_sock, server_side=True) as tls:
                seen["peer"] = tls.getpeercert(binary_form=True)
                seen["cipher"] = tls.cipher()
                tls.sendall(b"ok")
        except Exception as exc:  # reported by the main thread
            seen["error"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(client_sock, server_hostname="localhost") as tls:
            assert tls.recv(2) == b"ok"
            server_leaf = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    finally:
        thread.join(10)

    assert "error" not in seen, seen.get("error")
    assert seen["cipher"][0] == CIPHER and seen["cipher"][1] == "TLSv1.2"
    by_name = {c.name: c for c in read_manifest(certs)}
    assert lfdi_from_certificate(seen["peer"]) == by_name["device1"].lfdi
    assert lfdi_from_certificate(server_leaf.public_bytes(Encoding.DER)) == by_name["server"].lfdi


# --- init / issue / ensure ------------------------------------------------------------------------------------


def test_issue_adds_to_manifest(certs: Path) -> None:
    issued = issue(certs, "aggregator", "agg-2")
    assert issued.cert_path == certs / "agg-2.pem"
    assert read_manifest(certs)[-1] == issued
    assert hardware_module_name(load_chain(issued.cert_path)[0])[1] == b"agg-2"


def test_issue_errors(certs: Path, tmp_path: Path) -> None:
    with pytest.raises(PKIError, match="already exists"):
        issue(certs, "device", "device1")
    with pytest.raises(PKIError, match="mica.pem is missing"):
        issue(tmp_path / "empty", "device", "device9")
    for bad in ("../evil", "a/b", ".hidden", "", "serca", "mica"):
        with pytest.raises(PKIError, match="bad certificate name"):
            issue(certs, "device", bad)
    with pytest.raises(PKIError, match="unknown kind"):
        issue(certs, "meter", "m1")


def test_init_refuses_then_force_replaces(certs: Path) -> None:
    old_serca = (certs / "serca.pem").read_bytes()
    issue(certs, "device", "extra")
    with pytest.raises(PKIError, match="already exists"):
        init_pki(certs)
    assert (certs / "serca.pem").read_bytes() == old_serca

    init_pki(certs, devices=1, force=True)
    assert (certs / "serca.pem").read_bytes() != old_serca
    assert [c.name for c in read_manifest(certs)] == ["server", "aggregator", "device1"]
    assert not (certs / "extra.pem").exists() and not (certs / "device2.key").exists()


def test_ensure_pki(tmp_path: Path) -> None:
    assert ensure_pki(tmp_path / "c") is True
    assert ensure_pki(tmp_path / "c") is False
    assert [c.kind for c in read_manifest(tmp_path / "c")] == ["server", "aggregator", "device"]


# --- CLI ------------------------------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="der-gateway")
    certs_cmd.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["certs", *argv])
    return args.run(args)


def test_cli_init_issue_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certs = tmp_path / "certs"
    assert run_cli("init", "--dir", str(certs), "--devices", "3") == 0
    out = capsys.readouterr().out
    for cert in read_manifest(certs):
        (line,) = [line for line in out.splitlines() if line.startswith(cert.name + " ")]
        assert cert.kind in line and f"LFDI={cert.lfdi}" in line and f"SFDI={cert.sfdi}" in line
        assert str(cert.cert_path) in line and str(cert.key_path) in line
        assert stat.S_IMODE(cert.key_path.stat().st_mode) == 0o600

    assert run_cli("issue", "--kind", "device", "dev-42", "--dir", str(certs)) == 0
    (line,) = capsys.readouterr().out.splitlines()
    new = read_manifest(certs)[-1]
    assert new.name == "dev-42" and f"LFDI={new.lfdi}" in line and f"SFDI={new.sfdi}" in line
    assert stat.S_IMODE(new.key_path.stat().st_mode) == 0o600

    assert run_cli("list", "--dir", str(certs)) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6  # server, aggregator, 3 devices, dev-42


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    certs = tmp_path / "certs"
    assert run_cli("issue", "--kind", "device", "d1", "--dir", str(certs)) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.splitlines()) == 1 and "certs init" in captured.err

    assert run_cli("init", "--dir", str(certs), "--devices", "0") == 0
    assert run_cli("init", "--dir", str(certs)) == 2
    assert run_cli("issue", "--kind", "server", "server", "--dir", str(certs)) == 2
    assert "already exists" in capsys.readouterr().err
