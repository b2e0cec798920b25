"""Certificates following the IEEE 2030.5-2018 profile (§6.11): SERCA -> MICA -> leaf, EC P-256 / ECDSA-SHA256."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

# IEEE 2030.5 arc (IANA PEN 40732).
POLICY_DEVICE_GENERIC = ObjectIdentifier("1.3.6.1.4.1.40732.1.1")
POLICY_TEST = ObjectIdentifier("1.3.6.1.4.1.40732.2.1")
HARDWARE_MODULE_NAME = ObjectIdentifier("1.3.6.1.5.5.7.8.4")  # RFC 4108
HW_TYPE = ObjectIdentifier("1.3.6.1.4.1.40732.100.1")

# 2030.5 certificates never expire: notAfter is the RFC 5280 "no well-defined expiration" value.
NOT_AFTER = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)
BACKDATE = timedelta(minutes=5)

POLICIES = x509.CertificatePolicies(
    [x509.PolicyInformation(POLICY_DEVICE_GENERIC, None), x509.PolicyInformation(POLICY_TEST, None)]
)


@dataclass(frozen=True)
class Issued:
    """A certificate with its private key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def der_oid(oid: ObjectIdentifier) -> bytes:
    arcs = [int(a) for a in oid.dotted_string.split(".")]
    body = bytearray()
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        body.extend(reversed(chunk))
    return der(0x06, bytes(body))


def hardware_module_name(hw_type: ObjectIdentifier, serial: bytes) -> x509.OtherName:
    """otherName HardwareModuleName ::= SEQUENCE { hwType OBJECT IDENTIFIER, hwSerialNum OCTET STRING }."""
    value = der(0x30, der_oid(hw_type) + der(0x04, serial))
    return x509.OtherName(HARDWARE_MODULE_NAME, value)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(timezone.utc) - BACKDATE)
        .not_valid_after(NOT_AFTER)
    )


def _ca_name(role: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "der-gateway"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"der-gateway test {role}"),
        ]
    )


def _ca_builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey, path_length: int | None,
                issuer_key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    return (
        _builder(subject, issuer, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(POLICIES, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    )


def make_serca() -> Issued:
    key = _new_key()
    name = _ca_name("SERCA")
    cert = _ca_builder(name, name, key, None, key).sign(key, hashes.SHA256())
    return Issued(cert, key)


def make_mica(serca: Issued) -> Issued:
    key = _new_key()
    builder = _ca_builder(_ca_name("MICA"), serca.certificate.subject, key, 0, serca.key)
    return Issued(builder.sign(serca.key, hashes.SHA256()), key)


def make_leaf(mica: Issued, name: str, *, server: bool = False) -> Issued:
    """A device/aggregator certificate, or with server=True one that also names localhost for TLS clients."""
    key = _new_key()
    alt_names: list[x509.GeneralName] = [hardware_module_name(HW_TYPE, name.encode())]
    if server:
        alt_names += [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    cert = (
        _builder(x509.Name([]), mica.certificate.subject, key.public_key())
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=True, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(POLICIES, critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(mica.key.public_key()), critical=False
        )
        .sign(mica.key, hashes.SHA256())
    )
    return Issued(cert, key)
