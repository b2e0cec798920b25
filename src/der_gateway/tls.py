"""TLS contexts for 2030.5: TLS 1.2, ECDHE-ECDSA-AES128-CCM8, certificates on both sides."""

from __future__ import annotations

import ssl
from pathlib import Path

from .config import DEFAULT_CIPHERS


def _configure(ctx: ssl.SSLContext, ciphers: str, versions: tuple[str, str]) -> None:
    ctx.minimum_version = ssl.TLSVersion[versions[0]]
    ctx.maximum_version = ssl.TLSVersion[versions[1]]
    if "CCM8" in ciphers and ssl.OPENSSL_VERSION_INFO >= (3, 2) and "@SECLEVEL" not in ciphers:
        ciphers += ":@SECLEVEL=0"  # OpenSSL 3.2 moved the 64-bit-tag CCM8 suites to level 0
    ctx.set_ciphers(ciphers)


def server_context(certs_dir: Path, name: str = "server", ciphers: str = DEFAULT_CIPHERS,
                   versions: tuple[str, str] = ("TLSv1_2", "TLSv1_2")) -> ssl.SSLContext:
    """Requires a client certificate that chains to certs_dir/serca.pem."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _configure(ctx, ciphers, versions)
    ctx.load_cert_chain(certs_dir / f"{name}.pem", certs_dir / f"{name}.key")
    ctx.load_verify_locations(certs_dir / "serca.pem")
    ctx.verify_mode = ssl.CERT_REQUIRED
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
