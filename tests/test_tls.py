"""Mutual TLS over real sockets: who is let in, and what the handshake negotiates."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from der_gateway.tls import client_context

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
