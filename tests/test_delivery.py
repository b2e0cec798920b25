"""Notification delivery from the durable outbox to real receivers on loopback."""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import sqlite3
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver

from der_gateway import pki
from der_gateway.clock import ManualClock, SystemClock
from der_gateway.config import Config
from der_gateway.domain.notification_addresses import AddressPolicy, parse_networks
from der_gateway.sep.identity import lfdi_from_certificate
from der_gateway.server.delivery import NotificationDelivery
from der_gateway.server.notification_resolver import CheckedResolver, Destinations, RefusedAddress
from der_gateway.store.sqlite import SQLiteStore
from der_gateway.tls import server_context

T0 = 1_700_000_000


@dataclass
class Receiver:
    """A subscriber's notification endpoint: records every POST and answers `answer(path, body)`."""

    answer: Callable[[str, bytes], Any] = lambda path, body: 201  # a status, or an awaitable of one
    seen: list[tuple[str, bytes]] = field(default_factory=list)  # every POST, in arrival order
    accepted: list[tuple[str, bytes]] = field(default_factory=list)  # those answered 2xx
    content_types: set[str] = field(default_factory=set)
    peer_certs: list[bytes | None] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.seen.append((request.path, body))
        self.content_types.add(request.headers.get("Content-Type", ""))
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        self.peer_certs.append(ssl_object.getpeercert(binary_form=True) if ssl_object else None)
        status = self.answer(request.path, body)
        if inspect.isawaitable(status):
            status = await status
        if 200 <= status < 300:
            self.accepted.append((request.path, body))
        return web.Response(status=status)

    async def start(self, port: int = 0, tls: ssl.SSLContext | None = None) -> Receiver:
        return await self.start_at("127.0.0.1", port, tls)

    async def start_at(self, host: str, port: int = 0, tls: ssl.SSLContext | None = None) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port, ssl_context=tls, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/notify", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def bodies(self, path: str = "/notify") -> list[bytes]:
        return [b for p, b in self.accepted if p == path]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


LOOPBACK = ("127.0.0.1/32",)


def loopback(**settings) -> Config:
    """Settings that let notifications reach the receivers here, on 127.0.0.1."""
    return Config(notification_allow_addresses=LOOPBACK, **settings)


