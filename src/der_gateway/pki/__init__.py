"""A test PKI for IEEE 2030.5: a SERCA, a MICA, and the server/aggregator/device certificates it issues."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, cast

from cryptography.hazmat.primitives.serialization import Encoding

from ..sep.identity import lfdi_from_certificate, sfdi_from_lfdi
from .profile import Issued, make_leaf, make_mica, make_serca
from .store import KINDS, CertStore, IssuedCertificate, Kind, PKIError, check_name

__all__ = [
    "KINDS", "CertStore", "IssuedCertificate", "Kind", "PKIError",
    "ensure_pki", "init_pki", "issue", "leaves", "read_manifest",
]


def init_pki(certs_dir: Path, *, devices: int = 1, force: bool = False,
             on_issued: Callable[[IssuedCertificate], object] | None = None) -> list[IssuedCertificate]:
    """Create a new SERCA and MICA, and leaves "server", "aggregator" and "device1".."deviceN" (on_issued is
    told of each leaf as it is issued)."""
    store = CertStore(Path(certs_dir))
    if devices < 0:
        raise PKIError(f"--devices must be 0 or more, not {devices}")
    if store.serca_cert.exists():
        if not force:
            raise PKIError(f"{store.serca_cert} already exists; use --force to replace the whole PKI")
        _remove_leaves(store)
    store.root.mkdir(parents=True, exist_ok=True)

    serca = make_serca()
    mica = make_mica(serca)
    store.write_key(store.serca_key, serca.key)
    store.write_certs(store.serca_cert, serca.certificate)
    store.write_key(store.mica_key, mica.key)
    store.write_certs(store.mica_cert, mica.certificate)

    issued = []
    for kind, name in leaves(devices):
        issued.append(_issue(store, mica, kind, name))
        if on_issued is not None:
            on_issued(issued[-1])
    store.write_manifest(issued)
    return issued


def issue(certs_dir: Path, kind: str, name: str) -> IssuedCertificate:
    """Add one leaf certificate, signed by the directory's MICA, and record it in the manifest."""
    store = CertStore(Path(certs_dir))
    if kind not in KINDS:
        raise PKIError(f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}")
    check_name(name)
    mica = store.load_mica()
    existing = store.read_manifest() if store.manifest.exists() else []
    if any(c.name == name for c in existing) or store.cert_path(name).exists() or store.key_path(name).exists():
        raise PKIError(f"a certificate named {name!r} already exists in {store.root}")
    issued = _issue(store, mica, cast(Kind, kind), name)
    store.write_manifest([*existing, issued])
    return issued


def leaves(devices: int) -> list[tuple[Kind, str]]:
    """The kind and name of each leaf certificate init_pki issues."""
    return [("server", "server"), ("aggregator", "aggregator"),
            *(("device", f"device{i}") for i in range(1, devices + 1))]


def ensure_pki(certs_dir: Path) -> bool:
    """Create the PKI unless the directory already has one; True if it was created."""
    if CertStore(Path(certs_dir)).serca_cert.exists():
        return False
    init_pki(certs_dir)
    return True


def read_manifest(certs_dir: Path) -> list[IssuedCertificate]:
    return CertStore(Path(certs_dir)).read_manifest()


def _issue(store: CertStore, mica: Issued, kind: Kind, name: str) -> IssuedCertificate:
    leaf = make_leaf(mica, name, server=kind == "server")
    lfdi = lfdi_from_certificate(leaf.certificate.public_bytes(Encoding.DER))
    cert_path, key_path = store.cert_path(name), store.key_path(name)
    store.write_key(key_path, leaf.key)
    # The chain a TLS peer sends: the leaf, then its issuer.
    store.write_certs(cert_path, leaf.certificate, mica.certificate)
    return IssuedCertificate(name, kind, lfdi, sfdi_from_lfdi(lfdi), cert_path, key_path)


def _remove_leaves(store: CertStore) -> None:
    """Delete the leaves of a PKI being replaced: they were signed by the old CA."""
    try:
        old = store.read_manifest()
    except PKIError:
        return
    for cert in old:
        for path in (cert.cert_path, cert.key_path):
            if path.parent == store.root:
                path.unlink(missing_ok=True)
