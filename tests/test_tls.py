"""Mutual TLS over real sockets: who is let in, and what the handshake negotiates."""

from __future__ import annotations

import asyncio
import ctypes.util
import logging
import ssl
import types
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

import der_gateway.libssl
from der_gateway.libssl import Libssl, LibsslError
from der_gateway.sep.certificates import certificate_problem
from der_gateway.tls import client_context, server_context

REFUSED = (aiohttp.ClientError, ssl.SSLError, ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
           asyncio.IncompleteReadError)
REQUEST = b"GET /dcap HTTP/1.1\r\nHost: localhost\r\nAccept: application/sep+xml\r\nConnection: close\r\n\r\n"


async def raw_exchange(harness, ctx: ssl.SSLContext) -> tuple[ssl.SSLObject, bytes]:
    """Handshake with ctx, send GET /dcap, and return the TLS session and everything the server sent."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(harness.config.host, harness.server.port, ssl=ctx), 5)
    try:
        ssl_object = writer.get_extra_info("ssl_object")
        writer.write(REQUEST)
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)
        return ssl_object, data
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except REFUSED:
            pass


async def assert_refused(harness, ctx: ssl.SSLContext) -> None:
    """Neither aiohttp nor a raw socket gets any data back with this context."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        with pytest.raises(REFUSED):
            async with session.get(harness.server.url + "/dcap") as resp:
                body = await resp.read()
                pytest.fail(f"served {resp.status} {body!r} to a client that should have been refused")
    try:
        _, data = await raw_exchange(harness, ctx)
    except REFUSED:
        return
    assert data == b"", f"a refused client was served {data!r}"


def leaf_der(path) -> bytes:
    return x509.load_pem_x509_certificates(path.read_bytes())[0].public_bytes(Encoding.DER)


async def test_good_client_negotiates_tls12_ccm8_and_sees_the_server_certificate(harness, certs_dir):
    ssl_object, data = await raw_exchange(harness, client_context(certs_dir, "device1"))
    assert ssl_object.version() == "TLSv1.2"
    assert ssl_object.cipher()[0] == "ECDHE-ECDSA-AES128-CCM8"
    assert ssl_object.getpeercert(binary_form=True) == leaf_der(certs_dir / "server.pem")
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert b"DeviceCapability" in data


async def test_client_without_certificate_is_refused(harness, certs_dir):
    await assert_refused(harness, client_context(certs_dir, None))


async def test_client_from_another_pki_is_refused(harness, certs_dir, foreign_certs_dir):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-CCM8")
    ctx.load_verify_locations(certs_dir / "serca.pem")
    ctx.load_cert_chain(foreign_certs_dir / "device1.pem", foreign_certs_dir / "device1.key")
    # the handshake itself fails (TLS 1.2 checks the client's chain before Finished)
    with pytest.raises(REFUSED):
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(harness.config.host, harness.server.port, ssl=ctx), 5)
        writer.close()
    await assert_refused(harness, ctx)


async def test_client_offering_only_other_ciphers_is_refused(harness, certs_dir):
    await assert_refused(harness, client_context(certs_dir, "device1", "ECDHE-ECDSA-AES128-GCM-SHA256"))


async def test_tls13_only_client_is_refused(harness, certs_dir):
    await assert_refused(harness, client_context(certs_dir, "device1", versions=("TLSv1_3", "TLSv1_3")))


async def test_cipher_list_is_configurable(make_harness, certs_dir):
    gcm = "ECDHE-ECDSA-AES128-GCM-SHA256"
    harness = make_harness(ciphers=gcm)
    await harness.start()
    try:
        ssl_object, data = await raw_exchange(harness, client_context(certs_dir, "device1", gcm))
        assert (ssl_object.version(), ssl_object.cipher()[0]) == ("TLSv1.2", gcm)
        assert data.startswith(b"HTTP/1.1 200 ")
        reply = await harness.client("device1").get("/dcap")
        assert reply.status == 200 and reply.element is not None
        # and the default suite is no longer accepted
        await assert_refused(harness, client_context(certs_dir, "device1"))
    finally:
        await harness.stop()


