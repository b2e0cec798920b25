"""The operator console (admin/console/) in a real browser: Debian's chromium driven by Playwright, against a
real server whose devices talk 2030.5 over real TLS.  Screenshots of each page go to test-artifacts/console/.

Without chromium the browser test is skipped, unless DER_GATEWAY_BROWSER=required (as .ci/run sets), when it
fails.  The console keeps no data of its own, so one backend (SQLite) is enough here; the endpoints it calls
are tested on both elsewhere."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest

from der_gateway.config import Config
from der_gateway.domain.identifiers import new_mrid
from der_gateway.sep import codec, model
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.store import EndDeviceRecord

from .conftest import Harness
from .test_enrollment import PEN, TOKEN, Api, registration
from .test_observability import foreign_context, refused_handshake
from .test_participation_api import telemetry

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "console"
WAIT_MS = 30_000  # generous: the machine is shared
DEAD_RECEIVER = "http://127.0.0.1:9/notify"  # nothing listens on the discard port
NAME = 'Ada <img src=x onerror="document.title=1"> Lovelace'  # must show as text, never become markup


def browser_or_skip() -> Path:
    if not CHROMIUM.exists():
        if os.environ.get("DER_GATEWAY_BROWSER") == "required":
            pytest.fail(f"{CHROMIUM} is missing and DER_GATEWAY_BROWSER=required")
        pytest.skip(f"{CHROMIUM} is not installed")
    return CHROMIUM


@pytest.fixture
async def server(tmp_path: Path, certs_dir: Path) -> AsyncIterator[Harness]:
    h = Harness(Config(port=0, admin_port=0, admin_token=TOKEN, data_dir=tmp_path / "var", certs_dir=certs_dir,
                       notification_allow=("http://127.0.0.1:",), notification_allow_addresses=("127.0.0.1/32",)))
    await h.start()
    yield h
    await h.stop()


async def raw(session: aiohttp.ClientSession, url: str, token: str | None = None) -> tuple[int, dict, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with session.get(url, headers=headers, allow_redirects=False) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_the_console_is_served_without_a_token_under_a_strict_policy_and_nothing_else_is(server):
    base = server.server.admin_url
    async with aiohttp.ClientSession() as session:
        status, headers, _ = await raw(session, base + "/")
        assert (status, headers["Location"]) == (302, "/console/")

        status, headers, body = await raw(session, base + "/console/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'<script type="module" src="/console/app.js">' in body
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        for asset, content_type in [("app.js", "text/javascript"), ("views/devices.js", "text/javascript"),
                                    ("style.css", "text/css")]:
            status, headers, body = await raw(session, f"{base}/console/{asset}")
            assert status == 200 and headers["Content-Type"].startswith(content_type), (asset, status)
            assert headers["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in headers
        # the page inserts data as text only, and carries no inline script for the policy to have to allow
        sources = b"".join((Path(__file__).resolve().parent.parent / "src/der_gateway/admin/console" / p).read_bytes()
                           for p in ("app.js", "dom.js", "views/devices.js", "views/events.js"))
        assert b"innerHTML" not in sources and b"<script>" not in body

        # the API itself still wants the token
        status, _, body = await raw(session, base + "/programs")
        assert status == 401 and json.loads(body)["errors"][0]["reason"] == "a bearer token is required"
        status, _, _ = await raw(session, base + "/programs", TOKEN)
        assert status == 200

        # only the console's own files, by exact name: no way out of its directory
        for path in ("/console/../admin/app.py", "/console/%2e%2e/app.py", "/console/..%2Fapp.py",
                     "/console/views/../../app.py", "/console/console_files.py", "/console/nothing.js",
                     "/console//etc/passwd", "/console/%2Fetc%2Fpasswd"):
            status, _, body = await raw(session, base + path)
            assert status in (401, 404), (path, status)
            assert b"import" not in body and b"root:" not in body, path



async def test_head_answers_as_get_without_the_body(server):
    base = server.server.admin_url
    async with aiohttp.ClientSession() as session:
        for path in ("/console/", "/console/app.js", "/console/views/events.js", "/console/style.css"):
            status, got, body = await raw(session, base + path)
            async with session.head(base + path, allow_redirects=False) as resp:
                assert resp.status == status == 200, path
                assert await resp.read() == b"", path
                for header in ("Content-Type", "Content-Security-Policy", "X-Content-Type-Options"):
                    assert resp.headers[header] == got[header], (path, header)
                assert int(resp.headers["Content-Length"]) == len(body), path
        for path in ("/", "/console"):
            async with session.head(base + path, allow_redirects=False) as resp:
                assert (resp.status, resp.headers["Location"]) == (302, "/console/"), path
        async with session.head(base + "/console/nothing.js", allow_redirects=False) as resp:
            assert resp.status == 404 and await resp.read() == b""

# -- the console in a browser ----------------------------------------------------------------------------

async def open_fleet(h: Harness, identities) -> tuple[Api, dict[str, Any]]:
    """A program, a customer with a service point on feeder F7, and three devices an aggregator registered in it
    (processed, so enrolled), each having talked to the server over its own TLS connection: DER status, an hour
    of 5-minute power readings at 2000, 3000 and 4000 W."""
    session = aiohttp.ClientSession()
    h.sessions.append(session)
    admin = Api(session, h.server.admin_url, TOKEN)
    aggregator = Api(h.client("aggregator").session, h.server.url + "/api/v1")
    program = await admin.ok("POST", "/programs", {"primacy": 1, "description": "battery storage"}, 201)
    await admin.ok("PUT", f"/programs/{program['id']}/rules",
                   {"code": "STORAGE", "eligibility": {"derTypes": [80], "capacityW": {"min": 1000, "max": 20000}}})
    await admin.ok("PUT", f"/programs/{program['id']}/default-control",
                   {"DERControlBase": {"opModConnect": True}, "setGradW": 20}, 201)
    customer = await admin.ok("POST", "/customers", {
        "externalId": "C-1", "name": NAME, "accounts": [{"externalId": "A-1", "servicePoints": [
            {"externalId": "SP-1", "address": "1 Volta St", "substation": "S1", "feeder": "F7"}]}]}, 201)
    asset_type = await admin.ok("POST", "/asset-types", {"code": "BATTERY", "derType": 80,
                                                         "defaultProgramId": program["id"]}, 201)
    await admin.ok("POST", "/device-models", {"assetTypeId": asset_type["id"], "manufacturer": "Tesla",
                                              "model": "Powerwall 2", "spec": {}}, 201)
    await admin.ok("PUT", f"/aggregators/{identities['aggregator'].lfdi}/customers/{customer['id']}", status=204)
    # an operations endpoint nothing listens at: each enrollment's message to it fails, to be retried
    await admin.ok("POST", "/sync/endpoints", {"name": "derms", "url": "http://127.0.0.1:9/derms"}, 201)
    now = int(time.time())
    ids: dict[str, Any] = {"program": program["id"]}
    for n, watts in ((1, 20), (2, 30), (3, 40)):
        name = f"device{n}"
        answer = await aggregator.ok("POST", "/registerDERDevice",
                                     registration(identities[name].lfdi, serial=f"PW-000{n}"), 201)
        task = await admin.ok("POST", f"/service-tasks/{answer['serviceTask']['id']}/process")
        assert task["state"] == "Completed", task
        edev = ids[name] = answer["endDevice"]["id"]
        status = model.DERStatus(genConnectStatus=model.ConnectStatusType(dateTime=now, value="07"), readingTime=now)
        reply = await h.client("aggregator").put(f"/edev/{edev}/der/1/ders", codec.encode(status))
        assert reply.status in (201, 204), reply.reason
        device = h.client(name)
        reply = await device.get("/dcap")
        assert reply.status == 200, reply.reason
        reply = await device.get(f"/edev/{edev}")
        assert reply.status == 200, reply.reason
        if name == "device2":  # to a receiver that is not there: its notifications fail
            reply = await device.post(f"/edev/{edev}/sub", codec.encode(model.Subscription(
                subscribedResource=f"/derp/{program['id']}/derc", encoding=0, level="-S1", limit=10,
                notificationURI=DEAD_RECEIVER)))
            assert reply.status == 201, reply.reason
        reply = await h.client("aggregator").post("/mup", telemetry(identities[name].lfdi.upper(),
                                                                   [(now - now % 300 - 3600, watts)]))
        assert reply.status == 201, reply.reason
    for serial in ("PW-0101", "PW-0102"):  # two interconnection requests for engineering to decide
        task = await admin.ok("POST", "/interconnectDER", {
            "customer": "C-1", "servicePoint": "SP-1",
            "device": {"manufacturer": "Tesla", "model": "Powerwall 2", "serialNumber": serial},
            "interconnection": {"exportLimitW": 5000, "inverterCount": 1, "phases": 1}}, 201)
        ids[serial] = task["serviceTask"]["id"]
    return admin, ids


async def respond(h: Harness, identities, name: str, subject: str, status: int) -> None:
    body = model.DERControlResponse(createdDateTime=int(time.time()), endDeviceLFDI=identities[name].lfdi,
                                    status=status, subject=subject)
    reply = await h.client(name).post("/rsps/1/rsp", codec.encode(body))
    assert reply.status == 201, reply.reason


async def test_an_operator_finds_a_device_reads_its_tree_creates_an_event_and_watches_it(server, identities, certs_dir,
                                                                                       foreign_certs_dir):
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright, expect
    expect.set_options(timeout=WAIT_MS)

    admin, ids = await open_fleet(server, identities)
    reply = await server.client("device1").get("/no/such/resource")  # a refusal for the health page
    assert reply.status == 404
    await refused_handshake(server.server.url, foreign_context(certs_dir, foreign_certs_dir))  # and a TLS one
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)

            # the login page: a wrong token is refused with the API's reason, the right one is kept for the tab
            await page.goto(server.server.admin_url + "/")
            assert page.url.endswith("/console/")
            await page.fill("#token", "not-the-token-at-all-0000")
            await page.click("#login-form button[type=submit]")
            await expect(page.locator("#login-error")).to_contain_text("the bearer token is wrong")
            await page.screenshot(path=ARTIFACTS / "login.png")
            await page.fill("#token", TOKEN)
            await page.click("#login-form button[type=submit]")
            await expect(page.locator("#nav")).to_be_visible()
            assert TOKEN not in page.url
            assert await page.evaluate("t => Object.values(sessionStorage).includes(t)", TOKEN)
            assert not await page.evaluate("t => Object.values(localStorage).includes(t)", TOKEN)

            # a device by a case-blind LFDI prefix, then its page: the tree as it sees it, one resource's XML
            lfdi = identities["device2"].lfdi.upper()
            await page.goto(server.server.admin_url + "/console/#/devices")
            await page.fill("#device-q", lfdi[:10].lower())
            await page.select_option("#device-by", "lfdi")
            await page.click("#device-results >> xpath=.. >> button[type=submit]")
            rows = page.locator("#device-results tbody tr")
            await expect(rows).to_have_count(1)
            await expect(rows.first).to_contain_text(lfdi)
            await expect(rows.first).to_contain_text(NAME)  # as text: no element made of it
            assert await page.locator("#device-results img").count() == 0
            await page.screenshot(path=ARTIFACTS / "devices.png", full_page=True)
            for text, by in (("f7", "feeder"), ("lovelace", "customer"), ("sp-1", "service-point")):
                await page.fill("#device-q", text)
                await page.select_option("#device-by", by)
                await page.click("#device-results >> xpath=.. >> button[type=submit]")
                await expect(page.locator("#device-results .count")).to_have_text("3 device(s)")
            await page.fill("#device-q", lfdi[:10].lower())
            await page.select_option("#device-by", "lfdi")
            await page.click("#device-results >> xpath=.. >> button[type=submit]")
            await expect(rows).to_have_count(1)
            await rows.first.locator("a").first.click()
            await page.wait_for_url(f"**/console/#/devices/{ids['device2']}")
            await expect(page.locator("#device-lfdi")).to_have_text(lfdi)
            await expect(page.locator("#last-contact")).not_to_have_text("never")
            await expect(page.locator("#tree li").nth(3)).to_be_visible()
            await page.locator("#tree button", has_text="/dcap").first.click()
            await expect(page.locator("#xml-viewer pre")).to_contain_text("<DeviceCapability")
            await page.locator("#tree button", has_text=f"/edev/{ids['device2']}").first.click()
            await expect(page.locator("#xml-viewer pre")).to_contain_text(lfdi)
            await expect(page.locator("section", has_text="Subscriptions").locator("tbody tr")).to_contain_text(
                DEAD_RECEIVER)
            await expect(page.locator('.telemetry[data-unit="W"] svg.chart polyline')).to_have_count(1)
            await page.screenshot(path=ARTIFACTS / "device.png", full_page=True)

            # an event created through the form, confirmed in the dialog
            await page.goto(server.server.admin_url + "/console/#/events")
            await expect(page.locator("#event-program option")).to_have_count(1)
            # the API's refusal is shown with its reasons, field by field
            await page.fill("#event-base", '{"opModMaxLimW": "half"}')
            await page.click("#event-form button[type=submit]")
            await page.click("#confirm-ok")
            await expect(page.locator("#event-result .error")).to_contain_text("opModMaxLimW")
            assert (await admin.ok("GET", f"/programs/{ids['program']}/controls"))["items"] == []
            await page.fill("#event-base", '{"opModMaxLimW": 5000}')
            await page.fill("#event-description", "console test")
            await page.fill("#event-start", "1")
            await page.fill("#event-duration", "30")
            await page.click("#event-form button[type=submit]")
            await expect(page.locator("#confirm")).to_be_visible()
            await expect(page.locator("#confirm-message")).to_contain_text("battery storage")
            await page.click("#confirm-ok")
            await page.wait_for_url("**/console/#/events/control/*")
            control_id = int(page.url.rsplit("/", 1)[1])
            control = await admin.ok("GET", f"/controls/{control_id}")
            assert control["description"] == "console test" and control["programId"] == ids["program"]
            assert control["DERControlBase"] == {"opModMaxLimW": 5000}

            # participation moves as the devices answer, without reloading the page
            def count(status: str):
                return page.locator(f'#participation-counts [data-status="{status}"] .n')

            await expect(count("no_response")).to_have_text("3")
            await respond(server, identities, "device1", control["mRID"], 1)  # received
            await expect(count("received")).to_have_text("1")
            await respond(server, identities, "device2", control["mRID"], 2)  # started
            await respond(server, identities, "device3", control["mRID"], 4)  # opted out
            await expect(count("started")).to_have_text("1")
            await expect(count("opted_out")).to_have_text("1")
            await respond(server, identities, "device1", control["mRID"], 3)  # completed
            await expect(count("completed")).to_have_text("1")
            await expect(count("received")).to_have_text("0")
            await expect(count("no_response")).to_have_text("0")
            await expect(page.locator("svg.chart polyline")).to_have_count(1)  # the fleet's power
            await page.screenshot(path=ARTIFACTS / "event.png", full_page=True)

            # cancelling asks first: declined, nothing happens; confirmed, the event is cancelled
            await page.click("#cancel-event")
            await expect(page.locator("#confirm")).to_be_visible()
            await page.click("#confirm-cancel")
            await expect(page.locator("#confirm")).to_be_hidden()
            assert (await admin.ok("GET", f"/controls/{control_id}"))["cancelledAt"] is None
            await page.click("#cancel-event")
            await page.click("#confirm-ok")
            await expect(page.locator("#event-status")).to_contain_text("CANCELED")
            assert (await admin.ok("GET", f"/controls/{control_id}"))["cancelledAt"] is not None
            await expect(page.locator("main")).not_to_contain_text("Cancel event…")

            # a utility event of two stages, made through the API, on the timeline and on its own page
            soon = int(time.time()) + 3600
            utility = await admin.ok("POST", "/utility-events", {"description": "evening peak", "stages": [
                {"programId": ids["program"], "interval": {"start": soon, "duration": 600},
                 "DERControlBase": {"opModMaxLimW": 2000}},
                {"programId": ids["program"], "interval": {"start": soon + 1200, "duration": 600},
                 "DERControlBase": {"opModMaxLimW": 1000}}]}, 201)
            await page.click('#nav a[data-section="events"]')
            await expect(page.locator(f'a[href="#/events/control/{control_id}"]').first).to_be_visible()
            await expect(page.locator("svg.timeline rect.span")).to_have_count(3)  # the event, and two stages
            await page.screenshot(path=ARTIFACTS / "events.png", full_page=True)
            await page.locator(f'main table a[href="#/events/utility/{utility["id"]}"]').click()
            await expect(page.locator("#event-status")).to_have_text("SCHEDULED")
            await expect(page.locator("main section", has_text="Utility event").locator("tbody tr")).to_have_count(2)
            await expect(page.locator('#participation-counts [data-status="reserved"] .n')).to_have_text("3")
            await page.screenshot(path=ARTIFACTS / "utility-event.png", full_page=True)

            await page.click('#nav a[data-section="programs"]')
            await expect(page.locator("main table")).to_contain_text("battery storage")
            await expect(page.locator("main table pre.json")).to_contain_text('"setGradW": 20')
            await expect(page.locator(f'main table a[href="#/events/control/{control_id}"]')).to_have_text("console test")
            await page.screenshot(path=ARTIFACTS / "programs.png", full_page=True)

            await page.click('#nav a[data-section="tasks"]')
            await expect(page.locator('.count-box[data-task-state="Completed"] .n')).to_have_text("3")
            await expect(page.locator('.count-box[data-task-state="Pending"] .n')).to_have_text("2")
            await page.screenshot(path=ARTIFACTS / "tasks.png", full_page=True)
            awaiting = page.locator("section", has_text="Awaiting engineering approval").locator("tbody tr")
            await expect(awaiting).to_have_count(2)
            approve = awaiting.filter(has_text=str(ids["PW-0101"])).first
            await approve.locator("button.approve").click()
            await page.click("#confirm-ok")
            await expect(page.locator("#task-notice")).to_have_text("Done.")
            assert (await admin.ok("GET", f"/service-tasks/{ids['PW-0101']}"))["state"] == "Completed"
            # a rejection needs engineering's reason; without one the dialog stays open
            reject = awaiting.filter(has_text=str(ids["PW-0102"])).first.locator("button.danger")
            await reject.click()
            await page.click("#confirm-cancel")  # declining needs no reason
            await expect(page.locator("#confirm")).to_be_hidden()
            assert (await admin.ok("GET", f"/service-tasks/{ids['PW-0102']}"))["state"] == "Pending"
            await reject.click()
            await page.click("#confirm-ok")
            await expect(page.locator("#confirm")).to_be_visible()
            await page.fill("#confirm-reason", "feeder at capacity")
            await page.click("#confirm-ok")
            await expect(page.locator("#task-notice")).to_have_text("Done.")
            rejected = await admin.ok("GET", f"/service-tasks/{ids['PW-0102']}")
            assert rejected["state"] == "Error" and "feeder at capacity" in rejected["approval"]["reason"]
            await expect(awaiting).to_have_count(0)
            # an enrollment message the endpoint never took, sent again now
            messages = page.locator("section", has_text="Enrollment sync messages")
            retry = messages.locator("tbody tr button", has_text="Retry").first
            await expect(retry).to_be_visible()
            message_id = int(await retry.locator("xpath=ancestor::tr/td[1]").text_content())
            tried = (await admin.ok("GET", f"/sync/messages/{message_id}"))["attempts"]
            await retry.click()
            await page.click("#confirm-ok")
            await expect(page.locator("#task-notice")).to_have_text("Done.")
            deadline = time.monotonic() + WAIT_MS / 1000
            while (await admin.ok("GET", f"/sync/messages/{message_id}"))["attempts"] <= tried:
                assert time.monotonic() < deadline, "the retried message was not sent again"
                await asyncio.sleep(0.2)
            await page.screenshot(path=ARTIFACTS / "tasks-after.png", full_page=True)

            await page.click('#nav a[data-section="health"]')
            await expect(page.locator("#open-connections")).to_contain_text("open connection")
            await expect(page.locator("main")).to_contain_text("/no/such/resource")
            refusals = page.locator("section", has_text="Refusals").locator("table").first.locator("tbody tr")
            await expect(refusals.filter(has_text="tls")).to_contain_text("unknown certificate")
            await expect(refusals.filter(has_text="not found")).to_contain_text("http")
            failing = page.locator('[data-outbox="Notifications"] tbody tr')  # the new event, undeliverable
            await expect(failing.first).to_contain_text(DEAD_RECEIVER)
            await page.screenshot(path=ARTIFACTS / "health.png", full_page=True)
        finally:
            await browser.close()
    assert problems == []


def test_serve_prints_where_the_console_is_and_where_its_token_is(tmp_path, certs_dir):
    config = tmp_path / "server.toml"
    config.write_text("admin_port = 0\n")
    out = tmp_path / "serve.out"
    proc = subprocess.Popen([sys.executable, "-m", "der_gateway", "serve", "--workers", "1", "--port", "0",
                             "--config", str(config), "--data-dir", str(tmp_path / "var"), "--certs-dir", str(certs_dir)],
                            stdout=out.open("wb"), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while "operator console at" not in (text := out.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.1)
        match = re.search(r"operator console at (http://127\.0\.0\.1:[0-9]+/console/) \(sign in with the token in (\S+)\)",
                          text)
        assert match, text
        token = Path(match.group(2)).read_text().strip()
        with urllib.request.urlopen(match.group(1)) as resp:
            assert resp.status == 200 and b"Admin token" in resp.read()
        api = urllib.request.Request(match.group(1).replace("/console/", "/programs"),
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(api) as resp:
            assert json.loads(resp.read()) == {"items": []}
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def test_the_demo_prints_the_console_and_writes_its_token(tmp_path):
    out = tmp_path / "demo.out"
    proc = subprocess.Popen([sys.executable, "-m", "der_gateway", "demo", "--devices", "1", "--event-seconds", "30",
                             "--data-dir", str(tmp_path / "var"), "--certs-dir", str(tmp_path / "certs")],
                            stdout=out.open("wb"), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while "console " not in (text := out.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.1)
        match = re.search(r"console  (http://127\.0\.0\.1:[0-9]+/console/) while the demo runs "
                          r"\(the token is in (\S+)\)", text)
        assert match, text
        assert Path(match.group(2)) == tmp_path / "var" / "admin-token"
        token = Path(match.group(2)).read_text().strip()
        with urllib.request.urlopen(match.group(1)) as resp:
            assert resp.status == 200 and b"Admin token" in resp.read()
        api = urllib.request.Request(match.group(1).replace("/console/", "/programs"),
                                     headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(api) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=60)


async def test_the_participation_table_is_read_a_page_at_a_time(server):
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright, expect
    expect.set_options(timeout=WAIT_MS)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    session = aiohttp.ClientSession()
    server.sessions.append(session)
    admin = Api(session, server.server.admin_url, TOKEN)
    group = await admin.ok("POST", "/groups", {"description": "many"}, 201)
    lfdis = [f"{i:09X}{'A' * 31}" for i in range(1, 121)]  # each its own SFDI (the first 36 bits)
    ids = list(await server.store.bulk_add_end_devices(
        [EndDeviceRecord(0, lfdi, sfdi_from_lfdi(lfdi), lfdi, 0, 111115, 0) for lfdi in lfdis], group_id=group["id"]))
    program = await admin.ok("POST", "/programs", {"primacy": 1, "description": "many"}, 201)
    await admin.ok("PUT", f"/groups/{group['id']}/programs/{program['id']}", status=204)
    control = await admin.ok("POST", f"/programs/{program['id']}/controls", {
        "interval": {"start": int(time.time()) + 3600, "duration": 600}, "DERControlBase": {"opModMaxLimW": 1000}},
        201)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), headless=True)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            await page.goto(server.server.admin_url + "/console/")
            await page.fill("#token", TOKEN)
            await page.click("#login-form button[type=submit]")
            await expect(page.locator("#nav")).to_be_visible()
            await page.goto(server.server.admin_url + f"/console/#/events/control/{control['id']}")
            rows = page.locator("#participation tbody tr")
            await expect(page.locator('#participation-counts [data-status="no_response"] .n')).to_have_text("120")
            await expect(page.locator("#participation-range")).to_have_text("devices 1–50 of 120")
            await expect(rows).to_have_count(50)
            await expect(rows.first).to_contain_text(lfdis[0])
            await expect(page.locator("#participation-previous")).to_be_disabled()
            await page.click("#participation-next")
            await expect(page.locator("#participation-range")).to_have_text("devices 51–100 of 120")
            await expect(rows.first).to_contain_text(lfdis[50])
            await page.click("#participation-next")
            await expect(page.locator("#participation-range")).to_have_text("devices 101–120 of 120")
            await expect(rows).to_have_count(20)
            await expect(rows.last).to_contain_text(lfdis[-1])
            await expect(page.locator("#participation-next")).to_be_disabled()
            await page.screenshot(path=ARTIFACTS / "participation-pages.png", full_page=True)
            await page.click("#participation-previous")
            await expect(page.locator("#participation-range")).to_have_text("devices 51–100 of 120")
            assert len(ids) == 120
        finally:
            await browser.close()
