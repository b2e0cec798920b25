"""Enrollment sync: the durable outbox to operational endpoints, and acknowledgements through the admin API."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import aiohttp
import pytest
from aiohttp import web

from der_gateway.clock import ManualClock
from der_gateway.config import Config
from der_gateway.sep.identity import lfdi_from_certificate
from der_gateway.domain.endpoints import endpoint_url_problem
from der_gateway.server.enrollment_sync import SyncDelivery
from der_gateway.store.sqlite import SQLiteStore
from der_gateway.store.sync_queue import enqueue_sync
from der_gateway.tls import server_context

T0 = 1_700_000_000
TOKEN = "test-admin-token-0123456789"  # conftest's make_harness


@dataclass
class Receiver:
    """An operational endpoint: records every POST and answers `answer(path, payload)`."""

    answer: Callable[[str, dict], int] = lambda path, payload: 200
    seen: list[tuple[str, dict]] = field(default_factory=list)
    accepted: list[tuple[str, dict]] = field(default_factory=list)
    content_types: set[str] = field(default_factory=set)
    peer_certs: list[bytes | None] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        payload = json.loads(await request.read())
        self.seen.append((request.path, payload))
        self.content_types.add(request.headers.get("Content-Type", ""))
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        self.peer_certs.append(ssl_object.getpeercert(binary_form=True) if ssl_object else None)
        status = self.answer(request.path, payload)
        if 200 <= status < 300:
            self.accepted.append((request.path, payload))
        return web.Response(status=status)

    async def start(self, port: int = 0, tls=None) -> Receiver:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port, ssl_context=tls, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    def url(self, path: str = "/enroll", scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def ids(self, path: str | None = None) -> list[int]:
        return [p["messageId"] for at, p in self.accepted if path is None or at == path]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await _holds(condition):
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("timed out")
        await asyncio.sleep(0.02)


async def _holds(condition: Callable[[], Any]) -> bool:
    result = condition()
    if asyncio.iscoroutine(result):
        result = await result
    return bool(result)


@pytest.fixture
async def store(tmp_path: Path):
    s = await SQLiteStore.open(tmp_path / "data")
    yield s
    await s.close()


@pytest.fixture
async def receivers():
    started: list[Receiver] = []

    async def make(answer: Callable[[str, dict], int] | None = None, port: int = 0, tls=None) -> Receiver:
        r = Receiver() if answer is None else Receiver(answer)
        started.append(r)
        return await r.start(port, tls)

    yield make
    for r in started:
        await r.stop()


@pytest.fixture
async def deliveries():
    made: list[SyncDelivery] = []

    def make(store, config: Config | None = None, clock=None, **kw) -> SyncDelivery:
        d = SyncDelivery(store, config or Config(), clock or ManualClock(T0), **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        await d.stop()


# -- the utility's rows, written directly (registration and enrollment flows are another module's) -----

async def utility_rows(store, service_points: int = 1) -> dict[str, Any]:
    """A customer with an account, service points SP1..SPn, a program and a battery model."""
    def write(c):
        customer = c.execute("INSERT INTO customers (external_id, name) VALUES ('C1', 'Customer 1')").lastrowid
        account = c.execute("INSERT INTO accounts (customer_id, external_id) VALUES (?, 'A1')", (customer,)).lastrowid
        sps = {f"SP{i}": c.execute("INSERT INTO service_points (account_id, external_id) VALUES (?, ?)",
                                   (account, f"SP{i}")).lastrowid for i in range(1, service_points + 1)}
        program = c.execute("INSERT INTO programs (mrid, description, primacy) VALUES (?, 'battery DR', 1)",
                            (f"{time.time_ns():032X}"[-32:],)).lastrowid
        asset_type = c.execute("INSERT INTO asset_types (code, der_type) VALUES ('battery', 83)").lastrowid
        model = c.execute("INSERT INTO device_models (asset_type_id, manufacturer, model, spec) "
                          "VALUES (?, 'ACME', 'B-10', '{}')", (asset_type,)).lastrowid
        return {"customer": customer, "service_points": sps, "program": program, "model": model}
    return await store._in_transaction(write)


async def enrollment(store, rows: dict[str, Any], service_point: str = "SP1", lfdi: str = "AB" * 20,
                     end_device_id: int | None = None, status: str = "Enrolled") -> int:
    def write(c):
        asset = c.execute(
            "INSERT INTO der_assets (customer_id, service_point_id, device_model_id, end_device_id, lfdi, nameplate, "
            "created) VALUES (?, ?, ?, ?, ?, '{}', ?)",
            (rows["customer"], rows["service_points"][service_point], rows["model"], end_device_id, lfdi, T0)).lastrowid
        return c.execute("INSERT INTO enrollments (der_asset_id, program_id, status, sync_status, created, updated) "
                         "VALUES (?, ?, ?, 'Pending', ?, ?)", (asset, rows["program"], status, T0, T0)).lastrowid
    return await store._in_transaction(write)


async def enqueue(store, kind: str, body: dict, enrollment_id: int | None = None) -> int:
    return await store._in_transaction(lambda c: enqueue_sync(c, kind, body, T0, enrollment_id))


def enrollment_body(n: int) -> dict:
    return {"enrollment": {"id": n, "status": "Enrolled"}, "program": {"mRID": "P1"},
            "device": {"lFDI": "AB" * 20, "DERCapability": {"rtgMaxW": {"value": 5000, "multiplier": 0}}}}


async def states(store, endpoint_id: int | None = None) -> list[tuple[int, str, int]]:
    _, messages = await store.sync_messages(endpoint_id=endpoint_id, limit=1000)
    return [(m.id, m.state, m.attempts) for m in messages]


# -- delivery ----------------------------------------------------------------------------------------

async def test_posts_json_with_message_id_and_acknowledge_url(store, receivers, deliveries):
    receiver = await receivers()
    await store.create_sync_endpoint("dacs", receiver.url())
    rows = await utility_rows(store)
    enrollment_id = await enrollment(store, rows)
    assert await enqueue(store, "enrollment", enrollment_body(1), enrollment_id) == 1
    delivery = deliveries(store, ack_base_url="https://derms.example:8444/")
    assert await delivery.deliver_due() == 1
    assert receiver.content_types == {"application/json"}
    ((path, payload),) = receiver.accepted
    message_id = payload["messageId"]
    assert path == "/enroll"
    assert payload == {"kind": "enrollment", **enrollment_body(1), "messageId": message_id,
                       "acknowledgeUrl": f"https://derms.example:8444/sync/messages/{message_id}/ack"}
    message = await store.sync_message(message_id)
    assert (message.state, message.attempts, message.enrollment_id) == ("sent", 1, enrollment_id)
    assert await store.next_sync_attempt() is None
    assert await delivery.deliver_due() == 0  # sent once


async def test_one_message_per_endpoint_each_in_order(store, receivers, deliveries):
    first, second = await receivers(), await receivers()
    a = await store.create_sync_endpoint("dacs", first.url("/a"))
    b = await store.create_sync_endpoint("ouai", second.url("/b"))
    for n in range(1, 6):
        assert await enqueue(store, "aggregator", {"aggregator": {"n": n}}) == 2
    assert await deliveries(store).deliver_due() == 10
    assert [p["aggregator"]["n"] for _, p in first.accepted] == [1, 2, 3, 4, 5]
    assert [p["aggregator"]["n"] for _, p in second.accepted] == [1, 2, 3, 4, 5]
    assert first.ids() == [m for m, _, _ in await states(store, a)]
    assert second.ids() == [m for m, _, _ in await states(store, b)]


async def test_receiver_down_then_up_gets_everything_in_order(store, receivers, deliveries):
    port = free_port()
    endpoint = await store.create_sync_endpoint("dacs", f"http://127.0.0.1:{port}/enroll")
    rows = await utility_rows(store)
    enrollment_id = await enrollment(store, rows)
    for n in (1, 2, 3):
        await enqueue(store, "enrollment", enrollment_body(n), enrollment_id)
    clock = ManualClock(T0)
    delivery = deliveries(store, clock=clock)

    assert await delivery.deliver_due() == 0  # refused
    head, *rest = await store.sync_queue(endpoint, 10)
    assert head.attempts == 1 and head.last_error and [m.attempts for m in rest] == [0, 0]
    assert await store.next_sync_attempt() == T0 + 1
    assert await delivery.deliver_due() == 0  # held back
    assert delivery.failed_total == 1

    clock.advance(1)
    assert await delivery.deliver_due() == 0
    assert await store.next_sync_attempt() == T0 + 1 + 2
    clock.advance(2)
    assert await delivery.deliver_due() == 0
    assert await store.next_sync_attempt() == T0 + 3 + 4
    assert [s for _, s, _ in await states(store)] == ["queued"] * 3  # never dropped

    receiver = await receivers(port=port)
    clock.advance(3)
    assert await delivery.deliver_due() == 0 and receiver.seen == []  # up, but still backing off
    clock.advance(1)
    assert await delivery.deliver_due() == 3
    assert [p["enrollment"]["id"] for _, p in receiver.accepted] == [1, 2, 3]
    assert [(s, a) for _, s, a in await states(store)] == [("sent", 4), ("sent", 1), ("sent", 1)]
    assert (delivery.sent_total, delivery.failed_total) == (3, 3)


async def test_a_failure_holds_back_later_messages_and_the_backoff_is_capped(store, receivers, deliveries):
    failures = iter([503, 500, 502, 500, 500])

    def answer(path: str, payload: dict) -> int:
        return next(failures, 200) if payload["aggregator"]["n"] == 2 else 200

    receiver = await receivers(answer)
    await store.create_sync_endpoint("dacs", receiver.url())
    for n in (1, 2, 3):
        await enqueue(store, "aggregator", {"aggregator": {"n": n}})
    clock = ManualClock(T0)
    delivery = deliveries(store, Config(sync_max_backoff=3), clock)
    waits = []
    for _ in range(5):
        await delivery.deliver_due()
        waits.append(await store.next_sync_attempt() - clock.now())
        clock.set(await store.next_sync_attempt())
    assert waits == [1, 2, 3, 3, 3]
    assert [p["aggregator"]["n"] for _, p in receiver.seen] == [1, 2, 2, 2, 2, 2]  # 3 never overtakes 2
    head = (await store.sync_queue(1, 10))[0]
    assert (head.body["aggregator"]["n"], head.attempts, head.last_error) == (2, 5, "HTTP 500 Internal Server Error")
    assert await delivery.deliver_due() == 2
    assert [p["aggregator"]["n"] for _, p in receiver.accepted] == [1, 2, 3]
    assert [(s, a) for _, s, a in await states(store)] == [("sent", 1), ("sent", 6), ("sent", 1)]


async def test_one_endpoint_down_does_not_hold_up_another(store, receivers, deliveries):
    receiver = await receivers()
    down = await store.create_sync_endpoint("down", f"http://127.0.0.1:{free_port()}/x")
    await store.create_sync_endpoint("up", receiver.url())
    await enqueue(store, "aggregator", {"n": 1})
    await enqueue(store, "aggregator", {"n": 2})
    assert await deliveries(store).deliver_due() == 2
    assert [p["n"] for _, p in receiver.accepted] == [1, 2]
    assert [s for _, s, _ in await states(store, down)] == ["queued", "queued"]


async def test_https_endpoints_get_the_server_certificate(store, receivers, deliveries, certs_dir, identities):
    receiver = await receivers(tls=server_context(certs_dir, "device1"))  # requires a client certificate
    await store.create_sync_endpoint("dacs", receiver.url(scheme="https"))
    await enqueue(store, "program-rules", {"program": {"mRID": "P1"}})
    assert await deliveries(store, Config(certs_dir=certs_dir)).deliver_due() == 1
    assert [lfdi_from_certificate(der) for der in receiver.peer_certs] == [identities["server"].lfdi]


async def test_queued_messages_survive_a_restart(tmp_path, receivers, deliveries):
    port = free_port()
    first = await SQLiteStore.open(tmp_path / "data")
    await first.create_sync_endpoint("dacs", f"http://127.0.0.1:{port}/enroll")
    for n in (1, 2):
        await enqueue(first, "aggregator", {"n": n})
    clock = ManualClock(T0)
    assert await deliveries(first, clock=clock).deliver_due() == 0  # down
    await first.close()

    receiver = await receivers(port=port)
    reopened = await SQLiteStore.open(tmp_path / "data")
    try:
        assert [(s, a) for _, s, a in await states(reopened)] == [("queued", 1), ("queued", 0)]
        delivery = deliveries(reopened, clock=clock)
        assert await delivery.deliver_due() == 0  # the backoff is stored too
        clock.advance(1)
        assert await delivery.deliver_due() == 2
        assert [p["n"] for _, p in receiver.accepted] == [1, 2]
    finally:
        await reopened.close()


async def test_the_server_delivers_in_the_background_across_a_restart(make_harness, receivers):
    """Endpoints from the config are seeded at start; queued messages go out after a restart; the
    acknowledgeUrl reaches the admin API."""
    port = free_port()
    h = make_harness(admin_port=free_port(), sync_endpoints={"dacs": f"http://127.0.0.1:{port}/enroll"})
    await h.start()
    try:
        store = h.store
        (endpoint,) = await store.sync_endpoints()
        assert (endpoint.name, endpoint.url) == ("dacs", f"http://127.0.0.1:{port}/enroll")
        rows = await utility_rows(store)
        enrollment_id = await enrollment(store, rows)
        await enqueue(store, "enrollment", enrollment_body(1), enrollment_id)
        h.server.background.changed()
        await wait_for(lambda: _attempted(store))
        await h.stop()

        receiver = await receivers(port=port)
        await h.start()
        await wait_for(lambda: receiver.accepted, timeout=15)
        ((_, payload),) = receiver.accepted
        assert payload["acknowledgeUrl"] == f"{h.server.admin_url}/sync/messages/{payload['messageId']}/ack"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as session:
            async with session.post(payload["acknowledgeUrl"], json={"ok": True}) as resp:
                assert resp.status == 200
                answer = await resp.json()
        assert answer["state"] == "acknowledged"
        assert answer["enrollment"] == {"id": enrollment_id, "syncStatus": "Synchronized", "syncReason": None}
        assert await h.store.enrollment_sync_status(enrollment_id) == ("Synchronized", None)
    finally:
        await h.stop()


async def _attempted(store) -> bool:
    _, messages = await store.sync_messages()
    return bool(messages) and messages[0].attempts >= 1


def test_endpoint_urls():
    for url in ("http://127.0.0.1:9/x", "https://dacs.example/api/enroll", "HTTPS://h"):
        assert endpoint_url_problem(url) is None, url
    for url in ("", "ftp://h/x", "http://", "/relative", "http://h:99999/", "http://h/a b", None, 5):
        assert endpoint_url_problem(url), url


# -- the admin API: endpoints, messages, acknowledgements ------------------------------------------

@dataclass
class Admin:
    session: aiohttp.ClientSession
    url: str

    async def call(self, method: str, path: str, body: Any = None, **kw) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, json=body, **kw) as resp:
            text = await resp.read()
            return resp.status, json.loads(text) if text else None

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, answer = await self.call(method, path, body)
        assert got == status, (method, path, got, answer)
        return answer


@pytest.fixture
async def server(make_harness):
    """A server whose background is stopped: these tests deliver with their own clock."""
    h = make_harness()
    await h.start()
    await h.server.stop_background()
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    yield h, Admin(session, h.server.admin_url)
    await session.close()
    await h.stop()


async def test_endpoint_crud(server, receivers, deliveries):
    h, admin = server
    receiver = await receivers()
    created = await admin.ok("POST", "/sync/endpoints", {"name": "dacs", "url": receiver.url()}, 201)
    assert created == {"id": created["id"], "name": "dacs", "url": receiver.url(), "purpose": "operations",
                       "messages": {"queued": 0, "sent": 0, "acknowledged": 0, "rejected": 0}}
    status, answer = await admin.call("POST", "/sync/endpoints", {"name": "dacs", "url": receiver.url()})
    assert status == 409 and answer["errors"][0]["field"] == "name"
    status, answer = await admin.call("POST", "/sync/endpoints", {"name": "", "url": "ftp://x", "extra": 1})
    assert status == 400 and {e["field"] for e in answer["errors"]} == {"name", "url", "extra"}
    assert (await admin.call("POST", "/sync/endpoints", {"url": receiver.url()}))[0] == 400

    await enqueue(h.store, "aggregator", {"n": 1})
    listed = await admin.ok("GET", "/sync/endpoints")
    assert [(e["name"], e["messages"]["queued"]) for e in listed["items"]] == [("dacs", 1)]
    path = f"/sync/endpoints/{created['id']}"
    patched = await admin.ok("PATCH", path, {"url": receiver.url("/v2")})
    assert (patched["name"], patched["url"]) == ("dacs", receiver.url("/v2"))
    status, answer = await admin.call("PATCH", path, {"purpose": "billing"})
    assert status == 400 and answer["errors"][0]["field"] == "purpose"
    status, answer = await admin.call("POST", "/sync/endpoints", {"name": "cis", "url": receiver.url(),
                                                                 "purpose": "invoices"})
    assert status == 400 and answer["errors"][0]["field"] == "purpose"
    assert await deliveries(h.store, h.config).deliver_due() == 1
    assert receiver.accepted[0][0] == "/v2"  # queued messages follow the endpoint's new URL

    await enqueue(h.store, "aggregator", {"n": 2})
    status, answer = await admin.call("DELETE", path)
    assert status == 409 and "force=true" in answer["errors"][0]["reason"]
    assert (await admin.call("DELETE", path + "?force=maybe"))[0] == 400
    assert (await admin.call("DELETE", path + "?force=true"))[0] == 204
    assert (await admin.call("GET", path))[0] == 404
    assert (await admin.ok("GET", "/sync/messages"))["all"] == 0


async def test_acknowledgements_move_the_enrollment(server, receivers, deliveries):
    h, admin = server
    dacs, ouai = await receivers(), await receivers()
    for name, r in (("dacs", dacs), ("ouai", ouai)):
        await admin.ok("POST", "/sync/endpoints", {"name": name, "url": r.url()}, 201)
    rows = await utility_rows(h.store, 2)
    good = await enrollment(h.store, rows, "SP1", "AB" * 20)
    bad = await enrollment(h.store, rows, "SP2", "CD" * 20)
    await enqueue(h.store, "enrollment", enrollment_body(good), good)
    await enqueue(h.store, "enrollment", enrollment_body(bad), bad)
    delivery = deliveries(h.store, h.config, ack_base_url=admin.url)
    assert await delivery.deliver_due() == 4
    ack = {(r_name, p["enrollment"]["id"]): p["acknowledgeUrl"].removeprefix(admin.url)
           for r_name, r in (("dacs", dacs), ("ouai", ouai)) for _, p in r.accepted}

    # positive from both endpoints: Synchronized only once the second arrives
    first = await admin.ok("POST", ack[("dacs", good)], {"ok": True})
    assert first["state"] == "acknowledged" and first["endpoint"] == "dacs"
    assert first["enrollment"] == {"id": good, "syncStatus": "Pending", "syncReason": None}
    second = await admin.ok("POST", ack[("ouai", good)], {"ok": True, "reason": "stored"})
    assert (second["state"], second["ackReason"]) == ("acknowledged", "stored")
    assert second["enrollment"]["syncStatus"] == "Synchronized"
    assert await h.store.enrollment_sync_status(good) == ("Synchronized", None)

    # negative from one: Error with its reason, whatever the other says
    await admin.ok("POST", ack[("dacs", bad)], {"ok": True})
    rejected = await admin.ok("POST", ack[("ouai", bad)], {"ok": False, "reason": "unknown meter CD"})
    assert (rejected["state"], rejected["ackReason"]) == ("rejected", "unknown meter CD")
    assert rejected["enrollment"] == {"id": bad, "syncStatus": "Error", "syncReason": "unknown meter CD"}
    assert await h.store.enrollment_sync_status(bad) == ("Error", "unknown meter CD")

    # the same acknowledgement again changes nothing; the opposite one is refused
    again = await admin.ok("POST", ack[("ouai", bad)], {"ok": False, "reason": "unknown meter CD"})
    assert again["state"] == "rejected"
    status, answer = await admin.call("POST", ack[("ouai", bad)], {"ok": True})
    assert status == 409 and answer["errors"][0]["field"] == "ok"
    assert await h.store.enrollment_sync_status(bad) == ("Error", "unknown meter CD")

    # a later message about the enrollment (unenrollment, say) that every endpoint acknowledges heals it
    await enqueue(h.store, "unenrollment", enrollment_body(bad), bad)
    assert await delivery.deliver_due() == 2
    for r in (dacs, ouai):
        await admin.ok("POST", r.accepted[-1][1]["acknowledgeUrl"].removeprefix(admin.url), {"ok": True})
    assert await h.store.enrollment_sync_status(bad) == ("Synchronized", None)


async def test_acknowledgement_input_is_checked(server, receivers, deliveries):
    h, admin = server
    receiver = await receivers()
    await admin.ok("POST", "/sync/endpoints", {"name": "dacs", "url": receiver.url()}, 201)
    await enqueue(h.store, "aggregator", {"n": 1})
    (message_id, _, _), = await states(h.store)
    before = h.snapshot()
    for body, fields in (({}, {"ok"}), ({"ok": "yes"}, {"ok"}), ({"ok": False}, {"reason"}),
                         ({"ok": False, "reason": " "}, {"reason"}), ({"ok": True, "reason": 5, "x": 1},
                                                                      {"reason", "x"})):
        status, answer = await admin.call("POST", f"/sync/messages/{message_id}/ack", body)
        assert status == 400 and {e["field"] for e in answer["errors"]} == fields, body
    assert (await admin.call("POST", "/sync/messages/999/ack", {"ok": True}))[0] == 404
    assert h.snapshot() == before
    # a message acknowledged before its POST was seen to succeed is not sent again
    await admin.ok("POST", f"/sync/messages/{message_id}/ack", {"ok": True})
    assert await deliveries(h.store, h.config).deliver_due() == 0
    assert receiver.seen == []


async def test_listing_messages(server, receivers, deliveries):
    h, admin = server
    r = await receivers()
    a = (await admin.ok("POST", "/sync/endpoints", {"name": "a", "url": r.url()}, 201))["id"]
    b = (await admin.ok("POST", "/sync/endpoints", {"name": "b", "url": f"http://127.0.0.1:{free_port()}/"},
                        201))["id"]
    rows = await utility_rows(h.store)
    enrollment_id = await enrollment(h.store, rows)
    await enqueue(h.store, "enrollment", enrollment_body(1), enrollment_id)
    await enqueue(h.store, "aggregator", {"n": 2})
    await deliveries(h.store, h.config).deliver_due()

    everything = await admin.ok("GET", "/sync/messages")
    assert everything["all"] == 4 and [m["id"] for m in everything["items"]] == sorted(m["id"] for m in
                                                                                        everything["items"])
    sent = await admin.ok("GET", "/sync/messages?state=sent")
    assert {(m["endpoint"], m["kind"]) for m in sent["items"]} == {("a", "enrollment"), ("a", "aggregator")}
    queued = await admin.ok("GET", f"/sync/messages?state=queued&endpoint={b}")
    assert [m["kind"] for m in queued["items"]] == ["enrollment", "aggregator"]
    assert queued["items"][0]["attempts"] == 1 and queued["items"][0]["lastError"]
    assert (await admin.ok("GET", f"/sync/messages?enrollment={enrollment_id}"))["all"] == 2
    assert (await admin.ok("GET", "/sync/messages?kind=aggregator&endpoint=" + str(a)))["all"] == 1
    page = await admin.ok("GET", "/sync/messages?limit=1")
    after = await admin.ok("GET", f"/sync/messages?limit=1&after={page['items'][0]['id']}")
    assert page["all"] == after["all"] == 4 and after["items"][0]["id"] > page["items"][0]["id"]
    one = await admin.ok("GET", f"/sync/messages/{page['items'][0]['id']}")
    assert one == page["items"][0] and one["body"]["kind"] == "enrollment"
    for query in ("state=lost", "limit=0", "endpoint=x", "colour=red"):
        status, answer = await admin.call("GET", f"/sync/messages?{query}")
        assert status == 400 and answer["errors"], query
    assert (await admin.call("GET", "/sync/messages/424242"))[0] == 404


async def test_endpoints_from_the_config_file(tmp_path, store, deliveries):
    settings = tmp_path / "der-gateway.toml"
    settings.write_text('sync_ack_base_url = "https://derms.example/admin"\n'
                        '[sync_endpoints]\ndacs = "https://dacs.example/enroll"\nouai = "http://ouai.example/x"\n')
    config = Config.load(settings)
    assert config.sync_endpoints == {"dacs": "https://dacs.example/enroll", "ouai": "http://ouai.example/x"}
    await store.create_sync_endpoint("dacs", "http://old.example/")
    delivery = deliveries(store, config)
    await delivery.seed_endpoints()
    await delivery.seed_endpoints()  # again: nothing more
    assert [(e.name, e.url) for e in await store.sync_endpoints()] == [
        ("dacs", "https://dacs.example/enroll"), ("ouai", "http://ouai.example/x")]
    assert delivery.ack_base_url == "https://derms.example/admin"
    with pytest.raises(ValueError, match="sync_endpoints"):
        await deliveries(store, Config(sync_endpoints={"bad": "ftp://x"})).start()