def tls12_client(certs_dir, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A TLS 1.2 CCM8 client trusting certs_dir's SERCA, presenting the chain at cert (with key)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-CCM8")
    ctx.load_verify_locations(certs_dir / "serca.pem")
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def handshake_messages(ctx: ssl.SSLContext) -> dict[int, bytes]:
    """Records the body of each handshake message the server sends on connections made with ctx, by type."""
    received: dict[int, bytes] = {}

    def record(conn, direction, version, content_type, msg_type, data):
        if direction == "read" and content_type == ssl._TLSContentType.HANDSHAKE and len(data) >= 4:
            received[data[0]] = data[4:]  # the body, after type and 24-bit length
    ctx._msg_callback = record  # CPython's hook for OpenSSL's message callback (debugging aid)
    return received


async def test_certificate_request_asks_only_for_ecdsa_p256_sha256(harness, certs_dir):
    """The CertificateRequest names one certificate type, ecdsa_sign, and one signature algorithm,
    ecdsa_secp256r1_sha256; the server signs its ECDHE key, on secp256r1, with that algorithm."""
    ctx = tls12_client(certs_dir, certs_dir / "device1.pem", certs_dir / "device1.key")
    messages = handshake_messages(ctx)
    ssl_object, data = await raw_exchange(harness, ctx)
    assert data.startswith(b"HTTP/1.1 200 ")

    request = messages[13]  # certificate_request (RFC 5246 7.4.4)
    types = list(request[1:1 + request[0]])
    rest = request[1 + request[0]:]
    sigalgs = [rest[2 + i:4 + i] for i in range(0, int.from_bytes(rest[:2], "big"), 2)]
    assert types == [64], types  # ecdsa_sign only: no rsa_sign (1), dss_sign (2)
    assert sigalgs == [bytes([4, 3])], sigalgs  # (sha256, ecdsa)

    exchange = messages[12]  # server_key_exchange: ECParameters, ECPoint, then the signature's algorithm
    assert exchange[0] == 3 and exchange[1:3] == (23).to_bytes(2, "big"), "ECDHE on a named curve, secp256r1"
    point_end = 4 + exchange[3]
    assert exchange[point_end:point_end + 2] == bytes([4, 3])

    server = x509.load_der_x509_certificate(ssl_object.getpeercert(binary_form=True))
    assert certificate_problem(server) is None


REFUSED_CLIENTS = {
    # leaf -> the alert the client gets: a client with an RSA key has nothing to sign with that the server
    # asked for, so it sends no certificate, which a server requiring one refuses
    "rsa2048": "ALERT_HANDSHAKE_FAILURE",
    "p384": "ALERT_BAD_CERTIFICATE",
    "p256-sha384": "ALERT_BAD_CERTIFICATE",
    "p256-under-rsa-mica": "ALERT_BAD_CERTIFICATE",
    "p256-under-p384-mica": "ALERT_BAD_CERTIFICATE",
}


@pytest.mark.parametrize("name", REFUSED_CLIENTS)
async def test_client_certificate_without_an_ecdsa_p256_sha256_chain_is_refused_in_the_handshake(
        harness, certs_dir, odd_certs_dir, name, caplog):
    ctx = tls12_client(certs_dir, odd_certs_dir / f"{name}.pem", odd_certs_dir / f"{name}.key")
    with caplog.at_level(logging.INFO, logger="der_gateway.libssl"):
        with pytest.raises(ssl.SSLError, match=REFUSED_CLIENTS[name]):
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(harness.config.host, harness.server.port, ssl=ctx), 5)
            writer.close()
    if REFUSED_CLIENTS[name] == "ALERT_BAD_CERTIFICATE":
        assert "IEEE 2030.5 requires" in caplog.text, caplog.text
    await assert_refused(harness, ctx)


async def test_a_p256_sha256_client_made_like_the_refused_ones_is_served(harness, certs_dir, odd_certs_dir):
    ssl_object, data = await raw_exchange(
        harness, tls12_client(certs_dir, odd_certs_dir / "p256.pem", odd_certs_dir / "p256.key"))
    assert ssl_object.version() == "TLSv1.2"
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]


async def test_a_client_of_another_pki_gets_an_alert(harness, certs_dir, foreign_certs_dir):
    ctx = tls12_client(certs_dir, foreign_certs_dir / "device1.pem", foreign_certs_dir / "device1.key")
    with pytest.raises(ssl.SSLError, match="ALERT_UNKNOWN_CA"):
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(harness.config.host, harness.server.port, ssl=ctx), 5)
        writer.close()


def test_a_server_certificate_other_than_p256_sha256_is_refused_at_start(certs_dir, odd_certs_dir, tmp_path):
    for name in ("server", "serca"):
        (tmp_path / f"{name}.pem").write_bytes((certs_dir / f"{name}.pem").read_bytes())
    for name in ("p384", "rsa2048"):
        (tmp_path / f"{name}.pem").write_bytes((odd_certs_dir / f"{name}.pem").read_bytes())
        (tmp_path / f"{name}.key").write_bytes((odd_certs_dir / f"{name}.key").read_bytes())
        with pytest.raises(ValueError, match="not EC P-256"):
            server_context(tmp_path, name)


def test_without_libssl_functions_the_server_context_is_not_made(certs_dir, monkeypatch):
    """No silent fallback: a library without OpenSSL's functions (here the C library) stops the start."""
    libc = ctypes.util.find_library("c")
    with pytest.raises(LibsslError, match="does not provide OpenSSL_version_num"):
        Libssl(libc)
    monkeypatch.setattr(der_gateway.libssl, "_loaded", None)
    monkeypatch.setattr(der_gateway.libssl, "_ssl", types.SimpleNamespace(__file__=libc))
    with pytest.raises(LibsslError, match="OpenSSL 3.0 or later is required"):
        server_context(certs_dir)


def test_the_ssl_ctx_found_is_checked_against_the_context(certs_dir):
    lib = der_gateway.libssl.libssl()
    server = server_context(certs_dir)
    pointer = lib.ssl_ctx(server)
    lib.check_ssl_ctx(server, pointer)
    other = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verify mode CERT_REQUIRED, other options
    other.options |= ssl.OP_NO_TICKET
    with pytest.raises(LibsslError, match="does not match"):
        lib.check_ssl_ctx(other, pointer)
