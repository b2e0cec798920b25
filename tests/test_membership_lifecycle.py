"""Issue 12 items 6 and 7 on the real server: group membership follows enrollment for a program that takes part in
enrollment, every membership change is recorded, and the lifecycle holes are closed (an approval bound to its
customer and service point, a move-out unenrolling, a suspended aggregator cut off from 2030.5, a restart keeping
what the operator set)."""

from __future__ import annotations

import secrets

from der_gateway.launch import register_manifest_aggregators
from der_gateway.sep.identity import sfdi_from_lfdi

from . import documents
from .test_notifications import admin, aggregator_world, listed, receiver  # noqa: F401  (fixtures)
from .test_enrollment import (T0, add_location_group, add_sync_endpoint, registration,  # noqa: F401
                              site)  # site: a fixture


async def _enrolled(site, device: str = "device1", serial: str = "PW-0001") -> dict:
    """A device registered by the aggregator and enrolled in the site's program (its enroll task processed)."""
    answer = await site.aggregator.ok("POST", "/registerDERDevice", registration(site.lfdi(device), serial=serial),
                                      201)
    await site.process(answer["serviceTask"]["id"])
    return answer


async def _plain_device(site) -> int:
    """An EndDevice the operator made itself: no DER asset, no enrollment."""
    lfdi = secrets.token_hex(20).upper()
    made = await site.admin.ok("POST", "/end-devices", {"lFDI": lfdi, "sFDI": sfdi_from_lfdi(lfdi)}, 201)
    return made["id"]


async def _targeted(site, program_id: int) -> set[int]:
    return {i for i, _ in await site.store.targeted_end_devices(program_id)}


def _history(answer: dict) -> list[tuple]:
    return [(h["groupId"], h["endDeviceId"], h["change"], h["actor"]) for h in answer["items"]]


async def test_a_program_with_enrollment_reaches_only_the_devices_enrolled_in_it(site):
    program = site.ids["program"]
    registered = await _enrolled(site)
    edev = registered["endDevice"]["id"]
    enrollment_group = (await site.admin.ok("GET", f"/programs/{program}/rules"))["groupId"]
    plain = await _plain_device(site)
    assert await _targeted(site, program) == {edev}

    # assigning the program to a group judges every member, and names each failing one
    group = (await site.admin.ok("POST", "/groups", {"description": "feeder F7 batteries"}, 201))["id"]
    await site.admin.ok("POST", f"/groups/{group}/members", {"endDevices": [edev, plain]})
    before = site.harness.snapshot()
    refused = await site.admin.call("PUT", f"/groups/{group}/programs/{program}")
    assert refused.status == 409
    assert [e["reason"] for e in refused.body["errors"]] == [
        f"EndDevice {plain} is not a registered DER asset; program STORAGE reaches devices only through their "
        "enrollment"]
    assert site.harness.snapshot() == before
    # a program without enrollment is assigned as plain 2030.5 allows
    plain_program = (await site.admin.ok("POST", "/programs", {"primacy": 2, "description": "volt-var"}, 201))["id"]
    await site.admin.ok("PUT", f"/groups/{group}/programs/{plain_program}", status=204)
    assert await _targeted(site, plain_program) == {edev, plain}

    # with the plain device gone, the enrolled one passes; the plain one may not come back
    await site.admin.ok("DELETE", f"/groups/{group}/members/{plain}", status=204)
    await site.admin.ok("PUT", f"/groups/{group}/programs/{program}", status=204)
    refused = await site.admin.call("PUT", f"/groups/{group}/members/{plain}")
    assert refused.status == 409 and refused.fields() == {
        "endDevices": f"EndDevice {plain} is not a registered DER asset; program STORAGE reaches devices only "
                      "through their enrollment"}
    refused = await site.admin.call("POST", f"/groups/{group}/members", {"endDevices": [plain]})
    assert refused.status == 409

    # an enrolled device leaves the program through unenrollment, not through its groups
    await site.admin.ok("DELETE", f"/groups/{group}/members/{edev}", status=204)  # still called through another
    refused = await site.admin.call("DELETE", f"/groups/{enrollment_group}/members/{edev}")
    assert refused.status == 409
    enrollment_id = registered["enrollment"]["id"]
    assert refused.fields()["endDevices"].endswith(f"unenroll it instead (POST /enrollments/{enrollment_id}/unenroll)")
    refused = await site.admin.call("DELETE", f"/groups/{enrollment_group}/programs/{program}")
    assert refused.status == 409 and "enrollment group" in refused.body["errors"][0]["reason"]
    assert await _targeted(site, program) == {edev}
    assert await site.programs_seen_by("device1", edev) == {site.ids["program_mrid"]}

    # every change is on record: who, when, why
    history = await site.admin.ok("GET", f"/groups/{group}/history")
    assert _history(history) == [(group, edev, "joined", "operator"), (group, plain, "joined", "operator"),
                                 (group, plain, "left", "operator"), (group, edev, "left", "operator")]
    assert all(h["at"] == T0 for h in history["items"])
    mine = await site.admin.ok("GET", f"/end-devices/{edev}/group-history")
    assert [(h["groupId"], h["change"], h["actor"]) for h in mine["items"]] == [
        (enrollment_group, "joined", "enrollment"), (group, "joined", "operator"), (group, "left", "operator")]
    assert mine["items"][0]["reason"] == f"enrolled in program STORAGE (enrollment {enrollment_id})"
    # a deleted group's history stays, with its members' leaving
    await site.admin.ok("PUT", f"/groups/{group}/members/{edev}", status=204)
    history = await site.admin.ok("GET", f"/groups/{group}/history")
    await site.admin.ok("DELETE", f"/groups/{group}", status=204)
    after = await site.admin.ok("GET", f"/groups/{group}/history")
    assert after["items"][:-1] == history["items"] and _history(after)[-1] == (group, edev, "left", "operator")
    assert after["items"][-1]["reason"] == "the group was deleted" and after["items"][-1]["at"] == T0
    assert await site.programs_seen_by("device1", edev) == {site.ids["program_mrid"]}
    assert (await site.admin.call("GET", "/groups/9999/history")).status == 404
    assert (await site.admin.call("GET", "/end-devices/9999/group-history")).status == 404


