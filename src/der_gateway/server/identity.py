"""Who is calling: the LFDI of the client's certificate.

Directly over TLS the certificate comes from the handshake, which has already
checked its chain against the SERCA (and its keys and signatures, tls.py).  Behind
a TLS-terminating proxy it comes from a header, honoured only on connections from
a configured proxy address, and its chain is checked here as fully, once per
header value while its certificates stay within their validity windows.

Either way the chain must not use two X.509 features IEEE 2030.5 excludes and
OpenSSL accepts: policy mappings and name constraints (SEC.100, SEC.101; CSIP
conformance COMM-004E/F).  Such a client is answered 403.
"""

from __future__ import annotations

import _ssl
import hashlib
import ipaddress
import ssl
import time
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote

from aiohttp import web
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtensionOID
from cryptography.x509.verification import (ClientVerifier, Criticality, ExtensionPolicy, PolicyBuilder, Store,
                                            VerificationError)

from ..sep.certificates import certificate_problem
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
    # before 3.13 only the private _ssl object has it, which typeshed does not declare
    return [x509.load_der_x509_certificate(c.public_bytes(_ssl.ENCODING_DER))
            for c in ssl_object._sslobj.get_verified_chain()]  # type: ignore[attr-defined]


MAX_FORWARDED = 4  # a device certificate, MICA, MCA and SERCA: the longest chain 2030.5 has
FOREVER = float("inf")


@dataclass(frozen=True)
class Verdict:
    """What a forwarded header value comes to: the caller's LFDI, or why it is refused; good until `until`
    (seconds since the epoch), when a certificate of the chain enters or leaves its validity window."""

    lfdi: str | None
    refusal: str | None
    until: float


class ProxiedCertificates:
    """Reads the client certificate a trusted proxy forwards and validates its chain as fully as a direct
    TLS handshake does (tls.py): a path to the SERCA through CA certificates within their path lengths, each
    certificate within its validity window, ECDSA P-256 keys and ecdsa-with-SHA256 signatures, no policy mappings
    or name constraints, and a leaf that is not a CA.  The verdict is remembered for the `remembered` most
    recently seen header values (0: none)."""

    def __init__(self, header: str, proxies: tuple[str, ...], certs_dir: Path, remembered: int = 10_000) -> None:
        self.header = header
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in proxies]
        self.anchors = _load(certs_dir / "serca.pem")
        # nginx's $ssl_client_escaped_cert is the leaf alone: the configured MICA completes its chain
        self.intermediates = _load(certs_dir / "mica.pem")
        self.store = Store(self.anchors)
        self.remembered = max(0, remembered)
        self.verdicts: OrderedDict[bytes, Verdict] = OrderedDict()

    def lfdi(self, request: web.Request) -> str:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        address = ipaddress.ip_address(peer[0]) if peer else None
        if address is None or not any(address in net for net in self.proxies):
            raise Problem(403, "client certificates are accepted only from a trusted proxy")
        raw = request.headers.get(self.header)
        if not raw:
            raise Problem(403, f"no client certificate in {self.header}")
        key = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).digest()
        now = time.time()
        verdict = self.verdicts.get(key)
        if verdict is None or now >= verdict.until:
            verdict = self.verdict(raw, now)
            if self.remembered:
                self.verdicts[key] = verdict
                if len(self.verdicts) > self.remembered:
                    self.verdicts.popitem(last=False)
        else:
            self.verdicts.move_to_end(key)
        if verdict.lfdi is None:
            raise Problem(403, verdict.refusal or "the forwarded client certificate is refused")
        return verdict.lfdi

    def verdict(self, raw: str, now: float) -> Verdict:
        """Validates the chain in a header value, at now (seconds since the epoch)."""
        try:
            chain = x509.load_pem_x509_certificates(unquote(raw).encode("utf-8", "surrogatepass"))
        except ValueError:
            return Verdict(None, f"{self.header} does not hold a PEM certificate", FOREVER)
        if len(chain) > MAX_FORWARDED:
            return Verdict(None, f"{self.header} holds more than {MAX_FORWARDED} certificates", FOREVER)
        until = _next_boundary([*chain, *self.intermediates, *self.anchors], now)
        try:
            refused = self._refusal(chain, now)
        except (ValueError, UnsupportedAlgorithm) as exc:  # an extension or key cryptography cannot read
            refused = f"a certificate in the chain cannot be read: {exc}"
        if refused:
            return Verdict(None, refused, until)
        return Verdict(lfdi_from_certificate(chain[0].public_bytes(Encoding.DER)), None, until)

    def _refusal(self, chain: list[x509.Certificate], now: float) -> str | None:
        refused = excluded_extension(chain)
        if refused:
            return refused
        try:
            verified = self._verifier(now).verify(chain[0], [*chain[1:], *self.intermediates]).chain
        except VerificationError as exc:
            return f"the forwarded client certificate does not validate to the SERCA: {_why(exc)}"
        refused = excluded_extension(verified) or next(filter(None, map(certificate_problem, verified)), None)
        if refused:
            return refused
        if _is_ca(chain[0]):
            return "a CA certificate is not a client identity"
        return None

    def _verifier(self, now: float) -> ClientVerifier:
        # the Web PKI's rules (cryptography's), but for the certificatePolicies extension 2030.5 marks critical
        ca = ExtensionPolicy.webpki_defaults_ca().may_be_present(x509.CertificatePolicies, Criticality.AGNOSTIC, None)
        ee = ExtensionPolicy.webpki_defaults_ee().may_be_present(x509.CertificatePolicies, Criticality.AGNOSTIC, None)
        return (PolicyBuilder().store(self.store).time(datetime.fromtimestamp(now, timezone.utc))
                .max_chain_depth(MAX_FORWARDED).extension_policies(ca_policy=ca, ee_policy=ee)
                .build_client_verifier())


