"""The operator's admin API, against a real server: auth, every resource, validation, events, grants."""

from __future__ import annotations

import json
import os
import secrets
import stat
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest
import yarl

from der_gateway.admin import TOKEN, create_admin_app, start_admin
from der_gateway.admin.app import SPEC
from der_gateway.clock import ManualClock
from der_gateway.admin.routes_end_devices import CREATE, PATCH
from der_gateway.config import Config
from der_gateway.domain.registration import pin_with_check_digit
from der_gateway.sep import codec, model
from der_gateway.sep.identity import sfdi_from_lfdi
from der_gateway.store import sqlite as sqlite_store
from der_gateway.store import sqlite_control_plane
from der_gateway.xsd import load_schemas

from . import documents

ADMIN_TOKEN = "admin-test-token-" + "7" * 20
NOW = (int(time.time()) // 3600) * 3600


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    def fields(self) -> dict[str, str]:
        return {e.get("field"): e["reason"] for e in self.body["errors"]}


@dataclass
class Admin:
    harness: Any
    session: aiohttp.ClientSession
    url: str
    clock: ManualClock

    @property
    def store(self):
        return self.harness.server.store

    async def call(self, method: str, path: str, body: Any = None, *, token: str | None = ADMIN_TOKEN,
                   raw: bytes | None = None, content_type: str = "application/json",
                   headers: dict[str, str] | None = None, encoded: bool = False) -> Answer:
        """encoded: path goes as it is (no normalising of "..", no quoting)."""
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if data is not None:
            sent["Content-Type"] = content_type
        url = yarl.URL(self.url + path, encoded=True) if encoded else self.url + path
        async with self.session.request(method, url, data=data, headers=sent) as resp:
            text = await resp.read()
            parsed = json.loads(text) if text else None
            return Answer(resp.status, parsed, dict(resp.headers))

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        answer = await self.call(method, path, body)
        assert answer.status == status, (method, path, answer.status, answer.body)
        return answer.body

    async def program(self, primacy: int = 10, **extra) -> dict:
        return await self.ok("POST", "/programs", {"primacy": primacy, **extra}, 201)

    async def end_device(self, lfdi: str | None = None, **extra) -> dict:
        answer = await self.call("POST", "/end-devices", {"lFDI": lfdi or secrets.token_hex(20).upper(), **extra})
        assert answer.status in (200, 201), answer.body
        return answer.body

    async def event(self, program_id: int, start: int, duration: int = 600, **extra) -> dict:
        body = {"interval": {"start": start, "duration": duration}, "DERControlBase": {"opModMaxLimW": 5000}, **extra}
        return await self.ok("POST", f"/programs/{program_id}/controls", body, 201)


@pytest.fixture
async def make_admin(make_harness) -> AsyncIterator[Callable]:
    started: list[tuple] = []

    async def make(profile: str = "csip", **settings) -> Admin:
        harness = make_harness(profile=profile, admin_token=ADMIN_TOKEN, admin_port=0, **settings)
        await harness.start()
        # These tests keep time with their own ManualClock; the server's scheduler (on the system
        # clock) and notifier would otherwise write, and empty the change log, between snapshots.
        await harness.server.stop_background()
        clock = ManualClock(NOW)
        schemas = load_schemas(harness.config.profile, harness.config.schema_dir)
        runner, port = await start_admin(harness.config, harness.server.store, schemas, clock)
        session = aiohttp.ClientSession()
        started.append((session, runner, harness))
        return Admin(harness, session, f"http://127.0.0.1:{port}", clock)

    yield make
    for session, runner, harness in started:
        await session.close()
        await runner.cleanup()
        await harness.stop()


@pytest.fixture
async def admin(make_admin) -> AsyncIterator[Admin]:
    yield await make_admin()


@pytest.fixture
def logged_changes(monkeypatch) -> list:
    """Every change href the store logs, whoever consumes the change log afterwards."""
    seen: list = []
    original = sqlite_control_plane.log_changes

    def record(c, changed):
        seen.extend(changed)
        original(c, changed)

    monkeypatch.setattr(sqlite_control_plane, "log_changes", record)
    if hasattr(sqlite_store, "log_changes"):
        monkeypatch.setattr(sqlite_store, "log_changes", record)
    return seen


# -- the API itself ---------------------------------------------------------------------

async def test_every_request_needs_the_bearer_token(admin):
    for token, headers in ((None, None), ("wrong-" + ADMIN_TOKEN, None), (None, {"Authorization": "Basic eDp5"}),
                           (None, {"Authorization": "Bearer"}), (ADMIN_TOKEN[:-1], None)):
        for method, path in (("GET", "/programs"), ("POST", "/programs"), ("GET", "/openapi.json"),
                             ("GET", "/no/such/thing")):
            answer = await admin.call(method, path, token=token, headers=headers)
            assert answer.status == 401, (token, headers, path)
            assert answer.body["errors"][0]["reason"] and answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await admin.call("GET", "/programs")).status == 200
    assert (await admin.call("GET", "/programs", token=None,
                             headers={"Authorization": f"bearer  {ADMIN_TOKEN}"})).status == 200


