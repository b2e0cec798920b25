"""Utility events with stages and their durable participation record, on the real server: the admin API over
HTTP, devices over 2030.5 mutual TLS, stage reports through the sync outbox to an operational endpoint, and
outcome files; on each backend."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest

from der_gateway.cli.main import main
from der_gateway.clock import ManualClock
from der_gateway.sep import codec, model
from der_gateway.server.enrollment_sync import SyncDelivery
from der_gateway.services.stage_reporting import outcome_dir

from . import documents
from .conftest import Harness
from .test_enrollment_sync import Receiver

T0 = 1_800_000_000
TOKEN = "test-admin-token-0123456789"  # conftest's make_harness


@dataclass
class World:
    h: Harness
    clock: ManualClock
    session: aiohttp.ClientSession
    receiver: Receiver
    ids: dict[str, int]
    lfdis: dict[str, str]
    group: int
    programs: list[int]

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.session.request(method, self.h.server.admin_url + path, json=body) as resp:
            text = await resp.read()
            return resp.status, json.loads(text) if text else None

    async def ok(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, answer = await self.call(method, path, body)
        assert got == status, (method, path, got, answer)
        return answer

    async def tick(self, to: int) -> None:
        """Moves time on and runs one scheduler pass (the background is stopped: the test drives it)."""
        self.clock.set(to)
        await self.h.server.background.scheduler.run_once()

    async def deliver(self) -> list[dict]:
        """Sends what is queued; returns the payloads the endpoint took this time."""
        before = len(self.receiver.accepted)
        delivery = SyncDelivery(self.h.store, self.h.config, self.clock, ack_base_url=self.h.server.admin_url)
        try:
            await delivery.deliver_due()
        finally:
            await delivery.stop()
        return [p for _, p in self.receiver.accepted[before:]]

    async def respond(self, name: str, subject: str, status: int, at: int) -> None:
        body = codec.encode(model.DERControlResponse(createdDateTime=at, endDeviceLFDI=self.lfdis[name],
                                                     status=status, subject=subject))
        assert (await self.h.client(name).post("/rsps/1/rsp", body)).status == 201


@pytest.fixture
async def world(make_harness, identities):
    """device1 and device2 in a group that holds two programs; device3 in no group; an operational endpoint."""
    clock = ManualClock(T0)
    h = make_harness(clock=clock)
    await h.start()
    await h.server.stop_background()
    receiver = await Receiver().start()
    session = aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"})
    ids, lfdis = {}, {}
    for name in ("device1", "device2", "device3"):
        lfdis[name] = identities[name].lfdi
        reply = await h.client(name).post("/edev", documents.end_device(identities[name].lfdi))
        ids[name] = int(reply.headers["Location"].rsplit("/", 1)[1])
    w = World(h, clock, session, receiver, ids, lfdis, 0, [])
    await w.ok("POST", "/sync/endpoints", {"name": "dacs", "url": receiver.url("/events")}, 201)
    w.group = (await w.ok("POST", "/groups", {"description": "feeder 7"}, 201))["id"]
    await w.ok("POST", f"/groups/{w.group}/members", {"endDevices": [ids["device1"], ids["device2"]]})
    for primacy in (10, 20):
        program = (await w.ok("POST", "/programs", {"primacy": primacy}, 201))["id"]
        assert (await w.call("PUT", f"/groups/{w.group}/programs/{program}"))[0] == 204
        w.programs.append(program)
    yield w
    await session.close()
    await receiver.stop()
    await h.stop()


def stage_body(program: int, start: int, duration: int, **extra) -> dict:
    return {"programId": program, "interval": {"start": start, "duration": duration},
            "DERControlBase": {"opModMaxLimW": 2000}, **extra}


def statuses(payloads: list[dict]) -> list[tuple[int, str, int]]:
    return [(p["stagePosition"], p["status"], p["at"]) for p in payloads if p["kind"] == "stage-status"]


async def test_a_two_stage_event_reports_each_stage_and_keeps_who_was_called(world, capsys):
    w = world
    p1, p2 = w.programs
    created = await w.ok("POST", "/utility-events", {"description": "evening peak", "stages": [
        stage_body(p1, T0 + 60, 300), stage_body(p2, T0 + 600, 300)]}, 201)
    assert created["status"] == "SCHEDULED" and created["description"] == "evening peak"
    one, two = created["stages"]
    # without a target a stage calls every device its program may call (tests/test_reservation.py: with one)
    assert (one["position"], one["programId"], one["targetKW"], one["calledEndDevices"]) == (1, p1, None, 2)
    assert one["dispatchProgramId"] is None and one["controlHref"] == f"/derp/{p1}/derc/{one['controlId']}"
    assert (two["position"], two["programId"], two["targetKW"], two["status"]) == (2, p2, None, "SCHEDULED")
    assert [t["status"] for t in one["transitions"]] == ["SCHEDULED"]
    path = f"/utility-events/{created['id']}"

    # the stage is a program event: the devices read it over 2030.5
    reply = await w.h.client("device1").get(f"/derp/{p1}/derc")
    listed = codec.decode(reply.element, model.DERControlList)
    assert [c.mRID for c in listed.DERControl] == [one["mRID"]]

    sent = await w.deliver()
    assert statuses(sent) == [(1, "SCHEDULED", T0), (2, "SCHEDULED", T0)]
    assert sent[0]["eventMRID"] == created["mRID"] and sent[0]["controlMRID"] == one["mRID"]
    assert sent[0]["targetKW"] is None and sent[0]["calledEndDevices"] == 2 and sent[0]["stageId"] == one["id"]
    reservation = [p for p in sent if p["kind"] == "stage-reservation"]
    assert [(p["stagePosition"], p["reservedEndDevices"], p["met"]) for p in reservation] == [
        (1, 2, True), (2, 2, True)]
    assert all(d["reserved"] and d["reason"].startswith("no target: every eligible device is called")
               for d in reservation[0]["devices"])

    await w.respond("device1", one["mRID"], 1, T0 + 1)
    await w.respond("device2", one["mRID"], 4, T0 + 2)
    # membership changes after scheduling change nothing of who the stage called
    await w.ok("POST", f"/groups/{w.group}/members", {"endDevices": [w.ids["device3"]]})
    assert (await w.call("DELETE", f"/groups/{w.group}/members/{w.ids['device2']}"))[0] == 204

    await w.tick(T0 + 60)
    await w.respond("device1", one["mRID"], 2, T0 + 61)
    assert statuses(await w.deliver()) == [(1, "IN PROGRESS", T0 + 60)]
    report = await w.ok("GET", f"/controls/{one['controlId']}/participation")
    assert report["targeted"] == 2 and report["stageId"] == one["id"]
    assert {r["endDeviceLFDI"] for r in report["record"]} == {w.lfdis["device1"], w.lfdis["device2"]}

    # cancel the second stage; again is refused; the running one cannot be archived or deleted
    answer = await w.ok("POST", f"{path}/stages/2/cancel")
    assert [s["status"] for s in answer["stages"]] == ["IN PROGRESS", "CANCELED"]
    assert answer["status"] == "IN PROGRESS"
    status, refused = await w.call("POST", f"{path}/stages/2/cancel")
    assert status == 409 and "CANCELED already" in refused["errors"][0]["reason"]
    assert statuses(await w.deliver()) == [(2, "CANCELED", T0 + 60)]
    assert (await w.call("POST", f"{path}/archive"))[0] == 409
    status, refused = await w.call("DELETE", f"/programs/{p1}/controls")
    assert status == 409 and str(one["controlId"]) in refused["errors"][0]["reason"]
    assert (await w.call("DELETE", f"/programs/{p1}"))[0] == 409
    assert (await w.call("GET", f"/controls/{one['controlId']}"))[0] == 200

    await w.tick(T0 + 360)  # stage 1 ends: COMPLETED now, outcomes after stage_outcome_delay
    await w.respond("device1", one["mRID"], 3, T0 + 360)
    assert statuses(await w.deliver()) == [(1, "COMPLETED", T0 + 360)]
    pending = await w.ok("GET", f"{path}/stages/1/outcomes")
    assert pending["settledAt"] is None and {d["outcome"] for d in pending["devices"]} == {None}

    await w.tick(T0 + 420)
    outcomes = await w.ok("GET", f"{path}/stages/1/outcomes")
    assert outcomes["settledAt"] == T0 + 420 and outcomes["status"] == "COMPLETED"
    by_lfdi = {d["endDeviceLFDI"]: d for d in outcomes["devices"]}
    assert set(by_lfdi) == {w.lfdis["device1"], w.lfdis["device2"]}  # device3, added later, was never called
    assert by_lfdi[w.lfdis["device1"]]["outcome"] == "participated"
    assert [r["status"] for r in by_lfdi[w.lfdis["device1"]]["responses"]] == [1, 2, 3]
    assert by_lfdi[w.lfdis["device2"]]["outcome"] == "opted out"
    assert by_lfdi[w.lfdis["device1"]]["controlMRID"] == one["mRID"]
    assert by_lfdi[w.lfdis["device1"]]["visibleAt"] == T0
    assert outcomes["counts"]["participated"] == 1 and outcomes["counts"]["opted out"] == 1

    # the same outcomes reach operations and the export files
    sent = await w.deliver()
    (message,) = [p for p in sent if p["kind"] == "stage-outcomes" and p["stageId"] == one["id"]]
    assert message["devices"] == outcomes["devices"]
    directory = outcome_dir(w.h.config)
    assert json.loads((directory / f"stage-{one['id']}.json").read_text()) == outcomes
    rows = list(csv.DictReader(io.StringIO((directory / f"stage-{one['id']}.csv").read_text())))
    assert {(r["endDeviceLFDI"], r["outcome"], r["responses"]) for r in rows} == {
        (w.lfdis["device1"], "participated", "3"), (w.lfdis["device2"], "opted out", "1")}
    assert not list(directory.glob(".*.tmp"))

    # a late Response changes no settled outcome; neither does a pass again, nor a restart
    await w.respond("device1", one["mRID"], 4, T0 + 430)
    await w.tick(T0 + 500)
    await w.h.restart()
    await w.h.server.stop_background()
    await w.tick(T0 + 500)
    assert (await w.ok("GET", f"{path}/stages/1/outcomes")) == outcomes
    stage_two = await w.ok("GET", f"{path}/stages/2/outcomes")
    assert {d["outcome"] for d in stage_two["devices"]} == {"cancelled"}
    assert await w.deliver() == []  # nothing reported twice
    every = [(p["kind"], p["stagePosition"], p.get("status")) for _, p in w.receiver.accepted]
    assert len(every) == len(set(every)) == 9  # 5 statuses, 2 reservations, 2 outcome reports

    # acknowledgements show on the event; the finished event is archived, not deleted
    for _, payload in w.receiver.accepted:
        ack = urlsplit(payload["acknowledgeUrl"]).path  # the admin port moved with the restart
        await w.ok("POST", ack, {"ok": True})
    event = await w.ok("GET", path)
    assert event["status"] == "COMPLETED"
    assert [(t["status"], [x["state"] for x in t["sync"]]) for t in event["stages"][0]["transitions"]] == [
        ("SCHEDULED", ["acknowledged"]), ("IN PROGRESS", ["acknowledged"]), ("COMPLETED", ["acknowledged"])]
    archived = await w.ok("POST", f"{path}/archive")
    assert archived["archivedAt"] == T0 + 500
    assert (await w.ok("GET", "/utility-events"))["items"] == []
    assert [e["id"] for e in (await w.ok("GET", "/utility-events?archived=true"))["items"]] == [created["id"]]
    assert (await w.ok("GET", f"/programs/{p1}/controls"))["items"] == []
    kept = (await w.ok("GET", f"/programs/{p1}/controls?archived=true"))["items"]
    assert [(c["id"], c["archivedAt"]) for c in kept] == [(one["controlId"], T0 + 500)]

    # the CLI reads the record too: stage 1 called device1 and device2, both answered
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["events", *w.h.store_args(), "--program", str(p1), "--now", str(T0 + 500)])
    out = capsys.readouterr().out.splitlines()
    assert code == 0 and out[0].endswith("no response") and len(out) == 2
    assert out[1].split()[-1] == "0"  # from the record; today's group (device1, device3) would say 1


async def test_a_stage_missed_while_the_server_was_down_is_reported_in_order(world):
    w = world
    (p1, _) = w.programs
    created = await w.ok("POST", "/utility-events", {"stages": [stage_body(p1, T0 + 60, 120)]}, 201)
    await w.h.stop()
    w.clock.set(T0 + 1000)
    await w.h.start()
    await w.h.server.stop_background()  # its first pass may have run already: the next must add nothing
    await w.tick(T0 + 1000)
    await w.tick(T0 + 1001)
    sent = await w.deliver()
    assert statuses(sent) == [(1, "SCHEDULED", T0), (1, "IN PROGRESS", T0 + 60), (1, "COMPLETED", T0 + 180)]
    outcomes = [p for p in sent if p["kind"] == "stage-outcomes"]
    assert len(outcomes) == 1 and {d["outcome"] for d in outcomes[0]["devices"]} == {"no response"}
    event = await w.ok("GET", f"/utility-events/{created['id']}")
    assert event["stages"][0]["reported"] == "COMPLETED" and event["stages"][0]["exportedAt"] is not None


async def test_cancelling_the_event_cancels_the_stages_that_have_not_ended(world):
    w = world
    p1, p2 = w.programs
    created = await w.ok("POST", "/utility-events", {"stages": [
        stage_body(p1, T0 + 60, 100), stage_body(p2, T0 + 200, 100), stage_body(p1, T0 + 400, 100)]}, 201)
    path = f"/utility-events/{created['id']}"
    await w.tick(T0 + 170)  # stage 1 has ended
    cancelled = await w.ok("POST", f"{path}/cancel")
    assert [s["status"] for s in cancelled["stages"]] == ["COMPLETED", "CANCELED", "CANCELED"]
    assert cancelled["status"] == "CANCELED" and cancelled["cancelledAt"] == T0 + 170
    status, refused = await w.call("POST", f"{path}/cancel")
    assert status == 409 and "cancelled already" in refused["errors"][0]["reason"]
    assert statuses(await w.deliver()) == [(1, "SCHEDULED", T0), (2, "SCHEDULED", T0), (3, "SCHEDULED", T0),
                                           (1, "IN PROGRESS", T0 + 60), (1, "COMPLETED", T0 + 160),
                                           (2, "CANCELED", T0 + 170), (3, "CANCELED", T0 + 170)]
    # the devices see their DERControls cancelled over 2030.5
    reply = await w.h.client("device1").get(f"/derp/{p2}/derc")
    (control,) = codec.decode(reply.element, model.DERControlList).DERControl
    assert control.EventStatus.currentStatus == 2


async def test_bad_events_are_refused_whole(world):
    w = world
    p1, _ = w.programs
    before = w.h.snapshot()
    for body, fields in (
        ({}, {"stages"}),
        ({"stages": []}, {"stages"}),
        ({"stages": [stage_body(p1, T0 + 60, 100)], "extra": 1}, {"extra"}),
        ({"stages": [stage_body(p1, T0 + 60, 100), stage_body(999, T0 + 600, 100)]}, {"stages[1].programId"}),
        ({"stages": [stage_body(p1, T0 + 60, 100, targetKW=0)]}, {"stages[0].targetKW"}),
        ({"stages": [stage_body(p1, T0 + 60, 100, targetKW=0.0001)]}, {"stages[0].targetKW"}),
        ({"stages": [stage_body(p1, T0 + 60, 100, targetKW="5")]}, {"stages[0].targetKW"}),
        ({"stages": [stage_body(p1, T0 + 60, 100, targetKW=-2e9)]}, {"stages[0].targetKW"}),
        ({"stages": [stage_body(p1, T0 + 60, 100), stage_body(p1, T0 + 100, 100)]}, {"stages[1].interval"}),
        ({"stages": [stage_body(p1, T0 - 600, 100)]}, {"stages[0].interval"}),
        ({"stages": [{**stage_body(p1, T0 + 60, 100), "DERControlBase": {"opModMaxLimW": "x"}}]},
         {"stages[0].DERControlBase.opModMaxLimW"}),
        ({"mRID": "zz", "stages": [stage_body(p1, T0 + 60, 100)]}, {"mRID"}),
    ):
        status, answer = await w.call("POST", "/utility-events", body)
        assert status == 400, (body, answer)
        assert {e.get("field") for e in answer["errors"]} == fields, (body, answer)
    assert w.h.snapshot() == before
    ok = await w.ok("POST", "/utility-events", {"mRID": "AB" * 16, "stages": [stage_body(p1, T0 + 60, 100)]}, 201)
    status, answer = await w.call("POST", "/utility-events", {"mRID": "ab" * 16, "stages": [
        stage_body(p1, T0 + 600, 100)]})
    assert status == 409 and answer["errors"][0]["field"] == "mRID"
    status, answer = await w.call("POST", "/utility-events", {"stages": [
        stage_body(p1, T0 + 600, 100, mRID=ok["stages"][0]["mRID"])]})
    assert status == 409 and answer["errors"][0]["field"] == "stages[0].mRID"
    assert (await w.call("GET", "/utility-events/999"))[0] == 404
    assert (await w.call("POST", f"/utility-events/{ok['id']}/stages/7/cancel"))[0] == 404


async def test_a_plain_event_with_responses_is_archived_not_deleted(world):
    w = world
    p1, _ = w.programs
    event = await w.ok("POST", f"/programs/{p1}/controls", {"interval": {"start": T0 + 60, "duration": 100},
                                                            "DERControlBase": {"opModMaxLimW": 1000}}, 201)
    await w.respond("device1", event["mRID"], 1, T0 + 1)
    report = await w.ok("GET", f"/controls/{event['id']}/participation")
    assert report["stageId"] is None and report["targeted"] == 2 and "record" not in report  # not a stage
    before = w.h.snapshot()
    status, refused = await w.call("DELETE", f"/programs/{p1}/controls")
    assert status == 409 and "only archived" in refused["errors"][0]["reason"]
    status, refused = await w.call("POST", f"/controls/{event['id']}/archive")
    assert status == 409 and "SCHEDULED" in refused["errors"][0]["reason"]
    assert w.h.snapshot() == before
    w.clock.set(T0 + 200)
    archived = await w.ok("POST", f"/controls/{event['id']}/archive")
    assert (archived["archivedAt"], archived["programEventStatus"]) == (T0 + 200, "COMPLETED")
    assert (await w.ok("GET", f"/programs/{p1}/controls"))["items"] == []
    assert (await w.call("GET", f"/programs/{p1}/controls?archived=maybe"))[0] == 400
    assert (await w.ok("GET", f"/controls/{event['id']}/participation"))["responded"] == 1


async def test_a_programs_rules_count_the_events_earlier_stages(world):
    w = world
    p1, p2 = w.programs
    await w.ok("PUT", f"/programs/{p1}/rules", {"constraints": {"maxEvents": {"count": 1, "periodSeconds": 86400}}})
    before = w.h.snapshot()
    status, answer = await w.call("POST", "/utility-events", {"stages": [
        stage_body(p1, T0 + 60, 100), stage_body(p2, T0 + 200, 100), stage_body(p1, T0 + 400, 100)]})
    assert status == 400 and {e["field"]: e["reason"] for e in answer["errors"]} == {
        "stages[2].interval.start": "rule maxEvents: at most 1 events in any 86400 s"}
    assert w.h.snapshot() == before
    await w.ok("POST", "/utility-events", {"stages": [stage_body(p1, T0 + 60, 100), stage_body(p2, T0 + 200, 100)]},
               201)


async def test_passes_skip_the_stages_until_one_is_due_or_an_event_is_written(world, monkeypatch):
    w = world
    p1, p2 = w.programs
    created = await w.ok("POST", "/utility-events", {"stages": [stage_body(p1, T0 + 600, 100)]}, 201)
    reporter = w.h.server.background.scheduler.stages
    reads = []
    unfinished = w.h.store.unfinished_stages

    async def counted(*args, **kw):
        reads.append(args)
        return await unfinished(*args, **kw)
    monkeypatch.setattr(w.h.store, "unfinished_stages", counted)
    await reporter.run_once()
    assert reads
    reads.clear()
    await w.tick(T0 + 599)  # nothing due, nothing written: the stages are not read
    await w.respond("device1", created["stages"][0]["mRID"], 1, T0 + 599)  # a Response is no event
    await reporter.run_once()
    assert reads == []
    await w.ok("POST", f"/programs/{p2}/controls", {"interval": {"start": T0 + 900, "duration": 100},
                                                    "DERControlBase": {"opModMaxLimW": 1000}}, 201)
    await reporter.run_once()
    assert reads
    reads.clear()
    await w.tick(T0 + 600)  # the stage starts
    assert reads and statuses(await w.deliver()) == [(1, "SCHEDULED", T0), (1, "IN PROGRESS", T0 + 600)]
