"""The one kind of certificate IEEE 2030.5 accepts: an ECDSA key on P-256 (secp256r1), signed with
ecdsa-with-SHA256, the certificate-side half of the suite TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (§6.11)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ObjectIdentifier, SignatureAlgorithmOID

CURVE = "P-256"
SIGNATURE = "ecdsa-with-SHA256"

_SIGNATURE_NAMES = {oid: name.lower().replace("_", "-") for name, oid in vars(SignatureAlgorithmOID).items()
                    if isinstance(oid, ObjectIdentifier)}


def certificate_problem(cert: x509.Certificate) -> str | None:
    """Why 2030.5 refuses this certificate's key or signature, or None."""
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        oid = cert.signature_algorithm_oid
        return signature_problem(_SIGNATURE_NAMES.get(oid, oid.dotted_string))
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        return key_problem(type(key).__name__.removeprefix("_").replace("PublicKey", ""))
    if not isinstance(key.curve, ec.SECP256R1):
        return key_problem(f"EC {key.curve.name}")
    return None


def signature_problem(algorithm: str) -> str:
    return f"a certificate in the chain is signed with {algorithm}, not {SIGNATURE} as IEEE 2030.5 requires"


def key_problem(key: str) -> str:
    return f"a certificate in the chain has key type {key}, not EC {CURVE} as IEEE 2030.5 requires"