async def test_unknown_paths_methods_and_bodies_answer_json(admin):
    missing = await admin.call("GET", "/no/such/thing")
    assert missing.status == 404 and missing.body["errors"]
    for path in ("/programs/999", "/programs/abc", "/controls/12345678901234567890", "/groups/7",
                 "/end-devices/3"):
        answer = await admin.call("GET", path)
        assert answer.status == 404 and answer.body["errors"], path
    wrong = await admin.call("PUT", "/programs")
    assert wrong.status == 405 and wrong.body["errors"] and set(wrong.headers["Allow"].split(", ")) >= {"GET", "POST"}
    before = admin.harness.snapshot()
    not_json = await admin.call("POST", "/programs", raw=b"primacy=1", content_type="application/x-www-form-urlencoded")
    assert not_json.status == 415 and not_json.body["errors"]
    huge = await admin.call("POST", "/programs", raw=b'{"description": "' + b"x" * (1024 * 1024) + b'"}')
    assert huge.status == 413 and huge.body["errors"]
    for raw in (b"{", b"[1, 2]", b'{"primacy": 1, "primacy": 2}', b'{"primacy": NaN}', b"", b"[" * 100000):
        answer = await admin.call("POST", "/programs", raw=raw)
        assert answer.status == 400 and answer.body["errors"], raw[:20]
    assert admin.harness.snapshot() == before


async def test_openapi_describes_exactly_the_routes(admin):
    spec = await admin.ok("GET", "/openapi.json")
    assert spec == json.loads(json.dumps(SPEC)) and spec["openapi"].startswith("3.1")
    app = create_admin_app(Config(admin_token=ADMIN_TOKEN), None, None)
    served = {(r.resource.canonical, r.method.lower()) for r in app.router.routes()}
    described = {(path, method) for path, operations in spec["paths"].items() for method in operations}
    assert served == described
    # every path parameter is declared, and every reference resolves
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == {part[1:-1] for part in path.split("/") if part.startswith("{")}, path
    text = json.dumps(spec)
    for name in {part.split('"')[0] for part in text.split('"#/components/schemas/')[1:]}:
        assert name in spec["components"]["schemas"], name


async def test_a_generated_token_is_written_for_the_operator_only(make_harness, tmp_path):
    harness = make_harness(admin_port=0, admin_token=None)
    await harness.start()
    try:
        schemas = load_schemas(harness.config.profile)
        runner, port = await start_admin(harness.config, harness.server.store, schemas)
        try:
            token_file = harness.config.data_dir / "admin-token"
            token = token_file.read_text().strip()
            assert token == runner.app[TOKEN] and len(token) >= 32
            assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
            async with aiohttp.ClientSession() as session:
                async with session.get(f"http://127.0.0.1:{port}/programs",
                                       headers={"Authorization": f"Bearer {token}"}) as resp:
                    assert resp.status == 200
        finally:
            await runner.cleanup()
    finally:
        await harness.stop()
    with pytest.raises(ValueError):
        create_admin_app(Config(admin_token="short"), None, schemas)


# -- programs, default controls and curves ------------------------------------------------

async def test_programs(admin, logged_changes):
    created = await admin.call("POST", "/programs", {"description": "peak shaving", "primacy": 5})
    assert created.status == 201 and created.headers["Location"] == f"/programs/{created.body['id']}"
    program = created.body
    assert (program["description"], program["primacy"], program["groups"]) == ("peak shaving", 5, [])
    assert len(program["mRID"]) == 32 and program["mRID"].endswith(f"{40732:08X}")
    assert program["href"] == f"/derp/{program['id']}"
    mine = await admin.program(mRID="ab" * 16)
    assert mine["mRID"] == "AB" * 16
    taken = await admin.call("POST", "/programs", {"mRID": "AB" * 16, "primacy": 1})
    assert taken.status == 409 and taken.fields() == {"mRID": "another program already has this mRID"}
    listed = await admin.ok("GET", "/programs")
    assert [p["id"] for p in listed["items"]] == [program["id"], mine["id"]]  # by primacy

    group = await admin.ok("POST", "/groups", {"description": "feeder 7"}, 201)
    assert (await admin.call("PUT", f"/groups/{group['id']}/programs/{program['id']}")).status == 204
    logged_changes.clear()
    patched = await admin.ok("PATCH", f"/programs/{program['id']}", {"primacy": 2, "description": None})
    assert (patched["primacy"], patched["description"], patched["groups"]) == (2, None, [group["id"]])
    assert patched["version"] == program["version"] + 1
    assert f"/fsa/{group['id']}/derp" in logged_changes
    refused = await admin.call("PATCH", f"/programs/{program['id']}", {"mRID": "CD" * 16, "primacy": "high"})
    assert refused.status == 400 and refused.fields() == {"mRID": "set by the server", "primacy": "must be an integer"}

    logged_changes.clear()
    assert (await admin.call("DELETE", f"/programs/{program['id']}")).status == 204
    assert f"/fsa/{group['id']}/derp" in logged_changes
    assert (f"/derp/{program['id']}/derc", 4) in logged_changes
    assert (await admin.call("GET", f"/programs/{program['id']}")).status == 404
    assert (await admin.call("DELETE", f"/programs/{program['id']}")).status == 404


