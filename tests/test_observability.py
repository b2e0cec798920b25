"""Observability over real sockets: /metrics counts what real TLS clients did (good requests, a refused handshake,
a 4xx), /outboxes shows a failing subscription, /connections a connection held open, /refusals the refused,
JSON log lines carry the client's LFDI, and `serve --workers 2` reports both workers in one /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.parser import text_string_to_metric_families

from der_gateway.observability import metrics
from der_gateway.observability.logs import JsonFormatter
from der_gateway.services import der_controls
from der_gateway.tls import client_context

from .test_control_plane import T0, control
from .test_notifications import PEN, Receiver, free_port, subscription, world  # noqa: F401 (a fixture)
from .test_tls import REFUSED
from .test_workers import ADMIN_TOKEN, Gateway, alive

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@contextlib.contextmanager
def json_logs() -> Iterator[io.StringIO]:
    """The log lines of the block, as the JSON form writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def admin_get(admin_url: str, path: str, headers: dict[str, str] | None = AUTH) -> tuple[int, Any]:
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get(admin_url + path) as resp:
            body = await resp.read()
            if resp.content_type == "application/json":
                return resp.status, json.loads(body)
            return resp.status, body.decode()


async def scrape(admin_url: str) -> Samples:
    status, text = await admin_get(admin_url, "/metrics")
    assert status == 200, text
    return parse(text)


async def eventually(check, timeout: float = 30.0, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} did not come true within {timeout} s"
        await asyncio.sleep(0.05)


