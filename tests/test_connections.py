"""Connection caps, the TLS handshake deadline, request read deadlines and one-line logs of refused
requests, over real sockets against real listeners (TLS, behind a proxy, and the redirect listener)."""

from __future__ import annotations

import asyncio
import logging
import ssl
import tracemalloc

import pytest

from der_gateway.listeners.limits import Admission
from der_gateway.listeners.site import Site
from der_gateway.tls import client_context

from . import documents

GONE = (ConnectionResetError, BrokenPipeError, ConnectionAbortedError, ssl.SSLError)


def admission(harness) -> Admission:
    """The TLS listener's (the runner also serves the in-process client's Unix socket, which has none)."""
    (site,) = [s for s in harness.server.runner.sites if isinstance(s, Site)]
    return site.admission


async def tcp(harness, port: int | None = None, source: str | None = None):
    """A plain TCP connection to the listener (one that never starts TLS on the TLS listener)."""
    return await asyncio.wait_for(asyncio.open_connection(
        harness.config.host, port or harness.server.port, local_addr=(source, 0) if source else None), 5)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection, which must be within seconds."""
    received = b""
    try:
        while chunk := await asyncio.wait_for(reader.read(65536), seconds):
            received += chunk
    except GONE:
        pass
    except asyncio.TimeoutError:
        pytest.fail(f"the connection was still open after {seconds} s (received {received[:200]!r})")
    return received


async def still_open(reader: asyncio.StreamReader, seconds: float = 0.5) -> bool:
    try:
        await asyncio.wait_for(reader.read(1), seconds)
    except asyncio.TimeoutError:
        return True
    except GONE:
        return False
    return False


async def settle(harness, total: int) -> None:
    for _ in range(200):
        if admission(harness).total == total:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{admission(harness).total} connections admitted, not {total}")


async def mtls(harness, name: str = "device1"):
    ctx = client_context(harness.config.certs_dir, name, harness.config.ciphers)
    return await asyncio.wait_for(asyncio.open_connection(harness.config.host, harness.server.port, ssl=ctx), 5)


def close(*writers: asyncio.StreamWriter) -> None:
    for w in writers:
        w.close()


async def test_a_connection_beyond_the_per_address_cap_is_closed_at_once_and_its_slot_comes_back(make_harness):
    h = make_harness(max_connections_per_address=3)
    await h.start()
    try:
        held = [await tcp(h) for _ in range(3)]
        await settle(h, 3)
        reader, writer = await tcp(h)
        assert await closed_within(reader, 1) == b""
        assert all([await still_open(r, 0.05) for r, _ in held])
        # another address still gets in
        other_reader, other_writer = await tcp(h, source="127.0.0.2")
        assert await still_open(other_reader)
        close(writer, other_writer, held[0][1])
        await settle(h, 2)
        reply = await h.client("device1").get("/dcap")  # a well-behaved client takes the freed slot
        assert reply.status == 200
        close(*(w for _, w in held[1:]))
    finally:
        await h.stop()


async def test_a_connection_beyond_the_listener_cap_is_closed_whatever_its_address(make_harness):
    h = make_harness(max_connections=2, max_connections_per_address=100)
    await h.start()
    try:
        held = [await tcp(h, source="127.0.0.2"), await tcp(h, source="127.0.0.3")]
        await settle(h, 2)
        reader, writer = await tcp(h, source="127.0.0.4")
        assert await closed_within(reader, 1) == b""
        assert admission(h).refused == 1
        close(writer, *(w for _, w in held))
        await settle(h, 0)
    finally:
        await h.stop()


async def test_a_connection_that_never_starts_tls_is_closed_after_the_handshake_timeout(make_harness):
    h = make_harness(tls_handshake_timeout=0.5)
    await h.start()
    try:
        reader, writer = await tcp(h)
        assert await closed_within(reader, 3) == b""
        await settle(h, 0)
        close(writer)
        assert (await h.client("device1").get("/dcap")).status == 200
    finally:
        await h.stop()


async def python_memory_per_connection(harness, count: int, first_flight: bytes) -> float:
    """Bytes the Python heap grew by per connection, once count connections that sent first_flight
    and nothing more are admitted."""
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        held = [await tcp(harness) for _ in range(count)]
        for _, writer in held:
            writer.write(first_flight)
        await settle(harness, count)
        await asyncio.sleep(0.2)  # the server reads what was sent
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    close(*(w for _, w in held))
    return sum(stat.size_diff for stat in after.compare_to(before, "filename")) / count


def client_hello(certs_dir) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(certs_dir, "device1").wrap_bio(incoming, outgoing)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


async def test_a_connection_that_has_sent_nothing_holds_no_tls_buffer(harness):
    """asyncio's SSLProtocol allocates a 256 KiB read buffer per connection at accept; this listener
    builds its TLS state only with the first byte."""
    per_connection = await python_memory_per_connection(harness, 40, b"")
    assert per_connection < 8 * 1024, f"{per_connection:.0f} bytes per connection"


async def test_a_connection_stalled_after_its_client_hello_holds_a_small_read_buffer(harness, certs_dir):
    per_connection = await python_memory_per_connection(harness, 40, client_hello(certs_dir))
    assert per_connection < 48 * 1024, f"{per_connection:.0f} bytes per connection"


async def test_request_headers_trickled_a_line_at_a_time_get_408_and_the_connection_closes(make_harness, caplog):
    h = make_harness(header_timeout=0.6)
    await h.start()
    try:
        reader, writer = await mtls(h)
        writer.write(b"GET /dcap HTTP/1.1\r\n")

        async def trickle():
            for i in range(20):
                await asyncio.sleep(0.2)
                writer.write(b"X-Slow-%d: y\r\n" % i)

        task = asyncio.create_task(trickle())
        with caplog.at_level(logging.INFO, logger="der_gateway.listeners.site"):
            received = await closed_within(reader, 3)
        task.cancel()
        assert received.startswith(b"HTTP/1.1 408 "), received
        assert b"Connection: close" in received
        assert any("headers not complete" in r.getMessage() and "127.0.0.1" in r.getMessage()
                   for r in caplog.records)
        close(writer)
    finally:
        await h.stop()


async def test_a_request_body_trickled_a_byte_at_a_time_gets_408_and_the_connection_closes(make_harness, identities,
                                                                                            caplog):
    h = make_harness(body_timeout=0.6)
    await h.start()
    try:
        body = documents.end_device(identities["device1"].lfdi)
        before = h.snapshot()
        reader, writer = await mtls(h)
        writer.write(b"POST /edev HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/sep+xml\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))

        async def trickle():
            for byte in body:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.2)

        task = asyncio.create_task(trickle())
        with caplog.at_level(logging.INFO):
            received = await closed_within(reader, 3)
        task.cancel()
        assert received.startswith(b"HTTP/1.1 408 "), received
        assert b"body not complete" in received
        assert not [r for r in caplog.records if r.exc_info], "a late body is not an error with a traceback"
        assert h.snapshot() == before, "a request cut short changes nothing"
        close(writer)
    finally:
        await h.stop()


async def test_a_64_kib_body_in_many_chunks_passes_within_the_deadlines(make_harness, identities):
    h = make_harness(body_timeout=2, header_timeout=2)
    await h.start()
    try:
        document = documents.end_device(identities["device1"].lfdi)
        body = document + b" " * (h.config.max_body_bytes - len(document))
        assert len(body) == 64 * 1024
        reader, writer = await mtls(h)
        writer.write(b"POST /edev HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/sep+xml\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        for start in range(0, len(body), 4096):
            writer.write(body[start:start + 4096])
            await writer.drain()
            await asyncio.sleep(0.01)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 201 "), head
        # the connection stays usable for the next request
        writer.write(b"GET /dcap HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        rest = await closed_within(reader, 5)
        assert b"HTTP/1.1 200 " in rest and b"DeviceCapability" in rest
        close(writer)
    finally:
        await h.stop()


async def test_a_malformed_request_is_logged_as_one_line_without_a_traceback(harness, caplog):
    reader, writer = await mtls(harness)
    with caplog.at_level(logging.DEBUG):
        writer.write(b"GET /dcap HTTP/1.1\r\nHost: localhost\r\nNot a header\r\n\r\n")
        received = await closed_within(reader, 3)
    close(writer)
    assert received.split(b"\r\n")[0].endswith(b" 400 Bad Request"), received
    lines = [r for r in caplog.records if r.name == "der_gateway.listeners.site"]
    assert len(lines) == 1 and lines[0].levelno == logging.INFO
    message = lines[0].getMessage()
    assert "127.0.0.1" in message and "\n" not in message and "malformed" in message
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_client_leaving_in_the_middle_of_its_body_is_one_line_too(harness, identities, caplog):
    reader, writer = await mtls(harness)
    with caplog.at_level(logging.INFO):
        writer.write(b"POST /edev HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/sep+xml\r\n"
                     b"Content-Length: 500\r\n\r\n<EndDevice")
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.transport.abort()
        for _ in range(100):
            if any("before its request was complete" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.02)
    lines = [r for r in caplog.records if "before its request was complete" in r.getMessage()]
    assert len(lines) == 1 and "127.0.0.1" in lines[0].getMessage()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_a_handler_failure_still_logs_its_traceback(harness, monkeypatch, caplog):
    async def broken(lfdi):
        raise RuntimeError("store failure injected by the test")

    monkeypatch.setattr(harness.store, "client_revoked_at", broken)
    with caplog.at_level(logging.INFO):
        reply = await harness.client("device1").get("/dcap")
    assert reply.status == 500
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and r.exc_info]
    assert failures and isinstance(failures[0].exc_info[1], RuntimeError)


async def test_behind_a_proxy_the_caps_and_read_deadlines_apply(make_harness):
    h = make_harness(trusted_proxies=("192.0.2.1",), max_connections_per_address=2, header_timeout=0.5)
    await h.start()
    try:
        held = [await tcp(h) for _ in range(2)]
        await settle(h, 2)
        reader, writer = await tcp(h)
        assert await closed_within(reader, 1) == b""
        slow_reader, slow_writer = held[0]
        slow_writer.write(b"GET /dcap HTTP/1.1\r\n")
        received = await closed_within(slow_reader, 3)
        assert received.startswith(b"HTTP/1.1 408 "), received
        close(writer, *(w for _, w in held))
    finally:
        await h.stop()


async def test_connections_from_a_trusted_proxy_count_only_towards_the_listener_cap(make_harness):
    h = make_harness(trusted_proxies=("127.0.0.1",), max_connections_per_address=2, max_connections=4)
    await h.start()
    try:
        held = [await tcp(h) for _ in range(4)]
        await settle(h, 4)
        assert all([await still_open(r, 0.05) for r, _ in held])
        reader, writer = await tcp(h)
        assert await closed_within(reader, 1) == b""
        close(writer, *(w for _, w in held))
    finally:
        await h.stop()


async def test_the_redirect_listener_has_the_caps_too(make_harness):
    h = make_harness(http_redirect_port=0, max_connections_per_address=1, header_timeout=0.5)
    await h.start()
    try:
        port = h.server.redirect_port
        first_reader, first_writer = await tcp(h, port)
        await asyncio.sleep(0.1)
        reader, writer = await tcp(h, port)
        assert await closed_within(reader, 1) == b""
        first_writer.write(b"GET /dcap HTTP/1.1\r\n")
        assert (await closed_within(first_reader, 3)).startswith(b"HTTP/1.1 408 ")
        close(writer, first_writer)
    finally:
        await h.stop()


async def test_the_admin_listener_has_the_read_deadlines_too(make_harness, caplog):
    h = make_harness(body_timeout=0.5, header_timeout=0.5)
    await h.start()
    try:
        port = h.server.admin_port
        reader, writer = await tcp(h, port)
        token = h.config.admin_token.encode()
        writer.write(b"POST /programs HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token
                     + b"\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        with caplog.at_level(logging.INFO):
            received = await closed_within(reader, 3)
        assert received.startswith(b"HTTP/1.1 408 "), received
        assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
        close(writer)
        slow_reader, slow_writer = await tcp(h, port)
        slow_writer.write(b"GET /openapi.json HTTP/1.1\r\n")
        assert (await closed_within(slow_reader, 3)).startswith(b"HTTP/1.1 408 ")
        close(slow_writer)
    finally:
        await h.stop()