VOLT_VAR = {"curveType": 11, "xMultiplier": 0, "yMultiplier": 0, "yRefType": 3,
            "CurveData": [{"xvalue": 9200, "yvalue": 3000}, {"xvalue": 10800, "yvalue": -3000}]}


async def test_curves_and_the_default_control(admin, logged_changes):
    pid = (await admin.program())["id"]
    curve = await admin.ok("POST", f"/programs/{pid}/curves", VOLT_VAR, 201)
    assert curve["creationTime"] == NOW and curve["href"] == f"/derp/{pid}/dc/{curve['id']}"
    assert curve["CurveData"] == VOLT_VAR["CurveData"] and len(curve["mRID"]) == 32
    assert f"/derp/{pid}/dc" in logged_changes
    watt = await admin.ok("POST", f"/programs/{pid}/curves", {**VOLT_VAR, "curveType": 12}, 201)
    assert [c["id"] for c in (await admin.ok("GET", f"/programs/{pid}/curves"))["items"]] == [curve["id"], watt["id"]]
    assert await admin.ok("GET", f"/programs/{pid}/curves/{curve['id']}") == curve
    assert (await admin.call("GET", f"/programs/{pid}/default-control")).status == 404

    default = {"DERControlBase": {"opModConnect": True, "opModVoltVar": {"href": curve["href"]}}, "setGradW": 20}
    first = await admin.call("PUT", f"/programs/{pid}/default-control", default)
    assert first.status == 201 and first.body["setGradW"] == 20 and first.body["href"] == f"/derp/{pid}/dderc"
    assert f"/derp/{pid}/dderc" in logged_changes
    again = await admin.call("PUT", f"/programs/{pid}/default-control", {**default, "mRID": "12" * 16})
    assert again.status == 200 and again.body["mRID"] == "12" * 16
    assert (await admin.ok("GET", f"/programs/{pid}/default-control"))["DERControlBase"] == default["DERControlBase"]

    before = admin.harness.snapshot()
    for link, reason in ((f"/derp/{pid}/dc/999", "no DERCurve"), (watt["href"], "curveType"),
                         (f"/derp/{pid + 1}/dc/{curve['id']}", "of this program"), ("/elsewhere", "of this program")):
        bad = await admin.call("PUT", f"/programs/{pid}/default-control",
                               {"DERControlBase": {"opModVoltVar": {"href": link}}})
        assert bad.status == 400 and reason in bad.fields()["DERControlBase.opModVoltVar.href"], link
    in_use = await admin.call("DELETE", f"/programs/{pid}/curves/{curve['id']}")
    assert in_use.status == 409 and "DefaultDERControl" in in_use.body["errors"][0]["reason"]
    assert admin.harness.snapshot() == before

    await admin.ok("PUT", f"/programs/{pid}/default-control", {"DERControlBase": {"opModConnect": True}})
    event = await admin.event(pid, NOW + 60, DERControlBase={"opModVoltVar": {"href": curve["href"]}})
    in_use = await admin.call("DELETE", f"/programs/{pid}/curves/{curve['id']}")
    assert in_use.status == 409 and f"event {event['id']}" in in_use.body["errors"][0]["reason"]
    admin.clock.advance(60 + 600)  # the event has ended: the curve is free
    assert (await admin.call("DELETE", f"/programs/{pid}/curves/{curve['id']}")).status == 204
    assert (await admin.call("GET", f"/programs/{pid}/curves/{curve['id']}")).status == 404
    assert (await admin.call("DELETE", f"/programs/{pid}/curves/{watt['id'] + 100}")).status == 404


# -- validation ---------------------------------------------------------------------------------

