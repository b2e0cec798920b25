"""Who is calling: the LFDI of the client's certificate.

Directly over TLS the certificate comes from the handshake, which has already
checked its chain against the SERCA.  Behind a TLS-terminating proxy it comes
from a header, honoured only on connections from a configured proxy address,
and its chain is checked here against the same trust anchors.

Either way the chain must not use two X.509 features IEEE 2030.5 excludes and
OpenSSL accepts: policy mappings and name constraints (SEC.100, SEC.101; CSIP
conformance COMM-004E/F).  Such a client is answered 403.
"""

from __future__ import annotations

import _ssl
import ipaddress
import ssl
import weakref
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID

from ..sep.identity import lfdi_from_certificate
from .http import Problem


EXCLUDED_EXTENSIONS = {ExtensionOID.POLICY_MAPPINGS: "policy mappings",
                       ExtensionOID.NAME_CONSTRAINTS: "name constraints"}


def excluded_extension(chain: list[x509.Certificate]) -> str | None:
    """Why 2030.5 refuses this chain (a certificate with policy mappings or name constraints), or None."""
    for cert in chain:
        for oid, name in EXCLUDED_EXTENSIONS.items():
            try:
                cert.extensions.get_extension_for_oid(oid)
            except x509.ExtensionNotFound:
                continue
            except ValueError:
                return "a certificate in the chain has a malformed extension"
            return f"a certificate in the chain has {name}, which IEEE 2030.5 does not allow"
    return None


def verified_chain(ssl_object: ssl.SSLObject) -> list[x509.Certificate]:
    """The chain the handshake verified, leaf first (SSLObject.get_verified_chain from Python 3.13)."""
    getter = getattr(ssl_object, "get_verified_chain", None)
    if getter is not None:
        return [x509.load_der_x509_certificate(der) for der in getter()]
    return [x509.load_der_x509_certificate(c.public_bytes(_ssl.ENCODING_DER))
            for c in ssl_object._sslobj.get_verified_chain()]


class ProxiedCertificates:
    """Reads the client certificate a trusted proxy forwards, and checks its chain."""

    def __init__(self, header: str, proxies: tuple[str, ...], certs_dir: Path) -> None:
        self.header = header
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in proxies]
        self.authorities = {c.subject.public_bytes(): c for c in _load_authorities(certs_dir)}

    def certificate(self, request: web.Request) -> bytes:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        address = ipaddress.ip_address(peer[0]) if peer else None
        if address is None or not any(address in net for net in self.proxies):
            raise Problem(403, "client certificates are accepted only from a trusted proxy")
        raw = request.headers.get(self.header)
        if not raw:
            raise Problem(403, f"no client certificate in {self.header}")
        try:
            chain = x509.load_pem_x509_certificates(unquote(raw).encode())
        except ValueError:
            raise Problem(403, f"{self.header} does not hold a PEM certificate") from None
        self._verify(chain)
        refused = excluded_extension(chain)
        if refused:
            raise Problem(403, refused)
        if _is_ca(chain[0]):
            raise Problem(403, "a CA certificate is not a client identity")
        return chain[0].public_bytes(Encoding.DER)

    def _verify(self, chain: list[x509.Certificate]) -> None:
        known = {c.subject.public_bytes(): c for c in chain[1:]}
        known.update(self.authorities)  # configured authorities win over forwarded ones
        cert = chain[0]
        for _ in range(4):
            issuer = known.get(cert.issuer.public_bytes())
            if issuer is None:
                break
            try:
                cert.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                break
            if issuer.subject == issuer.issuer:
                if any(issuer == root for root in self.authorities.values()):
                    return
                break
            cert = issuer
        raise Problem(403, "the forwarded client certificate does not chain to the SERCA")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _load_authorities(certs_dir: Path) -> list[x509.Certificate]:
    found = []
    for name in ("serca.pem", "mica.pem"):
        path = certs_dir / name
        if path.is_file():
            found.extend(x509.load_pem_x509_certificates(path.read_bytes()))
    return found


class ConnectionIdentities:
    """The caller's LFDI; over direct TLS, worked out once per connection."""

    def __init__(self, proxied: ProxiedCertificates | None) -> None:
        self.proxied = proxied
        # per connection: the caller's LFDI, and why its chain is refused (None: it is not)
        self._by_connection: weakref.WeakKeyDictionary[ssl.SSLObject, tuple[str, str | None]] = \
            weakref.WeakKeyDictionary()

    def lfdi(self, request: web.Request) -> str:
        if self.proxied is not None:  # one proxy connection carries many clients
            return lfdi_from_certificate(self.proxied.certificate(request))
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if ssl_object is None:
            raise Problem(403, "a client certificate is required")
        known = self._by_connection.get(ssl_object)
        if known is None:
            der = ssl_object.getpeercert(binary_form=True)
            if der is None:
                raise Problem(403, "a client certificate is required")
            refused = excluded_extension(verified_chain(ssl_object))
            known = self._by_connection[ssl_object] = (lfdi_from_certificate(der), refused)
        lfdi, refused = known
        if refused:
            raise Problem(403, refused)
        return lfdi
