"""Certificates for refusal tests: the IEEE 2030.5 profile of der_gateway.pki, with one property changed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding

from der_gateway.pki.profile import HW_TYPE, NOT_AFTER, POLICIES, Issued, hardware_module_name

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def p256() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def p384() -> PrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def rsa2048() -> PrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def load(certs_dir: Path, name: str) -> Issued:
    """NAME.pem's first certificate with NAME.key, e.g. the test PKI's MICA or SERCA."""
    cert = x509.load_pem_x509_certificates((certs_dir / f"{name}.pem").read_bytes())[0]
    key = serialization.load_pem_private_key((certs_dir / f"{name}.key").read_bytes(), password=None)
    return Issued(cert, key)  # type: ignore[arg-type]


def issue(issuer: Issued, name: str, *, key: PrivateKey | None = None, ca: bool = False,
          path_length: int | None = None, basic_constraints: bool = True,
          digest: hashes.HashAlgorithm | None = None, not_before: datetime | None = None,
          not_after: datetime = NOT_AFTER, subject: bool = False) -> Issued:
    """A device certificate (ca=False; with subject=True it has the subject name NAME, else none) or a CA
    certificate named NAME, signed by issuer."""
    key = key or p256()
    now = datetime.now(timezone.utc)
    builder = (x509.CertificateBuilder()
               .issuer_name(issuer.certificate.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - timedelta(minutes=5))
               .not_valid_after(not_after)
               .add_extension(POLICIES, critical=True)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
                              critical=False))
    if ca:
        builder = (builder.subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, name)]))
                   .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    else:
        named = [x509.NameAttribute(x509.NameOID.COMMON_NAME, name)] if subject else []
        builder = (builder.subject_name(x509.Name(named))
                   .add_extension(x509.SubjectAlternativeName([hardware_module_name(HW_TYPE, name.encode())]),
                                  critical=True)
                   .add_extension(x509.KeyUsage(True, False, False, False, True, False, False, False, False),
                                  critical=True))
    if basic_constraints:
        builder = builder.add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
    return Issued(builder.sign(issuer.key, digest or hashes.SHA256()), key)  # type: ignore[arg-type]


def pem(*certs: Issued) -> bytes:
    return b"".join(c.certificate.public_bytes(Encoding.PEM) for c in certs)


def write(directory: Path, name: str, *chain: Issued) -> tuple[Path, Path]:
    """NAME.pem (the chain, leaf first) and NAME.key (the leaf's key) in directory."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(pem(*chain))
    key_path.write_bytes(chain[0].key.private_bytes(Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    return cert_path, key_path