async def test_invalid_input_names_every_wrong_field_and_stores_nothing(admin):
    pid = (await admin.program())["id"]
    before = admin.harness.snapshot()
    event = await admin.call("POST", f"/programs/{pid}/controls", {
        "interval": {"start": NOW + 60, "duration": "600"},
        "randomizeStart": 1.5,
        "responseRequired": "zz",
        "creationTime": 5,
        "colour": "red",
        "DERControlBase": {"opModMaxLimW": True, "opModFixedW": 20000000, "opModTargetW": {"value": 5},
                           "opModExpLimW": {"multiplier": 0, "value": 5000}},
    })
    assert event.status == 400
    assert event.fields() == {
        "interval.duration": "must be an integer",
        "randomizeStart": "must be an integer",
        "creationTime": "set by the server",
        "colour": "unknown field",
        "DERControlBase.opModMaxLimW": "must be an integer",
        "DERControlBase.opModTargetW.multiplier": "required",
        # and, in the same answer, what the schema finds wrong with the rest
        "responseRequired": "must be hexadecimal, at most 2 digits (HexBinary8)",
        "DERControlBase.opModFixedW": "must be an integer from -32768 to 32767 (Int16)",
        "DERControlBase.opModExpLimW": "a CSIP-AUS field; this server runs the csip profile",
    }
    schema_level = await admin.call("POST", f"/programs/{pid}/controls", {
        "mRID": "XYZ", "responseRequired": "zz", "randomizeStart": 40000,
        "interval": {"start": NOW + 60, "duration": -1},
        "DERControlBase": {"opModMaxLimW": 70000, "opModExpLimW": {"multiplier": 0, "value": 5000}},
    })
    assert schema_level.status == 400
    fields = schema_level.fields()
    assert set(fields) == {"mRID", "responseRequired", "randomizeStart", "interval.duration",
                           "DERControlBase.opModMaxLimW", "DERControlBase.opModExpLimW"}
    assert fields["DERControlBase.opModMaxLimW"] == "must be an integer from 0 to 65535 (UInt16)"
    assert "CSIP-AUS" in fields["DERControlBase.opModExpLimW"]
    ended = await admin.call("POST", f"/programs/{pid}/controls",
                             {"interval": {"start": NOW - 600, "duration": 600}, "DERControlBase": {}})
    assert ended.status == 400 and set(ended.fields()) == {"interval", "DERControlBase"}
    curve = await admin.call("POST", f"/programs/{pid}/curves",
                             {"curveType": 11, "xMultiplier": 0, "yMultiplier": 0, "yRefType": 3})
    assert curve.status == 400 and curve.fields() == {"CurveData": "required"}
    points = await admin.call("POST", f"/programs/{pid}/curves", {**VOLT_VAR, "CurveData": [
        {"xvalue": 1, "yvalue": 2}, {"xvalue": 3, "yvalue": 2**40}, {"xvalue": 5, "yvalue": 6, "excitation": 1}]})
    assert points.status == 400 and set(points.fields()) == {"CurveData[1].yvalue", "CurveData[2].excitation"}
    program = await admin.call("POST", "/programs", {"description": "x" * 40, "primacy": 300, "mRID": 7})
    assert program.status == 400 and set(program.fields()) == {"description", "primacy", "mRID"}
    assert "32" in program.fields()["description"] and program.fields()["mRID"] == "must be a string"
    missing = await admin.call("POST", "/programs", {"description": "y" * 33})
    assert missing.status == 400 and set(missing.fields()) == {"primacy", "description"}
    assert missing.fields()["primacy"] == "required"
    group = await admin.call("POST", "/groups", {"description": "\x00", "version": 1})
    assert group.status == 400 and set(group.fields()) == {"description", "version"}
    assert admin.harness.snapshot() == before


async def test_csip_aus_fields_are_accepted_under_csip_aus(make_admin):
    admin = await make_admin("csip-aus")
    pid = (await admin.program())["id"]
    event = await admin.event(pid, NOW + 60, DERControlBase={"opModExpLimW": {"multiplier": 0, "value": 5000},
                                                             "opModGenLimW": {"multiplier": 3, "value": 10}})
    assert event["DERControlBase"]["opModExpLimW"] == {"multiplier": 0, "value": 5000}


# -- events -----------------------------------------------------------------------------------------

async def test_event_lifecycle(admin, logged_changes):
    pid = (await admin.program())["id"]
    created = await admin.call("POST", f"/programs/{pid}/controls", {
        "description": "evening peak", "interval": {"start": NOW + 100, "duration": 300},
        "randomizeStart": 30, "DERControlBase": {"opModMaxLimW": 5000}})
    assert created.status == 201 and created.headers["Location"] == f"/controls/{created.body['id']}"
    event = created.body
    assert (event["programEventStatus"], event["EventStatus"]["currentStatus"], event["active"]) == (
        "SCHEDULED", 0, False)
    assert (event["responseRequired"], event["creationTime"], event["programId"]) == ("03", NOW, pid)
    assert event["href"] == f"/derp/{pid}/derc/{event['id']}" and event["description"] == "evening peak"
    assert {f"/derp/{pid}/derc", f"/derp/{pid}/actderc"} <= set(logged_changes)
    taken = await admin.call("POST", f"/programs/{pid}/controls", {
        "mRID": event["mRID"].lower(), "interval": {"start": NOW + 100, "duration": 300},
        "DERControlBase": {"opModMaxLimW": 4000}})
    assert taken.status == 409 and "mRID" in taken.fields()

    admin.clock.advance(150)
    now = await admin.ok("GET", f"/controls/{event['id']}")
    assert (now["programEventStatus"], now["EventStatus"]["currentStatus"], now["active"]) == ("IN PROGRESS", 1, True)
    listed = await admin.ok("GET", f"/programs/{pid}/controls")
    assert [(e["id"], e["programEventStatus"]) for e in listed["items"]] == [(event["id"], "IN PROGRESS")]

    cancelled = await admin.ok("POST", f"/controls/{event['id']}/cancel")
    assert (cancelled["programEventStatus"], cancelled["EventStatus"]["currentStatus"]) == ("CANCELED", 3)
    assert cancelled["cancelledAt"] == NOW + 150
    again = await admin.call("POST", f"/controls/{event['id']}/cancel")
    assert again.status == 409 and "already cancelled" in again.body["errors"][0]["reason"]

    later = await admin.event(pid, NOW + 200, 100)
    admin.clock.advance(200)  # it has completed
    assert (await admin.ok("GET", f"/controls/{later['id']}"))["programEventStatus"] == "COMPLETED"
    done = await admin.call("POST", f"/controls/{later['id']}/cancel")
    assert done.status == 409 and "completed" in done.body["errors"][0]["reason"]
    assert (await admin.call("POST", "/controls/99999/cancel")).status == 404

    newer = await admin.event(pid, NOW + 400, 600)
    newest = await admin.event(pid, NOW + 500, 600)  # same modes, overlapping: supersedes it at its start
    admin.clock.advance(200)
    states = {e["id"]: e["programEventStatus"] for e in (await admin.ok("GET", f"/programs/{pid}/controls"))["items"]}
    assert states[newer["id"]] == "COMPLETED" and states[newest["id"]] == "IN PROGRESS"

    logged_changes.clear()
    assert await admin.ok("DELETE", f"/programs/{pid}/controls") == {"deleted": 4}
    assert (await admin.ok("GET", f"/programs/{pid}/controls"))["items"] == []
    assert f"/derp/{pid}/actderc" in logged_changes


