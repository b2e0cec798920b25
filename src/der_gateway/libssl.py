"""What Python's ssl module cannot set on a server context, set with ctypes through the libssl its _ssl module links.

IEEE 2030.5 accepts one kind of certificate (sep/certificates.py).  A server context is set to ask clients for
exactly that in its CertificateRequest (certificate type ecdsa_sign, signature algorithm ecdsa_secp256r1_sha256),
to sign with nothing else itself, and to refuse in the handshake, while OpenSSL verifies the client's chain, every
certificate in it with another key or signature: such a client gets an alert and never a connection.

ssl.SSLContext does not expose its SSL_CTX; in CPython it is the first field after the object header
(PySSLContext in Modules/_ssl.c).  The pointer is checked against settings the context reports through its own
API before anything is written through it.  Whatever is missing or does not match is a LibsslError at start.
"""

from __future__ import annotations

import _ssl
import ctypes
import logging
import ssl
from typing import Any, Callable

from .sep.certificates import key_problem, signature_problem

log = logging.getLogger(__name__)

SSL_CTRL_SET_SIGALGS_LIST = 98
SSL_CTRL_SET_CLIENT_SIGALGS_LIST = 102
SSL_CTRL_SET_CLIENT_CERT_TYPES = 104
TLS_CT_ECDSA_SIGN = 64
X509_V_ERR_CERT_REJECTED = 28  # the client is sent a bad_certificate alert
SIGALGS = b"ECDSA+SHA256"  # TLS 1.2: (sha256, ecdsa); TLS 1.3: ecdsa_secp256r1_sha256

_VERIFY_MODES = {ssl.CERT_NONE: 0, ssl.CERT_OPTIONAL: 1, ssl.CERT_REQUIRED: 3}  # SSL_VERIFY_PEER | FAIL_IF_NO_PEER_CERT

VERIFY_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)

_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "OpenSSL_version_num": (ctypes.c_ulong, []),
    "SSL_CTX_ctrl": (ctypes.c_long, [_P, ctypes.c_int, ctypes.c_long, _P]),
    "SSL_CTX_get_options": (ctypes.c_uint64, [_P]),
    "SSL_CTX_get_verify_mode": (ctypes.c_int, [_P]),
    "SSL_CTX_get_security_level": (ctypes.c_int, [_P]),
    "SSL_CTX_get_verify_callback": (_P, [_P]),
    "SSL_CTX_set_verify": (None, [_P, ctypes.c_int, VERIFY_CALLBACK]),
    "X509_STORE_CTX_get_current_cert": (_P, [_P]),
    "X509_STORE_CTX_get_error_depth": (ctypes.c_int, [_P]),
    "X509_STORE_CTX_set_error": (None, [_P, ctypes.c_int]),
    "X509_get_signature_nid": (ctypes.c_int, [_P]),
    "X509_get0_pubkey": (_P, [_P]),
    "EVP_PKEY_get_base_id": (ctypes.c_int, [_P]),
    "EVP_PKEY_get_group_name": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_size_t,
                                                ctypes.POINTER(ctypes.c_size_t)]),
    "OBJ_txt2nid": (ctypes.c_int, [ctypes.c_char_p]),
    "OBJ_nid2sn": (ctypes.c_char_p, [ctypes.c_int]),
}


class LibsslError(RuntimeError):
    """libssl cannot be reached or does not have what IEEE 2030.5's client certificate checks need."""