async def test_rules_come_to_a_program_only_where_its_groups_hold_devices_enrolled_in_it(site):
    plain = await _plain_device(site)
    program = (await site.admin.ok("POST", "/programs", {"primacy": 4, "description": "export limit"}, 201))["id"]
    group = (await site.admin.ok("POST", "/groups", {"description": "g"}, 201))["id"]
    await site.admin.ok("PUT", f"/groups/{group}/members/{plain}", status=204)
    await site.admin.ok("PUT", f"/groups/{group}/programs/{program}", status=204)
    before = site.harness.snapshot()
    refused = await site.admin.call("PUT", f"/programs/{program}/rules", {"code": "EXPORT", "eligibility": {}})
    assert refused.status == 409 and refused.body["errors"] == [{"field": "groups", "reason": (
        f"group {group}: EndDevice {plain} is not a registered DER asset; program EXPORT reaches "
        "devices only through their enrollment")}]
    assert site.harness.snapshot() == before
    await site.admin.ok("DELETE", f"/groups/{group}/programs/{program}", status=204)
    await site.admin.ok("PUT", f"/programs/{program}/rules", {"code": "EXPORT", "eligibility": {}})
    refused = await site.admin.call("PUT", f"/groups/{group}/programs/{program}")
    assert refused.status == 409
    # cleared, its rules no longer hold it back
    await site.admin.ok("DELETE", f"/programs/{program}/rules", status=204)
    await site.admin.ok("PUT", f"/groups/{group}/programs/{program}", status=204)
    assert await _targeted(site, program) == {plain}


async def test_an_ineligible_enrolled_device_is_named_when_its_group_gets_a_stricter_program(site):
    registered = await _enrolled(site)
    edev = registered["endDevice"]["id"]
    small = (await site.admin.ok("POST", "/programs", {"primacy": 3, "description": "small batteries"}, 201))["id"]
    await site.admin.ok("PUT", f"/programs/{small}/rules", {"code": "SMALL", "eligibility": {"capacityW": {"max": 10}}})
    group = (await site.admin.ok("POST", "/groups", {"description": "g"}, 201))["id"]
    await site.admin.ok("PUT", f"/groups/{group}/members/{edev}", status=204)
    refused = await site.admin.call("PUT", f"/groups/{group}/programs/{small}")
    assert refused.status == 409
    reasons = [e["reason"] for e in refused.body["errors"]]
    assert reasons[0].startswith(f"EndDevice {edev} is not enrolled in program SMALL; enroll its DER asset")
    assert any(r.startswith(f"EndDevice {edev}: program SMALL rule capacity") for r in reasons), reasons