async def test_participation(admin):
    pid = (await admin.program())["id"]
    gid = (await admin.ok("POST", "/groups", {}, 201))["id"]
    devices = [await admin.end_device() for _ in range(4)]
    disabled = await admin.end_device()
    await admin.ok("PATCH", f"/end-devices/{disabled['id']}", {"enabled": False})
    await admin.ok("POST", f"/groups/{gid}/members", {"endDevices": [d["id"] for d in devices] + [disabled["id"]]})
    assert (await admin.call("PUT", f"/groups/{gid}/programs/{pid}")).status == 204
    event = await admin.event(pid, NOW + 60)
    a, b, c, d = (x["lFDI"] for x in devices)
    outsider = "F" * 40
    store = admin.store
    for lfdi, status, at in ((a, 1, NOW + 1), (a, 2, NOW + 61), (a, 3, NOW + 700), (b, 4, NOW + 5),
                             (c.lower(), 252, NOW + 7), (outsider, 1, NOW + 9)):
        await store.add_response(event["id"], lfdi, status, at, at + 1, {"subject": event["mRID"]})

    report = await admin.ok("GET", f"/controls/{event['id']}/participation")
    assert (report["targeted"], report["responded"], report["notResponded"]) == (4, 4, 1)
    assert report["notRespondedEndDevices"] == [d]
    counts = report["counts"]
    assert (counts["completed"], counts["optedOut"], counts["rejectedNotApplicable"], counts["received"]) == (
        1, 1, 1, 1)
    assert sum(counts.values()) == 4 and report["responseCounts"]["received"] == 2
    assert sum(report["responseCounts"].values()) == 6
    by_device = {item["endDeviceLFDI"]: item for item in report["items"]}
    assert by_device[a]["latestStatusName"] == "completed"
    assert [(r["status"], r["createdDateTime"], r["received"]) for r in by_device[a]["responses"]] == [
        (1, NOW + 1, NOW + 2), (2, NOW + 61, NOW + 62), (3, NOW + 700, NOW + 701)]
    assert by_device[c]["latestStatus"] == 252 and by_device[outsider]["latestStatusName"] == "received"
    assert (await admin.call("GET", "/controls/4242/participation")).status == 404


# -- groups and EndDevices -----------------------------------------------------------------------------

async def test_groups_take_a_thousand_members_at_once(admin, logged_changes):
    gid = (await admin.ok("POST", "/groups", {"description": "all of them"}, 201))["id"]
    ids = []
    for _ in range(1000):
        lfdi = secrets.token_hex(20).upper()
        record = await admin.store.create_end_device(sqlite_store.EndDeviceRecord(
            id=0, lFDI=lfdi, sFDI=sfdi_from_lfdi(lfdi), owner_lfdi=lfdi, changedTime=NOW, pIN=111115,
            dateTimeRegistered=NOW))
        ids.append(record.id)
    before = admin.harness.snapshot()
    refused = await admin.call("POST", f"/groups/{gid}/members", {"endDevices": ids[:3] + [999999, "7"]})
    assert refused.status == 400 and set(refused.fields()) == {"endDevices[3]", "endDevices[4]"}
    assert (await admin.call("POST", f"/groups/{gid}/members", {"devices": ids})).status == 400
    assert admin.harness.snapshot() == before

    logged_changes.clear()
    added = await admin.ok("POST", f"/groups/{gid}/members", {"endDevices": ids})
    assert added == {"added": 1000, "endDeviceCount": 1000}
    assert {f"/edev/{i}/fsa" for i in ids} <= set(logged_changes)
    assert await admin.ok("POST", f"/groups/{gid}/members", {"endDevices": ids[:10]}) == {
        "added": 0, "endDeviceCount": 1000}
    group = await admin.ok("GET", f"/groups/{gid}")
    assert group["endDeviceCount"] == 1000 and group["endDevices"] == sorted(ids)

    logged_changes.clear()
    assert (await admin.call("DELETE", f"/groups/{gid}/members/{ids[0]}")).status == 204
    assert logged_changes == [f"/edev/{ids[0]}/fsa"]
    assert (await admin.call("DELETE", f"/groups/{gid}/members/{ids[0]}")).status == 204
    assert (await admin.call("PUT", f"/groups/{gid}/members/{ids[0]}")).status == 204
    assert (await admin.call("PUT", f"/groups/{gid}/members/999999")).status == 404
    assert (await admin.ok("GET", f"/end-devices/{ids[0]}"))["groups"] == [gid]

    pid = (await admin.program())["id"]
    logged_changes.clear()
    assert (await admin.call("PUT", f"/groups/{gid}/programs/{pid}")).status == 204
    # the group's program list, and each member's FSAList (its FSA counts the group's programs)
    assert logged_changes[0] == f"/fsa/{gid}/derp"
    assert sorted(logged_changes[1:]) == sorted(f"/edev/{i}/fsa" for i in ids)
    listed = (await admin.ok("GET", "/groups"))["items"]
    assert [(g["id"], g["programs"], g["endDeviceCount"], "endDevices" in g) for g in listed] == [
        (gid, [pid], 1000, False)]
    assert (await admin.call("DELETE", f"/groups/{gid}/programs/{pid}")).status == 204
    assert (await admin.ok("GET", f"/groups/{gid}"))["programs"] == []
    assert (await admin.call("PUT", f"/groups/{gid}/programs/{pid + 1}")).status == 404

    logged_changes.clear()
    assert (await admin.call("DELETE", f"/groups/{gid}")).status == 204
    assert (f"/fsa/{gid}/derp", 4) in logged_changes and f"/edev/{ids[5]}/fsa" in logged_changes
    assert (await admin.call("GET", f"/groups/{gid}")).status == 404