class Libssl:
    """The libssl and libcrypto functions used here, from the library at path (by default the one _ssl links)."""

    # set from _SIGNATURES; pointers are ints (None for NULL) and char* are bytes
    OpenSSL_version_num: Callable[[], int]
    SSL_CTX_ctrl: Callable[[int, int, int, Any], int]
    SSL_CTX_get_options: Callable[[int], int]
    SSL_CTX_get_verify_mode: Callable[[int], int]
    SSL_CTX_get_security_level: Callable[[int], int]
    SSL_CTX_get_verify_callback: Callable[[int], int | None]
    SSL_CTX_set_verify: Callable[[int, int, Any], None]
    X509_STORE_CTX_get_current_cert: Callable[[int], int | None]
    X509_STORE_CTX_get_error_depth: Callable[[int], int]
    X509_STORE_CTX_set_error: Callable[[int, int], None]
    X509_get_signature_nid: Callable[[int], int]
    X509_get0_pubkey: Callable[[int], int | None]
    EVP_PKEY_get_base_id: Callable[[int], int]
    EVP_PKEY_get_group_name: Callable[[int | None, Any, int, Any], int]
    OBJ_txt2nid: Callable[[bytes], int]
    OBJ_nid2sn: Callable[[int], bytes | None]

    def __init__(self, path: str | None = None) -> None:
        path = path or getattr(_ssl, "__file__", None)  # None: _ssl is built into the interpreter
        try:
            lib = ctypes.CDLL(path)
        except OSError as exc:
            raise LibsslError(f"cannot load {path}: {exc}") from exc
        for name, (restype, argtypes) in _SIGNATURES.items():
            try:
                function = getattr(lib, name)
            except AttributeError:
                raise LibsslError(f"{path} does not provide {name} (OpenSSL 3.0 or later is required for "
                                  "IEEE 2030.5's client certificate checks)") from None
            function.restype, function.argtypes = restype, argtypes
            setattr(self, name, function)
        if self.OpenSSL_version_num() != ssl.OPENSSL_VERSION_NUMBER:
            raise LibsslError(f"{path} is OpenSSL {self.OpenSSL_version_num():#x}, but the ssl module runs "
                              f"{ssl.OPENSSL_VERSION_NUMBER:#x}")
        self.nid_ecdsa_sha256 = self._nid(b"ecdsa-with-SHA256")
        self.nid_ec = self._nid(b"id-ecPublicKey")
        self.nid_p256 = self._nid(b"prime256v1")
        # one callback for every context, alive as long as this object (the module's, for the process)
        self.verify_callback = VERIFY_CALLBACK(self._verify)

    def _nid(self, name: bytes) -> int:
        nid = self.OBJ_txt2nid(name)
        if nid <= 0:
            raise LibsslError(f"OpenSSL does not know {name.decode()}")
        return nid

    def ssl_ctx(self, ctx: ssl.SSLContext) -> int:
        """The SSL_CTX* of ctx, checked against three of its settings."""
        pointer = ctypes.c_void_p.from_address(id(ctx) + object.__basicsize__).value
        if not pointer or pointer % ctypes.sizeof(ctypes.c_void_p):
            raise LibsslError("cannot find the SSL_CTX of an ssl.SSLContext (not CPython's layout)")
        self.check_ssl_ctx(ctx, pointer)
        return pointer

    def check_ssl_ctx(self, ctx: ssl.SSLContext, pointer: int) -> None:
        seen = (self.SSL_CTX_get_options(pointer), self.SSL_CTX_get_verify_mode(pointer),
                self.SSL_CTX_get_security_level(pointer))
        expected = (int(ctx.options), _VERIFY_MODES[ctx.verify_mode], ctx.security_level)
        if seen != expected:
            raise LibsslError(f"the SSL_CTX found for an ssl.SSLContext does not match it (options, verify mode, "
                              f"security level: {seen} in OpenSSL, {expected} in Python)")

    def require_p256_certificates(self, ctx: ssl.SSLContext) -> None:
        """Ask clients for ECDSA P-256 / SHA-256 certificates only, sign only so, and refuse any other in the
        handshake.  Call after ctx.verify_mode is set (the ssl module keeps the callback when it changes)."""
        pointer = self.ssl_ctx(ctx)
        for command, value in ((SSL_CTRL_SET_SIGALGS_LIST, SIGALGS), (SSL_CTRL_SET_CLIENT_SIGALGS_LIST, SIGALGS)):
            if self.SSL_CTX_ctrl(pointer, command, 0, ctypes.c_char_p(value)) != 1:
                raise LibsslError(f"OpenSSL refused the signature algorithms {value.decode()}")
        types = (ctypes.c_ubyte * 1)(TLS_CT_ECDSA_SIGN)
        if self.SSL_CTX_ctrl(pointer, SSL_CTRL_SET_CLIENT_CERT_TYPES, 1, ctypes.cast(types, ctypes.c_void_p)) != 1:
            raise LibsslError("OpenSSL refused the client certificate type ecdsa_sign")
        self.SSL_CTX_set_verify(pointer, self.SSL_CTX_get_verify_mode(pointer), self.verify_callback)
        if self.SSL_CTX_get_verify_callback(pointer) != ctypes.cast(self.verify_callback, ctypes.c_void_p).value:
            raise LibsslError("OpenSSL did not keep the verify callback")

    def certificate_problem(self, x509: int | None) -> str | None:
        """Why 2030.5 refuses the certificate at x509 (an X509*), or None; the wording of sep/certificates.py."""
        if not x509:
            return "no certificate to check"
        nid = self.X509_get_signature_nid(x509)
        if nid != self.nid_ecdsa_sha256:
            return signature_problem(self._name(nid))
        pkey = self.X509_get0_pubkey(x509)
        key_type = self.EVP_PKEY_get_base_id(pkey) if pkey else 0
        if key_type != self.nid_ec:
            return key_problem(self._name(key_type))
        group = ctypes.create_string_buffer(80)
        length = ctypes.c_size_t()
        if self.EVP_PKEY_get_group_name(pkey, group, len(group), ctypes.byref(length)) != 1:
            return key_problem("EC without a named curve")
        if self.OBJ_txt2nid(group.value) != self.nid_p256:
            return key_problem(f"EC {group.value.decode(errors='replace')}")
        return None

    def _name(self, nid: int) -> str:
        name = self.OBJ_nid2sn(nid) if nid > 0 else None
        return name.decode(errors="replace") if name else f"unknown ({nid})"

    def _verify(self, preverify_ok: int, store_ctx: int) -> int:
        if not preverify_ok:
            return 0  # OpenSSL's own refusal stands
        try:
            problem = self.certificate_problem(self.X509_STORE_CTX_get_current_cert(store_ctx))
        except Exception as exc:  # nothing may escape into OpenSSL; refuse what cannot be checked
            problem = f"cannot check a certificate of the chain: {exc!r}"
        if problem is None:
            return 1
        self.X509_STORE_CTX_set_error(store_ctx, X509_V_ERR_CERT_REJECTED)
        log.info("TLS client refused at chain depth %d: %s", self.X509_STORE_CTX_get_error_depth(store_ctx), problem)
        return 0


_loaded: Libssl | None = None


def libssl() -> Libssl:
    """The process's Libssl, loaded on first use; LibsslError if it cannot be."""
    global _loaded
    if _loaded is None:
        _loaded = Libssl()
    return _loaded