def _next_boundary(certs: list[x509.Certificate], now: float) -> float:
    """The first time after now at which one of certs becomes valid or expires (a second after its notAfter,
    the last second it is valid)."""
    times = (t for c in certs for t in (c.not_valid_before_utc.timestamp(), c.not_valid_after_utc.timestamp() + 1))
    return min((t for t in times if t > now), default=FOREVER)


def _why(exc: VerificationError) -> str:
    text = str(exc).removeprefix("validation failed: ")
    return text.split(" (encountered processing", 1)[0]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _load(path: Path) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(path.read_bytes()) if path.is_file() else []


AS_LFDI = "X-DER-Gateway-As-LFDI"  # whom a request on this process's own Unix socket (in_process.py) speaks for


class ConnectionIdentities:
    """The caller's LFDI; over direct TLS, worked out once per connection.  On a Unix socket this process serves
    itself (server/in_process.py, whose path only its own user can reach) the AS_LFDI header names it."""

    def __init__(self, proxied: ProxiedCertificates | None) -> None:
        self.proxied = proxied
        self.own_sockets: set[str] = set()
        # per connection: the caller's LFDI, and why its chain is refused (None: it is not)
        self._by_connection: weakref.WeakKeyDictionary[ssl.SSLObject, tuple[str, str | None]] = \
            weakref.WeakKeyDictionary()

    def in_process(self, request: web.Request) -> bool:
        """Whether the request came over one of own_sockets (from this process, not from a client)."""
        if not self.own_sockets or request.transport is None:
            return False
        return request.transport.get_extra_info("sockname") in self.own_sockets

    def lfdi(self, request: web.Request) -> str:
        if self.in_process(request):
            named = request.headers.get(AS_LFDI, "")
            if len(named) != 40 or not all(c in "0123456789ABCDEFabcdef" for c in named):
                raise Problem(403, f"{AS_LFDI} must name an LFDI")
            return named.upper()
        if self.proxied is not None:  # one proxy connection carries many clients
            return self.proxied.lfdi(request)
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