def free_port() -> int:
    """A port nothing listens on (until a receiver is started on it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(n: int) -> bytes:
    return f'<Notification xmlns="urn:ieee:std:2030.5:ns"><n>{n}</n></Notification>'.encode()


@pytest.fixture
async def store(tmp_path: Path):
    s = await SQLiteStore.open(tmp_path / "data")
    yield s
    await s.close()


@pytest.fixture
async def receivers():
    started: list[Receiver] = []

    async def make(answer: Callable[[str, bytes], Any] | None = None, port: int = 0,
                   tls: ssl.SSLContext | None = None) -> Receiver:
        r = Receiver() if answer is None else Receiver(answer)
        started.append(r)
        return await r.start(port, tls)

    yield make
    for r in started:
        await r.stop()


@pytest.fixture
async def delivery_for():
    made: list[NotificationDelivery] = []

    def make(store: SQLiteStore, config: Config | None = None, clock=None, **kw) -> NotificationDelivery:
        d = NotificationDelivery(store, config or loopback(), clock or ManualClock(T0), **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        await d.stop()


async def enqueue(store: SQLiteStore, uri: str, numbers, sub_id: int = 1) -> None:
    await store.fan_out([], [(sub_id, uri, body(n)) for n in numbers])


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            pytest.fail("timed out waiting for delivery")
        await asyncio.sleep(0.02)


# -- delivered ------------------------------------------------------------------


async def test_delivers_in_order_as_sep_xml_and_empties_the_outbox(store, receivers, delivery_for):
    receiver = await receivers()
    await enqueue(store, receiver.url(), range(1, 6))
    delivery = delivery_for(store)
    assert await delivery.deliver_due() == 5
    assert receiver.bodies() == [body(n) for n in range(1, 6)]
    assert receiver.content_types == {"application/sep+xml"}
    assert await store.outbox_size() == 0
    assert await store.next_outbox_attempt() is None
    assert (delivery.delivered_total, delivery.failed_total) == (5, 0)
    assert await delivery.deliver_due() == 0


async def test_https_presents_the_server_certificate(tmp_path, store, receivers, delivery_for):
    certs = tmp_path / "certs"
    issued = {c.name: c for c in pki.init_pki(certs, devices=1)}
    # The receiver: TLS 1.2 CCM8 with device1's certificate, requiring a client certificate from serca.pem.
    tls = server_context(certs, "device1")
    assert tls.verify_mode == ssl.CERT_REQUIRED
    receiver = await receivers(tls=tls)
    await enqueue(store, receiver.url(scheme="https"), [1, 2])
    delivery = delivery_for(store, loopback(certs_dir=certs))
    assert await delivery.deliver_due() == 2
    assert receiver.bodies() == [body(1), body(2)]
    assert all(der is not None and lfdi_from_certificate(der) == issued["server"].lfdi
               for der in receiver.peer_certs)
    assert await store.outbox_size() == 0


async def test_https_without_the_server_certificate_is_retried_not_dropped(tmp_path, store, receivers,
                                                                           delivery_for):
    certs = tmp_path / "certs"
    pki.init_pki(certs, devices=1)
    receiver = await receivers(tls=server_context(certs, "device1"))
    await enqueue(store, receiver.url(scheme="https"), [1])
    delivery = delivery_for(store, loopback(certs_dir=certs, server_cert="missing"))
    assert await delivery.deliver_due() == 0
    assert delivery.failed_total == 1 and receiver.seen == []
    assert await store.outbox_size() == 1


# -- failures and retries ----------------------------------------------------------


async def test_receiver_down_then_back_gets_everything_in_order(store, receivers, delivery_for):
    port = free_port()
    uri = f"http://127.0.0.1:{port}/notify"
    await enqueue(store, uri, [1, 2, 3])
    clock = ManualClock(T0)
    delivery = delivery_for(store, clock=clock)

    assert await delivery.deliver_due() == 0  # connection refused
    (head, *_) = await store.outbox_queue(uri, 10)
    assert head.attempts == 1 and await store.next_outbox_attempt() == T0 + 1
    assert await delivery.deliver_due() == 0  # held back: not due yet
    assert delivery.failed_total == 1

    clock.advance(1)
    assert await delivery.deliver_due() == 0  # still down
    assert (await store.outbox_queue(uri, 10))[0].attempts == 2
    assert await store.next_outbox_attempt() == T0 + 1 + 2

    clock.advance(2)
    assert await delivery.deliver_due() == 0  # still down: 4 s
    assert await store.next_outbox_attempt() == T0 + 3 + 4

    receiver = await receivers(port=port)
    clock.advance(1)
    assert await delivery.deliver_due() == 0  # up, but the backoff has not run out
    assert receiver.seen == []
    clock.advance(3)
    assert await delivery.deliver_due() == 3
    assert receiver.bodies() == [body(1), body(2), body(3)]
    assert await store.outbox_size() == 0
    assert (delivery.delivered_total, delivery.failed_total) == (3, 3)


async def test_backoff_is_capped(store, delivery_for):
    uri = f"http://127.0.0.1:{free_port()}/notify"
    await enqueue(store, uri, [1])
    clock = ManualClock(T0)
    delivery = delivery_for(store, loopback(notification_max_backoff=5), clock)
    waits = []
    for _ in range(6):
        await delivery.deliver_due()
        waits.append(await store.next_outbox_attempt() - clock.now())
        clock.set(await store.next_outbox_attempt())
    assert waits == [1, 2, 4, 5, 5, 5]
    assert (await store.outbox_queue(uri, 1))[0].attempts == 6  # never dropped


async def test_500_then_200(store, receivers, delivery_for):
    answers = iter([500, 200])
    receiver = await receivers(lambda path, b: next(answers))
    await enqueue(store, receiver.url(), [1])
    clock = ManualClock(T0)
    delivery = delivery_for(store, clock=clock)
    assert await delivery.deliver_due() == 0
    assert len(receiver.seen) == 1 and receiver.accepted == []
    assert await store.outbox_size() == 1
    clock.advance(1)
    assert await delivery.deliver_due() == 1
    assert receiver.bodies() == [body(1)]
    assert await store.outbox_size() == 0


async def test_a_400_ends_that_subscription_silently_and_the_queue_goes_on(store, receivers, delivery_for):
    refused = body(2)
    receiver = await receivers(lambda path, b: 400 if b == refused else 201)
    await enqueue(store, receiver.url(), [1], sub_id=7)
    await enqueue(store, receiver.url(), [2, 3], sub_id=8)  # the client refuses the first of subscription 8
    await enqueue(store, receiver.url(), [4], sub_id=9)
    delivery = delivery_for(store)
    assert await delivery.deliver_due() == 2
    assert receiver.bodies() == [body(1), body(4)] and len(receiver.seen) == 3  # 3 was never sent
    assert await store.outbox_size() == 0 and delivery.failed_total == 0


async def test_a_receiver_that_does_not_answer_times_out_and_is_retried(store, receivers, delivery_for):
    hang = asyncio.Event()

    async def slow(path: str, b: bytes) -> int:
        await hang.wait()
        return 201

    receiver = await receivers(slow)
    await enqueue(store, receiver.url(), [1])
    delivery = delivery_for(store, loopback(notification_timeout=0.3))
    assert await asyncio.wait_for(delivery.deliver_due(), 5) == 0
    assert delivery.failed_total == 1 and await store.outbox_size() == 1
    hang.set()


async def test_order_holds_across_a_failure(store, receivers, delivery_for):
    failed = set()

    def answer(path: str, b: bytes) -> int:
        if b == body(2) and b not in failed:
            failed.add(b)
            return 503
        return 201

    receiver = await receivers(answer)
    await enqueue(store, receiver.url(), [1, 2, 3])
    clock = ManualClock(T0)
    delivery = delivery_for(store, clock=clock)
    assert await delivery.deliver_due() == 1
    assert receiver.bodies() == [body(1)]
    assert [i.attempts for i in await store.outbox_queue(receiver.url(), 10)] == [1, 0]  # 2 failed once, 3 untried
    clock.advance(1)
    assert await delivery.deliver_due() == 2
    assert [b for _, b in receiver.seen] == [body(1), body(2), body(2), body(3)]
    assert receiver.bodies() == [body(1), body(2), body(3)]
    assert await store.outbox_size() == 0


async def test_one_uri_down_does_not_hold_up_another(store, receivers, delivery_for):
    receiver = await receivers()
    down = f"http://127.0.0.1:{free_port()}/notify"
    await store.fan_out([], [(1, down, body(1)), (2, receiver.url(), body(10)),
                             (1, down, body(2)), (2, receiver.url(), body(11))])
    delivery = delivery_for(store)
    assert await delivery.deliver_due() == 2
    assert receiver.bodies() == [body(10), body(11)]
    assert [i.body for i in await store.outbox_queue(down, 10)] == [body(1), body(2)]


# -- durability -------------------------------------------------------------------------


async def test_each_item_is_committed_as_delivered_before_the_next_is_posted(tmp_path, store, receivers,
                                                                          delivery_for):
    """What another connection to the file sees when each POST arrives: everything acknowledged before it
    is gone from the outbox, so a crash now would send only this item again."""
    file = sqlite3.connect(tmp_path / "data" / "der-gateway.sqlite3")
    queued_when_posted: dict[bytes, set[bytes]] = {}

    def answer(path: str, b: bytes) -> int:
        queued_when_posted[b] = {r[0] for r in file.execute("SELECT body FROM outbox")}
        return 201

    receiver = await receivers(answer)
    other = await receivers(answer)
    await enqueue(store, receiver.url(), range(5))
    await enqueue(store, other.url(), range(10, 13), sub_id=2)
    try:
        assert await delivery_for(store).deliver_due() == 8
    finally:
        file.close()
    assert receiver.bodies() == [body(n) for n in range(5)] and other.bodies() == [body(n) for n in range(10, 13)]
    for numbers in (list(range(5)), list(range(10, 13))):
        for i, n in enumerate(numbers):
            assert [m for m in numbers if body(m) in queued_when_posted[body(n)]] == numbers[i:], n


async def test_items_survive_a_restart(tmp_path, receivers, delivery_for):
    receiver = await receivers()
    first = await SQLiteStore.open(tmp_path / "data")
    await enqueue(first, receiver.url(), [1, 2, 3])
    await first.close()

    reopened = await SQLiteStore.open(tmp_path / "data")
    try:
        assert await reopened.outbox_size() == 3
        assert await delivery_for(reopened).deliver_due() == 3
        assert receiver.bodies() == [body(1), body(2), body(3)]
        assert await reopened.outbox_size() == 0
    finally:
        await reopened.close()


# -- the background task, at volume --------------------------------------------------------


async def test_background_delivers_2000_items_to_one_receiver_in_order(store, receivers, delivery_for):
    receiver = await receivers()
    delivery = delivery_for(store, clock=SystemClock())
    await delivery.start()
    await enqueue(store, receiver.url(), range(2000))
    delivery.wake()
    await wait_for(lambda: len(receiver.accepted) >= 2000)
    await wait_for(lambda: delivery.delivered_total == 2000)
    assert receiver.bodies() == [body(n) for n in range(2000)]
    assert await store.outbox_size() == 0
    await delivery.stop()


async def test_background_delivers_to_200_uris(store, receivers, delivery_for):
    receiver = await receivers()
    paths = [f"/s/{i}" for i in range(200)]
    delivery = delivery_for(store, clock=SystemClock())
    await delivery.start()
    await store.fan_out([], [(i, receiver.url(p), body(n)) for n in range(3) for i, p in enumerate(paths)])
    delivery.wake()
    await wait_for(lambda: len(receiver.accepted) >= 600)
    assert all(receiver.bodies(p) == [body(0), body(1), body(2)] for p in paths)
    await wait_for(lambda: delivery.delivered_total == 600)
    assert await store.outbox_size() == 0
    await delivery.stop()


async def test_background_retries_a_failed_uri_after_its_backoff(store, receivers, delivery_for):
    answers = iter([500])
    receiver = await receivers(lambda path, b: next(answers, 201))
    delivery = delivery_for(store, clock=SystemClock())
    await delivery.start()
    await enqueue(store, receiver.url(), [1])
    delivery.wake()
    await wait_for(lambda: len(receiver.seen) == 1)
    await enqueue(store, receiver.url(), [2])  # queued behind the held-back head
    delivery.wake()
    await wait_for(lambda: len(receiver.accepted) == 2, timeout=5)  # backoff is 1 s
    assert receiver.bodies() == [body(1), body(2)]
    await delivery.stop()


# -- where notifications may go -----------------------------------------------------------------


async def test_loopback_is_refused_unless_the_operator_allows_it(store, receivers, delivery_for):
    receiver = await receivers()
    await enqueue(store, receiver.url(), [1])
    clock = ManualClock(T0)
    refused = delivery_for(store, Config(), clock)
    assert await refused.deliver_due() == 0
    assert receiver.seen == [] and refused.failed_total == 1
    (failure,) = await store.outbox_failures()
    assert failure.uri == receiver.url() and failure.attempts == 1 and failure.next_attempt == T0 + 1
    assert failure.last_error == "RefusedAddress: 127.0.0.1 is a loopback address (not in notification_allow_addresses)"

    clock.advance(1)
    assert await delivery_for(store, loopback(), clock).deliver_due() == 1
    assert receiver.bodies() == [body(1)] and await store.outbox_failures() == []


@pytest.mark.parametrize("host", ["localhost", "[::ffff:127.0.0.1]", "0.0.0.0", "127.0.0.2"])
async def test_every_way_of_writing_loopback_is_refused(host, store, receivers, delivery_for):
    """A DNS name resolving to loopback, an IPv4-mapped IPv6 address, the unspecified address (which reaches
    this machine), another loopback address: none is connected to, each fails with its reason."""
    receiver = await receivers()
    uri = f"http://{host}:{receiver.port}/notify"
    await enqueue(store, uri, [1])
    assert await delivery_for(store, Config()).deliver_due() == 0
    assert receiver.seen == []
    (failure,) = await store.outbox_failures()
    assert failure.last_error.startswith("RefusedAddress: ")
    assert ("loopback" in failure.last_error or "unspecified" in failure.last_error), failure.last_error


async def test_the_servers_own_listener_is_refused_even_where_loopback_is_allowed(store, receivers, delivery_for):
    receiver = await receivers()  # stands for one of the server's own listening ports
    for host in ("127.0.0.1", "localhost"):
        await enqueue(store, f"http://{host}:{receiver.port}/notify", [1])
    delivery = delivery_for(store, loopback())
    delivery.destinations.serving_on(receiver.port)
    assert await delivery.deliver_due() == 0
    assert receiver.seen == []
    assert sorted(f.last_error for f in await store.outbox_failures()) == [
        "RefusedAddress: 127.0.0.1 port %d is this server's own listener" % receiver.port,
        "RefusedAddress: localhost has no address notifications may go to: "
        "127.0.0.1 port %d is this server's own listener" % receiver.port]


async def test_a_refused_uri_is_retried_with_backoff_and_logged_once(store, receivers, delivery_for, caplog):
    receiver = await receivers()
    await enqueue(store, receiver.url(), [1, 2])
    clock = ManualClock(T0)
    delivery = delivery_for(store, Config(), clock)
    with caplog.at_level(logging.INFO, logger="der_gateway.server.delivery"):
        for _ in range(4):
            assert await delivery.deliver_due() == 0
            clock.set(await store.next_outbox_attempt())
    assert [f.attempts for f in await store.outbox_failures()] == [4]
    assert await store.outbox_size() == 2  # held back, not dropped
    assert [r.getMessage() for r in caplog.records] == [
        f"notifications to {receiver.url()} are held back, retried with backoff: "
        "RefusedAddress: 127.0.0.1 is a loopback address (not in notification_allow_addresses)"]
    assert receiver.seen == []


async def test_the_connection_goes_only_to_an_address_that_passed(receivers):
    """The resolver hands the connector only the addresses it checked: a name resolving to a refused address
    first and an allowed one second is reached at the allowed one, never at the other."""
    allowed = await receivers()
    other = Receiver()
    await other.start_at("127.0.0.2", allowed.port)
    try:
        class TwoAddresses(AbstractResolver):
            async def resolve(self, host, port=0, family=socket.AF_INET):
                return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET, "proto": 0,
                         "flags": 0} for a in ("127.0.0.2", "127.0.0.1")]

            async def close(self) -> None:
                pass

        destinations = Destinations(AddressPolicy(parse_networks(LOOPBACK)))
        connector = aiohttp.TCPConnector(resolver=CheckedResolver(destinations, TwoAddresses()))
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.post(f"http://receiver.test:{allowed.port}/notify", data=b"x") as resp:
                assert resp.status == 201
        assert [b for _, b in allowed.seen] == [b"x"] and other.seen == []
    finally:
        await other.stop()


async def test_the_resolver_refuses_link_local_and_private_answers():
    """Nothing connects here: the resolver itself answers, as aiohttp would be told."""
    answers = {"metadata.test": ["169.254.169.254"], "intranet.test": ["10.1.2.3", "fd00::1"],
               "mapped.test": ["::ffff:192.168.1.1"], "public.test": ["192.0.2.1", "8.8.8.8"]}

    class Fixed(AbstractResolver):
        async def resolve(self, host, port=0, family=socket.AF_INET):
            return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else
                     socket.AF_INET, "proto": 0, "flags": 0} for a in answers[host]]

        async def close(self) -> None:
            pass

    resolver = CheckedResolver(Destinations(AddressPolicy()), Fixed())
    for host, kinds in [("metadata.test", ["link-local"]), ("intranet.test", ["private", "private"]),
                        ("mapped.test", ["private"])]:
        with pytest.raises(RefusedAddress) as refused:
            await resolver.resolve(host, 443)
        assert [k in str(refused.value) for k in kinds] == [True] * len(kinds), str(refused.value)
    assert [r["host"] for r in await resolver.resolve("public.test", 443)] == ["8.8.8.8"]  # 192.0.2/24: TEST-NET-1
    allowing = CheckedResolver(Destinations(AddressPolicy(parse_networks(["10.1.0.0/16"]))), Fixed())
    assert [r["host"] for r in await allowing.resolve("intranet.test", 443)] == ["10.1.2.3"]


def test_allowed_networks_are_checked_at_start(tmp_path):
    with pytest.raises(ValueError, match="notification_allow_addresses: 'localhost' is not an address or network"):
        Config(notification_allow_addresses=("localhost",))
    toml = tmp_path / "server.toml"
    toml.write_text('notification_allow_addresses = ["127.0.0.1/32", "10.1.0.0/16", "::1"]\n')
    config = Config.load(toml)
    assert config.notification_allow_addresses == ("127.0.0.1/32", "10.1.0.0/16", "::1")
    assert config.notification_policy.uri_refusal("http://10.1.2.3/n") is None
    assert config.notification_policy.uri_refusal("http://[::1]:80/n") is None
    assert "private" in config.notification_policy.uri_refusal("http://10.2.0.1/n")
    assert "own listener" in config.notification_policy.uri_refusal("http://[::1]:8443/n")


async def test_a_failed_commit_fails_only_its_senders_and_they_resume_on_the_next_pass(store, receivers,
                                                                                      delivery_for, monkeypatch):
    """The disk refuses one commit: the items it carried are sent again (once) later, nobody waits forever."""
    async def later_but_u0(path: str, b: bytes) -> int:
        if path != "/u/0":
            await asyncio.sleep(0.05)  # acknowledged while the commit of /u/0's first item is being refused
        return 201

    receiver = await receivers(later_but_u0)
    for u in range(4):
        await enqueue(store, receiver.url(f"/u/{u}"), range(3), sub_id=u + 1)
    real = store.outbox_delivered
    calls = 0

    async def failing_once(item_ids):
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(0.2)  # meanwhile the other URIs' items are acknowledged and wait for the next
            raise sqlite3.OperationalError("disk I/O error")
        await real(item_ids)

    monkeypatch.setattr(store, "outbox_delivered", failing_once)
    delivery = delivery_for(store)
    await asyncio.wait_for(delivery.deliver_due(), 10)
    await asyncio.wait_for(delivery.deliver_due(), 10)
    assert await store.outbox_size() == 0
    for u in range(4):
        got = [b for p, b in receiver.accepted if p == f"/u/{u}"]
        assert [b for i, b in enumerate(got) if i == 0 or got[i - 1] != b] == [body(n) for n in range(3)]
        assert len(got) <= 4  # at most the item whose commit failed, again
