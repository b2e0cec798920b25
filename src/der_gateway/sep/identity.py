"""Device identity from a certificate: LFDI and SFDI (IEEE 2030.5 §6.3.4)."""

from __future__ import annotations

import hashlib
import re

_LFDI = re.compile(r"[0-9A-Fa-f]{40}")


def lfdi_from_certificate(der: bytes) -> str:
    """The first 160 bits of SHA-256 over the certificate's DER encoding, as 40 upper-case hex digits."""
    return hashlib.sha256(der).hexdigest()[:40].upper()


def sfdi_from_lfdi(lfdi: str) -> int:
    """The LFDI's first 36 bits in decimal, followed by a check digit making the digit sum a multiple of 10."""
    base = int(lfdi[:9], 16)
    check = -sum(int(digit) for digit in str(base)) % 10
    return base * 10 + check


def normalize_lfdi(value: str) -> str:
    """An LFDI in canonical form (upper-case); ValueError if it is not 40 hex digits."""
    if not _LFDI.fullmatch(value):
        raise ValueError("an LFDI is 40 hex digits")
    return value.upper()