async def test_the_network_locations_record_the_memberships_they_change(site):
    registered = await _enrolled(site)
    edev = registered["endDevice"]["id"]
    feeder = await add_location_group(site.store, "feeder", "F7")  # made after the enrollment
    assert await site.store.reconcile_network_groups() == 1
    (change,) = (await site.admin.ok("GET", f"/groups/{feeder}/history"))["items"]
    assert (change["endDeviceId"], change["change"], change["actor"]) == (edev, "joined", "network")


async def test_a_location_group_holding_a_program_with_rules_takes_only_devices_enrolled_in_it(site):
    feeder = await add_location_group(site.store, "feeder", "F7")
    other = (await site.admin.ok("POST", "/programs", {"primacy": 5, "description": "feeder relief"}, 201))["id"]
    await site.admin.ok("PUT", f"/programs/{other}/rules", {"code": "RELIEF", "eligibility": {}})
    await site.admin.ok("PUT", f"/groups/{feeder}/programs/{other}", status=204)
    registered = await _enrolled(site)  # in the site's program, not in RELIEF
    edev = registered["endDevice"]["id"]
    assert (await site.admin.ok("GET", f"/groups/{feeder}"))["endDevices"] == []
    assert await site.store.reconcile_network_groups() == 0
    assert await _targeted(site, other) == set()
    assert await site.programs_seen_by("device1", edev) == {site.ids["program_mrid"]}


async def test_unenrollment_and_a_rejected_sync_take_the_device_out_of_every_group_holding_the_program(site):
    await add_sync_endpoint(site.store)
    program = site.ids["program"]
    first, second = await _enrolled(site), await _enrolled(site, "device2", "PW-0002")
    a, b = first["endDevice"]["id"], second["endDevice"]["id"]
    enrollment_group = (await site.admin.ok("GET", f"/programs/{program}/rules"))["groupId"]
    extra = (await site.admin.ok("POST", "/groups", {"description": "peak shaving"}, 201))["id"]
    await site.admin.ok("POST", f"/groups/{extra}/members", {"endDevices": [a, b]})
    await site.admin.ok("PUT", f"/groups/{extra}/programs/{program}", status=204)
    assert await _targeted(site, program) == {a, b}

    # operations rejects the first device's enrollment: the program no longer calls it, through any group
    (message,) = [m for m in (await site.admin.ok("GET", "/sync/messages?kind=enrollment"))["items"]
                  if m["kind"] == "enrollment" and m["enrollmentId"] == first["enrollment"]["id"]]
    await site.admin.ok("POST", f"/sync/messages/{message['id']}/ack", {"ok": False, "reason": "unknown meter"})
    assert await _targeted(site, program) == {b}
    assert await site.programs_seen_by("device1", a) == set()
    assert await site.programs_seen_by("device2", b) == {site.ids["program_mrid"]}
    rejected = (await site.admin.ok("GET", f"/end-devices/{a}/group-history"))["items"]
    assert {(h["groupId"], h["change"], h["actor"]) for h in rejected[-2:]} == {
        (enrollment_group, "left", "sync-rejection"), (extra, "left", "sync-rejection")}
    assert rejected[-1]["reason"].endswith("unknown meter")
    # nor may the operator put it back
    refused = await site.admin.call("PUT", f"/groups/{extra}/members/{a}")
    assert refused.status == 409 and "operations rejected the sync" in refused.body["errors"][0]["reason"]

    # the second is unenrolled: it leaves both groups, and is never called again
    task = (await site.admin.ok("POST", f"/enrollments/{second['enrollment']['id']}/unenroll", {}, 201))
    await site.process(task["serviceTask"]["id"])
    assert await _targeted(site, program) == set()
    left = (await site.admin.ok("GET", f"/end-devices/{b}/group-history"))["items"]
    assert {(h["groupId"], h["change"], h["actor"]) for h in left if h["change"] == "left"} >= {
        (enrollment_group, "left", "unenrollment"), (extra, "left", "unenrollment")}
    assert (await site.admin.ok("GET", f"/groups/{extra}"))["endDevices"] == []