async def test_end_devices_are_ensured_once(admin, identities):
    lfdi = identities["device1"].lfdi
    created = await admin.call("POST", "/end-devices", {"lFDI": lfdi.lower(), "deviceCategory": "00040000"})
    assert created.status == 201 and created.headers["Location"] == f"/end-devices/{created.body['id']}"
    device = created.body
    assert (device["lFDI"], device["sFDI"], device["owner"], device["enabled"]) == (
        lfdi, sfdi_from_lfdi(lfdi), lfdi, True)
    again = await admin.call("POST", "/end-devices", {"lFDI": lfdi, "sFDI": sfdi_from_lfdi(lfdi)})
    assert again.status == 200 and again.body == device
    conflict = await admin.call("POST", "/end-devices", {"lFDI": lfdi, "owner": identities["aggregator"].lfdi})
    assert conflict.status == 409 and set(conflict.fields()) == {"owner"}

    before = admin.harness.snapshot()
    bad = await admin.call("POST", "/end-devices", {"lFDI": "0x" + "A" * 38, "owner": "B" * 39,
                                                    "deviceCategory": "xyz", "enabled": True})
    assert bad.status == 400 and set(bad.fields()) == {"lFDI", "owner", "deviceCategory", "enabled"}
    other = secrets.token_hex(20).upper()
    wrong_sfdi = await admin.call("POST", "/end-devices", {"lFDI": other, "sFDI": sfdi_from_lfdi(other) + 1})
    assert wrong_sfdi.status == 400 and set(wrong_sfdi.fields()) == {"sFDI"}
    assert admin.harness.snapshot() == before

    aggregated = await admin.end_device(owner=identities["aggregator"].lfdi)
    assert aggregated["owner"] == identities["aggregator"].lfdi
    listed = (await admin.ok("GET", "/end-devices"))["items"]
    assert [d["id"] for d in listed] == [device["id"], aggregated["id"]]
    assert "groups" not in listed[0]
    detail = await admin.ok("GET", f"/end-devices/{device['id']}")
    assert (detail["groups"], detail["access"]) == ([], [])

    # the device registering itself over 2030.5 finds the same EndDevice
    client = admin.harness.client("device1")
    registered = await client.post("/edev", documents.end_device(lfdi))
    assert registered.status == 201 and registered.headers["Location"] == f"/edev/{device['id']}"


async def test_access_grants_let_another_client_in(admin, identities):
    device = await admin.end_device(identities["device1"].lfdi)
    edev = f"/edev/{device['id']}"
    other = admin.harness.client("device2")
    assert (await admin.harness.client("device1").get(edev)).status == 200
    assert (await other.get(edev)).status == 404

    assert (await admin.call("PUT", f"/end-devices/{device['id']}/access/{identities['device2'].lfdi.lower()}")
            ).status == 204
    assert (await admin.ok("GET", f"/end-devices/{device['id']}"))["access"] == [identities["device2"].lfdi]
    seen = await other.get(edev)
    assert seen.status == 200
    assert codec.decode(seen.element, model.EndDevice).lFDI == identities["device1"].lfdi

    assert (await admin.call("DELETE", f"/end-devices/{device['id']}/access/{identities['device2'].lfdi}")
            ).status == 204
    assert (await other.get(edev)).status == 404
    bad = await admin.call("PUT", f"/end-devices/{device['id']}/access/not-an-lfdi")
    assert bad.status == 400 and set(bad.fields()) == {"client_lfdi"}
    assert (await admin.call("PUT", f"/end-devices/999/access/{identities['device2'].lfdi}")).status == 404


