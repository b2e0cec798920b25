"""The on-disk layout of a certs directory."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .profile import Issued

Kind = Literal["server", "device", "aggregator"]
KINDS: tuple[str, ...] = get_args(Kind)

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RESERVED = {"serca", "mica", "manifest"}


class PKIError(Exception):
    """A certs directory is missing, inconsistent, or a request cannot be satisfied."""


@dataclass(frozen=True)
class IssuedCertificate:
    name: str
    kind: Kind
    lfdi: str
    sfdi: int
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class CertStore:
    root: Path

    @property
    def serca_cert(self) -> Path:
        return self.root / "serca.pem"

    @property
    def serca_key(self) -> Path:
        return self.root / "serca.key"

    @property
    def mica_cert(self) -> Path:
        return self.root / "mica.pem"

    @property
    def mica_key(self) -> Path:
        return self.root / "mica.key"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    def cert_path(self, name: str) -> Path:
        return self.root / f"{name}.pem"

    def key_path(self, name: str) -> Path:
        return self.root / f"{name}.key"

    def write_certs(self, path: Path, *certs: x509.Certificate) -> None:
        _write(path, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs), 0o644)

    def write_key(self, path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write(path, pem, 0o600)

    def load_mica(self) -> Issued:
        for path in (self.mica_cert, self.mica_key):
            if not path.is_file():
                raise PKIError(f"no CA in {self.root}: {path.name} is missing (run `der-gateway certs init`)")
        try:
            cert = x509.load_pem_x509_certificate(self.mica_cert.read_bytes())
            key = serialization.load_pem_private_key(self.mica_key.read_bytes(), password=None)
        except ValueError as exc:
            raise PKIError(f"cannot load the MICA from {self.root}: {exc}") from exc
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise PKIError(f"{self.mica_key} is not an EC private key")
        return Issued(cert, key)

    def read_manifest(self) -> list[IssuedCertificate]:
        if not self.manifest.is_file():
            raise PKIError(f"no manifest in {self.root} (run `der-gateway certs init`)")
        try:
            entries = json.loads(self.manifest.read_text())["certificates"]
            return [
                IssuedCertificate(
                    name=e["name"], kind=e["kind"], lfdi=e["lfdi"], sfdi=int(e["sfdi"]),
                    cert_path=self.root / e["cert"], key_path=self.root / e["key"],
                )
                for e in entries
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise PKIError(f"malformed {self.manifest}: {exc}") from exc

    def write_manifest(self, certificates: list[IssuedCertificate]) -> None:
        entries = [
            {
                "name": c.name, "kind": c.kind, "lfdi": c.lfdi, "sfdi": c.sfdi,
                "cert": c.cert_path.name, "key": c.key_path.name,
            }
            for c in certificates
        ]
        _write(self.manifest, (json.dumps({"certificates": entries}, indent=2) + "\n").encode(), 0o644)


def check_name(name: str) -> None:
    if not _SAFE_NAME.fullmatch(name) or name.lower() in _RESERVED:
        raise PKIError(
            f"bad certificate name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            f"starting with a letter or digit, and not one of {sorted(_RESERVED)}"
        )


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write via a temporary file and rename, so readers never see a partial file and keys are never world-readable."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    os.fchmod(fd, mode)  # O_CREAT's mode is filtered by the umask and ignored for an existing file
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)