async def test_a_retired_device_is_never_called_nor_taken_into_a_group(site):
    program = site.ids["program"]
    registered = await _enrolled(site)
    old_edev, old_asset = registered["endDevice"]["id"], registered["derAsset"]["id"]
    task = (await site.admin.ok("POST", f"/der-assets/{old_asset}/replace",
                                {"lFDI": site.lfdi("device2"), "serialNumber": "PW-0002"}, 201))["serviceTask"]
    done = await site.process(task["id"])
    new_edev = done["payload"]["newEndDeviceId"]
    assert await _targeted(site, program) == {new_edev}
    history = (await site.admin.ok("GET", f"/end-devices/{old_edev}/group-history"))["items"]
    assert [(h["change"], h["actor"]) for h in history] == [("joined", "enrollment"), ("left", "retirement")]
    assert history[-1]["reason"].startswith(f"DER asset {old_asset} retired, replaced by DER asset")

    plain_group = (await site.admin.ok("POST", "/groups", {"description": "anything"}, 201))["id"]
    before = site.harness.snapshot()
    refused = await site.admin.call("PUT", f"/groups/{plain_group}/members/{old_edev}")
    assert refused.status == 409 and refused.fields() == {
        "endDevices": f"EndDevice {old_edev}: its DER asset {old_asset} is retired; it is never called"}
    assert site.harness.snapshot() == before
    # even re-enabled by hand, it is not called
    await site.admin.ok("PATCH", f"/end-devices/{old_edev}", {"enabled": True})
    plain_program = (await site.admin.ok("POST", "/programs", {"primacy": 2, "description": "plain"}, 201))["id"]
    await site.admin.ok("PUT", f"/groups/{plain_group}/programs/{plain_program}", status=204)
    await site.store._in_transaction(lambda c: c.execute(  # as a membership made before this rule would be
        "INSERT INTO group_members (group_id, end_device_id) VALUES (?, ?)", (plain_group, old_edev)))
    assert await _targeted(site, plain_program) == set()


async def test_an_interconnection_approval_is_bound_to_its_customer_and_service_point(site):
    await site.admin.ok("PATCH", f"/asset-types/{site.ids['asset_type']}", {"requiresInterconnection": True})
    lfdi = site.lfdi("device1")
    account = (await site.admin.ok("GET", f"/customers/{site.ids['customer']}"))["accounts"][0]["id"]
    await site.admin.ok("POST", f"/accounts/{account}/service-points", {"externalId": "SP-1B"}, 201)
    ic = {"customer": "C-1", "servicePoint": "SP-1",
          "device": {"manufacturer": "Tesla", "model": "Powerwall 2", "serialNumber": "PW-0001", "lFDI": lfdi},
          "interconnection": {"exportLimitW": 5000, "inverterCount": 1}}
    task = (await site.aggregator.ok("POST", "/interconnectDER", ic, 201))["serviceTask"]
    await site.admin.ok("POST", f"/service-tasks/{task['id']}/approve", {"reason": "study done"})

    before = site.harness.snapshot()
    elsewhere = await site.admin.call("POST", "/registerDERDevice",
                                      registration(lfdi, customer="C-2", servicePoint="SP-2"))
    assert elsewhere.status == 409
    assert elsewhere.fields() == {"device": (
        f"rule interconnection: the approved interconnection of this device (task {task['id']}) is for customer "
        "C-1, service point SP-1, not customer C-2, service point SP-2; an approval is bound to its customer and "
        "service point: interconnect the device there first")}
    other_point = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi, servicePoint="SP-1B"))
    assert other_point.status == 409 and "not customer C-1, service point SP-1B" in other_point.fields()["device"]
    assert site.harness.snapshot() == before
    answer = await site.aggregator.call("POST", "/registerDERDevice", registration(lfdi))
    assert answer.status == 201 and answer.body["derAsset"]["interconnection"] == ic["interconnection"]