async def test_disabling_an_end_device(admin, identities, logged_changes):
    device = await admin.end_device(identities["device1"].lfdi)
    client = admin.harness.client("device1")
    patched = await admin.ok("PATCH", f"/end-devices/{device['id']}", {"enabled": False, "postRate": 60})
    assert (patched["enabled"], patched["postRate"]) == (False, 60)
    assert {f"/edev/{device['id']}", f"/edev/{device['id']}/fsa"} <= set(logged_changes)
    seen = await client.get(f"/edev/{device['id']}")
    assert b"<enabled>false</enabled>" in seen.body and b"<postRate>60</postRate>" in seen.body

    before = admin.harness.snapshot()
    bad = await admin.call("PATCH", f"/end-devices/{device['id']}", {"enabled": "no", "postRate": 0, "pIN": -1})
    assert bad.status == 400 and set(bad.fields()) == {"enabled", "postRate", "pIN"}
    assert admin.harness.snapshot() == before

    back = await admin.ok("PATCH", f"/end-devices/{device['id']}", {"enabled": True, "postRate": None})
    assert (back["enabled"], back["postRate"]) == (True, None)
    assert b"<enabled>true</enabled>" in (await client.get(f"/edev/{device['id']}")).body


async def registration_pin(harness, name: str, edev: str) -> int:
    """The pIN the device reads from its Registration over 2030.5."""
    reply = await harness.client(name).get(f"{edev}/rg")
    assert reply.status == 200, reply.reason
    return codec.decode(reply.element, model.Registration).pIN


async def test_the_operator_sets_a_devices_registration_pin(admin, identities):
    lfdi = identities["device1"].lfdi
    before = admin.harness.snapshot()
    for pin, says in ((123456, "check digit"), (12345, "six digits"), (1234555, "six digits"), ("123455", "integer"),
                      (True, "integer")):
        refused = await admin.call("POST", "/end-devices", {"lFDI": lfdi, "pIN": pin})
        assert refused.status == 400 and says in refused.fields()["pIN"], (pin, refused.body)
    assert "123455" in (await admin.call("POST", "/end-devices", {"lFDI": lfdi, "pIN": 123456})).fields()["pIN"]
    assert admin.harness.snapshot() == before

    device = await admin.ok("POST", "/end-devices", {"lFDI": lfdi, "pIN": 123455}, 201)
    edev = f"/edev/{device['id']}"
    assert device["pIN"] == 123455 and await registration_pin(admin.harness, "device1", edev) == 123455
    assert (await admin.call("POST", "/end-devices", {"lFDI": lfdi, "pIN": 123455})).status == 200
    conflict = await admin.call("POST", "/end-devices", {"lFDI": lfdi, "pIN": 654320})
    assert conflict.status == 409 and "PATCH" in conflict.fields()["pIN"]

    changed = await admin.ok("PATCH", f"/end-devices/{device['id']}", {"pIN": 654320})
    assert changed["pIN"] == 654320 and await registration_pin(admin.harness, "device1", edev) == 654320
    before = admin.harness.snapshot()
    refused = await admin.call("PATCH", f"/end-devices/{device['id']}", {"pIN": 654321})
    assert refused.status == 400 and "654320" in refused.fields()["pIN"]
    assert admin.harness.snapshot() == before
    # the device registering itself keeps the PIN the operator gave it
    assert (await admin.harness.client("device1").post("/edev", documents.end_device(lfdi))).status == 201
    assert await registration_pin(admin.harness, "device1", edev) == 654320


async def test_a_deployment_registration_pin(make_admin, identities):
    default = pin_with_check_digit(24680)
    admin = await make_admin(registration_pin=default)
    harness = admin.harness
    # in-band registration takes the default
    registered = await harness.client("device1").post("/edev", documents.end_device(identities["device1"].lfdi))
    assert registered.status == 201
    assert await registration_pin(harness, "device1", registered.headers["Location"]) == default
    # so does an EndDevice the operator creates without a pIN; one with its own keeps it
    assert (await admin.end_device(identities["device2"].lfdi))["pIN"] == default
    assert (await admin.end_device(identities["device3"].lfdi, pIN=135795))["pIN"] == 135795


def test_a_bad_deployment_registration_pin_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="registration_pin: .*check digit.* 24680 takes 0, making 246800"):
        Config(registration_pin=246801)
    with pytest.raises(ValueError, match="six digits"):
        Config(registration_pin=99)
    assert Config().registration_pin is None