def foreign_context(certs_dir: Path, foreign_certs_dir: Path) -> ssl.SSLContext:
    """A client of another PKI: its certificate chains to no SERCA the server trusts."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ECDHE-ECDSA-AES128-CCM8:@SECLEVEL=0")
    ctx.load_verify_locations(certs_dir / "serca.pem")
    ctx.load_cert_chain(foreign_certs_dir / "device1.pem", foreign_certs_dir / "device1.key")
    return ctx


async def refused_handshake(url: str, ctx: ssl.SSLContext) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        with pytest.raises(REFUSED):
            async with session.get(url + "/dcap") as resp:
                pytest.fail(f"a client of another PKI was answered {resp.status}")


async def test_metrics_count_good_requests_a_refused_handshake_and_a_4xx(harness, certs_dir, foreign_certs_dir,
                                                                        identities):
    admin = harness.server.admin_url
    before = await scrape(admin)
    device = harness.client("device1")
    for _ in range(3):
        assert (await device.get("/dcap")).status == 200
    assert (await device.get("/no-such-resource")).status == 404
    await refused_handshake(harness.server.url, foreign_context(certs_dir, foreign_certs_dir))

    async def refused_seen() -> Samples | None:
        now = await scrape(admin)
        failed = value(now, "der_gateway_tls_handshakes_total", result="failed")
        return now if failed > value(before, "der_gateway_tls_handshakes_total", result="failed") else None

    after = await eventually(refused_seen, what="the refused handshake in /metrics")

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("der_gateway_requests_total", listener="sep", route="/dcap", method="GET", status="200") == 3
    assert delta("der_gateway_requests_total", listener="sep", route="unmatched", method="GET", status="404") == 1
    assert delta("der_gateway_request_seconds_count", listener="sep", route="/dcap") == 3
    assert delta("der_gateway_tls_handshakes_total", result="ok") == 1  # one connection, kept alive
    assert delta("der_gateway_tls_handshakes_total", result="failed") == 1
    assert delta("der_gateway_refusals_total", kind="tls", reason="unknown certificate") == 1
    assert delta("der_gateway_refusals_total", kind="http", reason="not found") == 1
    # the first /dcap was built, the next two answered from the response cache
    assert delta("der_gateway_cache_misses_total", cache="response") >= 1
    assert delta("der_gateway_cache_hits_total", cache="response") >= 1
    assert (delta("der_gateway_cache_misses_total", cache="response")
            + delta("der_gateway_cache_hits_total", cache="response")) == 4
    assert value(after, "der_gateway_open_connections", listener="sep") >= 1  # device's, still open
    # the scrapes before this one were counted on the admin listener
    assert delta("der_gateway_requests_total", listener="admin", route="/metrics", method="GET", status="200") >= 1
    # read from the store
    assert value(after, "der_gateway_outbox_depth", outbox="notifications") == 0
    assert ("der_gateway_outbox_depth", frozenset({("outbox", "sync")})) in after
    for state in ("scheduled", "active", "completed", "cancelled"):
        assert ("der_gateway_events", frozenset({("kind", "control"), ("state", state)})) in after

    status, refusals = await admin_get(admin, "/refusals?limit=10")
    assert status == 200
    reasons = {(r["kind"], r["reason"]): r["count"] for r in refusals["by_reason"]}
    assert reasons[("tls", "unknown certificate")] == 1 and reasons[("http", "not found")] == 1
    http = [r for r in refusals["recent"] if r["kind"] == "http"]
    assert http == [{"at": http[0]["at"], "kind": "http", "reason": "not found", "status": 404,
                     "lfdi": identities["device1"].lfdi, "path": "/no-such-resource"}]
    assert (await admin_get(admin, "/refusals?limit=x"))[0] == 400


async def test_a_request_the_parser_refuses_is_a_refusal_too(harness, certs_dir):
    admin = harness.server.admin_url
    before = await scrape(admin)
    reader, writer = await asyncio.open_connection(harness.config.host, harness.server.port,
                                                   ssl=client_context(certs_dir, "device1"))
    try:
        writer.write(b"FOO /dcap HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 20)
    finally:
        writer.close()
    assert answer.split(b" ", 2)[1] == b"501", answer[:100]

    async def counted() -> Samples | None:
        now = await scrape(admin)
        done = (value(now, "der_gateway_refusals_total", kind="http", reason="not implemented")
                - value(before, "der_gateway_refusals_total", kind="http", reason="not implemented")) == 1
        return now if done else None

    await eventually(counted, what="the refused method in /metrics")
    _, refusals = await admin_get(admin, "/refusals?limit=1")
    (latest,) = refusals["recent"]
    assert (latest["kind"], latest["reason"], latest["status"]) == ("http", "not implemented", 501)


async def test_a_late_body_is_counted_as_the_408_it_gets(make_harness, certs_dir):
    h = make_harness(body_timeout=0.6)
    await h.start()
    try:
        before = await scrape(h.server.admin_url)
        reader, writer = await asyncio.open_connection(h.config.host, h.server.port,
                                                       ssl=client_context(certs_dir, "device1"))
        writer.write(b"POST /edev HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/sep+xml\r\n"
                     b"Content-Length: 100\r\n\r\n<EndDevice")
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 20)
        writer.close()
        assert answer.split(b" ", 2)[1] == b"408", answer[:100]

        def requests(samples: Samples, status: str) -> float:
            return value(samples, "der_gateway_requests_total", listener="sep", route="/edev", method="POST",
                         status=status)

        async def counted() -> Samples | None:
            now = await scrape(h.server.admin_url)
            return now if requests(now, "408") - requests(before, "408") == 1 else None

        after = await eventually(counted, what="the late body's 408 in /metrics")
        assert requests(after, "500") == requests(before, "500")
    finally:
        await h.stop()


async def test_a_connection_beyond_a_cap_is_a_refusal(make_harness):
    h = make_harness(max_connections_per_address=1)
    await h.start()
    try:
        first = await asyncio.open_connection(h.config.host, h.server.port)
        second = await asyncio.open_connection(h.config.host, h.server.port)
        try:
            assert await asyncio.wait_for(second[0].read(), 20) == b""  # closed at once
        except ConnectionResetError:
            pass

        async def counted() -> dict | None:
            _, view = await admin_get(h.server.admin_url, "/refusals")
            counts = {(r["kind"], r["reason"]): r["count"] for r in view["by_reason"]}
            return view if counts.get(("tls", "connection limit")) == 1 else None

        await eventually(counted, what="the refused connection in /refusals")
        first[1].close()
        second[1].close()
    finally:
        await h.stop()


async def test_health_needs_no_token_and_metrics_does(harness):
    admin = harness.server.admin_url
    assert await admin_get(admin, "/health", headers=None) == (200, {"status": "ok"})
    status, body = await admin_get(admin, "/metrics", headers=None)
    assert status == 401 and body["errors"][0]["reason"] == "a bearer token is required"


async def test_connections_lists_a_client_while_it_holds_its_connection(harness, identities):
    admin = harness.server.admin_url
    lfdi = identities["device1"].lfdi
    device = harness.client("device1")
    assert (await device.get("/dcap")).status == 200
    assert (await device.get("/tm")).status == 200

    async def listed() -> list[dict] | None:
        _, view = await admin_get(admin, "/connections")
        mine = [c for c in view["clients"] if c["lfdi"] == lfdi]
        return mine if mine and view["open"] == len(view["clients"]) else None

    (connection,) = await eventually(listed, what="device1's connection in /connections")
    assert connection["requests"] == 2 and re.fullmatch(r"127\.0\.0\.1:[0-9]+", connection["peer"])
    assert abs(connection["since"] - time.time()) < 600
    await device.session.close()

    async def gone() -> bool:
        _, view = await admin_get(admin, "/connections")
        return not [c for c in view["clients"] if c["lfdi"] == lfdi]

    await eventually(gone, what="device1's connection to leave /connections")


async def test_outboxes_show_a_subscription_whose_receiver_is_down(world, identities):
    h, device, edev, program, clock = world
    receiver = Receiver(free_port())  # not started: nothing listens
    before = await scrape(h.server.admin_url)
    assert (await device.post(f"{edev}/sub", subscription(f"/derp/{program}/derc", receiver.uri))).status == 201
    await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 60, 300))
    await h.server.background.settle()

    status, outboxes = await admin_get(h.server.admin_url, "/outboxes")
    assert status == 200
    notifications = outboxes["notifications"]
    assert notifications["depth"] == 1 and notifications["oldest_at"] is not None
    (failing,) = notifications["failing"]
    assert failing["uri"] == receiver.uri and failing["attempts"] >= 1 and failing["last_error"]
    assert failing["since"] == notifications["oldest_at"]
    assert outboxes["sync"] == {"depth": 0, "oldest_at": None, "failing": []}

    after = await scrape(h.server.admin_url)
    assert value(after, "der_gateway_outbox_depth", outbox="notifications") == 1
    assert (value(after, "der_gateway_deliveries_total", outbox="notifications", result="failed")
            - value(before, "der_gateway_deliveries_total", outbox="notifications", result="failed")) >= 1

    await receiver.start()
    with json_logs() as stream:
        clock.advance(600)  # past the backoff
        await h.server.background.settle()
    try:
        assert len(receiver.received) >= 1  # what was held back, and the list as it is now (the event started)
        deliveries = [line for line in map(json.loads, stream.getvalue().splitlines()) if line["event"] == "delivery"]
        assert [line["result"] for line in deliveries] == ["delivered"] * len(receiver.received)
        assert {(line["lfdi"], line["uri"]) for line in deliveries} == {(identities["device1"].lfdi, receiver.uri)}
        _, outboxes = await admin_get(h.server.admin_url, "/outboxes")
        assert outboxes["notifications"] == {"depth": 0, "oldest_at": None, "failing": []}
        done = await scrape(h.server.admin_url)
        assert (value(done, "der_gateway_deliveries_total", outbox="notifications", result="delivered")
                - value(after, "der_gateway_deliveries_total", outbox="notifications", result="delivered")
                ) == len(receiver.received)
    finally:
        await receiver.stop()


async def test_events_by_state_follow_the_clock(world):
    h, device, edev, program, clock = world

    async def controls() -> dict[str, float]:
        samples = await scrape(h.server.admin_url)
        return {state: value(samples, "der_gateway_events", kind="control", state=state)
                for state in ("scheduled", "active", "completed", "cancelled")}

    assert await controls() == {"scheduled": 0, "active": 0, "completed": 0, "cancelled": 0}
    await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 60, 300))
    await der_controls.create_event(h.store, clock, PEN, program, control(T0 + 1000, 300))
    assert await controls() == {"scheduled": 2, "active": 0, "completed": 0, "cancelled": 0}
    clock.set(T0 + 60)
    assert await controls() == {"scheduled": 1, "active": 1, "completed": 0, "cancelled": 0}
    clock.set(T0 + 400)
    assert await controls() == {"scheduled": 1, "active": 0, "completed": 1, "cancelled": 0}


async def test_the_console_walking_a_device_tree_is_no_client_of_the_listener(world):
    h, device, edev, program, clock = world
    admin = h.server.admin_url
    before = await scrape(admin)
    _, refused_before = await admin_get(admin, "/refusals")
    status, tree = await admin_get(admin, f"/end-devices/{int(edev.rsplit('/', 1)[1])}/tree")
    assert status == 200 and tree["resources"][0]["href"] == "/dcap"
    after = await scrape(admin)
    walked = {key: n - before.get(key, 0) for key, n in after.items()
              if key[0] == "der_gateway_requests_total" and n != before.get(key, 0)}
    assert walked and all(dict(labels)["listener"] in ("in-process", "admin") for _, labels in walked)
    assert sum(n for (_, labels), n in walked.items() if dict(labels)["listener"] == "in-process") == len(
        tree["resources"])
    assert (await admin_get(admin, "/refusals"))[1]["by_reason"] == refused_before["by_reason"]


async def test_end_devices_by_contact_age(world):
    h, device, edev, program, clock = world  # device1 registered its EndDevice at T0

    async def by_age() -> dict[str, float]:
        samples = await scrape(h.server.admin_url)
        return {age: value(samples, "der_gateway_end_devices_by_contact_age", age=age)
                for age in ("5m", "1h", "1d", "older")}

    async def contacted() -> dict[str, float] | None:
        found = await by_age()
        return found if found["5m"] == 1 else None

    assert await eventually(contacted, what="the contact in the gauge") == {"5m": 1, "1h": 0, "1d": 0, "older": 0}
    clock.advance(1800)
    assert await by_age() == {"5m": 0, "1h": 1, "1d": 0, "older": 0}
    clock.advance(86400)
    assert await by_age() == {"5m": 0, "1h": 0, "1d": 0, "older": 1}


async def test_json_log_lines_carry_the_client_lfdi(harness, identities):
    device = harness.client("device1")
    with json_logs() as stream:
        assert (await device.get("/edev/999999")).status in (403, 404)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert all({"ts", "level", "event", "lfdi", "message"} <= set(line) for line in lines)
    (refusal,) = [line for line in lines if line["event"] == "refusal"]
    assert refusal["lfdi"] == identities["device1"].lfdi
    assert refusal["kind"] == "http" and refusal["path"] == "/edev/999999" and refusal["level"] == "info"


async def test_json_log_lines_of_service_task_transitions(make_harness, identities):
    from .test_enrollment import open_site, registration

    site = await open_site(make_harness, identities, background=True)
    try:
        site.harness.server.background.service_tasks.interval = 0.05
        with json_logs() as stream:
            answer = await site.aggregator.ok("POST", "/registerDERDevice", registration(site.lfdi("device1")), 201)
            task_id = answer["serviceTask"]["id"]

            async def completed() -> bool:
                return (await site.admin.ok("GET", f"/service-tasks/{task_id}"))["state"] == "Completed"

            await eventually(completed, what="the task completed")
    finally:
        await site.harness.stop()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    steps = [(line["from_state"], line["state"]) for line in lines
             if line["event"] == "task-transition" and line["task_id"] == task_id]
    assert steps == [("Pending", "Processing"), ("Processing", "Completed")]


def test_the_metrics_documentation_lists_every_declared_metric():
    doc = (Path(__file__).parent.parent / "docs" / "metrics.md").read_text()
    assert metrics.documentation() in doc, "docs/metrics.md is stale: regenerate its table " \
                                           "(python -m der_gateway.observability.metrics)"
    for metric in metrics.COUNTED:
        assert f"`{metric._name}" in doc
        assert metric._labelnames, f"{metric._name} has no labels: it would have a value before the workers fork"
    for gauge in metrics.STORE_GAUGES:
        assert f"`{gauge.name}`" in doc


# -- several workers --------------------------------------------------------------------------------------------


async def start_gateway(tmp_path: Path, certs_dir: Path, workers: int) -> Gateway:
    config = tmp_path / "server.toml"
    config.write_text(f'admin_port = 0\nhttp_redirect_port = 0\nadmin_token = "{ADMIN_TOKEN}"\n')
    log, out = tmp_path / "serve.log", tmp_path / "serve.out"
    proc = subprocess.Popen([sys.executable, "-m", "der_gateway", "serve", "--workers", str(workers),
                             "--port", "0", "--config", str(config), "--data-dir", str(tmp_path / "var"),
                             "--certs-dir", str(certs_dir), "--log-format", "json"],
                            stdout=out.open("wb"), stderr=log.open("wb"))
    deadline = time.monotonic() + 60
    while "worker processes:" not in (text := out.read_text()):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"serve did not start ({proc.poll()}):\n{text}\n{log.read_text()}")
        await asyncio.sleep(0.05)
    gateway = Gateway(proc, tmp_path / "var", certs_dir, log, text)
    gateway.port = int(re.search(r"at https://127\.0\.0\.1:([0-9]+)/dcap", text).group(1))
    gateway.admin_port = int(re.search(r"admin API at http://127\.0\.0\.1:([0-9]+)", text).group(1))
    return gateway


async def test_metrics_and_views_of_two_workers_are_the_whole_servers(tmp_path, certs_dir, foreign_certs_dir,
                                                                     identities):
    gateway = await start_gateway(tmp_path, certs_dir, workers=2)
    workers = gateway.workers
    try:
        assert len(workers) == 2
        admin = f"http://127.0.0.1:{gateway.admin_port}"
        # a connection served by each worker, each answering GET /dcap once more on it
        pinned = await gateway.connect_to(workers, gateway.port, client_context(certs_dir, "device1"),
                                          ("GET", "/dcap"))
        for conn in pinned.values():
            assert (await conn.request("GET", "/dcap")).status == 200
            assert (await conn.request("GET", "/nothing-here")).status == 404
        served = len(gateway.pinned) + len(pinned)  # every connection's probe, and the second GET on two of them
        for _ in range(4):
            await refused_handshake(f"https://127.0.0.1:{gateway.port}", foreign_context(certs_dir, foreign_certs_dir))

        async def counted() -> Samples | None:  # a worker hands its request counts over within a second
            samples = await scrape(admin)
            done = (value(samples, "der_gateway_tls_handshakes_total", result="failed") == 4
                    and value(samples, "der_gateway_requests_total", listener="sep", route="/dcap", method="GET",
                              status="200") >= served
                    and value(samples, "der_gateway_requests_total", listener="sep", route="unmatched",
                              method="GET", status="404") >= 2)
            return samples if done else None

        samples = await eventually(counted, what="every worker's counts in /metrics")
        assert value(samples, "der_gateway_requests_total", listener="sep", route="/dcap", method="GET",
                     status="200") == served
        assert value(samples, "der_gateway_requests_total", listener="sep", route="unmatched", method="GET",
                     status="404") == 2
        assert value(samples, "der_gateway_tls_handshakes_total", result="ok") == len(gateway.pinned)
        assert value(samples, "der_gateway_refusals_total", kind="tls", reason="unknown certificate") == 4
        assert value(samples, "der_gateway_open_connections", listener="sep") == len(gateway.pinned)

        # every scrape, whichever worker answered it, sees the same counts
        for _ in range(6):
            again = await scrape(admin)
            assert value(again, "der_gateway_requests_total", listener="sep", route="/dcap", method="GET",
                         status="200") == served

        async def all_connections() -> dict | None:
            _, view = await admin_get(admin, "/connections")
            requests = sum(c["requests"] for c in view["clients"])
            return view if view["open"] == len(gateway.pinned) and requests == served + 2 else None

        view = await eventually(all_connections, what="both workers' connections and requests in /connections")
        assert {c["lfdi"] for c in view["clients"]} == {identities["device1"].lfdi}

        async def all_refusals() -> dict | None:
            _, view = await admin_get(admin, "/refusals")
            counts = {(r["kind"], r["reason"]): r["count"] for r in view["by_reason"]}
            return view if counts == {("tls", "unknown certificate"): 4, ("http", "not found"): 2} else None

        await eventually(all_refusals, what="both workers' refusals in /refusals")

        # a worker killed: what it counted stays counted, its connections leave the gauge and the view
        victim, survivor = sorted(workers)
        held = len([conn for conn in gateway.pinned if conn.worker == survivor])
        os.kill(victim, signal.SIGKILL)

        async def replaced() -> bool:
            return victim not in gateway.workers and len(gateway.workers) == 2

        await eventually(replaced, what="a new worker in the killed one's place")

        async def gauge_settled() -> Samples | None:
            samples = await scrape(admin)
            return samples if value(samples, "der_gateway_open_connections", listener="sep") == held else None

        samples = await eventually(gauge_settled, what="the killed worker's connections to leave the gauge")
        assert value(samples, "der_gateway_requests_total", listener="sep", route="/dcap", method="GET",
                     status="200") == served
        assert value(samples, "der_gateway_tls_handshakes_total", result="failed") == 4
        _, view = await admin_get(admin, "/connections")
        assert view["open"] == held
    finally:
        returncode = await gateway.stop()
    assert returncode == 0, gateway.log.read_text()
    assert not [pid for pid in workers if alive(pid)]
    lines = [json.loads(line) for line in gateway.log.read_text().splitlines() if line.startswith("{")]
    refusals = [line for line in lines if line["event"] == "refusal" and line["kind"] == "http"]
    assert len(refusals) == 2 and {line["lfdi"] for line in refusals} == {identities["device1"].lfdi}


async def test_the_request_tally_hands_over_what_observing_each_request_would_count():
    buckets = (0.001, 0.01, 0.1, 1.0)
    registry, direct_registry = CollectorRegistry(), CollectorRegistry()
    requests = Counter("r", "requests", ["listener", "route", "method", "status"], registry=registry)
    seconds = Histogram("s", "seconds", ["listener", "route"], buckets=buckets, registry=registry)
    direct = Histogram("s", "seconds", ["listener", "route"], buckets=buckets, registry=direct_registry)
    tally = metrics.RequestTally(requests, seconds, delay=0.05)
    answers = [("/dcap", 200, 0.0005), ("/dcap", 200, 0.001), ("/dcap", 404, 0.0011), ("/edev", 201, 0.5),
               ("/edev", 201, 1.0), ("/edev", 201, 42.0), ("/dcap", 200, 0.01)]
    for route, status, took in answers:
        tally.add("sep", route, "GET", status, took)
        direct.labels("sep", route).observe(took)
    assert registry.get_sample_value("r_total", {"listener": "sep", "route": "/dcap", "method": "GET",
                                                 "status": "200"}) is None  # not handed over yet
    await asyncio.sleep(0.3)  # the timer hands it over, without a scrape
    assert registry.get_sample_value("r_total", {"listener": "sep", "route": "/dcap", "method": "GET",
                                                 "status": "200"}) == 3
    assert registry.get_sample_value("r_total", {"listener": "sep", "route": "/edev", "method": "GET",
                                                 "status": "201"}) == 3

    def histogram(reg: CollectorRegistry) -> dict[tuple[str, str, str], float]:
        return {(s.name, s.labels["route"], s.labels.get("le", "")): s.value
                for family in reg.collect() if family.name == "s" for s in family.samples
                if not s.name.endswith("_created")}

    assert histogram(registry) == histogram(direct_registry)
    tally.add("sep", "/dcap", "GET", 200, 0.002)
    tally.flush()  # as at exposition
    assert registry.get_sample_value("s_count", {"listener": "sep", "route": "/dcap"}) == 5