async def test_a_move_out_unenrolls_the_customers_devices_with_the_reason(site):
    await add_sync_endpoint(site.store)
    program = site.ids["program"]
    registered = await _enrolled(site)
    edev = registered["endDevice"]["id"]
    pending = await site.aggregator.ok("POST", "/registerDERDevice",
                                       registration(site.lfdi("device2"), serial="PW-0002"), 201)
    assert await _targeted(site, program) == {edev}

    moved = await site.admin.ok("PATCH", f"/customers/{site.ids['customer']}", {"status": "inactive"})
    assert moved["status"] == "inactive"
    assert await _targeted(site, program) == set()
    assert await site.programs_seen_by("device1", edev) == set()
    enrollment = await site.admin.ok("GET", f"/enrollments/{registered['enrollment']['id']}")
    assert enrollment["status"] == "Unenrolled"
    tasks = (await site.admin.ok("GET", "/service-tasks?kind=unenroll"))["items"]
    assert [(t["state"], t["payload"]) for t in tasks] == [
        ("Completed", {"requestedBy": "move-out", "reason": "customer C-1 is inactive (move-out)"})]
    # the device not yet enrolled will not be: its enroll task is cancelled with the reason
    cancelled = await site.admin.ok("GET", f"/service-tasks/{pending['serviceTask']['id']}")
    assert cancelled["state"] == "Cancelled" and cancelled["reasons"][0]["reason"].endswith("(move-out)")
    # the unenrollment goes to operations as any unenrollment does, with the reason
    kind, enrollment_id, body = (await site.sync_messages())[-1]
    assert (kind, enrollment_id) == ("unenrollment", registered["enrollment"]["id"])
    assert body["reason"] == "customer C-1 is inactive (move-out)"
    history = (await site.admin.ok("GET", f"/end-devices/{edev}/group-history"))["items"]
    assert {(h["change"], h["actor"]) for h in history[1:]} == {("left", "move-out")}
    # moving out again changes nothing more
    await site.admin.ok("PATCH", f"/customers/{site.ids['customer']}", {"status": "inactive"})
    assert len((await site.admin.ok("GET", "/service-tasks?kind=unenroll"))["items"]) == 1


async def test_a_suspended_aggregator_is_cut_off_from_2030_5_until_reinstated(site):
    registered = await _enrolled(site)
    edev = registered["endDevice"]["id"]
    aggregator = site.harness.client("aggregator")
    assert (await aggregator.get(f"/edev/{edev}")).status == 200  # and now the answer is cached
    await site.admin.ok("PATCH", f"/aggregators/{site.lfdi('aggregator')}", {"status": "suspended"})
    for path in (f"/edev/{edev}", "/dcap", f"/edev/{edev}/fsa", "/edev"):
        reply = await aggregator.get(path)
        assert reply.status == 403, path
        assert b"suspended this aggregator" in reply.body
    assert (await aggregator.request("PUT", f"/edev/{edev}/der/1/dera", b"")).status == 403
    assert (await site.harness.client("device1").get(f"/edev/{edev}")).status == 200  # the device itself is not
    await site.admin.ok("PATCH", f"/aggregators/{site.lfdi('aggregator')}", {"status": "active"})
    assert (await aggregator.get(f"/edev/{edev}")).status == 200


async def test_a_suspended_aggregator_is_sent_no_notification(aggregator_world, receiver, identities):
    h, agg, own, sub = aggregator_world
    device2 = h.client("device2")
    dev2 = (await device2.post("/edev", documents.end_device(identities["device2"].lfdi))).headers["Location"]
    dev2_id, agg_lfdi = dev2.rsplit("/", 1)[1], identities["aggregator"].lfdi
    await h.server.background.settle()
    count = len(receiver.received)
    await admin(h, "PATCH", f"/aggregators/{agg_lfdi}", {"status": "suspended"})
    await admin(h, "PUT", f"/end-devices/{dev2_id}/access/{agg_lfdi}")  # its EndDeviceList changes
    await h.server.background.settle()
    assert len(receiver.received) == count and await h.store.outbox_size() == 0
    await admin(h, "PATCH", f"/aggregators/{agg_lfdi}", {"status": "active"})
    await admin(h, "DELETE", f"/end-devices/{dev2_id}/access/{agg_lfdi}")
    await h.server.background.settle()
    assert listed(receiver, sub) == [own]


async def test_start_up_adds_the_manifests_missing_aggregators_and_keeps_what_the_operator_set(site):
    lfdi = site.lfdi("aggregator")
    await site.admin.ok("PATCH", f"/aggregators/{lfdi}", {"name": "Acme Energy", "status": "suspended"})
    other = site.lfdi("aggregator2")
    await site.store._in_transaction(lambda c: c.execute("DELETE FROM aggregators WHERE lfdi = ?", (other,)))
    await register_manifest_aggregators(site.harness.config, site.store)
    kept = await site.admin.ok("GET", f"/aggregators/{lfdi}")
    assert (kept["name"], kept["status"], kept["customers"]) == ("Acme Energy", "suspended", [site.ids["customer"]])
    assert (await site.admin.ok("GET", f"/aggregators/{other}"))["name"] == "aggregator2"