def test_openapi_documents_the_end_device_fields_the_api_takes():
    def body(path, method):
        return SPEC["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]

    create, patch = body("/end-devices", "post"), body("/end-devices/{end_device_id}", "patch")
    assert set(create["properties"]) == set(CREATE)
    assert set(patch["properties"]) == set(PATCH)
    for schema in (create, patch, SPEC["components"]["schemas"]["EndDevice"]):
        pin = schema["properties"]["pIN"]
        assert (pin["minimum"], pin["maximum"]) == (100000, 999999) and "check digit" in pin["description"]


async def test_deleting_an_end_device(admin, identities):
    device = await admin.end_device(identities["device1"].lfdi)
    client = admin.harness.client("device1")
    assert (await client.get(f"/edev/{device['id']}")).status == 200
    assert (await admin.call("DELETE", f"/end-devices/{device['id']}")).status == 204
    assert (await admin.call("GET", f"/end-devices/{device['id']}")).status == 404
    assert (await client.get(f"/edev/{device['id']}")).status == 404
    assert (await admin.call("DELETE", f"/end-devices/{device['id']}")).status == 404
    # the client may register again
    assert (await client.post("/edev", documents.end_device(identities["device1"].lfdi))).status == 201


async def test_the_operator_lists_and_cancels_subscriptions(make_admin, identities):
    admin = await make_admin(notification_allow_addresses=("127.0.0.1/32",))  # the notificationURI's address
    device = await admin.end_device(identities["device1"].lfdi)
    other = await admin.end_device(identities["device2"].lfdi)
    client = admin.harness.client("device1")
    body = codec.encode(model.Subscription(subscribedResource=f"/edev/{device['id']}", encoding=0, level="-S1",
                                           limit=1, notificationURI="https://127.0.0.1:9/n"))
    href = (await client.post(f"/edev/{device['id']}/sub", body)).headers["Location"]
    (listed,) = (await admin.ok("GET", f"/end-devices/{device['id']}/subscriptions"))["items"]
    assert listed == {"id": int(href.rsplit("/", 1)[1]), "href": href, "client": identities["device1"].lfdi,
                      "subscribedResource": f"/edev/{device['id']}", "notificationURI": "https://127.0.0.1:9/n",
                      "limit": 1}
    assert (await admin.call("DELETE", f"/end-devices/{other['id']}/subscriptions/{listed['id']}")).status == 404
    assert await admin.store.outbox_size() == 0
    assert (await admin.call("DELETE", f"/end-devices/{device['id']}/subscriptions/{listed['id']}")).status == 204
    assert (await admin.ok("GET", f"/end-devices/{device['id']}/subscriptions"))["items"] == []
    assert await admin.store.outbox_size() == 1  # the farewell, status 1
    assert (await client.get(href)).status == 404


# -- rates and mirrors ----------------------------------------------------------------------------

async def test_rates(admin):
    rates = {r["resource"]: r for r in (await admin.ok("GET", "/rates"))["items"]}
    assert set(rates) == {"dcap", "tm", "edev", "fsa", "derp", "der", "mup", "upt", "lel",
                          "rsps", "sub"}
    assert rates["dcap"] == {"resource": "dcap", "pollRate": None, "effectivePollRate": 900}
    set_ = await admin.ok("PUT", "/rates", {"resource": "edev", "pollRate": 60, "postRate": 30})
    assert set_ == {"resource": "edev", "pollRate": 60, "effectivePollRate": 60, "postRate": 30,
                    "effectivePostRate": 30}
    assert await admin.store.rates() == {"edev": (60, 30)}
    before = admin.harness.snapshot()
    for body, fields in (({"resource": "dcap", "postRate": 5}, {"postRate"}),
                         ({"resource": "moon", "pollRate": 5}, {"resource"}),
                         ({"resource": "dcap", "pollRate": True}, {"pollRate"}),
                         ({"resource": "dcap", "pollRate": 0}, {"pollRate"}),
                         ({"pollRate": 5}, {"resource"}),
                         ({"resource": "tm", "every": 5}, {"every"})):
        answer = await admin.call("PUT", "/rates", body)
        assert answer.status == 400 and set(answer.fields()) == fields, body
    assert admin.harness.snapshot() == before
    await admin.ok("PUT", "/rates", {"resource": "edev"})
    assert await admin.store.rates() == {"edev": (None, None)}


async def test_a_new_mirror_post_rate_shows_on_the_mirror_usage_point(admin, identities):
    """S-OPT-05: the operator sets the MirrorUsagePoint postRate; the client's next GET shows it."""
    client = admin.harness.client("device1")
    href = (await client.post("/mup", documents.mirror_usage_point(identities["device1"].lfdi))).headers["Location"]
    for rate in (60, 300):
        await admin.ok("PUT", "/rates", {"resource": "mup", "postRate": rate})
        assert codec.decode((await client.get(href)).element, model.MirrorUsagePoint).postRate == rate


async def test_deleting_a_clients_mirror_usage_points(admin, identities):
    lfdi = identities["device1"].lfdi
    client = admin.harness.client("device1")
    assert (await client.post("/mup", documents.mirror_usage_point(lfdi))).status == 201
    assert (await client.post("/mup", documents.mirror_usage_point(lfdi, mrid="0B" * 12 + "000D8C5E"))).status == 201
    assert await admin.ok("DELETE", f"/clients/{lfdi.lower()}/mirror-usage-points") == {"deleted": 2}
    assert await admin.ok("DELETE", f"/clients/{lfdi}/mirror-usage-points") == {"deleted": 0}
    assert (await admin.store.mirror_usage_points(lfdi, 0, 10)).all == 0
    bad = await admin.call("DELETE", "/clients/xyz/mirror-usage-points")
    assert bad.status == 400 and set(bad.fields()) == {"lfdi"}
