"""TLS contexts for 2030.5: TLS 1.2, ECDHE-ECDSA-AES128-CCM8, certificates on both sides.

A server takes only ECDSA P-256 / SHA-256 client certificates, refused otherwise in the handshake (libssl.py).
"""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

from cryptography import x509

from .config import DEFAULT_CIPHERS
from .libssl import libssl
from .sep.certificates import certificate_problem

log = logging.getLogger(__name__)


def _configure(ctx: ssl.SSLContext, ciphers: str, versions: tuple[str, str]) -> None:
    ctx.minimum_version = ssl.TLSVersion[versions[0]]
    ctx.maximum_version = ssl.TLSVersion[versions[1]]
    if "CCM8" in ciphers and ssl.OPENSSL_VERSION_INFO >= (3, 2) and "@SECLEVEL" not in ciphers:
        ciphers += ":@SECLEVEL=0"  # OpenSSL 3.2 moved the 64-bit-tag CCM8 suites to level 0
    ctx.set_ciphers(ciphers)


class AlertingSSLObject(ssl.SSLObject):
    """An SSLObject that lets asyncio send the alert of a failed handshake.

    asyncio closes the transport when do_handshake raises, leaving the alert OpenSSL wrote for the peer unsent
    (sslproto.SSLProtocol._on_handshake_complete).  Here the failure is first reported as "want read", which has
    asyncio send what is pending (the alert); the error itself is raised on the next call, when the peer, told,
    closes or sends more."""

    _failure: ssl.SSLError | None = None

    def do_handshake(self) -> None:
        if self._failure is not None:
            raise self._failure
        try:
            super().do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            raise
        except ssl.SSLError as exc:
            self._failure = exc
            log.info("TLS handshake refused: %s", getattr(exc, "verify_message", None) or exc.reason or exc)
            raise ssl.SSLWantReadError("handshake failed; the alert is on its way") from exc


_REASONS = {"PEER_DID_NOT_RETURN_A_CERTIFICATE": "no certificate", "NO_SHARED_CIPHER": "cipher",
            "UNSUPPORTED_PROTOCOL": "protocol version", "WRONG_VERSION_NUMBER": "protocol version",
            "VERSION_TOO_LOW": "protocol version", "HTTP_REQUEST": "not TLS", "HTTPS_PROXY_REQUEST": "not TLS"}
_EXPIRED = 10  # X509_V_ERR_CERT_HAS_EXPIRED


def refusal_reason(exc: BaseException) -> str:
    """A failed handshake's reason, in a few words that stay the same from one client to the next."""
    if isinstance(exc, ssl.SSLCertVerificationError) or getattr(exc, "reason", None) == "CERTIFICATE_VERIFY_FAILED":
        return "expired certificate" if getattr(exc, "verify_code", None) == _EXPIRED else "unknown certificate"
    if isinstance(exc, ssl.SSLError):
        if exc.reason in _REASONS:
            return _REASONS[exc.reason]
        return "bad certificate" if "CERT" in (exc.reason or "") else "tls error"
    return "tls error"


def server_context(certs_dir: Path, name: str = "server", ciphers: str = DEFAULT_CIPHERS,
                   versions: tuple[str, str] = ("TLSv1_2", "TLSv1_2")) -> ssl.SSLContext:
    """Requires a client certificate that chains to certs_dir/serca.pem, every certificate of the chain an ECDSA
    P-256 key signed with ecdsa-with-SHA256.  LibsslError if that cannot be enforced."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _configure(ctx, ciphers, versions)
    own = certs_dir / f"{name}.pem"
    for cert in x509.load_pem_x509_certificates(own.read_bytes()):
        if problem := certificate_problem(cert):
            raise ValueError(f"{own}: {problem}")
    ctx.load_cert_chain(own, certs_dir / f"{name}.key")
    ctx.load_verify_locations(certs_dir / "serca.pem")
    ctx.set_ecdh_curve("prime256v1")  # ECDHE on secp256r1 too (2030.5 §6.11), not X25519
    ctx.verify_mode = ssl.CERT_REQUIRED
    libssl().require_p256_certificates(ctx)
    ctx.sslobject_class = AlertingSSLObject
    return ctx


def client_context(certs_dir: Path, name: str | None, ciphers: str = DEFAULT_CIPHERS,
                   versions: tuple[str, str] = ("TLSv1_2", "TLSv1_2")) -> ssl.SSLContext:
    """Presents certs_dir/NAME.pem (no certificate when name is None) and trusts serca.pem.

    2030.5 identifies servers by certificate chain, not host name, so the name is not checked.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    _configure(ctx, ciphers, versions)
    ctx.check_hostname = False
    ctx.load_verify_locations(certs_dir / "serca.pem")
    if name is not None:
        ctx.load_cert_chain(certs_dir / f"{name}.pem", certs_dir / f"{name}.key")
    return ctx
